"""Accelerated EM (``fastgmm._accelerate``) driving the plain-numpy reference EM map.

The map is ``tests/_reference.py``'s E-step and M-step; the accelerator must keep
the accepted log-likelihoods non-decreasing, stop by plain EM's rule at (at least)
plain EM's optimum, never hand the map an invalid point, and need far fewer passes
where components overlap.
"""

import warnings

import numpy as np

from fastgmm._source import ArraySource
import pytest

import _reference as ref
from conftest import COVARIANCE_TYPES, make_mixture
from fastgmm._accelerate import (STEP_LENGTHS, EMStep, _extrapolate, _InformationMetric,
                                 _valid_params, kernel_em_step, squarem)
from fastgmm._mstep import GaussianParams, compute_precision_cholesky
from fastgmm._openmp_helpers import blas_single_thread


def _params(weights, means, covariances, covariance_type):
    return GaussianParams(np.asarray(weights, dtype=float), np.asarray(means, dtype=float),
                          np.asarray(covariances, dtype=float),
                          compute_precision_cholesky(covariances, covariance_type))


def reference_em_step(X, covariance_type, reg_covar, sample_weight=None):
    """The EM map of the reference EM: params -> (next params, mean log-likelihood)."""
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)

    def em_step(params):
        resp, log_norm = ref.e_step(X, params.weights, params.means, params.covariances,
                                    covariance_type)
        weights, means, covariances = ref.m_step(X, resp, covariance_type, reg_covar, w)
        return (_params(weights, means, covariances, covariance_type),
                float(w @ log_norm / w.sum()))

    return em_step


def plain_em(em_step, params, tol, max_iter=20000):
    """Plain EM by the same rule: (final params, lower bound, passes, bounds)."""
    previous, bounds = -np.inf, []
    for n_iter in range(1, max_iter + 1):
        params, value = em_step(params)[:2]
        bounds.append(value)
        if abs(value - previous) < tol:
            break
        previous = value
    return params, value, n_iter, bounds


def overlapping_problem(covariance_type, n_samples=600, seed=3):
    """Three strongly overlapping 2-D components and a common start."""
    X, _ = make_mixture(n_samples, 2, 3, seed=seed, separation=1.2)
    rng = np.random.default_rng(seed)
    means = X[rng.choice(n_samples, 3, replace=False)]
    cov = np.cov(X.T)
    covariances = {"full": np.repeat(cov[None], 3, axis=0), "tied": cov,
                   "diag": np.repeat(np.diag(cov)[None], 3, axis=0),
                   "spherical": np.full(3, np.trace(cov) / 2)}[covariance_type]
    return X, _params(np.full(3, 1 / 3), means, covariances, covariance_type)


def slow_problem(n_samples=1000, seed=0):
    """Three unit-covariance 2-D components on a triangle of side 1.6 (plain EM
    needs thousands of passes to tol=1e-10), started from 3 rows and the data
    covariance."""
    rng = np.random.default_rng(seed)
    centres = 1.6 * np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.866]])
    X = centres[rng.integers(0, 3, n_samples)] + rng.normal(size=(n_samples, 2))
    start = _params(np.full(3, 1 / 3), X[rng.choice(n_samples, 3, replace=False)],
                    np.repeat(np.cov(X.T)[None], 3, axis=0), "full")
    return X, start


def counting(em_step):
    """em_step that records every point it is given."""
    seen = []

    def wrapped(params):
        seen.append(params)
        return em_step(params)

    return wrapped, seen


def assert_valid(params, covariance_type, floor):
    assert np.all(np.isfinite(params.weights)) and abs(params.weights.sum() - 1) < 1e-12
    assert np.all(params.weights > 0)
    cov = params.covariances
    if covariance_type in ("full", "tied"):
        stack = cov if covariance_type == "full" else cov[None]
        assert np.allclose(stack, np.swapaxes(stack, 1, 2))
        assert np.all(np.linalg.eigvalsh(stack) > floor * (1 - 1e-9))
    else:
        assert np.all(cov > floor)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_monotone_and_at_least_plain_em_optimum(covariance_type):
    X, start = overlapping_problem(covariance_type)
    # reg_covar=0: the M-step is an exact maximization, so EM itself is monotone.
    step = reference_em_step(X, covariance_type, 0.0)
    _, plain_bound, plain_passes, _ = plain_em(step, start, 1e-10)
    run = squarem(step, start, covariance_type, tol=1e-10, max_iter=20000)
    assert run.converged
    assert len(run.lower_bounds) == run.n_iter
    assert np.all(np.diff(run.lower_bounds) >= -1e-13), np.diff(run.lower_bounds).min()
    assert run.lower_bound >= plain_bound - 1e-9
    assert run.n_iter < plain_passes
    # The result is a fixed point of EM to within tol, like plain EM's.
    _, value = step(run.params)
    assert abs(value - run.lower_bound) < 1e-8


