"""The public API: scikit-learn compatibility, attributes, methods."""

import pickle
import warnings

import numpy as np
import pytest

import fastgmm
from conftest import COVARIANCE_TYPES, make_mixture
from fastgmm import ConvergenceWarning, GaussianMixture, NotFittedError

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.mixture import GaussianMixture as SkGaussianMixture  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def test_public_names():
    assert set(fastgmm.__all__) >= {"GaussianMixture", "fit", "ConvergenceWarning",
                                    "NotFittedError"}
    assert isinstance(fastgmm.__version__, str)
    assert isinstance(fastgmm.openmp_enabled(), bool)


def test_constructor_signature_matches_sklearn():
    ours = GaussianMixture().get_params()
    theirs = SkGaussianMixture().get_params()
    assert set(ours) == set(theirs) | {"n_threads", "on_degenerate", "acceleration",
                                       "callback"}
    for name, value in theirs.items():
        assert ours[name] == value, name


def test_get_set_params_and_clone():
    gm = GaussianMixture(3, covariance_type="diag", n_threads=1)
    assert gm.get_params()["n_components"] == 3
    assert gm.set_params(tol=1e-4, n_init=2) is gm
    assert gm.tol == 1e-4 and gm.n_init == 2
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        gm.set_params(bogus=1)
    copy = clone(gm)
    assert copy is not gm and copy.get_params() == gm.get_params()
    assert "covariance_type='diag'" in repr(gm) and "n_init=2" in repr(gm)


def test_works_in_sklearn_pipeline_and_grid_search():
    X, _ = make_mixture(600, 2, 3, seed=1)
    pipe = make_pipeline(StandardScaler(), GaussianMixture(3, random_state=0))
    pipe.fit(X)
    assert pipe.predict(X).shape == (600,)
    search = GridSearchCV(GaussianMixture(random_state=0), {"n_components": [1, 2, 3]}, cv=3)
    search.fit(X)
    assert search.best_params_["n_components"] == 3


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fitted_attribute_shapes_match_sklearn(covariance_type):
    X, _ = make_mixture(500, 3, 4, seed=2)
    ours = GaussianMixture(4, covariance_type=covariance_type, random_state=0).fit(X)
    theirs = SkGaussianMixture(4, covariance_type=covariance_type, random_state=0).fit(X)
    for name in ["weights_", "means_", "covariances_", "precisions_",
                 "precisions_cholesky_"]:
        assert getattr(ours, name).shape == getattr(theirs, name).shape, name
        assert getattr(ours, name).dtype == np.float64
    assert ours.n_features_in_ == 3
    assert isinstance(ours.converged_, bool) and isinstance(ours.n_iter_, int)
    assert isinstance(ours.lower_bound_, float)
    assert len(ours.lower_bounds_) == ours.n_iter_
    np.testing.assert_allclose(ours.weights_.sum(), 1.0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_precisions_are_inverse_covariances(covariance_type):
    X, _ = make_mixture(800, 3, 3, seed=3)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    if covariance_type in ("full", "tied"):
        eye = np.broadcast_to(np.eye(3), gm.covariances_.shape)
        np.testing.assert_allclose(gm.covariances_ @ gm.precisions_, eye, atol=1e-10)
        # precisions_cholesky_ is upper triangular with U U^T = precisions_.
        U = gm.precisions_cholesky_
        assert np.all(np.tril(U, -1) == 0)
        np.testing.assert_allclose(U @ np.swapaxes(U, -1, -2), gm.precisions_, rtol=1e-12)
    else:
        np.testing.assert_allclose(gm.covariances_ * gm.precisions_, 1.0, rtol=1e-12)


def test_score_is_mean_of_score_samples_and_accepts_weights():
    X, _ = make_mixture(400, 2, 2, seed=4)
    gm = GaussianMixture(2, random_state=0).fit(X)
    log_prob = gm.score_samples(X)
    assert gm.score(X) == pytest.approx(log_prob.mean(), rel=1e-14)
    w = np.random.default_rng(0).uniform(0, 1, 400)
    assert gm.score(X, sample_weight=w) == pytest.approx(np.average(log_prob, weights=w))


def test_fastgmm_fit_function():
    X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    gm = fastgmm.fit(X, 2, random_state=0, covariance_type="spherical")
    assert isinstance(gm, GaussianMixture) and gm.covariance_type == "spherical"
    order = np.argsort(gm.means_[:, 0])
    np.testing.assert_allclose(gm.means_[order], [[1, 2], [10, 2]])
    weighted = fastgmm.fit(X, 2, sample_weight=np.ones(6), random_state=0)
    np.testing.assert_allclose(np.sort(weighted.means_[:, 0]), [1, 10])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_draws_from_the_mixture(covariance_type):
    X, _ = make_mixture(3000, 2, 2, seed=5, separation=6.0)
    gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    draws, labels = gm.sample(40000)
    assert draws.shape == (40000, 2) and labels.shape == (40000,)
    counts = np.bincount(labels, minlength=2) / 40000
    np.testing.assert_allclose(counts, gm.weights_, atol=0.01)
    for k in range(2):
        np.testing.assert_allclose(draws[labels == k].mean(axis=0), gm.means_[k], atol=0.05)
    same, _ = gm.sample(5)
    again, _ = gm.sample(5)
    assert np.array_equal(same, again)  # int random_state: reproducible draws
    with pytest.raises(ValueError, match="n_samples"):
        gm.sample(0)


def test_not_fitted_error_is_value_and_attribute_error():
    gm = GaussianMixture(2)
    X = np.zeros((3, 2))
    for method in (gm.predict, gm.predict_proba, gm.score_samples, gm.score, gm.bic, gm.aic):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            method(X)
    with pytest.raises(NotFittedError):
        gm.sample(2)
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)


