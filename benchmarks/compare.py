"""fastgmm vs a pure-numpy EM vs scikit-learn, measured side by side in one run.

For each workload: the same data and the same initial parameters for every
implementation, ``tol=0`` and a fixed number of iterations. The time of one EM
iteration is the difference between fits of ``n_lo`` and ``n_hi`` iterations divided
by ``n_hi - n_lo``, which cancels each library's one-off setup. Repeats are
interleaved (A B C A B C ...) so that machine noise hits every implementation alike;
the table reports medians and ratios taken within this run.

Usage::

    python benchmarks/compare.py --quick     # W1 only, well under a minute
    python benchmarks/compare.py             # all workloads
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy_em  # noqa: E402

import fastgmm  # noqa: E402
from fastgmm._openmp_helpers import effective_n_threads  # noqa: E402

try:
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
except ImportError:  # scikit-learn is optional (the `bench` extra installs it)
    SkGaussianMixture = None

WORKLOADS = {
    "W1": dict(n_samples=1_000_000, n_features=2, n_components=3, covariance_type="full"),
    "W2": dict(n_samples=200_000, n_features=16, n_components=8, covariance_type="full"),
    "W3": dict(n_samples=100_000, n_features=64, n_components=16, covariance_type="full"),
    "W4": dict(n_samples=1_000_000, n_features=8, n_components=32, covariance_type="diag"),
}


def make_data(n_samples, n_features, n_components, seed=0):
    """A mixture of anisotropic Gaussians with overlapping components."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(n_components, n_features))
    shapes = 0.4 * rng.normal(size=(n_components, n_features, n_features)) + np.eye(n_features)
    labels = rng.integers(0, n_components, size=n_samples)
    X = np.empty((n_samples, n_features))
    for k in range(n_components):
        rows = labels == k
        X[rows] = centres[k] + rng.normal(size=(rows.sum(), n_features)) @ shapes[k].T
    return X


