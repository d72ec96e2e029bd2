"""Issue 13, items 4-7: safe model files, interruptible and size-checked sampling,
errors that help.

Cases where a regression could hang or blow up memory run in a child process with a
timeout and an address-space limit (``RLIMIT_AS``), so they fail instead of stalling
CI. Items 1-3, 5 (other methods) and 6a are covered by tests/test_fork.py,
tests/test_init.py and tests/test_interrupts.py, and by the child-process n_init test
below.
"""

import io
import os
import subprocess
import sys
import textwrap
import warnings
import zipfile

import numpy as np
import pytest
from _signals import assert_sigint_stops_between_blocks

import fastgmm
from fastgmm import GaussianMixture

RNG = np.random.default_rng(0)
X2 = np.vstack([RNG.normal(size=(100, 2)), RNG.normal(size=(100, 2)) + 5])
MODEL = GaussianMixture(2, random_state=0).fit(X2)

# A child's preamble: limit the address space to what it uses now plus ``extra``
# MiB, so an allocation of hundreds of MiB fails with MemoryError.
_LIMIT = textwrap.dedent("""
    import resource
    def limit_memory(extra_mib):
        with open("/proc/self/status") as status:
            size = next(int(line.split()[1]) for line in status
                        if line.startswith("VmSize:")) * 1024
        limit = size + extra_mib * 2 ** 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
""")


def _run_child(code, *args, timeout=120, env=None):
    """Run ``code`` in a fresh interpreter; (returncode, output)."""
    result = subprocess.run([sys.executable, "-c", _LIMIT + textwrap.dedent(code), *args],
                            capture_output=True, text=True, timeout=timeout,
                            env=env)
    return result.returncode, result.stdout + result.stderr


def _entries(model=MODEL):
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    with np.load(buffer) as archive:
        return {name: archive[name] for name in archive.files}


def _write(path, entries):
    with open(path, "wb") as file:
        np.savez(file, **entries)
    return path


# ---------------------------------------------------------------------------------
# Item 4: model files
# ---------------------------------------------------------------------------------

def test_save_refuses_n_components_changed_after_fit_and_saves_once_restored(tmp_path):
    gm = GaussianMixture(2, random_state=0).fit(X2)
    gm.set_params(n_components=5)
    path = tmp_path / "model.npz"
    with pytest.raises(ValueError, match=r"n_components was changed to 5 after fitting.*"
                                         r"set n_components=2 again"):
        gm.save(path)
    assert not path.exists() and os.listdir(tmp_path) == []
    gm.set_params(n_components=2)          # the fix the message gives
    gm.save(path)
    loaded = fastgmm.load(path)
    assert loaded.n_components == 2
    assert np.array_equal(loaded.means_, gm.means_)
    assert np.array_equal(loaded.predict(X2), gm.predict(X2))


def test_ill_conditioned_inconsistent_factor_is_refused(tmp_path):
    entries = _entries(GaussianMixture(1, random_state=0).fit(X2))
    entries["covariances_"] = np.diag([1.0, 1e-17])[None]
    factor = np.diag([50.0, 1e8])[None]
    entries["precisions_cholesky_"] = factor
    entries["precisions_"] = factor @ np.swapaxes(factor, 1, 2)
    path = _write(tmp_path / "tampered.npz", entries)
    with pytest.raises(ValueError, match="tampered.npz.*disagree"):
        fastgmm.load(path)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("max_iter", [0, 100])
