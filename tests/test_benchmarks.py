"""The benchmark's numpy EM computes the same iteration as the reference (so the
comparison in benchmarks/compare.py is between equal computations), and every
benchmark script runs (``--smoke``: tiny sizes; no timing is asserted)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import _reference as ref
from conftest import COVARIANCE_TYPES, assert_rel_close, make_mixture, random_params

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
numpy_em = pytest.importorskip("numpy_em")
compare = pytest.importorskip("compare")
onedal = pytest.importorskip("onedal")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_numpy_em_matches_reference(covariance_type):
    X, _ = make_mixture(1500, 3, 3, seed=1)
    params = random_params(covariance_type, 3, 3, seed=2)
    (w, m, c), bounds = numpy_em.fit(X, params.weights, params.means, params.covariances,
                                     covariance_type, 6)
    (ew, em_, ec), ebounds = ref.em(X, params.weights, params.means, params.covariances,
                                    covariance_type, 6)
    assert_rel_close(w, ew, 1e-9, "weights")
    assert_rel_close(m, em_, 1e-9, "means")
    assert_rel_close(c, ec, 1e-9, "covariances")
    assert_rel_close(bounds, ebounds, 1e-9, "lower bounds")


# ---------------------------------------------------------------------------------
# Every benchmark script runs
# ---------------------------------------------------------------------------------


def test_compare_smoke_runs(tmp_path, capsys):
    pytest.importorskip("sklearn")
    out = tmp_path / "compare.json"
    compare.main(["--smoke", "--onedal", "off", "--output", str(out)])
    result = json.loads(out.read_text())["results"][0]
    assert result["name"] == "small"
    rows = {row["implementation"]: row for row in result["rows"]}
    assert {"numpy EM", "scikit-learn"} <= set(rows)
    assert all(row["max_rel_diff_means"] < 1e-9 for row in rows.values())
    assert "not available" in result["summary"]["onedal"]
    assert "oneDAL em_gmm not available" in capsys.readouterr().out


def test_wholefit_smoke_runs(tmp_path):
    pytest.importorskip("sklearn")
    wholefit = pytest.importorskip("wholefit")
    wholefit.main(["--smoke", "--onedal", "off", "--calls", "2", "--output",
                   str(tmp_path / "wf")])
    report = json.loads((tmp_path / "wf.json").read_text())
    assert report["calls"] == 2
    names = [row["name"] for row in report["rows"]]
    assert names == ["faithful", "iris", "small", "medium", "large", "grid", "given"]
    for row in report["rows"]:
        assert row["cells"]["fastgmm"]["seconds"] > 0
        assert "oneDAL em_gmm" not in row["cells"]
    faithful = report["rows"][0]["cells"]
    assert np.isfinite(faithful["fastgmm"]["mean_log_likelihood"])
    assert report["rows"][-1]["cells"]["fastgmm"]["in_iterations"] > 0
    markdown = (tmp_path / "wf.md").read_text()
    assert "SMOKE RUN" in markdown and "not available" in markdown
    assert "median of 2 back-to-back calls" in markdown
    with pytest.raises(SystemExit):
        wholefit.main(["--smoke", "--onedal", "off", "--calls", "0"])


def test_convergence_smoke_runs(tmp_path):
    convergence = pytest.importorskip("convergence")
    convergence.main(["--smoke", "--problems", "overlap", "W1", "--output",
                      str(tmp_path / "cv")])
    rows = json.loads((tmp_path / "cv.json").read_text())["rows"]
    assert [row["problem"] for row in rows] == ["overlap", "W1"]
    for row in rows:
        plain, fast = row["cells"]["none"], row["cells"]["squarem"]
        assert plain["converged"] and fast["converged"]
        assert fast["passes"] < plain["passes"]
        assert fast["minus_plain"] > -row["tol"]
    assert "SMOKE RUN" in (tmp_path / "cv.md").read_text()


def test_onedal_off_is_reported_not_available():
    peer = onedal.OneDAL.open(1, "off")
    assert not peer.available and "off" in peer.reason
    workload = compare.WORKLOADS["small"]
    assert compare.ONEDAL not in compare.implementations([1], workload, peer)
    peer.close()


def test_onedal_child_matches_fastgmm_when_installed():
    """oneDAL from the same start takes the same EM steps (its own regularization
    makes it differ slightly). Needs an existing benchmarks/.venv-daal4py."""
    peer = onedal.OneDAL.open(1, "reuse")
    if not peer.available:
        pytest.skip(f"oneDAL {peer.reason}")
    with peer:
        workload = compare.WORKLOADS["small"]
        X = compare.make_data(workload)
        start = compare.initial_parameters(X, workload)
        peer.load("small", X)
        seconds, n_iter, mean_ll, means = peer.fit("small", start, "full", 5, 0.0)
        ours = compare.run_fit("fastgmm (1 thr)", X, start, "full", 5)[0]
        assert seconds > 0 and n_iter == 5 and np.isfinite(mean_ll)
        np.testing.assert_allclose(means, ours, rtol=1e-3, atol=1e-3)
        seconds, n_iter, mean_ll = peer.default_fit("small", 4, "full", seed=0)
        assert seconds > 0 and 1 <= n_iter <= 100 and np.isfinite(mean_ll)


def test_selection_smoke_runs(tmp_path):
    pytest.importorskip("sklearn")
    selection = pytest.importorskip("selection")
    report = selection.main(["--smoke", "--output", str(tmp_path / "sel")])
    assert [row["name"] for row in report["rows"]] == ["faithful", "mixture"]
    assert any("mclust not available" in note for note in report["notes"])
    for row in report["rows"]:
        cells = row["cells"]
        assert {selection.FAST4, selection.SKLEARN} <= set(cells)
        assert all(cell["median_seconds"] > 0 for cell in cells.values())
        assert all(np.isfinite(cell["bic"]) for cell in cells.values())
        assert f"{selection.SKLEARN} / {selection.FAST4}" in row["ratios"]
    assert "ratio" in (tmp_path / "sel.txt").read_text()


def test_selection_starts_smoke_runs(tmp_path):
    pytest.importorskip("sklearn")
    starts = pytest.importorskip("selection_starts")
    lines = starts.main(["--smoke", "--output", str(tmp_path / "starts.txt")])
    rows = [line for line in lines if line.startswith("  ") and "Ward tree" not in line]
    assert any("Ward tree" in line for line in lines)
    assert [row.split()[0] for row in rows] == ["ward", "kmeans"]
    assert all("EEE/3" in row and "time x" in row and "EM iterations" in row
               for row in rows)
    assert (tmp_path / "starts.txt").read_text() == "\n".join(lines) + "\n"


def test_em_loop_smoke_runs(tmp_path):
    em_loop = pytest.importorskip("em_loop")
    lines = em_loop.main(["--smoke", "--output", str(tmp_path / "em_loop.txt")])
    assert (tmp_path / "em_loop.txt").read_text().splitlines() == lines
    assert any(line.startswith("select, 14 mclust models") for line in lines)
    assert lines[-1].startswith("one iteration on 2,000 x 2 (Python loop): ")
