"""Initial parameters: k-means, k-means++, random, random_from_data, user values.

Each method yields responsibilities (hard labels or a soft array); one M-step on
them gives the initial weights, means and covariances, as the EM literature
recommends ("use the k-means result to initialize"). User-supplied
``weights_init``, ``means_init`` and ``precisions_init`` then replace the
corresponding estimates.
"""

import numpy as np

from ._kernels import assignment_statistics
from ._mstep import (GaussianParams, covariance_kind, covariances_from_precision_cholesky,
                     estimate_parameters, precision_cholesky_from_precisions)

_EMPTY_LABELS = np.empty(0, dtype=np.intp)
_KMEANS_MAX_ITER = 300
_KMEANS_TOL = 1e-4
_DISTANCE_ROWS = 1 << 15


def spawn_generators(random_state, n_streams):
    """Independent random generators, one per restart, derived from ``random_state``.

    Restart ``i`` always gets the same stream for the same ``random_state``, so the
    result does not depend on how restarts are scheduled.
    """
    if isinstance(random_state, np.random.Generator):
        seed = np.random.SeedSequence(int(random_state.integers(2 ** 63)))
    elif isinstance(random_state, np.random.RandomState):
        seed = np.random.SeedSequence(int(random_state.randint(2 ** 31 - 1)))
    elif random_state is None:
        seed = np.random.SeedSequence()
    else:
        seed = np.random.SeedSequence(int(random_state))
    return [np.random.default_rng(child) for child in seed.spawn(n_streams)]


# ---------------------------------------------------------------------------------
# k-means (plain numpy, chunked over rows)
# ---------------------------------------------------------------------------------

def _squared_distances(X_rows, centers, center_sq_norms):
    """Squared Euclidean distances (rows, K) via the expanded form, clipped at 0."""
    x = X_rows.astype(np.float64, copy=False)
    dist = (x * x).sum(axis=1)[:, None] - 2.0 * (x @ centers.T) + center_sq_norms[None, :]
    return np.maximum(dist, 0.0, out=dist)


def _nearest_center(X, centers):
    """Labels (n,) and squared distances (n,) to the nearest center, in row chunks."""
    n = X.shape[0]
    labels = np.empty(n, dtype=np.intp)
    min_dist = np.empty(n, dtype=np.float64)
    sq_norms = (centers * centers).sum(axis=1)
    for start in range(0, n, _DISTANCE_ROWS):
        dist = _squared_distances(X[start:start + _DISTANCE_ROWS], centers, sq_norms)
        labels[start:start + dist.shape[0]] = np.argmin(dist, axis=1)
        min_dist[start:start + dist.shape[0]] = dist[np.arange(dist.shape[0]),
                                                     labels[start:start + dist.shape[0]]]
    return labels, min_dist


def kmeans_plusplus_indices(X, n_clusters, sample_weight, rng):
    """Row indices of k-means++ seeds (greedy, with 2 + log(K) local trials)."""
    n = X.shape[0]
    weights = np.ones(n) if sample_weight.size == 0 else sample_weight
    n_trials = 2 + int(np.log(n_clusters))
    first = rng.choice(n, p=weights / weights.sum())
    indices = [first]
    closest = _nearest_center(X, X[[first]].astype(np.float64))[1]
    for _ in range(1, n_clusters):
        potential = weights * closest
        total = potential.sum()
        if total <= 0:  # every remaining row coincides with a seed
            candidates = rng.choice(n, size=n_trials, p=weights / weights.sum())
        else:
            candidates = np.searchsorted(np.cumsum(potential), rng.random(n_trials) * total)
            candidates = np.minimum(candidates, n - 1)
        best_potential, best = np.inf, None
        for candidate in candidates:
            dist = _nearest_center(X, X[[candidate]].astype(np.float64))[1]
            new_closest = np.minimum(closest, dist)
            pot = (weights * new_closest).sum()
            if pot < best_potential:
                best_potential, best, best_closest = pot, candidate, new_closest
        indices.append(int(best))
        closest = best_closest
    return np.asarray(indices, dtype=np.intp)


