"""Plain vs accelerated EM (SQUAREM): passes over X, time, final log-likelihood.

Every fit starts from the same given parameters and runs to ``tol`` (``max_iter``
20,000); ``n_iter`` counts passes over X for both, so the pass counts are
comparable and deterministic (times are medians of interleaved repeats).

Problems:

* **overlap**: three overlapping 2-D Gaussians, 20,000 rows, at ``tol=1e-8`` and
  ``1e-10``: unit covariances centred on an equilateral triangle of side 1.6,
  equal weights, drawn with ``numpy.random.default_rng(2)`` (``overlapping_mixture``),
  started from fastgmm's default k-means start with ``random_state=0``. Plain EM
  needs 2,068 passes to 1e-8 and 6,614 to 1e-10 (the issue's unrecorded data set
  took 2,443 and 5,610).
* **W1-W4** of ``benchmarks/compare.py`` (same data and start as there) at
  ``tol=1e-8``; ``--max-rows`` takes the first rows of each data set only.

The accelerated fit ("squarem") is the public
``fastgmm.GaussianMixture(..., acceleration="squarem")``. The other step lengths
(``--step-lengths s1 s2``), which the estimator does not offer, run through
``SquaremMixture`` below: fastgmm's input checks, then
``fastgmm._accelerate.squarem`` over ``kernel_em_step`` (the same EM map on
fastgmm's kernels).

Usage::

    python benchmarks/convergence.py                     # everything, 3 repeats
    python benchmarks/convergence.py --problems overlap --step-lengths s3 s1 s2
    python benchmarks/convergence.py --smoke             # tiny sizes: checks that it runs
"""

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from fastgmm._source import ArraySource

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare import WORKLOADS, initial_parameters, machine_description, make_data  # noqa: E402

import fastgmm  # noqa: E402
from fastgmm._accelerate import kernel_em_step, squarem  # noqa: E402
from fastgmm._mstep import (GaussianParams, covariances_from_precision_cholesky,  # noqa: E402
                            precision_cholesky_from_precisions)
from fastgmm._openmp_helpers import blas_single_thread, effective_n_threads  # noqa: E402
from fastgmm._validation import check_data  # noqa: E402

MAX_ITER = 20_000


class SquaremMixture:
    """Stand-in for ``GaussianMixture(..., acceleration="squarem")`` from a given start.

    Takes the estimator's arguments that a fit from given parameters uses and
    sets the same fitted attributes (``n_iter_`` counts passes over X).
    """

    def __init__(self, n_components, *, covariance_type="full", tol=1e-3, reg_covar=1e-6,
                 max_iter=100, weights_init, means_init, precisions_init, n_threads=None,
                 step_length="s3"):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol, self.reg_covar, self.max_iter = tol, reg_covar, max_iter
        self.weights_init, self.means_init = weights_init, means_init
        self.precisions_init = precisions_init
        self.n_threads = n_threads
        self.step_length = step_length

    def fit(self, X):
        X = check_data(X)
        kind = self.covariance_type
        # The start exactly as fastgmm's _init makes it from given precisions.
        precisions_cholesky = precision_cholesky_from_precisions(
            np.asarray(self.precisions_init, dtype=np.float64), kind)
        start = GaussianParams(np.asarray(self.weights_init, dtype=np.float64).copy(),
                               np.asarray(self.means_init, dtype=np.float64).copy(),
                               covariances_from_precision_cholesky(precisions_cholesky, kind),
                               precisions_cholesky)
        with blas_single_thread():
            step = kernel_em_step(ArraySource(X), kind, reg_covar=self.reg_covar,
                                  n_threads=effective_n_threads(self.n_threads))
            run = squarem(step, start, kind, tol=self.tol, max_iter=self.max_iter,
                          reg_covar=self.reg_covar, step_length=self.step_length)
        self.weights_, self.means_ = run.params.weights, run.params.means
        self.covariances_ = run.params.covariances
        self.n_iter_, self.lower_bound_ = run.n_iter, run.lower_bound
        self.lower_bounds_, self.converged_ = run.lower_bounds, run.converged
        self.run_ = run
        return self


def make_model(method, n_components, **kwargs):
    """The estimator of ``method``: "none" (plain EM), "squarem" (the public
    parameter) or "squarem-s1", "squarem-s2" (the other step lengths)."""
    if method in ("none", "squarem"):
        return fastgmm.GaussianMixture(n_components, acceleration=method, **kwargs)
    return SquaremMixture(n_components, step_length=method.split("-")[1], **kwargs)


# ------------------------------------------------------------------ problems

