# Covariance kinds shared by the kernels (_estep) and the compiled M-step
# (_covariance): the codes the Python layer passes for "full", "tied", "diag" and
# "spherical" (``COVARIANCE_KINDS`` in _estep), and the sizes of their flat arrays.

cdef enum:
    COV_FULL = 0
    COV_TIED = 1
    COV_DIAG = 2
    COV_SPHERICAL = 3


cdef inline Py_ssize_t factor_size(int kind, Py_ssize_t K, Py_ssize_t d) noexcept nogil:
    """Values of a kind's flat covariances or precision Cholesky factors:
    full (K, d, d), tied (d, d), diag (K, d), spherical (K,)."""
    if kind == COV_FULL:
        return K * d * d
    if kind == COV_TIED:
        return d * d
    if kind == COV_DIAG:
        return K * d
    return K


cdef inline Py_ssize_t s2_size(int kind, Py_ssize_t K, Py_ssize_t d) noexcept nogil:
    """Values of a kind's second-moment statistics S2: full (K, d, d), tied (d, d),
    diag and spherical (K, d) (the M-step averages the spherical ones)."""
    return factor_size(kind, K, d) if kind <= COV_TIED else K * d


# Precision Cholesky factors of the compiled M-step (defined in _covariance.pyx), also
# used by the constrained M-steps of mclust's models (_constrained).
cdef int _upper_precision_cholesky(double* cov, double* prec_chol, Py_ssize_t d) noexcept nogil
cdef double _log_diagonal_sum(const double* U, Py_ssize_t d) noexcept nogil

# The compiled M-step (``mstep_into`` without its checks), for the E-step module's
# compiled EM iterations (``_estep.em_iterations``).
cdef double _mstep(const double* stats, const double* shift, int kind, Py_ssize_t K,
                   Py_ssize_t d, double reg_covar, double dead_fraction, double* weights,
                   double* means, double* cov, double* prec_chol, double* log_const,
                   Py_ssize_t* bad) noexcept nogil
