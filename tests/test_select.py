"""fastgmm.select: the table, the choice, degenerate fits, n_jobs independence, ICL."""

import warnings
from pathlib import Path

import numpy as np
import pytest

import fastgmm
from fastgmm import GaussianMixture, ReseedWarning, select
from fastgmm._select import COLUMNS, SKLEARN_TYPES

from conftest import make_mixture

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data"


def load_faithful():
    return np.loadtxt(DATA / "faithful.csv", delimiter=",", skiprows=1, usecols=(1, 2))


def load_crabs():
    """The five measurements FL, RW, CL, CW, BD of the 200 crabs."""
    return np.loadtxt(DATA / "crabs.csv", delimiter=",", skiprows=1,
                      usecols=(4, 5, 6, 7, 8))


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_mixture(300, 2, 2, seed=3, separation=6.0)
    return X


@pytest.fixture(scope="module")
def blobs_result(blobs):
    return _quiet(select, blobs, range(1, 4), random_state=0, n_init=2, return_models=True)


# ---------------------------------------------------------------------------------
# The table and the choice
# ---------------------------------------------------------------------------------

def test_table_rows_hold_every_criterion(blobs, blobs_result):
    table = blobs_result.table
    assert len(table) == 12
    assert [(r["covariance_type"], r["n_components"]) for r in table] == [
        (t, k) for t in SKLEARN_TYPES for k in (1, 2, 3)]
    for row in table:
        assert tuple(row) == COLUMNS
        model = blobs_result.models[(row["covariance_type"], row["n_components"])]
        n = blobs.shape[0]
        p = model._n_parameters()
        assert row["n_parameters"] == p
        assert row["log_likelihood"] == pytest.approx(model.score(blobs) * n, rel=1e-12)
        assert row["bic"] == pytest.approx(model.bic(blobs), rel=1e-12)
        assert row["aic"] == pytest.approx(model.aic(blobs), rel=1e-12)
        assert row["bic"] == pytest.approx(-2 * row["log_likelihood"] + p * np.log(n))
        assert row["icl"] == pytest.approx(model.icl(blobs), rel=1e-12)
        assert row["icl"] >= row["bic"] - 1e-9
        assert row["converged"] is True and isinstance(row["degenerate"], bool)
    assert table["bic"] == [row["bic"] for row in table]
    assert table.row("tied", 2)["n_components"] == 2
    values, ks, types = table.matrix("bic")
    assert values.shape == (3, 4) and ks == [1, 2, 3] and types == list(SKLEARN_TYPES)
    assert values[1, 1] == table.row("tied", 2)["bic"]
    text = str(table)
    assert "bic" in text and "spherical" in text and len(text.splitlines()) == 13
    assert "SelectionTable(12 fits)" in repr(table)


def test_table_to_pandas(blobs_result):
    pandas = pytest.importorskip("pandas")
    frame = blobs_result.table.to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == list(COLUMNS) and len(frame) == 12


def test_best_is_the_lowest_non_degenerate_criterion(blobs, blobs_result):
    best = blobs_result.best
    sound = [row for row in blobs_result.table if not row["degenerate"]]
    lowest = min(sound, key=lambda row: row["bic"])
    assert (best.covariance_type, best.n_components) == (lowest["covariance_type"],
                                                          lowest["n_components"])
    assert best.n_components == 2 and not best.degenerate_
    assert blobs_result.models[(best.covariance_type, 2)] is best
    assert "n_components=2" in repr(blobs_result)


@pytest.mark.parametrize("criterion", ["aic", "icl"])
def test_other_criteria_choose_their_minimum(blobs, criterion):
    result = _quiet(select, blobs, range(1, 4), covariance_types=("full", "diag"),
                    criterion=criterion, random_state=0)
    lowest = min(result.table, key=lambda row: row[criterion])
    assert (result.best.covariance_type, result.best.n_components) == (
        lowest["covariance_type"], lowest["n_components"])