def test_ill_conditioned_genuine_models_load(covariance_type, max_iter):
    # Columns on scales 1e-6 and 1e5, two of them nearly collinear (full and tied
    # covariances with condition numbers near 1e20).
    base = np.random.default_rng(1).normal(size=(400, 3))
    X = np.column_stack([base[:, 0] * 1e-6, base[:, 0] * 1e-6 + base[:, 1] * 1e-12,
                         base[:, 2] * 1e5])
    X[200:] += [1e-5, 1e-5, 1e6]
    gm = GaussianMixture(2, covariance_type=covariance_type, max_iter=max_iter,
                         random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
    buffer = io.BytesIO()
    gm.save(buffer)
    buffer.seek(0)
    loaded = fastgmm.load(buffer)
    assert np.array_equal(loaded.precisions_cholesky_, gm.precisions_cholesky_)


_INFLATED = """
    import sys
    import numpy as np
    import fastgmm
    limit_memory(300)
    try:
        fastgmm.load(sys.argv[1])
    except ValueError as exc:
        print("VALUE_ERROR", exc)
    except MemoryError:
        print("MEMORY_ERROR")
"""


def _inflated_file(path, name="weights_", n_values=10 ** 8):
    """A model file whose ``name`` entry holds ``n_values`` zeros, deflated."""
    entries = _entries()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=1) as archive:
        for key, value in entries.items():
            if key != name:
                with archive.open(f"{key}.npy", "w") as member:
                    np.lib.format.write_array(member, value, allow_pickle=False)
        with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_2_0(member, {
                "descr": "<f8", "fortran_order": False, "shape": (n_values,)})
            block = bytes(8 * 2 ** 20)
            for _ in range(n_values * 8 // len(block)):
                member.write(block)
            member.write(bytes(n_values * 8 % len(block)))
    return path


def test_inflating_entry_is_refused_from_its_header(tmp_path):
    path = _inflated_file(tmp_path / "bomb.npz")
    assert path.stat().st_size < 8 * 2 ** 20        # a few MiB on disk, 763 MiB inflated
    code, output = _run_child(_INFLATED, str(path))
    assert code == 0, output
    assert "VALUE_ERROR" in output, output
    assert "bomb.npz" in output
    assert "'weights_' declares shape (100000000,)" in output and "imply (2,)" in output


def test_inflated_entry_is_not_read(tmp_path, monkeypatch):
    path = _inflated_file(tmp_path / "bomb.npz", n_values=10 ** 6)
    read = []
    original = np.lib.format.read_array
    monkeypatch.setattr(np.lib.format, "read_array",
                        lambda member, **kw: read.append(member.name) or original(member,
                                                                                  **kw))
    with pytest.raises(ValueError, match="weights_' declares shape"):
        fastgmm.load(path)
    assert "weights_.npy" not in read and "means_.npy" not in read


def test_total_size_is_bounded_by_memory(tmp_path, monkeypatch):
    import fastgmm._persistence as persistence
    monkeypatch.setattr(persistence, "_physical_memory", lambda: 64)  # 64 bytes
    path = tmp_path / "model.npz"
    MODEL.save(path)
    with pytest.raises(ValueError, match="model.npz.*more than half of this machine's"):
        fastgmm.load(path)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "header-only"])