def test_far_fewer_passes_on_overlapping_components():
    X, start = slow_problem()
    step = reference_em_step(X, "full", 1e-6)
    _, plain_bound, plain_passes, _ = plain_em(step, start, 1e-10)
    run = squarem(step, start, "full", tol=1e-10, max_iter=20000, reg_covar=1e-6)
    assert plain_passes > 2000         # the problem is a slow one for plain EM
    assert run.n_iter * 6 <= plain_passes, (run.n_iter, plain_passes)
    assert run.lower_bound >= plain_bound - 1e-9
    assert run.n_accepted > 0


def test_invalid_extrapolation_is_shortened_until_valid():
    """A nearly straight path (|v| << |r|) asks for a long step that would make a
    variance negative: the step is halved towards 1 until the point is valid."""
    w, m = np.array([0.5, 0.5]), np.zeros((2, 1))
    points = [_params(w, m, np.array([[1.0], [v]]), "diag") for v in (1.0, 0.6, 0.21)]
    params, step, proposed, n_invalid = _extrapolate(points, "diag", STEP_LENGTHS["s3"],
                                                     100.0, 0.0, 1e-12)
    assert proposed == pytest.approx(40.0, rel=1e-9)
    assert n_invalid > 0 and 1.0 < step < proposed
    assert params is not None and np.all(params.covariances > 0)
    # Below the floor is invalid too: a floor at 0.5 leaves only the plain step.
    params, step, _, n_invalid = _extrapolate(points, "diag", STEP_LENGTHS["s3"],
                                              100.0, 0.5, 1e-12)
    assert params is None and step == 1.0 and n_invalid > 0


def test_only_valid_points_reach_the_map():
    """A component with a small weight and long steps ("s2", no ceiling) produce
    invalid extrapolations; none of them is ever evaluated."""
    X, labels = make_mixture(600, 2, 3, seed=1, separation=5.0)
    centres = np.array([X[labels == k].mean(axis=0) for k in range(3)])
    start = _params([0.33, 0.33, 0.33, 0.01], np.vstack([centres + 0.3, centres.mean(0)]),
                    np.repeat(np.eye(2)[None], 4, axis=0), "full")
    reg = 1e-6
    step, seen = counting(reference_em_step(X, "full", reg))
    run = squarem(step, start, "full", tol=1e-10, max_iter=3000, reg_covar=reg,
                  step_length="s2", step_max=1e8)
    assert run.converged and run.n_invalid > 0
    for params in seen[1:]:          # the start is the caller's
        assert_valid(params, "full", (1 - 1e-3) * reg)
        np.testing.assert_allclose(params.precisions_cholesky,
                                   compute_precision_cholesky(params.covariances, "full"))


def test_extrapolations_that_lower_the_likelihood_are_rejected():
    X, start = overlapping_problem("full")
    step = reference_em_step(X, "full", 0.0)
    run = squarem(step, start, "full", tol=1e-10, max_iter=5000, step_length="s2",
                  step_max=64.0)
    assert run.n_extrapolated > run.n_accepted      # some were rejected...
    assert np.all(np.diff(run.lower_bounds) >= -1e-13)   # ...and none was kept
    assert run.converged