def test_pickle_round_trip():
    X, _ = make_mixture(500, 2, 3, seed=6)
    gm = GaussianMixture(3, random_state=0).fit(X)
    copy = pickle.loads(pickle.dumps(gm))
    assert np.array_equal(copy.predict_proba(X), gm.predict_proba(X))
    assert copy.get_params() == gm.get_params()


def test_verbose_prints_progress(capsys):
    X, _ = make_mixture(500, 2, 2, seed=7)
    GaussianMixture(2, verbose=2, verbose_interval=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out and "Iteration 1" in out
    assert "converged" in out and "lower bound" in out


def test_accepts_integer_fortran_strided_and_readonly_input():
    X, _ = make_mixture(600, 3, 2, seed=8)
    reference = GaussianMixture(2, random_state=0).fit(X)
    ints = np.round(X * 1000).astype(np.int64)
    fit_int = GaussianMixture(2, random_state=0).fit(ints)
    np.testing.assert_allclose(fit_int.means_, reference.means_ * 1000, rtol=1e-3)
    variants = [np.asfortranarray(X), np.repeat(X, 2, axis=1)[:, ::2]]
    readonly = X.copy()
    readonly.flags.writeable = False
    variants.append(readonly)
    for variant in variants:
        before = variant.copy()
        gm = GaussianMixture(2, random_state=0).fit(variant)
        np.testing.assert_allclose(gm.means_, reference.means_, rtol=1e-12)
        assert np.array_equal(variant, before)
        np.testing.assert_allclose(gm.score_samples(variant), reference.score_samples(X))


def test_caller_arrays_are_never_modified():
    X, _ = make_mixture(400, 2, 2, seed=9)
    w = np.random.default_rng(1).uniform(0.5, 1.5, 400)
    means = np.array([[0.0, 0.0], [1.0, 1.0]])
    weights = np.array([0.5, 0.5])
    precisions = np.stack([np.eye(2), np.eye(2)])
    arrays = [X, w, means, weights, precisions]
    copies = [a.copy() for a in arrays]
    gm = GaussianMixture(2, means_init=means, weights_init=weights, precisions_init=precisions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X, sample_weight=w)
        gm.fit_predict(X, sample_weight=w)
    gm.predict(X), gm.predict_proba(X), gm.score(X, sample_weight=w), gm.bic(X)
    for original, copy in zip(arrays, copies):
        assert np.array_equal(original, copy)
    assert gm.means_init is means  # hyper-parameters are stored, not copied or changed


def test_openmp_disabled_build_flag_is_reported():
    # Threads only matter when OpenMP is compiled in; either way the answer is a bool.
    from fastgmm._openmp_helpers import effective_n_threads
    assert effective_n_threads(1) == 1
    n = effective_n_threads(None)
    assert n >= 1
    if not fastgmm.openmp_enabled():
        assert n == 1


def test_feature_names_are_recorded_checked_and_saved(tmp_path):
    pandas = pytest.importorskip("pandas")
    X, _ = make_mixture(300, 2, 2, seed=11)
    frame = pandas.DataFrame(X, columns=["length", "width"])
    gm = GaussianMixture(2, random_state=0).fit(frame)
    assert list(gm.feature_names_in_) == ["length", "width"]
    # Arrays still predict, with scikit-learn's warning.
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        labels = gm.predict(X)
    np.testing.assert_array_equal(gm.predict(frame), labels)
    with pytest.raises(ValueError, match=r"feature names \['width', 'length'\].*fitted "
                                         r"with \['length', 'width'\]"):
        gm.predict(frame[["width", "length"]])
    path = tmp_path / "model.npz"
    gm.save(path)
    loaded = fastgmm.load(path)
    assert list(loaded.feature_names_in_) == ["length", "width"]
    # Integer column names are not feature names (as in scikit-learn); a refit on an
    # array forgets the old names.
    assert not hasattr(GaussianMixture(2, random_state=0).fit(pandas.DataFrame(X)),
                       "feature_names_in_")
    gm.fit(X)
    assert not hasattr(gm, "feature_names_in_")


# ---------------------------------------------------------------------------------
# scikit-learn's exception and warning classes (issue 12)
# ---------------------------------------------------------------------------------

_CLASSES_SCRIPT = r"""
import sys, warnings
import numpy as np
ORDER = sys.argv[1]
if ORDER == "before":
    import sklearn.exceptions
import fastgmm
assert ("sklearn" in sys.modules) == (ORDER == "before"), "import fastgmm loaded sklearn"
if ORDER == "after":
    import sklearn.exceptions
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError
X = np.random.default_rng(0).normal(size=(200, 2))
try:
    fastgmm.GaussianMixture().predict(X)
except NotFittedError as exc:
    assert isinstance(exc, fastgmm.NotFittedError) and isinstance(exc, AttributeError)
try:
    fastgmm.GaussianMixture(n_components=2.0).fit(X)
except InvalidParameterError as exc:
    assert isinstance(exc, (ValueError, TypeError))
    assert str(exc).startswith("The 'n_components' parameter of GaussianMixture is")
with warnings.catch_warnings():
    warnings.simplefilter("error")
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    fastgmm.GaussianMixture(2, max_iter=1, tol=0, random_state=0).fit(X)   # silenced
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    warnings.filterwarnings("ignore", category=fastgmm.ConvergenceWarning)
    fastgmm.GaussianMixture(2, max_iter=1, tol=0, random_state=0).fit(X)
assert not caught
import pickle
copy = pickle.loads(pickle.dumps(fastgmm.NotFittedError("x")))
assert isinstance(copy, NotFittedError) and copy.args == ("x",)
print("ok")
"""


@pytest.mark.parametrize("order", ["before", "after"])
def test_sklearn_exception_and_warning_classes_catch_fastgmm_ones(order):
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-c", _CLASSES_SCRIPT, order],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_fastgmm_classes_work_without_sklearn_loaded():
    import subprocess
    import sys
    script = (
        "import sys, warnings, numpy as np, fastgmm\n"
        "assert 'sklearn' not in sys.modules\n"
        "try:\n    fastgmm.GaussianMixture().score(np.ones((3, 2)))\n"
        "except fastgmm.NotFittedError as exc:\n"
        "    assert type(exc) is fastgmm.NotFittedError\n"
        "try:\n    fastgmm.GaussianMixture(max_iter=1.5).fit(np.ones((3, 2)))\n"
        "except ValueError as exc:\n    assert isinstance(exc, TypeError)\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    fastgmm.GaussianMixture(2, max_iter=1, tol=0, random_state=0).fit(\n"
        "        np.random.default_rng(0).normal(size=(50, 2)))\n"
        "assert [type(x.message) for x in w] == [fastgmm.ConvergenceWarning]\n"
        "assert 'sklearn' not in sys.modules\nprint('ok')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize("name, value", [("n_components", 2.0), ("max_iter", 1.5),
                                         ("random_state", "a"), ("tol", -1.0),
                                         ("covariance_type", "banana")])