def test_damaged_files_give_a_value_error_naming_the_path(tmp_path, damage):
    good = tmp_path / "good.npz"
    MODEL.save(good)
    data = good.read_bytes()
    damaged = {"truncated": data[:len(data) // 2], "garbage": os.urandom(4096),
               "empty": b"", "header-only": data[:64]}[damage]
    path = tmp_path / f"{damage}.npz"
    path.write_bytes(damaged)
    with pytest.raises(ValueError, match=rf"path='.*{damage}\.npz' is not a valid "
                                         "fastgmm model file") as info:
        fastgmm.load(path)
    assert ".." not in str(info.value)


def test_load_messages_have_no_doubled_period_and_separate_bounds(tmp_path):
    entries = _entries()
    entries["n_iter_"] = np.array(-1)
    with pytest.raises(ValueError) as info:
        fastgmm.load(_write(tmp_path / "m.npz", entries))
    message = str(info.value)
    assert "n_iter_=-1 must be >= 0." in message
    assert ">= 1 and" not in message and ".." not in message
    # A wrapped message that itself ends with a period (fit's checks) is not doubled.
    entries = _entries()
    entries["hyper_parameters"] = np.array(str(entries["hyper_parameters"]).replace(
        '"tol": 0.001', '"tol": -1.0'))
    with pytest.raises(ValueError, match="tol must be") as info:
        fastgmm.load(_write(tmp_path / "m.npz", entries))
    assert ".." not in str(info.value)


def test_save_errors_name_the_users_path(tmp_path):
    target = tmp_path / "missing-directory" / "model.npz"
    with pytest.raises(FileNotFoundError) as info:
        MODEL.save(target)
    assert str(target) in str(info.value) and ".tmp-" not in str(info.value)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------
# Items 5 and 6b: sample in blocks, interruptible, sizes checked
# ---------------------------------------------------------------------------------

def _sample_at_once(model, n_samples):
    """What ``sample`` returned before it drew in blocks (all rows per component)."""
    from fastgmm._model import _sampling_generator
    rng = _sampling_generator(model.random_state)
    counts = rng.multinomial(n_samples, model.weights_ / model.weights_.sum())
    pieces = []
    for k, count in enumerate(counts):
        z = rng.standard_normal((count, model.means_.shape[1]))
        if model.covariance_type == "full":
            z = z @ np.linalg.cholesky(model.covariances_[k]).T
        elif model.covariance_type == "tied":
            z = z @ np.linalg.cholesky(model.covariances_).T
        else:
            z = z * np.sqrt(model.covariances_[k])
        pieces.append(model.means_[k] + z)
    return np.concatenate(pieces), np.repeat(np.arange(len(counts)), counts)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_sample_in_blocks_equals_the_draw_at_once(covariance_type, monkeypatch):
    import fastgmm._model as model_module
    monkeypatch.setattr(model_module, "_SAMPLE_BLOCK_ELEMENTS", 30)   # 15-row blocks
    blocks = []
    original = model_module._sample_block
    monkeypatch.setattr(model_module, "_sample_block",
                        lambda *args: blocks.append(1) or original(*args))
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=4).fit(X2)
    X, y = gm.sample(500)
    X_once, y_once = _sample_at_once(gm, 500)
    assert len(blocks) >= 500 // 15
    assert np.array_equal(X, X_once) and np.array_equal(y, y_once)


_SAMPLE_CHILD = """
    import signal, time
    import numpy as np
    import fastgmm
    import fastgmm._model as model_module
    signal.signal(signal.SIGINT, signal.default_int_handler)
    model_module._SAMPLE_BLOCK_ELEMENTS = 4096          # 1024-row blocks
    original = model_module._sample_block
    def reporting(*args):
        print("BLOCK", time.monotonic_ns(), flush=True)     # see tests/test_interrupts.py
        return original(*args)
    model_module._sample_block = reporting
    rng = np.random.default_rng(0)
    gm = fastgmm.GaussianMixture(2, random_state=0).fit(rng.normal(size=(200, 4)))
    print("READY", flush=True)
    try:
        for _ in range(100):
            gm.sample(1024 * 200)                          # 200 blocks a call
    except KeyboardInterrupt:
        print("KEYBOARD_INTERRUPT", flush=True)
"""


def test_ctrl_c_stops_sample_between_blocks():
    assert_sigint_stops_between_blocks(["-c", textwrap.dedent(_SAMPLE_CHILD)], "sample")


_HUGE_SAMPLE = """
    import sys
    import numpy as np
    import fastgmm
    gm = fastgmm.GaussianMixture(2, random_state=0).fit(
        np.random.default_rng(0).normal(size=(50, 3)))
    limit_memory(200)
    for n_samples in (2 ** 62, 2 ** 63, 2 ** 40):
        try:
            gm.sample(n_samples)
        except ValueError as exc:
            print("VALUE_ERROR", exc)
        except (MemoryError, OverflowError) as exc:
            print("WRONG", type(exc).__name__, exc)
"""


