"""The whole fit, as a user times it: fastgmm vs scikit-learn vs oneDAL, one run.

Each row times complete calls, ``GaussianMixture(K, ...).fit(X)`` with the default
start (k-means) and tolerance (1e-3), on the same data for every implementation.
Repeat ``r`` gives ``random_state=r`` to fastgmm and scikit-learn and seeds
oneDAL's own start (``em_gmm_init``, its random short-EM trials; oneDAL has no
k-means start) with ``r``; its ``em_gmm`` then runs with ``maxIterations=100``
and ``accuracyThreshold = 1e-3 * n_samples`` (its threshold is on the total
log-likelihood, the others' on the mean). Repeats are interleaved (fastgmm,
scikit-learn, oneDAL, fastgmm, ...); the table gives medians, the median number
of EM iterations and final mean log-likelihood (different starts may reach
different optima), and ratios of medians taken within the run.

Rows (the table of the "whole fit" issue):

* Old Faithful 272 x 2 (``benchmarks/data/faithful.csv``), K=3, full
* iris 150 x 4 (scikit-learn's bundled copy), K=3, full
* 2,000 x 2, K=4, full; 20,000 x 8, K=8, diag; 1,000,000 x 2, K=3, full
  (``compare.make_data``)
* the selection grid on Old Faithful: 4 covariance types x K=1..9 with
  ``n_init=3``, as a loop (one time for the whole loop; not for oneDAL, which has
  neither tied nor spherical covariances nor restarts)
* a fit from given parameters (``weights_init``, ``means_init``,
  ``precisions_init``) with ``max_iter=1`` on the 2,000 x 2 data, against one EM
  iteration measured as ``benchmarks/compare.py`` does,
  ``(t[110] - t[10]) / 100``: the call's overhead in iterations (target: 3).

oneDAL runs in its own virtualenv in a child process (``benchmarks/onedal.py``),
timed there; without it its column says "not available" and the rest runs.

A single call after another library's call runs on cold caches (this machine's
virtual CPUs lose much of their state in a few milliseconds of other work, or even
of sleep: a 0.3 ms numpy loop takes 30-50% longer after a 10-30 ms pause). With
``--calls N`` each sample of the default-fit rows is instead the median of N
back-to-back calls of one implementation (same data and seed), as ``timeit`` or a
cross-validation loop calls it; the implementations stay interleaved.

Usage::

    python benchmarks/wholefit.py                  # 11 repeats
    python benchmarks/wholefit.py --repeats 5 --onedal off
    python benchmarks/wholefit.py --smoke          # tiny sizes: checks that it runs
    python benchmarks/wholefit.py --calls 5        # back-to-back calls (warm)
"""

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import onedal  # noqa: E402
from compare import (Workload, initial_parameters, machine_description,  # noqa: E402
                     make_data)

import fastgmm  # noqa: E402
from fastgmm._openmp_helpers import effective_n_threads  # noqa: E402

try:
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
except ImportError:  # optional: the `bench` extra installs it
    SkGaussianMixture = None

FASTGMM, SKLEARN, ONEDAL = "fastgmm", "scikit-learn", "oneDAL em_gmm"
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def load_faithful():
    """Old Faithful (272 x 2: eruption minutes, waiting minutes)."""
    return np.loadtxt(HERE / "data" / "faithful.csv", delimiter=",", skiprows=1,
                      usecols=(1, 2))


def load_iris():
    from sklearn.datasets import load_iris as sklearn_iris
    return sklearn_iris().data


@dataclass
class Case:
    name: str
    description: str
    n_components: int
    covariance_type: str
    load: object        # () -> X

    def data(self):
        return np.ascontiguousarray(self.load(), dtype=np.float64)


def cases(smoke):
    """The rows of the table (smaller data with ``smoke``)."""
    def synthetic(n, d, k, kind):
        return lambda: make_data(Workload("x", n, d, k, kind))
    big = 20_000 if smoke else 1_000_000
    medium = 2_000 if smoke else 20_000
    rows = [Case("faithful", "Old Faithful 272 x 2, K=3, full", 3, "full", load_faithful)]
    if SkGaussianMixture is not None:
        rows.append(Case("iris", "iris 150 x 4, K=3, full", 3, "full", load_iris))
    rows += [
        Case("small", "2,000 x 2, K=4, full", 4, "full", synthetic(2_000, 2, 4, "full")),
        Case("medium", f"{medium:,} x 8, K=8, diag", 8, "diag",
             synthetic(medium, 8, 8, "diag")),
        Case("large", f"{big:,} x 2, K=3, full", 3, "full", synthetic(big, 2, 3, "full")),
    ]
    return rows


# ------------------------------------------------------------------ fitting

def _quiet_fit(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X)


