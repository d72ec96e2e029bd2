"""Bad input, systematically: every public entry point x every kind of bad input.

Each case of the matrix ends in exactly one of two outcomes:

* ``OK``: a correct result, equal to the same call on clean float64 inputs
  (``Case.clean``) and free of NaN and infinity;
* ``Raises(error, argument, match)``: a ValueError or TypeError whose message names
  the argument, matches ``match`` (the value or the specific problem) and says what
  to do.

In every case no warning is emitted and the caller's arrays are left bit for bit as
they were (checked against copies). ``test_matrix_covers_every_entry_point`` fails
when a public method or function is added without cases here.
"""

import copy
import inspect
import io
import re
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import fastgmm
from conftest import at_odd_byte, make_mixture
from fastgmm import ConvergenceWarning, GaussianMixture, NotFittedError, ReseedWarning
from fastgmm._validation import column_ranges, row_chunks

N_COMPONENTS = 2
X_GOOD = make_mixture(60, 2, N_COMPONENTS, seed=0)[0]
FITTED = GaussianMixture(N_COMPONENTS, random_state=0).fit(X_GOOD)

FIT_ENTRIES = ("fit", "fit_predict", "fastgmm.fit")
PREDICT_ENTRIES = ("predict", "predict_proba", "score_samples", "score", "bic", "aic",
                   "icl")
# fastgmm.select validates X and sample_weight as fit does (one-cell grid here).
X_ENTRIES = FIT_ENTRIES + ("fastgmm.select",) + PREDICT_ENTRIES
# Words by which a message says what to do ("must be ..." states the valid values).
FIX_WORDS = ("pass", "use", "set ", "call", "convert", "reshape", "remove", "drop",
             "increase", "rescale", "divide", "must", "impute", "give", "restore",
             "check", "upgrade", "re-save", "load only")


@dataclass(frozen=True)
class Raises:
    error: type
    argument: str
    match: str = ""

    def label(self):
        return self.error.__name__


class _Ok:
    def label(self):
        return "OK"


OK = _Ok()


class _Underflows:
    """Rows far beyond float64's reach of every component: log p = -inf (so score is
    -inf and the criteria +inf), the nearest component's label, a one-hot proba."""

    def label(self):
        return "underflow"

    @staticmethod
    def check(entry, result, n_rows):
        if entry == "score_samples":
            assert result.shape == (n_rows,) and np.all(result == -np.inf)
        elif entry == "score":
            assert result == -np.inf
        elif entry in ("bic", "aic", "icl"):
            assert result == np.inf
        elif entry == "predict_proba":
            assert np.all(np.sort(result, axis=1)[:, -1] == 1.0)
            assert np.all(result.sum(axis=1) == 1.0)
        else:
            assert entry == "predict"
            assert result.shape == (n_rows,) and np.all((result >= 0) &
                                                        (result < N_COMPONENTS))


UNDERFLOWS = _Underflows()


@dataclass(frozen=True)
class Case:
    """One bad (or unusual) input; ``make``/``clean`` build fresh inputs per test."""

    name: str
    make: Callable          # tmp_path -> dict of inputs (X, sample_weight, params, ...)
    outcome: object         # OK or Raises, or a dict {entry group: outcome}
    clean: Callable = None  # tmp_path -> equivalent clean inputs (OK outcomes)
    rtol: float = 1e-12


def _X(factory, **extra):
    return lambda tmp_path: {"X": factory(tmp_path), **extra}


def _const(value):
    return lambda tmp_path: value


def _as64(X):
    return np.array(np.asarray(X), dtype=np.float64)


def _memmap(tmp_path):
    path = tmp_path / "X.dat"
    writer = np.memmap(path, dtype=np.float64, mode="w+", shape=X_GOOD.shape)
    writer[:] = X_GOOD
    writer.flush()
    del writer
    return np.memmap(path, dtype=np.float64, mode="r", shape=X_GOOD.shape)


def _npy_mmap(tmp_path):
    np.save(tmp_path / "X.npy", X_GOOD)
    return np.load(tmp_path / "X.npy", mmap_mode="r")


def _unaligned(tmp_path):
    return at_odd_byte(X_GOOD)


def _readonly(tmp_path):
    X = X_GOOD.copy()
    X.flags.writeable = False
    return X


def _with(value, row=0, col=1):
    X = X_GOOD.copy()
    X[row, col] = value
    return X


def _frame(tmp_path):
    pandas = pytest.importorskip("pandas")
    return pandas.DataFrame(X_GOOD, columns=["a", "b"])


def _named_model():
    """FITTED as if fitted on a DataFrame with columns a, b (its feature names)."""
    model = copy.deepcopy(FITTED)
    model.feature_names_in_ = np.array(["a", "b"], dtype=object)
    return model


def _frame_case(factory):
    """A DataFrame X; predicted by a model fitted on the same columns (a model fitted
    without feature names warns on a DataFrame, as scikit-learn does)."""
    return lambda tmp_path: {"X": factory(tmp_path), "model": _named_model()}


def _frame_with_text(tmp_path):
    pandas = pytest.importorskip("pandas")
    return pandas.DataFrame({"a": X_GOOD[:, 0], "b": ["x"] * len(X_GOOD)})


def _sparse(tmp_path):
    sparse = pytest.importorskip("scipy.sparse")
    return sparse.csr_matrix(X_GOOD)


def _masked(tmp_path):
    X = np.ma.masked_array(X_GOOD.copy())
    X[3, 1] = np.ma.masked
    return X


def _huge_longdouble(tmp_path):
    if np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("longdouble is float64 on this platform")
    X = X_GOOD.astype(np.longdouble)
    X[0, 0] = np.finfo(np.longdouble).max
    return X


def _unfitted_estimator():
    return GaussianMixture(N_COMPONENTS)


def _estimator_with(**params):
    def make(tmp_path):
        model = copy.deepcopy(FITTED)
        model.set_params(**params)
        return {"model": model}
    return make


# ---------------------------------------------------------------------------------
# The cases. An outcome given as a dict depends on the entry group ("fit": the
# fitting entry points, "predict": methods of a fitted model).
# ---------------------------------------------------------------------------------

def _both(outcome):
    return {"fit": outcome, "predict": outcome}