def test_valid_params_refuses_invalid_points():
    w, m = np.array([0.5, 0.5]), np.zeros((2, 2))
    good = np.array([np.eye(2), 2 * np.eye(2)])
    assert _valid_params(w, m, good, "full", 0.0, 1e-12) is not None
    assert _valid_params(np.array([1.2, -0.2]), m, good, "full", 0.0, 1e-12) is None
    assert _valid_params(np.array([1 - 1e-14, 1e-14]), m, good, "full", 0.0, 1e-12) is None
    not_pd = good.copy()
    not_pd[1] = [[1.0, 2.0], [2.0, 1.0]]
    assert _valid_params(w, m, not_pd, "full", 0.0, 1e-12) is None
    assert _valid_params(w, m, good, "full", 1.5, 1e-12) is None       # below the floor
    assert _valid_params(w, np.full((2, 2), np.nan), good, "full", 0.0, 1e-12) is None
    assert _valid_params(w, m, np.array([[1.0, -1e-3], [1.0, 1.0]]), "diag", 0.0,
                         1e-12) is None
    assert _valid_params(w, m, np.array([1.0, 0.0]), "spherical", 0.0, 1e-12) is None
    assert _valid_params(w, m, np.array([[1.0, 0.5], [0.5, -1.0]]), "tied", 0.0,
                         1e-12) is None


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag"])
def test_information_metric_is_invariant_to_feature_units(covariance_type):
    """Step lengths do not depend on the data's units (the metric is whitened;
    spherical models are not invariant to per-feature units, so not tested)."""
    X, start = overlapping_problem(covariance_type)
    scale = np.array([1e3, 1e-2])
    step = reference_em_step(X, covariance_type, 0.0)
    scaled_step = reference_em_step(X * scale, covariance_type, 0.0)
    p1 = step(start)[0]
    p2 = step(p1)[0]
    metric = _InformationMetric(p1, covariance_type)

    def rescaled(p):
        cov = p.covariances
        if covariance_type in ("full", "tied"):
            cov = cov * np.outer(scale, scale)
        else:
            cov = cov * scale ** 2
        return _params(p.weights, p.means * scale, cov, covariance_type)

    q1, q2 = rescaled(p1), rescaled(p2)
    scaled_metric = _InformationMetric(q1, covariance_type)
    d = metric.whiten(p2.weights - p1.weights, p2.means - p1.means,
                      p2.covariances - p1.covariances)
    e = scaled_metric.whiten(q2.weights - q1.weights, q2.means - q1.means,
                             q2.covariances - q1.covariances)
    assert d @ d == pytest.approx(e @ e, rel=1e-9)
    run = squarem(step, start, covariance_type, tol=1e-9, max_iter=5000)
    scaled_run = squarem(scaled_step, rescaled(start), covariance_type, tol=1e-9,
                         max_iter=5000)
    assert abs(run.n_iter - scaled_run.n_iter) <= 0.05 * run.n_iter + 3


def test_reseeded_step_resets_the_extrapolation():
    X, start = overlapping_problem("full")
    step = reference_em_step(X, "full", 0.0)
    outputs, seen = {}, []

    def reseeding(params):
        seen.append(params)
        nxt, value = step(params)
        outputs[len(seen)] = nxt
        return EMStep(nxt, value, len(seen) == 7)

    run = squarem(reseeding, start, "full", tol=1e-10, max_iter=60)
    assert run.n_resets == 1
    # After the re-seed, the next two passes are plain EM steps from its output.
    assert seen[7] is outputs[7]
    assert seen[8] is outputs[8]


def test_reseeding_extrapolated_points_are_rejected():
    X, start = overlapping_problem("full")
    step = reference_em_step(X, "full", 0.0)
    produced = [start]      # held, so that identities stay unique

    def reseeds_off_path(params):
        nxt, value = step(params)
        off_path = not any(params is p for p in produced)
        produced.append(nxt)
        return EMStep(nxt, value, off_path)

    run = squarem(reseeds_off_path, start, "full", tol=1e-10, max_iter=400)
    assert run.n_extrapolated > 0 and run.n_accepted == 0
    assert np.all(np.diff(run.lower_bounds) >= -1e-13)


def test_warm_start_from_a_converged_fit_stops_at_once():
    X, start = overlapping_problem("diag")
    step = reference_em_step(X, "diag", 1e-6)
    run = squarem(step, start, "diag", tol=1e-8, max_iter=5000, reg_covar=1e-6)
    again = squarem(step, run.params, "diag", tol=1e-8, max_iter=5000, reg_covar=1e-6,
                    lower_bound=run.lower_bound)
    assert again.converged and again.n_iter == 1
    assert again.lower_bound >= run.lower_bound - 1e-12


