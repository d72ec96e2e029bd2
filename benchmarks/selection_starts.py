"""select's starts over mclust's 14-model grid: choice, cells vs mclust, time ratios.

For each data set (Old Faithful, crabs, iris; see ``selection.py``) and each variant
of ``fastgmm.select(X, range(1, 10), covariance_types="mclust", ...)``:

* ``ward``: the default start (restart 0 from Ward's tree of the whitened rows);
* ``kmeans``: ``init_params="kmeans"`` (the start before ``"ward"``);
* ``ward, n_init=2``: Ward's partition, then a standardized k-means restart;
* the same three with ``tol=1e-5`` (closer to mclust's own stopping rule).

it prints the chosen model and its BIC, the number of grid cells whose BIC (lower is
better) is at most mclust's + 0.01 (and + 1.0), out of the cells where mclust has a
value (a fit that fastgmm flags degenerate counts as worse), and the median time of
interleaved repeats as a ratio to the default variant measured in the same run, and
the EM iterations summed over the grid (the kept run of each fit), which do not
depend on the machine's load; and the median time to build the Ward tree.
mclust's table comes from ``mclustBIC`` in an ``Rscript`` child (``selection_mclust.R``);
without R the cell columns say "n/a". ``--mixture`` adds the 20,000 x 4 mixture of
``selection.py`` (where the tree is built on a 2048-row sample), with the first two
variants and without mclust.

Usage::

    python benchmarks/selection_starts.py                 # 5 repeats
    python benchmarks/selection_starts.py --repeats 3 --mclust off
    python benchmarks/selection_starts.py --smoke         # tiny run: checks that it works

The table is printed and written to ``benchmarks/results/selection_starts.txt``
(``--output``).
"""

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare import machine_description  # noqa: E402
from selection import (MclustChild, load_crabs, load_faithful, load_iris,  # noqa: E402
                       make_mixture)

import fastgmm  # noqa: E402
from fastgmm._ward import WardTree  # noqa: E402

VARIANTS = (
    ("ward", {}),
    ("kmeans", {"init_params": "kmeans"}),
    ("ward, n_init=2", {"n_init": 2}),
    ("ward, tol=1e-5", {"tol": 1e-5}),
    ("kmeans, tol=1e-5", {"init_params": "kmeans", "tol": 1e-5}),
    ("ward, n_init=2, tol=1e-5", {"n_init": 2, "tol": 1e-5}),
)


def run(X, params, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        result = fastgmm.select(X, range(1, 10), covariance_types="mclust",
                                random_state=seed, return_models=True, **params)
        return time.perf_counter() - start, result


def em_iterations(result):
    """EM iterations summed over the grid's fits and their restarts' kept runs (a
    load-independent measure of the EM work; restarts not kept are not counted)."""
    return sum(model.n_iter_ for model in result.models.values() if model is not None)


def tree_seconds(X, repeats):
    """Median time to build the Ward tree select builds (once per grid)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        WardTree(X, np.empty(0), np.random.default_rng(0))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cells_vs_mclust(result, reference):
    """(cells <= mclust + 0.01, cells <= mclust + 1, cells compared)."""
    compared = good = near = 0
    for (model, k), theirs in reference.items():
        if not np.isfinite(theirs):
            continue
        row = result.table.row(model, k)
        ours = np.inf if row["degenerate"] or not np.isfinite(row["bic"]) else row["bic"]
        compared += 1
        good += ours <= theirs + 0.01
        near += ours <= theirs + 1.0
    return good, near, compared


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mclust", choices=("auto", "off"), default="auto")
    parser.add_argument("--mixture", action="store_true",
                        help="also the 20,000 x 4 mixture (ward and kmeans, no mclust)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny run (faithful only, 2 variants, 1 repeat, no mclust)")
    parser.add_argument("--output", default=str(HERE / "results" / "selection_starts.txt"),
                        help="path of the text result")
    args = parser.parse_args(argv)
    datasets = [("faithful", load_faithful, VARIANTS, True),
                ("crabs", load_crabs, VARIANTS, True), ("iris", load_iris, VARIANTS, True)]
    if args.mixture:
        datasets.append(("mixture", make_mixture, VARIANTS[:2], False))
    if args.smoke:
        args.repeats, args.mclust = 1, "off"
        datasets = [(name, load, variants[:2], ref) for name, load, variants, ref
                    in datasets[:1]]
    mclust = MclustChild(args.mclust)
    command = " ".join(["python", "benchmarks/selection_starts.py"]
                       + list(argv if argv is not None else sys.argv[1:]))
    machine = machine_description()
    lines = [f"$ {command}",
             f"machine: {machine['cpu']}, {machine['cores']} cores; versions: "
             f"{machine['versions']}; mclust {mclust.version or mclust.reason}",
             "grid: 14 mclust models x K = 1..9, random_state = repeat index (choice and "
             "cells: repeat 0); time: median of interleaved repeats / the 'ward' median",
             "load average at the start (1, 5, 15 min): "
             + ", ".join(f"{value:.1f}" for value in os.getloadavg())]
    print("\n".join(lines))

    def emit(line):
        print(line)
        lines.append(line)

    for name, load, variants, compare in datasets:
        X = np.ascontiguousarray(load(), dtype=np.float64)
        reference = mclust.run(name, X, 9)[2] if mclust.available and compare else None
        if reference is not None:
            best = min((v, m, k) for (m, k), v in reference.items() if np.isfinite(v))
            emit(f"\n{name} {X.shape[0]} x {X.shape[1]}: mclust picks {best[1]}/{best[2]} "
                 f"(bic {best[0]:.2f})")
        else:
            emit(f"\n{name} {X.shape[0]} x {X.shape[1]}")
        times = {label: [] for label, _ in variants}
        first = {}
        for repeat in range(args.repeats):
            for label, params in variants:
                seconds, result = run(X, params, repeat)
                times[label].append(seconds)
                first.setdefault(label, result)
        base = statistics.median(times[variants[0][0]])
        for label, _ in variants:
            best = first[label].best
            cells = ("n/a" if reference is None else
                     "cells <= mclust+0.01: {0}/{2}, <= +1: {1}/{2}".format(
                         *cells_vs_mclust(first[label], reference)))
            ratio = statistics.median(times[label]) / base
            emit(f"  {label:<26} {best.covariance_type}/{best.n_components} "
                 f"bic {best.bic(X):8.2f}   {cells:<38} time x{ratio:5.2f}  "
                 f"EM iterations {em_iterations(first[label]):6d}")
        tree = tree_seconds(X, max(args.repeats, 3))
        emit(f"  building the Ward tree: {tree:.4f} s = {tree / base:.1%} of the default "
             f"grid's median {base:.2f} s (same run)")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return lines


if __name__ == "__main__":
    main()
