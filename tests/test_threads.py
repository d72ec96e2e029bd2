"""Threads and interrupts: concurrent fits, the GIL, Ctrl-C, and the thread policy.

No test here asserts a speed. Concurrency is shown by observation: while a kernel
runs in one Python thread, the main Python thread watches the kernel's output
fill up; it can see a half-written output only if the kernel runs without the GIL.
``benchmarks/threads.py`` measures the resulting speedup.
"""

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import fastgmm
from conftest import UNDER_SANITIZER, make_mixture
from fastgmm import GaussianMixture
from fastgmm._estep import em_statistics, estimate_log_prob, n_blocks, n_statistics
from fastgmm._mstep import covariance_kind
from fastgmm._openmp_helpers import effective_n_threads

needs_openmp = pytest.mark.skipif(not fastgmm.openmp_enabled(),
                                  reason="fastgmm was built without OpenMP")
FITTED_ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def test_concurrent_fits_equal_serial_fits():
    problems = [(make_mixture(3000 + 500 * i, 3, 3, seed=i)[0], covariance_type, n_threads)
                for i, (covariance_type, n_threads) in enumerate(
                    [("full", 1), ("tied", 2), ("diag", 1), ("spherical", 2),
                     ("full", 2), ("full", 1)])]

    def fit(problem):
        X, covariance_type, n_threads = problem
        gm = GaussianMixture(3, covariance_type=covariance_type, n_threads=n_threads,
                             random_state=0, max_iter=500)
        return gm.fit(X), gm.predict_proba(X)

    serial = [fit(problem) for problem in problems]
    barrier = threading.Barrier(len(problems))
    results = [None] * len(problems)
    errors = []

    def worker(index):
        try:
            barrier.wait(timeout=30)
            results[index] = fit(problems[index])
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(problems))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and not any(thread.is_alive() for thread in threads)
    for (gm, resp), (ref, ref_resp) in zip(results, serial):
        for name in FITTED_ATTRIBUTES:
            assert np.array_equal(getattr(gm, name), getattr(ref, name)), name
        assert gm.lower_bounds_ == ref.lower_bounds_
        assert np.array_equal(resp, ref_resp)


def _seen_half_written(run_kernel, progress, n_units, attempts=4):
    """Run ``run_kernel(scale)`` in a thread while this thread polls
    ``progress(scale)`` (units of output written so far, of ``n_units(scale)``).

    Returns True as soon as a poll sees some but not all of the output written,
    i.e. this thread ran Python code in the middle of the kernel call. The work is
    enlarged on each attempt in case the kernel was too quick to be caught.
    """
    for attempt in range(attempts):
        scale = 4 ** attempt
        state = run_kernel(scale)
        worker = threading.Thread(target=state)
        worker.start()
        seen = False
        while worker.is_alive():
            done = progress(scale)
            if 0 < done < n_units(scale):
                seen = True
            time.sleep(0)
        worker.join()
        assert progress(scale) == n_units(scale)
        if seen:
            return True
    return False


def _fitted_big_model(covariance_type="full"):
    X, _ = make_mixture(2000, 8, 8, seed=1)
    return GaussianMixture(8, covariance_type=covariance_type, random_state=0).fit(X)


def test_e_step_kernel_releases_the_gil():
    gm = _fitted_big_model()
    base = make_mixture(1 << 17, 8, 8, seed=2)[0]
    means, prec_chol, log_const = gm._params().kernel_arguments("full")
    outputs = {}

    def run_kernel(scale):
        X = np.tile(base, (scale, 1))
        out = outputs[scale] = np.full(X.shape[0], np.nan)
        return lambda: estimate_log_prob(X, means, prec_chol, log_const, covariance_kind("full"),
                                         out, np.empty((0, 8)), np.empty(0, dtype=np.intp), 1)

    assert _seen_half_written(
        run_kernel, lambda scale: int(np.count_nonzero(~np.isnan(outputs[scale]))),
        lambda scale: base.shape[0] * scale)


def test_em_kernel_releases_the_gil():
    gm = _fitted_big_model()
    base = make_mixture(1 << 17, 8, 8, seed=3)[0]
    means, prec_chol, log_const = gm._params().kernel_arguments("full")
    n_stats = n_statistics("full", 8, 8)
    buffers = {}

    def run_kernel(scale):
        X = np.tile(base, (scale, 1))
        block_stats = buffers[scale] = np.full((n_blocks(X.shape[0], n_stats), n_stats), np.nan)
        return lambda: em_statistics(X, np.empty(0), means, prec_chol, log_const, means,
                                     covariance_kind("full"), block_stats, np.empty(n_stats), 1)

    # Each block's buffer is zeroed, then filled, when its turn comes.
    assert _seen_half_written(
        run_kernel, lambda scale: int(np.count_nonzero(~np.isnan(buffers[scale][:, 0]))),
        lambda scale: buffers[scale].shape[0])