def fit_default(impl, X, case, seed, n_threads, peer):
    """One default whole fit: (seconds, n_iter, mean log-likelihood)."""
    if impl == ONEDAL:
        return peer.default_fit(case.name, case.n_components, case.covariance_type,
                                tol=1e-3, max_iter=100, seed=seed)
    if impl == FASTGMM:
        model = fastgmm.GaussianMixture(case.n_components,
                                        covariance_type=case.covariance_type,
                                        random_state=seed, n_threads=n_threads)
    else:
        model = SkGaussianMixture(case.n_components, covariance_type=case.covariance_type,
                                  random_state=seed)
    t0 = time.perf_counter()
    _quiet_fit(model, X)
    return time.perf_counter() - t0, model.n_iter_, model.lower_bound_


def fit_grid(impl, X, seed, n_threads, max_components):
    """The selection loop: every covariance type and K=1..max_components, n_init=3.
    Returns (seconds, best BIC)."""
    best = np.inf
    t0 = time.perf_counter()
    for kind in COVARIANCE_TYPES:
        for k in range(1, max_components + 1):
            if impl == FASTGMM:
                model = fastgmm.GaussianMixture(k, covariance_type=kind, n_init=3,
                                                random_state=seed, n_threads=n_threads)
            else:
                model = SkGaussianMixture(k, covariance_type=kind, n_init=3,
                                          random_state=seed)
            best = min(best, _quiet_fit(model, X).bic(X))
    return time.perf_counter() - t0, best


def _given_start(X, n_components):
    workload = Workload("small", X.shape[0], X.shape[1], n_components, "full")
    weights, means, covariances = initial_parameters(X, workload)
    return dict(weights_init=weights, means_init=means,
                precisions_init=np.linalg.inv(covariances)), (weights, means, covariances)


def fit_given(impl, X, init, start, n_iter, n_threads, peer, tol):
    """A fit from given parameters with ``n_iter`` iterations: seconds."""
    K = len(init["weights_init"])
    if impl == ONEDAL:
        return peer.fit("small", start, "full", n_iter, tol)[0]
    if impl == FASTGMM:
        model = fastgmm.GaussianMixture(K, max_iter=n_iter, tol=tol, n_threads=n_threads,
                                        **init)
    else:
        model = SkGaussianMixture(K, max_iter=n_iter, tol=tol,
                                  init_params="random_from_data", **init)
    t0 = time.perf_counter()
    _quiet_fit(model, X)
    return time.perf_counter() - t0


# ------------------------------------------------------------------ measuring

def _median(values):
    return statistics.median(values) if values else None


def measure_case(case, impls, repeats, n_threads, peer, calls=1):
    X = case.data()
    impls = [i for i in impls if i != ONEDAL or case.covariance_type in
             onedal.COVARIANCE_TYPES]
    if ONEDAL in impls:
        peer.load(case.name, X)
    runs = {impl: [] for impl in impls}
    for seed in range(repeats):
        for impl in impls:
            # ``calls`` back-to-back fits (same seed, same result): their median time.
            fits = [fit_default(impl, X, case, seed, n_threads, peer) for _ in range(calls)]
            seconds = _median([fit[0] for fit in fits])
            runs[impl].append((seconds,) + tuple(fits[0][1:]))
    cells = {}
    for impl, values in runs.items():
        seconds, n_iter, bound = zip(*values)
        cells[impl] = {"seconds": _median(seconds), "n_iter": _median(n_iter),
                       "mean_log_likelihood": _median(bound)}
    return {"name": case.name, "description": case.description, "n_samples": X.shape[0],
            "cells": cells}


def measure_grid(impls, repeats, n_threads, max_components):
    X = load_faithful()
    impls = [i for i in impls if i != ONEDAL]
    runs = {impl: [] for impl in impls}
    for seed in range(repeats):
        for impl in impls:
            runs[impl].append(fit_grid(impl, X, seed, n_threads, max_components))
    cells = {impl: {"seconds": _median([s for s, _ in v]),
                    "best_bic": _median([b for _, b in v])} for impl, v in runs.items()}
    return {"name": "grid", "description": f"4 types x K=1..{max_components} on Old "
            "Faithful, n_init=3 (a loop)", "n_samples": X.shape[0], "cells": cells}


def measure_given(impls, repeats, n_threads, peer):
    """max_iter=1 from given parameters, and one iteration, on 2,000 x 2, K=4."""
    X = make_data(Workload("small", 2_000, 2, 4, "full"))
    init, start = _given_start(X, 4)
    if ONEDAL in impls:
        peer.load("small", X)
    lo, hi = 10, 110
    samples = {impl: {"one": [], lo: [], hi: []} for impl in impls}
    for _ in range(repeats):
        for impl in impls:
            samples[impl]["one"].append(fit_given(impl, X, init, start, 1, n_threads, peer,
                                                  1e-3))
            for n_iter in (lo, hi):
                samples[impl][n_iter].append(fit_given(impl, X, init, start, n_iter,
                                                       n_threads, peer, 0.0))
    cells = {}
    for impl, s in samples.items():
        per_iteration = max((_median(s[hi]) - _median(s[lo])) / (hi - lo), 1e-12)
        cells[impl] = {"seconds": _median(s["one"]), "seconds_per_iteration": per_iteration,
                       "in_iterations": _median(s["one"]) / per_iteration}
    return {"name": "given", "description": "fit from given parameters, max_iter=1, "
            "2,000 x 2, K=4, full", "n_samples": X.shape[0], "cells": cells}


