"""Where the compute paths for full covariances cross over, per kernel variant.

For full covariances ``_estep`` takes the row loops below ``MATRIX_MIN_FEATURES``
features and a matrix path above (the micro-kernels on AVX2/AVX-512 builds, BLAS
on the baseline build). This script times one fused E-step + statistics pass
(``em_statistics``, one thread) on each path for a range of feature counts, on data
and parameters taken after three EM iterations (realistic responsibilities), so the
thresholds in ``_estep.pyx`` can be checked on a new machine.

Usage::

    python benchmarks/paths.py                            # the variant picked here
    FASTGMM_KERNELS=baseline python benchmarks/paths.py --path blas
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402

import fastgmm  # noqa: E402
import fastgmm._kernels as kernels  # noqa: E402
from fastgmm._openmp_helpers import blas_single_thread  # noqa: E402


def time_pass(X, params, path, repeats):
    """Best time of one em_statistics pass with full/tied problems forced onto ``path``."""
    module = kernels.estep
    means, prec_chol, log_const = params.kernel_arguments("full")
    shift = means if X.dtype == np.float64 else means.astype(np.float32).astype(np.float64)
    K, d = means.shape
    n_stats = kernels.n_statistics("full", K, d)
    block_stats = np.empty((kernels.n_blocks(len(X), n_stats), n_stats))
    stats = np.empty(n_stats)
    previous = module._set_matrix_path(10 ** 6 if path == "rows" else 1,
                                       "blas" if path == "rows" else path)
    try:
        times = []
        with blas_single_thread():
            for _ in range(repeats):
                t0 = time.perf_counter()
                module.em_statistics(X, np.empty(0), means, prec_chol, log_const, shift, 0,
                                     block_stats, stats, 1)
                times.append(time.perf_counter() - t0)
    finally:
        module._set_matrix_path(*previous)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=int, nargs="*", default=[4, 8, 12, 16, 24, 32, 64])
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--path", default=None, choices=["micro", "blas"],
                        help="matrix path to compare with the row loops (default: this "
                             "build's own)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    engine = args.path or kernels.matrix_path("full", 10 ** 6)
    print(f"kernel variant {kernels.selected_variant}; rows vs {engine}; one thread; "
          f"best of {args.repeats}; threshold here: "
          f"{kernels.estep._set_matrix_path(1, 'blas')[0]} features")
    kernels.estep._set_matrix_path(*kernels.estep._set_matrix_path(1, "blas"))
    print("| features | dtype | rows (ms) | " + engine + " (ms) | ratio |")
    print("|---:|---|---:|---:|---:|")
    warnings.simplefilter("ignore")
    for d in args.features:
        for dtype in ("float64", "float32"):
            workload = compare.Workload("paths", max(20_000, int(4e6 / (d * d))), d,
                                        args.components, "full", dtype=dtype)
            X = compare.make_data(workload)
            weights, means, covariances = compare.initial_parameters(X, workload)
            gm = fastgmm.GaussianMixture(args.components, tol=0.0, max_iter=3,
                                         weights_init=weights, means_init=means,
                                         precisions_init=np.linalg.inv(covariances)).fit(X)
            rows = time_pass(X, gm._params(), "rows", args.repeats)
            other = time_pass(X, gm._params(), engine, args.repeats)
            print(f"| {d} | {dtype} | {1e3 * rows:.2f} | {1e3 * other:.2f} | "
                  f"{other / rows:.2f} |", flush=True)


if __name__ == "__main__":
    main()
