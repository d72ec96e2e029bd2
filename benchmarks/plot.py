"""Draw the chart of a recorded ``compare.py`` run for the documentation.

Reads a JSON file written by ``benchmarks/compare.py`` (by default
``benchmarks/results/full.json``) and writes its bar chart (milliseconds per EM
iteration of every implementation, and the machine floor, per workload) to a PNG,
by default ``docs/_static/benchmarks.png``, the figure of ``docs/performance.rst``.
Nothing is measured here: the chart shows exactly the numbers in the JSON file.

Usage::

    python benchmarks/plot.py                                  # full.json -> docs
    python benchmarks/plot.py benchmarks/results/quick.json --output /tmp/quick.png
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import compare  # noqa: E402

DEFAULT_INPUT = HERE / "results" / "full.json"
DEFAULT_OUTPUT = HERE.parent / "docs" / "_static" / "benchmarks.png"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="?", default=str(DEFAULT_INPUT),
                        help="a JSON file written by compare.py (default: %(default)s)")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT),
                        help="the PNG to write (default: %(default)s)")
    args = parser.parse_args(argv)
    with open(args.results, encoding="utf-8") as handle:
        recorded = json.load(handle)
    results = recorded.get("results")
    if not results or any("rows" not in r or "summary" not in r for r in results):
        parser.error(f"{args.results} is not an output of benchmarks/compare.py (no "
                     "'results' with 'rows' and 'summary')")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if compare.plot(results, output) is None:
        return 1
    print(f"{args.results} -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