X_CASES = [
    # Accepted and converted (or used as they are): the result equals the clean one.
    Case("list", _X(lambda t: X_GOOD.tolist()), OK, _X(lambda t: X_GOOD)),
    Case("int64", _X(lambda t: np.round(X_GOOD * 100).astype(np.int64)), OK,
         _X(lambda t: np.round(X_GOOD * 100))),
    Case("int8", _X(lambda t: np.round(X_GOOD * 10).astype(np.int8)), OK,
         _X(lambda t: np.round(X_GOOD * 10))),
    Case("uint16", _X(lambda t: np.round(X_GOOD * 10 + 100).astype(np.uint16)), OK,
         _X(lambda t: np.round(X_GOOD * 10 + 100))),
    Case("bool", _X(lambda t: X_GOOD > X_GOOD.mean(axis=0)), OK,
         _X(lambda t: _as64(X_GOOD > X_GOOD.mean(axis=0)))),
    Case("float16", _X(lambda t: X_GOOD.astype(np.float16)), OK,
         _X(lambda t: _as64(X_GOOD.astype(np.float16)))),
    Case("float32", _X(lambda t: X_GOOD.astype(np.float32)), OK,
         _X(lambda t: _as64(X_GOOD.astype(np.float32))), rtol=1e-4),
    Case("longdouble", _X(lambda t: X_GOOD.astype(np.longdouble)), OK, _X(lambda t: X_GOOD)),
    Case("big-endian", _X(lambda t: X_GOOD.astype(">f8")), OK, _X(lambda t: X_GOOD)),
    Case("object-numbers", _X(lambda t: X_GOOD.astype(object)), OK, _X(lambda t: X_GOOD)),
    Case("fortran", _X(lambda t: np.asfortranarray(X_GOOD)), OK, _X(lambda t: X_GOOD)),
    Case("column-strided", _X(lambda t: np.repeat(X_GOOD, 2, axis=1)[:, ::2]), OK,
         _X(lambda t: X_GOOD)),
    Case("row-strided", _X(lambda t: np.repeat(X_GOOD, 2, axis=0)[::2]), OK,
         _X(lambda t: X_GOOD)),
    Case("reversed", _X(lambda t: X_GOOD[::-1]), OK, _X(lambda t: X_GOOD[::-1].copy())),
    Case("read-only", _X(_readonly), OK, _X(lambda t: X_GOOD)),
    Case("memmap", _X(_memmap), OK, _X(lambda t: X_GOOD)),
    Case("npy-mmap", _X(_npy_mmap), OK, _X(lambda t: X_GOOD)),
    Case("unaligned", _X(_unaligned), OK, _X(lambda t: X_GOOD)),
    Case("dataframe", _frame_case(_frame), OK, _X(lambda t: X_GOOD)),
    Case("masked-no-mask", _X(lambda t: np.ma.masked_array(X_GOOD.copy())), OK,
         _X(lambda t: X_GOOD)),
    # Refused: wrong type or dtype.
    Case("None", _X(_const(None)), _both(Raises(TypeError, "X", "got None"))),
    Case("str", _X(_const("abc")), _both(Raises(TypeError, "X", "got a str"))),
    Case("bytes", _X(_const(b"abc")), _both(Raises(TypeError, "X", "got a bytes"))),
    Case("str-array", _X(lambda t: np.array([["a", "b"], ["c", "d"]])),
         _both(Raises(TypeError, "X", "must contain numbers"))),
    Case("bytes-array", _X(lambda t: np.array([[b"a", b"b"], [b"c", b"d"]])),
         _both(Raises(TypeError, "X", "must contain numbers"))),
    Case("nested-str-list", _X(_const([["1", "2"], ["3", "4"]])),
         _both(Raises(TypeError, "X", "must contain numbers.*astype"))),
    Case("complex", _X(lambda t: X_GOOD + 1j), _both(Raises(TypeError, "X", "complex"))),
    Case("datetime", _X(lambda t: np.zeros((4, 2), dtype="datetime64[s]")),
         _both(Raises(TypeError, "X", "dates"))),
    Case("timedelta", _X(lambda t: np.zeros((4, 2), dtype="timedelta64[s]")),
         _both(Raises(TypeError, "X", "dates"))),
    Case("structured", _X(lambda t: np.zeros((4, 2), dtype=[("a", "f8")])),
         _both(Raises(TypeError, "X", "structured dtype.*structured_to_unstructured"))),
    Case("object-junk", _X(lambda t: np.array([[object(), 1], [2, 3]], dtype=object)),
         _both(Raises(TypeError, "X", "dtype object"))),
    Case("object-None", _X(lambda t: np.array([[1.0, None], [2, 3]], dtype=object)),
         _both(Raises(ValueError, "X", "1 None value"))),
    Case("dict", _X(_const({"a": 1})), _both(Raises(TypeError, "X", "is a dict.*column_stack"))),
    Case("dataframe-text", _frame_case(_frame_with_text), _both(Raises(TypeError, "X", "not numbers"))),
    Case("sparse", _X(_sparse), _both(Raises(TypeError, "X", r"sparse.*toarray\(\)"))),
    # Refused: wrong shape.
    Case("ragged", _X(_const([[1, 2], [3]])), _both(Raises(ValueError, "X", "could not be "
                                                                     "converted"))),
    Case("scalar", _X(_const(np.float64(3.0))), _both(Raises(ValueError, "X", "scalar"))),
    Case("1-D", _X(lambda t: X_GOOD[:, 0].copy()),
         _both(Raises(ValueError, "X", r"reshape\(-1, 1\)"))),
    Case("empty-list", _X(_const([])), _both(Raises(ValueError, "X", "1-D"))),
    Case("3-D", _X(lambda t: np.ones((6, 2, 2))), _both(Raises(ValueError, "X", "3-D"))),
    Case("no-rows", _X(lambda t: np.empty((0, 2))), _both(Raises(ValueError, "X", "0 sample"))),
    Case("no-features", _X(lambda t: np.empty((5, 0))),
         _both(Raises(ValueError, "X", "0 features"))),
    Case("0x0", _X(lambda t: np.empty((0, 0))), _both(Raises(ValueError, "X", "0 features"))),
    Case("3-features", _X(lambda t: np.hstack([X_GOOD, X_GOOD[:, :1]])),
         {"fit": OK, "predict": Raises(ValueError, "X", "X has 3 features, but "
                                       "GaussianMixture is expecting 2 features")},
         _X(lambda t: np.hstack([X_GOOD, X_GOOD[:, :1]]))),
    Case("1-row", _X(lambda t: X_GOOD[:1].copy()),
         {"fit": Raises(ValueError, "n_components", "n_samples >= n_components"),
          "predict": OK}, _X(lambda t: X_GOOD[:1].copy())),
    # Refused: values.
    Case("NaN", _X(lambda t: _with(np.nan)), _both(Raises(ValueError, "X", "1 NaN or inf"))),
    Case("+inf", _X(lambda t: _with(np.inf)), _both(Raises(ValueError, "X", "1 NaN or inf"))),
    Case("-inf", _X(lambda t: _with(-np.inf)), _both(Raises(ValueError, "X", "1 NaN or inf"))),
    Case("NaN-float32", _X(lambda t: _with(np.nan).astype(np.float32)),
         _both(Raises(ValueError, "X", "NaN"))),
    Case("longdouble-overflow", _X(_huge_longdouble),
         _both(Raises(ValueError, "X", "after conversion from"))),
    Case("masked", _X(_masked), _both(Raises(ValueError, "X", "1 masked value"))),
    # Predicting such rows is no error: log p = -inf, the nearest component's label.
    Case("scale-1e200", _X(lambda t: X_GOOD * 1e200),
         {"fit": Raises(ValueError, "X", "too large for float64.*Rescale"),
          "predict": UNDERFLOWS}),
]

SAMPLE_WEIGHT_ENTRIES = FIT_ENTRIES + ("fastgmm.select", "score")


def _sw(factory):
    return lambda tmp_path: {"sample_weight": factory(tmp_path)}


def _sw_value(value):
    return _sw(lambda t: value() if callable(value) else value)


def _series(tmp_path):
    pandas = pytest.importorskip("pandas")
    return pandas.Series(np.linspace(0.5, 2, 60))


def _readonly_weights(tmp_path):
    w = np.linspace(0.5, 2, 60)
    w.flags.writeable = False
    return w


