#!/usr/bin/env bash
# Build the documentation site into docs/_build/html, with every Sphinx warning
# turned into an error (-W) and all of them reported before failing (--keep-going).
#
#   tools/build_docs.sh [extra sphinx-build arguments]
#
# Needs fastgmm installed (autodoc imports it) and the `docs` extra
# (pip install ".[docs]"), plus scikit-learn and pandas, which the examples use.
# Nothing is fetched from the network.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
OUT="$ROOT/docs/_build/html"

cd "$ROOT/docs"
# The examples draw their figures off-screen.
export MPLBACKEND=Agg
"$PYTHON" -m sphinx -b html -W --keep-going \
    -d "$ROOT/docs/_build/doctrees" . "$OUT" "$@"
echo "documentation: $OUT/index.html"
