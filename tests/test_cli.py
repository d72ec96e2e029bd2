"""The fastgmm command line, end to end: each case runs ``python -m fastgmm`` in a
subprocess on real files in tmp_path and checks its outputs and exit code."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastgmm
from fastgmm import _cli

FAITHFUL = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "faithful.csv"


def run(*args, cwd=None):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "fastgmm", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def faithful():
    with open(FAITHFUL, newline="") as file:
        rows = list(csv.reader(file))
    return np.array([[float(v) for v in row[1:]] for row in rows[1:]])


def reference(model_path):
    """The saved model, to predict the plain arrays of ``faithful()`` in-process (its
    feature names dropped: the CLI matched the columns by name)."""
    model = fastgmm.load(model_path)
    if hasattr(model, "feature_names_in_"):
        del model.feature_names_in_
    return model


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """faithful.csv copied, and a model fitted on its two measurement columns."""
    folder = tmp_path_factory.mktemp("cli")
    data = folder / "faithful.csv"
    shutil.copy(FAITHFUL, data)
    model = folder / "model.npz"
    result = run("fit", data, "-k", 2, "--columns", "eruptions,waiting", "--seed", 0,
                 "-o", model)
    assert result.returncode == 0, result.stderr
    return folder, data, model


def test_fit_writes_the_model_the_library_fits(fitted):
    folder, data, model_path = fitted
    model = fastgmm.load(model_path)
    expected = fastgmm.GaussianMixture(2, random_state=0).fit(faithful())
    np.testing.assert_allclose(model.means_, expected.means_, rtol=1e-10)
    assert model.covariance_type == "full" and model.n_features_in_ == 2


def test_fit_summary_and_quiet(tmp_path):
    data = tmp_path / "x.npy"
    np.save(data, faithful())
    loud = run("fit", data, "-k", 2, "-t", "diag", "--seed", 1, "-o", tmp_path / "m.npz")
    assert loud.returncode == 0 and "diag" in loud.stderr and "wrote" in loud.stderr
    quiet = run("fit", data, "-k", 2, "--seed", 1, "--quiet", "-o", tmp_path / "q.npz")
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""
    assert fastgmm.load(tmp_path / "q.npz").n_components == 2


def test_csv_without_header_tsv_and_parquet_give_the_same_fit(tmp_path, fitted):
    _, _, model_path = fitted
    X = faithful()
    np.savetxt(tmp_path / "plain.csv", X, delimiter=",")
    np.savetxt(tmp_path / "data.tsv", X, delimiter="\t", header="a\tb", comments="")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1]}), tmp_path / "data.parquet")
    reference = fastgmm.load(model_path).means_
    for name in ("plain.csv", "data.tsv", "data.parquet"):
        out = tmp_path / (name + ".npz")
        result = run("fit", tmp_path / name, "-k", 2, "--seed", 0, "-q", "-o", out)
        assert result.returncode == 0, (name, result.stderr)
        np.testing.assert_allclose(fastgmm.load(out).means_, reference, rtol=1e-10)


def test_predict_labels_and_proba_csv_and_npy(fitted, tmp_path):
    _, data, model_path = fitted
    model = reference(model_path)
    X = faithful()
    result = run("predict", model_path, data, "--columns", "2,3", "-o", tmp_path / "l.csv")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "l.csv").read_text().split()
    assert lines[0] == "label"
    np.testing.assert_array_equal(np.array(lines[1:], dtype=int), model.predict(X))
    result = run("predict", model_path, data, "--columns", "eruptions,waiting", "--proba",
                 "-o", tmp_path / "p.npy")
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict_proba(X))
    stdout = run("predict", model_path, data, "--columns", "eruptions,waiting")
    assert stdout.returncode == 0 and stdout.stdout.split()[0] == "label"
    assert len(stdout.stdout.split()) == X.shape[0] + 1


def test_score_and_sample(fitted, tmp_path):
    _, data, model_path = fitted
    model = reference(model_path)
    X = faithful()
    result = run("score", model_path, data, "--columns", "eruptions,waiting")
    assert result.returncode == 0
    assert float(result.stdout) == pytest.approx(model.score(X), rel=1e-9)
    as_json = json.loads(run("score", model_path, data, "--columns", "eruptions,waiting",
                             "--json").stdout)
    assert as_json["bic"] == pytest.approx(model.bic(X), rel=1e-9)
    result = run("sample", model_path, "-n", 50, "--seed", 3, "--labels",
                 "-o", tmp_path / "s.csv")
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert rows[0] == "eruptions,waiting,component" and len(rows) == 51
    assert {row.rsplit(",", 1)[1] for row in rows[1:]} <= {"0", "1"}
    again = run("sample", model_path, "-n", 50, "--seed", 3, "--labels", "-o", "-")
    assert again.stdout.splitlines() == rows      # same seed, same draw


def test_info_describes_the_model(fitted):
    _, _, model_path = fitted
    result = run("info", model_path)
    assert result.returncode == 0, result.stderr
    text = re.sub(r":\s+", ": ", result.stdout)       # the values are aligned
    for expected in ("fastgmm.GaussianMixture", "components (K): 2", "features (d):",
                     "covariance type: full", "converged:", "log-likelihood:",
                     "features (d): 2: eruptions, waiting",
                     "fitted:", "on 272 samples", "random_state=0", "format 2"):
        assert expected in text, (expected, text)
    info = json.loads(run("info", model_path, "--json").stdout)
    assert info["n_components"] == 2 and info["metadata"]["n_samples"] == 272
    assert info["metadata"]["fastgmm_version"] == fastgmm.__version__


def test_info_of_a_file_without_metadata(tmp_path, fitted):
    """Files saved before fit metadata existed (format 1) still load and describe."""
    _, _, model_path = fitted
    model = fastgmm.load(model_path)
    del model._fit_metadata
    model.save(tmp_path / "old.npz")
    result = run("info", tmp_path / "old.npz")
    assert result.returncode == 0 and "not recorded" in result.stdout


def test_select_prints_the_table_and_writes_the_best(tmp_path):
    if not hasattr(fastgmm, "select"):
        pytest.skip("fastgmm.select (model selection) is not in this version")
    data = tmp_path / "x.npy"
    np.save(data, faithful())
    result = run("select", data, "-k", "1-3", "--models", "full,diag", "--seed", 0,
                 "--table", tmp_path / "t.csv", "-o", tmp_path / "best.npz")
    assert result.returncode == 0, result.stderr
    assert "<- best" in result.stdout and "bic" in result.stdout
    assert len((tmp_path / "t.csv").read_text().splitlines()) == 1 + 6
    assert fastgmm.load(tmp_path / "best.npz").n_components in (1, 2, 3)


# ------------------------------------------------------------------- error paths

def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_data_file(tmp_path):
    result = run("fit", tmp_path / "nope.csv", "-k", 2, "-o", tmp_path / "m.npz")
    assert result.returncode == _cli.EXIT_NO_FILE == 3
    assert "does not exist" in result.stderr and "nope.csv" in result.stderr


def test_missing_model_file(tmp_path):
    np.save(tmp_path / "x.npy", faithful())
    result = run("predict", tmp_path / "nope.npz", tmp_path / "x.npy")
    assert result.returncode == _cli.EXIT_NO_FILE and "model file" in result.stderr


@pytest.mark.parametrize("text, where", [
    ("1,2\n3,4,5\n", "line 2 has 3 fields"),
    ('1,"2\n3,4\n', "cannot be parsed"),
])
def test_unparsable_csv(tmp_path, text, where):
    data = write(tmp_path / "bad.csv", text)
    result = run("fit", data, "-k", 1, "-o", tmp_path / "m.npz")
    assert result.returncode == _cli.EXIT_BAD_CSV == 4, result.stderr
    assert where in result.stderr


def test_binary_file_named_csv(tmp_path):
    data = tmp_path / "bad.csv"
    data.write_bytes(b"\xff\xfe\x00\x81garbage")
    result = run("fit", data, "-k", 1, "-o", tmp_path / "m.npz")
    assert result.returncode == _cli.EXIT_BAD_CSV and "UTF-8" in result.stderr


@pytest.mark.parametrize("text, where", [
    ("a,b\n1,2\n3,x\n", "line 3, column 2 holds the non-numeric value 'x'"),
    ("a,b\n1,2\n3,\n", "line 3, column 2 holds a missing value"),
    ("1,2\nNA,4\n", "line 2, column 1 holds a missing value"),
    ("a,b\n1,2\n3,inf\n", "missing or infinite"),
])
def test_non_numeric_or_missing_values(tmp_path, text, where):
    data = write(tmp_path / "bad.csv", text)
    result = run("fit", data, "-k", 1, "-o", tmp_path / "m.npz")
    assert result.returncode == _cli.EXIT_BAD_VALUES == 5, result.stderr
    assert where in result.stderr


def test_missing_values_in_npy_and_parquet(tmp_path):
    X = faithful()
    X[5, 1] = np.nan
    np.save(tmp_path / "x.npy", X)
    result = run("fit", tmp_path / "x.npy", "-k", 1, "-o", tmp_path / "m.npz")
    assert result.returncode == _cli.EXIT_BAD_VALUES and "row 6, column 2" in result.stderr
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"a": [1.0, None, 3.0], "b": ["u", "v", "w"]}),
                   tmp_path / "x.parquet")
    result = run("fit", tmp_path / "x.parquet", "-k", 1, "-o", tmp_path / "m.npz")
    assert result.returncode == _cli.EXIT_BAD_VALUES and "'a'" in result.stderr
    result = run("fit", tmp_path / "x.parquet", "--columns", "b", "-k", 1,
                 "-o", tmp_path / "m.npz")
    assert result.returncode == _cli.EXIT_BAD_VALUES


def test_wrong_column_count_for_the_model(fitted, tmp_path):
    _, data, model_path = fitted
    for command in (["predict", model_path, data, "--columns", "waiting"],
                    ["score", model_path, data, "--columns", "1,2,3"]):
        result = run(*command)
        assert result.returncode == _cli.EXIT_WRONG_COLUMNS == 6, result.stderr
        assert "fitted on 2" in result.stderr and "column(s)" in result.stderr
    # A model without feature names (fitted on a .npy file) and a 3-column file.
    np.save(tmp_path / "x.npy", faithful())
    assert run("fit", tmp_path / "x.npy", "-k", 2, "-o", tmp_path / "m.npz").returncode == 0
    np.savetxt(tmp_path / "three.csv", np.hstack([faithful(), faithful()[:, :1]]),
               delimiter=",")
    result = run("predict", tmp_path / "m.npz", tmp_path / "three.csv")
    assert result.returncode == 6 and "has 3 column(s)" in result.stderr


def test_row_names_are_skipped_and_model_columns_found_by_name(fitted, tmp_path):
    """R's write.csv (and pandas' to_csv) write row names under an empty header: a
    fit without --columns leaves them out, and predict/score pick the model's
    columns by name without --columns, with no warning."""
    _, data, model_path = fitted
    model = reference(model_path)
    X = faithful()
    result = run("fit", data, "-k", 2, "--seed", 0, "-o", tmp_path / "all.npz")
    assert result.returncode == 0 and "272 rows x 2 columns" in result.stderr
    assert list(fastgmm.load(tmp_path / "all.npz").feature_names_in_) == ["eruptions",
                                                                          "waiting"]
    result = run("predict", model_path, data, "-o", tmp_path / "l.csv")
    assert result.returncode == 0 and result.stderr.count("warning") == 0, result.stderr
    labels = np.array((tmp_path / "l.csv").read_text().split()[1:], dtype=int)
    np.testing.assert_array_equal(labels, model.predict(X))
    result = run("score", model_path, data)
    assert result.returncode == 0 and not result.stderr, result.stderr
    assert float(result.stdout) == pytest.approx(model.score(X), rel=1e-9)
    # Columns picked by number that are not the model's: computed, with a warning.
    result = run("predict", model_path, data, "--columns", "1,2", "-o", tmp_path / "w.csv")
    assert result.returncode == 0 and "are not the model's" in result.stderr


def test_invalid_model_file(tmp_path):
    bad = write(tmp_path / "bad.npz", "not a zip")
    np.save(tmp_path / "x.npy", faithful())
    for command in (["info", bad], ["predict", bad, tmp_path / "x.npy"],
                    ["sample", bad, "-n", 3]):
        result = run(*command)
        assert result.returncode == _cli.EXIT_BAD_MODEL == 7
        assert "not a valid fastgmm model file" in result.stderr


@pytest.mark.parametrize("args, where", [
    (["fit", "x.csv", "-o", "m.npz"], "-k"),                    # K missing
    (["fit", "x.csv", "-k", "0", "-o", "m.npz"], "not an integer >= 1"),
    (["fit", "x.csv", "-k", "2", "-t", "round", "-o", "m.npz"], "invalid choice"),
    (["select", "x.csv", "-k", "5-2"], "not a range"),
    (["select", "x.csv", "--models", "full,round"], "covariance types"),
    (["frobnicate"], "invalid choice"),
    ([], "COMMAND"),
])
def test_bad_arguments(tmp_path, args, where):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == _cli.EXIT_USAGE == 2
    assert where in result.stderr


def test_bad_arguments_found_after_parsing(tmp_path):
    np.save(tmp_path / "x.npy", faithful())
    write(tmp_path / "x.xlsx", "")
    unknown = run("fit", tmp_path / "x.xlsx", "-k", 1, "-o", tmp_path / "m.npz")
    assert unknown.returncode == _cli.EXIT_USAGE and "unknown data format" in unknown.stderr
    column = run("fit", tmp_path / "x.npy", "--columns", "7", "-k", 1,
                 "-o", tmp_path / "m.npz")
    assert column.returncode == _cli.EXIT_USAGE and "numbered 1 to 2" in column.stderr


def test_failed_fit_exit_code(tmp_path):
    np.save(tmp_path / "x.npy", faithful()[:3])
    result = run("fit", tmp_path / "x.npy", "-k", 5, "-o", tmp_path / "m.npz")
    assert result.returncode == _cli.EXIT_FAILED == 1
    assert "n_samples >= n_components" in result.stderr
    assert not (tmp_path / "m.npz").exists()


def test_help_explains_every_option():
    top = run("--help")
    assert top.returncode == 0
    for command in ("fit", "predict", "score", "sample", "select", "info"):
        assert command in top.stdout
    assert "exit codes" in top.stdout and "wrong number of columns" in top.stdout
    fit_help = run("fit", "--help").stdout
    for option in ("--covariance-type", "--n-init", "--seed", "--threads", "--columns",
                   "--quiet", "--output"):
        assert option in fit_help
    assert "--proba" in run("predict", "--help").stdout


def test_progress_line_only_on_a_terminal(tmp_path, monkeypatch, capsys):
    """On a terminal (faked: stderr.isatty) fit shows the progress line; piped, not."""
    np.save(tmp_path / "x.npy", faithful())

    class Terminal:
        def __init__(self):
            self.text = []

        def write(self, text):
            self.text.append(text)

        def flush(self):
            pass

        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code = _cli.main(["fit", str(tmp_path / "x.npy"), "-k", "2", "--seed", "0",
                      "-o", str(tmp_path / "m.npz")])
    assert code == 0
    written = "".join(terminal.text)
    assert "\riteration 1/100" in written and "converged" in written
    monkeypatch.undo()
    piped = run("fit", tmp_path / "x.npy", "-k", 2, "--seed", 0, "-o", tmp_path / "n.npz")
    assert "lower bound" not in piped.stderr and "\r" not in piped.stderr


def test_console_script_is_declared():
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert 'fastgmm = "fastgmm._cli:console_main"' in text
    script = shutil.which("fastgmm", path=os.path.dirname(sys.executable))
    if script is not None:        # installed (not before the next pip install)
        assert subprocess.run([script, "--version"], capture_output=True,
                              text=True).stdout.startswith("fastgmm ")


def test_models_option_names_the_mclust_family():
    from fastgmm._validation import MCLUST_MODELS
    assert _cli._parse_models("mclust") == list(MCLUST_MODELS)
    assert _cli._parse_models("full,EII,mclust") == ["full", *MCLUST_MODELS]
    assert _cli.build_parser().parse_args(["select", "x.csv"]).models == [
        "full", "tied", "diag", "spherical"]
    import argparse
    with pytest.raises(argparse.ArgumentTypeError, match="or mclust"):
        _cli._parse_models("full,XYZ")
