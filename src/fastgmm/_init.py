"""Initial parameters: k-means, Ward, k-means++, random, random_from_data, user values.

Each method yields responsibilities (hard labels or a soft array); one M-step on
them gives the initial weights, means and covariances, as the EM literature
recommends ("use the k-means result to initialize"). User-supplied
``weights_init``, ``means_init`` and ``precisions_init`` then replace the
corresponding estimates.

k-means++ and Lloyd's k-means run on the chunked kernels of ``_kmeans`` and
return to Python after every seed and every Lloyd step (so Ctrl-C interrupts
within one pass over the data). Every random draw comes from the restart's own
``numpy.random.Generator``; the kernels' results do not depend on threads.
"""

import math
from dataclasses import dataclass

import numpy as np

from ._kernels import assignment_statistics, n_statistics
from ._kernels import kmeans as kmeans_kernels
from ._covariance import NK_EPS
from ._mstep import (GaussianParams, covariance_kind, covariances_from_precision_cholesky,
                     precision_cholesky_from_precisions, split_statistics)
from ._passes import CentresProblem, assignment_block, lloyd_block
from ._reseed import ComponentReseeder, data_covariance, distinct_worst_rows
from ._source import ArraySource, sample_size
from ._validation import row_chunks
from ._ward import WardTree

_EMPTY = np.empty(0)
_EMPTY_LABELS = np.empty(0, dtype=np.intp)
# Spherical models are not invariant under rescaling the features: their k-means
# starts stay on the raw features.
_SPHERICAL = ("spherical", "EII", "VII")
KMEANS_MAX_ITER = 300     # scikit-learn's KMeans defaults
KMEANS_TOL = 1e-4
SEEDING_SAMPLE_ROWS = 1 << 17  # Lloyd's seeds: k-means++ on at most this many rows


class RestartStreams:
    """Independent random generators, one per restart, derived from ``random_state``.

    Restart ``i`` always gets the same stream for the same ``random_state`` (the
    ``i``-th child of its ``SeedSequence``, as ``SeedSequence.spawn`` would make it), so
    the result does not depend on how restarts are scheduled; streams are made when
    a restart asks for one, so ``n_init`` costs nothing up front.

    Parameters
    ----------
    random_state : None, int, numpy RandomState or Generator
        An int seeds the streams; a RandomState or Generator is drawn from once.
    """

    # Spawn key of the stream that draws a streamed source's sample: beyond any
    # restart index (restarts use 0, 1, 2, ...).
    _SAMPLE_KEY = 2 ** 63

    def __init__(self, random_state):
        # A generator or RandomState is drawn from now (the caller's state advances
        # at construction, as always); the SeedSequence of an int or None is made on
        # first use: a fit from given parameters draws nothing and makes none.
        self._seed = None
        self._entropy = None
        if isinstance(random_state, np.random.Generator):
            self._entropy = int(random_state.integers(2 ** 63))
        elif isinstance(random_state, np.random.RandomState):
            self._entropy = int(random_state.randint(2 ** 31 - 1))
        elif random_state is not None:
            self._entropy = int(random_state)

    @property
    def seed(self):
        """The root ``numpy.random.SeedSequence`` of the streams."""
        if self._seed is None:
            self._seed = np.random.SeedSequence(self._entropy)
        return self._seed

    def _child(self, key):
        # The child SeedSequence needs only the root's entropy (its spawn key is () and
        # its pool size the default): the root itself is made only for None, whose
        # entropy it draws from the operating system.
        entropy = self.seed.entropy if self._entropy is None else self._entropy
        return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(key,)))

    def restart(self, index):
        """The generator of restart ``index``."""
        return self._child(index)

    def sample_stream(self):
        """The generator of a streamed source's row sample (shared by the restarts)."""
        return self._child(self._SAMPLE_KEY)


def spawn_generators(random_state, n_streams):
    """The generators of restarts ``0 .. n_streams - 1`` (see ``RestartStreams``)."""
    streams = RestartStreams(random_state)
    return [streams.restart(index) for index in range(n_streams)]


# ---------------------------------------------------------------------------------
# k-means++ and Lloyd's k-means on the chunked kernels of ``_kmeans``
# ---------------------------------------------------------------------------------

