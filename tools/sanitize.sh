#!/usr/bin/env bash
# Fuzz the C boundary: run the test suite against a build of fastgmm with Cython's
# memoryview checks on (-Dkernel_checks=true: boundscheck, wraparound,
# initializedcheck) and instrumented with AddressSanitizer + UndefinedBehaviorSanitizer;
# or run the kernel tests under valgrind memcheck.
#
#   tools/sanitize.sh [asan|valgrind|all] [extra pytest arguments]
#
# Everything happens in a separate virtual environment and build directory
# ($FASTGMM_SANITIZE_DIR, default /tmp/fastgmm-sanitize); the developer's editable
# build is not touched. Needs gcc (libasan, libubsan) and, for the valgrind mode,
# valgrind. Not part of CI (a few minutes); exit status 0 means no finding.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${FASTGMM_SANITIZE_DIR:-${TMPDIR:-/tmp}/fastgmm-sanitize}
MODE=${1:-asan}
shift || true
PYTHON=${PYTHON:-python3}

log() { printf '\n== %s\n' "$*" >&2; }

make_venv() {   # make_venv NAME: a venv with the build and test requirements
    local venv="$WORK/$1-venv"
    if [ ! -x "$venv/bin/python" ]; then
        log "creating $venv"
        "$PYTHON" -m venv "$venv" >&2
        "$venv/bin/pip" install -q numpy scipy threadpoolctl cython meson-python meson \
            ninja pytest hypothesis psutil scikit-learn pandas >&2
    fi
    echo "$venv"
}

build() {       # build VENV NAME MESON-ARGS...: install fastgmm built with those options
    local venv=$1 name=$2
    shift 2
    local args=()
    for option in "$@"; do args+=("-Csetup-args=$option"); done
    log "building fastgmm ($name): $*"
    "$venv/bin/pip" install -q --no-build-isolation --no-deps --force-reinstall \
        -Cbuild-dir="$WORK/$name-build" "${args[@]}" "$ROOT"
}

run_asan() {
    local venv
    venv=$(make_venv asan)
    build "$venv" asan -Dkernel_checks=true -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fno-omit-frame-pointer
    local libasan
    libasan=$(gcc -print-file-name=libasan.so)
    log "pytest under AddressSanitizer + UBSan (LD_PRELOAD=$libasan)"
    # Leaks are not reported: CPython keeps memory until exit by design. Resident-memory
    # bounds are skipped (FASTGMM_SANITIZER=1): ASan's quarantine and shadow memory
    # make RSS meaningless. ASan stops at its first finding and writes it to
    # $WORK/reports; UBSan reports every finding not suppressed in tools/ubsan.supp
    # (known ones, each tracked by a strict xfail test) on stderr, so pytest runs
    # without capturing (-s) and its output is searched afterwards.
    local reports="$WORK/reports"
    rm -rf "$reports" && mkdir -p "$reports"
    local status=0
    (cd "$ROOT" && \
     FASTGMM_SANITIZER=1 LD_PRELOAD="$libasan" \
     ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:detect_stack_use_after_return=1:log_path="$reports/asan" \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0:suppressions="$ROOT/tools/ubsan.supp" \
     "$venv/bin/python" -m pytest -q -s -p no:cacheprovider "$@" 2>&1) \
        | tee "$reports/pytest.log" || status=$?
    if compgen -G "$reports/asan*" > /dev/null \
            || grep -q -e "runtime error:" -e "ERROR: AddressSanitizer" "$reports/pytest.log"; then
        log "sanitizer findings"
        cat "$reports"/asan* 2>/dev/null || true
        grep -A 12 -e "runtime error:" "$reports/pytest.log" || true
        return 1
    fi
    return "$status"
}

run_valgrind() {
    local venv
    venv=$(make_venv valgrind)
    build "$venv" valgrind -Dkernel_checks=true -Dbuildtype=debugoptimized
    log "kernel tests under valgrind memcheck"
    # PYTHONMALLOC=malloc lets memcheck see every Python allocation. CPython, the
    # dynamic loader and glibc report a few dozen known false positives of their own,
    # so the verdict counts only errors with a frame in fastgmm's extension modules.
    local reports="$WORK/reports"
    rm -rf "$reports" && mkdir -p "$reports"
    local status=0
    (cd "$ROOT" && \
     FASTGMM_SANITIZER=1 PYTHONMALLOC=malloc OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 \
     valgrind --tool=memcheck --track-origins=yes --errors-for-leak-kinds=none \
        --show-leak-kinds=none --xml=yes --xml-file="$reports/memcheck-%p.xml" \
        "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        tests/test_kernels.py tests/test_em.py::test_fit_matches_reference_em "$@") \
        || status=$?
    "$venv/bin/python" - "$reports" <<'PY'
import glob, sys
import xml.etree.ElementTree as ET
ours, others = [], 0
for path in glob.glob(f"{sys.argv[1]}/memcheck-*.xml"):
    for error in ET.parse(path).getroot().iter("error"):
        frames = [(f.findtext("obj") or "", f.findtext("fn") or "?")
                  for f in error.iter("frame")]
        if any("/fastgmm/" in obj for obj, _ in frames):
            ours.append(f"{error.findtext('kind')}: " + " <- ".join(fn for _, fn in frames[:6]))
        else:
            others += 1
print(f"memcheck: {len(ours)} error(s) in fastgmm, {others} elsewhere (CPython, ld.so, libc)")
for line in ours:
    print("  " + line)
sys.exit(1 if ours else 0)
PY
    return "$status"
}

mkdir -p "$WORK"
case "$MODE" in
    asan) run_asan "$@" ;;
    valgrind) run_valgrind "$@" ;;
    all) run_asan "$@" && run_valgrind "$@" ;;
    *) echo "usage: $0 [asan|valgrind|all] [pytest arguments]" >&2; exit 2 ;;
esac
log "no sanitizer finding ($MODE)"
