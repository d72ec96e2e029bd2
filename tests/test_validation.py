"""Bad input gets a clear ValueError/TypeError naming the argument and the fix."""

import warnings

import numpy as np
import pytest

from conftest import make_mixture
from fastgmm import ConvergenceWarning, GaussianMixture, NotFittedError

X_GOOD = make_mixture(60, 2, 2, seed=0)[0]


@pytest.mark.parametrize("X, error, match", [
    (None, TypeError, "X must be an array-like of numbers, got None"),
    ("abc", TypeError, "got a str"),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "must contain numbers"),
    (np.array([[1 + 2j, 0], [1, 1]]), TypeError, "complex"),
    (np.array([[object(), 1], [2, 3]], dtype=object), TypeError, "dtype object"),
    ([[1, 2], [3]], ValueError, "could not be converted"),
    (np.ones(5), ValueError, r"reshape\(-1, 1\)"),
    (np.float64(3.0), ValueError, "scalar"),
    (np.ones((2, 3, 4)), ValueError, "3-D"),
    (np.empty((0, 2)), ValueError, "0 sample"),
    (np.empty((5, 0)), ValueError, "0 features"),
    (np.array([[1.0, np.nan], [2, 3], [4, 5]]), ValueError, "1 NaN or infinite"),
    (np.array([[1.0, np.inf], [2, -np.inf], [4, 5]]), ValueError, "2 NaN or infinite"),
])
def test_bad_X_in_fit(X, error, match):
    with pytest.raises(error, match=match):
        GaussianMixture(1).fit(X)


def test_too_few_samples():
    with pytest.raises(ValueError, match="n_samples >= n_components.*n_components = 5, "
                                         "n_samples = 3"):
        GaussianMixture(5).fit(np.arange(6.0).reshape(3, 2))
    # Rows with zero weight do not count.
    w = np.array([1.0, 0, 0, 1, 0, 0])
    with pytest.raises(ValueError, match="positive sample_weight"):
        GaussianMixture(3).fit(np.arange(12.0).reshape(6, 2), sample_weight=w)


@pytest.mark.parametrize("params, error, match", [
    ({"n_components": 0}, ValueError, "n_components must be an int >= 1, got 0"),
    ({"n_components": 2.5}, TypeError, "n_components must be an int"),
    ({"n_components": True}, TypeError, "n_components must be an int"),
    ({"covariance_type": "fancy"}, ValueError, "covariance_type must be one of"),
    ({"tol": -1.0}, ValueError, "tol must be a finite number >= 0"),
    ({"tol": "small"}, TypeError, "tol must be a real number"),
    ({"reg_covar": -1e-6}, ValueError, "reg_covar"),
    ({"reg_covar": np.nan}, ValueError, "reg_covar"),
    ({"max_iter": -1}, ValueError, "max_iter"),
    ({"max_iter": 10.0}, TypeError, "max_iter must be an int"),
    ({"n_init": 0}, ValueError, "n_init"),
    ({"init_params": "kmeans2"}, ValueError, "init_params must be one of"),
    ({"random_state": "seed"}, TypeError, "random_state"),
    ({"random_state": -5}, ValueError, "random_state"),
    ({"warm_start": "yes"}, TypeError, "warm_start"),
    ({"verbose": -1}, ValueError, "verbose"),
    ({"verbose_interval": 0}, ValueError, "verbose_interval"),
    ({"n_threads": 0}, ValueError, "n_threads=0 is invalid"),
    ({"n_threads": 1.5}, TypeError, "n_threads must be None or an int"),
])
def test_bad_hyper_parameters(params, error, match):
    with pytest.raises(error, match=match):
        GaussianMixture(**{"n_components": 2, **params}).fit(X_GOOD)


