"""Sufficient statistics of Gaussian mixtures: the layer every fit is built on.

One EM iteration is: the statistics of every block of rows under the current
parameters (E-step), their sum, and the parameters that maximize the expected
log-likelihood given that sum (M-step). The statistics of a block are a few plain
arrays (``K * d**2`` numbers for full covariances, whatever the number of rows), so
blocks can be processed anywhere (threads, processes, machines) and summed in any
grouping. ``GaussianMixture.fit`` runs exactly these functions over the blocks of
its data source; this module makes them public for engines of your own:

>>> import numpy as np, fastgmm
>>> from fastgmm import stats
>>> rng = np.random.default_rng(0)
>>> X = np.concatenate([rng.normal(0, 1, (500, 2)), rng.normal(6, 1, (500, 2))])
>>> params = stats.MixtureParameters.from_arrays(
...     [0.5, 0.5], [[1.0, 1.0], [4.0, 4.0]], [np.eye(2), np.eye(2)])
>>> for _ in range(20):
...     total = sum(stats.block_statistics(block, params) for block in np.split(X, 4))
...     params = stats.maximize(total)
>>> model = params.to_model()
>>> sorted(np.round(model.means_[:, 0]).astype(int).tolist())
[0, 6]

The statistics of a block are accumulated about a *shift* ``c_k`` (the means of the
parameters they were computed under), which keeps the one-pass covariances free of
cancellation; statistics can only be added when they share the shift, i.e. when they
were computed under the same parameters, as in one EM iteration.
"""

from dataclasses import dataclass

import numpy as np

from ._kernels import n_statistics
from ._mstep import (DegenerateComponentsError, GaussianParams, compute_precision_cholesky,
                     covariance_kind, estimate_parameters, split_statistics)
from ._openmp_helpers import blas_single_thread, effective_n_threads
from ._passes import EStepProblem, em_block
from ._validation import (COVARIANCE_TYPES, check_choice, check_data, check_real,
                          check_sample_weight, covariance_shape)

__all__ = ["MixtureParameters", "SufficientStatistics", "block_statistics", "combine",
           "maximize"]


