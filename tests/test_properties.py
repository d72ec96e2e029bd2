"""Property tests (hypothesis) over random shapes, dtypes, weights and parameters.

Invariants of EM that must hold for every problem: responsibilities are
probabilities, the log-likelihood is finite and never decreases (exact EM,
``reg_covar=0``), reordering the rows changes nothing beyond rounding, and the
result does not depend on the number of threads (bit for bit).

Runs are derandomized (a fixed sequence of examples, no example database), so CI
sees the same cases on every run.
"""

import warnings

import numpy as np
import pytest

from conftest import COVARIANCE_TYPES, assert_rel_close, init_from_params, make_mixture
from fastgmm import ConvergenceWarning, GaussianMixture, ReseedWarning

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PROPERTY_SETTINGS = settings(derandomize=True, database=None, deadline=None,
                             max_examples=30,
                             suppress_health_check=[HealthCheck.too_slow])
FITTED_ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_")


@st.composite
def problems(draw, min_samples=1, max_samples=600):
    """A data set with a fitting configuration: (X, sample_weight, params)."""
    n_features = draw(st.integers(1, 4))
    n_components = draw(st.integers(1, 4))
    n_samples = draw(st.integers(max(min_samples, n_components), max_samples))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    X, _ = make_mixture(n_samples, n_features, n_components,
                        seed=draw(st.integers(0, 2 ** 32 - 1)),
                        separation=draw(st.floats(0.5, 8.0)),
                        offset=draw(st.sampled_from([0.0, 1e3, -1e4])), dtype=dtype)
    weights = draw(st.sampled_from(["none", "uniform", "integer"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    sample_weight = {"none": None,
                     "uniform": rng.uniform(0.05, 3.0, n_samples),
                     "integer": rng.integers(1, 4, n_samples).astype(np.float64)}[weights]
    params = dict(n_components=n_components,
                  covariance_type=draw(st.sampled_from(COVARIANCE_TYPES)),
                  init_params=draw(st.sampled_from(["kmeans", "k-means++", "random",
                                                    "random_from_data"])),
                  random_state=draw(st.integers(0, 2 ** 32 - 1)))
    return X, sample_weight, params


def _fit(X, sample_weight, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**params).fit(X, sample_weight=sample_weight)


@PROPERTY_SETTINGS
@given(problems())
def test_responsibilities_are_probabilities_and_likelihood_is_finite(problem):
    X, sample_weight, params = problem
    gm = _fit(X, sample_weight, **params)
    resp = gm.predict_proba(X)
    assert resp.shape == (X.shape[0], params["n_components"])
    assert np.all((resp >= 0) & (resp <= 1))
    # float32 responsibilities of float32 data: each rounded once from float64.
    np.testing.assert_allclose(resp.sum(axis=1, dtype=np.float64), 1.0,
                               rtol=1e-12 if X.dtype == np.float64 else 1e-6)
    log_prob = gm.score_samples(X)
    assert np.all(np.isfinite(log_prob)) and np.isfinite(gm.lower_bound_)
    assert np.all(np.isfinite(gm.lower_bounds_))
    for name in FITTED_ATTRIBUTES:
        assert np.all(np.isfinite(getattr(gm, name))), name
    labels = gm.predict(X)
    assert np.all((labels >= 0) & (labels < params["n_components"]))


@PROPERTY_SETTINGS
@given(problems(min_samples=8))
def test_exact_em_never_decreases_the_likelihood(problem):
    X, sample_weight, params = problem
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ReseedWarning)
            gm = _fit(X, sample_weight, **params, reg_covar=0.0, tol=0.0, max_iter=25)
    except ValueError as exc:   # a component collapsed: exact EM has no next step
        assume("not positive definite" not in str(exc))
        raise
    # A collapsed component re-seeded elsewhere is a jump, not an EM step.
    assume(not any(issubclass(w.category, ReseedWarning) for w in caught))
    bounds = np.asarray(gm.lower_bounds_)
    slack = 1e-12 if X.dtype == np.float64 else 1e-6
    steps = np.diff(bounds)
    assert np.all(steps >= -slack * np.maximum(np.abs(bounds[1:]), 1.0)), steps.min()


@PROPERTY_SETTINGS
@given(problems(min_samples=2), st.randoms(use_true_random=False))
def test_row_permutation_changes_nothing_beyond_rounding(problem, random):
    X, sample_weight, params = problem
    start = _fit(X, sample_weight, **params, max_iter=1)   # a start independent of order
    init = init_from_params(start._params(), params["covariance_type"])
    fixed = dict(n_components=params["n_components"],
                 covariance_type=params["covariance_type"], tol=0.0, max_iter=8, **init)
    order = np.arange(X.shape[0])
    random.shuffle(order)
    gm = _fit(X, sample_weight, **fixed)
    permuted = _fit(X[order], None if sample_weight is None else sample_weight[order],
                    **fixed)
    rtol = 1e-7 if X.dtype == np.float64 else 1e-4
    for name in FITTED_ATTRIBUTES:
        assert_rel_close(getattr(permuted, name), getattr(gm, name), rtol, name)
    assert_rel_close(permuted.lower_bounds_, gm.lower_bounds_, rtol, "lower bounds")
    np.testing.assert_allclose(permuted.score_samples(X), gm.score_samples(X),
                               rtol=rtol, atol=rtol)


@PROPERTY_SETTINGS
@given(problems(), st.sampled_from([2, 3, 5]))
def test_thread_count_does_not_change_a_bit(problem, n_threads):
    X, sample_weight, params = problem
    serial = _fit(X, sample_weight, **params, n_threads=1, max_iter=20)
    threaded = _fit(X, sample_weight, **params, n_threads=n_threads, max_iter=20)
    for name in FITTED_ATTRIBUTES + ("precisions_",):
        assert np.array_equal(getattr(serial, name), getattr(threaded, name)), name
    assert serial.lower_bounds_ == threaded.lower_bounds_
    assert np.array_equal(serial.predict_proba(X), threaded.predict_proba(X))


@PROPERTY_SETTINGS
@given(problems(max_samples=200), st.integers(-600, 600))
def test_power_of_two_weight_scaling_does_not_change_a_bit(problem, exponent):
    X, sample_weight, params = problem
    if sample_weight is None:
        sample_weight = np.ones(X.shape[0])
    gm = _fit(X, sample_weight, **params, max_iter=10)
    scaled = _fit(X, np.ldexp(sample_weight, exponent), **params, max_iter=10)
    for name in FITTED_ATTRIBUTES:
        assert np.array_equal(getattr(gm, name), getattr(scaled, name)), name
