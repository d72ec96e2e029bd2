"""Time ``fastgmm.select`` over mclust's 14 models, per model and for the whole grid,
in two builds of fastgmm interleaved in one run (the machine may be shared: only the
ratios of medians taken in the same run mean something).

Per model: ``select(X, range(1, 10), covariance_types=[model], n_jobs=1)``; whole
grid: ``select(X, range(1, 10), covariance_types="mclust")`` (default ``n_jobs``).
Every measurement runs in a child process of the given Python (one per build), so
the builds never share a process; the child repeats each call and keeps the median.

Usage::

    python benchmarks/grid_by_type.py --python A/.venv/bin/python B/.venv/bin/python
    python benchmarks/grid_by_type.py --python ... --data faithful crabs iris --rounds 3
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODELS = ("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE", "EEV",
          "VEV", "EVV", "VVV")

CHILD = r"""
import json, sys, time, warnings
sys.path.insert(0, {here!r})
import selection
import fastgmm
X = {{"faithful": selection.load_faithful, "crabs": selection.load_crabs,
      "iris": selection.load_iris, "mixture": selection.make_mixture}}[{data!r}]()
out = {{}}
def timed(**kwargs):
    times = []
    for _ in range({repeats}):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fastgmm.select(X, range(1, 10), random_state=0, **kwargs)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], result
timed(covariance_types="mclust")                       # warm up
if {per_model}:
    for model in {models!r}:
        out[model] = timed(covariance_types=[model], n_jobs=1)[0]
seconds, result = timed(covariance_types="mclust")
out["grid"] = seconds
out["best"] = str(result.best.covariance_type) + str(result.best.n_components)
out["log_likelihood"] = [float(v) for v in result.table["log_likelihood"]]
print(json.dumps(out))
"""


def run_child(python, data, repeats, per_model):
    code = CHILD.format(here=str(HERE), data=data, repeats=repeats, per_model=per_model,
                        models=MODELS)
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", nargs=2, required=True, metavar=("BASE", "NEW"))
    parser.add_argument("--data", nargs="+", default=["faithful"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-per-model", action="store_true")
    args = parser.parse_args(argv)
    print("command:", " ".join([Path(sys.executable).name] + sys.argv))
    for data in args.data:
        results = {0: [], 1: []}
        for _ in range(args.rounds):
            for which in (0, 1):
                results[which].append(run_child(args.python[which], data, args.repeats,
                                                not args.no_per_model))
        keys = ([] if args.no_per_model else list(MODELS)) + ["grid"]
        print(f"\n{data}: median ms over {args.rounds} interleaved rounds "
              f"(each a median of {args.repeats})")
        print(f"{'':6s} {'base':>9s} {'new':>9s} {'ratio':>7s}")
        for key in keys:
            base = 1e3 * statistics.median(r[key] for r in results[0])
            new = 1e3 * statistics.median(r[key] for r in results[1])
            print(f"{key:6s} {base:9.1f} {new:9.1f} {base / new:7.2f}")
        if not args.no_per_model:
            base = sum(1e3 * statistics.median(r[m] for r in results[0]) for m in MODELS)
            new = sum(1e3 * statistics.median(r[m] for r in results[1]) for m in MODELS)
            print(f"{'sum':6s} {base:9.1f} {new:9.1f} {base / new:7.2f}")
        base_ll = np.array(results[0][-1]["log_likelihood"])
        new_ll = np.array(results[1][-1]["log_likelihood"])
        print(f"best model: base {results[0][-1]['best']}, new {results[1][-1]['best']}; "
              f"max relative log-likelihood difference over the grid's fits "
              f"{np.nanmax(np.abs(new_ll - base_ll) / np.abs(base_ll)):.2e}")


if __name__ == "__main__":
    main()
