"""From sufficient statistics to Gaussian mixture parameters (the M-step).

The statistics come from the kernels in ``_estep`` (layout in its docstring): the
weighted sum of responsibilities ``N_k``, first moments ``S1_k`` and second moments
``S2`` about a shift ``c_k``. With ``delta_k = S1_k / N_k``:

* mean        ``mu_k = c_k + delta_k``
* covariance  ``S2_k / N_k - delta_k delta_k^T + reg_covar I``   (full; the other
  types keep the diagonal, share one matrix, or average the diagonal)
* weight      ``pi_k = N_k / sum_j N_j``

mclust's models (EII ... VVV, ``_parsimonious``) first take the unconstrained
M-step of their storage type ("diag" or "full"), then replace its covariances by
the constrained ones computed from the same scatter matrices.

Everything here is O(K d^3) and independent of the number of samples; the
arithmetic is compiled in ``_covariance.pyx`` so that it costs microseconds.
"""

from dataclasses import dataclass
from functools import partial

import numpy as np

from ._covariance import NK_EPS, mstep_into, precision_cholesky_full
from ._kernels import COVARIANCE_KINDS, n_statistics
from ._constrained import MODEL_CODES, constrained_mstep_into
from ._parsimonious import MSTEP_MAX_ITER, MSTEP_TOL, UNCONSTRAINED, n_covariance_parameters
from ._validation import MCLUST_MODELS, covariance_shape, covariance_storage

_LOG_2PI = np.log(2 * np.pi)


class DegenerateComponentsError(ArithmeticError):
    """Some covariances are not positive definite (``components``: their indices;
    empty with ``tied=True`` when the shared tied covariance is the one)."""

    def __init__(self, components, tied=False):
        what = ("the tied covariance is" if tied
                else f"the covariances of components {list(components)} are")
        super().__init__(f"{what} not positive definite")
        self.components = list(components)
        self.tied = tied


