"""Extreme but valid data: fits finish with finite parameters, or a clear error.

Where float64 cannot represent a fit (sums of squares beyond ~1e307, covariances
below ~1e-301), the validation refuses it up front with a ValueError that says how
to rescale; everything short of that fits.
"""

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import COVARIANCE_TYPES, make_mixture
from fastgmm import ConvergenceWarning, GaussianMixture

X_BASE = make_mixture(300, 3, 3, seed=0)[0]
FITTED_ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_",
                     "precisions_cholesky_")


def _fit_quietly(X, n_components, **params):
    """Fit, failing on any warning except ConvergenceWarning (checked separately)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(n_components, random_state=0, **params).fit(X)


def _assert_finite_fit(gm, X):
    for name in FITTED_ATTRIBUTES:
        assert np.all(np.isfinite(getattr(gm, name))), name
    assert np.isfinite(gm.lower_bound_) and np.all(np.isfinite(gm.lower_bounds_))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log_prob = gm.score_samples(X)
        resp = gm.predict_proba(X)
    assert np.all(np.isfinite(log_prob)) and np.all(np.isfinite(resp))
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("scale", [1e150, 1e-150])
def test_scaled_data_fits_are_scale_equivariant(covariance_type, scale):
    """X * s with reg_covar * s**2 gives means * s, covariances * s**2 and the lower
    bound minus d log s: the same fit, on a scale 150 decades away."""
    d = X_BASE.shape[1]
    reference = _fit_quietly(X_BASE, 3, covariance_type=covariance_type)
    scaled = _fit_quietly(X_BASE * scale, 3, covariance_type=covariance_type,
                          reg_covar=1e-6 * scale ** 2)
    _assert_finite_fit(scaled, X_BASE * scale)
    np.testing.assert_allclose(scaled.means_ / scale, reference.means_, rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_allclose(scaled.covariances_ / scale ** 2, reference.covariances_,
                               rtol=1e-9)
    assert scaled.lower_bound_ + d * np.log(scale) == pytest.approx(reference.lower_bound_,
                                                                    abs=1e-9)


@pytest.mark.parametrize("scale", [1e150, 1e-150])
def test_scaled_data_with_default_regularization(covariance_type, scale):
    # For tiny data the absolute reg_covar=1e-6 dominates (as in scikit-learn): the
    # fit is finite, the components merely cannot be told apart.
    gm = _fit_quietly(X_BASE * scale, 3, covariance_type=covariance_type)
    _assert_finite_fit(gm, X_BASE * scale)


@pytest.mark.parametrize("X, params, match", [
    (X_BASE * 1e155, {}, "X is too large for float64.*Rescale X"),
    (X_BASE + 1e160, {}, "X is too large for float64.*subtract the column means"),
    (np.vstack([X_BASE, [[1e300, 0, 0]]]), {}, "X is too large for float64"),
    (X_BASE * 1e-160, {"reg_covar": 0.0}, "X is too small for float64.*set reg_covar > 0"),
])
def test_beyond_float64_is_a_clear_error(covariance_type, X, params, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=match):
            GaussianMixture(3, covariance_type=covariance_type, **params).fit(X)


def test_constant_column(covariance_type):
    X = X_BASE.copy()
    X[:, 1] = 5.0
    gm = _fit_quietly(X, 3, covariance_type=covariance_type)
    _assert_finite_fit(gm, X)
    np.testing.assert_allclose(gm.means_[:, 1], 5.0, rtol=1e-12)
    if covariance_type != "spherical":   # a zero variance needs regularization
        with pytest.raises(ValueError, match="not positive definite.*Increase reg_covar"):
            GaussianMixture(3, covariance_type=covariance_type, reg_covar=0.0,
                            random_state=0).fit(X)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_component_too_narrow_for_float64_is_a_clear_error(covariance_type):
    """One cluster spans 1e-156 (variance ~1e-312) next to a unit-scale one: with
    reg_covar=0 its precision overflows, which is refused instead of stored as inf."""
    rng = np.random.default_rng(0)
    X = np.vstack([100 + rng.normal(size=(50, 2)), 1e-156 * rng.normal(size=(50, 2))])
    gm = GaussianMixture(2, covariance_type=covariance_type, reg_covar=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="non-finite precisions_.*Increase reg_covar"):
            gm.fit(X)
    assert not hasattr(gm, "means_")   # nothing half-stored
    _assert_finite_fit(_fit_quietly(X, 2, covariance_type=covariance_type), X)


def test_all_rows_identical(covariance_type):
    X = np.full((40, 2), 7.0)
    gm = _fit_quietly(X, 2, covariance_type=covariance_type)
    _assert_finite_fit(gm, X)
    # k-means leaves the second cluster empty; it is re-seeded on the worst explained
    # point, which is the same point: every component ends on the only value.
    np.testing.assert_allclose(gm.means_, 7.0)
    assert gm.weights_.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_duplicated_rows_and_more_components_than_distinct_points(covariance_type,
                                                                  init_params):
    X = np.repeat(X_BASE[:10], 5, axis=0)      # 50 rows, 10 distinct
    for n_components in (3, 10, 12):
        gm = _fit_quietly(X, n_components, covariance_type=covariance_type,
                          init_params=init_params)
        _assert_finite_fit(gm, X)


def test_one_row_components(covariance_type):
    # An isolated point forms a component of its own (covariance = reg_covar).
    X = np.vstack([X_BASE, [[1e3, 1e3, 1e3]]])
    means = np.array([[0.0, 0.0, 0.0], [1e3, 1e3, 1e3]])
    gm = _fit_quietly(X, 2, covariance_type=covariance_type, means_init=means)
    _assert_finite_fit(gm, X)
    assert np.count_nonzero(gm.predict(X) == gm.predict(X[-1:])[0]) == 1
    assert gm.weights_.min() == pytest.approx(1 / len(X))


@pytest.mark.parametrize("n_samples, n_features", [(20, 3), (15, 5), (8, 1)])
def test_as_many_components_as_rows(covariance_type, n_samples, n_features):
    X = make_mixture(n_samples, n_features, 3, seed=1)[0]
    gm = _fit_quietly(X, n_samples, covariance_type=covariance_type)
    _assert_finite_fit(gm, X)


def test_one_feature(covariance_type):
    X = X_BASE[:, :1].copy()
    gm = _fit_quietly(X, 3, covariance_type=covariance_type)
    _assert_finite_fit(gm, X)
    assert gm.means_.shape == (3, 1)


def test_five_hundred_features(covariance_type):
    X = make_mixture(800, 500, 2, seed=2, separation=1.0)[0]
    gm = _fit_quietly(X, 2, covariance_type=covariance_type, max_iter=5)
    _assert_finite_fit(gm, X)
    assert gm.covariances_.shape[-1] == (500 if covariance_type in ("full", "tied", "diag")
                                         else 2)


def test_single_row():
    X = X_BASE[:1]
    for covariance_type in COVARIANCE_TYPES:
        gm = _fit_quietly(X, 1, covariance_type=covariance_type)
        _assert_finite_fit(gm, X)
        np.testing.assert_array_equal(gm.means_, X)


def test_far_outliers_at_predict_time_score_minus_inf(covariance_type):
    """A row whose density underflows float64 under every component scores -inf (as in
    scikit-learn), gets the label of its nearest component and a responsibility of 1
    for it; the other rows are unaffected, for any thread count and block."""
    gm = _fit_quietly(X_BASE, 3, covariance_type=covariance_type)
    far = np.array([[0.0, 0.0, 0.0], [1e160, 1e160, 1e160]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = gm.score_samples(far)
        proba = gm.predict_proba(far)
        labels = gm.predict(far)
        assert gm.score(far) == -np.inf and gm.bic(far) == np.inf and gm.aic(far) == np.inf
    assert scores[1] == -np.inf and scores[0] == gm.score_samples(far[:1])[0]
    np.testing.assert_array_equal(proba[0], gm.predict_proba(far[:1])[0])
    assert sorted(proba[1].tolist()) == [0.0] * (proba.shape[1] - 1) + [1.0]
    assert labels[1] == proba[1].argmax() and labels[0] == gm.predict(far[:1])[0]
    # Over every block, whatever the thread count.
    many = np.zeros((3000, 3))
    many[[2900, 1500, 2999]] = 1e160
    results = []
    for n_threads in (1, 2):
        gm.set_params(n_threads=n_threads)
        scores = gm.score_samples(many)
        assert np.flatnonzero(np.isinf(scores)).tolist() == [1500, 2900, 2999]
        results.append((scores, gm.predict(many), gm.predict_proba(many)))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    # Far, but still representable: finite log-densities and one-hot responsibilities.
    near = np.array([[1e100, 1e100, 1e100]])
    assert np.isfinite(gm.score_samples(near)).all()
    assert np.isclose(gm.predict_proba(near).sum(), 1.0)
    # The label of a far row is the one its direction gives nearer (1e6: near enough
    # for float64 to resolve the terms of the distances that decide, e.g. the linear
    # one when the precisions are tied).
    assert gm.predict(np.full((1, 3), 1e6))[0] == gm.predict(far)[1]


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag"])
def test_soft_initialization_far_from_origin_with_constant_column(covariance_type):
    # The initial M-step takes its first pass for the means only, then the
    # covariances about them: no cancellation however far the data lie from 0.
    X = np.repeat([[1e5, 1e5], [1e5 + 5.0, 1e5]], 10, axis=0)
    gm = GaussianMixture(2, covariance_type=covariance_type, init_params="random",
                         random_state=0).fit(X)
    _assert_finite_fit(gm, X)


_FASTMATH = Path(__file__).resolve().parents[1] / "src" / "fastgmm" / "_fastmath.h"
_UB_PROGRAM = r"""
#include <math.h>
#include "_fastmath.h"
int main(void) {
    volatile double inputs[] = {NAN, -INFINITY};   /* what a far outlier feeds it */
    double sum = 0.0;
    for (int i = 0; i < 2; i++) sum += fgmm_exp_floor(inputs[i]);
    return sum == sum;   /* NaN propagates: exit status 0 */
}
"""


def test_fast_exp_has_no_undefined_behaviour_on_non_finite_input(tmp_path):
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None or not _FASTMATH.exists():
        pytest.skip("needs a C compiler and the source tree")
    source = tmp_path / "ub.c"
    source.write_text(_UB_PROGRAM)
    build = subprocess.run([compiler, "-O2", "-fsanitize=undefined",
                            "-fno-sanitize-recover=undefined", f"-I{_FASTMATH.parent}",
                            str(source), "-o", str(tmp_path / "ub"), "-lm"],
                           capture_output=True, text=True)
    if build.returncode != 0:
        pytest.skip(f"no UBSan runtime: {build.stderr.strip()[:200]}")
    run = subprocess.run([str(tmp_path / "ub")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