def test_max_iter_counts_passes_and_zero_returns_the_start():
    X, start = overlapping_problem("tied")
    step, seen = counting(reference_em_step(X, "tied", 1e-6))
    for max_iter in (1, 2, 3, 4, 7, 10):
        seen.clear()
        run = squarem(step, start, "tied", tol=0.0, max_iter=max_iter, reg_covar=1e-6)
        assert run.n_iter == len(seen) == max_iter == len(run.lower_bounds)
        assert not run.converged
    run = squarem(step, start, "tied", tol=1e-3, max_iter=0)
    assert run.n_iter == 0 and run.params is start and run.lower_bound == -np.inf


def test_integer_sample_weights_equal_duplicated_rows():
    X, start = overlapping_problem("full", n_samples=300)
    counts = np.random.default_rng(0).integers(0, 4, size=len(X))
    weighted = squarem(reference_em_step(X, "full", 1e-6, counts), start, "full",
                       tol=1e-10, max_iter=5000, reg_covar=1e-6)
    duplicated = squarem(reference_em_step(np.repeat(X, counts, axis=0), "full", 1e-6),
                         start, "full", tol=1e-10, max_iter=5000, reg_covar=1e-6)
    assert weighted.lower_bound == pytest.approx(duplicated.lower_bound, abs=1e-9)
    np.testing.assert_allclose(weighted.params.means, duplicated.params.means,
                               rtol=1e-5, atol=1e-6)


def test_parameters_are_not_modified_and_progress_sees_every_pass():
    X, start = overlapping_problem("spherical")
    copy = start.copy()
    seen = []

    class Progress:
        def iteration(self, n_iter, change):
            seen.append(n_iter)

    run = squarem(reference_em_step(X, "spherical", 1e-6), start, "spherical", tol=1e-9,
                  max_iter=500, reg_covar=1e-6, progress=Progress())
    assert seen == list(range(1, run.n_iter + 1))
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        np.testing.assert_array_equal(getattr(start, name), getattr(copy, name))