# ------------------------------------------------------------------ report

def _ms(seconds):
    return "" if seconds is None else f"{1e3 * seconds:.3g} ms" if seconds < 1 else \
        f"{seconds:.3g} s"


def format_report(header, rows, impls, peer):
    others = [i for i in impls if i != FASTGMM]
    lines = [header, "",
             "| data | " + " | ".join(impls) + " | "
             + " | ".join(f"{i} / fastgmm" for i in others) + " |",
             "|---|" + "---:|" * (len(impls) + len(others))]
    for row in rows:
        cells = row["cells"]
        shown, ratios = [], []
        for impl in impls:
            cell = cells.get(impl)
            if cell is None:
                shown.append(onedal.NOT_AVAILABLE if impl == ONEDAL else "")
                continue
            text = _ms(cell["seconds"])
            if "n_iter" in cell:
                text += f" ({cell['n_iter']:g} it., {cell['mean_log_likelihood']:.4f})"
            if "in_iterations" in cell:
                text += (f" (1 it. {_ms(cell['seconds_per_iteration'])}: "
                         f"{cell['in_iterations']:.1f}x)")
            shown.append(text)
        for impl in others:
            cell = cells.get(impl)
            ratios.append("" if cell is None else
                          f"{cell['seconds'] / cells[FASTGMM]['seconds']:.1f}x")
        lines.append(f"| {row['description']} | " + " | ".join(shown) + " | "
                     + " | ".join(ratios) + " |")
    lines += ["", "Cells: median time (median EM iterations, median final mean "
              "log-likelihood); the given-start row: the fit with max_iter=1 and, in "
              "brackets, one iteration and the fit's time in iterations."]
    if not peer.available:
        lines.append(f"oneDAL: {onedal.NOT_AVAILABLE} ({peer.reason}).")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=None, help="default 11 (smoke: 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="fastgmm and oneDAL threads (default: all usable cores)")
    parser.add_argument("--onedal", choices=["auto", "reuse", "off"], default="auto",
                        help="oneDAL em_gmm peer: create or reuse its virtualenv (auto), "
                             "only reuse it, or skip it")
    parser.add_argument("--calls", type=int, default=1,
                        help="back-to-back calls per sample of the default-fit rows "
                             "(their median; default 1: single, cold calls)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes and one repeat, to check that it runs")
    parser.add_argument("--output", default=None,
                        help="output path without suffix (default: results/wholefit, "
                             "results/wholefit-smoke)")
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error(f"--calls must be at least 1, got {args.calls}")
    repeats = args.repeats or (1 if args.smoke else 11)
    n_threads = args.threads or effective_n_threads(None)
    max_components = 3 if args.smoke else 9
    command = "python " + " ".join([os.path.relpath(sys.argv[0])] + (argv or sys.argv[1:]))
    machine = machine_description()
    impls = [FASTGMM] + ([SKLEARN] if SkGaussianMixture is not None else [])
    with onedal.OneDAL.open(n_threads, args.onedal) as peer:
        machine["versions"]["daal4py"] = (peer.version if peer.available
                                          else f"{onedal.NOT_AVAILABLE} ({peer.reason})")
        impls_all = impls + [ONEDAL]
        active = impls + ([ONEDAL] if peer.available else [])
        header = (f"# Whole fits{' (SMOKE RUN: tiny sizes, numbers mean nothing)' if args.smoke else ''}"
                  f"\n\ncommand: `{command}`  \nmachine: {machine['cpu']}, "
                  f"{machine['cores']} cores; kernels: {machine['kernel_variant']}; "
                  f"fastgmm and oneDAL on {n_threads} threads, scikit-learn on its default "
                  "BLAS threads  \nversions: "
                  + ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
                  + f"  \nBLAS: {'; '.join(machine['blas'])}  \nmethod: median of "
                  f"{repeats} interleaved repeats, repeat r with random_state=r"
                  + ("" if args.calls == 1 else
                     f"; a default-fit sample is the median of {args.calls} back-to-back "
                     "calls"))
        print(header, flush=True)
        rows = []
        for case in cases(args.smoke):
            rows.append(measure_case(case, active, repeats, n_threads, peer, args.calls))
            print(f"  {case.description}: done", flush=True)
        rows.append(measure_grid(active, repeats, n_threads, max_components))
        rows.append(measure_given(active, repeats, n_threads, peer))
        report = format_report(header, rows, impls_all, peer)
    print("\n" + report.split("\n", 1)[1].split("\n\n", 1)[1])
    out = Path(args.output) if args.output else HERE / "results" / (
        "wholefit-smoke" if args.smoke else "wholefit")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(report + "\n")
    out.with_suffix(".json").write_text(json.dumps(
        {"command": command, "machine": machine, "threads": n_threads, "repeats": repeats,
         "calls": args.calls, "smoke": args.smoke, "rows": rows}, indent=2))
    print(f"\nmarkdown: {out.with_suffix('.md')}  \nJSON: {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
