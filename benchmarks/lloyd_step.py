"""Cost of one k-means Lloyd step (``_kmeans.lloyd_step``) per kernel variant.

Two shapes: 1,000,000 x 2 with K=3 (narrow rows: exact steps without per-row
bounds, every row searching every centre) and 200,000 x 8 with K=8 (an exact step
with Hamerly's per-row bounds, as the first and last steps of a bounded run). The
centres are rows of the data; every step starts from the labels of the previous
one (given the centres' half-separations, so that older checkouts run it too).
Medians over the repeats, in milliseconds; compare checkouts by running this
script in each, alternately, on a quiet machine.

Usage::

    python benchmarks/lloyd_step.py [--repeats 15] [--threads 1]
"""

import argparse
import statistics
import time

import numpy as np

from compare import WORKLOADS, make_data
from fastgmm._kernels import available_variants, variant_module


def _time_steps(module, X, K, bounds, repeats, n_threads):
    n, d = X.shape
    centers = X[np.linspace(0, n - 1, K).astype(np.intp)].astype(np.float64)
    labels = np.zeros(n, dtype=np.intp)
    upper, lower = (np.zeros(n), np.zeros(n)) if bounds else (np.empty(0), np.empty(0))
    n_stats = module.lloyd_statistics_length(K, d)
    block_stats = np.empty((module.n_blocks(n, K, d), n_stats))
    stats = np.empty(n_stats)
    zeros, empty = np.zeros(K), np.empty(0)
    gaps = np.sqrt(((centers[:, None, :] - centers[None]) ** 2).sum(-1))
    np.fill_diagonal(gaps, np.inf)
    half_separation = 0.5 * gaps.min(axis=1)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        module.lloyd_step(X, empty, empty, centers, half_separation, zeros, zeros, True, labels,
                          upper, lower, block_stats, stats, n_threads)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times[1:])      # the first step moves labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    narrow = make_data(WORKLOADS["W1"])
    wide = np.random.default_rng(0).normal(size=(200_000, 8))
    wide += np.random.default_rng(1).integers(0, 8, size=(200_000, 1)) * 1.5
    print(f"| variant | 1M x 2, K=3 (ms) | 200k x 8, K=8, bounds (ms) |  threads={args.threads}")
    print("|---|---|---|")
    for variant in available_variants():
        module = variant_module(variant, "_kmeans")
        a = _time_steps(module, narrow, 3, False, args.repeats, args.threads)
        b = _time_steps(module, wide, 8, True, args.repeats, args.threads)
        print(f"| {variant} | {a:.2f} | {b:.2f} |")


if __name__ == "__main__":
    main()
