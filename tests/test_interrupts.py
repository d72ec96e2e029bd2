"""Ctrl-C during long calls other than fit: predictions stop between blocks of rows,
the compiled k-means (seeding and Lloyd's iterations) and EM iterations between
their passes.

Each prediction case runs in a child process that reports every block (or k-means pass) it
starts, with the time it started (CLOCK_MONOTONIC, one clock for every process of
the machine); the parent sends SIGINT after two of them and counts the blocks that
started after it sent the signal: a count, not a time limit, so a slow machine
cannot fail it (lines still in the pipe when the signal goes out were started
before it), and a call that ignored the signal would run through all of its blocks.
"""

import signal
import subprocess
import sys
import textwrap
import time

import pytest
from _signals import ChildLines, assert_sigint_stops_between_blocks

_CHILD = textwrap.dedent("""
    import signal, sys, time
    import numpy as np
    import fastgmm
    import fastgmm._passes as passes
    import fastgmm._source as source_module
    signal.signal(signal.SIGINT, signal.default_int_handler)
    source_module.BLOCK_BYTES = 1          # blocks of 16384 rows
    what = sys.argv[1]

    def reporting(function, label):
        def wrapper(*args, **kwargs):
            print(label, time.monotonic_ns(), flush=True)
            return function(*args, **kwargs)
        return wrapper

    passes.estep_rows_block = reporting(passes.estep_rows_block, "BLOCK")
    passes.log_likelihood_block = reporting(passes.log_likelihood_block, "BLOCK")
    import fastgmm._model as model_module
    model_module.estep_rows_block = passes.estep_rows_block
    model_module.log_likelihood_block = passes.log_likelihood_block
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16384 * 100, 4)).astype(np.float32)     # 100 blocks
    params = fastgmm.stats.MixtureParameters.from_arrays(
        np.full(32, 1 / 32), rng.normal(size=(32, 4)), np.stack([np.eye(4)] * 32))
    gm = params.to_model(n_threads=2)
    method = getattr(gm, what)
    print("READY", flush=True)
    try:
        for _ in range(100):
            method(X)
    except KeyboardInterrupt:
        print("KEYBOARD_INTERRUPT", flush=True)
""")


@pytest.mark.parametrize("what", ["predict", "predict_proba", "score_samples", "score"])
def test_ctrl_c_stops_a_long_call_between_blocks(what):
    assert_sigint_stops_between_blocks(["-c", _CHILD, what], "the call")


_COMPILED_EM_CHILD = textwrap.dedent("""
    import signal, traceback
    import numpy as np
    import fastgmm
    import fastgmm._em as em_module
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # One compiled call for the whole run (10**7 iterations: hours), so that the
    # signal can only be seen by the compiled iterations themselves.
    em_module._COMPILED_ITERATIONS_PER_CALL = 10 ** 7
    original = em_module.em_iterations
    def reporting(*args):
        print("COMPILED", flush=True)
        return original(*args)
    em_module.em_iterations = reporting
    X = np.random.default_rng(0).normal(size=(2000, 2))
    gm = fastgmm.GaussianMixture(4, max_iter=10 ** 7, tol=0.0, random_state=0)
    try:
        gm.fit(X)
    except KeyboardInterrupt as exc:
        frames = [frame.name for frame in traceback.extract_tb(exc.__traceback__)]
        print("KEYBOARD_INTERRUPT in", frames[-1], flush=True)
    again = fastgmm.GaussianMixture(2, random_state=0).fit(X[:500])
    print("CLEAN_EXIT", again.converged_, flush=True)
""")


def _interrupt_inside_compiled_call(child_source, *child_args):
    """Run ``child_source`` in a Python child, send SIGINT 0.5 s after it reports
    COMPILED (it is then inside the compiled call), wait for its CLEAN_EXIT line
    and a zero exit status; return the lines it printed."""
    child = subprocess.Popen([sys.executable, "-u", "-c", child_source, *child_args],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = ChildLines(child)
    try:
        while lines.next() != "COMPILED":
            pass
        time.sleep(0.5)          # well inside the call (not a measurement)
        child.send_signal(signal.SIGINT)
        while not lines.next().startswith("CLEAN_EXIT"):
            pass
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return lines.seen


def test_ctrl_c_stops_the_compiled_em_iterations():
    """The compiled EM iterations (small fits) check for a pending signal between
    iterations: Ctrl-C raises KeyboardInterrupt from inside them, and the process
    fits again afterwards."""
    seen = _interrupt_inside_compiled_call(_COMPILED_EM_CHILD)
    reports = [line for line in seen if line.startswith("KEYBOARD_INTERRUPT in ")]
    assert len(reports) == 1 and reports[0].endswith("em_iterations"), seen
    assert seen[-1] == "CLEAN_EXIT True", seen


_COMPILED_KMEANS_CHILD = textwrap.dedent("""
    import signal, sys, traceback
    import numpy as np
    import fastgmm
    import fastgmm._init as init_module
    signal.signal(signal.SIGINT, signal.default_int_handler)
    what = sys.argv[1]
    kernels = init_module.kmeans_kernels
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16384 * 100, 4)).astype(np.float32)
    E = np.empty(0)

    class Reporting:            # reports the compiled call, then runs it
        def __getattr__(self, name):
            function = getattr(kernels, name)
            if name not in ("plusplus_seeds", "lloyd_iterations"):
                return function
            def wrapper(*args):
                print("COMPILED", flush=True)
                return function(*args)
            return wrapper

    init_module.kmeans_kernels = Reporting()
    try:
        if what == "seeding":       # 2,000 seeds: one pass over 1.6M rows each
            init_module.kmeans_plusplus(X, E, 2000, rng, 2)
        else:                       # Lloyd's steps from 256 random rows (hundreds)
            buf = init_module.KMeansBuffers(X, E, 256, 2).with_bounds()
            buf.labels[...] = -1
            centers = X[rng.choice(X.shape[0], 256, replace=False)].astype(np.float64)
            init_module._lloyd(X, E, E, np.ones(4), centers, buf, -1.0, 10 ** 7, 2)
    except KeyboardInterrupt as exc:
        frames = [frame.name for frame in traceback.extract_tb(exc.__traceback__)]
        print("KEYBOARD_INTERRUPT in", frames[-1], flush=True)
    result = init_module.kmeans(X[:5000], E, 3, np.random.default_rng(1), 2)
    print("CLEAN_EXIT", result.converged, flush=True)
""")


@pytest.mark.parametrize("what, kernel", [("seeding", "plusplus_seeds"),
                                          ("lloyd", "lloyd_iterations")])
def test_ctrl_c_stops_the_compiled_kmeans(what, kernel):
    """k-means++ seeding and Lloyd's iterations run in one compiled call each and
    check for a pending signal between their passes: Ctrl-C raises
    KeyboardInterrupt from inside them, and k-means runs again afterwards."""
    seen = _interrupt_inside_compiled_call(_COMPILED_KMEANS_CHILD, what)
    reports = [line for line in seen if line.startswith("KEYBOARD_INTERRUPT in ")]
    assert len(reports) == 1 and reports[0].endswith(kernel), seen
    assert seen[-1] == "CLEAN_EXIT True", seen
