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
into a ValueError that says to increase ``reg_covar``. The reseeder records the
collapsed components it re-seeds (not the empty ones); the fit then emits one
``ReseedWarning`` (``_em``): it may end in another optimum than the data's
degenerate one.
"""

import numpy as np

from ._kernels import COVARIANCE_KINDS
from ._mstep import (DegenerateComponentsError, covariance_kind,
                     estimate_parameters, split_statistics)
from ._passes import (EStepProblem, MomentsProblem, WorstRowsProblem, block_worst_rows,
                      merge_worst_rows, moments_block, worst_rows_block)
from ._source import ArraySource
from ._validation import covariance_storage

# A component is dead when it holds less than this fraction of the total weight: its
# statistics are then below the rounding error of the totals.
DEAD_FRACTION = 1e-12


def distinct_worst_rows(X, badness, sample_weight, n_rows, *, floor=-np.inf):
    """Up to ``n_rows`` rows of an in-memory ``X`` with the largest ``badness``,
    pairwise distinct in value.

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
    return block_worst_rows(X, badness, sample_weight, 0, n_rows, floor).positions


def data_covariance(source, covariance_type):
    """Weighted covariance of all the rows of ``source``, in the form of
    ``covariance_type``.

    Two passes (the mean, then the centred second moments), in row chunks: no
    n_samples x n_features temporary, no cancellation however far X lies from 0.

    Parameters
    ----------
    source : row source (``_source``) or ndarray of shape (n_samples, n_features)
        An array (any strides; float32 rows are accumulated in float64) is read with
        unit weights.
    covariance_type : {"full", "tied", "diag", "spherical"}

    Returns
    -------
    ndarray
        full, tied: (n_features, n_features); diag: (n_features,); spherical: ().
    """
    if isinstance(source, np.ndarray):
        source = ArraySource(source)
    covariance_type = covariance_storage(covariance_type)
    d = source.n_features
    full = covariance_type in ("full", "tied")
    first = source.reduce(moments_block, MomentsProblem(None, False), np.empty(1 + d))
    mean = first[1:] / first[0]
    second = source.reduce(moments_block, MomentsProblem(mean, full),
                           np.empty(d * d if full else d))
    cov = second / first[0]
    if full:
        cov = cov.reshape(d, d)
        return 0.5 * (cov + cov.T)
    return cov if covariance_type == "diag" else np.float64(cov.mean())


