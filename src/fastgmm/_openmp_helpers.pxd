# The only place that talks to OpenMP. Without OpenMP (``-Dopenmp=disabled``)
# every function below becomes a serial no-op, so the kernels need no #ifdefs.

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FASTGMM_HAVE_OPENMP 1
    #else
    #define FASTGMM_HAVE_OPENMP 0
    static inline int omp_get_max_threads(void) { return 1; }
    static inline int omp_get_thread_num(void) { return 0; }
    #endif
    """
    const int FASTGMM_HAVE_OPENMP
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