@dataclass(frozen=True, eq=False)
class MixtureParameters:
    """The parameters of a Gaussian mixture (plain arrays: picklable, cheap to send).

    Attributes
    ----------
    covariance_type : str
        "full", "tied", "diag", "spherical" or one of mclust's 14 models.
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        full (K, d, d), tied (d, d), diag (K, d), spherical (K,); mclust's models
        as diag (EII, VII, EEI, VEI, EVI, VVI) or full (the others).
    precisions_cholesky : ndarray, same shape as ``covariances``
        Upper-triangular ``U`` with ``precision = U U^T`` (full, tied), or
        ``1 / sqrt(variance)`` (diag, spherical).
    """

    covariance_type: str
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray

    @property
    def n_components(self):
        return self.means.shape[0]

    @property
    def n_features(self):
        return self.means.shape[1]

    @classmethod
    def from_model(cls, model):
        """The fitted parameters of a ``GaussianMixture``."""
        model._check_fitted()
        return cls(model.covariance_type, *(np.array(a, dtype=np.float64) for a in (
            model.weights_, model.means_, model.covariances_, model.precisions_cholesky_)))

    @classmethod
    def from_arrays(cls, weights, means, covariances, covariance_type="full"):
        """Parameters from weights, means and covariances (checked).

        Parameters
        ----------
        weights : array-like of shape (n_components,)
            Non-negative, summing to 1.
        means : array-like of shape (n_components, n_features)
        covariances : array-like
            Shaped as for ``covariance_type`` (see the class docstring), positive
            definite.
        covariance_type : {"full", "tied", "diag", "spherical"}
        """
        check_choice(covariance_type, "covariance_type", COVARIANCE_TYPES)
        means = np.array(means, dtype=np.float64, ndmin=2)
        K, d = means.shape
        weights = np.array(weights, dtype=np.float64)
        covariances = np.array(covariances, dtype=np.float64)
        shape = covariance_shape(covariance_type, K, d)
        if weights.shape != (K,) or covariances.shape != shape:
            raise ValueError(
                f"weights must have shape ({K},) and covariances {shape} for {K} "
                f"components, {d} features and covariance_type={covariance_type!r}; got "
                f"{weights.shape} and {covariances.shape}.")
        finite = all(np.all(np.isfinite(a)) for a in (weights, means, covariances))
        if not finite or np.any(weights < 0) or abs(weights.sum() - 1.0) > 1e-6:
            raise ValueError("weights, means and covariances must be finite, and weights "
                             "non-negative and summing to 1.")
        try:
            prec_chol = compute_precision_cholesky(covariances, covariance_type)
        except DegenerateComponentsError as exc:
            raise ValueError(f"covariances are not positive definite ({exc}); pass "
                             "positive definite covariances.") from None
        return cls(covariance_type, weights, means, covariances, prec_chol)

    def _internal(self):
        return GaussianParams(self.weights, self.means, self.covariances,
                              self.precisions_cholesky)

    def to_model(self, *, lower_bound=-np.inf, n_iter=0, converged=False, **hyper_parameters):
        """A fitted ``GaussianMixture`` with these parameters.

        Parameters
        ----------
        lower_bound : float
            Its ``lower_bound_`` (the mean log-likelihood of the last iteration).
        n_iter : int
            Its ``n_iter_``.
        converged : bool
            Its ``converged_``.
        **hyper_parameters
            Other GaussianMixture hyper-parameters (``n_components`` and
            ``covariance_type`` come from the parameters).
        """
        from ._model import GaussianMixture    # here: _model imports this package
        model = GaussianMixture(self.n_components, covariance_type=self.covariance_type,
                                **hyper_parameters)
        model._set_fitted(self._internal())
        model.converged_ = bool(converged)
        model.n_iter_ = int(n_iter)
        model.lower_bound_ = float(lower_bound)
        model.lower_bounds_ = [] if n_iter == 0 else [float(lower_bound)]
        model.n_features_in_ = self.n_features
        return model


@dataclass(frozen=True, eq=False)
class SufficientStatistics:
    """The sufficient statistics of some rows under given mixture parameters.

    With responsibilities ``gamma_nk`` of row ``x_n`` (weight ``w_n``) under the
    parameters, and ``D = x_n - c_k`` about the shift ``c_k``:

    * ``log_likelihood``: ``sum_n w_n log p(x_n)`` under the parameters;
    * ``nk`` (K,): ``sum_n w_n gamma_nk``;
    * ``first_moments`` (K, d): ``sum_n w_n gamma_nk D``;
    * ``second_moments``: ``sum_n w_n gamma_nk D D^T`` (full: (K, d, d), upper
      triangle filled); tied: summed over k, (d, d); diag and spherical: the
      diagonals, (K, d).

    Attributes
    ----------
    covariance_type : str
    vector : ndarray of shape (n_stats,)
        All of the above in one flat float64 vector (the kernels' layout).
    shift : ndarray of shape (n_components, n_features)
    total_weight : float
        ``sum_n w_n`` over the rows.
    n_samples : int
        Number of rows.
    """

    covariance_type: str
    vector: np.ndarray
    shift: np.ndarray
    total_weight: float
    n_samples: int

    def _split(self):
        K, d = self.shift.shape
        return split_statistics(self.vector, self.covariance_type, K, d)

    @property
    def log_likelihood(self):
        return float(self.vector[0])

    @property
    def mean_log_likelihood(self):
        """``log_likelihood / total_weight`` (EM's lower bound)."""
        return self.log_likelihood / self.total_weight

    @property
    def nk(self):
        return self._split()[1]

    @property
    def first_moments(self):
        return self._split()[2]

    @property
    def second_moments(self):
        return self._split()[3]

    def __add__(self, other):
        if other == 0:                      # sum() starts from 0
            return self
        if not isinstance(other, SufficientStatistics):
            return NotImplemented
        if (other.covariance_type != self.covariance_type
                or other.shift.shape != self.shift.shape
                or not np.array_equal(other.shift, self.shift)):
            raise ValueError(
                "these statistics were computed under different parameters (covariance "
                "type, shape or means differ); only statistics of the same EM iteration "
                "(the same parameters) can be added.")
        return SufficientStatistics(self.covariance_type, self.vector + other.vector,
                                    self.shift, self.total_weight + other.total_weight,
                                    self.n_samples + other.n_samples)

    __radd__ = __add__