@pytest.mark.parametrize("init_params", [None, "ward", "kmeans"])
def test_best_equals_the_fit_of_that_model_alone(blobs, blobs_result, init_params):
    """The shared Ward and k-means partitions are the starts each fit would make
    alone; select's default start is init_params="ward"."""
    result = blobs_result
    if init_params is not None:
        result = _quiet(select, blobs, range(1, 4), random_state=0, n_init=2,
                        init_params=init_params, return_models=True)
    for (kind, k), model in result.models.items():
        assert model.init_params == (init_params or "ward")
        alone = _quiet(GaussianMixture(k, covariance_type=kind, random_state=0,
                                       n_init=2, init_params=init_params or "ward").fit,
                       blobs)
        np.testing.assert_array_equal(model.means_, alone.means_)
        np.testing.assert_array_equal(model.covariances_, alone.covariances_)
        assert model.lower_bound_ == alone.lower_bound_


def test_types_of_one_kind_share_the_start_statistics(blobs, monkeypatch):
    """The mclust types whose statistics have the same layout (full scatter
    matrices, or diagonals) take one statistics pass per shared partition, and each
    fit still equals the fit of that model alone."""
    import fastgmm._init as init_module
    calls = []
    original = init_module.assignment_statistics

    def counting(*args):
        calls.append(args[5])              # the covariance kind
        return original(*args)

    monkeypatch.setattr(init_module, "assignment_statistics", counting)
    _quiet(select, blobs, range(1, 4), covariance_types=("EEE", "VVI"), random_state=0,
           n_init=2)
    one_type_per_kind = len(calls)
    calls.clear()
    types = ("EEE", "VVV", "EVE", "VVI", "EEI")
    result = _quiet(select, blobs, range(1, 4), covariance_types=types, random_state=0,
                    n_init=2, return_models=True)
    assert len(calls) == one_type_per_kind, calls
    monkeypatch.setattr(init_module, "assignment_statistics", original)
    for (kind, k), model in result.models.items():
        alone = _quiet(GaussianMixture(k, covariance_type=kind, random_state=0,
                                       n_init=2, init_params="ward").fit, blobs)
        np.testing.assert_array_equal(model.means_, alone.means_)
        np.testing.assert_array_equal(model.covariances_, alone.covariances_)


def test_result_does_not_depend_on_n_jobs(blobs):
    one = _quiet(select, blobs, range(1, 5), random_state=1, n_init=2, n_jobs=1,
                 return_models=True)
    two = _quiet(select, blobs, range(1, 5), random_state=1, n_init=2, n_jobs=2,
                 return_models=True)
    for a, b in zip(one.table, two.table):
        assert a.keys() == b.keys()
        for key in a:       # bit-identical (NaN-free here)
            assert a[key] == b[key], key
    for key, model in one.models.items():
        np.testing.assert_array_equal(model.means_, two.models[key].means_)
        np.testing.assert_array_equal(model.precisions_cholesky_,
                                      two.models[key].precisions_cholesky_)


def test_default_n_jobs_is_serial_on_small_data(monkeypatch):
    """n_jobs=None fits small data one fit at a time (on the kernels' threads) and
    larger data with one job per usable core."""
    from fastgmm import _select
    assert _select._check_n_jobs(None, 9, _select.SERIAL_GRID_MAX_VALUES) == 1
    monkeypatch.setattr(_select, "effective_n_threads", lambda n=None: 2)
    assert _select._check_n_jobs(None, 9, _select.SERIAL_GRID_MAX_VALUES + 1) == 2
    assert _select._check_n_jobs(2, 9, 10) == 2          # explicit values win
    pools = []
    real_pool = _select.ThreadPoolExecutor
    monkeypatch.setattr(_select, "ThreadPoolExecutor",
                        lambda *a, **k: pools.append(1) or real_pool(*a, **k))
    X, _ = make_mixture(300, 2, 2, seed=3, separation=6.0)
    _quiet(select, X, range(1, 3), random_state=0)
    assert not pools
    _quiet(select, X, range(1, 3), random_state=0, n_jobs=2)
    assert pools == [1]