class KMeansBuffers:
    """Row state and block buffers of k-means on one data set, reused by restarts.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or (0,)
    n_clusters : int

    Attributes
    ----------
    labels : ndarray of shape (n_samples,)
        Nearest seed (after seeding) or centre (after a Lloyd step) of every row.
    upper : ndarray of shape (n_samples,) or (0,)
        Seeding: distance to the nearest seed. Lloyd: (a bound on) the distance to the
        centre. Allocated by ``with_bounds`` only: 8 bytes a row.
    lower : ndarray of shape (n_samples,) or (0,)
        Lower bound on the distance to the second-nearest seed or centre (idem).
    """

    def __init__(self, X, sample_weight, n_clusters):
        n_samples, n_features = X.shape
        self.shape = (n_samples, n_features, n_clusters)
        self.labels = np.empty(n_samples, dtype=np.intp)
        self.upper = self.lower = _EMPTY
        n_blocks_ = kmeans_kernels.n_blocks(n_samples, n_clusters, n_features)
        self.n_trials = 2 + int(math.log(n_clusters))
        self.block_potential = np.empty(n_blocks_)
        self.block_current = np.empty((n_blocks_, 1))
        self.block_candidates = np.empty((n_blocks_, self.n_trials))
        n_stats = kmeans_kernels.lloyd_statistics_length(n_clusters, n_features)
        self.block_stats = np.empty((n_blocks_, n_stats))
        self.stats = np.empty(n_stats)
        self._X, self._sample_weight = X, sample_weight
        self._variances = None

    def with_bounds(self):
        """Allocate the per-row distance bounds (seeding and Hamerly's Lloyd); self."""
        if self.upper.size != self.labels.size:
            self.upper = np.empty(self.labels.size)
            self.lower = np.empty(self.labels.size)
        return self

    @property
    def variances(self):
        """Weighted variance of every feature of X, shape (n_features,) (cached).

        They only set k-means' tolerance and the standardized restarts' scale, so on
        large data they are estimated from every k-th row (at least
        SEEDING_SAMPLE_ROWS rows; deterministic).
        """
        if self._variances is None:
            step = max(1, self._X.shape[0] // SEEDING_SAMPLE_ROWS)
            weights = self._sample_weight[::step] if self._sample_weight.size else _EMPTY
            if weights.size and not np.any(weights > 0):
                weights = self._sample_weight          # the sample missed every weight
                step = 1
            self._variances = data_covariance(ArraySource(self._X[::step], weights), "diag")
        return self._variances

    def standardizing_scale(self):
        """1 / standard deviation of every feature (1 for constant features)."""
        std = np.sqrt(self.variances)
        return 1.0 / np.where(std > 0, std, 1.0)


def _buffers_for(X, sample_weight, n_clusters, buffers):
    """``buffers`` if they were made for this X, weights and K (they cache the
    variances of X), else new ones."""
    if (buffers is None or buffers.shape != (X.shape[0], X.shape[1], n_clusters)
            or buffers._X is not X or buffers._sample_weight is not sample_weight):
        buffers = KMeansBuffers(X, sample_weight, n_clusters)
    return buffers


def kmeans_plusplus(X, sample_weight, n_clusters, rng, n_threads, buffers=None,
                    scale=_EMPTY):
    """k-means++ seeds: greedy D^2 sampling with ``2 + int(ln K)`` candidates a seed.

    The first seed is a row drawn with probability proportional to its weight; each
    next one is the best (lowest weighted potential
    ``sum_n w_n min_k |x_n - c_k|^2`` once added) of candidates drawn with
    probability proportional to the potential. Draws use only ``rng`` and ordered
    block sums, so the seeds depend on the random stream and the data, never on
    ``n_threads``. Every seed costs one pass over X (``_kmeans.seed_pass``).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C-contiguous
    sample_weight : ndarray of shape (n_samples,) or (0,) for unit weights
    n_clusters : int
    rng : numpy.random.Generator
    n_threads : int
    buffers : KMeansBuffers or None
        Reused when it fits; on return ``labels``, ``upper`` and ``lower`` hold the
        nearest seed of every row, the distance to it and the distance to the
        second-nearest seed.
    scale : ndarray of shape (n_features,) or (0,)
        Seed in the coordinates ``X * scale`` (empty: those of X).

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), float64
        The seeds, in the coordinates of X.
    indices : ndarray of shape (n_clusters,)
        The rows of X the seeds are.
    """
    n_features = X.shape[1]
    buf = _buffers_for(X, sample_weight, n_clusters, buffers).with_bounds()
    unit = np.ones(n_features) if scale.size == 0 else scale
    indices = np.empty(n_clusters, dtype=np.intp)
    picks = np.empty(buf.n_trials, dtype=np.intp)
    no_candidates = np.empty((0, n_features))

    def draw(upper, pending, block_potential, out, n_draws):
        """Rows proportional to the potential, or to the weight once it is all 0."""
        total = float(block_potential.sum())  # deterministic: fixed block count
        targets = rng.random(n_draws)
        if total <= 0:   # every row with weight lies on a seed: only duplicates left
            # buf.block_potential still holds the weight sums of the blocks.
            upper, pending, block_potential = _EMPTY, _EMPTY, buf.block_potential
            total = float(block_potential.sum())
        kmeans_kernels.pick_by_potential(X, sample_weight, scale, upper, pending,
                                         block_potential, targets * total, out)

    kmeans_kernels.potential_blocks(X.shape[0], sample_weight, buf.block_potential, n_threads)
    draw(_EMPTY, _EMPTY, buf.block_potential, indices[:1], 1)
    pending = X[indices[0]] * unit
    kmeans_kernels.seed_pass(X, sample_weight, scale, pending, 0, no_candidates, buf.labels,
                             buf.upper, buf.lower, buf.block_current, n_threads)
    if n_clusters > 1:
        draw(buf.upper, _EMPTY, buf.block_current[:, 0], picks, buf.n_trials)
    for index in range(1, n_clusters):
        candidates = X[picks] * unit
        kmeans_kernels.seed_pass(X, sample_weight, scale, pending if index > 1 else _EMPTY,
                                 index - 1, candidates, buf.labels, buf.upper, buf.lower,
                                 buf.block_candidates, n_threads)
        totals = buf.block_candidates.sum(axis=0)
        best = int(totals.argmin())
        indices[index] = picks[best]
        pending = candidates[best]
        if index + 1 < n_clusters:
            draw(buf.upper, pending, np.ascontiguousarray(buf.block_candidates[:, best]),
                 picks, buf.n_trials)
    if n_clusters > 1:   # the last seed is still pending: add it (complete row state)
        kmeans_kernels.seed_pass(X, sample_weight, scale, pending, n_clusters - 1,
                                 no_candidates, buf.labels, buf.upper, buf.lower,
                                 buf.block_current, n_threads)
    return X[indices].astype(np.float64), indices


def _distances_to_labels(X, scale, centers, labels):
    """Distance of every row (in the clustering's coordinates) to its centre, in row
    chunks (empty-cluster relocation without per-row bounds; rare)."""
    out = np.empty(X.shape[0])
    unit = 1.0 if scale.size == 0 else scale
    for start, stop in row_chunks(*X.shape):
        diff = X[start:stop] * unit - centers[labels[start:stop]]
        out[start:stop] = np.sqrt(np.einsum("nd,nd->n", diff, diff))
    return out


def _seeding_sample(n_samples, n_clusters, sample_weight, rng):
    """Rows to seed Lloyd's k-means from, or None for all of them.

    k-means++ costs one pass over the rows per seed; on large data it seeds from a
    uniform random sample of ``max(SEEDING_SAMPLE_ROWS, 1024 * n_clusters)`` rows
    (sorted, with their weights), and Lloyd's iterations then run on every row. A
    sample with fewer positive-weight rows than ``4 * n_clusters`` is not used.
    """
    size = max(SEEDING_SAMPLE_ROWS, 1024 * n_clusters)
    if n_samples <= size:
        return None
    # Systematic sample: one uniformly random row in each of ``size`` equal strata
    # (sorted and distinct by construction; every row equally likely).
    starts = np.arange(size, dtype=np.int64) * n_samples // size
    widths = np.diff(np.append(starts, n_samples))
    rows = (starts + (rng.random(size) * widths).astype(np.int64)).astype(np.intp)
    positive = rows.size if sample_weight.size == 0 else int(np.count_nonzero(
        sample_weight[rows]))
    return rows if positive >= 4 * n_clusters else None


def _max_other(drift):
    """For every k, max_{j != k} drift_j (0 for a single centre)."""
    K = drift.shape[0]
    if K == 1:
        return np.zeros(1)
    top = int(np.argmax(drift))
    result = np.full(K, drift[top])
    result[top] = np.partition(drift, K - 2)[K - 2]     # the second largest value
    return result


@dataclass
class KMeansResult:
    """Outcome of ``kmeans``.

    Attributes
    ----------
    centers : ndarray of shape (n_clusters, n_features)
    labels : ndarray of shape (n_samples,)
        Nearest centre of every row (consistent with ``centers``).
    inertia : float
        ``sum_n w_n |x_n - c_{label_n}|^2`` for ``labels`` and ``centers``.
    n_iter : int
        Lloyd steps that updated the centres.
    converged : bool
    """

    centers: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int
    converged: bool


def kmeans(X, sample_weight, n_clusters, rng, n_threads, buffers=None, *,
           standardize=False, max_iter=KMEANS_MAX_ITER, tol=KMEANS_TOL):
    """Lloyd's k-means from k-means++ seeds, as scikit-learn's KMeans(n_init=1).

    Stops when no label changes, or when the squared centre shift summed over the
    clusters is at most ``tol`` times the mean feature variance, or after
    ``max_iter`` steps. An empty cluster is re-seeded at the (distinct) rows
    farthest from their centres. With ``standardize`` the clustering is done in
    standardized coordinates (every feature divided by its weighted standard
    deviation), which makes it independent of the features' units.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C-contiguous
    sample_weight : ndarray of shape (n_samples,) or (0,)
    n_clusters : int
    rng : numpy.random.Generator
    n_threads : int
    buffers : KMeansBuffers or None
        Reused when it fits (``labels`` of the result is then its buffer).
    standardize : bool
    max_iter : int
    tol : float

    Returns
    -------
    KMeansResult
    """
    buf = _buffers_for(X, sample_weight, n_clusters, buffers)
    scale = buf.standardizing_scale() if standardize else _EMPTY
    unit = np.ones(X.shape[1]) if scale.size == 0 else scale
    # Hamerly's per-row bounds (16 bytes a row) pay off on wide rows; on narrow ones
    # (fewer than 32 bytes: e.g. 2 float64 features) every step is exact instead,
    # which costs a few multiply-adds a row and keeps no per-row state but labels.
    bounded = X.shape[1] * X.itemsize >= 32
    rows = _seeding_sample(X.shape[0], n_clusters, sample_weight, rng)
    if rows is None:
        _, indices = kmeans_plusplus(X, sample_weight, n_clusters, rng, n_threads, buf, scale)
    else:
        sample_weights = sample_weight[rows] if sample_weight.size else _EMPTY
        _, picked = kmeans_plusplus(np.ascontiguousarray(X[rows]), sample_weights, n_clusters,
                                    rng, n_threads, None, scale)
        indices = rows[picked]
        # No seeding pass ran over all rows: Lloyd's exact first step searches every
        # centre for the rows without a label (it also resets their lower bounds).
        buf.labels[...] = -1
        if bounded:
            buf.with_bounds()
    if not bounded:
        buf.upper = buf.lower = _EMPTY       # not needed by exact steps: release
    centers = X[indices] * unit          # in the clustering's coordinates
    tol_abs = tol * float(np.mean(buf.variances * unit * unit))
    K, d = n_clusters, X.shape[1]
    drift = lower_drift = np.zeros(K)
    stats = buf.stats
    totals = None            # counts, sums and members of the current assignment

    def step(exact):
        kmeans_kernels.lloyd_step(X, sample_weight, scale, centers, _EMPTY,
                                  drift, lower_drift, exact, buf.labels, buf.upper,
                                  buf.lower, buf.block_stats, stats, n_threads)
        return stats[2:].copy() if exact else totals + stats[2:]

    converged = False
    settled = False          # the last step was exact and moved no label
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        # The first step (and one after a relocation) recomputes everything; the
        # others only move the rows whose bounds do not settle them.
        exact = totals is None or not bounded
        totals = step(exact)
        counts, sums, members = totals[:K], totals[K:K + K * d].reshape(K, d), totals[-K:]
        full = members > 0
        all_full = bool(full.all())
        if all_full:
            new_centers = sums / counts[:, None]
        else:
            new_centers = centers.copy()
            new_centers[full] = sums[full] / counts[full, None]
        if not all_full:
            # The empty clusters move to the rows farthest from their centres, by
            # exact distances for this assignment: ``upper`` after an exact step
            # (a bounded one first redoes the step exactly, with no centre moved).
            if bounded and not exact:
                drift = lower_drift = np.zeros(K)
                step(True)
            empty = np.flatnonzero(~full)
            distances = buf.upper if bounded else _distances_to_labels(X, scale, centers,
                                                                        buf.labels)
            rows = distinct_worst_rows(X, distances, sample_weight, empty.size, floor=0.0)
            new_centers[empty[:rows.size]] = X[rows] * unit
            totals = None
        moved = new_centers - centers
        drift = np.sqrt(np.einsum("kd,kd->k", moved, moved))
        # Only the per-row lower bounds read lower_drift: exact steps without bounds
        # never do (any array of length K serves them).
        lower_drift = _max_other(drift) if bounded else drift
        centers = new_centers
        if n_iter > 1 and stats[1] == 0 and all_full:
            # Same labels twice: the centres are their means (drift is exactly 0).
            converged = True
            settled = exact
            break
        if float(np.dot(drift, drift)) <= tol_abs:
            converged = True
            break
    # Final exact step: labels consistent with the final centres, exact inertia. Not
    # needed when the last step was exact and changed no label: its centres are the
    # final ones (drift 0), so it already computed exactly these labels and inertia.
    if not settled:
        step(True)
    centers = centers / unit
    return KMeansResult(centers, buf.labels, float(stats[0]), n_iter, converged)


# ---------------------------------------------------------------------------------
# From responsibilities to parameters
# ---------------------------------------------------------------------------------

def parameters_from_assignment(source, n_components, covariance_type, reg_covar, n_threads,
                               workspace, *, labels=None, resp=None, shift=None):
    """One M-step on given responsibilities (hard ``labels`` or soft ``resp``) of the
    rows of an in-memory source.

    Without ``shift``, two passes: the first finds the means, the second accumulates
    the covariances about them, so that no cancellation occurs however far the data
    lie from 0. With ``shift`` (centres close to the component means, such as the
    k-means centres of ``labels``) one pass about them suffices. A component whose
    covariance is not positive definite (a cluster of identical points with
    ``reg_covar=0``) keeps its mean and gets the data's covariance; an empty one
    is centred on its ``shift`` row.

    Parameters
    ----------
    source : ArraySource
        In memory (``source.X`` is read whole).
    n_components : int
    covariance_type : str
    reg_covar : float
    n_threads : int
    workspace : _em.Workspace
        Statistics buffers of the fit.
    labels : ndarray of shape (n_samples,) or None
        Hard assignment; a negative label assigns the row to no component.
    resp : ndarray of shape (n_samples, n_components) or None
        Soft responsibilities (rows summing to 1).
    shift : ndarray of shape (n_components, n_features) or None

    Returns
    -------
    GaussianParams
    """
    X, sample_weight = source.X, source.sample_weight
    kind = covariance_kind(covariance_type)
    n_samples, n_features = X.shape
    if labels is None:
        labels = _EMPTY_LABELS
    if resp is None:
        resp = np.empty((0, n_components))
    stats = workspace.stats
    block_stats = workspace.scratch.block_stats(n_samples, stats.size)
    reseeder = ComponentReseeder(source, n_components, covariance_type, reg_covar, n_threads)
    if shift is None:
        # First pass: the means alone (statistics about 0, no covariance), so that
        # the second accumulates the covariances about them.
        shift = np.zeros((n_components, n_features))
        assignment_statistics(X, sample_weight, shift, labels, resp, kind, block_stats,
                              stats, n_threads)
        _, nk, s1, _ = split_statistics(stats, covariance_type, n_components, n_features)
        shift = s1 / (nk + NK_EPS)[:, None]
    shift = np.ascontiguousarray(shift, dtype=np.float64)
    assignment_statistics(X, sample_weight, shift, labels, resp, kind, block_stats, stats,
                          n_threads)
    return reseeder.maximize(stats, shift)


def refine_centres(source, centres, scale, *, tol, max_iter, n_threads):
    """Lloyd iterations over every row of a (streamed) source from ``centres``.

    Each iteration is one pass (``_passes.lloyd_block``: nearest centres and the
    cluster sums, with no per-row state); it stops when the squared centre shift
    summed over the clusters is at most ``tol`` (absolute), or after ``max_iter``
    passes. An empty cluster keeps its centre.

    Parameters
    ----------
    source : row source
    centres : ndarray of shape (n_clusters, n_features)
        In the clustering's coordinates ``X * scale``.
    scale : ndarray of shape (n_features,) or (0,)
    tol : float
    max_iter : int
    n_threads : int

    Returns
    -------
    centres : ndarray of shape (n_clusters, n_features)
    n_iter : int
    """
    K, d = centres.shape
    stats = np.empty(kmeans_kernels.lloyd_statistics_length(K, d))
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        source.reduce(lloyd_block, CentresProblem(0, centres, scale, n_threads), stats)
        counts, sums = stats[2:2 + K], stats[2 + K:2 + K + K * d].reshape(K, d)
        members = stats[2 + K + K * d:]
        new_centres = centres.copy()
        full = members > 0
        new_centres[full] = sums[full] / counts[full, None]
        shift = float(np.sum((new_centres - centres) ** 2))
        centres = new_centres
        if shift <= tol:
            break
    return centres, n_iter


def _streamed_parameters(source, n_components, covariance_type, *, init_params, reg_covar,
                         rng, n_threads, workspace, restart):
    """Initial parameters for a streamed source (memory map, chunks, dask): the
    in-memory initialization of a bounded uniform sample; for "kmeans", its centres
    are then refined by Lloyd passes over all the rows and the initial M-step is the
    hard assignment of every row to them (one more pass)."""
    X_sample, w_sample = source.sample(
        sample_size(source.n_samples, source.n_features, n_components), rng)
    sample = ArraySource(X_sample, w_sample, streamed=False)
    if sample.total_weight <= 0 or (
            w_sample.size and np.count_nonzero(w_sample) < n_components):
        raise ValueError(
            f"the initialization sample of {X_sample.shape[0]} rows holds fewer than "
            f"n_components={n_components} rows with positive sample weight; give more "
            "rows a positive weight, or pass means_init, weights_init and precisions_init.")
    if init_params != "kmeans":
        return _in_memory_parameters(sample, n_components, covariance_type,
                                     init_params=init_params, reg_covar=reg_covar, rng=rng,
                                     n_threads=n_threads, workspace=workspace,
                                     restart=restart)
    standardize = restart % 2 == 1 and covariance_type not in _SPHERICAL
    buffers = KMeansBuffers(X_sample, w_sample, n_components)
    result = kmeans(X_sample, w_sample, n_components, rng, n_threads, buffers,
                    standardize=standardize)
    scale = buffers.standardizing_scale() if standardize else _EMPTY
    unit = np.ones(source.n_features) if scale.size == 0 else scale
    tol = KMEANS_TOL * float(np.mean(buffers.variances * unit * unit))
    centres, _ = refine_centres(source, result.centers * unit, scale, tol=tol,
                                max_iter=KMEANS_MAX_ITER, n_threads=n_threads)
    stats = np.empty(n_statistics(covariance_type, n_components, source.n_features))
    source.reduce(assignment_block, CentresProblem(covariance_kind(covariance_type), centres,
                                                   scale, n_threads),
                  stats, workspace.scratch)
    reseeder = ComponentReseeder(source, n_components, covariance_type, reg_covar, n_threads)
    return reseeder.maximize(stats, np.ascontiguousarray(centres / unit))


def _kmeans_buffers(workspace, X, sample_weight, n_clusters):
    """The fit's k-means buffers (made on first use, then shared by the restarts)."""
    workspace.kmeans = _buffers_for(X, sample_weight, n_clusters, workspace.kmeans)
    return workspace.kmeans


def _in_memory_parameters(source, n_components, covariance_type, *, init_params,
                          reg_covar, rng, n_threads, workspace, restart):
    """Initial parameters from all the rows of an in-memory source (see
    ``initial_parameters``)."""
    X, sample_weight = source.X, source.sample_weight
    n_samples = X.shape[0]
    fit_args = (source, n_components, covariance_type, reg_covar, n_threads, workspace)
    if init_params == "random":
        resp = rng.uniform(size=(n_samples, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
        return parameters_from_assignment(*fit_args, resp=resp)
    if init_params == "kmeans":
        standardize = restart % 2 == 1 and covariance_type not in _SPHERICAL
        result = kmeans(X, sample_weight, n_components, rng, n_threads,
                        _kmeans_buffers(workspace, X, sample_weight, n_components),
                        standardize=standardize)
        return parameters_from_assignment(*fit_args, labels=result.labels,
                                          shift=result.centers)
    if init_params == "ward":
        labels, centres = WardTree(X, sample_weight, rng).partition(n_components)
        return parameters_from_assignment(*fit_args, labels=labels, shift=centres)
    if init_params == "k-means++":
        centers, seeds = kmeans_plusplus(
            X, sample_weight, n_components, rng, n_threads,
            _kmeans_buffers(workspace, X, sample_weight, n_components))
    else:  # random_from_data
        candidates = (np.arange(n_samples) if sample_weight.size == 0
                      else np.flatnonzero(sample_weight > 0))
        seeds = rng.choice(candidates, size=n_components, replace=False)
        centers = X[seeds]
    labels = np.full(n_samples, -1, dtype=np.intp)
    labels[seeds] = np.arange(n_components)
    return parameters_from_assignment(*fit_args, labels=labels, shift=centers)


def initial_parameters(source, n_components, covariance_type, *, init_params,
                       weights_init, means_init, precisions_init, reg_covar, rng,
                       n_threads, workspace, restart=0):
    """Initial GaussianParams for one EM run.

    An in-memory source is initialized on all of its rows; a streamed one (memory
    map, chunks, dask array) from a bounded uniform sample plus passes (see
    ``_streamed_parameters``).

    Parameters
    ----------
    source : row source (``_source``)
    n_components : int
    covariance_type : str
    init_params : {"kmeans", "ward", "k-means++", "random", "random_from_data"}
        "kmeans": one M-step on the k-means partition (k-means++ seeds, then Lloyd;
        see ``restart``); "ward": restart 0 on the partition of Ward's tree of the
        whitened rows (``_ward.WardTree``), the others as with "kmeans";
        "k-means++": on the k-means++ seeds alone (one row per component);
        "random": on random soft responsibilities; "random_from_data": on
        ``n_components`` distinct rows drawn uniformly among those with weight.
    weights_init, means_init, precisions_init : ndarray or None
        Validated user values; each one given replaces the estimate.
    reg_covar : float
    rng : numpy.random.Generator
    n_threads : int
    workspace : Workspace
    restart : int
        Index of the restart. With "kmeans", even restarts cluster X as it is (as
        scikit-learn does) and odd ones cluster it in standardized coordinates
        (except for "spherical" covariances, whose model is not scale-invariant):
        full, tied and diag EM do not depend on the features' units, but Euclidean
        k-means does, and on data whose features have very different scales
        (e.g. wine, breast cancer) the standardized partitions lead EM to much
        higher likelihoods, while on others (e.g. well separated groups along one
        wide axis) the raw ones do; a mix of both keeps the best of each.

    Returns
    -------
    GaussianParams
    """
    all_given = (weights_init is not None and means_init is not None
                 and precisions_init is not None)
    if init_params == "ward" and restart > 0:
        init_params = "kmeans"           # only the first run starts from the tree
    if all_given:
        params = None
    else:
        start = _in_memory_parameters if source.in_memory else _streamed_parameters
        params = start(source, n_components, covariance_type, init_params=init_params,
                       reg_covar=reg_covar, rng=rng, n_threads=n_threads,
                       workspace=workspace, restart=restart)
    weights = params.weights if weights_init is None else weights_init.copy()
    means = params.means if means_init is None else means_init.copy()
    if precisions_init is None:
        covariances = params.covariances
        precisions_cholesky = params.precisions_cholesky
    else:
        precisions_cholesky = precision_cholesky_from_precisions(precisions_init,
                                                                 covariance_type)
        covariances = covariances_from_precision_cholesky(precisions_cholesky,
                                                          covariance_type)
    return GaussianParams(np.asarray(weights, dtype=np.float64),
                          np.asarray(means, dtype=np.float64), covariances,
                          precisions_cholesky)
