"""Model selection over a grid: fastgmm.select vs a scikit-learn loop vs R's mclustBIC.

One run times, on each data set, the whole grid K = 1..9 (``--max-components``):

* ``fastgmm 4 types``: ``fastgmm.select(X, range(1, 10))`` over full, tied, diag,
  spherical (all cores: ``n_jobs=None``);
* ``fastgmm 14 types``: the same over mclust's 14 models (``covariance_types=
  "mclust"``), when this build of fastgmm has them;
* ``scikit-learn 4 types``: the loop a scikit-learn user writes,
  ``GaussianMixture(K, covariance_type=t, n_init=..., random_state=r).fit(X)`` then
  ``bic(X)`` for every cell (same K range, same ``n_init``);
* ``mclust 14 types``: ``mclustBIC(X, G=1:9)`` in a child ``Rscript`` process
  (``benchmarks/selection_mclust.R``; the time is measured inside R, without R's start
  and library load). Needs ``Rscript`` with the mclust package (on Debian/Ubuntu:
  ``apt-get install -y r-cran-mclust``); without them the column says "not
  available" and the rest runs.

Data: Old Faithful 272 x 2 and crabs 200 x 5 (the five measurements FL, RW, CL, CW,
BD; ``benchmarks/data``), iris 150 x 4 (scikit-learn's copy), and a 20,000 x 4
mixture of 4 full-covariance components (seeded). Repeats are interleaved (fastgmm,
scikit-learn, mclust, fastgmm, ...); the table gives medians, the ratios of medians
taken in the same run, and each column's chosen model (lowest BIC in scikit-learn's
sign; mclust's highest).

(Not named ``select.py``: the benchmarks folder goes first on ``sys.path`` and would
shadow the standard library's ``select`` module, which ``subprocess`` imports.)

Usage::

    python benchmarks/selection.py                  # 5 repeats
    python benchmarks/selection.py --repeats 3 --mclust off --n-init 1
    python benchmarks/selection.py --smoke          # tiny run: checks that it works
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare import machine_description  # noqa: E402

import fastgmm  # noqa: E402
from fastgmm._select import SKLEARN_TYPES, _mclust_models  # noqa: E402

try:
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
except ImportError:  # optional: the `bench` extra installs it
    SkGaussianMixture = None

FAST4, FAST14, SKLEARN, MCLUST = ("fastgmm 4 types", "fastgmm 14 types",
                                  "scikit-learn 4 types", "mclust 14 types")
R_SCRIPT = HERE / "selection_mclust.R"


# ------------------------------------------------------------------ data

def load_faithful():
    return np.loadtxt(HERE / "data" / "faithful.csv", delimiter=",", skiprows=1,
                      usecols=(1, 2))


def load_crabs():
    return np.loadtxt(HERE / "data" / "crabs.csv", delimiter=",", skiprows=1,
                      usecols=(4, 5, 6, 7, 8))


def load_iris():
    from sklearn.datasets import load_iris as sklearn_iris
    return sklearn_iris().data


def make_mixture(n_samples=20_000, seed=0):
    """4 well separated full-covariance components in 4-D (seeded)."""
    rng = np.random.default_rng(seed)
    K, d = 4, 4
    means = rng.normal(0, 6, (K, d))
    counts = rng.multinomial(n_samples, np.full(K, 1 / K))
    parts = []
    for k in range(K):
        A = rng.normal(size=(d, d))
        parts.append(rng.multivariate_normal(means[k], A @ A.T / d + 0.5 * np.eye(d),
                                             counts[k]))
    return np.concatenate(parts)


def datasets(smoke):
    rows = [("faithful", "Old Faithful 272 x 2", load_faithful),
            ("crabs", "crabs 200 x 5", load_crabs)]
    if SkGaussianMixture is not None:
        rows.append(("iris", "iris 150 x 4", load_iris))
    n = 2_000 if smoke else 20_000
    rows.append(("mixture", f"{n:,} x 4 mixture", lambda: make_mixture(n)))
    return rows[:1] + rows[-1:] if smoke else rows


# ------------------------------------------------------------------ runners

def run_fastgmm(X, types, ks, n_init, seed):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fastgmm.select(X, ks, covariance_types=types, n_init=n_init,
                                random_state=seed)
    seconds = time.perf_counter() - t0
    best = result.best
    return seconds, (best.covariance_type, best.n_components,
                     result.table.row(best.covariance_type, best.n_components)["bic"])


def run_sklearn(X, ks, n_init, seed):
    best = (None, None, np.inf)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind in SKLEARN_TYPES:
            for k in ks:
                try:
                    model = SkGaussianMixture(k, covariance_type=kind, n_init=n_init,
                                              random_state=seed).fit(X)
                except ValueError:      # "ill-defined empirical covariance"
                    continue
                bic = model.bic(X)
                if bic < best[2]:
                    best = (kind, k, bic)
    return time.perf_counter() - t0, best


class MclustChild:
    """``mclustBIC`` in an Rscript child, one data set file per data set."""

    def __init__(self, mode):
        self.reason = None
        self.version = None
        self._files = {}
        self._dir = None
        if mode == "off":
            self.reason = "mclust not available (--mclust off)"
        elif shutil.which("Rscript") is None:
            self.reason = ("mclust not available (no Rscript on PATH; install R and "
                           "mclust, e.g. apt-get install -y r-cran-mclust)")
        else:
            probe = subprocess.run(["Rscript", "-e", "cat(as.character(packageVersion("
                                    "'mclust')))"], capture_output=True, text=True)
            if probe.returncode != 0:
                self.reason = ("mclust not available (Rscript runs but the mclust package "
                               "is missing: apt-get install -y r-cran-mclust)")
            else:
                self.version = probe.stdout.strip()
                self._dir = tempfile.TemporaryDirectory()

    @property
    def available(self):
        return self.reason is None

    def run(self, name, X, max_components):
        """(seconds measured in R, (model, K, BIC in scikit-learn's sign), table)."""
        path = self._files.get(name)
        if path is None:
            path = self._files[name] = os.path.join(self._dir.name, f"{name}.csv")
            np.savetxt(path, X, delimiter=",", fmt="%.17g")
        out = subprocess.run(["Rscript", str(R_SCRIPT), path, str(max_components), "1"],
                             capture_output=True, text=True, check=True).stdout
        lines = out.splitlines()
        seconds = float(next(line for line in lines if line.startswith("times")).split()[1])
        start = lines.index("bic") + 1
        header = [cell.strip('"') for cell in lines[start].split(",")][1:]
        best, table = (None, None, np.inf), {}
        for line in lines[start + 1:]:
            cells = line.split(",")
            k = int(cells[0].strip('"'))
            for model, cell in zip(header, cells[1:]):
                value = np.nan if cell == "NA" else -float(cell)   # to sklearn's sign
                table[(model, k)] = value
                if value < best[2]:
                    best = (model, k, value)
        return seconds, best, table


# ------------------------------------------------------------------ the run

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-components", type=int, default=9)
    parser.add_argument("--n-init", type=int, default=1)
    parser.add_argument("--mclust", choices=("auto", "off"), default="auto")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny run (2 data sets, K=1..3, 1 repeat, no mclust)")
    parser.add_argument("--output", default=str(HERE / "results" / "selection"),
                        help="path stem of the .json and .txt results")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats, args.max_components, args.mclust = 1, 3, "off"
    ks = range(1, args.max_components + 1)
    try:
        mclust_types = _mclust_models()
    except ValueError:
        mclust_types = None
    mclust = MclustChild(args.mclust)
    columns = [FAST4] + ([FAST14] if mclust_types else [])
    columns += [SKLEARN] if SkGaussianMixture is not None else []
    columns += [MCLUST] if mclust.available else []
    report = {"command": " ".join([Path(sys.executable).name, "benchmarks/selection.py"]
                                  + list(argv if argv is not None else sys.argv[1:])),
              "machine": machine_description(), "mclust_version": mclust.version,
              "notes": [reason for reason in (mclust.reason,) if reason],
              "n_init": args.n_init, "max_components": args.max_components, "rows": []}
    if mclust_types is None:
        report["notes"].append("fastgmm 14 types not available (this build has only the "
                               "4 scikit-learn covariance types)")
    for name, description, load in datasets(args.smoke):
        X = np.ascontiguousarray(load(), dtype=np.float64)
        times = {column: [] for column in columns}
        chosen = {}
        for repeat in range(args.repeats):
            for column in columns:
                if column == FAST4:
                    seconds, best = run_fastgmm(X, SKLEARN_TYPES, ks, args.n_init, repeat)
                elif column == FAST14:
                    seconds, best = run_fastgmm(X, mclust_types, ks, args.n_init, repeat)
                elif column == SKLEARN:
                    seconds, best = run_sklearn(X, ks, args.n_init, repeat)
                else:
                    seconds, best, _ = mclust.run(name, X, args.max_components)
                times[column].append(seconds)
                chosen[column] = best
        medians = {column: statistics.median(values) for column, values in times.items()}
        cells = {column: {"median_seconds": medians[column], "model": chosen[column][0],
                          "n_components": chosen[column][1],
                          "bic": float(chosen[column][2])} for column in columns}
        ratios = {}
        for fast in (FAST4, FAST14):
            if fast not in medians:
                continue
            for other in (SKLEARN, MCLUST):
                if other in medians:
                    ratios[f"{other} / {fast}"] = medians[other] / medians[fast]
        report["rows"].append({"name": name, "description": description, "cells": cells,
                               "ratios": ratios})
    text = format_report(report)
    print(text)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2))
    out.with_suffix(".txt").write_text(text + "\n")
    return report


def format_report(report):
    lines = [f"$ {report['command']}",
             f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; "
             f"versions: {report['machine']['versions']}; mclust {report['mclust_version']}",
             f"grid: K = 1..{report['max_components']}, n_init = {report['n_init']}, "
             "medians of interleaved repeats (seconds); choice = (model, K, BIC in "
             "scikit-learn's sign)"]
    lines += [f"note: {note}" for note in report["notes"]]
    for row in report["rows"]:
        lines.append(f"\n{row['description']}")
        for column, cell in row["cells"].items():
            lines.append(f"  {column:<22} {cell['median_seconds']:9.3f} s   "
                         f"{cell['model']}/{cell['n_components']}  {cell['bic']:.2f}")
        for label, ratio in row["ratios"].items():
            lines.append(f"  ratio {label:<40} {ratio:8.1f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