def test_sampled_ward_tree_is_each_fits_own_and_n_jobs_independent():
    """Beyond 2048 rows the tree is built on rows drawn from restart 0's stream: the
    grid's shared tree is the one each fit alone draws, whatever n_jobs."""
    X, _ = make_mixture(2600, 2, 3, seed=11)
    weights = np.tile([1.0, 2.0], 1300)
    for sample_weight in (None, weights):
        one = _quiet(select, X, range(1, 4), covariance_types=("full", "tied"),
                     sample_weight=sample_weight, random_state=4, n_jobs=1,
                     return_models=True)
        two = _quiet(select, X, range(1, 4), covariance_types=("full", "tied"),
                     sample_weight=sample_weight, random_state=4, n_jobs=2,
                     return_models=True)
        for (kind, k), model in one.models.items():
            np.testing.assert_array_equal(model.means_, two.models[(kind, k)].means_)
            alone = _quiet(GaussianMixture(k, covariance_type=kind, init_params="ward",
                                           random_state=4).fit, X,
                           sample_weight=sample_weight)
            np.testing.assert_array_equal(model.means_, alone.means_)
            assert model.lower_bound_ == alone.lower_bound_


def test_sample_weight_equals_duplicated_rows(blobs):
    counts = np.tile([1, 2, 3], blobs.shape[0] // 3)
    weighted = _quiet(select, blobs, (1, 2), covariance_types=("full", "spherical"),
                      sample_weight=counts, random_state=0)
    repeated = _quiet(select, np.repeat(blobs, counts, axis=0), (1, 2),
                      covariance_types=("full", "spherical"), random_state=0)
    for a, b in zip(weighted.table, repeated.table):
        for key in ("log_likelihood", "bic", "aic", "icl"):
            assert a[key] == pytest.approx(b[key], rel=1e-6), key


def test_faithful_default_types_choose_tied_with_three_components():
    """Old Faithful repeats rounded values: a collapsed fit must not be chosen."""
    X = load_faithful()
    result = _quiet(select, X, random_state=0)
    best = result.best
    assert (best.covariance_type, best.n_components) == ("tied", 3)
    assert not best.degenerate_
    # Converged tightly, the fit is as good as mclust's EEE with 3 components
    # (log-likelihood -1126.326, BIC -2314.316 in mclust's sign, ICL -2357.824:
    # mclust 6.0.0, see docs/user_guide/choosing.rst) or better. (The ICL, which
    # moves along the flat ridge of this optimum, converges to 2358.4: mclust stops
    # before that.)
    for init_params in ("ward", "kmeans"):
        tight = _quiet(select, X, (3,), covariance_types=("tied",), tol=1e-9,
                       init_params=init_params, random_state=0)
        row = tight.table[0]
        assert row["log_likelihood"] == pytest.approx(-1126.3159, abs=1e-3)
        assert row["log_likelihood"] >= -1126.326
        assert row["bic"] <= 2314.316 + 1e-3
        assert row["icl"] == pytest.approx(2357.824, abs=1.0)


def _rotation(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


# Three well separated components of each model (2-D), clearly unlike the others.
_TRUE_COVARIANCES = {
    "full": np.array([_rotation(a) @ np.diag(v) @ _rotation(a).T for a, v in
                      ((0.4, (4.0, 0.2)), (-0.9, (2.0, 0.5)), (1.5, (0.3, 1.0)))]),
    "tied": _rotation(0.6) @ np.diag((3.0, 0.3)) @ _rotation(0.6).T,
    "diag": np.array([[4.0, 0.2], [0.3, 3.0], [1.5, 1.5]]),
    "spherical": np.array([0.3, 3.0, 1.2]),
}


@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_select_recovers_the_true_model_and_k(covariance_type):
    truth = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    truth.weights_ = np.array([0.3, 0.3, 0.4])
    truth.means_ = np.array([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]])
    truth.covariances_ = _TRUE_COVARIANCES[covariance_type]
    truth._covariance_type_fitted = covariance_type
    X, _ = truth.sample(600)
    result = _quiet(select, X, range(1, 6), random_state=0, n_init=2)
    assert (result.best.covariance_type, result.best.n_components) == (covariance_type, 3)


# ---------------------------------------------------------------------------------
# Degenerate data
# ---------------------------------------------------------------------------------

def _duplicated_rows():
    rng = np.random.default_rng(0)
    return np.repeat(rng.normal(size=(4, 2)) * 5, 25, axis=0)


def _constant_column():
    X, _ = make_mixture(200, 2, 2, seed=1)
    return np.column_stack([X, np.full(200, 3.0)])


def _few_distinct_points():
    return np.repeat(np.array([[0.0, 0.0], [1.0, 2.0], [3.0, 1.0]]), 10, axis=0)


@pytest.mark.parametrize("make", [_duplicated_rows, _constant_column, _few_distinct_points])
def test_degenerate_data_fit_warn_and_are_flagged(make):
    X = make()
    with pytest.warns(ReseedWarning):
        result = select(X, range(1, 6), random_state=0)
    degenerate = [row for row in result.table if row["degenerate"]]
    assert degenerate
    for row in result.table:
        if np.isfinite(row["bic"]):
            assert np.isfinite(row["log_likelihood"])


def test_collapsed_components_are_recorded_and_flagged():
    X = _few_distinct_points()
    model = GaussianMixture(5, covariance_type="full", random_state=0).fit(X)
    assert model.degenerate_
    assert model.degenerate_components_.size >= 1
    assert model.degenerate_components_.dtype.kind == "i"
    assert isinstance(model.reseeded_components_, np.ndarray)


def test_sound_fit_is_not_flagged(blobs):
    model = GaussianMixture(2, random_state=0).fit(blobs)
    assert not model.degenerate_
    assert model.degenerate_components_.size == 0
    assert model.reseeded_components_.size == 0


def test_constant_column_flags_the_types_that_estimate_its_variance():
    X = _constant_column()
    for kind in ("full", "tied", "diag"):
        model = _quiet(GaussianMixture(2, covariance_type=kind, random_state=0).fit, X)
        assert model.degenerate_, kind
        assert model.degenerate_components_.tolist() == [0, 1]
    # One variance for all features: the constant column only lowers it (bounded).
    model = _quiet(GaussianMixture(2, covariance_type="spherical", random_state=0).fit, X)
    assert not model.degenerate_


def test_strict_mode_raises_a_clear_error():
    X = _few_distinct_points()
    with pytest.raises(ValueError, match="on_degenerate='raise'"):
        GaussianMixture(5, covariance_type="full", on_degenerate="raise",
                        random_state=0).fit(X)
    with pytest.raises(ValueError, match="on_degenerate='raise'"):
        select(X, range(1, 6), covariance_types=("full",), on_degenerate="raise",
               random_state=0)
    # A sound model fits in strict mode.
    GaussianMixture(3, covariance_type="tied", on_degenerate="raise",
                    random_state=0).fit(_duplicated_rows() + np.random.default_rng(
                        1).normal(size=(100, 2)))


def test_on_degenerate_is_validated():
    with pytest.raises(ValueError, match="on_degenerate"):
        GaussianMixture(on_degenerate="ignore").fit(np.zeros((5, 1)) + np.arange(5)[:, None])
    assert GaussianMixture().get_params()["on_degenerate"] == "reseed"


def test_more_components_than_rows_is_a_nan_row():
    X = np.arange(8.0).reshape(4, 2) ** 1.5
    result = _quiet(select, X, (1, 5), covariance_types=("spherical",), random_state=0)
    row = result.table.row("spherical", 5)
    assert np.isnan(row["bic"]) and row["degenerate"]
    assert ("spherical", 5) in result.errors
    assert result.best.n_components == 1


# ---------------------------------------------------------------------------------
# ICL and argument checks
# ---------------------------------------------------------------------------------

def test_icl_is_bic_plus_the_hard_assignment_entropy(blobs):
    model = GaussianMixture(3, random_state=0).fit(blobs)
    resp = model.predict_proba(blobs)
    expected = model.bic(blobs) - 2 * np.sum(np.log(resp.max(axis=1)))
    assert model.icl(blobs) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("n_columns", [1, 2, 5, 32, 33])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_maxima_equal_numpys(n_columns, dtype):
    """The criteria's row maxima (a column loop for few columns) are numpy's."""
    from fastgmm._model import _row_maxima
    values = np.random.default_rng(n_columns).random((257, n_columns)).astype(dtype)
    values[3, -1] = np.nan
    for rows in (values, values[:0]):
        out = _row_maxima(rows)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, rows.max(axis=1))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"criterion": "likelihood"}, ValueError, "criterion"),
    ({"n_components": []}, ValueError, "n_components"),
    ({"n_components": (2, 2)}, ValueError, "repeats"),
    ({"n_components": 0}, ValueError, "n_components"),
    ({"covariance_types": ("full", "wide")}, ValueError, "covariance_types"),
    ({"covariance_types": ()}, ValueError, "covariance_types"),
    ({"means_init": np.zeros((2, 2))}, TypeError, "means_init"),
    ({"n_componnets": 3}, TypeError, "n_componnets"),
    ({"tol": -1.0}, ValueError, "tol"),
    ({"n_jobs": 0}, ValueError, "n_jobs"),
    ({"return_models": "yes"}, TypeError, "return_models"),
])
def test_bad_arguments_are_named(blobs, kwargs, error, match):
    with pytest.raises(error, match=match):
        select(blobs, **kwargs)


