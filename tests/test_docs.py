"""Cheap checks of the documentation in docs/, without building it with Sphinx.

* Every ``>>>`` example in the .rst pages runs as a doctest and prints what the page
  says (pages with figures need matplotlib and are skipped without it; the figures
  themselves are drawn only by the Sphinx build, tools/build_docs.sh).
* The API reference documents every public name of fastgmm.
* Every repository file the pages mention exists.
"""

import doctest
import re
import shutil
from pathlib import Path

import pytest

import fastgmm

DOCS = Path(__file__).resolve().parents[1] / "docs"
ROOT = DOCS.parent
PAGES = sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts)
EXAMPLE_PAGES = [p for p in PAGES if ">>>" in p.read_text(encoding="utf-8")]
OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

pytestmark = pytest.mark.skipif(not PAGES, reason="no docs/ next to the tests")


def _page_id(path):
    return path.relative_to(DOCS).as_posix()


@pytest.mark.parametrize("page", EXAMPLE_PAGES, ids=_page_id)
def test_page_examples_run(page, tmp_path, monkeypatch):
    text = page.read_text(encoding="utf-8")
    for module in ("sklearn", "pandas"):
        if module in text:
            pytest.importorskip(module)
    if ".. plot::" in text:
        matplotlib = pytest.importorskip("matplotlib")
        matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)          # examples that write files write them here
    # Pages read the repository's data sets as benchmarks/data/<name>.csv (relative to
    # a clone's root, where a reader runs them): a copy of them here.
    shutil.copytree(DOCS.parent / "benchmarks" / "data", tmp_path / "benchmarks" / "data")
    test = doctest.DocTestParser().get_doctest(text, {}, _page_id(page), str(page), 0)
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    report = []
    try:
        runner.run(test, out=report.append, clear_globs=True)
    finally:
        if ".. plot::" in text:
            import matplotlib.pyplot as plt
            plt.close("all")
    assert runner.failures == 0, "".join(report)


def test_api_reference_lists_every_public_name():
    text = (DOCS / "api.rst").read_text(encoding="utf-8")
    documented = set(re.findall(
        r"^\.\. auto(?:class|function|exception|module)::\s+fastgmm\.(\w+)\s*$", text, re.M))
    missing = sorted(set(fastgmm.__all__) - documented)
    assert not missing, f"docs/api.rst does not document {missing}"


def test_mentioned_repository_files_exist():
    pattern = re.compile(r"``((?:\.ci|benchmarks|docs|src|tests|tools)/[\w./-]*\w/?)")
    missing = {}
    for page in PAGES:
        for path in pattern.findall(page.read_text(encoding="utf-8")):
            if path.startswith("docs/_build") or (ROOT / path).exists():
                continue
            missing.setdefault(_page_id(page), []).append(path)
    assert not missing, f"pages mention files that do not exist: {missing}"
