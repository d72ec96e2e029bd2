"""fastgmm vs a pure-numpy EM vs scikit-learn, measured side by side in one run.

For each workload every implementation gets the same data and the same initial
parameters, ``tol=0`` and a fixed number of EM iterations. The time of one EM
iteration is ``(t[n_hi iterations] - t[n_lo iterations]) / (n_hi - n_lo)``, which
cancels each library's one-off setup (validation, allocation, initialization).
Repeats are interleaved (A B C A B C ...) so that noise on this shared machine hits
every implementation alike; tables report medians and ratios taken within the run.

The same run measures the machine: float64 DGEMM rate and read bandwidth on the
cores fastgmm uses, and the throughput of numpy's vectorized exp. A workload's
*floor* is ``max(flops / dgemm_rate, bytes_of_X / bandwidth) + transcendentals /
exp_rate`` with the minimal arithmetic of one EM iteration (see ``Workload.flops``);
fastgmm's time is also reported as a multiple of it.

Peak memory is measured in a child process per implementation: the peak resident
size during a short fit minus the resident size with the data loaded.

Intel oneDAL's ``em_gmm`` (daal4py 2024.7) joins the table when its virtualenv
can be made or reused (``benchmarks/onedal.py``; ``--onedal off`` skips it): it
runs in a child process, timed there around its own calls, with the same data,
start, iteration counts and thread count as fastgmm's fastest column, for the
covariance types it has (full, diagonal) on float64 data. Its lower bound is its
``goalFunction`` after the last iteration, divided by ``n_samples``.

Usage::

    python benchmarks/compare.py --quick     # W1 and small data; under a minute
    python benchmarks/compare.py             # every workload (a few minutes)
"""

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import numpy_em  # noqa: E402
import onedal  # noqa: E402

import fastgmm  # noqa: E402
from fastgmm._kernels import selected_variant  # noqa: E402
from fastgmm._openmp_helpers import effective_n_threads  # noqa: E402

try:
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
except ImportError:  # scikit-learn is optional (the `bench` extra installs it)
    SkGaussianMixture = None


@dataclass
class Workload:
    name: str
    n_samples: int
    n_features: int
    n_components: int
    covariance_type: str
    dtype: str = "float64"
    iterations: tuple = (2, 10)        # (n_lo, n_hi) for fastgmm
    slow_iterations: tuple = (1, 4)    # (n_lo, n_hi) for numpy EM and scikit-learn
    description: str = ""

    @property
    def input_bytes(self):
        return self.n_samples * self.n_features * np.dtype(self.dtype).itemsize

    def flops(self):
        """Minimal floating-point operations of one EM iteration.

        full/tied: per sample and component, the triangular transform of the E-step
        and the rank-one update of the second moment, d(d+1)/2 multiply-adds each,
        plus O(d) for the centring, squared norm and first moment; diag/spherical:
        O(d) per sample and component.
        """
        n, d, K = self.n_samples, self.n_features, self.n_components
        if self.covariance_type in ("full", "tied"):
            per = 2 * d * (d + 1) + 6 * d
        else:
            per = 8 * d
        return float(n * K * per)

    def transcendentals(self):
        """exp per sample and component, plus a log per sample."""
        return float(self.n_samples * (self.n_components + 1))


WORKLOADS = {
    "W1": Workload("W1", 1_000_000, 2, 3, "full", description="1,000,000 x 2, K=3, full"),
    "W2": Workload("W2", 200_000, 16, 8, "full", description="200,000 x 16, K=8, full"),
    "W3": Workload("W3", 100_000, 64, 16, "full", iterations=(2, 6),
                   description="100,000 x 64, K=16, full"),
    "W3-f32": Workload("W3-f32", 100_000, 64, 16, "full", dtype="float32",
                       iterations=(2, 6), description="W3 in float32"),
    "W4": Workload("W4", 1_000_000, 8, 32, "diag", iterations=(2, 6),
                   description="1,000,000 x 8, K=32, diag"),
    "small": Workload("small", 2_000, 2, 4, "full", iterations=(10, 110),
                      slow_iterations=(5, 25), description="2,000 x 2, K=4, full"),
}
QUICK = ["W1", "small"]