def test_select_is_exported():
    assert fastgmm.select is select
    assert "select" in fastgmm.__all__


# ---------------------------------------------------------------------------------
# mclust's 14 models (reference values: mclust 6.0.0, mclustBIC over G = 1..9)
# ---------------------------------------------------------------------------------

def test_mclust_grid_on_faithful_picks_eee_with_three_components():
    result = _quiet(select, load_faithful(), covariance_types="mclust", random_state=0)
    assert len(result.table) == 14 * 9
    best = result.best
    assert (best.covariance_type, best.n_components) == ("EEE", 3)
    # mclust: BIC -2314.316 (its sign); the default tol=1e-3 stops slightly earlier
    # (2315.97 from the default Ward start, 2314.97 from k-means'), tol=1e-6 reaches it.
    assert result.table.row("EEE", 3)["bic"] == pytest.approx(2314.316, abs=2.0)
    tight = _quiet(select, load_faithful(), (3,), covariance_types=("EEE",), tol=1e-6,
                   random_state=0)
    assert tight.table[0]["bic"] <= 2314.316 + 1e-3
    # one component: every model with the same covariance structure equals mclust's
    for name, bic in (("EII", 4024.721), ("EEI", 3055.835), ("EEE", 2607.623)):
        assert result.table.row(name, 1)["bic"] == pytest.approx(bic, abs=1e-3)


