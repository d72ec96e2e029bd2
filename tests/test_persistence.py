"""Saving and loading models (.npz without pickle), and pickling the estimator.

Damaged and tampered files are cases of the bad-input matrix (test_validation,
entry point ``load``); here: bit-exact round trips, the format itself, atomic
writes, and that loading never executes anything.
"""

import io
import os
import pickle
import warnings
import zipfile

import numpy as np
import pytest

import fastgmm
from conftest import COVARIANCE_TYPES, init_from_params, make_mixture, random_params
from fastgmm import ConvergenceWarning, GaussianMixture

X, _ = make_mixture(500, 3, 3, seed=6)
FITTED_ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_",
                     "precisions_cholesky_", "converged_", "n_iter_", "lower_bound_",
                     "lower_bounds_", "n_features_in_")


def _assert_identical(loaded, original):
    """Every hyper-parameter and fitted attribute equal, bit for bit, same types."""
    assert type(loaded) is GaussianMixture
    for name, value in original.get_params().items():
        other = loaded.get_params()[name]
        if isinstance(value, np.ndarray):
            assert np.array_equal(other, value), name
        elif isinstance(value, (np.random.RandomState, np.random.Generator)):
            assert type(other) is type(value)
        else:
            assert other == value and type(other) is type(value), name
    for name in FITTED_ATTRIBUTES:
        a, b = getattr(loaded, name), getattr(original, name)
        assert type(a) is type(b), name
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, name
            assert a.tobytes() == b.tobytes(), name
        else:
            assert a == b, name
    assert np.array_equal(loaded.predict_proba(X), original.predict_proba(X))
    assert np.array_equal(loaded.score_samples(X), original.score_samples(X))


def _round_trip(model, tmp_path):
    path = tmp_path / "model.npz"
    model.save(path)
    return fastgmm.load(path)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_is_bit_exact(covariance_type, dtype, tmp_path):
    model = GaussianMixture(3, covariance_type=covariance_type, random_state=0, tol=1e-4,
                            reg_covar=1e-5, n_init=2, init_params="k-means++",
                            verbose_interval=7, n_threads=2).fit(X.astype(dtype))
    _assert_identical(_round_trip(model, tmp_path), model)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_round_trip_keeps_initial_parameters(covariance_type, tmp_path):
    params = random_params(covariance_type, 3, 3, seed=1)
    init = init_from_params(params, covariance_type)
    model = GaussianMixture(3, covariance_type=covariance_type, **init).fit(X)
    loaded = _round_trip(model, tmp_path)
    _assert_identical(loaded, model)
    for name in init:
        assert np.array_equal(getattr(loaded, name), getattr(model, name))


