"""Re-seeding of clusters and components that emptied or collapsed.

EM, like k-means, can lose a component: its responsibilities vanish (``N_k ~ 0``)
or its covariance stops being positive definite (it collapsed onto a few identical
points, which only happens with ``reg_covar=0`` or nearly so). Such a component is
re-seeded instead of being left degenerate (or NaN): it is moved to the point
worst explained by the current model (the lowest ``log p(x)``; for k-means the
point farthest from its centre), given the average covariance of the healthy
components and an equal share of the weight. The next EM iteration then lets it
claim the data around that point.

Re-seeding is written into the sufficient statistics (a pseudo-component with the
chosen mass, mean and covariance), so one M-step code path produces every
parameter. A run re-seeds at most ``n_components + 2`` times; a component that
keeps collapsing after that (e.g. fewer distinct points than components with
``reg_covar=0``) raises ``DegenerateComponentsError``, which the estimator turns
into a ValueError that says to increase ``reg_covar``. Re-seeding a collapsed
component during EM (not an empty one) emits one ``ReseedWarning`` per run: the
fit may then end in another optimum than the data's degenerate one.
"""

import warnings

import numpy as np

from ._kernels import estimate_log_prob
from ._mstep import (DegenerateComponentsError, covariance_kind, estimate_parameters,
                     split_statistics)
from ._validation import ReseedWarning, row_chunks

# A component is dead when it holds less than this fraction of the total weight: its
# statistics are then below the rounding error of the totals.
DEAD_FRACTION = 1e-12

_EMPTY = np.empty(0)
_EMPTY_LABELS = np.empty(0, dtype=np.intp)


def distinct_worst_rows(X, badness, sample_weight, n_rows, *, floor=-np.inf):
    """Up to ``n_rows`` rows with the largest ``badness``, pairwise distinct in value.

    Deterministic: ordered by decreasing badness, then by row index. Rows with zero
    weight, or with ``badness <= floor``, are never chosen.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    badness : ndarray of shape (n_samples,)
        How badly each row is explained (distance to its centre, ``-log p(x)``).
    sample_weight : ndarray of shape (n_samples,) or (0,)
    n_rows : int
    floor : float
        Rows at or below this badness are not candidates.

    Returns
    -------
    ndarray of shape (m,), m <= n_rows
        Row indices, worst first.
    """
    n = X.shape[0]
    score = np.where(np.isfinite(badness), badness, -np.inf)
    if sample_weight.size:
        score = np.where(sample_weight > 0, score, -np.inf)
    chosen = []
    size = min(n, 4 * n_rows + 16)
    while n_rows > 0:
        top = (np.argpartition(-score, size - 1)[:size] if size < n
               else np.arange(n))
        top = top[np.lexsort((top, -score[top]))]
        chosen = []
        for row in top:
            if not score[row] > floor:
                break
            if any(np.array_equal(X[row], X[other]) for other in chosen):
                continue
            chosen.append(int(row))
            if len(chosen) == n_rows:
                break
        if len(chosen) == n_rows or size == n or not score[top[-1]] > floor:
            break
        size = min(n, 4 * size)
    return np.asarray(chosen, dtype=np.intp)


