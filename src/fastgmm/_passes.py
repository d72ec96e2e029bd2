"""Block functions: what one pass over X computes on one block of rows.

Every pass over the data is one of these functions, run by a row source
(``_source``) over its blocks: in this process for arrays and chunk streams, on
the workers for dask arrays. They take plain arrays and a small *problem* tuple
(the parameters of the pass), so that they pickle cheaply, and call the compiled
kernels of ``_kernels``:

=====================  ==============================================================
``em_block``           fused E-step + sufficient statistics (one EM iteration)
``assignment_block``   statistics of the hard assignment to the nearest centres
``lloyd_block``        Lloyd statistics (counts, sums, inertia) for given centres
``moments_block``      weighted first or centred second moments of the features
``worst_rows_block``   the rows a model explains worst (re-seeding candidates)
``estep_rows_block``   per-row log-likelihood, responsibilities or labels (predict)
``log_likelihood_block`` the weighted sum of the log-likelihoods (score, bic, aic)
=====================  ==============================================================

Reductions (``reduce``) get a float64 vector per block and sum them in block
order; ``worst_rows_block`` returns candidates that ``merge_worst_rows`` combines.
"""

from collections import namedtuple

import numpy as np

from ._kernels import (assignment_statistics, em_statistics, estimate_log_prob, kmeans,
                       n_blocks)
from ._validation import row_chunks

_EMPTY = np.empty(0)
_EMPTY_LABELS = np.empty(0, dtype=np.intp)
# Rows per piece of the passes that need a per-row buffer (labels, log-likelihoods):
# the buffer stays small (2 MiB) whatever the block size.
PIECE_ROWS = 1 << 18

EStepProblem = namedtuple(
    "EStepProblem", "kind means precisions_cholesky log_norm_const shift n_threads")
EStepProblem.__doc__ = """Parameters of an E-step pass (the kernels' arguments).

means : (K, d) float64; precisions_cholesky : flat float64; log_norm_const : (K,);
shift : (K, d) float64 or None (statistics' shift; predictions need none);
kind : int (``COVARIANCE_KINDS``); n_threads : int."""

CentresProblem = namedtuple("CentresProblem", "kind centres scale n_threads")
CentresProblem.__doc__ = """Parameters of a pass over given centres.

kind : int, the covariance kind of the statistics (``assignment_block``; unused by
``lloyd_block``); centres : (K, d) float64, in the coordinates ``X * scale``;
scale : (d,) or (0,) (no scaling); n_threads : int."""

MomentsProblem = namedtuple("MomentsProblem", "centre full")
MomentsProblem.__doc__ = """centre : (d,) or None (first moments); full : bool (full
second moments, else per-feature)."""


class Scratch:
    """Buffers a fit's passes reuse (per-block partial statistics), made on demand.

    A block function gets ``scratch=None`` when it runs elsewhere (a dask worker) and
    then allocates its own.
    """

    def __init__(self):
        self._block_stats = {}

    def block_stats(self, n_rows, n_stats):
        """A (n_blocks(n_rows, n_stats), n_stats) buffer (kept for the next call)."""
        need = n_blocks(n_rows, n_stats)
        buffer = self._block_stats.get(n_stats)
        if buffer is None or buffer.shape[0] < need:
            buffer = np.empty((max(need, 1), n_stats))
            self._block_stats[n_stats] = buffer
        return buffer


def _block_stats(scratch, n_rows, n_stats):
    if scratch is None:
        return np.empty((max(n_blocks(n_rows, n_stats), 1), n_stats))
    return scratch.block_stats(n_rows, n_stats)


def em_block(X, sample_weight, problem, out, scratch=None):
    """E-step and sufficient statistics of a block (``_estep.em_statistics``)."""
    em_statistics(X, sample_weight, problem.means, problem.precisions_cholesky,
                  problem.log_norm_const, problem.shift, problem.kind,
                  _block_stats(scratch, X.shape[0], out.size), out, problem.n_threads)


def _nearest_centres(X, sample_weight, problem, labels, block_stats, stats):
    """Lloyd statistics of the assignment of X to the nearest centres; ``labels``
    (len(X),) receives it (exact step, no per-row bounds)."""
    K = problem.centres.shape[0]
    zeros = np.zeros(K)
    labels[:] = -1                     # no previous label: every centre is searched
    kmeans.lloyd_step(X, sample_weight, problem.scale, problem.centres, zeros, zeros, zeros,
                      True, labels, _EMPTY, _EMPTY, block_stats, stats, problem.n_threads)