def initial_parameters(X, n_components, covariance_type, seed=0):
    """A common start: K distinct rows as means, the data covariance for all."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    means = X[rng.choice(X.shape[0], n_components, replace=False)].copy()
    cov = np.cov(X[:100_000].T).reshape(d, d) + 1e-6 * np.eye(d)
    covariances = {"full": np.repeat(cov[None], n_components, axis=0), "tied": cov,
                   "diag": np.repeat(np.diag(cov)[None], n_components, axis=0),
                   "spherical": np.full(n_components, np.trace(cov) / d)}[covariance_type]
    weights = np.full(n_components, 1.0 / n_components)
    return weights, means, covariances


def precisions_of(covariances, covariance_type):
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(covariances)
    return 1.0 / covariances


class Runner:
    """Runs one implementation for n iterations from the common start."""

    def __init__(self, name, X, start, covariance_type, **options):
        self.name, self.X, self.start = name, X, start
        self.covariance_type = covariance_type
        self.options = options
        self.result = None

    def run(self, n_iter):
        weights, means, covariances = self.start
        K = means.shape[0]
        if self.name == "numpy EM":
            params, bounds = numpy_em.fit(self.X, weights, means, covariances,
                                          self.covariance_type, n_iter)
            self.result = (params[1], bounds[-1] if bounds else None)
            return
        cls = fastgmm.GaussianMixture if self.name.startswith("fastgmm") else SkGaussianMixture
        init = dict(weights_init=weights, means_init=means,
                    precisions_init=precisions_of(covariances, self.covariance_type))
        extra = {} if cls is SkGaussianMixture else self.options
        if cls is SkGaussianMixture:
            extra["init_params"] = "random_from_data"   # cheapest; replaced by init values
        gm = cls(K, covariance_type=self.covariance_type, tol=0.0, max_iter=n_iter,
                 **init, **extra)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm.fit(self.X)
        self.result = (gm.means_, gm.lower_bound_)


def time_per_iteration(runners, n_lo, n_hi, repeats):
    """Median seconds per iteration of each runner, interleaved repeats."""
    samples = {r.name: {n_lo: [], n_hi: []} for r in runners}
    for _ in range(repeats):
        for n_iter in (n_lo, n_hi):
            for r in runners:
                t0 = time.perf_counter()
                r.run(n_iter)
                samples[r.name][n_iter].append(time.perf_counter() - t0)
    return {name: (statistics.median(s[n_hi]) - statistics.median(s[n_lo])) / (n_hi - n_lo)
            for name, s in samples.items()}


def machine_description():
    import scipy
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "scipy": scipy.__version__, "fastgmm": fastgmm.__version__}
    if SkGaussianMixture is not None:
        import sklearn
        versions["scikit-learn"] = sklearn.__version__
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "versions": versions}


def run_workload(name, spec, *, n_lo, n_hi, repeats, threads):
    X = make_data(spec["n_samples"], spec["n_features"], spec["n_components"])
    start = initial_parameters(X, spec["n_components"], spec["covariance_type"])
    ct = spec["covariance_type"]
    runners = [Runner(f"fastgmm ({t} thr)", X, start, ct, n_threads=t) for t in threads]
    runners.append(Runner("numpy EM", X, start, ct))
    if SkGaussianMixture is not None:
        runners.append(Runner("scikit-learn", X, start, ct))
    per_iter = time_per_iteration(runners, n_lo, n_hi, repeats)
    reference = runners[len(threads) - 1]          # fastgmm with the most threads
    rows = []
    for r in runners:
        means, bound = r.result
        rows.append({
            "implementation": r.name,
            "ms_per_iter": 1e3 * per_iter[r.name],
            "slowdown_vs_fastgmm": per_iter[r.name] / per_iter[reference.name],
            "lower_bound": bound,
            "max_rel_diff_means": float(np.max(np.abs(means - reference.result[0]))
                                        / np.max(np.abs(reference.result[0]))),
        })
    return {"workload": name, **spec, "iterations_timed": n_hi - n_lo, "repeats": repeats,
            "rows": rows}


def print_table(result):
    spec = (f"{result['workload']}: {result['n_samples']:,} x {result['n_features']}, "
            f"K={result['n_components']}, {result['covariance_type']}")
    print(f"\n### {spec}\n")
    print("| implementation | ms / iteration | time vs fastgmm | lower bound | "
          "max rel. diff of means |")
    print("|---|---:|---:|---:|---:|")
    for row in result["rows"]:
        bound = "" if row["lower_bound"] is None else f"{row['lower_bound']:.10f}"
        print(f"| {row['implementation']} | {row['ms_per_iter']:.2f} | "
              f"{row['slowdown_vs_fastgmm']:.1f}x | {bound} | {row['max_rel_diff_means']:.1e} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="W1 only, few repeats (<1 min)")
    parser.add_argument("--workloads", nargs="*", default=None, choices=sorted(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, nargs="*", default=None,
                        help="fastgmm thread counts to time (default: 1 and all cores)")
    parser.add_argument("--output", default=None, help="JSON results file")
    args = parser.parse_args(argv)

    names = args.workloads or (["W1"] if args.quick else sorted(WORKLOADS))
    repeats = args.repeats or (3 if args.quick else 5)
    n_cores = effective_n_threads(None)
    threads = args.threads or sorted({1, n_cores})
    n_lo, n_hi = (1, 6) if args.quick else (2, 10)

    command = "python " + " ".join([Path(sys.argv[0]).as_posix()] + (argv or sys.argv[1:]))
    machine = machine_description()
    print(f"# fastgmm benchmark\n\ncommand: `{command}`  \nmachine: {machine['cpu']}, "
          f"{machine['cores']} cores  \nversions: "
          + ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
          + f"  \nmethod: median of {repeats} interleaved repeats; per-iteration time = "
          f"(t[{n_hi} iter] - t[{n_lo} iter]) / {n_hi - n_lo}; same data and start for all")
    results = []
    for name in names:
        result = run_workload(name, WORKLOADS[name], n_lo=n_lo, n_hi=n_hi, repeats=repeats,
                              threads=threads)
        print_table(result)
        results.append(result)
    out = Path(args.output) if args.output else (
        Path(__file__).resolve().parent / "results" / ("quick.json" if args.quick else
                                                       "full.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": command, "machine": machine, "results": results},
                              indent=2))
    print(f"\nJSON written to {out}")


if __name__ == "__main__":
    main()