def overlapping_mixture(n_samples=20_000, seed=2, side=1.6):
    """Three overlapping 2-D Gaussians (unit covariances, equilateral triangle of
    side ``side``, equal weights): shape (n_samples, 2)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [side, 0.0], [0.5 * side, 0.866 * side]])
    labels = rng.choice(3, size=n_samples, p=np.full(3, 1 / 3))
    X = np.empty((n_samples, 2))
    for k in range(3):
        rows = labels == k
        X[rows] = rng.multivariate_normal(centres[k], np.eye(2), size=rows.sum())
    return X


def problems(names, max_rows, smoke):
    """(name, description, X, covariance_type, init kwargs, tolerances) per problem."""
    out = []
    if "overlap" in names:
        n = min(20_000, max_rows)
        X = overlapping_mixture(n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = fastgmm.GaussianMixture(3, max_iter=0, random_state=0).fit(X)
        init = dict(weights_init=start.weights_, means_init=start.means_,
                    precisions_init=start.precisions_)
        out.append(("overlap", f"three overlapping 2-D Gaussians, {n:,} x 2, K=3, full",
                    X, "full", init, (1e-6,) if smoke else (1e-8, 1e-10)))
    for name in ("W1", "W2", "W3", "W4"):
        if name not in names:
            continue
        workload = WORKLOADS[name]
        rows = min(workload.n_samples, max_rows)
        workload = dataclasses.replace(workload, n_samples=rows)
        X = make_data(workload)
        weights, means, covariances = initial_parameters(X, workload)
        kind = workload.covariance_type
        precisions = (np.linalg.inv(covariances) if kind in ("full", "tied")
                      else 1.0 / covariances)
        init = dict(weights_init=weights, means_init=means, precisions_init=precisions)
        description = (f"{name}: {rows:,} x {workload.n_features}, "
                       f"K={workload.n_components}, {kind}")
        out.append((name, description, X, kind, init, (1e-6,) if smoke else (1e-8,)))
    return out


# ------------------------------------------------------------------ measuring

def fit_once(method, X, kind, init, tol, n_threads):
    model = make_model(method, len(init["weights_init"]), covariance_type=kind, tol=tol,
                       max_iter=MAX_ITER, n_threads=n_threads, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        model.fit(X)
        seconds = time.perf_counter() - t0
    return seconds, model


def measure(problem, methods, repeats, n_threads):
    name, description, X, kind, init, tolerances = problem
    rows = []
    for tol in tolerances:
        times = {m: [] for m in methods}
        models = {}
        for _ in range(repeats):
            for method in methods:
                seconds, models[method] = fit_once(method, X, kind, init, tol, n_threads)
                times[method].append(seconds)
        plain = models["none"]
        cells = {}
        for method in methods:
            model = models[method]
            cells[method] = {
                "passes": int(model.n_iter_), "seconds": statistics.median(times[method]),
                "lower_bound": float(model.lower_bound_), "converged": bool(model.converged_),
                "minus_plain": float(model.lower_bound_ - plain.lower_bound_),
                "pass_ratio": plain.n_iter_ / model.n_iter_,
                "time_ratio": statistics.median(times["none"]) / statistics.median(
                    times[method])}
            run = getattr(model, "run_", None)
            if run is not None:
                cells[method].update(extrapolated=run.n_extrapolated,
                                     accepted=run.n_accepted, invalid=run.n_invalid)
        rows.append({"problem": name, "description": description, "tol": tol,
                     "cells": cells})
    return rows


def format_rows(rows, methods):
    lines = ["| problem | tol | " + " | ".join(
        f"{m}: passes, time, final mean log-lik." for m in methods)
        + " | " + " | ".join(f"{m}: fewer passes, less time, minus plain" for m in methods
                             if m != "none") + " |",
        "|---|---:|" + "---:|" * (2 * len(methods) - 1)]
    for row in rows:
        cells = row["cells"]
        left = [f"{c['passes']:,}, {1e3 * c['seconds']:.1f} ms, {c['lower_bound']:.10f}"
                + ("" if c["converged"] else " (not converged)")
                for c in (cells[m] for m in methods)]
        right = [f"{cells[m]['pass_ratio']:.1f}x, {cells[m]['time_ratio']:.1f}x, "
                 f"{cells[m]['minus_plain']:+.1e}" for m in methods if m != "none"]
        lines.append(f"| {row['description']} | {row['tol']:.0e} | " + " | ".join(left)
                     + " | " + " | ".join(right) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", nargs="*", default=["overlap", "W1", "W2", "W3", "W4"],
                        choices=["overlap", "W1", "W2", "W3", "W4"])
    parser.add_argument("--step-lengths", nargs="*", default=["s3"],
                        choices=["s3", "s1", "s2"],
                        help="SQUAREM step lengths to compare (default: s3)")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (smoke: 1)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-rows", type=int, default=None,
                        help="use at most this many rows of each data set")
    parser.add_argument("--smoke", action="store_true",
                        help="2,000 rows, tol=1e-6, one repeat: checks that it runs")
    parser.add_argument("--output", default=None,
                        help="output path without suffix (default: results/convergence, "
                             "results/convergence-smoke)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.smoke else 3)
    max_rows = args.max_rows or (2_000 if args.smoke else 10 ** 12)
    n_threads = args.threads or effective_n_threads(None)
    methods = ["none"] + ["squarem" if s == "s3" else f"squarem-{s}"
                          for s in args.step_lengths]
    command = "python " + " ".join([os.path.relpath(sys.argv[0])] + (argv or sys.argv[1:]))
    machine = machine_description()
    header = (f"# Plain vs accelerated EM{' (SMOKE RUN: tiny sizes, numbers mean nothing)' if args.smoke else ''}"
              f"\n\ncommand: `{command}`  \nmachine: {machine['cpu']}, "
              f"{machine['cores']} cores; kernels: {machine['kernel_variant']}; "
              f"{n_threads} threads  \nversions: "
              + ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
              + f"  \nmethod: same given start for every method, passes = n_iter_ "
              f"(deterministic), times median of {repeats} interleaved repeats; "
              "\"minus plain\": final mean log-likelihood minus plain EM's")
    print(header, flush=True)
    rows = []
    for problem in problems(set(args.problems), max_rows, args.smoke):
        rows += measure(problem, methods, repeats, n_threads)
        print(f"  {problem[1]}: done", flush=True)
    report = header + "\n\n" + format_rows(rows, methods)
    print("\n" + format_rows(rows, methods))
    out = Path(args.output) if args.output else HERE / "results" / (
        "convergence-smoke" if args.smoke else "convergence")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(report + "\n")
    out.with_suffix(".json").write_text(json.dumps(
        {"command": command, "machine": machine, "threads": n_threads, "repeats": repeats,
         "smoke": args.smoke, "rows": rows}, indent=2))
    print(f"\nmarkdown: {out.with_suffix('.md')}  \nJSON: {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
