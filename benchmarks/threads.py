"""Several Python threads fitting at once: the kernels release the GIL.

Fits the same set of problems twice in one run, each fit with ``n_threads=1``
(one OpenMP thread, so that only Python-level threads add parallelism): one after
the other in the main thread, then spread over ``--threads`` Python threads.
Repeats alternate serial and threaded runs so that machine noise hits both; the
table reports medians, the speedup serial / threaded measured in this run, and the
process CPU time over wall time (how many cores were busy on average, which stays
meaningful on a shared machine). With the GIL held by the kernels both would stay
near 1; the ideal is the number of cores in use.

Usage::

    python benchmarks/threads.py             # 2 Python threads, 3 repeats
    python benchmarks/threads.py --threads 4 --repeats 5
"""

import argparse
import os
import platform
import statistics
import sys
import threading
import time
import warnings

import numpy as np

import fastgmm


def make_problems(n_problems, n_samples, n_features, n_components):
    rng = np.random.default_rng(0)
    problems = []
    for _ in range(n_problems):
        centres = rng.normal(scale=4.0, size=(n_components, n_features))
        labels = rng.integers(0, n_components, n_samples)
        problems.append(centres[labels] + rng.normal(size=(n_samples, n_features)))
    return problems


def fit(X, n_components):
    return fastgmm.GaussianMixture(n_components, random_state=0, n_threads=1, tol=0.0,
                                   max_iter=15, init_params="random_from_data").fit(X)


def _cpu_seconds():
    times = os.times()
    return times.user + times.system


def run_serial(problems, n_components):
    start, cpu = time.perf_counter(), _cpu_seconds()
    models = [fit(X, n_components) for X in problems]
    wall = time.perf_counter() - start
    return wall, (_cpu_seconds() - cpu) / wall, models


def run_threaded(problems, n_components, n_threads):
    models = [None] * len(problems)
    barrier = threading.Barrier(n_threads + 1)

    def worker(indices):
        barrier.wait()
        for i in indices:
            models[i] = fit(problems[i], n_components)

    threads = [threading.Thread(target=worker, args=(range(t, len(problems), n_threads),))
               for t in range(n_threads)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start, cpu = time.perf_counter(), _cpu_seconds()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return wall, (_cpu_seconds() - cpu) / wall, models


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="Python threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=200_000)
    args = parser.parse_args()
    n_components, n_features = 8, 8
    problems = make_problems(2 * args.threads, args.samples, n_features, n_components)
    warnings.simplefilter("ignore", fastgmm.ConvergenceWarning)
    runs = {"serial": [], "threaded": []}
    for _ in range(args.repeats):
        *serial, reference = run_serial(problems, n_components)
        *threaded, models = run_threaded(problems, n_components, args.threads)
        for a, b in zip(models, reference):
            assert np.array_equal(a.means_, b.means_), "threaded fit differs from serial"
        runs["serial"].append(serial)
        runs["threaded"].append(threaded)
    (serial, serial_busy), (threaded, threaded_busy) = (
        [statistics.median(column) for column in zip(*runs[mode])]
        for mode in ("serial", "threaded"))
    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}"
          f" usable CPUs; python {platform.python_version()}, numpy {np.__version__}, "
          f"fastgmm {fastgmm.__version__} (OpenMP: {fastgmm.openmp_enabled()})")
    print(f"workload: {len(problems)} fits of {args.samples} x {n_features}, "
          f"{n_components} full components, 15 EM iterations, n_threads=1 each")
    print(f"{'mode':<26}{'median s':>10}{'speedup':>10}{'CPU/wall':>10}")
    print(f"{'serial (1 Python thread)':<26}{serial:>10.3f}{1.0:>10.2f}{serial_busy:>10.2f}")
    print(f"{f'{args.threads} Python threads':<26}{threaded:>10.3f}{serial / threaded:>10.2f}"
          f"{threaded_busy:>10.2f}")


if __name__ == "__main__":
    main()
