"""The compiled EM iterations against the Python EM loop, alternating in one process.

``_em.run_em`` runs the iterations of data in one block in one compiled call
(``_estep.em_iterations``); with ``_em._compiled_iterations`` patched to refuse, the
same fit runs its Python loop instead, with the same iterates bit for bit. This
script times both, call after call (compiled, Python, compiled, ...), and reports
the medians and the time the compiled call saves:

* default fits (k-means start, ``tol=1e-3``): Old Faithful 272 x 2 with K=3, iris
  150 x 4 with K=3, 2,000 x 2 with K=4 (``compare.make_data``);
* fits of 10 and 30 iterations from given parameters on the 2,000 x 2 data (their
  difference over 20 is the time of one iteration);
* ``fastgmm.select(X, range(1, 10), covariance_types="mclust")`` on Old Faithful.

Usage::

    python benchmarks/em_loop.py                 # 200 pairs (the grid: 7)
    python benchmarks/em_loop.py --smoke         # a few pairs: checks that it runs

The table is printed and written to ``benchmarks/results/em_loop.txt``
(``--output``).
"""

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare import Workload, initial_parameters, make_data  # noqa: E402
from wholefit import load_faithful, load_iris  # noqa: E402

import fastgmm  # noqa: E402
import fastgmm._em as em_module  # noqa: E402

COMPILED, PYTHON = "compiled", "Python loop"


def _python_loop(*args):
    return None


def cases(pairs, grid_pairs):
    """(name, pairs, call(seed)) for every row."""
    faithful = load_faithful()
    small = make_data(Workload("small", 2_000, 2, 4, "full"))
    weights, means, covariances = initial_parameters(small, Workload("small", 2_000, 2, 4,
                                                                     "full"))
    given = dict(weights_init=weights, means_init=means,
                 precisions_init=np.linalg.inv(covariances))
    rows = [("Old Faithful 272 x 2, K=3, default fit", pairs,
             lambda seed: fastgmm.GaussianMixture(3, random_state=seed).fit(faithful))]
    try:
        iris = load_iris()
    except ImportError:          # scikit-learn (its bundled iris) is optional here
        iris = None
    if iris is not None:
        rows.append(("iris 150 x 4, K=3, default fit", pairs,
                     lambda seed: fastgmm.GaussianMixture(3, random_state=seed).fit(iris)))
    rows += [
        ("2,000 x 2, K=4, default fit", pairs,
         lambda seed: fastgmm.GaussianMixture(4, random_state=seed).fit(small)),
        ("2,000 x 2, K=4, 10 iterations from given parameters", pairs,
         lambda seed: fastgmm.GaussianMixture(4, max_iter=10, tol=0.0, **given).fit(small)),
        ("2,000 x 2, K=4, 30 iterations from given parameters", pairs,
         lambda seed: fastgmm.GaussianMixture(4, max_iter=30, tol=0.0, **given).fit(small)),
        ("select, 14 mclust models x K=1..9, Old Faithful", grid_pairs,
         lambda seed: fastgmm.select(faithful, range(1, 10), covariance_types="mclust",
                                     random_state=seed)),
    ]
    return rows


def measure(call, pairs):
    """Median seconds of ``call`` with the compiled iterations and with the Python
    loop, alternating."""
    compiled = em_module._compiled_iterations
    times = {COMPILED: [], PYTHON: []}
    call(0)                  # first-call costs (imports, caches) go untimed
    try:
        for seed in range(pairs):
            for mode in (COMPILED, PYTHON):
                em_module._compiled_iterations = compiled if mode == COMPILED else _python_loop
                start = time.perf_counter()
                call(seed)
                times[mode].append(time.perf_counter() - start)
    finally:
        em_module._compiled_iterations = compiled
    return {mode: statistics.median(values) for mode, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200,
                        help="alternating pairs per row (default 200)")
    parser.add_argument("--grid-pairs", type=int, default=7,
                        help="pairs for the selection grid (default 7)")
    parser.add_argument("--smoke", action="store_true", help="3 pairs, 1 for the grid")
    parser.add_argument("--output", default=str(HERE / "results" / "em_loop.txt"),
                        help="path of the text result")
    args = parser.parse_args(argv)
    if args.smoke:
        args.pairs, args.grid_pairs = 3, 1
    command = " ".join(["python", "benchmarks/em_loop.py"]
                       + list(argv if argv is not None else sys.argv[1:]))
    lines = [f"$ {command}", f"{'':55s} {COMPILED:>11s} {PYTHON:>12s}  saved"]
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, pairs, call in cases(args.pairs, args.grid_pairs):
            result = results[name] = measure(call, pairs)
            lines.append(f"{name:55s} {1e3 * result[COMPILED]:8.3f} ms {1e3 * result[PYTHON]:9.3f} ms"
                         f"  {100 * (1 - result[COMPILED] / result[PYTHON]):5.1f} %")
            print(lines[-1], flush=True)
    ten, thirty = ("2,000 x 2, K=4, %d iterations from given parameters" % n
                   for n in (10, 30))
    for mode in (COMPILED, PYTHON):
        per = (results[thirty][mode] - results[ten][mode]) / 20
        lines.append(f"one iteration on 2,000 x 2 ({mode}): {1e3 * per:.4f} ms")
    print("\n".join(lines[-2:]))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(lines) + "\n")
    return lines


if __name__ == "__main__":
    main()