# ---------------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------------

_INTERRUPTED_CHILD = textwrap.dedent("""
    import gc, signal, sys, threading, time
    import numpy as np
    import psutil
    from threadpoolctl import threadpool_info
    import fastgmm
    UNDER_SANITIZER = {under_sanitizer}
    # A shell without job control starts background commands with SIGINT ignored,
    # and Python then keeps it ignored: install Python's handler, as in a terminal.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    class Stamped:   # each printed line prefixed with the (system-wide) monotonic clock
        def write(self, text):
            if text.strip():
                sys.__stdout__.write(f"{time.monotonic():.6f} {text.strip()}\\n")
                sys.__stdout__.flush()
        def flush(self):
            pass

    sys.stdout = Stamped()
    X = np.random.default_rng(0).normal(size=(200_000, 12))
    gm = fastgmm.GaussianMixture(12, max_iter=100_000, tol=0.0, init_params="random",
                                 random_state=0, verbose=1, verbose_interval=1,
                                 n_threads=2)
    limits = lambda: sorted((i["filepath"], i["num_threads"]) for i in threadpool_info())
    limits_before = limits()
    process = psutil.Process()
    rss_before = process.memory_info().rss
    try:
        gm.fit(X)
    except KeyboardInterrupt:
        print("KEYBOARD_INTERRUPT")
    else:
        sys.exit("the fit ended without KeyboardInterrupt")
    gc.collect()
    growth = (process.memory_info().rss - rss_before) / 2 ** 20
    print(f"RSS_GROWTH_MIB {growth:.1f}")
    assert growth < 32 or UNDER_SANITIZER, growth   # X alone is 18 MiB
    assert threading.active_count() == 1, threading.enumerate()
    assert limits() == limits_before, (limits(), limits_before)   # BLAS limit undone
    again = fastgmm.GaussianMixture(2, random_state=0, n_threads=2).fit(X[:5000])
    assert again.converged_
    print("CLEAN_EXIT")
""").replace("{under_sanitizer}", repr(UNDER_SANITIZER))


def _read_lines(stream, lines):
    for line in iter(stream.readline, ""):
        lines.put(line.rstrip("\n"))
    lines.put(None)