def _average_covariance(params, healthy, covariance_type):
    """Weighted mean of the healthy components' covariances (one component's shape)."""
    cov = params.covariances
    if covariance_storage(covariance_type) == "tied":
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
    covariance_type = covariance_storage(covariance_type)
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
    source : row source (``_source``)
        The rows of the fit: re-seeding reads them for the worst-explained rows and,
        when no healthy component is left, for the data's covariance.
    n_components : int
    covariance_type : str
    reg_covar : float
    n_threads : int

    Attributes
    ----------
    n_events : int
        Re-seeding events of this run (at most ``n_components + 2``).
    collapsed : list of int
        Components re-seeded because they collapsed (not only emptied), in order.
    """

    def __init__(self, source, n_components, covariance_type, reg_covar, n_threads):
        self.source = source
        self.total_weight = source.total_weight
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.n_threads = n_threads
        self.max_events = n_components + 2
        self.n_events = 0
        self.collapsed = []
        self._seeded_for = None      # the parameters the cached seed rows were chosen for
        self._seed_rows = None

    def _bad_components(self, stats, shift):
        """(new parameters or None, sorted bad components, whether some collapsed)."""
        nk = stats[1:1 + shift.shape[0]]          # split_statistics' N_k
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
        cov = data_covariance(self.source, self.covariance_type)
        if covariance_storage(self.covariance_type) in ("full", "tied"):
            return cov + self.reg_covar * np.eye(cov.shape[0])
        return cov + self.reg_covar

    def _worst_rows(self, params, n_rows):
        """Values (m, d) of the rows worst explained by ``params`` (lowest
        log-likelihood), distinct, worst first: one pass over the source."""
        means, prec_chol, log_const = params.kernel_arguments(self.covariance_type)
        problem = WorstRowsProblem(
            EStepProblem(covariance_kind(self.covariance_type), means, prec_chol, log_const,
                         None, self.n_threads), n_rows)
        found = self.source.merge(worst_rows_block, problem,
                                  lambda a, b: merge_worst_rows(a, b, n_rows))
        return found.rows

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
                if collapsed:
                    self.collapsed.extend(bad)
            rows = self._seed_rows[:len(bad)]
            if rows.shape[0] < len(bad) and collapsed:
                raise DegenerateComponentsError(bad)
            bad = bad[:rows.shape[0]]
            healthy = np.setdiff1d(np.arange(K), bad)
            # The healthy components' covariances of this M-step (of the previous
            # one when this one failed) are the scale of the data around them.
            current = params if new_params is None else new_params
            covariance = (_average_covariance(current, healthy, self.covariance_type)
                          if healthy.size else
                          self._data_covariance())
            means = rows
            masses = np.full(len(bad), self.total_weight / K)
        stats = stats.copy()
        for component, mean, mass in zip(bad, means, masses):
            write_component_statistics(stats, shift, component, mean, covariance, mass,
                                       self.covariance_type, self.reg_covar)
        return estimate_parameters(stats, shift, self.covariance_type, self.reg_covar)


# ---------------------------------------------------------------------------------
# Spurious (degenerate) fits
# ---------------------------------------------------------------------------------

# A covariance "sits at the regularization floor" when, without reg_covar, its
# reciprocal condition number is below sqrt(machine epsilon) (numerically singular).
SINGULAR_RCOND = float(np.sqrt(np.finfo(np.float64).eps))
# The four scikit-learn names as the mclust models they are.
_MCLUST_NAME = {"full": "VVV", "tied": "EEE", "diag": "VVI", "spherical": "VII"}


def min_component_points(covariance_type, n_features):
    """Fewest effective points (sum of responsibilities) a component needs for the
    likelihood of its covariance model to be bounded.

    * its own unconstrained covariance ("full", VVV): ``n_features + 1`` (on fewer,
      the points span at most a hyperplane and the density can grow without bound);
    * its own volume (a parameterization lambda_k D_k A_k D_k^T whose volume
      ``lambda_k`` varies: "diag", "spherical", V..): 2 (on one point, the volume
      shrinks to 0);
    * a volume shared by every component ("tied", E..): 0 (the normalizing constant
      is common to all components, so no component alone can make the likelihood
      unbounded).

    Parameters
    ----------
    covariance_type : str
        A scikit-learn name or an mclust model name (EII ... VVV).
    n_features : int

    Returns
    -------
    int
    """
    name = _MCLUST_NAME.get(covariance_type, covariance_type)
    if name == "VVV":
        return n_features + 1
    return 2 if name[:1] == "V" else 0


def _component_eigenvalues(covariances, covariance_type, n_components):
    """Eigenvalues of every component's covariance, shape (n_components, m)."""
    kind = covariance_kind(covariance_type)
    kinds = COVARIANCE_KINDS
    if kind == kinds["full"]:
        return np.linalg.eigvalsh(covariances)
    if kind == kinds["tied"]:
        return np.repeat(np.linalg.eigvalsh(covariances)[None, :], n_components, axis=0)
    if kind == kinds["diag"]:
        return np.asarray(covariances, dtype=np.float64).reshape(n_components, -1)
    return np.asarray(covariances, dtype=np.float64).reshape(n_components, 1)


def degenerate_components(params, covariance_type, total_weight, reg_covar):
    """Components whose fitted likelihood is spurious (a collapsed component).

    Component ``k`` is degenerate when either

    * its effective number of points ``N_k = weights_[k] * total_weight`` is below
      ``min_component_points(covariance_type, n_features)`` (e.g. ``d + 1`` for a
      free full covariance, 2 for "diag" or "spherical"); or
    * its covariance sits at the regularization floor: the eigenvalues ``e`` of
      ``covariance_k - reg_covar I`` have ``min(e) <= SINGULAR_RCOND * max(e)``
      (numerically singular: the component lies on a point or a subspace, e.g.
      rows with a repeated value), or ``max(e) <= SINGULAR_RCOND * max_j max(e_j)``
      (it has shrunk onto a point compared with the other components).

    For a "tied" covariance the shared matrix is judged once and flags every
    component.

    Parameters
    ----------
    params : GaussianParams
    covariance_type : str
    total_weight : float
        The number of rows (sum of the sample weights) the model was fitted on.
    reg_covar : float

    Returns
    -------
    ndarray of int
        Sorted indices of the degenerate components (empty for a sound fit).
    """
    n_components, n_features = params.means.shape
    too_few = params.weights * total_weight < min_component_points(covariance_type,
                                                                   n_features)
    with np.errstate(invalid="ignore"):
        free = _component_eigenvalues(params.covariances, covariance_type,
                                      n_components) - reg_covar
    largest = free.max(axis=1)
    singular = ((free.min(axis=1) <= SINGULAR_RCOND * largest)
                | (largest <= SINGULAR_RCOND * largest.max()))
    return np.flatnonzero(too_few | singular)