# ------------------------------------------------------------------------ data

def make_data(workload, seed=0):
    """A mixture of anisotropic, partly overlapping Gaussians."""
    rng = np.random.default_rng(seed)
    n, d, K = workload.n_samples, workload.n_features, workload.n_components
    centres = rng.normal(scale=3.0, size=(K, d))
    shapes = 0.4 * rng.normal(size=(K, d, d)) + np.eye(d)
    labels = rng.integers(0, K, size=n)
    X = np.empty((n, d), dtype=workload.dtype)
    for k in range(K):
        rows = labels == k
        X[rows] = centres[k] + rng.normal(size=(rows.sum(), d)) @ shapes[k].T
    return X


def initial_parameters(X, workload, seed=0):
    """A common start: K distinct rows as means, the data covariance for all."""
    rng = np.random.default_rng(seed)
    K, d = workload.n_components, workload.n_features
    means = X[rng.choice(X.shape[0], K, replace=False)].astype(np.float64)
    cov = np.cov(X[:100_000].astype(np.float64).T).reshape(d, d) + 1e-6 * np.eye(d)
    covariances = {"full": np.repeat(cov[None], K, axis=0), "tied": cov,
                   "diag": np.repeat(np.diag(cov)[None], K, axis=0),
                   "spherical": np.full(K, np.trace(cov) / d)}[workload.covariance_type]
    return np.full(K, 1.0 / K), means, covariances


def _precisions(covariances, covariance_type):
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(covariances)
    return 1.0 / covariances


# ------------------------------------------------------------- implementations

ONEDAL = "oneDAL em_gmm"


def implementations(threads, workload=None, peer=None):
    impls = [f"fastgmm ({t} thr)" for t in threads] + ["numpy EM"]
    if SkGaussianMixture is not None:
        impls.append("scikit-learn")
    if (peer is not None and peer.available and workload is not None
            and workload.covariance_type in onedal.COVARIANCE_TYPES
            and workload.dtype == "float64"):
        impls.append(ONEDAL)
    return impls