def test_parameter_errors_are_value_errors_worded_like_sklearn(name, value):
    from sklearn.utils._param_validation import InvalidParameterError
    X, _ = make_mixture(50, 2, 2)
    with pytest.raises(InvalidParameterError,
                       match=f"^The '{name}' parameter of GaussianMixture is invalid: {name} ") as info:
        GaussianMixture(**{name: value}).fit(X)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
    assert isinstance(info.value, fastgmm._validation.InvalidParameterError)


# ---------------------------------------------------------------------------------
# float32 in, float32 out
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_data_give_float32_parameters_and_predictions(covariance_type):
    X64, _ = make_mixture(300, 3, 2, seed=4)
    X32 = X64.astype(np.float32)
    gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X32)
    for name in ("weights_", "means_", "covariances_", "precisions_",
                 "precisions_cholesky_"):
        assert getattr(gm, name).dtype == np.float32, name
    assert gm.predict_proba(X32).dtype == np.float32
    assert gm.score_samples(X32).dtype == np.float32
    assert gm.predict(X32).dtype == np.intp
    # float64 rows (or a float64 model) give float64 predictions, as in scikit-learn.
    assert gm.score_samples(X64).dtype == np.float64
    gm64 = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X64)
    assert gm64.means_.dtype == np.float64
    assert gm64.score_samples(X32).dtype == np.float64
    # Predictions use the float64 parameters EM computed: the float32 outputs are
    # those values rounded.
    internal = gm._params()
    assert internal.means.dtype == np.float64
    np.testing.assert_array_equal(gm.means_, internal.means.astype(np.float32))
    # Parameters set by hand are used as set.
    moved = clone(gm).fit(X32)
    moved.means_ = moved.means_ + np.float32(100)
    assert moved._params().means.dtype == np.float64
    assert np.all(moved.score_samples(X32) < gm.score_samples(X32))
    sk = SkGaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X32)
    assert sk.means_.dtype == gm.means_.dtype