def test_huge_sample_counts_name_n_samples_and_the_memory():
    code, output = _run_child(_HUGE_SAMPLE)
    assert code == 0, output
    assert "WRONG" not in output, output
    for n_samples in (2 ** 62, 2 ** 63, 2 ** 40):
        assert f"VALUE_ERROR n_samples={n_samples} would need" in output, output
    assert "GiB" in output and "array is too big" not in output


_MANY_RESTARTS = """
    import numpy as np
    import fastgmm
    from fastgmm._init import RestartStreams
    X = np.random.default_rng(0).normal(size=(40, 2))
    original = RestartStreams.restart
    started = []
    class Enough(Exception):
        pass
    def restart(self, index):
        started.append(index)
        if len(started) > 3:
            raise Enough
        return original(self, index)
    RestartStreams.restart = restart
    limit_memory(300)
    try:
        fastgmm.GaussianMixture(2, n_init=10 ** 6, random_state=0).fit(X)
    except Enough:
        print("STARTED", started)
    except MemoryError:
        print("MEMORY_ERROR")
"""


def test_a_million_restarts_start_without_creating_their_generators_up_front():
    code, output = _run_child(_MANY_RESTARTS)
    assert code == 0, output
    assert "STARTED [0, 1, 2, 3]" in output, output


# ---------------------------------------------------------------------------------
# Item 7: errors that help
# ---------------------------------------------------------------------------------

def test_structured_dtype_message_gives_a_fix_that_works():
    from numpy.lib import recfunctions
    X = np.zeros(len(X2), dtype=[("a", "f8"), ("b", "f8")])
    X["a"], X["b"] = X2[:, 0], X2[:, 1]
    with pytest.raises(TypeError, match="structured dtype.*structured_to_unstructured"):
        GaussianMixture(2).fit(X)
    fixed = recfunctions.structured_to_unstructured(X, dtype=float)
    GaussianMixture(2, random_state=0).fit(fixed)


def test_dict_of_columns_and_generator_of_rows_messages_give_fixes_that_work():
    columns = {"a": list(X2[:, 0]), "b": list(X2[:, 1])}
    with pytest.raises(TypeError, match=r"X is a dict.*np.column_stack"):
        GaussianMixture(2).fit(columns)
    GaussianMixture(2, random_state=0).fit(np.column_stack(list(columns.values())))
    rows = (row for row in X2)
    with pytest.raises(TypeError, match=r"one-shot iterator.*np.asarray\(list\(X\)\)"):
        GaussianMixture(2).fit(rows)
    GaussianMixture(2, random_state=0).fit(np.asarray(list(row for row in X2)))
    with pytest.raises(TypeError, match="X is a dict"):
        MODEL.predict(columns)


def test_zero_precisions_init_is_not_positive_definite():
    with pytest.raises(ValueError, match=r"precisions_init\[0\] is not positive definite"):
        GaussianMixture(2, precisions_init=np.zeros((2, 2, 2))).fit(X2)


def test_scalar_sample_weights_are_broadcast_and_bools_refused():
    reference = GaussianMixture(2, random_state=0).fit(X2)
    for weight in (2.0, 3, np.float32(0.5), np.array(2.0)):
        gm = GaussianMixture(2, random_state=0).fit(X2, sample_weight=weight)
        assert np.array_equal(gm.means_, reference.means_)
        assert gm.score(X2, sample_weight=weight) == reference.score(X2)
    for weight in (True, np.bool_(False), np.array(True)):
        with pytest.raises(TypeError, match="sample_weight=.* is a bool; pass None"):
            GaussianMixture(2).fit(X2, sample_weight=weight)
    with pytest.raises(ValueError, match="positive finite number"):
        GaussianMixture(2).fit(X2, sample_weight=0.0)
    with pytest.raises(TypeError, match="sample_weight=.* is complex"):
        GaussianMixture(2).fit(X2, sample_weight=1 + 1j)