def _pieces(n_rows):
    return [(a, min(a + PIECE_ROWS, n_rows)) for a in range(0, n_rows, PIECE_ROWS)]


def lloyd_block(X, sample_weight, problem, out, scratch=None):
    """Lloyd statistics (``_kmeans`` layout) of a block for the given centres,
    without per-row state: the labels of a piece of rows at a time."""
    K, d = problem.centres.shape
    out[:] = 0.0
    if X.shape[0] == 0:
        return
    labels = np.empty(min(X.shape[0], PIECE_ROWS), dtype=np.intp)
    piece_stats = np.empty_like(out)
    block_stats = np.empty((kmeans.n_blocks(labels.size, K, d), out.size))
    for start, stop in _pieces(X.shape[0]):
        w = sample_weight[start:stop] if sample_weight.size else _EMPTY
        _nearest_centres(X[start:stop], w, problem, labels[:stop - start], block_stats,
                         piece_stats)
        out += piece_stats
    out[1] = 0.0                       # "labels changed" means nothing without labels


def assignment_block(X, sample_weight, problem, out, scratch=None):
    """Sufficient statistics (``_estep`` layout, about the centres) of the hard
    assignment of every row to its nearest centre (in the coordinates
    ``X * scale``)."""
    K, d = problem.centres.shape
    out[:] = 0.0
    if X.shape[0] == 0:
        return
    shift = problem.centres if problem.scale.size == 0 else problem.centres / problem.scale
    shift = np.ascontiguousarray(shift, dtype=np.float64)
    labels = np.empty(min(X.shape[0], PIECE_ROWS), dtype=np.intp)
    lloyd_stats = np.empty(kmeans.lloyd_statistics_length(K, d))
    lloyd_blocks = np.empty((kmeans.n_blocks(labels.size, K, d), lloyd_stats.size))
    piece_stats = np.empty_like(out)
    no_resp = np.empty((0, K))
    for start, stop in _pieces(X.shape[0]):
        rows = X[start:stop]
        w = sample_weight[start:stop] if sample_weight.size else _EMPTY
        piece_labels = labels[:stop - start]
        _nearest_centres(rows, w, problem, piece_labels, lloyd_blocks, lloyd_stats)
        assignment_statistics(rows, w, shift, piece_labels, no_resp, problem.kind,
                              _block_stats(scratch, rows.shape[0], out.size), piece_stats,
                              problem.n_threads)
        out += piece_stats


def moments_block(X, sample_weight, problem, out, scratch=None):
    """Weighted moments of a block's features, in row chunks (no n x d temporary).

    Without a centre: ``[sum w, sum w x (d)]``. With one: ``sum w (x - c)(x - c)^T``
    flattened (d * d) when ``full``, else ``sum w (x - c)**2`` (d).
    """
    weighted = sample_weight.size > 0
    out[:] = 0.0
    if problem.centre is None:
        out[0] = float(sample_weight.sum()) if weighted else float(X.shape[0])
        for start, stop in row_chunks(*X.shape):
            rows = X[start:stop]
            out[1:] += (sample_weight[start:stop] @ rows if weighted
                        else rows.sum(axis=0, dtype=np.float64))
        return
    d = X.shape[1]
    second = out.reshape(d, d) if problem.full else out
    for start, stop in row_chunks(*X.shape):
        centred = X[start:stop] - problem.centre
        scaled = centred * sample_weight[start:stop, None] if weighted else centred
        second += scaled.T @ centred if problem.full else np.einsum("nd,nd->d", scaled,
                                                                     centred)


# ---------------------------------------------------------------------------------
# The rows a model explains worst (re-seeding): per-block candidates, merged
# ---------------------------------------------------------------------------------

WorstRows = namedtuple("WorstRows", "scores positions rows")
WorstRows.__doc__ = """Candidate rows: badness (m,), global row indices (m,), values
(m, d) float64; sorted worst first (then by position)."""

WorstRowsProblem = namedtuple("WorstRowsProblem", "estep n_rows")


