"""From sufficient statistics to Gaussian mixture parameters (the M-step).

The statistics come from the kernels in ``_estep`` (layout in its docstring): the
weighted sum of responsibilities ``N_k``, first moments ``S1_k`` and second moments
``S2`` about a shift ``c_k``. With ``delta_k = S1_k / N_k``:

* mean        ``mu_k = c_k + delta_k``
* covariance  ``S2_k / N_k - delta_k delta_k^T + reg_covar I``   (full; the other
  types keep the diagonal, share one matrix, or average the diagonal)
* weight      ``pi_k = N_k / sum_j N_j``

Everything here is O(K d^3) and independent of the number of samples.
"""

from dataclasses import dataclass

import numpy as np

from ._kernels import COVARIANCE_KINDS, n_statistics

# Guards N_k against exact zeros, as scikit-learn does (so results agree with it).
NK_EPS = 10 * np.finfo(np.float64).eps
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
    s2_shape = {"full": (K, d, d), "tied": (d, d), "diag": (K, d),
                "spherical": (K, d)}[covariance_type]
    nk = stats[1:1 + K]
    s1 = stats[1 + K:1 + K + K * d].reshape(K, d)
    s2 = stats[1 + K + K * d:].reshape(s2_shape)
    return stats[0], nk, s1, s2


def _symmetrize_upper(s2):
    """Full symmetric matrices from their upper triangles (last two axes)."""
    upper = np.triu(s2)
    return upper + np.swapaxes(np.triu(s2, 1), -1, -2)


def _add_to_diagonal(matrices, value):
    d = matrices.shape[-1]
    idx = np.arange(d)
    matrices[..., idx, idx] += value
    return matrices


def _covariances_full(nk, delta, s2, reg_covar):
    cov = _symmetrize_upper(s2) / nk[:, None, None]
    cov -= delta[:, :, None] * delta[:, None, :]
    return _add_to_diagonal(cov, reg_covar)


def _covariances_tied(nk, delta, s2, reg_covar):
    between = np.einsum("k,ki,kj->ij", nk, delta, delta)
    cov = (_symmetrize_upper(s2) - between) / nk.sum()
    return _add_to_diagonal(cov, reg_covar)


def _covariances_diag(nk, delta, s2, reg_covar):
    return s2 / nk[:, None] - delta * delta + reg_covar


def _covariances_spherical(nk, delta, s2, reg_covar):
    return (s2 / nk[:, None] - delta * delta).mean(axis=1) + reg_covar


_COVARIANCES_FROM_STATS = {
    "full": _covariances_full,
    "tied": _covariances_tied,
    "diag": _covariances_diag,
    "spherical": _covariances_spherical,
}


def _cholesky_upper_precision(matrices):
    """U with U U^T = inv(C) for a stack of SPD matrices C (m, d, d).

    Raises DegenerateComponentsError naming the matrices that are not positive
    definite.
    """
    try:
        lower = np.linalg.cholesky(matrices)
    except np.linalg.LinAlgError:
        lower = None
    if lower is None or not np.all(np.isfinite(lower)):
        bad = []
        for k, matrix in enumerate(matrices):
            try:
                if not np.all(np.isfinite(np.linalg.cholesky(matrix))):
                    bad.append(k)
            except np.linalg.LinAlgError:
                bad.append(k)
        raise DegenerateComponentsError(bad)
    # C = L L^T  =>  inv(C) = L^-T L^-1 = U U^T with U = L^-T (upper triangular).
    return np.triu(np.swapaxes(np.linalg.inv(lower), -1, -2))


def _precision_cholesky_full(covariances):
    return _cholesky_upper_precision(covariances)


def _precision_cholesky_tied(covariance):
    try:
        return _cholesky_upper_precision(covariance[None])[0]
    except DegenerateComponentsError:
        raise DegenerateComponentsError([], tied=True) from None


def _precision_cholesky_vector(variances):
    bad = ~(np.isfinite(variances) & (variances > 0))
    if bad.ndim > 1:
        bad = bad.any(axis=1)
    if bad.any():
        raise DegenerateComponentsError(np.flatnonzero(bad).tolist())
    return 1.0 / np.sqrt(variances)


_PRECISION_CHOLESKY = {
    "full": _precision_cholesky_full,
    "tied": _precision_cholesky_tied,
    "diag": _precision_cholesky_vector,
    "spherical": _precision_cholesky_vector,
}


def compute_precision_cholesky(covariances, covariance_type):
    """Cholesky factor of the precisions (see GaussianParams) from covariances."""
    return _PRECISION_CHOLESKY[covariance_type](np.asarray(covariances, dtype=np.float64))


def precisions_from_cholesky(precisions_cholesky, covariance_type):
    """Precision matrices (or vectors) ``U U^T`` from their Cholesky factors."""
    if covariance_type in ("full", "tied"):
        return precisions_cholesky @ np.swapaxes(precisions_cholesky, -1, -2)
    return precisions_cholesky ** 2


def precision_cholesky_from_precisions(precisions, covariance_type):
    """Upper Cholesky factor U (U U^T = P) of user-given precisions P."""
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
    if covariance_type in ("diag", "spherical"):
        return 1.0 / precisions_cholesky ** 2
    inv_u = np.linalg.inv(precisions_cholesky)            # U^-1
    return np.swapaxes(inv_u, -1, -2) @ inv_u              # U^-T U^-1


def log_det_cholesky(precisions_cholesky, covariance_type, n_features):
    """log det(U_k) for every component: shape (K,) (a scalar for tied)."""
    if covariance_type == "full":
        return np.log(np.diagonal(precisions_cholesky, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.log(np.diag(precisions_cholesky)).sum()
    if covariance_type == "diag":
        return np.log(precisions_cholesky).sum(axis=1)
    return n_features * np.log(precisions_cholesky)


def estimate_parameters(stats, shift, covariance_type, reg_covar):
    """The M-step: parameters from sufficient statistics.

    Parameters
    ----------
    stats : ndarray of shape (n_stats,)
        Output of ``_estep.em_statistics`` or ``_estep.assignment_statistics``.
    shift : ndarray of shape (n_components, n_features)
        The shift ``c_k`` the statistics were accumulated about.
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        Added to the diagonal of every covariance.

    Returns
    -------
    params : GaussianParams
    nk : ndarray of shape (n_components,)
        Weighted responsibility sums (without the NK_EPS guard).

    Raises
    ------
    DegenerateComponentsError
        If some covariance is not positive definite after regularization.
    """
    n_components, n_features = shift.shape
    _, nk, s1, s2 = split_statistics(stats, covariance_type, n_components, n_features)
    nk_safe = nk + NK_EPS
    delta = s1 / nk_safe[:, None]
    means = shift + delta
    weights = nk_safe / nk_safe.sum()
    covariances = _COVARIANCES_FROM_STATS[covariance_type](nk_safe, delta, s2, reg_covar)
    precisions_cholesky = compute_precision_cholesky(covariances, covariance_type)
    return GaussianParams(weights, means, covariances, precisions_cholesky), nk.copy()


def n_parameters(covariance_type, n_components, n_features):
    """Number of free parameters of the model (for BIC/AIC)."""
    K, d = n_components, n_features
    cov_params = {"full": K * d * (d + 1) / 2, "tied": d * (d + 1) / 2,
                  "diag": K * d, "spherical": K}[covariance_type]
    return int(cov_params + K * d + K - 1)


def covariance_kind(covariance_type):
    """Kernel code of a covariance type name."""
    return COVARIANCE_KINDS[covariance_type]