SAMPLE_WEIGHT_CASES = [
    Case("ones-list", _sw_value([1.0] * 60), OK, _sw_value(None)),
    Case("ints", _sw_value(lambda: np.arange(60) % 3 + 1), OK,
         _sw_value(lambda: np.arange(60.0) % 3 + 1)),
    Case("bool-all-true", _sw_value(lambda: np.ones(60, dtype=bool)), OK, _sw_value(None)),
    Case("scalar-2", _sw_value(2.0), OK, _sw_value(None)),
    Case("float32", _sw_value(lambda: np.linspace(0.5, 2, 60, dtype=np.float32)), OK,
         _sw_value(lambda: _as64(np.linspace(0.5, 2, 60, dtype=np.float32)))),
    Case("some-zeros", _sw_value(lambda: np.r_[np.zeros(10), np.ones(50)]), OK,
         _sw_value(lambda: np.r_[np.zeros(10), np.ones(50)])),
    Case("huge-1e308", _sw_value(lambda: np.full(60, 1e308)), OK, _sw_value(None), rtol=1e-10),
    Case("tiny-1e-300", _sw_value(lambda: np.full(60, 1e-300)), OK, _sw_value(None),
         rtol=1e-10),
    Case("subnormal", _sw_value(lambda: np.full(60, 5e-324)), OK, _sw_value(None), rtol=1e-10),
    Case("series", _sw(_series), OK, _sw_value(lambda: np.linspace(0.5, 2, 60))),
    Case("read-only", _sw(_readonly_weights), OK, _sw_value(lambda: np.linspace(0.5, 2, 60))),
    Case("big-endian", _sw_value(lambda: np.linspace(0.5, 2, 60).astype(">f8")), OK,
         _sw_value(lambda: np.linspace(0.5, 2, 60))),
    Case("negative", _sw_value(lambda: -np.ones(60)),
         Raises(ValueError, "sample_weight", "60 negative")),
    Case("one-negative", _sw_value(lambda: np.r_[-1.0, np.ones(59)]),
         Raises(ValueError, "sample_weight", "1 negative.*min -1.0")),
    Case("NaN", _sw_value(lambda: np.r_[np.nan, np.ones(59)]),
         Raises(ValueError, "sample_weight", "NaN or infinite")),
    Case("+inf", _sw_value(lambda: np.r_[np.inf, np.ones(59)]),
         Raises(ValueError, "sample_weight", "NaN or infinite")),
    Case("-inf", _sw_value(lambda: np.r_[-np.inf, np.ones(59)]),
         Raises(ValueError, "sample_weight", "NaN or infinite")),
    Case("too-short", _sw_value(lambda: np.ones(59)),
         Raises(ValueError, "sample_weight", "length 59 but X has 60 rows")),
    Case("too-long", _sw_value(lambda: np.ones(61)),
         Raises(ValueError, "sample_weight", "length 61 but X has 60 rows")),
    Case("empty", _sw_value(lambda: np.ones(0)),
         Raises(ValueError, "sample_weight", "length 0 but X has 60 rows")),
    Case("2-D", _sw_value(lambda: np.ones((60, 1))),
         Raises(ValueError, "sample_weight", r"must be 1-D.*np.ravel")),
    Case("bool-scalar", _sw_value(True), Raises(TypeError, "sample_weight", "is a bool")),
    Case("all-zero", _sw_value(lambda: np.zeros(60)),
         Raises(ValueError, "sample_weight", "all zeros")),
    Case("scalar-0", _sw_value(0.0), Raises(ValueError, "sample_weight", "positive finite")),
    Case("scalar-negative", _sw_value(-1.0),
         Raises(ValueError, "sample_weight", "positive finite")),
    Case("scalar-NaN", _sw_value(float("nan")),
         Raises(ValueError, "sample_weight", "positive finite")),
    Case("scalar-inf", _sw_value(float("inf")),
         Raises(ValueError, "sample_weight", "positive finite")),
    Case("scalar-complex", _sw_value(1j), Raises(TypeError, "sample_weight", "complex")),
    Case("complex", _sw_value(lambda: np.ones(60) + 0j),
         Raises(TypeError, "sample_weight", "complex")),
    Case("strings", _sw_value(lambda: np.array(["a"] * 60)),
         Raises(TypeError, "sample_weight", "must contain numbers")),
    Case("Nones", _sw_value([None] * 60), Raises(ValueError, "sample_weight", "60 None value")),
    Case("str", _sw_value("1"), Raises(TypeError, "sample_weight", "got a str")),
]
# Zero weight on all but one row: too few rows to fit two components (score is fine).
SAMPLE_WEIGHT_CASES.append(Case(
    "one-positive", _sw_value(lambda: np.r_[1.0, np.zeros(59)]),
    {"fit": Raises(ValueError, "n_components", "positive sample_weight"), "predict": OK},
    _sw_value(lambda: np.r_[1.0, np.zeros(59)])))


def _params(**params):
    return lambda tmp_path: {"params": params}


def _fresh_params(factory):
    return lambda tmp_path: {"params": factory()}


def _bad(name, value, error, match=None):
    shown = re.escape(repr(value))
    return Case(f"{name}={value!r}"[:40], _params(**{name: value}),
                Raises(error, name, match if match is not None else shown))


HYPER_PARAMETER_CASES = [
    Case("n_components=np.int64", _params(n_components=np.int64(2)), OK,
         _params(n_components=2)),
    Case("n_components=np.uint8", _params(n_components=np.uint8(2)), OK,
         _params(n_components=2)),
    _bad("n_components", 0, ValueError),
    _bad("n_components", -1, ValueError),
    _bad("n_components", 2.5, TypeError),
    _bad("n_components", "2", TypeError),
    _bad("n_components", None, TypeError),
    _bad("n_components", True, TypeError),
    _bad("n_components", [2], TypeError),
    Case("n_components=61", _params(n_components=61),
         Raises(ValueError, "n_components", "n_components = 61, n_samples = 60")),
    _bad("covariance_type", "fancy", ValueError),
    _bad("covariance_type", "FULL", ValueError),
    _bad("covariance_type", None, ValueError),
    _bad("covariance_type", 1, ValueError),
    _bad("covariance_type", ["full"], ValueError),
    Case("tol=np.float32", _params(tol=np.float32(1e-3)), OK,
         _params(tol=float(np.float32(1e-3)))),
    Case("tol=1", _params(tol=1), OK, _params(tol=1.0)),
    _bad("tol", -1.0, ValueError),
    _bad("tol", float("nan"), ValueError),
    _bad("tol", float("inf"), ValueError),
    _bad("tol", "small", TypeError),
    _bad("tol", None, TypeError),
    _bad("tol", True, TypeError),
    _bad("tol", 1j, TypeError),
    Case("reg_covar=0", _params(reg_covar=0), OK, _params(reg_covar=0.0)),
    _bad("reg_covar", -1e-6, ValueError),
    _bad("reg_covar", float("nan"), ValueError),
    _bad("reg_covar", float("inf"), ValueError),
    _bad("reg_covar", 1e301, ValueError),
    _bad("reg_covar", "tiny", TypeError),
    _bad("reg_covar", None, TypeError),
    Case("max_iter=np.int32", _params(max_iter=np.int32(50)), OK, _params(max_iter=50)),
    Case("max_iter=0", _params(max_iter=0), OK, _params(max_iter=0)),
    _bad("max_iter", -1, ValueError),
    _bad("max_iter", 10.0, TypeError),
    _bad("max_iter", "10", TypeError),
    _bad("max_iter", None, TypeError),
    _bad("max_iter", True, TypeError),
    Case("n_init=2", _params(n_init=2), OK, _params(n_init=2)),
    _bad("n_init", 0, ValueError),
    _bad("n_init", 1.5, TypeError),
    _bad("n_init", None, TypeError),
    _bad("init_params", "kmeans2", ValueError),
    _bad("init_params", "KMEANS", ValueError),
    _bad("init_params", None, ValueError),
    Case("random_state=np.int64", _params(random_state=np.int64(3)), OK,
         _params(random_state=3)),
    Case("random_state=RandomState", _fresh_params(
        lambda: {"random_state": np.random.RandomState(5)}), OK,
        _fresh_params(lambda: {"random_state": np.random.RandomState(5)})),
    Case("random_state=Generator", _fresh_params(
        lambda: {"random_state": np.random.default_rng(5)}), OK,
        _fresh_params(lambda: {"random_state": np.random.default_rng(5)})),
    _bad("random_state", "seed", TypeError),
    _bad("random_state", 1.5, TypeError),
    _bad("random_state", True, TypeError),
    _bad("random_state", [1], TypeError),
    _bad("random_state", -5, ValueError),
    _bad("random_state", 2 ** 32, ValueError),
    Case("warm_start=np.bool_", _params(warm_start=np.bool_(True)), OK,
         _params(warm_start=True)),
    _bad("warm_start", "yes", TypeError),
    _bad("warm_start", 1, TypeError),
    _bad("warm_start", None, TypeError),
    _bad("verbose", -1, ValueError),
    _bad("verbose", 1.5, TypeError),
    _bad("verbose", "1", TypeError),
    _bad("verbose_interval", 0, ValueError),
    _bad("verbose_interval", 1.5, TypeError),
    Case("n_threads=-1", _params(n_threads=-1), OK, _params(n_threads=1)),
    Case("n_threads=3", _params(n_threads=3), OK, _params(n_threads=1)),
    Case("n_threads=np.int64", _params(n_threads=np.int64(2)), OK, _params(n_threads=1)),
    _bad("n_threads", 0, ValueError, "n_threads=0 is invalid"),
    _bad("n_threads", 2 ** 40, ValueError),
    _bad("n_threads", -2 ** 40, ValueError),
    _bad("n_threads", 1.5, TypeError),
    _bad("n_threads", "2", TypeError),
    _bad("n_threads", True, TypeError),
]


def _init(covariance_type="full", **arrays):
    return lambda tmp_path: {"params": {"covariance_type": covariance_type, **arrays}}


def _bad_init(name, covariance_type, value, error, match, case_name):
    return Case(f"{covariance_type}-{name}-{case_name}", _init(covariance_type, **{name: value}),
                Raises(error, name, match))


