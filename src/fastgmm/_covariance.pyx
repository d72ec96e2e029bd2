"""The M-step's arithmetic, compiled: statistics -> parameters -> Cholesky factors.

``_mstep.py`` describes the formulas and holds the Python-facing API; this module
does the O(K d^3) work without Python overhead, so that small fits spend their time
in the kernels, not in numpy call overhead (a batched numpy M-step costs about
30 µs per iteration even for two features).

Cholesky factors use LAPACK (``dpotrf``, ``dtrtri``) through
``scipy.linalg.cython_lapack``. Row-major matrices are passed as their Fortran
transposes; for symmetric matrices the two are the same.
"""

from libc.math cimport isfinite, log, sqrt
from libc.string cimport memcpy
from scipy.linalg.cython_lapack cimport dpotrf, dtrtri

import numpy as np

# Guards N_k against exact zeros, as scikit-learn does (so results agree with it).
cdef double NK_EPS_C = 10 * 2.220446049250313e-16
NK_EPS = NK_EPS_C
cdef double LOG_2PI = 1.8378770664093453


cdef int _upper_precision_cholesky(double* cov, double* prec_chol, Py_ssize_t d) noexcept nogil:
    """prec_chol := U (row-major, upper) with U U^T = inv(cov); return 0, or 1 if cov
    (row-major, symmetric, d x d) is not positive definite."""
    cdef char uplo = b'U', diag = b'N'
    cdef int n = <int> d, info = 0
    cdef Py_ssize_t i, j
    memcpy(prec_chol, cov, d * d * sizeof(double))
    # Fortran view: cov = R^T R with R upper; row-major, the lower triangle is
    # L = R^T, the lower Cholesky factor of cov.
    dpotrf(&uplo, &n, prec_chol, &n, &info)
    if info != 0:
        return 1
    for i in range(d):
        if not (isfinite(prec_chol[i * d + i]) and prec_chol[i * d + i] > 0.0):
            return 1
    # R^-1 in the Fortran upper triangle = L^-1 in the row-major lower triangle.
    dtrtri(&uplo, &diag, &n, prec_chol, &n, &info)
    if info != 0:
        return 1
    # U = L^-T: transpose the lower triangle into the upper one, zero the lower.
    for i in range(d):
        for j in range(i + 1, d):
            prec_chol[i * d + j] = prec_chol[j * d + i]
            prec_chol[j * d + i] = 0.0
    for i in range(d * d):
        if not isfinite(prec_chol[i]):
            return 1
    return 0


cdef double _log_diagonal_sum(const double* U, Py_ssize_t d) noexcept nogil:
    cdef Py_ssize_t i
    cdef double total = 0.0
    for i in range(d):
        total += log(U[i * d + i])
    return total


cdef int _variance_precision(double variance, double* prec) noexcept nogil:
    if not (isfinite(variance) and variance > 0.0):
        return 1
    prec[0] = 1.0 / sqrt(variance)
    return 0