def kmeans_labels(X, n_clusters, sample_weight, rng):
    """Lloyd's k-means from k-means++ seeds; returns the labels (n,)."""
    centers = X[kmeans_plusplus_indices(X, n_clusters, sample_weight, rng)].astype(np.float64)
    weights = np.ones(X.shape[0]) if sample_weight.size == 0 else sample_weight
    variances = np.average((X - np.average(X, axis=0, weights=weights)) ** 2, axis=0,
                           weights=weights)
    tol = _KMEANS_TOL * float(np.mean(variances))
    labels = None
    for _ in range(_KMEANS_MAX_ITER):
        labels, _ = _nearest_center(X, centers)
        counts = np.bincount(labels, weights=weights, minlength=n_clusters)
        sums = np.zeros_like(centers)
        for j in range(X.shape[1]):
            sums[:, j] = np.bincount(labels, weights=weights * X[:, j], minlength=n_clusters)
        nonempty = counts > 0
        new_centers = centers.copy()
        new_centers[nonempty] = sums[nonempty] / counts[nonempty, None]
        shift = ((new_centers - centers) ** 2).sum()
        centers = new_centers
        if shift <= tol:
            break
    return _nearest_center(X, centers)[0]


# ---------------------------------------------------------------------------------
# From responsibilities to parameters
# ---------------------------------------------------------------------------------

def parameters_from_assignment(X, sample_weight, n_components, covariance_type,
                               reg_covar, n_threads, workspace, *, labels=None, resp=None):
    """One M-step on given responsibilities (hard ``labels`` or soft ``resp``).

    Two passes: the first finds the means, the second accumulates the covariances
    about them, so that no cancellation occurs however far the data lie from 0.
    """
    kind = covariance_kind(covariance_type)
    n_features = X.shape[1]
    if labels is None:
        labels = _EMPTY_LABELS
    if resp is None:
        resp = np.empty((0, n_components))
    shift = np.zeros((n_components, n_features))
    for _ in range(2):
        assignment_statistics(X, sample_weight, shift, labels, resp, kind,
                              workspace.block_stats, workspace.stats, n_threads)
        params, nk = estimate_parameters(workspace.stats, shift, covariance_type, reg_covar)
        shift = params.means
    return params


def initial_parameters(X, sample_weight, n_components, covariance_type, *, init_params,
                       weights_init, means_init, precisions_init, reg_covar, rng,
                       n_threads, workspace):
    """Initial GaussianParams for one EM run.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or (0,)
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}
    weights_init, means_init, precisions_init : ndarray or None
        Validated user values; each one given replaces the estimate.
    rng : numpy.random.Generator
    """
    n_samples = X.shape[0]
    all_given = (weights_init is not None and means_init is not None
                 and precisions_init is not None)
    if all_given:
        params = None
    elif init_params == "random":
        resp = rng.uniform(size=(n_samples, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
        params = parameters_from_assignment(X, sample_weight, n_components, covariance_type,
                                            reg_covar, n_threads, workspace, resp=resp)
    else:
        if init_params == "kmeans":
            labels = kmeans_labels(X, n_components, sample_weight, rng)
        else:
            if init_params == "k-means++":
                seeds = kmeans_plusplus_indices(X, n_components, sample_weight, rng)
            else:  # random_from_data
                candidates = (np.arange(n_samples) if sample_weight.size == 0
                              else np.flatnonzero(sample_weight > 0))
                seeds = rng.choice(candidates, size=n_components, replace=False)
            labels = np.full(n_samples, -1, dtype=np.intp)
            labels[seeds] = np.arange(n_components)
        params = parameters_from_assignment(X, sample_weight, n_components, covariance_type,
                                            reg_covar, n_threads, workspace, labels=labels)

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

