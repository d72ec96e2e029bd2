"""A wheel that installs on old Linux: tools/build_wheel.sh, run as a test.

The script builds the wheel, repairs it with auditwheel for manylinux2014 (glibc 2.17)
with an OpenMP runtime built for that glibc vendored, checks that runtime defines
every OpenMP symbol the modules import, installs the wheel into a fresh virtual
environment, and there, with no compiler on PATH, imports fastgmm, checks that the
vendored OpenMP runtime is the one in use, fits with 2 threads and fits in a forked
child. This test then reads the wheel's platform tags the way an installer does
(PEP 600: ``manylinux_X_Y`` installs where glibc >= X.Y) and checks that the wheel
installs on glibc 2.28 (RHEL 8, manylinux_2_28) and, unless the script had to fall
back to manylinux_2_28, on glibc 2.17 (RHEL 7, manylinux2014), and that
``auditwheel show`` agrees.

It is skipped, with the reason in the test summary, only where it cannot run: not
Linux (auditwheel is Linux-only), no source tree or bash, the packaging tools or an
old-glibc OpenMP runtime cannot be had (the script exits with 77), or under
tools/sanitize.sh.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import UNDER_SANITIZER

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "build_wheel.sh"
# PEP 600's aliases for the older manylinux tags.
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def required_glibc(platform_tag):
    """The glibc version a manylinux platform tag asks for, or None if not manylinux.

    >>> required_glibc("manylinux_2_28_x86_64"), required_glibc("manylinux2014_x86_64")
    ((2, 28), (2, 17))
    """
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)_\w+", platform_tag)
    if match:
        return int(match.group(1)), int(match.group(2))
    return _LEGACY_MANYLINUX.get(platform_tag.split("_", 1)[0])


def installs_on(platform_tags, glibc):
    """True if an installer on a system with this glibc accepts one of the tags."""
    required = [required_glibc(tag) for tag in platform_tags]
    return any(version is not None and version <= glibc for version in required)


def test_required_glibc_reads_every_form_of_tag():
    assert required_glibc("manylinux_2_34_x86_64") == (2, 34)
    assert required_glibc("manylinux_2_17_aarch64") == (2, 17)
    assert required_glibc("manylinux2014_x86_64") == (2, 17)
    assert required_glibc("manylinux1_x86_64") == (2, 5)
    assert required_glibc("linux_x86_64") is None
    assert installs_on(["manylinux_2_17_x86_64", "manylinux2014_x86_64"], (2, 28))
    assert not installs_on(["manylinux_2_34_x86_64"], (2, 28))    # the old wheel
    assert not installs_on(["linux_x86_64"], (2, 40))


def test_repaired_wheel_installs_on_old_glibc_and_fits_without_a_compiler(tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("auditwheel and manylinux wheels are Linux-only")
    if not SCRIPT.exists() or shutil.which("bash") is None:
        pytest.skip("needs the source tree's tools/build_wheel.sh and bash")
    if UNDER_SANITIZER:
        pytest.skip("builds a release wheel: nothing for tools/sanitize.sh to check")
    env = {**os.environ, "PYTHON": sys.executable, "FASTGMM_WHEEL_DIR": str(tmp_path)}
    env.pop("FASTGMM_WHEEL_PLAT", None)
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True,
                            timeout=1800, env=env)
    if result.returncode == 77:
        pytest.skip(f"packaging tools unavailable: {result.stderr.strip()[-300:]}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    tag = re.search(r"^tag: (\S+)$", result.stdout, flags=re.M)
    assert tag, result.stdout[-3000:]
    python_tag, abi_tag, platforms = tag.group(1).split("-")
    platform_tags = platforms.split(".")
    assert installs_on(platform_tags, (2, 28)), platform_tags     # RHEL 8, Ubuntu 20.04
    # The script falls back to manylinux_2_28 only when the OpenMP runtime it found
    # needs it; with scikit-learn's current wheels the target is glibc 2.17 (RHEL 7).
    fallback = "cannot tag the wheel manylinux_2_17" in result.stderr
    assert fallback or installs_on(platform_tags, (2, 17)), platform_tags
    # auditwheel's own reading of the repaired wheel.
    shown = re.search(r'is consistent with the\s+following platform tag:\s+"(\S+)"', output)
    assert shown and required_glibc(shown.group(1)) <= (2, 28), output[-3000:]
    assert installs_on([shown.group(1)], min(required_glibc(t) for t in platform_tags))
    assert re.search(r"import \d+ OpenMP symbols, all defined", output), output[-3000:]
    assert "bit-identical to n_threads=1" in result.stdout
    assert "fit in a forked child after a threaded fit: bit-identical" in result.stdout
    print(f"wheel tag: {tag.group(1)}; auditwheel show: {shown.group(1)}")