def test_bad_arguments_are_refused():
    X, start = overlapping_problem("full", n_samples=50)
    step = reference_em_step(X, "full", 1e-6)
    with pytest.raises(ValueError, match="step_length"):
        squarem(step, start, "full", tol=1e-3, max_iter=5, step_length="s4")
    with pytest.raises(ValueError, match="step_max"):
        squarem(step, start, "full", tol=1e-3, max_iter=5, step_max=0.5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_kernel_em_step_is_the_reference_map(covariance_type):
    X, start = overlapping_problem(covariance_type)
    with blas_single_thread():
        kernel = kernel_em_step(ArraySource(X), covariance_type, reg_covar=1e-6,
                                n_threads=2)
        result = kernel(start)
    expected, value = reference_em_step(X, covariance_type, 1e-6)(start)
    assert not result.reseeded
    assert result.log_likelihood == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(result.next_params.means, expected.means, rtol=1e-10)
    np.testing.assert_allclose(result.next_params.covariances, expected.covariances,
                               rtol=1e-9)


def test_kernel_em_step_reports_dead_components():
    X, _ = make_mixture(400, 2, 2, seed=5, separation=6.0)
    start = _params([0.5 - 1e-300, 0.5, 1e-300], [[0, 0], [1, 1], [500, 500]],
                    np.repeat(np.eye(2)[None], 3, axis=0), "full")
    with blas_single_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = kernel_em_step(ArraySource(X), "full", reg_covar=1e-6, n_threads=1)(start)
    assert result.reseeded


def test_accelerated_kernels_reach_plain_fastgmm_optimum_in_fewer_passes():
    from fastgmm import GaussianMixture
    from fastgmm._mstep import precisions_from_cholesky
    X, start = slow_problem()
    precisions = precisions_from_cholesky(start.precisions_cholesky, "full")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = GaussianMixture(3, tol=1e-10, max_iter=20000, weights_init=start.weights,
                                means_init=start.means, precisions_init=precisions).fit(X)
    with blas_single_thread():
        run = squarem(kernel_em_step(ArraySource(X), "full", reg_covar=1e-6, n_threads=2),
                      start, "full", tol=1e-10, max_iter=20000, reg_covar=1e-6)
    assert run.converged
    assert run.lower_bound >= plain.lower_bound_ - 1e-9
    assert plain.n_iter_ > 2000
    assert run.n_iter * 4 <= plain.n_iter_, (run.n_iter, plain.n_iter_)


# ---------------------------------------------------------------------------------
# The public parameter: GaussianMixture(acceleration=...) and fastgmm.fit
# ---------------------------------------------------------------------------------

FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def _public_fit(X, covariance_type, start, acceleration, **kwargs):
    from fastgmm import GaussianMixture
    from conftest import init_from_params
    options = dict(tol=1e-10, max_iter=20000, reg_covar=0.0)
    options.update(kwargs)
    gm = GaussianMixture(start.means.shape[0], covariance_type=covariance_type,
                         acceleration=acceleration, **init_from_params(start, covariance_type),
                         **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gm.fit(X)


def _assert_identical(a, b):
    for name in FITTED:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.lower_bounds_ == b.lower_bounds_ and a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_public_squarem_is_monotone_and_reaches_plain_em_optimum(covariance_type):
    X, start = overlapping_problem(covariance_type)
    plain = _public_fit(X, covariance_type, start, "none")
    fast = _public_fit(X, covariance_type, start, "squarem")
    assert fast.converged_ and plain.converged_
    assert len(fast.lower_bounds_) == fast.n_iter_
    assert fast.lower_bound_ == fast.lower_bounds_[-1]
    # reg_covar=0: every EM step is an exact maximization, so the run is monotone.
    assert np.all(np.diff(fast.lower_bounds_) >= -1e-13), np.diff(fast.lower_bounds_).min()
    assert fast.lower_bound_ >= plain.lower_bound_ - 1e-9
    assert fast.n_iter_ < plain.n_iter_, (fast.n_iter_, plain.n_iter_)


def test_public_squarem_needs_far_fewer_passes_on_overlapping_components():
    import fastgmm
    X, start = slow_problem()
    plain = _public_fit(X, "full", start, "none", reg_covar=1e-6)
    from conftest import init_from_params
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = fastgmm.fit(X, 3, acceleration="squarem", tol=1e-10, max_iter=20000,
                           **init_from_params(start, "full"))
    assert plain.n_iter_ > 2000
    assert fast.converged_
    assert fast.n_iter_ * 6 <= plain.n_iter_, (fast.n_iter_, plain.n_iter_)
    assert fast.lower_bound_ >= plain.lower_bound_ - 1e-9


def test_default_is_plain_em_and_bad_values_are_refused():
    from fastgmm import GaussianMixture
    X, _ = make_mixture(500, 2, 3, seed=1)
    assert GaussianMixture().acceleration == "none"
    default = GaussianMixture(3, random_state=0).fit(X)
    plain = GaussianMixture(3, random_state=0, acceleration="none").fit(X)
    _assert_identical(default, plain)
    for bad in ("SQUAREM", "anderson", None, 1):
        with pytest.raises(ValueError, match="acceleration must be one of 'none', 'squarem'"):
            GaussianMixture(3, acceleration=bad).fit(X)


def test_types_whose_family_is_not_affine_run_plain_em(monkeypatch):
    """The per-type rule: a type not marked affine runs plain EM under "squarem"."""
    from fastgmm import _accelerate
    X, start = overlapping_problem("diag")
    plain = _public_fit(X, "diag", start, "none", tol=1e-6)
    assert _accelerate.extrapolates("diag") and not _accelerate.extrapolates("VEV")
    monkeypatch.setitem(_accelerate.AFFINE_COVARIANCE_FAMILY, "diag", False)
    fast = _public_fit(X, "diag", start, "squarem", tol=1e-6)
    _assert_identical(fast, plain)


def test_squarem_is_deterministic_for_any_thread_count_and_on_memmaps(tmp_path):
    from fastgmm import GaussianMixture
    from conftest import init_from_params
    X, _ = make_mixture(3000, 3, 4, seed=2, separation=1.5)
    path = tmp_path / "X.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = [GaussianMixture(4, acceleration="squarem", tol=1e-8, max_iter=2000,
                                random_state=0, n_threads=n_threads).fit(X)
                for n_threads in (1, 2)]
        _assert_identical(*fits)
        # A memory map is a streamed source (its k-means start clusters a sample),
        # so it is compared from a given start: the passes are the same.
        start = GaussianParams(fits[0].weights_, fits[0].means_ + 0.3,
                               fits[0].covariances_, fits[0].precisions_cholesky_)
        given = [GaussianMixture(4, acceleration="squarem", tol=1e-10, max_iter=2000,
                                 n_threads=2, **init_from_params(start, "full")).fit(data)
                 for data in (X, mapped)]
    _assert_identical(*given)