def run_fit(impl, X, start, covariance_type, n_iter, peer=None, key=None):
    """n_iter EM iterations of ``impl`` from ``start``.

    Returns
    -------
    means, lower bound, seconds
        ``seconds`` is the child's own time for oneDAL, None for the others (the
        caller times them).
    """
    weights, means, covariances = start
    K = means.shape[0]
    if impl == ONEDAL:
        seconds, _, bound, fitted_means = peer.fit(key, start, covariance_type, n_iter, 0.0)
        return fitted_means, bound, seconds
    if impl == "numpy EM":
        params, bounds = numpy_em.fit(X, weights, means, covariances, covariance_type, n_iter)
        return params[1], (bounds[-1] if bounds else None), None
    init = dict(weights_init=weights, means_init=means,
                precisions_init=_precisions(covariances, covariance_type))
    if impl.startswith("fastgmm"):
        threads = int(impl.split("(")[1].split()[0])
        gm = fastgmm.GaussianMixture(K, covariance_type=covariance_type, tol=0.0,
                                     max_iter=n_iter, n_threads=threads, **init)
    else:
        # random_from_data is scikit-learn's cheapest start; the init values replace it.
        gm = SkGaussianMixture(K, covariance_type=covariance_type, tol=0.0, max_iter=n_iter,
                               init_params="random_from_data", **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
    return gm.means_, gm.lower_bound_, None


def _fast(impl):
    return impl.startswith("fastgmm") or impl == ONEDAL


def time_per_iteration(impls, X, start, workload, repeats, peer=None):
    """Median seconds per iteration of each implementation, interleaved repeats."""
    plan = {impl: (workload.iterations if _fast(impl) else workload.slow_iterations)
            for impl in impls}
    if ONEDAL in impls:
        peer.load(workload.name, X)
    samples = {impl: {n: [] for n in plan[impl]} for impl in impls}
    results = {}
    for _ in range(repeats):
        for impl in impls:
            for n_iter in plan[impl]:
                t0 = time.perf_counter()
                *results[impl], inner = run_fit(impl, X, start, workload.covariance_type,
                                                n_iter, peer, workload.name)
                elapsed = time.perf_counter() - t0
                samples[impl][n_iter].append(elapsed if inner is None else inner)
    per_iter = {}
    for impl in impls:
        lo, hi = plan[impl]
        per_iter[impl] = max((statistics.median(samples[impl][hi])
                              - statistics.median(samples[impl][lo])) / (hi - lo), 1e-12)
    # Results compared after the same number of iterations for every implementation.
    n_check = workload.slow_iterations[1]
    for impl in impls:
        if plan[impl][1] != n_check:
            results[impl] = run_fit(impl, X, start, workload.covariance_type, n_check,
                                    peer, workload.name)[:2]
    return per_iter, results


# ---------------------------------------------------------------------- memory

def _rss_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _memory_child(path, start, covariance_type, impl, queue):
    X = np.load(path)                      # no temporaries: the data alone
    X.sum()                                # touch every page
    base = _rss_bytes("VmRSS")
    run_fit(impl, X, start, covariance_type, 3)
    queue.put(max(_rss_bytes("VmHWM") - base, 0))


def peak_extra_memory(impls, X, start, workload):
    """Peak resident bytes over the loaded data during a 3-iteration fit, per impl."""
    ctx = multiprocessing.get_context("spawn")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.npy")
        np.save(path, X)
        for impl in impls:
            if impl == ONEDAL:      # its own process and allocator: not comparable
                continue
            queue = ctx.Queue()
            proc = ctx.Process(target=_memory_child,
                               args=(path, start, workload.covariance_type, impl, queue))
            proc.start()
            out[impl] = queue.get(timeout=600)
            proc.join()
    return out


# ---------------------------------------------------------------- the machine

def measure_machine(n_threads, smoke=False):
    """DGEMM rate, read bandwidth and exp throughput on ``n_threads`` cores
    (``smoke``: on tiny arrays, only to exercise the code)."""
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(0)
    size = 128 if smoke else 2048
    a = rng.random((size, size))
    b = rng.random((size, size))
    with threadpool_limits(n_threads, user_api="blas"):
        a @ b
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t0)
    dgemm = 2 * size ** 3 / min(times)
    big = np.ones((1 if smoke else 32) * 1024 * 1024)  # 256 MiB, far beyond the caches
    big.sum()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        big.sum()
        times.append(time.perf_counter() - t0)
    bandwidth = big.nbytes / min(times) * n_threads   # numpy's sum uses one core
    x = -rng.random(40_000 if smoke else 4_000_000) * 50
    out = np.empty_like(x)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        np.exp(x, out=out)
        times.append(time.perf_counter() - t0)
    exp_rate = x.size / min(times) * n_threads        # numpy's exp uses one core
    return {"threads": n_threads, "dgemm_flops_per_s": dgemm,
            "read_bytes_per_s": bandwidth, "exp_per_s": exp_rate}


def floor_seconds(workload, machine):
    arithmetic = workload.flops() / machine["dgemm_flops_per_s"]
    traffic = workload.input_bytes / machine["read_bytes_per_s"]
    return max(arithmetic, traffic) + workload.transcendentals() / machine["exp_per_s"]


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
    from threadpoolctl import threadpool_info
    blas = sorted({f"{info['internal_api']} {info.get('version')} ({info.get('architecture')})"
                   for info in threadpool_info() if info["user_api"] == "blas"})
    environment = {name: os.environ[name] for name in
                   ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
                   if name in os.environ}
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel_variant": selected_variant,
            "openmp": fastgmm.openmp_enabled(), "versions": versions, "blas": blas,
            "environment": environment}


# ---------------------------------------------------------------------- report

