"""Fits in processes made by fork, fork pools and spawn/forkserver pools.

GNU libgomp's thread pool does not survive fork(): before the fix, a fit with threads
in a parent, then a fit with threads in a forked child, hung for ever. The child of a
process that ran OpenMP threads now runs the kernels on one thread; the child of one
that never did keeps its threads (``docs/user_guide/threads.rst``).

Each scenario runs in a driver script of its own (the pytest process may itself have
run threads, which would make every child of it serial), in a new session that is
killed whole if it outlives a hang guard, so that a regression fails instead of
stalling CI. Inside the driver every child is waited for with a timeout too. The
timeouts are hang guards, never speed requirements. Child results are compared with
the parent's bit for bit.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import fastgmm

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

OPENMP = fastgmm.openmp_enabled()
DRIVER_TIMEOUT = 300      # seconds for one whole scenario (a hang guard)

# The driver: fits in the parent, then in children, and prints one JSON line.
# Each child fits with n_threads=None, 1 and 2 (each must give the parent's bits) and
# reports the thread count the policy gives it for n_threads=2.
_DRIVER = textwrap.dedent('''
    import json, multiprocessing, os, pickle, sys, time
    import numpy as np
    import fastgmm
    from fastgmm._openmp_helpers import effective_n_threads

    CHILD_TIMEOUT = 120   # a hang guard per child

    def data():
        rng = np.random.default_rng(0)
        return np.vstack([rng.normal(-2.0, 1.0, (20000, 3)),
                          rng.normal(2.0, 1.0, (20000, 3))])

    def fit(n_threads):
        X = data()
        gm = fastgmm.GaussianMixture(3, random_state=0, n_threads=n_threads).fit(X)
        return {"means": gm.means_.tobytes(), "covariances": gm.covariances_.tobytes(),
                "weights": gm.weights_.tobytes(), "bounds": list(gm.lower_bounds_),
                "resp": gm.predict_proba(X).tobytes(),
                "score": gm.score_samples(X).tobytes()}

    def child_work(_=None):
        """What every child does: its thread count for n_threads=2, and three fits."""
        return {"threads_for_2": effective_n_threads(2),
                "fits": [fit(n) for n in (None, 1, 2)]}

    def same(results, reference):
        return all(one == reference for one in results)

    def forked(work):
        """Run work() in a child made by os.fork(); its result, or "hang"."""
        result_file = f"forked-{os.getpid()}-{time.monotonic_ns()}.pickle"
        pid = os.fork()
        if pid == 0:
            status = 0
            try:
                with open(result_file, "wb") as out:
                    pickle.dump(work(), out)
            except BaseException:
                status = 1
            os._exit(status)
        deadline = time.monotonic() + CHILD_TIMEOUT
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return "hang"
        if status != 0:
            return f"child failed with status {status}"
        with open(result_file, "rb") as results:
            return pickle.load(results)

    def in_pool(method, n_tasks=2):
        context = multiprocessing.get_context(method)
        with context.Pool(2) as pool:
            pending = pool.map_async(child_work, range(n_tasks))
            try:
                return pending.get(timeout=CHILD_TIMEOUT)
            except multiprocessing.TimeoutError:
                pool.terminate()
                return "hang"

    def summary(children, reference):
        if isinstance(children, str):
            return {"error": children}
        return {"threads_for_2": sorted({c["threads_for_2"] for c in children}),
                "equal": all(same(c["fits"], reference) for c in children),
                "results": len(children)}

    if __name__ == "__main__":
        scenario, parent_threads = sys.argv[1], int(sys.argv[2])
        report = {}
        if scenario == "pool_fork_before_fit":
            # A fork pool made before the parent ran any thread: full threads.
            context = multiprocessing.get_context("fork")
            pool = context.Pool(2)
        reference = fit(parent_threads)
        if scenario == "os_fork":
            child = forked(child_work)
            report["child"] = summary(child if isinstance(child, str) else [child], reference)
            # A grandchild (forked by the child) inherits the same stale pool.
            grandchild = forked(lambda: forked(child_work))
            report["grandchild"] = summary(
                grandchild if isinstance(grandchild, str) else [grandchild], reference)
        elif scenario == "pool_fork_before_fit":
            pending = pool.map_async(child_work, range(2))
            try:
                children = pending.get(timeout=CHILD_TIMEOUT)
            except multiprocessing.TimeoutError:
                children = "hang"
            pool.terminate()
            pool.join()
            report["child"] = summary(children, reference)
        else:
            report["child"] = summary(in_pool(scenario[len("pool_"):]), reference)
        # The parent keeps its threads and goes on fitting after its children.
        report["parent_threads_for_2"] = effective_n_threads(2)
        report["parent_again_equal"] = fit(2) == reference
        print("REPORT " + json.dumps(report), flush=True)
''')


def _run_driver(tmp_path, scenario, parent_threads):
    script = tmp_path / "fork_driver.py"
    script.write_text(_DRIVER)
    process = subprocess.Popen([sys.executable, str(script), scenario, str(parent_threads)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=tmp_path, start_new_session=True)
    try:
        out, err = process.communicate(timeout=DRIVER_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)    # the driver and every child it made
        out, err = process.communicate()
        pytest.fail(f"{scenario} scenario hung:\n{out[-3000:]}\n{err[-3000:]}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, out[-3000:] + err[-3000:]
    lines = [line for line in out.splitlines() if line.startswith("REPORT ")]
    assert lines, out[-3000:] + err[-3000:]
    return json.loads(lines[-1][len("REPORT "):])


def _expected_child_threads(parent_threads, inherits_parent_memory):
    """What the policy gives a child for n_threads=2."""
    if not OPENMP:
        return [1]
    if inherits_parent_memory and parent_threads > 1:
        return [1]            # the stale pool: serial
    return [2]


def _check(report, key, expected_threads, n_results=1):
    child = report[key]
    assert "error" not in child, child                    # "hang" or a child failure
    assert child["equal"], "a child's fit differs from the parent's"
    assert child["threads_for_2"] == expected_threads, child
    assert child["results"] == n_results, child


@pytest.mark.parametrize("parent_threads", [1, 2])
def test_fit_in_forked_child_and_grandchild(tmp_path, parent_threads):
    report = _run_driver(tmp_path, "os_fork", parent_threads)
    expected = _expected_child_threads(parent_threads, inherits_parent_memory=True)
    _check(report, "child", expected)
    _check(report, "grandchild", expected)
    assert report["parent_threads_for_2"] == (2 if OPENMP else 1)
    assert report["parent_again_equal"]


@pytest.mark.parametrize("parent_threads", [1, 2])
def test_fit_in_fork_pool_after_a_parent_fit(tmp_path, parent_threads):
    report = _run_driver(tmp_path, "pool_fork", parent_threads)
    _check(report, "child", _expected_child_threads(parent_threads, True), n_results=2)
    assert report["parent_again_equal"]


def test_fork_pool_made_before_any_parent_thread_keeps_threads(tmp_path):
    report = _run_driver(tmp_path, "pool_fork_before_fit", 2)
    _check(report, "child", _expected_child_threads(1, True), n_results=2)
    assert report["parent_again_equal"]


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("parent_threads", [1, 2])
def test_fit_in_fresh_interpreter_pool_after_a_parent_fit(tmp_path, method, parent_threads):
    import multiprocessing
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    report = _run_driver(tmp_path, f"pool_{method}", parent_threads)
    _check(report, "child", _expected_child_threads(parent_threads, False), n_results=2)
    assert report["parent_again_equal"]
