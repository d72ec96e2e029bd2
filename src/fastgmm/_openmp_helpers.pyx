"""Thread-count policy for the OpenMP kernels."""

import numbers
import os

from ._openmp_helpers cimport FASTGMM_HAVE_OPENMP, omp_get_max_threads


# OpenMP takes an int thread count; far fewer threads than this can ever start.
_MAX_THREADS = 2 ** 16


def openmp_enabled():
    """Return True if the kernels were compiled with OpenMP support."""
    return bool(FASTGMM_HAVE_OPENMP)


def _usable_cpu_count():
    """Number of CPUs this process may run on (honours the affinity mask)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_n_threads(n_threads):
    """Validate the ``n_threads`` hyper-parameter without resolving it."""
    if n_threads is None:
        return
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(
            f"n_threads must be None or an int, got {n_threads!r} "
            f"of type {type(n_threads).__name__}; pass e.g. n_threads=2 or "
            "n_threads=None to use all available cores."
        )
    if n_threads == 0:
        raise ValueError(
            "n_threads=0 is invalid; use n_threads=None (all available cores), "
            "a positive count, or a negative value (-1 = all cores, -2 = all but one)."
        )
    if abs(n_threads) > _MAX_THREADS:
        raise ValueError(
            f"n_threads={n_threads!r} is beyond any thread count OpenMP can start "
            f"(|n_threads| <= {_MAX_THREADS}); use n_threads=None (all available cores) "
            "or a count such as 2."
        )


def effective_n_threads(n_threads=None):
    """Turn the ``n_threads`` hyper-parameter into a thread count.

    Parameters
    ----------
    n_threads : int or None
        ``None`` uses OpenMP's maximum (``OMP_NUM_THREADS`` or a threadpoolctl
        limit when set), capped by the CPUs in this process's affinity mask when
        ``OMP_NUM_THREADS`` is not set. A positive value is used as given; a
        negative value counts back from the usable CPUs (``-1`` = all of them).

    Returns
    -------
    int
        The number of threads, at least 1. Always 1 without OpenMP.
    """
    check_n_threads(n_threads)
    if not FASTGMM_HAVE_OPENMP:
        return 1
    if n_threads is None:
        max_threads = omp_get_max_threads()
        if os.environ.get("OMP_NUM_THREADS"):
            return max(1, max_threads)
        return max(1, min(max_threads, _usable_cpu_count()))
    if n_threads < 0:
        return max(1, _usable_cpu_count() + 1 + int(n_threads))
    return int(n_threads)


_BLAS_CONTROLLER = None


def blas_single_thread():
    """Context manager holding BLAS libraries to one thread.

    The kernels call BLAS from inside their OpenMP threads (and the M-step calls
    LAPACK between passes); a multi-threaded BLAS would then oversubscribe the cores
    many times over. The threadpoolctl controller is built once (≈200 µs) and reused
    (≈10 µs per use); it sees the BLAS libraries loaded when fastgmm was imported,
    which include the one the kernels call through ``scipy.linalg.cython_blas``.
    """
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        from threadpoolctl import ThreadpoolController
        _BLAS_CONTROLLER = ThreadpoolController().select(user_api="blas")
    return _BLAS_CONTROLLER.limit(limits=1)