def run_workload(workload, *, repeats, threads, machine, memory, peer=None):
    X = make_data(workload)
    start = initial_parameters(X, workload)
    impls = implementations(threads, workload, peer)
    per_iter, results = time_per_iteration(impls, X, start, workload, repeats, peer)
    extra = peak_extra_memory(impls, X, start, workload) if memory else {}
    best = f"fastgmm ({max(threads)} thr)"
    one = f"fastgmm ({min(threads)} thr)"
    floor = floor_seconds(workload, machine)
    ref_means = results[best][0]
    rows = []
    for impl in impls:
        means, bound = results[impl]
        rows.append({
            "implementation": impl,
            "ms_per_iter": 1e3 * per_iter[impl],
            "time_vs_fastgmm": per_iter[impl] / per_iter[best],
            "lower_bound": bound,
            "max_rel_diff_means": float(np.max(np.abs(means - ref_means))
                                        / np.max(np.abs(ref_means))),
            "extra_peak_memory_bytes": extra.get(impl),
        })
    summary = {
        "floor_ms": 1e3 * floor,
        "fastgmm_multiple_of_floor": per_iter[best] / floor,
        "thread_speedup": per_iter[one] / per_iter[best] if one != best else None,
    }
    if "scikit-learn" in per_iter:
        summary["speedup_vs_sklearn"] = per_iter["scikit-learn"] / per_iter[best]
    summary["speedup_vs_numpy"] = per_iter["numpy EM"] / per_iter[best]
    if ONEDAL in per_iter:
        summary["speedup_vs_onedal"] = per_iter[ONEDAL] / per_iter[best]
    elif peer is not None:
        summary["onedal"] = (onedal.NOT_AVAILABLE + (f": {peer.reason}" if peer.reason else
                             f" for {workload.covariance_type} {workload.dtype} data"))
    return {**asdict(workload), "input_bytes": workload.input_bytes, "repeats": repeats,
            "rows": rows, "summary": summary}


