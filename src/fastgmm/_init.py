"""Initial parameters: k-means, Ward, k-means++, random, random_from_data, user values.

Each method yields responsibilities (hard labels or a soft array); one M-step on
them gives the initial weights, means and covariances, as the EM literature
recommends ("use the k-means result to initialize"). User-supplied
``weights_init``, ``means_init`` and ``precisions_init`` then replace the
corresponding estimates.

k-means++ and Lloyd's k-means run on the chunked kernels of ``_kmeans``: all the
seeds in one compiled call, and Lloyd's steps in one call that returns to Python
only to relocate an empty cluster; both check for Ctrl-C between passes over the
data. Every random draw comes from the restart's own ``numpy.random.Generator``;
the kernels' results do not depend on threads.
"""

import math
from dataclasses import dataclass

import numpy as np

from ._kernels import assignment_statistics, n_blocks, n_statistics
from ._kernels import kmeans as kmeans_kernels
from ._covariance import NK_EPS
from ._mstep import (GaussianParams, covariance_kind, covariances_from_precision_cholesky,
                     precision_cholesky_from_precisions, split_statistics)
from ._passes import CentresProblem, assignment_block, lloyd_block
from ._reseed import ComponentReseeder, distinct_worst_rows
from ._source import ArraySource, sample_size
from ._validation import row_chunks
from ._ward import WardTree

_EMPTY = np.empty(0)
_EMPTY_LABELS = np.empty(0, dtype=np.intp)
_DIAG_KIND = covariance_kind("diag")
# Spherical models are not invariant under rescaling the features: their k-means
# starts stay on the raw features.
_SPHERICAL = ("spherical", "EII", "VII")
KMEANS_MAX_ITER = 300     # scikit-learn's KMeans defaults
KMEANS_TOL = 1e-4
SEEDING_SAMPLE_ROWS = 1 << 17  # k-means' first stage: at most this many rows
KMEANS_SAMPLE_ROWS = 1 << 12   # and at least this many (see _kmeans_sample)


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
    n_threads : int
        Threads of the passes that compute ``variances``.

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

    def __init__(self, X, sample_weight, n_clusters, n_threads=1):
        n_samples, n_features = X.shape
        self.shape = (n_samples, n_features, n_clusters)
        self.labels = np.empty(n_samples, dtype=np.intp)
        self.upper = self.lower = _EMPTY
        n_blocks_ = kmeans_kernels.n_blocks(n_samples, n_clusters, n_features)
        self.n_trials = 2 + int(math.log(n_clusters))
        self.block_potential = np.empty(n_blocks_)
        self.block_current = np.empty(n_blocks_)
        self.block_candidates = np.empty((n_blocks_, self.n_trials))
        n_stats = kmeans_kernels.lloyd_statistics_length(n_clusters, n_features)
        self.block_stats = np.empty((n_blocks_, n_stats))
        self.stats = np.empty(n_stats)
        self._X, self._sample_weight = X, sample_weight
        self._n_threads = n_threads
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
        SEEDING_SAMPLE_ROWS rows; deterministic), by ``column_variances``.
        """
        if self._variances is None:
            step = max(1, self._X.shape[0] // SEEDING_SAMPLE_ROWS)
            weights = self._sample_weight[::step] if self._sample_weight.size else _EMPTY
            if weights.size and not np.any(weights > 0):
                weights = self._sample_weight          # the sample missed every weight
                step = 1
            rows = self._X if step == 1 else np.ascontiguousarray(self._X[::step])
            self._variances = column_variances(rows, weights, self._n_threads)
        return self._variances

    def standardizing_scale(self):
        """1 / standard deviation of every feature (1 for constant features)."""
        std = np.sqrt(self.variances)
        return 1.0 / np.where(std > 0, std, 1.0)


def _buffers_for(X, sample_weight, n_clusters, buffers, n_threads):
    """``buffers`` if they were made for this X, weights and K (they cache the
    variances of X), else new ones."""
    if (buffers is None or buffers.shape != (X.shape[0], X.shape[1], n_clusters)
            or buffers._X is not X or buffers._sample_weight is not sample_weight):
        buffers = KMeansBuffers(X, sample_weight, n_clusters, n_threads)
    return buffers


def column_variances(X, sample_weight, n_threads):
    """Weighted variance of every column of X, in two compiled passes.

    The first pass finds the mean (statistics about the first row), the second the
    second moments about it, so nothing cancels however far X lies from 0.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C-contiguous
    sample_weight : ndarray of shape (n_samples,) or (0,), with a positive weight
    n_threads : int

    Returns
    -------
    ndarray of shape (n_features,)
    """
    n, d = X.shape
    labels = np.zeros(n, dtype=np.intp)          # every row in one "component"
    stats = np.empty(n_statistics("diag", 1, d))
    block_stats = np.empty((max(n_blocks(n, stats.size), 1), stats.size))
    no_resp = np.empty((0, 1))
    shift = X[:1].astype(np.float64)
    for _ in range(2):
        assignment_statistics(X, sample_weight, shift, labels, no_resp, _DIAG_KIND,
                              block_stats, stats, n_threads)
        _, nk, s1, s2 = split_statistics(stats, "diag", 1, d)
        offset = s1[0] / nk[0]            # the mean's offset from the shift
        shift = shift + offset
    return np.maximum(s2[0] / nk[0] - offset * offset, 0.0)


def kmeans_plusplus(X, sample_weight, n_clusters, rng, n_threads, buffers=None,
                    scale=_EMPTY):
    """k-means++ seeds: greedy D^2 sampling with ``2 + int(ln K)`` candidates a seed.

    The first seed is a row drawn with probability proportional to its weight; each
    next one is the best (lowest weighted potential
    ``sum_n w_n min_k |x_n - c_k|^2`` once added) of candidates drawn with
    probability proportional to the potential. Draws use only ``rng`` and ordered
    block sums, so the seeds depend on the random stream and the data, never on
    ``n_threads``. Every seed costs one pass over X; all of them run in one compiled
    call (``_kmeans.plusplus_seeds``), which Ctrl-C interrupts between seeds.

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
    buf = _buffers_for(X, sample_weight, n_clusters, buffers, n_threads).with_bounds()
    # The draws of every seed at once: the first seed's, then n_trials a seed.
    uniforms = rng.random(1 + (n_clusters - 1) * buf.n_trials)
    indices = np.empty(n_clusters, dtype=np.intp)
    kmeans_kernels.plusplus_seeds(X, sample_weight, scale, uniforms, indices, buf.labels,
                                  buf.upper, buf.lower, buf.block_potential,
                                  buf.block_current, buf.block_candidates, n_threads)
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


