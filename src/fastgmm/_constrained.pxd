# The constrained M-step of mclust's models (defined in _constrained.pyx), for the
# compiled EM iterations of the E-step module (``_estep.em_iterations``).

cdef enum:
    FAILED = 1
    NO_MEMORY = -1

# Model codes (the order of MCLUST_MODELS): the first six are axis-aligned (their
# covariances are (K, d) variances), the others full (K, d, d).
cdef enum:
    M_EII, M_VII, M_EEI, M_VEI, M_EVI, M_VVI, M_EEE, M_VEE, M_EVE, M_VVE, M_EEV, M_VEV, M_EVV, M_VVV


cdef int _constrained_mstep(int model, const double* stats, const double* shift,
                            const double* previous, const double* weights,
                            const double* means, Py_ssize_t K, Py_ssize_t d,
                            double nk_eps, double tol, int max_iter, double* covariances,
                            double* precisions_cholesky, double* log_norm_const,
                            Py_ssize_t* bad, double* shift_ratio) noexcept nogil