def data_covariance(X, sample_weight, covariance_type):
    """Weighted covariance of all of ``X``, in the form of ``covariance_type``.

    Two passes over row chunks (the mean, then the centred second moments): no
    n_samples x n_features temporary, no cancellation however far X lies from 0.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Any strides; float32 rows are accumulated in float64.
    sample_weight : ndarray of shape (n_samples,) or (0,)
        Weights with a positive sum (empty: unit weights).
    covariance_type : {"full", "tied", "diag", "spherical"}

    Returns
    -------
    ndarray
        full, tied: (n_features, n_features); diag: (n_features,); spherical: ().
    """
    n_samples, n_features = X.shape
    weighted = sample_weight.size > 0
    total = float(sample_weight.sum()) if weighted else float(n_samples)
    full = covariance_type in ("full", "tied")
    chunks = row_chunks(n_samples, n_features)
    mean = np.zeros(n_features)
    for start, stop in chunks:
        rows = X[start:stop]
        mean += (sample_weight[start:stop] @ rows if weighted
                 else rows.sum(axis=0, dtype=np.float64))
    mean /= total
    second = np.zeros((n_features, n_features) if full else n_features)
    for start, stop in chunks:
        centred = X[start:stop] - mean
        scaled = centred * sample_weight[start:stop, None] if weighted else centred
        second += scaled.T @ centred if full else np.einsum("nd,nd->d", scaled, centred)
    cov = second / total
    if full:
        return 0.5 * (cov + cov.T)
    return cov if covariance_type == "diag" else np.float64(cov.mean())


def _average_covariance(params, healthy, covariance_type):
    """Weighted mean of the healthy components' covariances (one component's shape)."""
    cov = params.covariances
    if covariance_type == "tied":
        return cov
    weights = params.weights[healthy]
    return np.tensordot(weights / weights.sum(), cov[healthy], axes=1)


def write_component_statistics(stats, shift, component, mean, covariance, mass,
                               covariance_type, reg_covar):
    """Overwrite one component's statistics with those of a pseudo-component.

    The M-step then gives it ``mean``, ``covariance`` (``reg_covar`` included) and
    a weight proportional to ``mass``. For "tied" the pseudo-component's scatter is
    added to the shared one (the component's own share of it is negligible when it
    is re-seeded because it lost its responsibility).

    Parameters
    ----------
    stats : ndarray of shape (n_stats,)
        Statistics vector (``_estep`` layout), modified in place.
    shift : ndarray of shape (n_components, n_features)
        The shift the statistics are accumulated about.
    component : int
    mean : ndarray of shape (n_features,)
    covariance : ndarray
        full, tied: (d, d); diag: (d,); spherical: scalar.
    mass : float
    covariance_type : str
    reg_covar : float
    """
    n_components, n_features = shift.shape
    _, nk, s1, s2 = split_statistics(stats, covariance_type, n_components, n_features)
    delta = mean - shift[component]
    if covariance_type in ("full", "tied"):
        scatter = mass * (covariance - reg_covar * np.eye(n_features)
                          + np.outer(delta, delta))
    else:
        scatter = mass * (covariance - reg_covar + delta * delta)
    nk[component] = mass
    s1[component] = mass * delta
    if covariance_type == "tied":
        s2 += scatter
    else:
        s2[component] = scatter