def _kmeans_sample(n_samples, n_clusters, sample_weight, rng):
    """Rows to run k-means on first, or None for all of them.

    On data much larger than a statistically ample sample, k-means++ (one pass per
    seed) and Lloyd's iterations first run on a uniform random sample of
    ``min(SEEDING_SAMPLE_ROWS, max(KMEANS_SAMPLE_ROWS, 256 * n_clusters,
    n_samples // 16))`` rows (sorted, with their weights); Lloyd's iterations then
    go on over every row from the sample's centres, to the same convergence test,
    which a few steps usually meet. The sample is used when the data have more than
    four times as many rows and it has at least ``4 * n_clusters`` rows of positive
    weight.
    """
    size = min(SEEDING_SAMPLE_ROWS, max(KMEANS_SAMPLE_ROWS, 256 * n_clusters,
                                        n_samples // 16))
    if n_samples <= 4 * size:
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
        Lloyd steps over every row (after those on the sample, on large data).
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
    farthest from their centres. On large data the seeding and a first run of the
    iterations use a random sample of the rows (``_kmeans_sample``), and the
    iterations over every row start from the sample's centres. With
    ``standardize`` the clustering is done in
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
    buf = _buffers_for(X, sample_weight, n_clusters, buffers, n_threads)
    scale = buf.standardizing_scale() if standardize else _EMPTY
    unit = np.ones(X.shape[1]) if scale.size == 0 else scale
    # Hamerly's per-row bounds (16 bytes a row) pay off on wide rows; on narrow ones
    # (fewer than 32 bytes: e.g. 2 float64 features) every step is exact instead,
    # which costs a few multiply-adds a row and keeps no per-row state but labels.
    bounded = X.shape[1] * X.itemsize >= 32
    tol_abs = tol * float(np.mean(buf.variances * unit * unit))
    rows = _kmeans_sample(X.shape[0], n_clusters, sample_weight, rng)
    if rows is None:
        _, indices = kmeans_plusplus(X, sample_weight, n_clusters, rng, n_threads, buf, scale)
        centers = X[indices] * unit          # in the clustering's coordinates
    else:
        # k-means on the sample, then Lloyd's iterations on every row from its centres.
        X_sample = np.ascontiguousarray(X[rows])
        w_sample = sample_weight[rows] if sample_weight.size else _EMPTY
        sample_buf = KMeansBuffers(X_sample, w_sample, n_clusters, n_threads)
        _, picked = kmeans_plusplus(X_sample, w_sample, n_clusters, rng, n_threads,
                                    sample_buf, scale)
        centers = X_sample[picked] * unit
        if not bounded:
            sample_buf.upper = sample_buf.lower = _EMPTY
        _lloyd(X_sample, w_sample, scale, unit, centers, sample_buf, tol_abs, max_iter,
               n_threads)
        # No pass over all rows yet: the first step searches every centre for the
        # rows without a label (it also resets their lower bounds).
        buf.labels[...] = -1
        if bounded:
            buf.with_bounds()
    if not bounded:
        buf.upper = buf.lower = _EMPTY       # not needed by exact steps: release
    n_iter, converged = _lloyd(X, sample_weight, scale, unit, centers, buf, tol_abs,
                               max_iter, n_threads)
    centers = centers / unit
    return KMeansResult(centers, buf.labels, float(buf.stats[0]), n_iter, converged)


def _lloyd(X, sample_weight, scale, unit, centers, buf, tol_abs, max_iter, n_threads):
    """Lloyd's iterations from ``centers`` (updated in place, in the clustering's
    coordinates ``X * unit``) and the row state in ``buf`` (with per-row bounds when
    ``buf.upper`` is allocated), to ``tol_abs`` or ``max_iter`` steps, then an exact
    assignment to the final centres (``buf.labels``, inertia in ``buf.stats[0]``).

    Returns
    -------
    n_iter : int
    converged : bool
    """
    stats, block_stats = buf.stats, buf.block_stats
    K, d = centers.shape
    bounded = buf.upper.size > 0
    drift, lower_drift = np.zeros(K), np.zeros(K)
    totals = np.empty(stats.size - 2)   # counts, sums and members of the assignment
    n_iter, limit, moved_within_tol = 0, max_iter, False
    while True:
        # With ``limit`` reached the call takes no step, only the final exact one.
        n_iter, reason = kmeans_kernels.lloyd_iterations(
            X, sample_weight, scale, centers, totals, drift, lower_drift, True, n_iter,
            limit, tol_abs, buf.labels, buf.upper, buf.lower, block_stats, stats,
            n_threads)
        if reason != kmeans_kernels.LLOYD_EMPTY:
            return n_iter, moved_within_tol or reason == kmeans_kernels.LLOYD_CONVERGED
        # Step n_iter left clusters empty: they move to the rows farthest from their
        # centres, by exact distances for this assignment (``upper`` with per-row
        # bounds), and the next step is exact.
        counts, sums, members = totals[:K], totals[K:K + K * d].reshape(K, d), totals[-K:]
        full = members > 0
        new_centers = centers.copy()
        new_centers[full] = sums[full] / counts[full, None]
        empty = np.flatnonzero(~full)
        distances = buf.upper if bounded else _distances_to_labels(X, scale, centers,
                                                                    buf.labels)
        rows = distinct_worst_rows(X, distances, sample_weight, empty.size, floor=0.0)
        new_centers[empty[:rows.size]] = X[rows] * unit
        moved = new_centers - centers
        drift[:] = np.sqrt(np.einsum("kd,kd->k", moved, moved))
        lower_drift[:] = _max_other(drift) if bounded else drift
        centers[...] = new_centers
        # The relocation's own move may meet the tolerance: then no further step.
        moved_within_tol = float(np.dot(drift, drift)) <= tol_abs
        if moved_within_tol:
            limit = n_iter


# ---------------------------------------------------------------------------------
# From responsibilities to parameters
# ---------------------------------------------------------------------------------

def parameters_from_assignment(source, n_components, covariance_type, reg_covar, n_threads,
                               workspace, *, labels=None, resp=None, shift=None,
                               statistics=None):
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
    statistics : dict or None
        With ``shift``: a cache of the statistics of this assignment about ``shift``,
        by covariance kind (``select`` keeps one per partition for the covariance
        types of a K), read when it holds this type's kind, else filled.

    Returns
    -------
    GaussianParams
    """
    kind = covariance_kind(covariance_type)
    reseeder = ComponentReseeder(source, n_components, covariance_type, reg_covar, n_threads)
    if shift is None:
        statistics = None
    else:
        shift = np.ascontiguousarray(shift, dtype=np.float64)
        if statistics is not None and kind in statistics:
            return reseeder.maximize(statistics[kind], shift)
    X, sample_weight = source.X, source.sample_weight
    n_samples, n_features = X.shape
    if labels is None:
        labels = _EMPTY_LABELS
    if resp is None:
        resp = np.empty((0, n_components))
    stats = workspace.stats
    block_stats = workspace.scratch.block_stats(n_samples, stats.size)
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
    if statistics is not None:
        statistics[kind] = stats.copy()
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
    buffers = KMeansBuffers(X_sample, w_sample, n_components, n_threads)
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


def _kmeans_buffers(workspace, X, sample_weight, n_clusters, n_threads):
    """The fit's k-means buffers (made on first use, then shared by the restarts)."""
    workspace.kmeans = _buffers_for(X, sample_weight, n_clusters, workspace.kmeans,
                                    n_threads)
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
                        _kmeans_buffers(workspace, X, sample_weight, n_components, n_threads),
                        standardize=standardize)
        return parameters_from_assignment(*fit_args, labels=result.labels,
                                          shift=result.centers)
    if init_params == "ward":
        labels, centres = WardTree(X, sample_weight, rng).partition(n_components)
        return parameters_from_assignment(*fit_args, labels=labels, shift=centres)
    if init_params == "k-means++":
        centers, seeds = kmeans_plusplus(
            X, sample_weight, n_components, rng, n_threads,
            _kmeans_buffers(workspace, X, sample_weight, n_components, n_threads))
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
