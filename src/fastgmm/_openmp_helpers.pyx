"""Thread-count policy for the OpenMP kernels: how many threads, and when none."""

import numbers
import os

from ._openmp_helpers cimport FASTGMM_HAVE_OPENMP, omp_get_max_threads


# OpenMP takes an int thread count; far fewer threads than this can ever start.
_MAX_THREADS = 2 ** 16


def openmp_enabled():
    """Return True if the kernels were compiled with OpenMP support."""
    return bool(FASTGMM_HAVE_OPENMP)


def openmp_max_threads():
    """OpenMP's own maximum thread count (``OMP_NUM_THREADS``, threadpoolctl limits);
    1 without OpenMP."""
    return max(1, omp_get_max_threads())


# ---------------------------------------------------------------------------------
# Fork safety
# ---------------------------------------------------------------------------------
# GNU libgomp (the OpenMP runtime of every GCC build, hence of `pip install .` on Linux
# and of the wheels) keeps the worker threads of a parallel region in a pool owned by
# the thread that started it, and does not rebuild that pool after fork(): the child
# inherits the pool's bookkeeping but none of its threads, and its first parallel
# region of two or more threads waits forever for workers that do not exist. What
# libgomp does after fork (GCC 12; tests/test_fork.py checks the fastgmm side of it):
#   * a parent that ran a team of >= 2 threads: every child region of >= 2 threads hangs;
#   * a region of one thread never touches the pool: it runs fine in such a child;
#   * a parent that never ran a team of >= 2 threads: its children keep full threads.
# So a process remembers that it handed out a thread count above one (its pid, in
# _TEAM_PID), and a process created from it by fork runs the kernels on one thread.
# The kernels give bit-identical results for any thread count, so such a child
# computes exactly the fit its parent would, only serially; its own children inherit
# the same stale pool and stay serial too. Both checks are needed: the at-fork hook
# sees every os.fork() (multiprocessing's "fork" start method included) even where a
# pid is reused, the pid comparison sees forks made outside Python (a C library's
# fork()). The count is set conservatively: a count handed out is taken as a team
# started (a pass may start fewer threads), and by the process, not the thread.
#
# Rejected: an OpenMP runtime that re-initializes in the child (LLVM's libomp, or
# Intel's). GCC emits calls into libgomp's ABI; switching a GCC build to another
# runtime needs that runtime at build time, which `pip install .` from pip packages
# alone cannot provide, and mixes OpenMP runtimes in processes that also load
# scikit-learn's libgomp. The fix here holds for every build and every runtime, at the
# cost of serial kernels in the children of a process that already ran threads.
# Limitation: a source build linked to a libgomp shared with another library (one
# system libgomp.so.1) cannot see teams that the other library started; the wheels
# vendor a private copy of libgomp that only fastgmm uses.

_TEAM_PID = 0                # pid of the process that handed out a count > 1, or 0
_FORKED_AFTER_TEAM = False   # set in a child forked after a count > 1 was handed out


def _note_fork_in_child():
    global _FORKED_AFTER_TEAM
    if _TEAM_PID:
        _FORKED_AFTER_TEAM = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_note_fork_in_child)


def openmp_threads_after_fork_unsafe():
    """Return True in a process forked from one that may have run OpenMP threads.

    Such a process (or any of its own forked descendants) inherits an OpenMP thread
    pool without its threads; :func:`effective_n_threads` then returns 1.
    """
    return _FORKED_AFTER_TEAM or (_TEAM_PID != 0 and _TEAM_PID != os.getpid())


# ---------------------------------------------------------------------------------
# Usable CPUs
# ---------------------------------------------------------------------------------

# (key, count) of the last joblib answer: the key holds what that answer depends on
# and can change during the life of a process (the affinity mask's size, the
# LOKY_MAX_CPU_COUNT variable); the cgroup quota is taken as fixed.
_CPU_COUNT_CACHE = None


def _affinity_cpu_count():
    """Number of CPUs in this process's affinity mask (all CPUs where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _usable_cpu_count():
    """Number of CPUs this process may keep busy.

    The smallest of: the CPUs in the affinity mask (``taskset``, container CPU sets),
    the cgroup CPU quota rounded up (``docker --cpus``, Kubernetes CPU limits; cgroup v2
    ``cpu.max`` or v1 ``cpu.cfs_quota_us / cpu.cfs_period_us``) and the
    ``LOKY_MAX_CPU_COUNT`` environment variable, as counted by ``joblib.cpu_count``.
    joblib is imported on the first call, not with fastgmm, and its answer is reused
    while the affinity mask's size and ``LOKY_MAX_CPU_COUNT`` stay the same. Without
    joblib, the affinity mask alone.
    """
    global _CPU_COUNT_CACHE
    affinity = _affinity_cpu_count()
    key = (affinity, os.environ.get("LOKY_MAX_CPU_COUNT"))
    cached = _CPU_COUNT_CACHE
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        from joblib import cpu_count
    except (ImportError, RuntimeError):
        # RuntimeError: joblib imported for the first time during interpreter shutdown
        # (a fit in a thread that outlives the main thread) cannot register its atexit
        # hook; count the affinity mask alone.
        return affinity
    try:
        count = max(1, min(affinity, int(cpu_count())))
    except ValueError as exc:      # joblib's int() of the variable
        raise ValueError(
            f"LOKY_MAX_CPU_COUNT={key[1]!r} is not a whole number of CPUs ({exc}); "
            "set it to a positive integer such as 2, or unset it."
        ) from None
    _CPU_COUNT_CACHE = (key, count)
    return count


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
    """Turn the ``n_threads`` hyper-parameter into the thread count a kernel gets.

    Parameters
    ----------
    n_threads : int or None
        ``None`` uses OpenMP's maximum (``OMP_NUM_THREADS`` or a threadpoolctl
        limit when set), capped by the usable CPUs (affinity mask, cgroup CPU quota,
        ``LOKY_MAX_CPU_COUNT``: see ``_usable_cpu_count``) when ``OMP_NUM_THREADS``
        is not set. A positive value is used as given; a negative value counts back
        from the usable CPUs (``-1`` = all of them).

    Returns
    -------
    int
        The number of threads, at least 1. Always 1 without OpenMP, and 1 in a
        process forked from one that had already been handed a count above 1 (see
        :func:`openmp_threads_after_fork_unsafe`). Handing out a count above 1 marks
        this process as one whose forked children must run serially.
    """
    global _TEAM_PID
    check_n_threads(n_threads)
    if not FASTGMM_HAVE_OPENMP:
        return 1
    if n_threads is None:
        count = openmp_max_threads()
        if not os.environ.get("OMP_NUM_THREADS"):
            count = min(count, _usable_cpu_count())
    elif n_threads < 0:
        count = max(1, _usable_cpu_count() + 1 + int(n_threads))
    else:
        count = int(n_threads)
    if count > 1:
        if openmp_threads_after_fork_unsafe():
            return 1
        _TEAM_PID = os.getpid()
    return count


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