_MEANS = [[-2.0, 0.0], [2.0, 0.0]]
INIT_CASES = [
    Case("weights_init-list", _init(weights_init=[0.5, 0.5]), OK,
         _init(weights_init=np.array([0.5, 0.5]))),
    Case("weights_init-one-zero", _init(weights_init=[1, 0]), OK,
         _init(weights_init=np.array([1.0, 0.0]))),
    Case("means_init-int", _init(means_init=[[-2, 0], [2, 0]]), OK, _init(means_init=_MEANS)),
    Case("means_init-float32", _init(means_init=np.float32(_MEANS)), OK,
         _init(means_init=_MEANS)),
    Case("full-precisions_init-list", _init(precisions_init=[np.eye(2).tolist()] * 2), OK,
         _init(precisions_init=np.stack([np.eye(2)] * 2))),
    Case("diag-precisions_init-int", _init("diag", precisions_init=[[1, 2], [3, 4]]), OK,
         _init("diag", precisions_init=np.array([[1.0, 2], [3, 4]]))),
    Case("full-precisions_init-1e300", _init(precisions_init=np.stack([np.eye(2) * 1e300] * 2)),
         OK, _init(precisions_init=np.stack([np.eye(2) * 1e300] * 2))),
    _bad_init("weights_init", "full", [1.0], ValueError, r"shape \(2,\)", "short"),
    _bad_init("weights_init", "full", [[0.5, 0.5]], ValueError, r"shape \(2,\)", "2-D"),
    _bad_init("weights_init", "full", [0.5, 0.6], ValueError, "must sum to 1", "sum"),
    _bad_init("weights_init", "full", [1.5, -0.5], ValueError, r"\[0, 1\]", "range"),
    _bad_init("weights_init", "full", [np.nan, 1.0], ValueError, "NaN", "nan"),
    _bad_init("weights_init", "full", [np.inf, 1.0], ValueError, "infinite", "inf"),
    _bad_init("weights_init", "full", ["a", "b"], TypeError, "must contain numbers", "str"),
    _bad_init("weights_init", "full", [0.5 + 0j, 0.5], TypeError, "complex", "complex"),
    _bad_init("weights_init", "full", np.array([object(), 1], dtype=object), TypeError,
              "not numbers", "object"),
    _bad_init("means_init", "full", np.zeros((3, 2)), ValueError, r"shape \(2, 2\)", "3x2"),
    _bad_init("means_init", "full", np.zeros((2, 3)), ValueError, r"shape \(2, 2\)", "2x3"),
    _bad_init("means_init", "full", np.zeros(2), ValueError, r"shape \(2, 2\)", "1-D"),
    _bad_init("means_init", "full", [[0, 0], [np.inf, 0]], ValueError, "infinite", "inf"),
    _bad_init("means_init", "full", [[0, 0], [np.nan, 0]], ValueError, "NaN", "nan"),
    _bad_init("means_init", "full", [["a", "b"], ["c", "d"]], TypeError, "numbers", "str"),
    _bad_init("means_init", "full", np.zeros((2, 2)) + 1j, TypeError, "complex", "complex"),
    _bad_init("means_init", "full", [[0, 0], [1e200, 0]], ValueError, "too far from X",
              "far"),
    _bad_init("precisions_init", "full", np.ones((2, 2)), ValueError, r"shape \(2, 2, 2\)",
              "shape"),
    _bad_init("precisions_init", "full", np.stack([np.eye(2), -np.eye(2)]), ValueError,
              r"precisions_init\[1\] is not positive definite", "not-pd"),
    _bad_init("precisions_init", "full", np.stack([np.eye(2), [[1, 0.5], [0, 1]]]),
              ValueError, r"precisions_init\[1\] is not symmetric", "asymmetric"),
    _bad_init("precisions_init", "full", np.stack([np.eye(2), np.eye(2) * np.nan]),
              ValueError, "NaN", "nan"),
    _bad_init("precisions_init", "full", np.stack([np.eye(2)] * 2).astype(str), TypeError,
              "numbers", "str"),
    _bad_init("precisions_init", "full", np.stack([np.eye(2)] * 2) * 1e-310, ValueError,
              "cannot represent", "tiny"),
    _bad_init("precisions_init", "full", np.stack([np.eye(2)] * 2) * 1e306, ValueError,
              "cannot represent", "huge"),
    _bad_init("precisions_init", "tied", np.eye(3), ValueError, r"shape \(2, 2\)", "shape"),
    _bad_init("precisions_init", "tied", [[1, 2], [2, 1]], ValueError,
              "not positive definite", "not-pd"),
    _bad_init("precisions_init", "diag", [[1, 1], [1, 0]], ValueError, "must be positive",
              "zero"),
    _bad_init("precisions_init", "diag", [[1, 1]], ValueError, r"shape \(2, 2\)", "shape"),
    _bad_init("precisions_init", "spherical", [1.0, -1.0], ValueError, "must be positive",
              "negative"),
    _bad_init("precisions_init", "spherical", [[1.0, 1.0]], ValueError, r"shape \(2,\)",
              "shape"),
    Case("spherical-precisions_init-overflow", lambda t: {
        "X": X_GOOD * 1000, "params": {"covariance_type": "spherical",
                                       "precisions_init": [1e300, 1e300]}},
         Raises(ValueError, "precisions_init", "too large for the range of X")),
]

SAMPLE_CASES = [
    Case("n_samples=np.int64", lambda t: {"n_samples": np.int64(3)}, OK),
    Case("n_samples=1", lambda t: {"n_samples": 1}, OK),
    *[Case(f"n_samples={value!r}", lambda t, v=value: {"n_samples": v},
           Raises(error, "n_samples", re.escape(repr(value))))
      for value, error in [(0, ValueError), (-1, ValueError), (1.5, TypeError),
                           ("3", TypeError), (None, TypeError), (True, TypeError)]],
]

_UNFITTED = Raises(NotFittedError, "fit", "not fitted yet")
STATE_CASES = [
    Case("unfitted", lambda t: {"model": _unfitted_estimator()}, _UNFITTED),
    Case("covariance_type-changed", _estimator_with(covariance_type="diag"),
         Raises(ValueError, "covariance_type", "changed to 'diag' after fitting")),
]
STATE_ENTRIES = PREDICT_ENTRIES + ("sample", "save")


def _warm_refit(**params):
    def make(tmp_path):
        model = copy.deepcopy(FITTED)
        model.set_params(warm_start=True, **params)
        return {"model": model}
    return make


WARM_START_CASES = [
    Case("warm-same", _warm_refit(), OK),
    Case("warm-n_components-changed", _warm_refit(n_components=3),
         Raises(ValueError, "warm_start", r"n_components.*\('full', 3, 2\)")),
    Case("warm-covariance_type-changed", _warm_refit(covariance_type="tied"),
         Raises(ValueError, "warm_start", r"\('tied', 2, 2\)")),
]


def _path(factory):
    return lambda tmp_path: {"path": factory(tmp_path)}


SAVE_CASES = [
    Case("str-path", _path(lambda t: str(t / "model.npz")), OK),
    Case("pathlib-no-suffix", _path(lambda t: t / "model"), OK),
    Case("bytes-path", _path(lambda t: str(t / "model.npz").encode()), OK),
    Case("file-object", _path(lambda t: io.BytesIO()), OK),
    Case("None", _path(_const(None)), Raises(TypeError, "path", "got None")),
    Case("int", _path(_const(3)), Raises(TypeError, "path", "got 3")),
    Case("directory", _path(lambda t: t), Raises(IsADirectoryError, "path", "")),
    Case("missing-directory", _path(lambda t: t / "nowhere" / "model.npz"),
         Raises(FileNotFoundError, "path", "")),
    Case("invalid-hyper-parameter", lambda t: {**_estimator_with(tol=-1.0)(t),
                                               "path": t / "m.npz"},
         Raises(ValueError, "tol", "tol must be")),
]
def _saved(tmp_path):
    path = tmp_path / "model.npz"
    FITTED.save(path)
    return path


def _entries(path):
    with np.load(path, allow_pickle=False) as npz:
        return dict(npz)


def _tampered(change):
    """A saved model whose entries ``change(entries)`` rewrote (numpy.savez)."""
    def make(tmp_path):
        path = _saved(tmp_path)
        entries = _entries(path)
        change(entries)
        np.savez(path, **entries)
        return {"path": path}
    return make


def _set(name, value):
    return _tampered(lambda entries: entries.__setitem__(name, value))


def _hyper(**changes):
    import json

    def change(entries):
        params = json.loads(str(entries["hyper_parameters"]))
        params.update(changes)
        entries["hyper_parameters"] = np.array(json.dumps(params))
    return _tampered(change)


def _raw(factory):
    """A file whose bytes ``factory(valid model bytes)`` returns."""
    def make(tmp_path):
        path = _saved(tmp_path)
        path.write_bytes(factory(path.read_bytes()))
        return {"path": path}
    return make