def test_squarem_sample_weights_equal_duplicated_rows():
    from fastgmm import GaussianMixture
    X, _ = make_mixture(400, 2, 3, seed=4, separation=1.5)
    counts = np.random.default_rng(0).integers(1, 4, len(X))
    kwargs = dict(acceleration="squarem", tol=1e-9, max_iter=5000, random_state=0,
                  init_params="random_from_data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weighted = GaussianMixture(3, **kwargs).fit(X, sample_weight=counts)
        repeated = GaussianMixture(3, **kwargs).fit(np.repeat(X, counts, axis=0))
    # The starts differ (random_from_data draws from different row lists), so the
    # optima are compared, not the paths.
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, abs=1e-6)


def test_squarem_warm_start_and_n_init():
    from fastgmm import GaussianMixture
    X, _ = make_mixture(1500, 2, 3, seed=6, separation=1.5)
    gm = GaussianMixture(3, acceleration="squarem", tol=1e-8, max_iter=3000,
                         random_state=1, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
        first = gm.lower_bound_
        assert gm.converged_
        gm.fit(X)      # continues from a fixed point of EM: the first pass converges
    assert gm.n_iter_ == 1 and gm.converged_
    assert gm.lower_bound_ == pytest.approx(first, abs=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = GaussianMixture(3, acceleration="squarem", tol=1e-8, max_iter=3000,
                              random_state=1).fit(X)
        three = GaussianMixture(3, acceleration="squarem", tol=1e-8, max_iter=3000,
                                random_state=1, n_init=3).fit(X)
    # Restart 0 draws from the same stream whatever n_init: the best of three is at
    # least as good as it.
    assert three.lower_bound_ >= one.lower_bound_


def test_squarem_verbose_reports_every_pass(capsys):
    from fastgmm import GaussianMixture
    X, _ = make_mixture(500, 2, 2, seed=3, separation=1.5)
    gm = GaussianMixture(2, acceleration="squarem", tol=1e-8, max_iter=500, verbose=2,
                         verbose_interval=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.strip().startswith("Iteration")]
    assert len(lines) == gm.n_iter_ and gm.converged_


def test_squarem_run_reseeds_and_restarts_the_cycle():
    """A component started far from the data dies: the pass re-seeds it, the
    accelerator restarts its cycle, and the fit still converges."""
    from fastgmm._accelerate import accelerated_em
    from fastgmm._em import Workspace
    X, _ = make_mixture(400, 2, 2, seed=5, separation=6.0)
    start = _params([0.5 - 1e-300, 0.5, 1e-300], [[0, 0], [1, 1], [500, 500]],
                    np.repeat(np.eye(2)[None], 3, axis=0), "full")
    with blas_single_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = accelerated_em(ArraySource(X), start, "full", tol=1e-8, max_iter=2000,
                             reg_covar=1e-6, n_threads=1,
                             workspace=Workspace("full", 3, 2))
    assert run.acceleration.n_resets >= 1
    assert run.converged and len(run.lower_bounds) == run.n_iter
    assert np.all(run.params.weights > 1e-3)


def test_acceleration_survives_save_and_load(tmp_path):
    import fastgmm
    X, _ = make_mixture(300, 2, 2, seed=0)
    gm = fastgmm.fit(X, 2, acceleration="squarem", random_state=0)
    gm.save(tmp_path / "m.npz")
    loaded = fastgmm.load(tmp_path / "m.npz")
    assert loaded.acceleration == "squarem"
    np.testing.assert_array_equal(loaded.means_, gm.means_)
