"""mclust's constrained M-steps, compiled: statistics -> constrained covariances.

``_parsimonious`` holds the formulas, their references and the Python-facing API;
this module computes them without the GIL and without numpy call overhead (the
M-steps work on K matrices of size d x d: a numpy call costs more than its
arithmetic, and the iterative models make hundreds of them per EM iteration).

Layout: every array is row-major and flat; diagonal models take scatter diagonals
``w`` (K, d) and return variances (K, d), the others take scatter matrices ``W``
(K, d, d) and return covariances (K, d, d).

Linear algebra on d x d matrices: Cholesky factors, inverses and the plane
rotations of the shared orientation (EVE, VVE) are plain loops; symmetric
eigendecompositions go to LAPACK (``scipy.linalg.cython_lapack``; a symmetric
matrix is its own Fortran transpose).
Plain loops are faster for small d, and some of OpenBLAS's LAPACK routines (dpotri)
wake its thread pool even for 2 x 2 matrices, which against busy OpenMP threads cost
milliseconds per call.

Each ``_model`` function returns 0, or ``FAILED`` when a LAPACK call fails or a
shared matrix is not positive definite (then the covariances are NaN: the caller
flags the components as degenerate), or ``NO_MEMORY``.
"""

from libc.math cimport INFINITY, NAN, atan2, cos, exp, fabs, isfinite, log, sin, sqrt
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from scipy.linalg.cython_lapack cimport dsyev

from ._covariance cimport _log_diagonal_sum, _upper_precision_cholesky

cdef double LOG_2PI = 1.8378770664093453

# Model codes: the M_* enum of _constrained.pxd.
MODEL_CODES = {"EII": M_EII, "VII": M_VII, "EEI": M_EEI, "VEI": M_VEI, "EVI": M_EVI,
               "VVI": M_VVI, "EEE": M_EEE, "VEE": M_VEE, "EVE": M_EVE, "VVE": M_VVE,
               "EEV": M_EEV, "VEV": M_VEV, "EVV": M_EVV, "VVV": M_VVV}
DIAGONAL_CODES = frozenset((M_EII, M_VII, M_EEI, M_VEI, M_EVI, M_VVI))


# ---------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------

cdef inline double _ratio(double numerator, double denominator) noexcept nogil:
    """numerator / denominator, 0 where the denominator is not positive."""
    return numerator / denominator if denominator > 0.0 else 0.0


cdef inline double _geometric_mean(const double* values, Py_ssize_t d) noexcept nogil:
    """(prod values)^(1/d) (0 where a value is 0)."""
    cdef Py_ssize_t j
    cdef double total = 0.0
    for j in range(d):
        total += log(values[j])
    return exp(total / d)


cdef inline bint _converged(double old, double new, double tol) noexcept nogil:
    return fabs(new - old) <= tol * (fabs(new) if fabs(new) > 1.0 else 1.0)