def test_mclust_grid_on_iris_picks_vev_with_two_components():
    from sklearn.datasets import load_iris
    X = load_iris().data
    result = _quiet(select, X, covariance_types="mclust", random_state=0)
    best = result.best
    assert (best.covariance_type, best.n_components) == ("VEV", 2)
    # mclust: BIC -561.7285, log-likelihood -215.726
    row = result.table.row("VEV", 2)
    assert row["bic"] == pytest.approx(561.7285, abs=1e-2)
    assert row["log_likelihood"] == pytest.approx(-215.726, abs=1e-2)


def _log_likelihood(model, X):
    """sum_n log sum_k w_k N(x_n | mu_k, Sigma_k), from the fitted parameters alone."""
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal
    log_prob = np.column_stack([
        np.log(w) + multivariate_normal(mean, covariance).logpdf(X)
        for w, mean, covariance in zip(model.weights_, model.means_, model.covariances_)])
    return float(logsumexp(log_prob, axis=1).sum())


@pytest.fixture(scope="module")
def crabs_result():
    return _quiet(select, load_crabs(), covariance_types="mclust", random_state=0)


def test_mclust_grid_on_crabs_picks_eev_with_four_components(crabs_result):
    """mclust 6.0.0 picks EEV with 4 components, BIC -2842.298 (its sign), from its
    hierarchical start; fastgmm's default Ward start reaches that optimum (k-means
    starts do not: they picked VVV/3, BIC 2922.9)."""
    X = load_crabs()
    n, d = X.shape
    best = crabs_result.best
    assert (best.covariance_type, best.n_components) == ("EEV", 4)
    assert not best.degenerate_ and best.converged_
    row = crabs_result.table.row("EEV", 4)
    # EEV: K - 1 weights, K d means, one volume, d - 1 shape values, K orientations.
    K = 4
    assert row["n_parameters"] == (K - 1) + K * d + 1 + (d - 1) + K * d * (d - 1) // 2
    log_likelihood = _log_likelihood(best, X)
    assert row["log_likelihood"] == pytest.approx(log_likelihood, abs=1e-6)
    assert row["bic"] == pytest.approx(-2 * log_likelihood + row["n_parameters"] * np.log(n),
                                       abs=1e-6)
    assert row["bic"] <= 2842.298 + 0.05
    # The chosen covariances share one volume and one shape (EEV): equal eigenvalues.
    eigenvalues = np.linalg.eigvalsh(best.covariances_)
    np.testing.assert_allclose(eigenvalues, np.broadcast_to(eigenvalues[0], (K, d)),
                               rtol=1e-6)
    # Every other non-degenerate cell scores worse by a margin (not a near tie).
    others = [r["bic"] for r in crabs_result.table
              if not r["degenerate"] and np.isfinite(r["bic"])
              and (r["covariance_type"], r["n_components"]) != ("EEV", 4)]
    assert min(others) > row["bic"] + 2