def test_unconverged_and_zero_iteration_models_round_trip(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        unconverged = GaussianMixture(3, max_iter=2, tol=0.0, random_state=0).fit(X)
    assert not unconverged.converged_
    _assert_identical(_round_trip(unconverged, tmp_path), unconverged)
    params = random_params("full", 3, 3, seed=2)
    initial_only = GaussianMixture(3, max_iter=0, **init_from_params(params, "full")).fit(X)
    assert initial_only.lower_bound_ == -np.inf and initial_only.lower_bounds_ == []
    _assert_identical(_round_trip(initial_only, tmp_path), initial_only)


@pytest.mark.parametrize("make_state", [
    lambda: np.random.RandomState(7),
    lambda: np.random.default_rng(7),
    lambda: np.random.Generator(np.random.MT19937(7)),
    lambda: np.random.Generator(np.random.Philox(7)),
    lambda: np.random.Generator(np.random.SFC64(7)),
    lambda: np.random.Generator(np.random.PCG64DXSM(7)),
])
def test_random_generator_state_round_trips(make_state, tmp_path):
    model = GaussianMixture(3, random_state=make_state()).fit(X)
    loaded = _round_trip(model, tmp_path)
    _assert_identical(loaded, model)
    # The generator continues exactly where the saved one stood.
    assert np.array_equal(loaded.sample(50)[0], model.sample(50)[0])


def test_warm_start_continues_identically_after_loading(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GaussianMixture(3, warm_start=True, max_iter=3, tol=0.0,
                                random_state=0).fit(X)
        loaded = _round_trip(model, tmp_path)
        model.fit(X)
        loaded.fit(X)
    _assert_identical(loaded, model)


def test_file_format(tmp_path):
    """The documented layout: a zip of .npy arrays, versioned, no object arrays."""
    model = GaussianMixture(2, random_state=0).fit(X)
    path = tmp_path / "model.npz"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
    assert all(name.endswith(".npy") for name in names)
    with np.load(path, allow_pickle=False) as npz:
        entries = {name: npz[name] for name in npz.files}
    assert str(entries["fastgmm_format"]) == "fastgmm.GaussianMixture"
    assert entries["format_version"] == 2 and entries["format_version"].dtype == np.int64
    assert str(entries["fastgmm_version"]) == fastgmm.__version__
    assert not any(array.dtype.hasobject for array in entries.values())
    assert {"weights_init", "means_init", "precisions_init"}.isdisjoint(entries)


def test_fit_metadata_describes_the_fit_and_survives_pickle_and_save(tmp_path):
    """The metadata are formatted when first read, with the fit's own time, and a
    pickle or a file made before that reading holds the same."""
    import time
    before = time.time()
    model = GaussianMixture(2, random_state=0, n_threads=1).fit(X.astype(np.float32))
    after = time.time()
    clone = pickle.loads(pickle.dumps(model))        # before any reading
    meta = model._fit_metadata
    stamp = time.mktime(time.strptime(meta["fitted_at"], "%Y-%m-%dT%H:%M:%S+00:00"))
    stamp -= time.timezone                             # mktime reads local time
    assert int(before) - 1 <= stamp <= after + 1
    assert meta["dtype"] == "float32" and meta["n_samples"] == X.shape[0]
    assert meta["n_threads"] == 1 and 0 <= meta["fit_seconds"] <= after - before
    assert clone._fit_metadata == meta
    path = tmp_path / "model.npz"
    clone.save(path)
    loaded = fastgmm.load(path)._fit_metadata         # plus the file's own entries
    assert {key: loaded[key] for key in meta} == meta
    assert GaussianMixture(2)._fit_metadata is None
    del model._fit_metadata
    assert model._fit_metadata is None


def test_save_writes_exactly_the_given_path_and_file_objects(tmp_path):
    model = GaussianMixture(2, random_state=0).fit(X)
    model.save(tmp_path / "model.bin")            # no ".npz" appended
    assert os.listdir(tmp_path) == ["model.bin"]
    buffer = io.BytesIO()
    model.save(buffer)
    assert buffer.getvalue() == (tmp_path / "model.bin").read_bytes()
    _assert_identical(fastgmm.load(io.BytesIO(buffer.getvalue())), model)


def test_interrupted_save_leaves_the_old_file_and_no_debris(tmp_path, monkeypatch):
    import fastgmm._persistence as persistence
    path = tmp_path / "model.npz"
    old = GaussianMixture(2, random_state=0).fit(X)
    old.save(path)
    before = path.read_bytes()

    def failing_savez(file, **entries):
        file.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(persistence.np, "savez", failing_savez)
    with pytest.raises(KeyboardInterrupt):
        GaussianMixture(3, random_state=1).fit(X).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


class _Exploit:
    """Unpickling this object would create ``marker`` (it must never happen)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_loading_never_executes_code(tmp_path):
    marker = tmp_path / "code-was-executed"
    good = tmp_path / "good.npz"
    GaussianMixture(2, random_state=0).fit(X).save(good)
    with np.load(good, allow_pickle=False) as npz:
        entries = dict(npz)
    attacks = {}
    # An object array (pickled inside the .npy member) in place of a real entry,
    # and as an extra entry.
    for name in ("means_", "hyper_parameters", "extra"):
        tampered = dict(entries)
        tampered[name] = np.array([_Exploit(marker)], dtype=object)
        attacks[name] = tampered
    for name, tampered in attacks.items():
        path = tmp_path / f"attack-{name}.npz"
        np.savez(path, **tampered)
        with pytest.raises(ValueError, match="holds Python objects"):
            fastgmm.load(path)
    # A plain pickle file with a .npz name.
    path = tmp_path / "attack-pickle.npz"
    path.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(ValueError, match="not a valid fastgmm model file"):
        fastgmm.load(path)
    assert not marker.exists()
    # The exploit is real: unpickling it does create the marker.
    pickle.loads(pickle.dumps(_Exploit(marker)))
    assert marker.exists()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pickle_round_trip_is_bit_exact(covariance_type):
    model = GaussianMixture(3, covariance_type=covariance_type,
                            random_state=np.random.default_rng(3)).fit(X)
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        _assert_identical(pickle.loads(pickle.dumps(model, protocol=protocol)), model)


def test_pickled_unfitted_estimator_fits_like_the_original():
    model = GaussianMixture(3, covariance_type="diag", random_state=0)
    copy = pickle.loads(pickle.dumps(model))
    assert copy.get_params() == model.get_params() and not hasattr(copy, "means_")
    _assert_identical(copy.fit(X), model.fit(X))