cdef inline bint _all_finite(const double* values, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(size):
        if not isfinite(values[i]):
            return False
    return True


cdef inline double _sum(const double* values, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t i
    cdef double total = 0.0
    for i in range(size):
        total += values[i]
    return total


cdef inline void _fill(double* out, Py_ssize_t size, double value) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(size):
        out[i] = value


cdef int _eigh(const double* A, Py_ssize_t d, bint with_vectors, double* values,
               double* vectors, double* work) noexcept nogil:
    """Eigenvalues (d,) in increasing order of the symmetric A (d, d) and, with
    ``with_vectors``, the eigenvectors as the columns of ``vectors`` (d, d).
    ``work``: 2 d^2 + 8 d + 64 doubles."""
    cdef char jobz = b'V' if with_vectors else b'N'
    cdef char uplo = b'U'
    cdef int n = <int> d, lwork = <int> (8 * d + 64), info = 0
    cdef double* a = work
    cdef Py_ssize_t i, j
    memcpy(a, A, d * d * sizeof(double))
    dsyev(&jobz, &uplo, &n, a, &n, values, a + d * d, &lwork, &info)
    if info != 0:
        return FAILED
    if with_vectors:
        # Fortran column j (a[j d .. j d + d)) is eigenvector j.
        for i in range(d):
            for j in range(d):
                vectors[i * d + j] = a[j * d + i]
    return 0


cdef int _cholesky(const double* A, Py_ssize_t d, double* L) noexcept nogil:
    """L := the lower Cholesky factor (d, d) of a symmetric A (d, d) (its lower
    triangle is read; L's upper triangle is zeroed); FAILED if A is not positive
    definite. Plain loops: for the small d of these models they beat LAPACK, whose
    threaded OpenBLAS routines wake threads even for 2 x 2 matrices."""
    cdef Py_ssize_t i, j, l
    cdef double value
    for j in range(d):
        value = A[j * d + j]
        for l in range(j):
            value = value - L[j * d + l] * L[j * d + l]
        if not (value > 0.0 and isfinite(value)):
            return FAILED
        L[j * d + j] = sqrt(value)
        for i in range(j + 1, d):
            value = A[i * d + j]
            for l in range(j):
                value = value - L[i * d + l] * L[j * d + l]
            L[i * d + j] = value / L[j * d + j]
            L[j * d + i] = 0.0
    return 0


cdef int _cholesky_log_determinant(const double* A, Py_ssize_t d, double* factor,
                                   double* log_det) noexcept nogil:
    """log|A| of a symmetric A (d, d) through its Cholesky factor (left in
    ``factor`` (d, d)); FAILED if A is not positive definite."""
    cdef Py_ssize_t i
    cdef double total = 0.0
    if _cholesky(A, d, factor):
        return FAILED
    for i in range(d):
        total += log(factor[i * d + i])
    log_det[0] = 2.0 * total
    return 0


cdef int _unit_determinant(double* A, Py_ssize_t d, double* work) noexcept nogil:
    """A := A / |A|^(1/d) in place for a positive definite A (left as it is
    otherwise, and FAILED returned). ``work``: d^2 doubles (at least)."""
    cdef double log_det
    cdef double scale
    cdef Py_ssize_t i
    if _cholesky_log_determinant(A, d, work, &log_det):
        return FAILED
    scale = exp(log_det / d)
    for i in range(d * d):
        A[i] = A[i] / scale
    return 0


cdef int _inverse(const double* A, Py_ssize_t d, double* out,
                  double* work) noexcept nogil:
    """out := A^-1 for a symmetric positive definite A (d, d): with A = L L^T,
    A^-1 = L^-T L^-1. work: 2 d^2 doubles."""
    cdef double* L = work
    cdef double* Y = work + d * d
    cdef Py_ssize_t i, j, l
    cdef double value
    if _cholesky(A, d, L):
        return FAILED
    # Y = L^-1 (lower) by forward substitution, column by column.
    for j in range(d):
        for i in range(d):
            if i < j:
                Y[i * d + j] = 0.0
                continue
            value = 1.0 if i == j else 0.0
            for l in range(j, i):
                value = value - L[i * d + l] * Y[l * d + j]
            Y[i * d + j] = value / L[i * d + i]
    for i in range(d):
        for j in range(i, d):
            value = 0.0
            for l in range(j, d):
                value = value + Y[l * d + i] * Y[l * d + j]
            out[i * d + j] = value
            out[j * d + i] = value
    return 0


cdef void _compose(const double* scaled, const double* D, Py_ssize_t d,
                   double* out) noexcept nogil:
    """out := D diag(scaled) D^T for D (d, d), scaled (d,) (symmetric by
    construction)."""
    cdef Py_ssize_t i, j, l
    cdef double value
    for i in range(d):
        for l in range(i, d):
            value = 0.0
            for j in range(d):
                value = value + D[i * d + j] * scaled[j] * D[l * d + j]
            out[i * d + l] = value
            out[l * d + i] = value


cdef inline double _trace_product(const double* A, const double* B, Py_ssize_t d) noexcept nogil:
    """tr(A B) for (d, d) matrices."""
    cdef Py_ssize_t i, j
    cdef double total = 0.0
    for i in range(d):
        for j in range(d):
            total += A[i * d + j] * B[j * d + i]
    return total


cdef double _volume_objective(const double* nk, const double* volume, Py_ssize_t K,
                              Py_ssize_t d) noexcept nogil:
    """sum_k n_k d log(lambda_k) + d sum_k n_k: -2 Q at the optimal traces."""
    cdef Py_ssize_t k
    cdef double total = 0.0
    for k in range(K):
        total += nk[k] * d * log(volume[k])
    return total + d * _sum(nk, K)


cdef void _volumes(const double* nk, const double* values, const double* shape,
                   Py_ssize_t K, Py_ssize_t d, double* volume) noexcept nogil:
    """lambda_k = sum_j values_kj / shape_j / (d n_k)."""
    cdef Py_ssize_t k, j
    cdef double total
    for k in range(K):
        total = 0.0
        for j in range(d):
            total += values[k * d + j] / shape[j]
        volume[k] = total / (d * nk[k])


cdef int _volumes_and_shape(const double* nk, const double* values, double* shape,
                            Py_ssize_t K, Py_ssize_t d, double tol, int max_iter,
                            double* volume) noexcept nogil:
    """Celeux & Govaert's alternating updates of K volumes and one shape (unit
    determinant) for diagonal "scatter" ``values`` (K, d): VEI's diagonals, VEV's
    eigenvalues. ``shape`` (d,): the start on entry (any positive scale: it is
    normalized first), the result on exit."""
    cdef Py_ssize_t k, j
    cdef int iteration
    cdef double objective = INFINITY, new, total
    cdef double scale = _geometric_mean(shape, d)
    for j in range(d):
        shape[j] = shape[j] / scale
    for iteration in range(max_iter):
        _volumes(nk, values, shape, K, d, volume)
        for j in range(d):
            total = 0.0
            for k in range(K):
                total += _ratio(values[k * d + j], volume[k])
            shape[j] = total
        scale = _geometric_mean(shape, d)
        for j in range(d):
            shape[j] = shape[j] / scale
        _volumes(nk, values, shape, K, d, volume)
        new = _volume_objective(nk, volume, K, d)
        if _converged(objective, new, tol):
            break
        objective = new
    return 0


cdef void _pooled_shape(const double* values, Py_ssize_t K, Py_ssize_t d,
                        double* shape) noexcept nogil:
    """The cold start of ``_volumes_and_shape``: the sum of the K rows of ``values``."""
    cdef Py_ssize_t k, j
    for j in range(d):
        shape[j] = 0.0
        for k in range(K):
            shape[j] += values[k * d + j]


# ---------------------------------------------------------------------------------
# Axis-aligned models: scatter diagonals w (K, d) -> variances (K, d)
# ---------------------------------------------------------------------------------

cdef int _eii(const double* nk, const double* w, Py_ssize_t K, Py_ssize_t d,
              double* out) noexcept nogil:
    _fill(out, K * d, _sum(w, K * d) / (_sum(nk, K) * d))
    return 0


cdef int _vii(const double* nk, const double* w, Py_ssize_t K, Py_ssize_t d,
              double* out) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(K):
        _fill(out + k * d, d, _sum(w + k * d, d) / (nk[k] * d))
    return 0


cdef int _eei(const double* nk, const double* w, Py_ssize_t K, Py_ssize_t d,
              double* out) noexcept nogil:
    cdef Py_ssize_t k, j
    cdef double total, n = _sum(nk, K)
    for j in range(d):
        total = 0.0
        for k in range(K):
            total += w[k * d + j]
        for k in range(K):
            out[k * d + j] = total / n
    return 0


cdef int _vvi(const double* nk, const double* w, Py_ssize_t K, Py_ssize_t d,
              double* out) noexcept nogil:
    cdef Py_ssize_t k, j
    for k in range(K):
        for j in range(d):
            out[k * d + j] = w[k * d + j] / nk[k]
    return 0


cdef int _evi(const double* nk, const double* w, Py_ssize_t K, Py_ssize_t d,
              double* out, double* work) noexcept nogil:
    # For any volume, A_k is w_k scaled to unit determinant; the volume is then
    # sum_k |diag w_k|^(1/d) / n. work: K doubles.
    cdef Py_ssize_t k, j
    cdef double* scale = work
    cdef double volume
    for k in range(K):
        scale[k] = _geometric_mean(w + k * d, d)
    volume = _sum(scale, K) / _sum(nk, K)
    for k in range(K):
        for j in range(d):
            out[k * d + j] = volume * _ratio(w[k * d + j], scale[k])
    return 0


cdef int _vei(const double* nk, const double* w, const double* previous, Py_ssize_t K,
              Py_ssize_t d, double tol, int max_iter, double* out,
              double* work) noexcept nogil:
    # work: K + d doubles.
    cdef double* volume = work
    cdef double* shape = work + K
    cdef Py_ssize_t k, j
    cdef bint warm = previous != NULL
    if warm:
        for j in range(d):
            if not previous[j] > 0.0:
                warm = False
    if warm:
        for j in range(d):
            shape[j] = previous[j]
    else:
        _pooled_shape(w, K, d, shape)
    _volumes_and_shape(nk, w, shape, K, d, tol, max_iter, volume)
    for k in range(K):
        for j in range(d):
            out[k * d + j] = volume[k] * shape[j]
    return 0


# ---------------------------------------------------------------------------------
# Models with an orientation: scatter matrices W (K, d, d) -> covariances (K, d, d)
# ---------------------------------------------------------------------------------

cdef int _eee(const double* nk, const double* W, Py_ssize_t K, Py_ssize_t d,
              double* out) noexcept nogil:
    cdef Py_ssize_t k, i
    cdef double total, n = _sum(nk, K)
    for i in range(d * d):
        total = 0.0
        for k in range(K):
            total += W[k * d * d + i]
        for k in range(K):
            out[k * d * d + i] = total / n
    return 0


cdef int _vvv(const double* nk, const double* W, Py_ssize_t K, Py_ssize_t d,
              double* out) noexcept nogil:
    cdef Py_ssize_t k, i
    for k in range(K):
        for i in range(d * d):
            out[k * d * d + i] = W[k * d * d + i] / nk[k]
    return 0


cdef int _descending_eigh(const double* W, Py_ssize_t K, Py_ssize_t d, double* values,
                          double* vectors, double* work) noexcept nogil:
    """Eigenvalues (K, d) in decreasing order, clipped at 0, and their eigenvectors
    as columns (K, d, d). work: d + 2 d^2 + 8 d + 64 doubles."""
    cdef Py_ssize_t k, i, j
    cdef double* ascending = work
    cdef double* columns = work + d
    cdef double* lapack = work + d + d * d
    for k in range(K):
        if _eigh(W + k * d * d, d, True, ascending, columns, lapack):
            return FAILED
        for j in range(d):
            values[k * d + j] = ascending[d - 1 - j] if ascending[d - 1 - j] > 0.0 else 0.0
            for i in range(d):
                vectors[k * d * d + i * d + j] = columns[i * d + d - 1 - j]
    return 0


cdef int _eev(const double* nk, const double* W, Py_ssize_t K, Py_ssize_t d,
              double* out, double* work) noexcept nogil:
    # D_k are the eigenvectors of W_k (eigenvalues in decreasing order, paired with
    # a decreasing A); A is the summed eigenvalues at unit determinant.
    # work: K d + K d^2 + 2 d + (d + 2 d^2 + 8 d + 64) doubles.
    cdef double* values = work
    cdef double* vectors = work + K * d
    cdef double* pooled = vectors + K * d * d
    cdef double* scaled = pooled + d
    cdef double* rest = scaled + d
    cdef Py_ssize_t k, j
    cdef double scale, volume
    if _descending_eigh(W, K, d, values, vectors, rest):
        return FAILED
    for j in range(d):
        pooled[j] = 0.0
        for k in range(K):
            pooled[j] += values[k * d + j]
    scale = _geometric_mean(pooled, d)
    volume = scale / _sum(nk, K)
    for j in range(d):
        scaled[j] = volume * (pooled[j] / scale)
    for k in range(K):
        _compose(scaled, vectors + k * d * d, d, out + k * d * d)
    return 0


cdef int _evv(const double* nk, const double* W, Py_ssize_t K, Py_ssize_t d,
              double* out, double* work) noexcept nogil:
    # work: K + d^2 doubles.
    cdef double* scale = work
    cdef double* factor = work + K
    cdef Py_ssize_t k, i
    cdef double log_det, volume
    for k in range(K):
        if _cholesky_log_determinant(W + k * d * d, d, factor, &log_det):
            scale[k] = 0.0
        else:
            scale[k] = exp(log_det / d)
    volume = _sum(scale, K) / _sum(nk, K)
    for k in range(K):
        for i in range(d * d):
            out[k * d * d + i] = volume * _ratio(W[k * d * d + i], scale[k])
    return 0


cdef void _trace_volumes(const double* nk, const double* W, const double* inverse,
                         Py_ssize_t K, Py_ssize_t d, double* volume) noexcept nogil:
    """lambda_k = tr(W_k A^-1) / (d n_k)."""
    cdef Py_ssize_t k
    for k in range(K):
        volume[k] = _trace_product(W + k * d * d, inverse, d) / (d * nk[k])


cdef int _vee(const double* nk, const double* W, const double* previous, Py_ssize_t K,
              Py_ssize_t d, double tol, int max_iter, double* out,
              double* work) noexcept nogil:
    # work: K + 4 d^2 doubles.
    cdef double* volume = work
    cdef double* shape = work + K
    cdef double* inverse = shape + d * d
    cdef double* scratch = inverse + d * d
    cdef Py_ssize_t k, i
    cdef int iteration
    cdef double objective = INFINITY, new, log_det, weight
    if previous != NULL and not _cholesky_log_determinant(previous, d, scratch, &log_det):
        memcpy(shape, previous, d * d * sizeof(double))
    else:
        for i in range(d * d):
            shape[i] = 0.0
            for k in range(K):
                shape[i] += W[k * d * d + i]
    _unit_determinant(shape, d, scratch)
    for iteration in range(max_iter):
        if _inverse(shape, d, inverse, scratch):
            return FAILED
        _trace_volumes(nk, W, inverse, K, d, volume)
        for i in range(d * d):
            shape[i] = 0.0
        for k in range(K):
            weight = _ratio(1.0, volume[k])
            for i in range(d * d):
                shape[i] += weight * W[k * d * d + i]
        _unit_determinant(shape, d, scratch)
        if _inverse(shape, d, inverse, scratch):
            return FAILED
        _trace_volumes(nk, W, inverse, K, d, volume)
        new = _volume_objective(nk, volume, K, d)
        if _converged(objective, new, tol):
            break
        objective = new
    for k in range(K):
        for i in range(d * d):
            out[k * d * d + i] = volume[k] * shape[i]
    return 0


cdef int _vev(const double* nk, const double* W, const double* previous, Py_ssize_t K,
              Py_ssize_t d, double tol, int max_iter, double* out,
              double* work) noexcept nogil:
    # work: K d + K d^2 + K + 2 d + (d + 2 d^2 + 8 d + 64) doubles.
    cdef double* values = work
    cdef double* vectors = work + K * d
    cdef double* volume = vectors + K * d * d
    cdef double* shape = volume + K
    cdef double* scaled = shape + d
    cdef double* rest = scaled + d
    cdef Py_ssize_t k, j
    cdef double log_det
    if _descending_eigh(W, K, d, values, vectors, rest):
        return FAILED
    if previous != NULL and not _cholesky_log_determinant(previous, d, rest, &log_det):
        if _eigh(previous, d, False, scaled, NULL, rest):
            return FAILED
        for j in range(d):
            shape[j] = scaled[d - 1 - j]
    else:
        _pooled_shape(values, K, d, shape)
    _volumes_and_shape(nk, values, shape, K, d, tol, max_iter, volume)
    for k in range(K):
        for j in range(d):
            scaled[j] = volume[k] * shape[j]
        _compose(scaled, vectors + k * d * d, d, out + k * d * d)
    return 0


cdef void _rotated_diagonals(const double* W, const double* D, Py_ssize_t K,
                             Py_ssize_t d, double* diagonals) noexcept nogil:
    """diag(D^T W_k D) for every k: (K, d)."""
    cdef Py_ssize_t k, i, j, l
    cdef double total, inner
    for k in range(K):
        for j in range(d):
            total = 0.0
            for i in range(d):
                inner = 0.0
                for l in range(d):
                    inner = inner + W[k * d * d + i * d + l] * D[l * d + j]
                total = total + D[i * d + j] * inner
            diagonals[k * d + j] = total


cdef double _rotated_objective(const double* nk, const double* diagonals,
                               const double* variances, Py_ssize_t K,
                               Py_ssize_t d) noexcept nogil:
    """-2 Q: sum_kj n_k log(variances_kj) + sum_kj diagonals_kj / variances_kj."""
    cdef Py_ssize_t k, j
    cdef double logs = 0.0, traces = 0.0
    for k in range(K):
        for j in range(d):
            traces += _ratio(diagonals[k * d + j], variances[k * d + j])
            logs += nk[k] * log(variances[k * d + j])
    return logs + traces


cdef void _orientation_sweep(const double* W, double* D, const double* variances,
                             Py_ssize_t K, Py_ssize_t d, double* work) noexcept nogil:
    """One sweep of plane rotations that decreases f(D) = sum_k tr(W_k D
    diag(1/variances_k) D^T) over orthogonal D (d, d), in place.

    For every pair of columns (p, q) in turn, D's columns p and q turn by the angle t
    that minimizes f exactly: with M_k = D^T W_k D, f restricted to that plane is
    const + A cos 2t + B sin 2t, A = sum_k (M_k[p,p] - M_k[q,q]) (1/v_kp - 1/v_kq) / 2
    and B = sum_k M_k[p,q] (1/v_kp - 1/v_kq), least at 2t = atan2(-B, -A). The M_k
    turn with D. Near the optimum the angles are small and a sweep does what many
    majorization-minimization steps of D do. work: K d + K d^2 + d^2 doubles."""
    cdef double* inverse = work
    cdef double* M = work + K * d
    cdef double* product = M + K * d * d
    cdef double* Mk
    cdef Py_ssize_t k, i, j, l, p, q
    cdef double value, a_sum, b_sum, weight, angle, c, s, x, y
    for i in range(K * d):
        inverse[i] = _ratio(1.0, variances[i])
    for k in range(K):              # M_k = D^T (W_k D)
        Mk = M + k * d * d
        for i in range(d):
            for j in range(d):
                value = 0.0
                for l in range(d):
                    value = value + W[k * d * d + i * d + l] * D[l * d + j]
                product[i * d + j] = value
        for i in range(d):
            for j in range(d):
                value = 0.0
                for l in range(d):
                    value = value + D[l * d + i] * product[l * d + j]
                Mk[i * d + j] = value
    for p in range(d - 1):
        for q in range(p + 1, d):
            a_sum = 0.0
            b_sum = 0.0
            for k in range(K):
                Mk = M + k * d * d
                weight = inverse[k * d + p] - inverse[k * d + q]
                a_sum = a_sum + 0.5 * (Mk[p * d + p] - Mk[q * d + q]) * weight
                b_sum = b_sum + Mk[p * d + q] * weight
            if not (a_sum * a_sum + b_sum * b_sum > 0.0):
                continue            # f does not depend on the angle (or is not finite)
            angle = 0.5 * atan2(-b_sum, -a_sum)
            c = cos(angle)
            s = sin(angle)
            if s == 0.0:
                continue
            for i in range(d):      # columns p, q of D G, G the rotation
                x = D[i * d + p]
                y = D[i * d + q]
                D[i * d + p] = c * x + s * y
                D[i * d + q] = c * y - s * x
            for k in range(K):      # M_k := G^T M_k G
                Mk = M + k * d * d
                for i in range(d):
                    x = Mk[i * d + p]
                    y = Mk[i * d + q]
                    Mk[i * d + p] = c * x + s * y
                    Mk[i * d + q] = c * y - s * x
                for j in range(d):
                    x = Mk[p * d + j]
                    y = Mk[q * d + j]
                    Mk[p * d + j] = c * x + s * y
                    Mk[q * d + j] = c * y - s * x


cdef int _common_orientation(const double* W, const double* previous, Py_ssize_t K,
                             Py_ssize_t d, double* D, double* work) noexcept nogil:
    """Starting orientation D (d, d) of EVE and VVE: the shared eigenvectors of the
    previous covariances (of a generic combination of them), else those of
    sum_k W_k. work: 2 d^2 + d + (2 d^2 + 8 d + 64) doubles."""
    cdef double* mix = work
    cdef double* symmetric = work + d * d
    cdef double* values = symmetric + d * d
    cdef double* rest = values + d
    cdef Py_ssize_t k, i, j
    for i in range(d * d):
        mix[i] = 0.0
    if previous != NULL:
        for k in range(K):
            for i in range(d * d):
                mix[i] += ((k + 1.0) / K) * previous[k * d * d + i]
        for i in range(d):
            for j in range(d):
                symmetric[i * d + j] = 0.5 * (mix[i * d + j] + mix[j * d + i])
    else:
        for k in range(K):
            for i in range(d * d):
                mix[i] += W[k * d * d + i]
        memcpy(symmetric, mix, d * d * sizeof(double))
    return _eigh(symmetric, d, True, values, D, rest)


cdef int _common_orientation_model(const double* nk, const double* W,
                                   const double* previous, Py_ssize_t K, Py_ssize_t d,
                                   bint equal_volumes, double tol, int max_iter,
                                   double* out, double* work) noexcept nogil:
    """EVE (``equal_volumes``) and VVE: alternate the optimal variances for a fixed
    orientation D and a sweep of plane rotations of D (``_orientation_sweep``).
    work: d^2 + 3 K d + max(4 d^2 + 9 d + 64, K d + K d^2 + d^2) doubles."""
    cdef double* D = work
    cdef double* diagonals = D + d * d
    cdef double* variances = diagonals + K * d
    cdef double* scale = variances + K * d
    cdef double* rest = scale + K * d
    cdef Py_ssize_t k, j
    cdef int iteration
    cdef double objective = INFINITY, new, volume, n = _sum(nk, K)
    if _common_orientation(W, previous, K, d, D, rest):
        return FAILED
    for iteration in range(max_iter):
        _rotated_diagonals(W, D, K, d, diagonals)
        if equal_volumes:
            for k in range(K):
                scale[k] = _geometric_mean(diagonals + k * d, d)
            volume = _sum(scale, K) / n
            for k in range(K):
                for j in range(d):
                    variances[k * d + j] = volume * _ratio(diagonals[k * d + j], scale[k])
        else:
            for k in range(K):
                for j in range(d):
                    variances[k * d + j] = diagonals[k * d + j] / nk[k]
        new = _rotated_objective(nk, diagonals, variances, K, d)
        if _converged(objective, new, tol):
            break
        objective = new
        _orientation_sweep(W, D, variances, K, d, rest)
    for k in range(K):
        _compose(variances + k * d, D, d, out + k * d * d)
    return 0


# ---------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------

cdef Py_ssize_t _workspace_size(Py_ssize_t K, Py_ssize_t d) noexcept nogil:
    """Doubles of scratch that every model fits in: the symmetrized scatter plus the
    largest model's needs (generous)."""
    return K * d * d + K * d * d + 6 * K * d + 4 * K + 12 * d * d + 24 * d + 256


cdef int _constrained(int model, const double* nk, const double* scatter,
                      bint per_mass, const double* previous, Py_ssize_t K, Py_ssize_t d,
                      double tol, int max_iter, double* out) noexcept nogil:
    cdef bint diagonal = model <= M_VVI
    cdef Py_ssize_t size = K * d if diagonal else K * d * d
    cdef double* work = <double*> malloc(_workspace_size(K, d) * sizeof(double))
    cdef double* W
    cdef double* rest
    cdef Py_ssize_t k, i, j
    cdef double mass
    cdef int status = 0
    if work == NULL:
        return NO_MEMORY
    W = work
    rest = work + size
    # The scatter, symmetrized (and multiplied by n_k when given per unit mass).
    for k in range(K):
        mass = nk[k] if per_mass else 1.0
        if diagonal:
            for j in range(d):
                W[k * d + j] = mass * scatter[k * d + j]
        else:
            for i in range(d):
                for j in range(d):
                    W[k * d * d + i * d + j] = 0.5 * (
                        mass * scatter[k * d * d + i * d + j]
                        + mass * scatter[k * d * d + j * d + i])
    if previous != NULL and not _all_finite(previous, size):
        previous = NULL
    if model == M_EII:
        status = _eii(nk, W, K, d, out)
    elif model == M_VII:
        status = _vii(nk, W, K, d, out)
    elif model == M_EEI:
        status = _eei(nk, W, K, d, out)
    elif model == M_VEI:
        status = _vei(nk, W, previous, K, d, tol, max_iter, out, rest)
    elif model == M_EVI:
        status = _evi(nk, W, K, d, out, rest)
    elif model == M_VVI:
        status = _vvi(nk, W, K, d, out)
    elif model == M_EEE:
        status = _eee(nk, W, K, d, out)
    elif model == M_VEE:
        status = _vee(nk, W, previous, K, d, tol, max_iter, out, rest)
    elif model == M_EVE:
        status = _common_orientation_model(nk, W, previous, K, d, True, tol, max_iter,
                                           out, rest)
    elif model == M_VVE:
        status = _common_orientation_model(nk, W, previous, K, d, False, tol, max_iter,
                                           out, rest)
    elif model == M_EEV:
        status = _eev(nk, W, K, d, out, rest)
    elif model == M_VEV:
        status = _vev(nk, W, previous, K, d, tol, max_iter, out, rest)
    elif model == M_EVV:
        status = _evv(nk, W, K, d, out, rest)
    else:
        status = _vvv(nk, W, K, d, out)
    free(work)
    if status == FAILED:
        _fill(out, size, NAN)
    return status


def constrained_covariances_into(
    int model,                          # IN: a code of MODEL_CODES
    const double[::1] nk,               # IN (K,): responsibility masses (positive)
    const double[::1] scatter,          # IN flat (K, d, d) or (K, d): see per_mass
    bint per_mass,                      # IN: scatter holds W_k / n_k, not W_k
    previous,                           # IN flat like scatter, or None: warm start
    double[::1] out,                    # OUT flat like scatter: the covariances
    Py_ssize_t n_features,              # IN
    double tol,                         # IN: relative tolerance of the iterative models
    int max_iter,                       # IN: their cap on updates (>= 1)
):
    """The M-step of an mclust model into ``out`` (may be the array ``scatter``).

    ``scatter`` holds the regularized scatter matrices ``W_k`` of the K components
    (their diagonals for the axis-aligned models, shape (K, d)), or with
    ``per_mass`` the matrices ``W_k / n_k`` (the unconstrained M-step's covariances).

    Returns
    -------
    failed : bool
        True when a decomposition failed (``out`` is then NaN).
    """
    cdef Py_ssize_t K = nk.shape[0], d = n_features
    cdef Py_ssize_t size = K * d if model in DIAGONAL_CODES else K * d * d
    cdef const double[::1] warm
    cdef const double* warm_ptr = NULL
    cdef int status
    if model not in DIAGONAL_CODES and not M_EEE <= model <= M_VVV:
        raise ValueError(f"constrained_covariances_into: unknown model code {model}")
    if scatter.shape[0] != size or out.shape[0] != size or max_iter < 1:
        raise ValueError("constrained_covariances_into: inconsistent array shapes")
    if previous is not None:
        warm = previous
        if warm.shape[0] == size:
            warm_ptr = &warm[0]
    if K == 0 or d == 0:
        return False
    with nogil:
        status = _constrained(model, &nk[0], &scatter[0], per_mass, warm_ptr, K, d, tol,
                              max_iter, &out[0])
    if status == NO_MEMORY:
        raise MemoryError("constrained_covariances_into: out of memory")
    return status == FAILED


cdef double _finish(bint diagonal, const double* weights, const double* means,
                    const double* shift, Py_ssize_t K, Py_ssize_t d, const double* cov,
                    double* prec_chol, double* log_const, Py_ssize_t* bad) noexcept nogil:
    """Precision Cholesky factors, log normalizing constants and flags of the new
    covariances; return max_kj (mu_kj - c_kj)^2 / Sigma_k,jj (0 if not finite)."""
    cdef Py_ssize_t k, j, size = d if diagonal else d * d
    cdef double log_det, delta, variance, value, ratio = 0.0
    cdef bint dead, finite = True
    for k in range(K):
        dead = bad[k] == 2
        bad[k] = 0
        if diagonal:
            log_det = 0.0
            for j in range(d):
                variance = cov[k * d + j]
                if not (isfinite(variance) and variance > 0.0):
                    bad[k] = 1
                prec_chol[k * d + j] = 1.0 / sqrt(variance)
                log_det += log(prec_chol[k * d + j])
        else:
            if _upper_precision_cholesky(<double*> cov + k * size, prec_chol + k * size, d):
                bad[k] = 1
            log_det = _log_diagonal_sum(prec_chol + k * size, d)
        if dead and bad[k] == 0:
            bad[k] = 2
        log_const[k] = log(weights[k]) + log_det - 0.5 * d * LOG_2PI
        for j in range(d):
            delta = means[k * d + j] - shift[k * d + j]
            variance = cov[k * d + j] if diagonal else cov[k * size + j * d + j]
            value = delta * delta / variance
            if value != value:
                finite = False
            elif value > ratio:
                ratio = value
    return ratio if finite and isfinite(ratio) else 0.0


def constrained_mstep_into(
    int model,                          # IN: a code of MODEL_CODES
    const double[::1] stats,            # IN (n_stats,): N_k at stats[1:1 + K]
    const double[:, ::1] shift,         # IN (K, d): the statistics' shift c_k
    previous,                           # IN flat (K, d, d) or (K, d), or None
    const double[::1] weights,          # IN (K,): the M-step's weights
    const double[:, ::1] means,         # IN (K, d): the M-step's means
    double[::1] covariances,            # INOUT flat: unconstrained in, constrained out
    double[::1] precisions_cholesky,    # OUT flat, like covariances
    double[::1] log_norm_const,         # OUT (K,): log pi_k + log det U_k - d/2 log 2 pi
    Py_ssize_t[::1] bad,                # INOUT (K,): 2 (dead) in; 1 not PD, 2 dead out
    double nk_eps,                      # IN: added to every N_k (as the M-step does)
    double tol,                         # IN: relative tolerance of the iterative models
    int max_iter,                       # IN: their cap on updates (>= 1)
):
    """Replace the unconstrained covariances of the compiled M-step
    (``_covariance.mstep_into``, same buffers) by those of an mclust model, and
    recompute what depends on them, without the GIL.

    Returns
    -------
    shift_ratio : float
        ``max_kj (mu_kj - c_kj)^2 / Sigma_k,jj`` under the new covariances (0 when
        not finite).
    """
    cdef Py_ssize_t K = shift.shape[0], d = shift.shape[1]
    cdef Py_ssize_t size = K * d if model in DIAGONAL_CODES else K * d * d
    cdef const double[::1] warm
    cdef const double* warm_ptr = NULL
    cdef int status
    cdef double ratio = 0.0
    if model not in DIAGONAL_CODES and not M_EEE <= model <= M_VVV:
        raise ValueError(f"constrained_mstep_into: unknown model code {model}")
    if (stats.shape[0] < 1 + K or weights.shape[0] != K or means.shape[0] != K
            or means.shape[1] != d or covariances.shape[0] != size
            or precisions_cholesky.shape[0] != size or log_norm_const.shape[0] != K
            or bad.shape[0] != K or max_iter < 1):
        raise ValueError("constrained_mstep_into: inconsistent array shapes")
    if K == 0 or d == 0:
        return 0.0
    if previous is not None:
        warm = previous
        if warm.shape[0] == size:
            warm_ptr = &warm[0]
    with nogil:
        status = _constrained_mstep(model, &stats[0], &shift[0, 0], warm_ptr, &weights[0],
                                    &means[0, 0], K, d, nk_eps, tol, max_iter,
                                    &covariances[0], &precisions_cholesky[0],
                                    &log_norm_const[0], &bad[0], &ratio)
    if status == NO_MEMORY:
        raise MemoryError("constrained_mstep_into: out of memory")
    return ratio


cdef int _constrained_mstep(int model, const double* stats, const double* shift,
                            const double* previous, const double* weights,
                            const double* means, Py_ssize_t K, Py_ssize_t d,
                            double nk_eps, double tol, int max_iter, double* covariances,
                            double* precisions_cholesky, double* log_norm_const,
                            Py_ssize_t* bad, double* shift_ratio) noexcept nogil:
    """``constrained_mstep_into`` without its checks (and without the GIL): the
    unconstrained covariances in ``covariances`` become the model's (``previous``:
    the warm start, or NULL), their factors, constants and flags follow, and
    ``shift_ratio`` receives the shift ratio. Returns 0 or NO_MEMORY (a failed
    decomposition leaves NaN covariances, which ``bad`` flags)."""
    cdef bint diagonal = model <= M_VVI
    cdef double* nk = <double*> malloc(K * sizeof(double))
    cdef Py_ssize_t k
    cdef int status
    if nk == NULL:
        return NO_MEMORY
    for k in range(K):
        nk[k] = stats[1 + k] + nk_eps
    status = _constrained(model, nk, covariances, True, previous, K, d, tol, max_iter,
                          covariances)
    free(nk)
    if status == NO_MEMORY:
        return NO_MEMORY
    shift_ratio[0] = _finish(diagonal, weights, means, shift, K, d, covariances,
                             precisions_cholesky, log_norm_const, bad)
    return 0