class ComponentReseeder:
    """The M-step of one EM run, re-seeding dead or collapsed components.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or (0,)
    total_weight : float
    n_components : int
    covariance_type : str
    reg_covar : float
    n_threads : int
    """

    def __init__(self, X, sample_weight, total_weight, n_components, covariance_type,
                 reg_covar, n_threads):
        self.X = X
        self.sample_weight = sample_weight
        self.total_weight = total_weight
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.n_threads = n_threads
        self.max_events = n_components + 2
        self.n_events = 0
        self._seeded_for = None      # the parameters the cached seed rows were chosen for
        self._seed_rows = None
        self._warned = False         # ReseedWarning: once per run

    def _bad_components(self, stats, shift):
        """(new parameters or None, sorted bad components, whether some collapsed)."""
        K, d = shift.shape
        nk = split_statistics(stats, self.covariance_type, K, d)[1]
        dead = set(np.flatnonzero(nk <= DEAD_FRACTION * self.total_weight).tolist())
        try:
            params = estimate_parameters(stats, shift, self.covariance_type, self.reg_covar)
        except DegenerateComponentsError as exc:
            if exc.tied:
                raise
            return None, sorted(dead | set(exc.components)), True
        return params, sorted(dead), False

    def _data_covariance(self):
        """The data's covariance, regularized like a fitted component's (the
        pseudo-component statistics expect ``reg_covar`` included)."""
        cov = data_covariance(self.X, self.sample_weight, self.covariance_type)
        if self.covariance_type in ("full", "tied"):
            return cov + self.reg_covar * np.eye(cov.shape[0])
        return cov + self.reg_covar

    def _worst_rows(self, params, n_rows):
        """Rows worst explained by ``params`` (lowest log-likelihood), distinct."""
        means, prec_chol, log_const = params.kernel_arguments(self.covariance_type)
        log_prob = np.empty(self.X.shape[0])
        estimate_log_prob(self.X, means, prec_chol, log_const,
                          covariance_kind(self.covariance_type), log_prob,
                          np.empty((0, means.shape[0])), _EMPTY_LABELS, self.n_threads)
        return distinct_worst_rows(self.X, -log_prob, self.sample_weight, n_rows)

    def maximize(self, stats, shift, params=None):
        """Parameters from statistics, with bad components re-seeded or repaired.

        Parameters
        ----------
        stats : ndarray of shape (n_stats,)
            Statistics (``_estep`` layout), accumulated about ``shift``; not modified.
        shift : ndarray of shape (n_components, n_features)
        params : GaussianParams or None
            The parameters whose responsibilities gave ``stats`` (an EM iteration):
            bad components move to the rows these explain worst. ``None`` (the
            initial M-step of a hard assignment): bad components keep their mean
            and get the data's covariance.

        Returns
        -------
        GaussianParams

        Raises
        ------
        DegenerateComponentsError
            When a covariance is still not positive definite after re-seeding, or
            the re-seeding budget of the run is spent.
        """
        new_params, bad, collapsed = self._bad_components(stats, shift)
        if not bad:
            return new_params
        K, d = shift.shape
        nk = split_statistics(stats, self.covariance_type, K, d)[1]
        if params is None:
            means = shift + split_statistics(stats, self.covariance_type, K, d)[2] / (
                nk[:, None] + (nk[:, None] == 0))
            covariance = self._data_covariance()
            means, masses = means[bad], np.where(nk[bad] > DEAD_FRACTION * self.total_weight,
                                                 nk[bad], self.total_weight / K)
        else:
            if params is not self._seeded_for:
                if self.n_events >= self.max_events:
                    if collapsed:
                        raise DegenerateComponentsError(bad)
                    return new_params       # dead but finite: nothing more to try
                self.n_events += 1
                self._seeded_for = params
                self._seed_rows = self._worst_rows(params, len(bad))
                if collapsed and not self._warned:
                    self._warned = True
                    warnings.warn(
                        f"Component(s) {bad} collapsed: the covariance is not positive "
                        f"definite after adding reg_covar={self.reg_covar!r}. They were "
                        "re-seeded at the points the model explains worst, which can "
                        "move the fit to another optimum; increase reg_covar to keep "
                        "such components instead.", ReseedWarning, stacklevel=6)
            rows = self._seed_rows[:len(bad)]
            if rows.size < len(bad) and collapsed:
                raise DegenerateComponentsError(bad)
            bad = bad[:rows.size]
            healthy = np.setdiff1d(np.arange(K), bad)
            # The healthy components' covariances of this M-step (of the previous
            # one when this one failed) are the scale of the data around them.
            current = params if new_params is None else new_params
            covariance = (_average_covariance(current, healthy, self.covariance_type)
                          if healthy.size else
                          self._data_covariance())
            means = self.X[rows].astype(np.float64)
            masses = np.full(len(bad), self.total_weight / K)
        stats = stats.copy()
        for component, mean, mass in zip(bad, means, masses):
            write_component_statistics(stats, shift, component, mean, covariance, mass,
                                       self.covariance_type, self.reg_covar)
        return estimate_parameters(stats, shift, self.covariance_type, self.reg_covar)