def _shift(means, dtype):
    """The statistics' shift: the means, exactly representable in the data's dtype."""
    means = np.ascontiguousarray(means, dtype=np.float64)
    return means if dtype == np.float64 else means.astype(dtype).astype(np.float64)


def block_statistics(X, params, sample_weight=None, *, n_threads=None):
    """The sufficient statistics of a block of rows under ``params`` (an E-step).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Any number of rows (0 included); float32 data are computed in float32 and
        accumulated in float64, as in ``fit``.
    params : MixtureParameters or fitted GaussianMixture
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights (not rescaled: blocks must share one scale).
    n_threads : int or None
        OpenMP threads (as ``GaussianMixture.n_threads``).

    Returns
    -------
    SufficientStatistics
    """
    if not isinstance(params, MixtureParameters):
        params = MixtureParameters.from_model(params)
    X = check_data(X, min_samples=0, n_features=params.n_features)
    n = X.shape[0]
    w = (np.empty(0) if sample_weight is None
         else check_sample_weight(sample_weight, n, rescale=False))
    cov_type = params.covariance_type
    means, prec_chol, log_const = params._internal().kernel_arguments(cov_type)
    shift = _shift(params.means, X.dtype)
    out = np.empty(n_statistics(cov_type, params.n_components, params.n_features))
    problem = EStepProblem(covariance_kind(cov_type), means, prec_chol, log_const, shift,
                           effective_n_threads(n_threads))
    with blas_single_thread():
        em_block(X, w, problem, out)
    total = float(w.sum()) if w.size else float(n)
    return SufficientStatistics(cov_type, out, shift, total, n)


def combine(statistics):
    """The sum of an iterable of SufficientStatistics (of the same parameters)."""
    total = None
    for item in statistics:
        total = item if total is None else total + item
    if total is None:
        raise ValueError("combine() needs at least one SufficientStatistics.")
    return total


def maximize(statistics, reg_covar=1e-6, previous=None):
    """The M-step: the mixture parameters that maximize the expected log-likelihood.

    Parameters
    ----------
    statistics : SufficientStatistics
        Summed over all the rows.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance (as in ``GaussianMixture``).
    previous : MixtureParameters or None
        The parameters the statistics were computed under: the iterative M-steps
        of mclust's models (VEI, VEE, EVE, VVE, VEV) start from them, so that the
        result is never worse than they are; otherwise they start from a pooled
        estimate.

    Returns
    -------
    MixtureParameters

    Raises
    ------
    ValueError
        If a component holds no weight, or a covariance is not positive definite
        after regularization (``GaussianMixture.fit`` re-seeds such components;
        here the caller decides).
    """
    reg_covar = check_real(reg_covar, "reg_covar", low=0.0)
    if not statistics.total_weight > 0:
        raise ValueError("the statistics hold no weight (no rows, or all weights 0); sum "
                         "the statistics of the rows first.")
    empty = np.flatnonzero(statistics.nk <= 0)
    if empty.size:
        raise ValueError(f"component(s) {empty.tolist()} hold no responsibility in these "
                         "statistics; re-initialize them (e.g. at a poorly explained row).")
    try:
        p = estimate_parameters(statistics.vector, statistics.shift,
                                statistics.covariance_type, reg_covar,
                                None if previous is None else previous._internal())
    except DegenerateComponentsError as exc:
        raise ValueError(f"{exc} after adding reg_covar={reg_covar!r}; increase reg_covar "
                         "or re-initialize the collapsed components.") from None
    return MixtureParameters(statistics.covariance_type, p.weights, p.means, p.covariances,
                             p.precisions_cholesky)