@dataclass
class GaussianParams:
    """The parameters of a Gaussian mixture.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        full (K, d, d), tied (d, d), diag (K, d), spherical (K,)
    precisions_cholesky : ndarray, same shape as ``covariances``
        Upper-triangular ``U`` with ``precision = U U^T`` (full, tied), or
        ``1 / sqrt(variance)`` (diag, spherical).
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray

    def copy(self):
        return GaussianParams(self.weights.copy(), self.means.copy(),
                              self.covariances.copy(), self.precisions_cholesky.copy())

    def kernel_arguments(self, covariance_type):
        """The arrays the ``_estep`` kernels take: means, flat U, log constants."""
        n_features = self.means.shape[1]
        with np.errstate(divide="ignore"):
            log_weights = np.log(self.weights)
        log_const = (log_weights
                     + log_det_cholesky(self.precisions_cholesky, covariance_type, n_features)
                     - 0.5 * n_features * _LOG_2PI)
        return (np.ascontiguousarray(self.means, dtype=np.float64),
                np.ascontiguousarray(self.precisions_cholesky, dtype=np.float64).ravel(),
                np.ascontiguousarray(log_const, dtype=np.float64))


def split_statistics(stats, covariance_type, n_components, n_features):
    """Views of the flat statistics vector: (sum w log p, N (K,), S1 (K, d), S2)."""
    K, d = n_components, n_features
    assert stats.shape[0] == n_statistics(covariance_type, K, d)
    covariance_type = covariance_storage(covariance_type)
    s2_shape = {"full": (K, d, d), "tied": (d, d), "diag": (K, d),
                "spherical": (K, d)}[covariance_type]
    nk = stats[1:1 + K]
    s1 = stats[1 + K:1 + K + K * d].reshape(K, d)
    s2 = stats[1 + K + K * d:].reshape(s2_shape)
    return stats[0], nk, s1, s2


def covariance_diagonals(covariances, covariance_type):
    """The variances on the diagonals of ``covariances``, broadcastable against the
    means (K, d): full and diag (K, d), tied (1, d), spherical (K, 1)."""
    covariance_type = covariance_storage(covariance_type)
    if covariance_type == "full":
        return np.diagonal(covariances, axis1=1, axis2=2)
    if covariance_type == "tied":
        return np.diag(covariances)[None, :]
    if covariance_type == "diag":
        return covariances
    return covariances[:, None]


def compute_precision_cholesky(covariances, covariance_type):
    """Cholesky factor of the precisions (see GaussianParams) from covariances.

    Raises
    ------
    DegenerateComponentsError
        If some covariance is not positive definite.
    """
    covariances = np.asarray(covariances, dtype=np.float64)
    covariance_type = covariance_storage(covariance_type)
    if covariance_type in ("diag", "spherical"):
        bad = ~(np.isfinite(covariances) & (covariances > 0))
        if bad.ndim > 1:
            bad = bad.any(axis=1)
        if bad.any():
            raise DegenerateComponentsError(np.flatnonzero(bad).tolist())
        return 1.0 / np.sqrt(covariances)
    stack = covariances if covariance_type == "full" else covariances[None]
    prec_chol, bad = precision_cholesky_full(np.ascontiguousarray(stack))
    if bad:
        raise (DegenerateComponentsError(bad) if covariance_type == "full"
               else DegenerateComponentsError([], tied=True))
    return prec_chol if covariance_type == "full" else prec_chol[0]


def precisions_from_cholesky(precisions_cholesky, covariance_type):
    """Precision matrices (or vectors) ``U U^T`` from their Cholesky factors."""
    covariance_type = covariance_storage(covariance_type)
    if covariance_type in ("full", "tied"):
        return precisions_cholesky @ np.swapaxes(precisions_cholesky, -1, -2)
    return precisions_cholesky ** 2


def precision_cholesky_from_precisions(precisions, covariance_type):
    """Upper Cholesky factor U (U U^T = P) of user-given precisions P."""
    covariance_type = covariance_storage(covariance_type)
    if covariance_type in ("diag", "spherical"):
        return np.sqrt(precisions)
    stack = precisions if covariance_type == "full" else precisions[None]
    # U = J chol(J P J)^T J with J the exchange matrix gives an upper U with U U^T = P.
    flipped = stack[:, ::-1, ::-1]
    lower = np.linalg.cholesky(flipped)
    upper = np.triu(np.ascontiguousarray(lower[:, ::-1, ::-1]))
    return upper if covariance_type == "full" else upper[0]


def covariances_from_precision_cholesky(precisions_cholesky, covariance_type):
    """Covariances ``(U U^T)^-1`` from precision Cholesky factors."""
    covariance_type = covariance_storage(covariance_type)
    if covariance_type in ("diag", "spherical"):
        return 1.0 / precisions_cholesky ** 2
    inv_u = np.linalg.inv(precisions_cholesky)            # U^-1
    return np.swapaxes(inv_u, -1, -2) @ inv_u              # U^-T U^-1


def log_det_cholesky(precisions_cholesky, covariance_type, n_features):
    """log det(U_k) for every component: shape (K,) (a scalar for tied)."""
    covariance_type = covariance_storage(covariance_type)
    if covariance_type == "full":
        return np.log(np.diagonal(precisions_cholesky, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.log(np.diag(precisions_cholesky)).sum()
    if covariance_type == "diag":
        return np.log(precisions_cholesky).sum(axis=1)
    return n_features * np.log(precisions_cholesky)


def _constrained_mstep(model_code, stats, shift, previous, weights, means, covariances,
                       precisions_cholesky, log_norm_const, bad):
    """``_constrained.constrained_mstep_into`` with the package's tolerances (the
    constrained M-step of ``ParameterBuffers``); returns the shift ratio."""
    return constrained_mstep_into(model_code, stats, shift, previous, weights, means,
                                  covariances, precisions_cholesky, log_norm_const, bad,
                                  NK_EPS, MSTEP_TOL, MSTEP_MAX_ITER)


class ParameterBuffers:
    """One set of mixture parameters in preallocated arrays that the compiled M-step
    fills in place (the EM loop keeps two and swaps them: no allocation per
    iteration).

    Attributes
    ----------
    weights, means, covariances, precisions_cholesky : ndarray
        As in GaussianParams.
    log_norm_const : ndarray of shape (n_components,)
        ``log pi_k + log det U_k - n_features / 2 log(2 pi)``, the E-step's input.
    """

    def __init__(self, covariance_type, n_components, n_features):
        shape = covariance_shape(covariance_type, n_components, n_features)
        self.covariance_type = covariance_type
        self.kind = COVARIANCE_KINDS[covariance_type]
        # The mclust model whose constrained M-step follows the compiled one, if any.
        self.model = (covariance_type if covariance_type in MCLUST_MODELS
                      and covariance_type not in UNCONSTRAINED else None)
        self._model_code = None if self.model is None else MODEL_CODES[self.model]
        self._constrained_step = (None if self._model_code is None
                                  else partial(_constrained_mstep, self._model_code))
        self.weights = np.empty(n_components)
        self.means = np.empty((n_components, n_features))
        self.covariances = np.empty(shape)
        self.precisions_cholesky = np.empty(shape)
        self.log_norm_const = np.empty(n_components)
        self._bad = np.zeros(n_components, dtype=np.intp)
        self._cov_flat = self.covariances.reshape(-1)
        self._prec_flat = self.precisions_cholesky.reshape(-1)

    @property
    def precisions_cholesky_flat(self):
        return self._prec_flat

    def load(self, params):
        """Copy ``params`` (GaussianParams) in."""
        self.weights[...] = params.weights
        self.means[...] = params.means
        self.covariances[...] = params.covariances
        self.precisions_cholesky[...] = params.precisions_cholesky
        self.log_norm_const[...] = params.kernel_arguments(self.covariance_type)[2]
        return self

    def fill(self, stats, shift, reg_covar, dead_fraction=0.0, strict=True, previous=None):
        """The M-step: parameters from the statistics accumulated about ``shift``.

        Parameters
        ----------
        stats : ndarray of shape (n_stats,)
        shift : ndarray of shape (n_components, n_features)
        reg_covar : float
        dead_fraction : float
            Components holding at most this fraction of the total weight are flagged
            (``needs_reseeding``).
        strict : bool
            Raise DegenerateComponentsError for covariances that are not positive
            definite (otherwise they are only flagged).
        previous : GaussianParams, ParameterBuffers or None
            The parameters the statistics were computed under: the iterative
            M-steps of mclust's models start from their covariances.

        Returns
        -------
        shift_ratio : float
            ``max (mu - shift)^2 / variance`` (see ``_covariance.mstep_into``).
        """
        ratio = mstep_into(stats, shift, self.kind, reg_covar, dead_fraction, self.weights,
                           self.means, self._cov_flat, self._prec_flat, self.log_norm_const,
                           self._bad)
        if self.model is not None:
            ratio = self._constrain(stats, shift, previous)
        if strict and (self._bad == 1).any():
            if self.kind == COVARIANCE_KINDS["tied"]:
                raise DegenerateComponentsError([], tied=True)
            raise DegenerateComponentsError(np.flatnonzero(self._bad == 1).tolist())
        return ratio

    def _constrain(self, stats, shift, previous):
        """Replace the unconstrained covariances of the compiled M-step by those of
        the mclust model (same scatter matrices); recompute what depends on them."""
        warm = None
        if isinstance(previous, ParameterBuffers):
            warm = previous._cov_flat       # the EM loop's other buffers: same shape
        elif previous is not None:
            warm = previous.covariances
            if not (isinstance(warm, np.ndarray) and warm.dtype == np.float64
                    and warm.flags.c_contiguous):
                warm = np.ascontiguousarray(warm, dtype=np.float64)
            warm = warm.reshape(-1) if warm.size == self._cov_flat.size else None
        return self._constrained_step(stats, shift, warm, *self.kernel_buffers)

    @property
    def kernel_buffers(self):
        """``(weights, means, covariances, precisions_cholesky, log_norm_const, bad)``,
        the arrays of the compiled EM iterations (``_estep.em_iterations``)."""
        return (self.weights, self.means, self._cov_flat, self._prec_flat,
                self.log_norm_const, self._bad)

    def constrained_step(self):
        """None for the unconstrained types, else the constrained M-step of the mclust
        model as ``_estep.em_iterations`` takes it: ``(model_code, nk_eps, tol,
        max_iter)``, the arguments with which ``_constrain`` runs the same step."""
        if self._model_code is None:
            return None
        return (self._model_code, NK_EPS, MSTEP_TOL, MSTEP_MAX_ITER)

    @property
    def needs_reseeding(self):
        """Whether the last ``fill`` flagged a component (dead or not positive definite)."""
        return np.count_nonzero(self._bad) > 0

    def params(self):
        """A GaussianParams copy of the current values."""
        return GaussianParams(self.weights.copy(), self.means.copy(), self.covariances.copy(),
                              self.precisions_cholesky.copy())


def estimate_parameters(stats, shift, covariance_type, reg_covar, previous=None):
    """The M-step: parameters from sufficient statistics.

    Parameters
    ----------
    stats : ndarray of shape (n_stats,)
        Output of ``em_statistics`` or ``assignment_statistics``.
    shift : ndarray of shape (n_components, n_features)
        The shift ``c_k`` the statistics were accumulated about.
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        Added to the diagonal of every covariance (for mclust's models:
        ``n_k reg_covar`` added to the diagonal of every scatter matrix, see
        ``_parsimonious``).
    previous : GaussianParams or None
        Parameters the statistics were computed under (warm start of the iterative
        M-steps).

    Returns
    -------
    GaussianParams

    Raises
    ------
    DegenerateComponentsError
        If some covariance is not positive definite after regularization.
    """
    n_components, n_features = shift.shape
    buffers = ParameterBuffers(covariance_type, n_components, n_features)
    buffers.fill(stats, np.ascontiguousarray(shift, dtype=np.float64), reg_covar,
                 previous=previous)
    return GaussianParams(buffers.weights, buffers.means, buffers.covariances,
                          buffers.precisions_cholesky)


def n_parameters(covariance_type, n_components, n_features):
    """Number of free parameters of the model (for BIC/AIC)."""
    K, d = n_components, n_features
    return int(n_covariance_parameters(covariance_type, K, d) + K * d + K - 1)


def covariance_kind(covariance_type):
    """Kernel code of a covariance type name."""
    return COVARIANCE_KINDS[covariance_type]