def test_complex_sample_weight_is_not_told_to_stack_features():
    with pytest.raises(TypeError, match=r"weights are real non-negative") as info:
        GaussianMixture(2).fit(X2, sample_weight=np.ones(len(X2)) + 0j)
    assert "features" not in str(info.value)


def test_weight_range_float64_cannot_normalize_is_refused_plainly_and_the_fix_works():
    weights = np.ones(len(X2))
    weights[::2] = 1e300
    weights[1::2] = 1e-300
    with pytest.raises(ValueError, match="sample_weight spans too wide a range") as info:
        GaussianMixture(2, random_state=0).fit(X2, sample_weight=weights)
    assert "2 rows" not in str(info.value)
    fixed = weights.copy()
    fixed[fixed < fixed.max() * 1e-300] = 0
    gm = GaussianMixture(2, random_state=0).fit(X2, sample_weight=fixed)
    assert np.all(np.isfinite(gm.means_))
    # A wide range that still fits after normalization keeps every weight.
    weights[1::2] = 1e10
    GaussianMixture(2, random_state=0).fit(X2, sample_weight=weights)


def test_object_array_with_none_is_reported_as_missing_values():
    X = X2.astype(object)
    X[3, 1] = None
    with pytest.raises(ValueError, match="X holds 1 None value") as info:
        GaussianMixture(2).fit(X)
    assert "infinite" not in str(info.value)


def test_extreme_and_constant_data_messages():
    X = np.array([[1.7e308, 0.0], [-1.7e308, 1.0], [0.0, 2.0]])
    with pytest.raises(ValueError, match=r"largest column range 3.40e\+308") as info:
        GaussianMixture(1).fit(X)
    assert "inf" not in str(info.value).split("Rescale")[0]
    with pytest.raises(ValueError, match=r"X is constant.*set reg_covar > 0") as info:
        GaussianMixture(1, reg_covar=0.0).fit(np.full((10, 2), 3.0))
    assert "standard deviation" not in str(info.value)
    GaussianMixture(1, reg_covar=1e-6).fit(np.full((10, 2), 3.0))   # the fix works


def test_invalid_kernel_variable_is_named():
    env = dict(os.environ, FASTGMM_KERNELS="avx9")
    code, output = _run_child("import fastgmm", env=env)
    assert code != 0
    assert "FASTGMM_KERNELS='avx9'" in output and "unset it" in output, output


def _corrupted(name, value):
    gm = GaussianMixture(2, random_state=0).fit(X2)
    setattr(gm, name, value(getattr(gm, name).copy()))
    return gm


def _nan_first(array):
    array.flat[0] = np.nan
    return array


@pytest.mark.parametrize("name, value, reason", [
    ("means_", _nan_first, "NaN or infinite"),
    ("weights_", lambda w: -w, "non-negative"),
    ("precisions_cholesky_", lambda u: -u, "diagonal must be positive"),
    ("covariances_", lambda c: c[:1], "shape"),
])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score",
                                    "bic", "sample"])
def test_corrupted_attributes_are_named(name, value, reason, method):
    gm = _corrupted(name, value)
    if method == "sample" and name == "precisions_cholesky_":
        return                              # sample uses covariances_, not the factor
    args = () if method == "sample" else (X2,)
    with pytest.raises(ValueError, match=rf"the model's attribute {name} is invalid "
                                         rf"\(.*{reason}"):
        getattr(gm, method)(*args)


def test_non_positive_definite_covariance_in_sample_is_named():
    gm = _corrupted("covariances_", lambda c: -c)
    with pytest.raises(ValueError, match=r"attribute covariances_ is invalid "
                                         r"\(covariances_\[0\] is not positive definite"):
        gm.sample(10)
    gm = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X2)
    gm.covariances_ = -gm.covariances_
    with pytest.raises(ValueError, match="attribute covariances_ is invalid"):
        gm.sample(10)
