"""Whole EM fits against the numpy reference and scikit-learn."""

import warnings

import numpy as np
import pytest

import _reference as ref
from conftest import (CHUNK, COVARIANCE_TYPES, assert_rel_close, init_from_params,
                      make_mixture, random_params)
from fastgmm import ConvergenceWarning, GaussianMixture

sklearn_mixture = pytest.importorskip("sklearn.mixture")


def _fit(X, covariance_type, params, n_iter, sample_weight=None, **kwargs):
    """``n_iter`` EM iterations started exactly at ``params``."""
    gm = GaussianMixture(params.means.shape[0], covariance_type=covariance_type,
                         max_iter=n_iter, tol=0.0, **init_from_params(params, covariance_type),
                         **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gm.fit(X, sample_weight=sample_weight)


@pytest.mark.parametrize("n_samples", [1, CHUNK - 1, CHUNK, CHUNK + 1, 9 * CHUNK + 3])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_fit_matches_reference_em(covariance_type, fit_path, n_samples, n_threads):
    K = 1 if n_samples == 1 else 3
    d = 3
    X, _ = make_mixture(n_samples, d, K, seed=n_samples)
    params = random_params(covariance_type, K, d, seed=2)
    sw = np.random.default_rng(3).uniform(0.1, 2.0, n_samples)
    gm = GaussianMixture(K, covariance_type=covariance_type, max_iter=6, tol=0.0,
                         n_threads=n_threads, **init_from_params(params, covariance_type))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X, sample_weight=sw)
    (w, m, c), bounds = ref.em(X, params.weights, params.means, params.covariances,
                               covariance_type, 6, sample_weight=sw)
    assert_rel_close(gm.weights_, w, 1e-10, "weights")
    assert_rel_close(gm.means_, m, 1e-10, "means")
    assert_rel_close(gm.covariances_, c, 1e-10, "covariances")
    assert_rel_close(gm.precisions_, ref.precisions(c, covariance_type), 1e-9, "precisions")
    assert_rel_close(gm.lower_bounds_, bounds, 1e-10, "lower bounds")
    assert gm.n_iter_ == 6 and len(gm.lower_bounds_) == 6
    assert gm.lower_bound_ == gm.lower_bounds_[-1]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_matches_sklearn_from_same_start(covariance_type):
    X, _ = make_mixture(2000, 4, 4, seed=21, separation=2.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = sklearn_mixture.GaussianMixture(4, covariance_type=covariance_type,
                                                max_iter=1, random_state=0).fit(X)
        init = dict(weights_init=start.weights_, means_init=start.means_,
                    precisions_init=start.precisions_)
        sk = sklearn_mixture.GaussianMixture(4, covariance_type=covariance_type, max_iter=10,
                                             tol=0.0, **init).fit(X)
        fg = GaussianMixture(4, covariance_type=covariance_type, max_iter=10, tol=0.0,
                             **init).fit(X)
    for name in ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]:
        if name == "precisions_cholesky_" and covariance_type in ("full", "tied"):
            continue  # scikit-learn returns a lower factor for user precisions; compare U U^T
        assert_rel_close(getattr(fg, name), getattr(sk, name), 1e-7, name)
    assert abs(fg.lower_bound_ - sk.lower_bound_) <= 1e-7 * abs(sk.lower_bound_)
    np.testing.assert_allclose(fg.score_samples(X), sk.score_samples(X), rtol=1e-7)
    np.testing.assert_allclose(fg.predict_proba(X), sk.predict_proba(X), atol=1e-7)
    assert np.array_equal(fg.predict(X), sk.predict(X))
    assert fg.bic(X) == pytest.approx(sk.bic(X), rel=1e-7)
    assert fg.aic(X) == pytest.approx(sk.aic(X), rel=1e-7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_likelihood_never_decreases(covariance_type, seed):
    X, _ = make_mixture(3000, 3, 5, seed=seed, separation=1.5)
    for reg_covar in (0.0, 1e-6):
        gm = GaussianMixture(5, covariance_type=covariance_type, tol=0.0, max_iter=60,
                             reg_covar=reg_covar, random_state=seed, init_params="random")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm.fit(X)
        bounds = np.asarray(gm.lower_bounds_)
        steps = np.diff(bounds)
        # Exact EM (reg_covar=0) never decreases beyond rounding; reg_covar > 0 makes
        # the M-step a near maximizer, off by O((reg_covar / variance)^2).
        slack = 1e-12 if reg_covar == 0 else 1e-9
        assert np.all(steps >= -slack * np.abs(bounds[1:])), steps.min()
        assert bounds[-1] > bounds[0]


def test_integer_sample_weight_equals_duplicated_rows(covariance_type):
    X, _ = make_mixture(500, 3, 3, seed=5)
    counts = np.random.default_rng(6).integers(0, 4, size=500)
    params = random_params(covariance_type, 3, 3, seed=7)
    weighted = _fit(X, covariance_type, params, 8, sample_weight=counts)
    duplicated = _fit(np.repeat(X, counts, axis=0), covariance_type, params, 8)
    for name in ["weights_", "means_", "covariances_"]:
        assert_rel_close(getattr(weighted, name), getattr(duplicated, name), 1e-10, name)
    assert_rel_close(weighted.lower_bounds_, duplicated.lower_bounds_, 1e-10, "bounds")


@pytest.mark.parametrize("n_features", [4, 24])
def test_float32_within_1e4_of_float64(covariance_type, n_features):
    X, _ = make_mixture(5000, n_features, 3, seed=8)
    params = random_params(covariance_type, 3, n_features, seed=9)
    fit64 = _fit(X, covariance_type, params, 20)
    fit32 = _fit(X.astype(np.float32), covariance_type, params, 20)
    for name in ["weights_", "means_", "covariances_"]:
        assert_rel_close(getattr(fit32, name), getattr(fit64, name), 1e-4, name)
    assert fit32.lower_bound_ == pytest.approx(fit64.lower_bound_, rel=1e-4)


def test_float32_input_is_not_copied_to_float64(monkeypatch):
    import fastgmm._em as em_module
    import fastgmm._passes as passes_module
    seen = []

    def spying(module, name):
        original = getattr(module, name)

        def spy(X, *args):
            seen.append((name, X.dtype))
            return original(X, *args)
        monkeypatch.setattr(module, name, spy)

    spying(passes_module, "em_statistics")     # the Python loop's passes
    spying(em_module, "em_iterations")         # the compiled iterations
    X = make_mixture(400, 2, 2, dtype=np.float32)[0]
    GaussianMixture(2, random_state=0).fit(X)            # one block: compiled
    monkeypatch.setattr(em_module.ArraySource, "ranges", lambda self, n_stats=0: [
        (0, 200), (200, self.n_samples)])
    GaussianMixture(2, random_state=0).fit(X)            # two blocks: the Python loop
    assert {name for name, _ in seen} == {"em_statistics", "em_iterations"}
    seen = [dtype for _, dtype in seen]
    assert seen and all(dtype == np.float32 for dtype in seen)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_bit_identical_for_any_thread_count(covariance_type, fit_path, init_params):
    X, _ = make_mixture(3 * CHUNK * 7 + 11, 3, 4, seed=10)
    fits = [GaussianMixture(4, covariance_type=covariance_type, init_params=init_params,
                            random_state=3, n_threads=t, max_iter=30).fit(X)
            for t in (1, 2, 3)]
    for other in fits[1:]:
        for name in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
            assert np.array_equal(getattr(fits[0], name), getattr(other, name)), name
        assert fits[0].lower_bounds_ == other.lower_bounds_
        assert np.array_equal(fits[0].predict_proba(X), other.predict_proba(X))


def test_same_random_state_same_fit_and_different_state_differs():
    X, _ = make_mixture(2000, 2, 6, seed=12, separation=1.0)
    a = GaussianMixture(6, random_state=1, init_params="random").fit(X)
    b = GaussianMixture(6, random_state=1, init_params="random").fit(X)
    c = GaussianMixture(6, random_state=2, init_params="random").fit(X)
    assert np.array_equal(a.means_, b.means_)
    assert not np.array_equal(a.means_, c.means_)


def test_n_init_keeps_best_lower_bound(monkeypatch):
    import fastgmm._em as em_module
    runs = []
    original = em_module.run_em

    def spy(*args, **kwargs):
        run = original(*args, **kwargs)
        runs.append((run.lower_bound, run.params.means.copy()))
        return run

    monkeypatch.setattr(em_module, "run_em", spy)
    X, _ = make_mixture(1500, 2, 6, seed=13, separation=2.0)
    gm = GaussianMixture(6, n_init=6, init_params="random_from_data", max_iter=200,
                         random_state=4).fit(X)
    assert len(runs) == 6
    bounds = [bound for bound, _ in runs]
    assert len(set(bounds)) > 1, "restarts should explore different optima"
    best = int(np.argmax(bounds))
    assert gm.lower_bound_ == bounds[best]
    assert np.array_equal(gm.means_, runs[best][1])


def test_convergence_warning_and_attributes():
    X, _ = make_mixture(1000, 2, 3, seed=14)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        gm = GaussianMixture(3, max_iter=2, tol=0.0, random_state=0).fit(X)
    assert not gm.converged_ and gm.n_iter_ == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        gm = GaussianMixture(3, random_state=0).fit(X)
    assert gm.converged_ and gm.n_iter_ == len(gm.lower_bounds_)
    assert abs(gm.lower_bounds_[-1] - gm.lower_bounds_[-2]) < gm.tol


def test_max_iter_zero_returns_initialization():
    X, _ = make_mixture(300, 2, 2, seed=15)
    params = random_params("full", 2, 2, seed=1)
    gm = GaussianMixture(2, max_iter=0, **init_from_params(params, "full")).fit(X)
    assert gm.n_iter_ == 0 and not gm.converged_ and gm.lower_bounds_ == []
    np.testing.assert_allclose(gm.means_, params.means)
    np.testing.assert_allclose(gm.covariances_, params.covariances, rtol=1e-12)


def test_warm_start_continues_from_previous_fit():
    X, _ = make_mixture(2000, 2, 3, seed=16, separation=1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = GaussianMixture(3, warm_start=True, max_iter=3, tol=0.0, random_state=0)
        warm.fit(X)
        first_bounds = list(warm.lower_bounds_)
        warm.fit(X)
        cold = GaussianMixture(3, max_iter=6, tol=0.0, random_state=0).fit(X)
    np.testing.assert_allclose(first_bounds + warm.lower_bounds_, cold.lower_bounds_,
                               rtol=1e-12)
    np.testing.assert_allclose(warm.means_, cold.means_, rtol=1e-12)


def test_fit_predict_equals_fit_then_predict(covariance_type):
    X, _ = make_mixture(1200, 3, 4, seed=17, separation=1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = GaussianMixture(4, covariance_type=covariance_type, max_iter=5,
                                 random_state=0).fit_predict(X)
        gm = GaussianMixture(4, covariance_type=covariance_type, max_iter=5,
                             random_state=0).fit(X)
    assert np.array_equal(labels, gm.predict(X))


def test_responsibilities_sum_to_one_and_labels_are_argmax(covariance_type):
    X, _ = make_mixture(2000, 3, 4, seed=18, separation=1.0)
    gm = GaussianMixture(4, covariance_type=covariance_type, random_state=0).fit(X)
    resp = gm.predict_proba(X)
    assert np.all((resp >= 0) & (resp <= 1))
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-13)
    clear = np.sort(resp, axis=1)[:, -1] - np.sort(resp, axis=1)[:, -2] > 1e-9
    assert np.array_equal(gm.predict(X)[clear], resp.argmax(axis=1)[clear])


def test_far_from_origin_data_keeps_precision(covariance_type):
    # The shifted one-pass statistics must not lose the covariance to cancellation.
    X, _ = make_mixture(3000, 2, 2, seed=19, offset=1e7)
    params = random_params(covariance_type, 2, 2, seed=20, scale=3.0)
    params.means += 1e7
    fg = _fit(X, covariance_type, params, 5)
    (_, m, c), _ = ref.em(X, params.weights, params.means, params.covariances,
                          covariance_type, 5)
    assert_rel_close(fg.covariances_, c, 1e-6, "covariances")
    assert_rel_close(fg.means_, m, 1e-12, "means")


# ----------------------------------------------------------- compiled EM iterations

def _fits_with_and_without_compiled_iterations(monkeypatch, make_model, X, sample_weight=None):
    """The fit of ``make_model()`` with the compiled iterations and with the Python
    loop alone; also how many compiled calls the first one made."""
    import fastgmm._em as em_module
    calls = []
    original = em_module.em_iterations

    def counting(*args):
        result = original(*args)
        calls.append(result)
        return result

    monkeypatch.setattr(em_module, "em_iterations", counting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = make_model().fit(X, sample_weight=sample_weight)
        monkeypatch.setattr(em_module, "_compiled_iterations", lambda *args: None)
        python = make_model().fit(X, sample_weight=sample_weight)
    return compiled, python, calls


def _assert_same_fit(a, b):
    for name in ["weights_", "means_", "covariances_", "precisions_cholesky_",
                 "reseeded_components_", "degenerate_components_"]:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.lower_bounds_ == b.lower_bounds_
    assert (a.n_iter_, a.converged_, a.lower_bound_) == (b.n_iter_, b.converged_,
                                                         b.lower_bound_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES + ["VEI", "EVE", "VVE", "EEV"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_compiled_iterations_are_the_python_loop(monkeypatch, covariance_type, dtype,
                                                 weighted):
    """Small fits run their iterations in one compiled call: the very same iterates
    (bit for bit) as the Python loop, for every covariance type, dtype and weights."""
    X, _ = make_mixture(CHUNK * 3 + 5, 3, 3, seed=21, separation=2.0)
    X = X.astype(dtype)
    sw = np.random.default_rng(4).uniform(0.2, 3.0, len(X)) if weighted else None
    compiled, python, calls = _fits_with_and_without_compiled_iterations(
        monkeypatch, lambda: GaussianMixture(3, covariance_type=covariance_type, n_init=2,
                                             random_state=0), X, sw)
    assert calls, "the fit did not use the compiled iterations"
    assert compiled.n_iter_ > 2
    _assert_same_fit(compiled, python)


def test_compiled_iterations_hand_dead_components_to_the_python_loop(monkeypatch):
    """A component the M-step flags (here: one started far from every row, which gets
    no responsibility) is re-seeded by the Python loop, which the compiled call hands
    the iteration to; the compiled calls go on after it; the fit is the Python loop's."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 6])
    compiled, python, calls = _fits_with_and_without_compiled_iterations(
        monkeypatch, lambda: GaussianMixture(3, means_init=[[0, 0], [6, 6], [60, -60]],
                                             max_iter=50, random_state=0), X)
    from fastgmm._kernels import EM_CONVERGED, EM_HANDOFF
    assert calls[0][0] == 0 and calls[0][2] == EM_HANDOFF
    assert calls[-1][0] > 0 and calls[-1][2] == EM_CONVERGED
    assert compiled.weights_.min() > 0.01          # re-seeded onto the data
    _assert_same_fit(compiled, python)


def test_compiled_iterations_hand_large_mean_moves_to_the_python_loop(monkeypatch):
    """Means that move by more than 1e3 variances in one iteration need the second
    pass about the new means that the Python loop makes: handed over, same fit."""
    X, _ = make_mixture(500, 2, 2, seed=22)
    params = random_params("full", 2, 2, seed=3)
    far = init_from_params(params, "full")
    far["means_init"] = params.means + 1e3      # unit covariances: a 1e6-variance move
    compiled, python, calls = _fits_with_and_without_compiled_iterations(
        monkeypatch, lambda: GaussianMixture(2, max_iter=20, random_state=0, **far), X)
    from fastgmm._kernels import EM_HANDOFF
    assert calls[0][0] == 0 and calls[0][2] == EM_HANDOFF
    _assert_same_fit(compiled, python)


def test_compiled_iterations_refuse_a_constrained_step_of_another_kind():
    """A constrained M-step whose covariances have another layout than the kind's
    (an axis-aligned model on full buffers, an unknown code, no updates) is a
    ValueError, not a write past the buffers."""
    from fastgmm._kernels import COVARIANCE_KINDS, em_iterations, n_statistics
    from fastgmm._mstep import ParameterBuffers
    X = np.random.default_rng(0).normal(size=(50, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = GaussianMixture(2, covariance_type="VVE", random_state=0,
                                 max_iter=2).fit(X)
    current = ParameterBuffers("VVE", 2, 2).load(fitted._params())
    following = ParameterBuffers("VVE", 2, 2)
    stats = np.empty(n_statistics("full", 2, 2))

    def run(constrained):
        return em_iterations(X, np.empty(0), COVARIANCE_KINDS["full"], 50.0, 1e-6, 0.0,
                             1e3, 1e-3, 5, -np.inf, current.kernel_buffers,
                             following.kernel_buffers, constrained, np.empty((2, 2)),
                             np.empty((1, stats.size)), stats, np.empty(5), 1)

    good = current.constrained_step()
    for bad in [(0,) + good[1:], (99,) + good[1:], good[:3] + (0,)]:
        with pytest.raises(ValueError, match="does not fit covariance kind"):
            run(bad)
    assert run(good)[0] >= 1


def test_compiled_iterations_over_several_calls(monkeypatch):
    """A run longer than one compiled call's buffer continues in the next call."""
    import fastgmm._em as em_module
    monkeypatch.setattr(em_module, "_COMPILED_ITERATIONS_PER_CALL", 3)
    X, _ = make_mixture(700, 2, 3, seed=23, separation=1.0)
    compiled, python, calls = _fits_with_and_without_compiled_iterations(
        monkeypatch, lambda: GaussianMixture(3, max_iter=10, tol=0.0, random_state=1), X)
    assert [done for done, _, _ in calls] == [3, 3, 3, 1]
    assert compiled.n_iter_ == 10
    _assert_same_fit(compiled, python)


def test_iterations_stay_in_python_where_they_must(monkeypatch):
    """Progress lines, callbacks and data of several blocks keep the Python loop."""
    import fastgmm._em as em_module
    monkeypatch.setattr(em_module, "em_iterations", None)    # a call would fail
    X, _ = make_mixture(400, 2, 2, seed=24)
    GaussianMixture(2, random_state=0, callback=lambda info: None).fit(X)
    GaussianMixture(2, random_state=0, verbose=1, verbose_interval=100).fit(X)
    monkeypatch.setattr(em_module.ArraySource, "ranges", lambda self, n_stats=0: [
        (0, 200), (200, self.n_samples)])
    GaussianMixture(2, random_state=0).fit(X)