cdef double _mstep(const double* stats, const double* shift, int kind, Py_ssize_t K,
                   Py_ssize_t d, double reg_covar, double dead_fraction, double* weights,
                   double* means, double* cov, double* prec_chol, double* log_const,
                   Py_ssize_t* bad) noexcept nogil:
    """Fill the parameters from the statistics; return max_kj delta_kj^2 / var_kj.

    ``bad[k]`` is set to 1 for every component whose covariance is not positive
    definite (all of them for a tied covariance), to 2 for one whose weight is at
    most ``dead_fraction`` of the total (it lost its responsibility), 0 otherwise.
    """
    cdef const double* nk = stats + 1
    cdef const double* s1 = stats + 1 + K
    cdef const double* s2 = stats + 1 + K + K * d
    cdef Py_ssize_t k, i, j
    cdef double total = 0.0, n_safe, delta_i, delta_j, value, ratio = 0.0, log_det
    cdef double* c
    cdef double half_d_log_2pi = 0.5 * d * LOG_2PI
    for k in range(K):
        total += nk[k] + NK_EPS_C
        bad[k] = 0
    for k in range(K):
        n_safe = nk[k] + NK_EPS_C
        weights[k] = n_safe / total
        for i in range(d):
            means[k * d + i] = shift[k * d + i] + s1[k * d + i] / n_safe
    if kind == COV_FULL or kind == COV_TIED:
        if kind == COV_TIED:
            for i in range(d * d):
                cov[i] = 0.0
        for k in range(K):
            n_safe = nk[k] + NK_EPS_C
            c = cov + (k * d * d if kind == COV_FULL else 0)
            for i in range(d):
                delta_i = s1[k * d + i] / n_safe
                for j in range(i, d):
                    delta_j = s1[k * d + j] / n_safe
                    if kind == COV_FULL:
                        value = s2[k * d * d + i * d + j] / n_safe - delta_i * delta_j
                        c[i * d + j] = value
                    else:   # tied: sum_k (S2_k - N_k delta delta^T), one S2 for all k
                        c[i * d + j] -= n_safe * delta_i * delta_j
        if kind == COV_TIED:
            for i in range(d):
                for j in range(i, d):
                    cov[i * d + j] = (cov[i * d + j] + s2[i * d + j]) / total
        for k in range(K if kind == COV_FULL else 1):
            c = cov + k * d * d
            for i in range(d):
                c[i * d + i] += reg_covar
                for j in range(i + 1, d):
                    c[j * d + i] = c[i * d + j]
            if _upper_precision_cholesky(c, prec_chol + k * d * d, d):
                if kind == COV_FULL:
                    bad[k] = 1
                else:
                    for j in range(K):
                        bad[j] = 1
                log_det = 0.0
            else:
                log_det = _log_diagonal_sum(prec_chol + k * d * d, d)
            if kind == COV_FULL:
                log_const[k] = log_det
            else:
                for j in range(K):
                    log_const[j] = log_det
        for k in range(K):
            n_safe = nk[k] + NK_EPS_C
            c = cov + (k * d * d if kind == COV_FULL else 0)
            for i in range(d):
                delta_i = s1[k * d + i] / n_safe
                if c[i * d + i] > 0.0:
                    ratio = max(ratio, delta_i * delta_i / c[i * d + i])
    else:
        for k in range(K):
            n_safe = nk[k] + NK_EPS_C
            log_det = 0.0
            if kind == COV_DIAG:
                for i in range(d):
                    delta_i = s1[k * d + i] / n_safe
                    value = s2[k * d + i] / n_safe - delta_i * delta_i + reg_covar
                    cov[k * d + i] = value
                    if _variance_precision(value, prec_chol + k * d + i):
                        bad[k] = 1
                    else:
                        log_det += log(prec_chol[k * d + i])
                        ratio = max(ratio, delta_i * delta_i / value)
            else:
                value = 0.0
                for i in range(d):
                    delta_i = s1[k * d + i] / n_safe
                    value += s2[k * d + i] / n_safe - delta_i * delta_i
                value = value / d + reg_covar
                cov[k] = value
                if _variance_precision(value, prec_chol + k):
                    bad[k] = 1
                else:
                    log_det = d * log(prec_chol[k])
                    for i in range(d):
                        delta_i = s1[k * d + i] / n_safe
                        ratio = max(ratio, delta_i * delta_i / value)
            log_const[k] = log_det
    for k in range(K):
        log_const[k] += log(weights[k]) - half_d_log_2pi
        if bad[k] == 0 and nk[k] <= dead_fraction * total:
            bad[k] = 2
    return ratio


def mstep_into(
    const double[::1] stats,            # IN (n_stats,)
    const double[:, ::1] shift,         # IN (K, d): the statistics' shift c_k
    int covariance_kind,                # IN
    double reg_covar,                   # IN
    double dead_fraction,               # IN: flag components with N_k <= this * N
    double[::1] weights,                # OUT (K,)
    double[:, ::1] means,               # OUT (K, d)
    double[::1] covariances,            # OUT flat: full K*d*d, tied d*d, diag K*d, sph K
    double[::1] precisions_cholesky,    # OUT flat, same size as covariances
    double[::1] log_norm_const,         # OUT (K,): log pi_k + log det U_k - d/2 log 2 pi
    Py_ssize_t[::1] bad,                # OUT (K,): 1 not positive definite, 2 dead
):
    """One M-step into preallocated arrays.

    Returns
    -------
    shift_ratio : float
        ``max_kj (mu_kj - c_kj)^2 / Sigma_k,jj``: how far the means moved from the
        shift, in variances (the one-pass covariance loses about log10 of it in
        digits).
    """
    cdef Py_ssize_t K = shift.shape[0], d = shift.shape[1]
    cdef Py_ssize_t cov_size = factor_size(covariance_kind, K, d)
    cdef double ratio
    if (weights.shape[0] != K or means.shape[0] != K or means.shape[1] != d
            or covariances.shape[0] != cov_size or precisions_cholesky.shape[0] != cov_size
            or log_norm_const.shape[0] != K or bad.shape[0] != K
            or stats.shape[0] < 1 + K + K * d + s2_size(covariance_kind, K, d)):
        raise ValueError("mstep_into: inconsistent array shapes")
    with nogil:
        ratio = _mstep(&stats[0], &shift[0, 0], covariance_kind, K, d, reg_covar,
                       dead_fraction, &weights[0], &means[0, 0], &covariances[0],
                       &precisions_cholesky[0], &log_norm_const[0], &bad[0])
    return ratio


def precision_cholesky_full(const double[:, :, ::1] covariances):
    """U with U U^T = inv(C) for a stack of symmetric matrices C (m, d, d).

    Returns
    -------
    prec_chol : ndarray of shape (m, d, d)
    bad : list of int
        Indices of the matrices that are not positive definite.
    """
    cdef Py_ssize_t m = covariances.shape[0], d = covariances.shape[1], k
    out = np.zeros((m, d, d))
    work = np.ascontiguousarray(covariances, dtype=np.float64).copy()
    cdef double[:, :, ::1] out_view = out
    cdef double[:, :, ::1] work_view = work
    bad = []
    for k in range(m):
        if d > 0 and _upper_precision_cholesky(&work_view[k, 0, 0], &out_view[k, 0, 0], d):
            bad.append(k)
    return out, bad