def format_table(result):
    lines = [f"\n### {result['name']}: {result['description']} "
             f"({result['dtype']}, {result['input_bytes'] / 2**20:.1f} MiB)\n",
             "| implementation | ms / iteration | time vs fastgmm | extra peak memory "
             f"(x input) | lower bound after {result['slow_iterations'][1]} it. | "
             "max rel. diff of means |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in result["rows"]:
        bound = "" if row["lower_bound"] is None else f"{row['lower_bound']:.8f}"
        mem = row["extra_peak_memory_bytes"]
        mem = "" if mem is None else f"{mem / 2**20:.1f} MiB ({mem / result['input_bytes']:.2f}x)"
        lines.append(f"| {row['implementation']} | {row['ms_per_iter']:.3f} | "
                     f"{row['time_vs_fastgmm']:.1f}x | {mem} | {bound} | "
                     f"{row['max_rel_diff_means']:.1e} |")
    s = result["summary"]
    parts = [f"floor {s['floor_ms']:.3f} ms, fastgmm at {s['fastgmm_multiple_of_floor']:.2f}x "
             "the floor"]
    if s.get("speedup_vs_sklearn"):
        parts.append(f"{s['speedup_vs_sklearn']:.1f}x faster than scikit-learn")
    if s.get("speedup_vs_onedal"):
        parts.append(f"{s['speedup_vs_onedal']:.1f}x faster than oneDAL em_gmm")
    elif s.get("onedal"):
        parts.append(f"oneDAL em_gmm {s['onedal']}")
    parts.append(f"{s['speedup_vs_numpy']:.1f}x faster than numpy EM")
    if s.get("thread_speedup"):
        parts.append(f"threads speed-up {s['thread_speedup']:.2f}x")
    lines.append("\n" + "; ".join(parts) + ".")
    return "\n".join(lines)


def float32_speedups(results):
    """fastgmm's W3 time over its W3-f32 time, per thread count ({} unless both ran)."""
    by_name = {r["name"]: r for r in results}
    if "W3" not in by_name or "W3-f32" not in by_name:
        return {}
    times = {name: {row["implementation"]: row["ms_per_iter"] for row in by_name[name]["rows"]}
             for name in ("W3", "W3-f32")}
    return {impl: times["W3"][impl] / times["W3-f32"][impl]
            for impl in times["W3"] if impl.startswith("fastgmm")}


def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return None
    names = [r["name"] for r in results]
    impls = list(dict.fromkeys(row["implementation"] for r in results for row in r["rows"]))
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(names), 4.2))
    width = 0.8 / (len(impls) + 1)
    for i, impl in enumerate(impls):
        values = [next((row["ms_per_iter"] for row in r["rows"]
                        if row["implementation"] == impl), np.nan) for r in results]
        ax.bar(np.arange(len(names)) + i * width, values, width, label=impl)
    floors = [r["summary"]["floor_ms"] for r in results]
    ax.bar(np.arange(len(names)) + len(impls) * width, floors, width, label="machine floor",
           color="lightgray", edgecolor="black")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
    ax.set_xticklabels(names)
    ax.set_ylabel("ms per EM iteration (log scale)")
    ax.set_title("fastgmm vs numpy EM vs scikit-learn (same start, same run)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"only {', '.join(QUICK)}, fewer repeats (under a minute)")
    parser.add_argument("--smoke", action="store_true",
                        help="check that the script runs: the small workload once, tiny "
                             "machine probes, no memory probes (its numbers mean nothing)")
    parser.add_argument("--workloads", nargs="*", default=None, choices=list(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, nargs="*", default=None,
                        help="fastgmm thread counts (default: 1 and all usable cores)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory probes")
    parser.add_argument("--output", default=None, help="JSON file (default: results/)")
    parser.add_argument("--onedal", choices=["auto", "reuse", "off"], default="auto",
                        help="oneDAL em_gmm peer: create or reuse its virtualenv (auto), "
                             "only reuse it, or skip it")
    args = parser.parse_args(argv)

    names = args.workloads or (["small"] if args.smoke else
                               QUICK if args.quick else list(WORKLOADS))
    repeats = args.repeats or (1 if args.smoke else 3 if args.quick else 5)
    n_cores = effective_n_threads(None)
    threads = args.threads or sorted({1, n_cores})
    command = "python " + " ".join([os.path.relpath(sys.argv[0])] + (argv or sys.argv[1:]))
    machine = {**machine_description(), **measure_machine(max(threads), args.smoke)}
    peer = onedal.OneDAL.open(max(threads), args.onedal)
    machine["versions"]["daal4py"] = (peer.version if peer.available
                                      else f"{onedal.NOT_AVAILABLE} ({peer.reason})")
    print(f"# fastgmm benchmark\n\ncommand: `{command}`  \n"
          f"machine: {machine['cpu']}, {machine['cores']} cores; kernels: "
          f"{machine['kernel_variant']}; measured on {machine['threads']} threads: DGEMM "
          f"{machine['dgemm_flops_per_s'] / 1e9:.0f} GFLOP/s, read "
          f"{machine['read_bytes_per_s'] / 1e9:.0f} GB/s, exp "
          f"{machine['exp_per_s'] / 1e9:.2f} G/s  \nversions: "
          + ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
          + f"  \nBLAS: {'; '.join(machine['blas'])}"
          + (f"; environment: {machine['environment']}" if machine["environment"] else "")
          + f"  \nmethod: median of {repeats} interleaved repeats; time per iteration = "
          "(t[n_hi] - t[n_lo]) / (n_hi - n_lo); same data and start for every "
          "implementation; numpy EM and scikit-learn use their default (BLAS) threads"
          + (f"; oneDAL em_gmm on {peer.threads} threads in a child process, timed there"
             if peer.available else ""))
    results = []
    with peer:
        for name in names:
            result = run_workload(WORKLOADS[name], repeats=repeats, threads=threads,
                                  machine=machine, memory=not (args.no_memory or args.smoke),
                                  peer=peer)
            print(format_table(result), flush=True)
            results.append(result)
    precision = float32_speedups(results)
    if precision:
        print("\nfloat32 vs float64 throughput (W3-f32 against W3, same run): "
              + ", ".join(f"{ratio:.2f}x on {impl.split('(')[1].rstrip(')')}"
                          for impl, ratio in precision.items()) + ".")
    out = Path(args.output) if args.output else HERE / "results" / (
        "smoke.json" if args.smoke else "quick.json" if args.quick else "full.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": command, "machine": machine, "results": results,
                               "float32_speedup": precision}, indent=2))
    png = plot(results, out.with_suffix(".png"))
    print(f"\nJSON: {out}" + (f"  \nplot: {png}" if png else ""))


if __name__ == "__main__":
    main()