@pytest.mark.parametrize("covariance_type, params, match", [
    ("full", {"weights_init": [0.5, 0.6]}, "must sum to 1"),
    ("full", {"weights_init": [1.5, -0.5]}, r"must lie in \[0, 1\]"),
    ("full", {"weights_init": [1.0]}, r"weights_init must have shape \(2,\)"),
    ("full", {"weights_init": [np.nan, 1.0]}, "NaN"),
    ("full", {"means_init": np.zeros((3, 2))}, r"means_init must have shape \(2, 2\)"),
    ("full", {"means_init": np.zeros((2, 3))}, r"means_init must have shape \(2, 2\)"),
    ("full", {"means_init": [[0, 0], [np.inf, 0]]}, "infinite"),
    ("full", {"precisions_init": np.ones((2, 2))}, r"must have shape \(2, 2, 2\)"),
    ("full", {"precisions_init": np.stack([np.eye(2), -np.eye(2)])},
     r"precisions_init\[1\] is not positive definite"),
    ("full", {"precisions_init": np.stack([np.eye(2), [[1, 0.5], [0, 1]]])},
     "not symmetric"),
    ("tied", {"precisions_init": np.eye(3)}, r"must have shape \(2, 2\)"),
    ("tied", {"precisions_init": [[1, 2], [2, 1]]}, "not positive definite"),
    ("diag", {"precisions_init": [[1, 1], [1, 0]]}, "must be positive"),
    ("spherical", {"precisions_init": [1.0, -1.0]}, "must be positive"),
    ("spherical", {"precisions_init": [[1.0, 1.0]]}, r"must have shape \(2,\)"),
])
def test_bad_initial_parameters(covariance_type, params, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, covariance_type=covariance_type, **params).fit(X_GOOD)


@pytest.mark.parametrize("sample_weight, error, match", [
    (np.ones(59), ValueError, "length 59 but X has 60 rows"),
    (np.ones((60, 1)), ValueError, "must be 1-D"),
    (-np.ones(60), ValueError, "60 negative"),
    (np.r_[np.nan, np.ones(59)], ValueError, "NaN or infinite"),
    (np.r_[np.inf, np.ones(59)], ValueError, "NaN or infinite"),
    (np.zeros(60), ValueError, "all zeros"),
    (-1.0, ValueError, "positive finite number"),
    (np.array(["a"] * 60), TypeError, "must contain numbers"),
])
def test_bad_sample_weight(sample_weight, error, match):
    with pytest.raises(error, match=match):
        GaussianMixture(2).fit(X_GOOD, sample_weight=sample_weight)


def test_wrong_number_of_features_at_predict_time():
    gm = GaussianMixture(2, random_state=0).fit(X_GOOD)
    bad = np.ones((4, 3))
    for method in (gm.predict, gm.predict_proba, gm.score_samples, gm.score, gm.bic, gm.aic):
        with pytest.raises(ValueError, match="X has 3 features, but this GaussianMixture "
                                             "was fitted with 2 features"):
            method(bad)


def test_predict_validates_values_too():
    gm = GaussianMixture(2, random_state=0).fit(X_GOOD)
    with pytest.raises(ValueError, match="NaN"):
        gm.predict(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="2-D"):
        gm.predict(np.array([1.0, 2.0]))


def test_not_fitted():
    with pytest.raises(NotFittedError):
        GaussianMixture().predict(X_GOOD)


def test_collapsed_component_error_is_clear_without_regularization():
    # Two distinct points for two components with reg_covar=0: every component
    # collapses onto identical points, and re-seeding cannot help.
    X = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [5.0, 5.0], [5.0, 5.0]])
    for covariance_type in ("full", "diag", "spherical"):
        gm = GaussianMixture(2, reg_covar=0.0, covariance_type=covariance_type)
        with pytest.raises(ValueError, match="not positive definite.*re-seeding it "
                                             "elsewhere did not help.*Increase reg_covar"):
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
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                gm.fit(X)
        except ValueError as exc:
            assert "not positive definite" in str(exc) and "Increase reg_covar" in str(exc)
        else:
            for name in ("weights_", "means_", "covariances_", "precisions_"):
                assert np.all(np.isfinite(getattr(gm, name))), name
            assert np.isfinite(gm.lower_bound_)