def test_ctrl_c_interrupts_a_long_fit_within_an_iteration():
    """SIGINT during EM: KeyboardInterrupt before another iteration completes, the
    BLAS thread limit undone, no Python thread or memory left behind, and the
    process goes on fitting and exits cleanly.

    Child and parent stamp events with the same monotonic clock, so "iterations
    completed after the signal was sent" is counted without any time threshold.
    """
    pytest.importorskip("psutil")
    child = subprocess.Popen([sys.executable, "-u", "-c", _INTERRUPTED_CHILD],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = queue.Queue()
    threading.Thread(target=_read_lines, args=(child.stdout, lines), daemon=True).start()
    events = []      # (time, text)

    def next_event():
        line = lines.get(timeout=120)    # a hang guard, not a speed requirement
        assert line is not None, "the child ended early:\n" + "\n".join(t for _, t in events)
        stamp, _, text = line.partition(" ")
        try:
            events.append((float(stamp), text))
        except ValueError:               # a traceback line
            events.append((np.inf, line))
        return text

    try:
        while sum(text.startswith("Iteration") for _, text in events) < 2:
            next_event()
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        # A child that ignored the signal would go on printing iterations for
        # 100,000 of them: stop at the first few (a count, not a time limit).
        while next_event() not in ("CLEAN_EXIT",):
            assert sum(stamp > sent and text.startswith("Iteration")
                       for stamp, text in events) <= 5, "SIGINT did not stop the fit"
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    texts = [text for _, text in events]
    assert "KEYBOARD_INTERRUPT" in texts, texts
    after_signal = [text for stamp, text in events
                    if stamp > sent and text.startswith("Iteration")]
    assert len(after_signal) <= 1, (after_signal, texts)


# ---------------------------------------------------------------------------------
# The thread-count policy and threadpoolctl
# ---------------------------------------------------------------------------------

def _python(code, **env):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                            env={**os.environ, **env}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@needs_openmp
@pytest.mark.parametrize("value", ["1", "3"])
def test_omp_num_threads_is_honoured(value):
    out = _python("""
        from fastgmm._openmp_helpers import effective_n_threads
        print(effective_n_threads(None), effective_n_threads(2))
    """, OMP_NUM_THREADS=value)
    assert out == f"{value} 2"


@needs_openmp
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity API")
def test_cpu_affinity_is_honoured():
    out = _python("""
        import os
        env = os.environ.pop("OMP_NUM_THREADS", None)
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        from fastgmm._openmp_helpers import effective_n_threads
        print(effective_n_threads(None), effective_n_threads(-1))
    """)
    assert out == "1 1"


@needs_openmp
def test_threadpoolctl_limits_are_honoured():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    unlimited = effective_n_threads(None)
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert effective_n_threads(None) == 1
        X, _ = make_mixture(2000, 2, 2, seed=0)
        limited = GaussianMixture(2, random_state=0).fit(X)
    assert effective_n_threads(None) == unlimited
    serial = GaussianMixture(2, random_state=0, n_threads=1).fit(X)
    assert np.array_equal(limited.means_, serial.means_)


@needs_openmp
def test_fastgmm_openmp_runtime_is_visible_to_threadpoolctl():
    """The OpenMP library the extension itself loads is the one threadpoolctl lists
    (and limits)."""
    pytest.importorskip("threadpoolctl")
    out = _python("""
        import os
        def mapped():
            with open("/proc/self/maps") as maps:
                return {os.path.realpath(line.split()[-1]) for line in maps
                        if "/" in line and os.path.basename(line.split()[-1]).startswith(
                            ("libgomp", "libomp", "libiomp"))}
        before = mapped()
        import fastgmm._openmp_helpers as helpers
        from threadpoolctl import threadpool_info, threadpool_limits
        loaded = mapped() - before
        listed = {os.path.realpath(info["filepath"]) for info in threadpool_info()
                  if info["user_api"] == "openmp"}
        with threadpool_limits(limits=1, user_api="openmp"):
            limited = helpers.effective_n_threads(None)
        print(bool(loaded) and loaded <= listed, limited)
    """, OMP_NUM_THREADS="")
    if not os.path.exists("/proc/self/maps"):
        pytest.skip("needs /proc/self/maps")
    assert out == "True 1"


# ---------------------------------------------------------------------------------
# Usable CPUs: affinity mask, cgroup CPU quota (joblib.cpu_count), LOKY_MAX_CPU_COUNT
# ---------------------------------------------------------------------------------

# Runs in a child before fastgmm is imported: the cgroup files that joblib.cpu_count
# reads are replaced by the files of a fake cgroup directory (present or absent as
# given), whatever the machine's own cgroups say.
_FAKE_CGROUP = """
    import builtins, json, os, sys
    FAKE = json.loads(sys.argv[1])      # real path -> fake file path, or None (absent)
    real_exists, real_open = os.path.exists, builtins.open
    def exists(path, *args, **kwargs):
        if path in FAKE:
            return FAKE[path] is not None
        return real_exists(path, *args, **kwargs)
    def fake_open(path, *args, **kwargs):
        if path in FAKE:
            if FAKE[path] is None:
                raise FileNotFoundError(path)
            path = FAKE[path]
        return real_open(path, *args, **kwargs)
    os.path.exists, builtins.open = exists, fake_open
"""
_CGROUP_V2 = "/sys/fs/cgroup/cpu.max"
_CGROUP_V1_QUOTA = "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"
_CGROUP_V1_PERIOD = "/sys/fs/cgroup/cpu/cpu.cfs_period_us"


def _affinity_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _run_with_fake_cgroup(tmp_path, files, code):
    """Run ``code`` in a child that sees ``files`` ({cgroup path: content or None})."""
    fake = {}
    for index, (path, content) in enumerate(files.items()):
        if content is None:
            fake[path] = None
        else:
            fake[path] = str(tmp_path / f"cgroup-{index}")
            (tmp_path / f"cgroup-{index}").write_text(content + "\n")
    for path in (_CGROUP_V2, _CGROUP_V1_QUOTA, _CGROUP_V1_PERIOD):
        fake.setdefault(path, None)
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "LOKY_MAX_CPU_COUNT")}
    script = textwrap.dedent(_FAKE_CGROUP) + textwrap.dedent(code)
    result = subprocess.run([sys.executable, "-c", script, json.dumps(fake)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@needs_openmp
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="cgroups are Linux-only")
@pytest.mark.parametrize("files, quota", [
    ({_CGROUP_V2: "100000 100000"}, 1),                       # docker --cpus=1
    ({_CGROUP_V2: "50000 100000"}, 1),                        # half a CPU: rounded up
    ({_CGROUP_V2: "150000 100000"}, 2),                       # 1.5 CPUs: rounded up
    ({_CGROUP_V2: "max 100000"}, None),                       # no quota
    ({_CGROUP_V1_QUOTA: "100000", _CGROUP_V1_PERIOD: "100000"}, 1),   # cgroup v1
    ({_CGROUP_V1_QUOTA: "-1", _CGROUP_V1_PERIOD: "100000"}, None),    # v1, no quota
    ({}, None),                                               # no cgroup files
])
def test_cgroup_cpu_quota_is_honoured(tmp_path, files, quota):
    pytest.importorskip("joblib")
    out = _run_with_fake_cgroup(tmp_path, files, """
        import numpy as np
        import fastgmm
        from fastgmm._openmp_helpers import effective_n_threads, openmp_max_threads
        X = np.random.default_rng(0).normal(size=(30000, 2))
        auto = fastgmm.GaussianMixture(2, random_state=0).fit(X)
        serial = fastgmm.GaussianMixture(2, random_state=0, n_threads=1).fit(X)
        assert np.array_equal(auto.means_, serial.means_)
        import joblib                               # after the fits: not imported by them
        print(effective_n_threads(None), effective_n_threads(-1), effective_n_threads(3),
              openmp_max_threads(), joblib.cpu_count())
    """)
    auto, all_cpus, explicit, omp_max, joblib_count = map(int, out)
    usable = _affinity_count() if quota is None else min(quota, _affinity_count())
    assert all_cpus == usable                       # -1: all usable CPUs
    assert all_cpus == joblib_count                 # what joblib.cpu_count() counts
    assert auto == min(usable, omp_max)             # None: also OpenMP's maximum
    assert explicit == 3                            # an explicit count is used as given


@needs_openmp
def test_loky_max_cpu_count_is_honoured():
    pytest.importorskip("joblib")
    out = _python("""
        from fastgmm._openmp_helpers import effective_n_threads
        print(effective_n_threads(None), effective_n_threads(-1))
    """, OMP_NUM_THREADS="", LOKY_MAX_CPU_COUNT="1")
    assert out == "1 1"


@needs_openmp
def test_a_malformed_loky_max_cpu_count_is_named():
    pytest.importorskip("joblib")
    out = _python("""
        import fastgmm
        try:
            fastgmm.GaussianMixture(2, n_threads=-1).fit([[0.0], [1.0], [2.0], [3.0]])
        except ValueError as exc:
            print(exc)
    """, OMP_NUM_THREADS="", LOKY_MAX_CPU_COUNT="two")
    assert out.startswith("LOKY_MAX_CPU_COUNT='two' is not a whole number") and "unset" in out


@needs_openmp
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity API")
def test_affinity_change_after_the_first_count_is_honoured():
    """The CPU count is cached, but never past a change of the affinity mask."""
    out = _python("""
        import os
        from fastgmm._openmp_helpers import effective_n_threads
        mask = os.sched_getaffinity(0)
        before = effective_n_threads(-1)
        os.sched_setaffinity(0, {min(mask)})
        narrowed = effective_n_threads(-1)
        os.sched_setaffinity(0, mask)
        print(narrowed, effective_n_threads(-1) == before)
    """, OMP_NUM_THREADS="")
    assert out == "1 True"


def test_neither_import_nor_fit_imports_joblib():
    """``import fastgmm`` and the first fit stay light: the CPU count reads the
    affinity mask, the cgroup quota and LOKY_MAX_CPU_COUNT itself."""
    out = _python("""
        import sys
        import numpy as np
        import fastgmm
        at_import = "joblib" in sys.modules
        fastgmm.GaussianMixture(2, random_state=0).fit(np.arange(40.0).reshape(20, 2))
        print(at_import, "joblib" in sys.modules)
    """, OMP_NUM_THREADS="")
    assert out == "False False"


@needs_openmp
def test_without_joblib_the_cpu_count_is_the_same():
    out = _python("""
        import sys
        sys.modules["joblib"] = None        # makes `import joblib` raise ImportError
        from fastgmm._openmp_helpers import effective_n_threads
        print(effective_n_threads(-1))
    """, OMP_NUM_THREADS="", LOKY_MAX_CPU_COUNT="1")
    assert out == "1"
