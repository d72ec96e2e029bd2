"""Initialization speed: fastgmm's Cython k-means start vs scikit-learn's, same run.

Two measurements, each on the same data for both libraries, repeats interleaved
(scikit-learn, fastgmm with each thread count, scikit-learn, ...) so that machine
noise hits all alike; the table reports medians and the ratio of medians.

1. The k-means start on 1,000,000 x 8 with K=32: ``KMeans(n_clusters=32,
   n_init=1)`` (what ``sklearn.mixture.GaussianMixture`` runs for
   ``init_params="kmeans"``) against fastgmm's k-means++ seeding and Lloyd
   iterations (``fastgmm._init.kmeans``, the same tolerance and iteration cap).
   Both give the labels one M-step turns into the initial parameters.
2. A whole ``fit`` with the default initialization on 1,000,000 x 2, K=3.

Repeat ``r`` uses ``random_state=r`` in both libraries (their random streams
differ, so the k-means iteration counts differ between them; the medians over
the repeats are compared, and the median inertia / lower bound are shown). The
fit's data have two local optima that k-means starts fall into at random (about
a quarter to a third of the starts of either library end in the worse one, which
converges in fewer iterations): the table also gives the runs that reached the
best one and the speed-up between those runs, which compares like with like.

Usage::

    python benchmarks/init.py                 # default: 9 repeats, threads 1 and all
    python benchmarks/init.py --repeats 3 --threads 2
"""

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import Workload, machine_description, make_data  # noqa: E402

import fastgmm  # noqa: E402
from fastgmm._init import KMeansBuffers, kmeans  # noqa: E402
from fastgmm._openmp_helpers import effective_n_threads  # noqa: E402

try:
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
except ImportError:  # the `bench` extra installs scikit-learn
    sys.exit("benchmarks/init.py compares with scikit-learn: pip install scikit-learn")


def _timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def kmeans_start(repeats, threads):
    """Median seconds (and k-means iterations, inertia) per implementation."""
    X = make_data(Workload("kmeans", 1_000_000, 8, 32, "full"))
    empty = np.empty(0)
    buffers = KMeansBuffers(X, empty, 32)
    names = ["scikit-learn KMeans(n_init=1)"] + [f"fastgmm k-means ({t} thr)"
                                                 for t in threads]
    rows = {name: [] for name in names}
    for rep in range(repeats):
        seconds, km = _timed(lambda: KMeans(n_clusters=32, n_init=1,
                                            random_state=rep).fit(X))
        rows[names[0]].append((seconds, km.n_iter_, km.inertia_))
        for name, t in zip(names[1:], threads):
            seconds, result = _timed(lambda: kmeans(X, empty, 32, np.random.default_rng(rep),
                                                    t, buffers))
            rows[name].append((seconds, result.n_iter, result.inertia))
    return rows


def fit_total(repeats, threads):
    X = make_data(Workload("fit", 1_000_000, 2, 3, "full"))
    names = ["scikit-learn GaussianMixture"] + [f"fastgmm GaussianMixture ({t} thr)"
                                                for t in threads]
    rows = {name: [] for name in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rep in range(repeats):
            seconds, gm = _timed(lambda: SkGaussianMixture(3, random_state=rep).fit(X))
            rows[names[0]].append((seconds, gm.n_iter_, gm.lower_bound_))
            for name, t in zip(names[1:], threads):
                seconds, gm = _timed(lambda: fastgmm.GaussianMixture(
                    3, random_state=rep, n_threads=t).fit(X))
                rows[name].append((seconds, gm.n_iter_, gm.lower_bound_))
    return rows


def print_table(title, rows, quality, *, optimum=None):
    """Medians per implementation; with ``optimum`` ("max" or "min") also the runs
    that reached the best optimum and their median time.

    A run "reaches the best optimum" when its final value is within 0.1% (of the
    value's magnitude) of the best value any run of any implementation reached. A
    fit stuck in another local optimum usually stops after fewer iterations, so the
    like-for-like speed-up is the one between the runs at the best optimum.
    """
    names = list(rows)
    reference = statistics.median(s for s, _, _ in rows[names[0]])
    header = (f"| implementation | median time (s) | speed-up vs scikit-learn "
              f"| median iterations | median {quality} |")
    rule = "|---|---:|---:|---:|---:|"
    if optimum is not None:
        values = [v for name in names for _, _, v in rows[name]]
        best = max(values) if optimum == "max" else min(values)
        at_best = {name: [s for s, _, v in rows[name] if abs(v - best) <= 1e-3 * abs(best)]
                   for name in names}
        reference_at_best = (statistics.median(at_best[names[0]]) if at_best[names[0]]
                             else float("nan"))
        header += " runs at the best optimum | their median time (s) | their speed-up |"
        rule += "---:|---:|---:|"
    print(f"\n### {title}\n")
    print(header)
    print(rule)
    for name in names:
        seconds = statistics.median(s for s, _, _ in rows[name])
        iterations = statistics.median(i for _, i, _ in rows[name])
        value = statistics.median(v for _, _, v in rows[name])
        line = (f"| {name} | {seconds:.3f} | {reference / seconds:.1f}x | {iterations:g} "
                f"| {value:.6g} |")
        if optimum is not None:
            runs = at_best[name]
            line += f" {len(runs)} / {len(rows[name])} |"
            line += (f" {statistics.median(runs):.3f} | "
                     f"{reference_at_best / statistics.median(runs):.1f}x |" if runs
                     else " - | - |")
        print(line)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, nargs="*", default=None,
                        help="fastgmm thread counts (default: 1 and all cores)")
    parser.add_argument("--only", choices=["kmeans", "fit"], default=None)
    args = parser.parse_args(argv)
    threads = args.threads or sorted({1, effective_n_threads(None)})
    command = "python " + " ".join([Path(sys.argv[0]).as_posix()] + (argv or sys.argv[1:]))
    machine = machine_description()
    print(f"# fastgmm initialization benchmark\n\ncommand: `{command}`  \nmachine: "
          f"{machine['cpu']}, {machine['cores']} cores  \nversions: "
          + ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
          + f"  \nmethod: {args.repeats} interleaved repeats (repeat r: random_state=r in "
          "both libraries), medians; ratio = median(scikit-learn) / median(fastgmm)")
    if args.only in (None, "kmeans"):
        print_table("k-means start, 1,000,000 x 8, K=32", kmeans_start(args.repeats, threads),
                    "inertia")
    if args.only in (None, "fit"):
        print_table("fit with the default (k-means) initialization, 1,000,000 x 2, K=3",
                    fit_total(args.repeats, threads), "lower bound", optimum="max")


if __name__ == "__main__":
    main()