def test_float32_warm_start_continues_from_float64_parameters():
    X, _ = make_mixture(300, 2, 2, seed=5, dtype=np.float32)
    gm = GaussianMixture(2, max_iter=3, tol=0, random_state=0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)
        gm.fit(X)
    straight = GaussianMixture(2, max_iter=6, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        straight.fit(X)
    np.testing.assert_allclose(gm.means_, straight.means_, rtol=1e-6)
    assert gm.means_.dtype == np.float32


# ---------------------------------------------------------------------------------
# Feature names, as scikit-learn handles them
# ---------------------------------------------------------------------------------

def test_feature_name_warnings_match_sklearn():
    pd = pytest.importorskip("pandas")
    X, _ = make_mixture(100, 2, 2, seed=6)
    frame = pd.DataFrame(X, columns=["a", "b"])
    gm = GaussianMixture(2, random_state=0).fit(frame)
    with pytest.warns(UserWarning, match="X does not have valid feature names, but "
                      "GaussianMixture was fitted with feature names"):
        gm.predict(X)
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.warns(UserWarning, match="X has feature names, but GaussianMixture was "
                      "fitted without feature names"):
        gm.score_samples(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GaussianMixture(2, random_state=0).fit(frame).predict(frame)
    gm = GaussianMixture(2, random_state=0).fit(frame)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        gm.predict(frame[["b", "a"]])
    with pytest.raises(ValueError, match="Feature names unseen at fit time:\n- c"):
        gm.predict(frame.rename(columns={"b": "c"}))


def test_mixed_column_name_types_raise_type_error_like_sklearn():
    pd = pytest.importorskip("pandas")
    X, _ = make_mixture(60, 2, 2, seed=7)
    frame = pd.DataFrame(X, columns=["a", 1])
    with pytest.raises(TypeError, match="Feature names are only supported if all input "
                       "features have string names"):
        GaussianMixture(2).fit(frame)
    with pytest.raises(TypeError, match="Feature names are only supported"):
        SkGaussianMixture(2).fit(frame)
    gm = GaussianMixture(2, random_state=0).fit(pd.DataFrame(X))   # int names: none kept
    assert not hasattr(gm, "feature_names_in_")


def test_pyarrow_and_polars_column_names_are_recorded():
    pa = pytest.importorskip("pyarrow")
    pl = pytest.importorskip("polars")
    X, _ = make_mixture(80, 2, 2, seed=8)
    table = pa.table({"x": X[:, 0], "y": X[:, 1]})
    gm = GaussianMixture(2, random_state=0).fit(table)
    assert list(gm.feature_names_in_) == ["x", "y"]
    assert gm.feature_names_in_.dtype == object
    frame = pl.DataFrame({"x": X[:, 0], "y": X[:, 1]})
    gm2 = GaussianMixture(2, random_state=0).fit(frame)
    assert list(gm2.feature_names_in_) == ["x", "y"]
    np.testing.assert_array_equal(gm.means_, gm2.means_)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        gm.predict(X)
    with pytest.raises(ValueError, match="Feature names"):
        gm.predict(pl.DataFrame({"y": X[:, 1], "x": X[:, 0]}))


# ---------------------------------------------------------------------------------
# Rows whose density underflows
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_extreme_rows_score_minus_inf_without_error(covariance_type):
    X, _ = make_mixture(300, 2, 2, seed=9)
    gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    far = np.array([[1e160, 1e160], [-1e300, 1e300], [X[0, 0], X[0, 1]]])
    scores = gm.score_samples(far)
    assert scores[0] == -np.inf and scores[1] == -np.inf
    assert scores[2] == gm.score_samples(X[:1])[0]
    proba = gm.predict_proba(far)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all((proba >= 0) & (proba <= 1))
    labels = gm.predict(far)
    np.testing.assert_array_equal(labels, proba.argmax(axis=1))
    assert gm.score(far) == -np.inf
    # The label of an extreme row is the component of smallest Mahalanobis distance:
    # the one whose posterior share tends to 1 along that direction.
    direction = np.array([[3.0, 1.0]])
    for scale in (1e3, 1e200):
        if scale == 1e3:
            expected = gm.predict(direction * scale)
        else:
            assert gm.predict(direction * scale)[0] == expected[0]
    with pytest.raises(ValueError):      # fit still refuses data it cannot fit
        GaussianMixture(2).fit(np.vstack([X, far]))


# ---------------------------------------------------------------------------------
# The Examples sections of the public docstrings run and print what they show
# ---------------------------------------------------------------------------------

def _public_docstring_objects():
    objects = [("GaussianMixture", GaussianMixture), ("fit", fastgmm.fit)]
    for name in ("fit", "fit_predict", "predict", "predict_proba", "score",
                 "score_samples", "sample", "bic", "aic", "save", "get_params",
                 "set_params", "set_fit_request", "set_score_request",
                 "get_metadata_routing"):
        objects.append((f"GaussianMixture.{name}", getattr(GaussianMixture, name)))
    return objects


@pytest.mark.parametrize("name, obj", _public_docstring_objects(),
                         ids=[n for n, _ in _public_docstring_objects()])
def test_docstring_examples_run(name, obj):
    import doctest
    assert "Examples\n" in obj.__doc__, f"{name} has no Examples section"
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS
                                   | doctest.NORMALIZE_WHITESPACE)
    report = []
    for test in finder.find(obj, name, globs={}):
        runner.run(test, out=report.append)
    assert runner.tries > 0 and runner.failures == 0, "".join(report)