def distinct_worst(scores, positions, rows, n_rows, floor=-np.inf):
    """Indices (into the candidate arrays) of up to ``n_rows`` candidates with the
    largest score, pairwise distinct in value, ordered by decreasing score then by
    position; candidates with score <= floor (or not finite) are never chosen."""
    order = np.lexsort((positions, -scores))
    chosen = []
    for i in order:
        if not scores[i] > floor or len(chosen) == n_rows:
            break
        if any(np.array_equal(rows[i], rows[j]) for j in chosen):
            continue
        chosen.append(int(i))
    return np.asarray(chosen, dtype=np.intp)


def block_worst_rows(X, badness, sample_weight, start, n_rows, floor=-np.inf):
    """The ``n_rows`` distinct worst rows of one block as ``WorstRows``.

    Only the worst ``4 n_rows + 16`` rows are examined first (more when duplicates
    leave fewer distinct ones): a row of the global answer is always among its
    block's own distinct worst ``n_rows`` rows, so merging the blocks' answers with
    ``merge_worst_rows`` gives exactly the global answer.
    """
    n = X.shape[0]
    score = np.where(np.isfinite(badness), badness, -np.inf)
    if sample_weight.size:
        score = np.where(sample_weight > 0, score, -np.inf)
    size = min(n, 4 * n_rows + 16)
    while True:
        top = np.argpartition(-score, size - 1)[:size] if size < n else np.arange(n)
        chosen = distinct_worst(score[top], top, X[top], n_rows, floor)
        exhausted = size == n or not score[top].min() > floor
        if chosen.size == n_rows or exhausted:
            break
        size = min(n, 4 * size)
    rows = top[chosen]
    return WorstRows(score[rows], rows.astype(np.intp) + start, X[rows].astype(np.float64))


def worst_rows_block(X, sample_weight, start, problem):
    """Candidates for re-seeding: the distinct rows of lowest log-likelihood under
    ``problem.estep`` (an EStepProblem) in this block."""
    e = problem.estep
    log_prob = np.empty(X.shape[0])
    if X.shape[0]:
        estimate_log_prob(X, e.means, e.precisions_cholesky, e.log_norm_const, e.kind,
                          log_prob, np.empty((0, e.means.shape[0])), _EMPTY_LABELS,
                          e.n_threads)
    return block_worst_rows(X, -log_prob, sample_weight, start, problem.n_rows)


def merge_worst_rows(a, b, n_rows, floor=-np.inf):
    """The distinct worst ``n_rows`` of two candidate sets."""
    scores = np.concatenate([a.scores, b.scores])
    positions = np.concatenate([a.positions, b.positions])
    rows = np.concatenate([a.rows, b.rows])
    keep = distinct_worst(scores, positions, rows, n_rows, floor)
    return WorstRows(scores[keep], positions[keep], rows[keep])


# ---------------------------------------------------------------------------------
# Predictions
# ---------------------------------------------------------------------------------

def estep_rows_block(X, start, problem, views):
    """Per-row outputs of the E-step: ``views = [log_norm, resp, labels]`` (each the
    block's slice, or empty when not wanted). Returns (n_nonfinite, first_nonfinite
    as a global row index or -1)."""
    log_norm, resp, labels = views
    if X.shape[0] == 0:
        return 0, -1
    n_bad, first = estimate_log_prob(X, problem.means, problem.precisions_cholesky,
                                     problem.log_norm_const, problem.kind, log_norm, resp,
                                     labels, problem.n_threads)
    return n_bad, (first + start if n_bad else -1)


def log_likelihood_block(X, sample_weight, problem, out, scratch=None):
    """``out = [sum_n w_n log p(x_n), rows whose log p is not finite]`` for an
    EStepProblem, a piece of rows at a time (``score``, ``bic``, ``aic`` without a
    per-row array)."""
    out[:] = 0.0
    n = X.shape[0]
    if n == 0:
        return
    buffer = np.empty(min(n, PIECE_ROWS))
    no_resp = np.empty((0, problem.means.shape[0]))
    for start, stop in _pieces(n):
        log_prob = buffer[:stop - start]
        n_bad, _ = estimate_log_prob(X[start:stop], problem.means,
                                         problem.precisions_cholesky,
                                         problem.log_norm_const, problem.kind, log_prob,
                                         no_resp, _EMPTY_LABELS, problem.n_threads)
        if n_bad:
            out[1] += n_bad
            continue
        out[0] += (float(np.dot(sample_weight[start:stop], log_prob)) if sample_weight.size
                   else float(log_prob.sum()))