def test_crabs_kmeans_start_misses_the_eev_optimum():
    """The k-means start (init_params="kmeans") of EEV/4 ends far below the Ward
    start's optimum: the default start is what finds it."""
    X = load_crabs()
    kmeans = _quiet(GaussianMixture(4, covariance_type="EEV", init_params="kmeans",
                                    random_state=0).fit, X)
    ward = _quiet(GaussianMixture(4, covariance_type="EEV", init_params="ward",
                                  random_state=0).fit, X)
    assert ward.bic(X) < kmeans.bic(X) - 50


def test_crabs_selection_is_deterministic_and_n_jobs_independent(crabs_result):
    X = load_crabs()
    again = _quiet(select, X, covariance_types="mclust", random_state=0, n_jobs=1)
    other_seed = _quiet(select, X, covariance_types="mclust", random_state=3, n_jobs=2)
    for a, b in zip(crabs_result.table, again.table):
        assert a == b
    np.testing.assert_array_equal(crabs_result.best.means_, again.best.means_)
    # Small unweighted data: Ward's start draws nothing, so restart 0 (the only one)
    # does not depend on the seed either.
    for a, b in zip(crabs_result.table, other_seed.table):
        assert a == b


@pytest.mark.parametrize("name", ["EII", "VVI", "EEE", "VEV"])
def test_select_recovers_mclust_models(name):
    """Data drawn from a 3-component model of that family: select finds it and K."""
    rng = np.random.default_rng(2)
    means = np.array([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]])
    shapes = {"EII": [np.eye(2)] * 3,
              "VVI": [np.diag(v) for v in ((4.0, 0.2), (0.9, 9.0), (0.6, 0.18))],
              "EEE": [_TRUE_COVARIANCES["tied"]] * 3,
              "VEV": [s * _rotation(a) @ np.diag((3.0, 0.3)) @ _rotation(a).T
                      for s, a in ((0.5, 0.3), (2.0, -1.0), (1.0, 1.4))]}[name]
    X = np.concatenate([rng.multivariate_normal(m, c, 250) for m, c in zip(means, shapes)])
    result = _quiet(select, X, range(1, 5), covariance_types="mclust", random_state=0)
    assert result.best.n_components == 3
    assert result.best.covariance_type == name


def test_data_beyond_float64_fail_every_fit_with_the_fit_error():
    """select checks the data's scale once for the grid; data that fail it fail each
    fit with the error a GaussianMixture fit gives (in errors, then the grid's
    ValueError; on_degenerate="raise" raises it at once)."""
    X = np.random.default_rng(0).normal(size=(50, 2)) * 1e160
    with pytest.raises(ValueError) as alone:
        GaussianMixture(2).fit(X)
    with pytest.raises(ValueError, match="Every fit of the grid failed") as grid:
        select(X, range(1, 3))
    assert str(alone.value) in str(grid.value)
    with pytest.raises(ValueError) as strict:
        select(X, range(1, 3), on_degenerate="raise")
    assert str(strict.value) == str(alone.value)


def test_scores_of_a_grid_fit_equal_the_fitted_models_scores():
    """The table's criteria (computed right after each fit, its attributes
    unchecked) equal the fitted model's own bic/aic/icl."""
    X = load_faithful()
    result = select(X, range(1, 4), covariance_types=("VEV", "full", "EII"),
                    random_state=0, return_models=True)
    for (covariance_type, k), model in result.models.items():
        row = result.table.row(covariance_type, k)
        assert row["bic"] == model.bic(X)
        assert row["aic"] == model.aic(X)
        assert row["icl"] == model.icl(X)