def _flip_middle(data):
    middle = bytearray(data)
    for i in range(len(data) // 2, len(data) // 2 + 16):
        middle[i] ^= 0xFF
    return bytes(middle)


def _lying_header(tmp_path):
    """A .npy member whose header claims 10**12 float64 values."""
    import zipfile
    path = _saved(tmp_path)
    entries = _entries(path)
    member = io.BytesIO()
    np.lib.format.write_array(member, entries.pop("weights_"))
    data = member.getvalue().replace(b"(2,)", b"(1000000000000,)", 1)
    np.savez(path, **entries)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("weights_.npy", data)
    return {"path": path}


_NOT_MODEL = "not a valid fastgmm model file"
_FULL = FITTED.covariances_
LOAD_CASES = [
    Case("valid", lambda t: {"path": _saved(t)}, OK),
    Case("file-object", lambda t: {"path": io.BytesIO(_saved(t).read_bytes())}, OK),
    Case("None", _path(_const(None)), Raises(TypeError, "path", "got None")),
    Case("int", _path(_const(3)), Raises(TypeError, "path", "got 3")),
    Case("missing-file", _path(lambda t: t / "missing.npz"),
         Raises(FileNotFoundError, "path")),
    Case("directory", _path(lambda t: t), Raises(IsADirectoryError, "path")),
    Case("empty-file", _raw(lambda data: b""), Raises(ValueError, "path", _NOT_MODEL)),
    Case("truncated-half", _raw(lambda data: data[:len(data) // 2]),
         Raises(ValueError, "path", _NOT_MODEL)),
    Case("truncated-tail", _raw(lambda data: data[:-10]), Raises(ValueError, "path", _NOT_MODEL)),
    Case("corrupted-bytes", _raw(_flip_middle), Raises(ValueError, "path", _NOT_MODEL)),
    Case("random-bytes", _raw(lambda data: np.random.default_rng(0).bytes(len(data))),
         Raises(ValueError, "path", _NOT_MODEL)),
    Case("text-file", _raw(lambda data: b"weights_ = [0.5, 0.5]\n"),
         Raises(ValueError, "path", _NOT_MODEL)),
    Case("npy-file", _raw(lambda data: _npy_bytes(X_GOOD)), Raises(ValueError, "path",
                                                                 _NOT_MODEL)),
    Case("pickle-file", _raw(lambda data: __import__("pickle").dumps(FITTED)),
         Raises(ValueError, "path", _NOT_MODEL)),
    Case("foreign-npz", _tampered(lambda e: [e.pop(k) for k in list(e) if k != "means_"]),
         Raises(ValueError, "path", "not a fastgmm model file.*'fastgmm_format'")),
    Case("wrong-format-name", _set("fastgmm_format", np.array("sklearn")),
         Raises(ValueError, "path", "fastgmm_format is 'sklearn'")),
    Case("future-version", _set("format_version", np.array(3)),
         Raises(ValueError, "path", "format version 3.*upgrade fastgmm")),
    Case("version-0", _set("format_version", np.array(0)),
         Raises(ValueError, "path", "format_version 0")),
    Case("version-text", _set("format_version", np.array("1")),
         Raises(ValueError, "path", "format_version")),
    Case("missing-entry", _tampered(lambda e: e.pop("precisions_")),
         Raises(ValueError, "path", r"missing entries \['precisions_'\]")),
    Case("extra-entry", _set("script", np.array("import os")),
         Raises(ValueError, "path", r"unexpected entry 'script'")),
    Case("means-wrong-shape", _set("means_", np.zeros((3, 2))),
         Raises(ValueError, "path", r"'means_' declares shape \(3, 2\).*imply \(2, 2\)")),
    Case("means-int", _set("means_", np.zeros((2, 2), dtype=np.int64)),
         Raises(ValueError, "path", "'means_' must be float64")),
    Case("means-float32", _set("means_", FITTED.means_.astype(np.float32)),
         Raises(ValueError, "path", "'means_' must be float64")),
    Case("means-complex", _set("means_", FITTED.means_ + 0j),
         Raises(ValueError, "path", "'means_' must be float64")),
    Case("means-text", _set("means_", FITTED.means_.astype(str)),
         Raises(ValueError, "path", "'means_' must be float64")),
    Case("means-object", _set("means_", FITTED.means_.astype(object)),
         Raises(ValueError, "path", "holds Python objects")),
    Case("means-NaN", _set("means_", FITTED.means_ * np.nan),
         Raises(ValueError, "path", "'means_' contains NaN")),
    Case("covariances-inf", _set("covariances_", _FULL * np.inf),
         Raises(ValueError, "path", "'covariances_' contains NaN or infinite")),
    Case("weights-sum", _set("weights_", np.array([0.5, 0.6])),
         Raises(ValueError, "path", "weights_ must be non-negative and sum to 1")),
    Case("weights-negative", _set("weights_", np.array([1.5, -0.5])),
         Raises(ValueError, "path", "weights_ must be non-negative")),
    Case("cholesky-lower", _set("precisions_cholesky_",
                                np.swapaxes(FITTED.precisions_cholesky_, 1, 2).copy()),
         Raises(ValueError, "path", "upper triangular")),
    Case("covariances-not-pd", _set("covariances_", -_FULL),
         Raises(ValueError, "path", "positive definite")),
    Case("covariances-asymmetric", _set("covariances_", _FULL + np.triu(np.ones((2, 2)), 1)),
         Raises(ValueError, "path", "symmetric")),
    Case("covariances-inconsistent", _set("covariances_", 2 * _FULL),
         Raises(ValueError, "path", "disagree")),
    Case("precisions-inconsistent", _set("precisions_", 2 * FITTED.precisions_),
         Raises(ValueError, "path", "precisions_ must equal")),
    Case("lower-bounds-length", _set("lower_bounds_", np.zeros(1)),
         Raises(ValueError, "path", "'lower_bounds_' declares shape")),
    Case("lower-bound-NaN", _set("lower_bound_", np.array(np.nan)),
         Raises(ValueError, "path", "lower_bound_ must be finite")),
    Case("n_iter-negative", _set("n_iter_", np.array(-1)),
         Raises(ValueError, "path", "n_iter_=-1")),
    Case("converged-float", _set("converged_", np.array(1.0)),
         Raises(ValueError, "path", "'converged_' must be a scalar")),
    Case("hyper-not-json", _set("hyper_parameters", np.array("{n_components: 2")),
         Raises(ValueError, "path", _NOT_MODEL)),
    Case("hyper-deep-json", _set("hyper_parameters", np.array("[" * 100000 + "]" * 100000)),
         Raises(ValueError, "path", _NOT_MODEL)),
    Case("hyper-missing-key", _tampered(lambda e: e.__setitem__(
        "hyper_parameters", np.array('{"n_components": 2}'))),
         Raises(ValueError, "path", "hyper_parameters must name exactly")),
    Case("hyper-bad-type", _hyper(n_components="2"),
         Raises(ValueError, "path", "n_components must be an int")),
    Case("hyper-bad-value", _hyper(tol=-1.0),
         Raises(ValueError, "path", "invalid hyper-parameter: .*tol.* must be")),
    Case("n_components-mismatch", _hyper(n_components=3),
         Raises(ValueError, "path", r"'weights_' declares shape \(2,\).*imply \(3,\)")),
    Case("covariance_type-mismatch", _hyper(covariance_type="spherical"),
         Raises(ValueError, "path", r"'covariances_' declares shape .*imply \(2,\)")),
    Case("random_state-unknown", _hyper(random_state={"Generator": {
        "bit_generator": "os.system", "state": {}}}),
         Raises(ValueError, "path", "unknown random_state")),
    Case("random_state-bad-state", _hyper(random_state={"RandomState": {
        "bit_generator": "MT19937", "state": {"key": [1, 2], "pos": 0}}}),
         Raises(ValueError, "path", _NOT_MODEL)),
    Case("header-claims-1e12-values", _lying_header,
         Raises(ValueError, "path", "more data than the archive holds")),
]


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


SET_PARAMS_CASES = [
    Case("valid", lambda t: {"params": {"tol": 1e-4}}, OK),
    Case("unknown", lambda t: {"params": {"bogus": 1}},
         Raises(ValueError, "bogus", "Invalid parameter 'bogus'.*valid parameters")),
]
# Metadata routing requests (scikit-learn's protocol; run with routing enabled).
ROUTING_CASES = [
    Case("valid", lambda t: {"params": {"sample_weight": True}}, OK),
    Case("alias", lambda t: {"params": {"sample_weight": "weights"}}, OK),
    Case("bad-type", lambda t: {"params": {"sample_weight": 3}},
         Raises(ValueError, "sample_weight", "must be True, False, None or a str alias")),
    Case("bad-alias", lambda t: {"params": {"sample_weight": "two words"}},
         Raises(ValueError, "sample_weight", "valid Python identifier")),
]
FASTGMM_FIT_CASES = [
    Case("unknown-keyword", lambda t: {"params": {"bogus": 1}},
         Raises(TypeError, "bogus", "unknown hyper-parameter.*valid ones")),
]


# ---------------------------------------------------------------------------------
# Running a case
# ---------------------------------------------------------------------------------

_IN_MEMORY = object()   # the default ``path``: save to an in-memory file


def _inputs(case_inputs):
    inputs = {"X": X_GOOD.copy(), "sample_weight": None, "params": {}, "n_samples": 5,
              "path": _IN_MEMORY, "model": None}
    inputs.update(case_inputs)
    if inputs["model"] is None:
        inputs["model"] = copy.deepcopy(FITTED)
    return inputs


def _call(entry, inputs):
    X, sw, params = inputs["X"], inputs["sample_weight"], dict(inputs["params"])
    model = inputs["model"]
    if entry in ("fit", "fit_predict"):
        estimator = GaussianMixture(**{"n_components": N_COMPONENTS, "random_state": 0,
                                       **params})
        return getattr(estimator, entry)(X, sample_weight=sw)
    if entry == "fastgmm.fit":
        n_components = params.pop("n_components", N_COMPONENTS)
        return fastgmm.fit(X, n_components, sample_weight=sw,
                           **{"random_state": 0, **params})
    if entry == "fastgmm.select":
        with warnings.catch_warnings():     # its degenerate-fit summary is intended
            warnings.simplefilter("ignore", ReseedWarning)
            return fastgmm.select(X, (N_COMPONENTS,), covariance_types=("full",),
                                  sample_weight=sw, random_state=0, **params).best
    if entry == "warm refit":
        return model.fit(X)
    if entry == "score":
        return model.score(X, sample_weight=sw)
    if entry in PREDICT_ENTRIES:
        return getattr(model, entry)(X)
    if entry == "sample":
        return model.sample(inputs["n_samples"])
    if entry == "save":
        path = io.BytesIO() if inputs["path"] is _IN_MEMORY else inputs["path"]
        model.save(path)
        if isinstance(path, io.BytesIO):
            path.seek(0)
        return model, fastgmm.load(path)
    if entry == "set_params":
        return model.set_params(**params)
    if entry in ("set_fit_request", "set_score_request"):
        sklearn = pytest.importorskip("sklearn")
        with sklearn.config_context(enable_metadata_routing=True):
            return getattr(model, entry)(**params)
    if entry == "fastgmm.load":
        return fastgmm.load(inputs["path"])
    raise AssertionError(entry)


def _fitted_arrays(model):
    return [model.weights_, model.means_, model.covariances_, model.precisions_,
            model.precisions_cholesky_]


def _assert_same_result(entry, got, want, rtol):
    if isinstance(want, GaussianMixture):
        for a, b in zip(_fitted_arrays(got), _fitted_arrays(want)):
            assert np.all(np.isfinite(a))
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
        assert got.lower_bound_ == pytest.approx(want.lower_bound_, rel=rtol, abs=rtol)
    elif isinstance(want, np.ndarray) and want.dtype.kind == "i":
        assert np.array_equal(got, want)
    else:
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-300)


def _check_ok(entry, case, result, tmp_path):
    if entry == "sample":
        draws, labels = result
        assert draws.shape == (int(_inputs(case.make(tmp_path))["n_samples"]), 2)
        assert np.all(np.isfinite(draws)) and labels.dtype.kind == "i"
    elif entry == "save":
        model, loaded = result
        for a, b in zip(_fitted_arrays(loaded), _fitted_arrays(model)):
            assert np.array_equal(a, b)
    elif entry == "fastgmm.load":
        for a, b in zip(_fitted_arrays(result), _fitted_arrays(FITTED)):
            assert np.array_equal(a, b)
    elif entry in ("set_params", "warm refit", "set_fit_request", "set_score_request"):
        assert isinstance(result, GaussianMixture)
        if entry == "warm refit":
            assert all(np.all(np.isfinite(a)) for a in _fitted_arrays(result))
    else:
        reference = _call(entry, _inputs(case.clean(tmp_path)))
        _assert_same_result(entry, result, reference, case.rtol)


def _snapshot(value):
    """A deep copy to compare with afterwards (arrays: dtype, shape and bytes)."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return ("object", value.shape, repr(value.tolist()))
        return (value.dtype.str, value.shape, np.ascontiguousarray(value).tobytes())
    if isinstance(value, dict):
        return {key: _snapshot(item) for key, item in value.items()
                if key not in ("model", "path")}
    if hasattr(value, "to_numpy"):   # pandas
        return _snapshot(value.to_numpy(copy=True))
    if isinstance(value, (list, tuple)):
        return copy.deepcopy(value)
    return repr(value)


def _assert_clear_message(message, outcome):
    assert re.search(rf"(?<![A-Za-z_]){re.escape(outcome.argument)}(?![A-Za-z])", message), (
        f"the message does not name {outcome.argument!r}: {message}")
    assert re.search(outcome.match, message, flags=re.S), (outcome.match, message)
    assert any(word in message.lower() for word in FIX_WORDS), (
        f"the message does not say what to do: {message}")


def _run(entry, case, tmp_path, group):
    outcome = case.outcome[group] if isinstance(case.outcome, dict) else case.outcome
    inputs = _inputs(case.make(tmp_path))
    before = _snapshot(inputs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if isinstance(outcome, Raises):
            with pytest.raises(outcome.error) as info:
                _call(entry, inputs)
            if issubclass(outcome.error, (ValueError, TypeError)):
                _assert_clear_message(str(info.value), outcome)
        elif isinstance(outcome, _Underflows):
            outcome.check(entry, _call(entry, inputs), len(inputs["X"]))
        else:
            _check_ok(entry, case, _call(entry, inputs), tmp_path)
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]
    assert _snapshot(inputs) == before, "the caller's input was modified"


def _params_for(kind, cases, entries, group_of=lambda entry: "fit"):
    """Test parameters ``entry x case``, with ids ``entry|kind:case|outcome``."""
    return [pytest.param(entry, case, group_of(entry),
                         id=f"{entry}|{kind}:{case.name}|"
                            f"{_outcome(case, group_of(entry)).label()}")
            for case in cases for entry in entries]


def _outcome(case, group):
    return case.outcome[group] if isinstance(case.outcome, dict) else case.outcome


def _group(entry):
    return "fit" if entry in FIT_ENTRIES + ("fastgmm.select",) else "predict"



# ---------------------------------------------------------------------------------
# Files: truncated, inflated (a header that declares far more data than the model
# needs, refused before the data are read) and inconsistent (entries that disagree
# with each other in ways an ill-conditioned matrix could hide).
# ---------------------------------------------------------------------------------

def _truncated(fraction):
    return _raw(lambda data: data[:int(len(data) * fraction)])


def _inflated(name, shape, descr="<f8"):
    """A model file whose ``name`` entry declares ``shape`` and holds that many
    zeros, deflated (a small file that inflates to a large array)."""
    import zipfile

    def make(tmp_path):
        path = _saved(tmp_path)
        entries = _entries(path)
        entries.pop(name, None)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED,
                             compresslevel=1) as archive:
            for key, value in entries.items():
                with archive.open(f"{key}.npy", "w") as member:
                    np.lib.format.write_array(member, value, allow_pickle=False)
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_2_0(member, {
                    "descr": descr, "fortran_order": False, "shape": shape})
                member.write(bytes(int(np.prod(shape)) * np.dtype(descr).itemsize))
        return {"path": path}
    return make


def _ill_conditioned_factor(entries):
    covariances = np.stack([np.diag([1.0, 1e-17])] * N_COMPONENTS)
    factor = np.stack([np.diag([50.0, 1e8])] * N_COMPONENTS)
    entries.update(covariances_=covariances, precisions_cholesky_=factor,
                   precisions_=factor @ np.swapaxes(factor, 1, 2))


def _scaled_factor(entries):
    factor = entries["precisions_cholesky_"] * 1.5
    entries.update(precisions_cholesky_=factor,
                   precisions_=factor @ np.swapaxes(factor, 1, 2))


_DECLARES = "declares shape"
FILE_CASES = [
    *[Case(f"truncated-{int(fraction * 100)}%", _truncated(fraction),
           Raises(ValueError, "path", _NOT_MODEL)) for fraction in (0.1, 0.5, 0.9, 0.99)],
    *[Case(f"inflated-{name}", _inflated(name, shape), Raises(ValueError, "path", _DECLARES))
      for name, shape in [("weights_", (2_000_000,)), ("means_", (1_000_000, 2)),
                          ("covariances_", (2, 1000, 1000)),
                          ("precisions_cholesky_", (2, 2, 500_000)),
                          ("lower_bounds_", (2_000_000,))]],
    Case("inflated-feature_names_in_", _inflated("feature_names_in_", (200_000,), "<U8"),
         Raises(ValueError, "path", _DECLARES)),
    Case("inflated-hyper_parameters", _inflated("hyper_parameters", (), "<U1000000"),
         Raises(ValueError, "path", "must be a scalar of at most")),
    Case("inflated-n_iter_", _inflated("n_iter_", (1_000_000,), "<i8"),
         Raises(ValueError, "path", "must be a scalar of at most")),
    Case("inconsistent-ill-conditioned-factor", _tampered(_ill_conditioned_factor),
         Raises(ValueError, "path", "disagree")),
    Case("inconsistent-scaled-factor", _tampered(_scaled_factor),
         Raises(ValueError, "path", "disagree")),
    Case("inconsistent-n_features_in_", _set("n_features_in_", np.array(3)),
         Raises(ValueError, "path", r"'means_' declares shape \(2, 2\).*imply \(2, 3\)")),
    Case("inconsistent-n_iter_-huge", _set("n_iter_", np.array(10 ** 15)),
         Raises(ValueError, "path", "'lower_bounds_' declares shape")),
    Case("inconsistent-n_components-huge", _hyper(n_components=10 ** 15),
         Raises(ValueError, "path", "'weights_' declares shape")),
]

# ---------------------------------------------------------------------------------
# Sizes: huge counts are refused up front (or run as usual when they only bound a
# loop), never attempted.
# ---------------------------------------------------------------------------------

SIZE_SAMPLE_CASES = [
    Case(f"n_samples={label}", lambda t, v=value: {"n_samples": v},
         Raises(ValueError, "n_samples", rf"n_samples={value} would need .* GiB"))
    for label, value in [("2**40", 2 ** 40), ("2**62", 2 ** 62), ("2**63", 2 ** 63),
                         ("10**30", 10 ** 30)]
]
SIZE_FIT_CASES = [
    *[Case(f"n_components={label}", _params(n_components=value),
           Raises(ValueError, "n_components", rf"n_components = {value}, n_samples = 60"))
      for label, value in [("10**12", 10 ** 12), ("2**63", 2 ** 63)]],
    Case("max_iter=10**18", _params(max_iter=10 ** 18), OK, _params(max_iter=1000)),
    Case("verbose_interval=10**18", _params(verbose_interval=10 ** 18), OK, _params()),
]

MATRIX = (
    _params_for("X", X_CASES, X_ENTRIES, _group)
    + _params_for("sample_weight", SAMPLE_WEIGHT_CASES, SAMPLE_WEIGHT_ENTRIES, _group)
    + _params_for("hyper", HYPER_PARAMETER_CASES, FIT_ENTRIES)
    + _params_for("init", INIT_CASES, FIT_ENTRIES)
    + _params_for("n_samples", SAMPLE_CASES, ["sample"])
    + _params_for("state", STATE_CASES, STATE_ENTRIES)
    + _params_for("state", WARM_START_CASES, ["warm refit"])
    + _params_for("path", SAVE_CASES, ["save"])
    + _params_for("params", SET_PARAMS_CASES, ["set_params"])
    + _params_for("params", ROUTING_CASES, ["set_fit_request", "set_score_request"])
    + _params_for("params", FASTGMM_FIT_CASES, ["fastgmm.fit"])
    + _params_for("file", LOAD_CASES, ["fastgmm.load"])
    + _params_for("file", FILE_CASES, ["fastgmm.load"])
    + _params_for("size", SIZE_SAMPLE_CASES, ["sample"])
    + _params_for("size", SIZE_FIT_CASES, FIT_ENTRIES)
)


@pytest.mark.parametrize("entry, case, group", MATRIX)
def test_bad_input_matrix(entry, case, group, tmp_path):
    _run(entry, case, tmp_path, group)


def test_matrix_covers_every_entry_point():
    """A public method or function added later must get cases in the matrix."""
    covered = {param.values[0] for param in MATRIX}
    methods = {name for name, _ in inspect.getmembers(GaussianMixture, inspect.isfunction)
               if not name.startswith("_")}
    functions = {f"fastgmm.{name}" for name in fastgmm.__all__
                 if callable(getattr(fastgmm, name))
                 and not isinstance(getattr(fastgmm, name), type)}
    # nothing to validate (progress only stores its display settings)
    no_input = {"get_params", "get_metadata_routing", "fastgmm.openmp_enabled",
                "fastgmm.progress"}
    missing = (methods | functions) - no_input - covered
    assert not missing, f"entry points without bad-input cases: {sorted(missing)}"


def test_memory_mapped_and_read_only_input_is_not_copied(tmp_path):
    from fastgmm._validation import check_data
    for X in (_memmap(tmp_path), _npy_mmap(tmp_path), _readonly(tmp_path),
              _memmap(tmp_path).astype(np.float32)):
        checked = check_data(X)
        assert np.shares_memory(checked, X) and checked.dtype == X.dtype


def test_memory_mapped_input_reaches_the_kernels_uncopied(tmp_path, monkeypatch):
    import fastgmm._em as em_module
    import fastgmm._passes as passes_module
    X = _memmap(tmp_path)
    seen = []
    # The passes of the Python loop and the compiled iterations (one block of rows).
    for module, name in [(passes_module, "em_statistics"), (em_module, "em_iterations")]:
        def spy(data, *args, _original=getattr(module, name), _name=name):
            seen.append((_name, np.shares_memory(data, X)))
            return _original(data, *args)
        monkeypatch.setattr(module, name, spy)
    GaussianMixture(2, random_state=0).fit(X)
    assert ("em_iterations", True) in seen
    assert seen and all(shared for _, shared in seen)


def test_sample_weight_scale_does_not_change_the_fit():
    """Weights equal up to a power of two give bit-identical fits."""
    w = np.random.default_rng(0).uniform(0.1, 3.0, 60)
    fits = [GaussianMixture(2, random_state=0).fit(X_GOOD, sample_weight=w * scale)
            for scale in (1.0, 2.0 ** -900, 2.0 ** 900)]
    for other in fits[1:]:
        for a, b in zip(_fitted_arrays(fits[0]), _fitted_arrays(other)):
            assert np.array_equal(a, b)


def test_collapsed_component_error_is_clear_without_regularization():
    # Two distinct points for two components with reg_covar=0: every component
    # collapses onto identical points, and re-seeding cannot help.
    X = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [5.0, 5.0], [5.0, 5.0]])
    for covariance_type in ("full", "diag", "spherical"):
        gm = GaussianMixture(2, reg_covar=0.0, covariance_type=covariance_type)
        with pytest.raises(ValueError, match="not positive definite.*re-seeding it "
                                             "elsewhere did not help.*Increase reg_covar"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ReseedWarning)   # asserted below
                gm.fit(X)
    # The tied covariance of data on a line cannot be repaired by moving components.
    line = np.c_[np.arange(10.0), 2 * np.arange(10.0)]
    with pytest.raises(ValueError, match="the shared \\(tied\\) covariance"):
        GaussianMixture(2, reg_covar=0.0, covariance_type="tied").fit(line)


def test_collapsing_component_is_reseeded_or_reported_clearly():
    # Two exact duplicates attract a component whose covariance tends to 0 with
    # reg_covar=0: either the fit recovers with finite parameters (re-seeded), or
    # it stops with the clear error; never NaN.
    X = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [6.0, 5.5], [5.5, 7.0]])
    for max_iter in (5, 100):
        gm = GaussianMixture(2, reg_covar=0.0, means_init=[[0, 0], [5.5, 6]],
                             max_iter=max_iter)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.simplefilter("always", ReseedWarning)
                gm.fit(X)
        except ValueError as exc:
            assert "not positive definite" in str(exc) and "Increase reg_covar" in str(exc)
        else:
            for name in ("weights_", "means_", "covariances_", "precisions_"):
                assert np.all(np.isfinite(getattr(gm, name))), name
            assert np.isfinite(gm.lower_bound_)
            # A re-seed is announced once, with the fix.
            reseeds = [w for w in caught if issubclass(w.category, ReseedWarning)]
            assert len(reseeds) == 1 and "increase reg_covar" in str(reseeds[0].message)


def test_reseeding_a_collapsed_component_warns_once():
    # The six points of seed 001 without regularization: each cluster has zero
    # variance in x, so exact EM's optimum is degenerate; fastgmm re-seeds and says so.
    X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]], dtype=float)
    with pytest.warns(ReseedWarning, match="collapsed.*increase reg_covar") as caught:
        gm = GaussianMixture(2, reg_covar=0.0, random_state=0).fit(X)
    assert len([w for w in caught if issubclass(w.category, ReseedWarning)]) == 1
    assert np.all(np.isfinite(gm.means_)) and np.isfinite(gm.lower_bound_)


@pytest.mark.parametrize("covariance_type", ["tied", "diag", "spherical"])
def test_degenerate_covariance_error_for_every_type(covariance_type):
    # A constant column has zero variance: without regularization no covariance type
    # that keeps that variance can be inverted.
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=200), np.full(200, 3.0)])
    if covariance_type == "spherical":
        X[:, 0] = 1.0   # spherical averages the variances: make them all zero
    gm = GaussianMixture(2, covariance_type=covariance_type, reg_covar=0.0,
                         means_init=[[-1.0, 3.0], [1.0, 3.0]], max_iter=3)
    # Either the M-step's check or, when every column is constant, the scale check
    # before fitting: both say to regularize.
    with pytest.raises(ValueError, match="(not positive definite.*Increase reg_covar)|"
                                         "(set reg_covar > 0)"):
        gm.fit(X)
    # The default regularization makes the same data fit.
    GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)


@pytest.mark.parametrize("shape", [(1, 3), (70_000, 2), (9000, 70)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_ranges_equal_numpy_reductions(shape, dtype):
    # Chunked (several chunks for the larger shapes), so equality is exact.
    X = (np.random.default_rng(2).standard_normal(shape) * np.linspace(1, 1e3, shape[1])
         ).astype(dtype)
    assert (len(row_chunks(*shape)) > 1) == (shape[0] > 1)
    low, high = column_ranges(X)
    assert low.dtype == high.dtype == np.float64
    np.testing.assert_array_equal(low, X.min(axis=0))
    np.testing.assert_array_equal(high, X.max(axis=0))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("n_bad", [1, 3])
def test_fused_finiteness_check_and_ranges(bad, n_bad):
    # A fit finds the column ranges and the finiteness of X in one pass
    # (check_data(ranges=True)): the same error as the plain check, the same ranges.
    from fastgmm._validation import check_data
    X = np.random.default_rng(3).standard_normal((700, 3)) * [1.0, 1e5, 1e-5]
    array, (low, high) = check_data(X, ranges=True)
    assert array is X
    for got, want in zip((low, high), column_ranges(X)):
        np.testing.assert_array_equal(got, want)
    X[np.arange(n_bad) * 97 + 5, np.arange(n_bad) % 3] = bad
    messages = []
    for ranges in (False, True):
        with pytest.raises(ValueError, match=f"contains {n_bad} NaN or infinite") as info:
            check_data(X, ranges=ranges)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_precision_range_fast_accept_never_accepts_what_the_log2_test_refuses():
    # check_precisions_init skips the logarithms for pivots well inside the range;
    # the values at and around its edges show the shortcut never widens it.
    from fastgmm._validation import _in_precision_range, _surely_in_precision_range
    edges = []
    for power in (-1001, -1000, -999, 999, 1000, 1001):
        edges += [np.nextafter(2.0 ** power, 0.0), 2.0 ** power,
                  np.nextafter(2.0 ** power, np.inf)]
    edges += [1.0, np.nan]
    for low in edges:
        for high in edges:
            pivots = np.array([[low, high]])
            if _surely_in_precision_range(pivots):
                assert _in_precision_range(pivots).all(), (low, high)
    assert _surely_in_precision_range(np.array([[1e-300, 1e300]]))


def test_fit_reads_x_once_for_finiteness_and_ranges(monkeypatch):
    # One column-range pass per fit, which is also its finiteness check (no separate
    # count of non-finite values over X), reused by check_fit_scale.
    import fastgmm._source as source_module
    import fastgmm._validation as validation
    ranges, counts = [], []
    original_ranges, original_count = validation.column_ranges, validation._count_nonfinite
    monkeypatch.setattr(validation, "column_ranges",
                        lambda X: ranges.append(X.shape) or original_ranges(X))
    monkeypatch.setattr(source_module, "column_ranges", validation.column_ranges)
    monkeypatch.setattr(validation, "_count_nonfinite",
                        lambda a: counts.append(a.shape) or original_count(a))
    X = np.random.default_rng(4).standard_normal((300, 2))
    GaussianMixture(2, random_state=0).fit(X)
    assert ranges == [X.shape] and X.shape not in counts


# ---------------------------------------------------------------------------------
# Process lifecycle: each case in a fresh interpreter under a timeout (and, where
# memory could blow up, an address-space limit), so a hang or a crash fails here.
# ---------------------------------------------------------------------------------

_SPAWN_POOL_AFTER_FIT = """
import multiprocessing, sys
import numpy as np
import fastgmm

def fit(seed):
    X = np.random.default_rng(seed).normal(size=(300, 2))
    return fastgmm.GaussianMixture(2, random_state=0, n_threads=N_THREADS).fit(X).means_

N_THREADS = int(sys.argv[1])
if __name__ == "__main__":
    expected = [fit(seed) for seed in range(3)]          # fits in the parent first
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(fit, range(3))
    assert all(np.array_equal(a, b) for a, b in zip(results, expected))
    print("DONE")
"""

_SHUTDOWN_DURING_FIT = """
import sys, threading, time
import numpy as np
import fastgmm

started = threading.Event()
X = np.random.default_rng(0).normal(size=(100_000, 4))

def work():
    started.set()
    fastgmm.GaussianMixture(8, tol=0.0, max_iter=MAX_ITER, n_init=N_INIT,
                            random_state=0).fit(X)

DAEMON = sys.argv[1] == "daemon"
MAX_ITER, N_INIT = (10 ** 6, 10 ** 6) if DAEMON else (3, 1)
threading.Thread(target=work, daemon=DAEMON).start()
started.wait()
if DAEMON:
    time.sleep(1.0)     # let the fit reach EM's compiled passes (not a timing check)
print("DONE", flush=True)
"""   # the main thread ends while the fit runs; the interpreter then shuts down

_HUGE_N_INIT = """
import resource, sys
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
    if len(started) > 2:
        raise Enough
    return original(self, index)

RestartStreams.restart = restart
with open("/proc/self/status") as status:
    size = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
limit = size * 1024 + 300 * 2 ** 20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    fastgmm.GaussianMixture(2, n_init=int(sys.argv[1]), random_state=0).fit(X)
except Enough:
    print("DONE", started)
"""

LIFECYCLE_CASES = {
    "spawn-pool-after-fit-n_threads=1": (_SPAWN_POOL_AFTER_FIT, "1"),
    "spawn-pool-after-fit-n_threads=2": (_SPAWN_POOL_AFTER_FIT, "2"),
    "shutdown-while-daemon-thread-fits": (_SHUTDOWN_DURING_FIT, "daemon"),
    "shutdown-waits-for-thread-fit": (_SHUTDOWN_DURING_FIT, "thread"),
    "n_init=10**6-starts-lazily": (_HUGE_N_INIT, str(10 ** 6)),
    "n_init=10**18-starts-lazily": (_HUGE_N_INIT, str(10 ** 18)),
}


@pytest.mark.parametrize("case", sorted(LIFECYCLE_CASES))
def test_process_lifecycle(case, tmp_path):
    import subprocess
    import sys
    code, argument = LIFECYCLE_CASES[case]
    script = tmp_path / "child.py"        # a file: spawn re-imports the main module
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script), argument], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "DONE" in result.stdout, output
    assert "Fatal Python error" not in output and "Traceback" not in output, output
