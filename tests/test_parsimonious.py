"""mclust's 14 covariance models (``_parsimonious``): M-steps, constraints, counts, and
the estimator features every model must support."""

import warnings

import numpy as np
import pytest
from scipy.linalg import expm
from scipy.optimize import minimize

import fastgmm
from _reference_parsimonious import reference_covariances
from fastgmm import stats
from fastgmm._parsimonious import (ALIASES, MODELS, constrained_covariances,
                                   expected_log_likelihood, is_iterative,
                                   n_covariance_parameters)
from fastgmm._validation import MCLUST_MODELS, covariance_storage

DIAGONAL = ("EII", "VII", "EEI", "VEI", "EVI", "VVI")


def _mixture(seed=0, n=240, d=3, K=3, dtype=np.float64):
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(K):
        A = rng.normal(size=(d, d)) * (0.3 + 0.4 * k)
        parts.append(rng.normal(size=(n // K, d)) @ A + 4.0 * k * rng.normal(size=d))
    return np.concatenate(parts).astype(dtype)


def _statistics(seed, K=3, d=3, n=60):
    """Responsibility masses and scatter matrices of random soft assignments."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    resp = rng.dirichlet(np.ones(K), size=n)
    nk = resp.sum(axis=0)
    means = resp.T @ X / nk[:, None]
    W = np.stack([(resp[:, k, None] * (X - means[k])).T @ (X - means[k])
                  for k in range(K)])
    return nk, W


def _decompose(cov):
    """Volume (K,), shape (K, d) decreasing with unit product, orientation (K, d, d)."""
    values, vectors = np.linalg.eigh(cov)
    values, vectors = values[:, ::-1], vectors[:, :, ::-1]
    volume = np.exp(np.log(values).mean(axis=1))
    return volume, values / volume[:, None], vectors


# ---------------------------------------------------------------------------------
# Direct numerical maximization of Q over a parametrization of each constraint
# ---------------------------------------------------------------------------------

class _Parametrization:
    """Sigma_k = lambda_k D_k A_k D_k^T from a flat vector: log volumes (1 or K),
    log shapes (d - 1 free each, 0 or 1 or K of them), orientations (skew-symmetric
    generators of expm, d (d - 1) / 2 each, 0 or 1 or K of them)."""

    def __init__(self, model, K, d):
        count = {"E": 1, "V": K, "I": 0}
        self.K, self.d = K, d
        self.n_volume = count[model[0]]
        self.n_shape = count[model[1]]
        self.n_orientation = count[model[2]]
        self.size = (self.n_volume + self.n_shape * (d - 1)
                     + self.n_orientation * d * (d - 1) // 2)

    def covariances(self, theta):
        K, d = self.K, self.d
        pos = 0
        log_volume = np.broadcast_to(theta[pos:pos + self.n_volume], (K,))
        pos += self.n_volume
        free = theta[pos:pos + self.n_shape * (d - 1)].reshape(self.n_shape, d - 1)
        pos += self.n_shape * (d - 1)
        log_shape = np.zeros((K, d))
        if self.n_shape:
            full = np.concatenate([free, -free.sum(axis=1, keepdims=True)], axis=1)
            log_shape[...] = np.broadcast_to(full, (K, d))
        m = d * (d - 1) // 2
        generators = theta[pos:pos + self.n_orientation * m].reshape(self.n_orientation, m)
        iu = np.triu_indices(d, 1)
        rotations = []
        for g in generators:
            S = np.zeros((d, d))
            S[iu] = g
            rotations.append(expm(S - S.T))
        D = (np.broadcast_to(rotations[0] if len(rotations) == 1 else np.eye(d), (K, d, d))
             if len(rotations) <= 1 else np.stack(rotations))
        variances = np.exp(log_volume[:, None] + log_shape)
        return (D * variances[:, None, :]) @ np.swapaxes(D, 1, 2)


def _numerical_maximum(model, nk, W, n_starts=2, seed=0):
    K, d = W.shape[0], W.shape[1]
    par = _Parametrization(model, K, d)
    rng = np.random.default_rng(seed)

    def negative_q(theta):
        return -expected_log_likelihood(nk, W, par.covariances(theta))

    best = np.inf
    for _ in range(n_starts):
        start = rng.normal(scale=0.5, size=par.size)
        result = minimize(negative_q, start, method="BFGS",
                          options={"gtol": 1e-8, "maxiter": 3000})
        best = min(best, result.fun)
    return -best


@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_mstep_matches_numerical_maximization(model):
    nk, W = _statistics(seed=3, K=2, d=3)
    if covariance_storage(model) == "diag":
        cov = np.stack([np.diag(c) for c in constrained_covariances(
            model, nk, np.diagonal(W, axis1=1, axis2=2).copy())])
        # Axis-aligned models see only the diagonals of the scatter matrices.
        W = np.stack([np.diag(np.diag(w)) for w in W])
    else:
        cov = constrained_covariances(model, nk, W)
    ours = expected_log_likelihood(nk, W, cov)
    numerical = _numerical_maximum(model, nk, W)
    assert ours >= numerical - 1e-7 * abs(numerical)
    assert ours <= numerical + 1e-5 * abs(numerical)


def _diagonals(W):
    return np.diagonal(W, axis1=1, axis2=2).copy()


@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_compiled_mstep_equals_numpy_reference(model, monkeypatch):
    """The compiled M-step computes the numpy oracle's covariances (up to rounding and
    the tolerance of the iterative models), cold and warm, for awkward K and d.

    Both run the iterative models to 1e-12 here: at the default inner tolerance
    (mclust's, 1.5e-8 on Q) their slowly converging updates stop at iterates that
    agree in Q but may differ by 1e-4 in the covariances."""
    import _reference_parsimonious
    import fastgmm._parsimonious
    for module in (fastgmm._parsimonious, _reference_parsimonious):
        monkeypatch.setattr(module, "MSTEP_TOL", 1e-12)
    rtol = 1e-6 if is_iterative(model) else 1e-10
    for seed, (K, d) in enumerate([(1, 1), (1, 3), (2, 1), (3, 2), (4, 5), (9, 2)]):
        nk, W = _statistics(seed=30 + seed, K=K, d=d, n=80)
        other_nk, other_W = _statistics(seed=50 + seed, K=K, d=d, n=80)
        if covariance_storage(model) == "diag":
            W, other_W = _diagonals(W), _diagonals(other_W)
        previous = reference_covariances(model, other_nk, other_W)
        for warm in (None, previous):
            ours = constrained_covariances(model, nk, W, warm)
            reference = reference_covariances(model, nk, W, warm)
            np.testing.assert_allclose(ours, reference, rtol=rtol,
                                       atol=rtol * np.abs(reference).max())
            assert np.isclose(expected_log_likelihood(nk, W, ours),
                              expected_log_likelihood(nk, W, reference), rtol=1e-9)


@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_compiled_mstep_in_place_per_mass_and_inputs_untouched(model):
    nk, W = _statistics(seed=4, K=3, d=3)
    if covariance_storage(model) == "diag":
        W = _diagonals(W)
    expected = constrained_covariances(model, nk, W)
    shape = (3,) + (1,) * (W.ndim - 1)
    per_mass = W / nk.reshape(shape)
    frozen = per_mass.copy()
    out = np.empty_like(W)
    constrained_covariances(model, nk, per_mass, out=out, per_mass=True)
    np.testing.assert_array_equal(per_mass, frozen)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)
    constrained_covariances(model, nk, per_mass, out=per_mass, per_mass=True)
    np.testing.assert_array_equal(per_mass, out)
    with pytest.raises(ValueError, match="out must be"):
        constrained_covariances(model, nk, W, out=np.empty(W.shape, dtype=np.float32))


@pytest.mark.parametrize("model", ["VEE", "EVE", "VVE", "VEV", "VEI"])
def test_non_finite_warm_start_is_ignored(model):
    nk, W = _statistics(seed=5, K=3, d=3)
    if covariance_storage(model) == "diag":
        W = _diagonals(W)
    previous = np.full_like(W, np.nan)
    np.testing.assert_array_equal(constrained_covariances(model, nk, W, previous),
                                  constrained_covariances(model, nk, W))


@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_parameter_count_is_the_constraint_dimension(model):
    for K, d in [(1, 1), (2, 3), (4, 5)]:
        assert n_covariance_parameters(model, K, d) == _Parametrization(model, K, d).size


def test_parameter_counts_equal_mclust_nvarparams():
    G, d = 3, 4
    expected = {
        "EII": 1, "VII": G, "EEI": d, "VEI": G + d - 1, "EVI": 1 + G * (d - 1),
        "VVI": G * d, "EEE": d * (d + 1) // 2, "VEE": G - 1 + d * (d + 1) // 2,
        "EVE": 1 + G * (d - 1) + d * (d - 1) // 2, "VVE": G * d + d * (d - 1) // 2,
        "EEV": 1 + (d - 1) + G * d * (d - 1) // 2, "VEV": G + (d - 1) + G * d * (d - 1) // 2,
        "EVV": 1 + G * (d * (d + 1) // 2 - 1), "VVV": G * d * (d + 1) // 2}
    for model, count in expected.items():
        assert n_covariance_parameters(model, G, d) == count
        gm = fastgmm.GaussianMixture(G, covariance_type=model)
        gm.means_ = np.zeros((G, d))
        assert gm._n_parameters() == count + G * d + G - 1
    for alias, model in ALIASES.items():
        assert n_covariance_parameters(alias, G, d) == expected[model]


@pytest.mark.parametrize("model", [m for m in MCLUST_MODELS if is_iterative(m)])
def test_iterative_mstep_never_worse_than_its_warm_start(model):
    for seed in range(3):
        nk, W = _statistics(seed=10 + seed, K=3, d=3)
        other_nk, other_W = _statistics(seed=20 + seed, K=3, d=3)
        if covariance_storage(model) == "diag":
            W = np.diagonal(W, axis1=1, axis2=2).copy()
            other_W = np.diagonal(other_W, axis1=1, axis2=2).copy()
        previous = constrained_covariances(model, other_nk, other_W)  # a valid point
        new = constrained_covariances(model, nk, W, previous)
        assert (expected_log_likelihood(nk, W, new)
                >= expected_log_likelihood(nk, W, previous) - 1e-12)
        cold = constrained_covariances(model, nk, W)
        assert np.isclose(expected_log_likelihood(nk, W, new),
                          expected_log_likelihood(nk, W, cold), rtol=1e-6)


# ---------------------------------------------------------------------------------
# Fits
# ---------------------------------------------------------------------------------

def _fit(model, X, **kwargs):
    params = dict(random_state=0, tol=1e-6, max_iter=200)
    params.update(kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastgmm.ConvergenceWarning)
        return fastgmm.GaussianMixture(3, covariance_type=model, **params).fit(X)


def _check_constraint(model, cov):
    K = cov.shape[0]
    if cov.ndim == 2:
        assert model in DIAGONAL
        volume = np.exp(np.log(cov).mean(axis=1))
        shape = cov / volume[:, None]                  # per coordinate axis
        cov = np.stack([np.diag(c) for c in cov])
    else:
        volume, shape, _ = _decompose(cov)
    if model[0] == "E":
        np.testing.assert_allclose(volume, volume[0], rtol=1e-8)
    if model[1] == "I":
        np.testing.assert_allclose(shape, 1.0, rtol=1e-8)
    elif model[1] == "E":
        np.testing.assert_allclose(shape, np.broadcast_to(shape[0], shape.shape), rtol=1e-6)
    if model[2] == "I":
        np.testing.assert_allclose(cov, np.stack([np.diag(np.diag(c)) for c in cov]),
                                   atol=0)
    elif model[2] == "E":
        for j in range(1, K):      # a common orientation: the matrices commute
            np.testing.assert_allclose(cov[0] @ cov[j], cov[j] @ cov[0],
                                       atol=1e-8 * np.abs(cov).max() ** 2)


@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_fit_constraint_shapes_and_monotone_log_likelihood(model):
    X = _mixture()
    gm = _fit(model, X, max_iter=40, tol=0.0, reg_covar=1e-10)
    K, d = 3, X.shape[1]
    shape = (K, d) if model in DIAGONAL else (K, d, d)
    assert gm.covariances_.shape == gm.precisions_.shape == shape
    assert gm.precisions_cholesky_.shape == shape
    _check_constraint(model, gm.covariances_)
    bounds = np.array(gm.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))
    n = X.shape[0]
    assert np.isclose(gm.bic(X), -2 * gm.score(X) * n + gm._n_parameters() * np.log(n))
    assert np.isclose(gm.aic(X), -2 * gm.score(X) * n + 2 * gm._n_parameters())
    proba = gm.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(gm.predict(X), proba.argmax(axis=1))
    Xs, ys = gm.sample(17)
    assert Xs.shape == (17, d) and ys.shape == (17,)


def test_nested_models_order_their_likelihoods():
    """A model that contains another (VVV contains EEE contains EII) fits at least as
    well from the same start; every model's log-likelihood is at most VVV's plus
    rounding when both reach a shared optimum."""
    X = _mixture(seed=1)
    ll = {m: _fit(m, X, n_init=2).score(X) for m in ("EII", "EEI", "EEE", "VVV")}
    assert ll["EII"] <= ll["EEI"] + 1e-9 <= ll["EEE"] + 2e-9 <= ll["VVV"] + 3e-9


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_alias_equals_its_mclust_model(alias):
    X = _mixture(seed=2)
    a, b = _fit(alias, X), _fit(ALIASES[alias], X)
    assert a.covariance_type == alias and b.covariance_type == ALIASES[alias]
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(a.score_samples(X), b.score_samples(X), rtol=1e-7)
    assert np.isclose(a.bic(X), b.bic(X))
    cov_a = a.covariances_
    if alias == "tied":
        cov_a = np.broadcast_to(cov_a, b.covariances_.shape)
    elif alias == "spherical":
        cov_a = np.repeat(cov_a[:, None], X.shape[1], axis=1)
    np.testing.assert_allclose(cov_a, b.covariances_, rtol=1e-7)


@pytest.mark.parametrize("model", ["VEI", "EVE", "VVE", "EEV", "VEV"])
def test_weighted_fit_equals_repeated_rows(model):
    X = _mixture(seed=4, n=120)
    counts = np.random.default_rng(0).integers(1, 4, size=X.shape[0])
    gm_r = fastgmm.GaussianMixture(3, covariance_type=model, tol=1e-8, max_iter=300)
    # The same start for both: the weighted fit's initial parameters.
    start = fastgmm.GaussianMixture(3, covariance_type=model, random_state=0,
                                    init_params="random_from_data", max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start.fit(X, sample_weight=counts.astype(float))
    gm_w = fastgmm.GaussianMixture(3, covariance_type=model, tol=1e-8, max_iter=300,
                                   weights_init=start.weights_, means_init=start.means_,
                                   precisions_init=start.precisions_)
    gm_r.set_params(weights_init=start.weights_, means_init=start.means_,
                    precisions_init=start.precisions_)
    gm_w.fit(X, sample_weight=counts.astype(float))
    gm_r.fit(np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(gm_w.means_, gm_r.means_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gm_w.covariances_, gm_r.covariances_, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("model", ["EII", "VEI", "EVI", "VEE", "EVE", "EEV", "EVV"])
def test_float32_fit_close_to_float64(model):
    X = _mixture(seed=5)
    a, b = _fit(model, X), _fit(model, X.astype(np.float32))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-3, atol=1e-3)
    assert abs(a.score(X) - b.score(X)) < 1e-3


@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_save_load_round_trip(model, tmp_path):
    X = _mixture(seed=6, n=90)
    gm = _fit(model, X, n_init=2)
    path = tmp_path / f"{model}.npz"
    gm.save(path)
    loaded = fastgmm.load(path)
    assert loaded.covariance_type == model
    np.testing.assert_array_equal(loaded.covariances_, gm.covariances_)
    np.testing.assert_array_equal(loaded.score_samples(X), gm.score_samples(X))
    assert loaded.bic(X) == gm.bic(X)


@pytest.mark.parametrize("model", ["VEV", "EVE", "EEI"])
def test_warm_start_and_user_initialization(model):
    X = _mixture(seed=7)
    gm = _fit(model, X, max_iter=3)
    first = gm.lower_bound_
    gm.set_params(warm_start=True, max_iter=50)
    gm.fit(X)
    assert gm.lower_bound_ >= first - 1e-12
    _check_constraint(model, gm.covariances_)
    # User-given means and (unconstrained) precisions start the fit; the first
    # M-step imposes the constraint.
    rng = np.random.default_rng(0)
    d = X.shape[1]
    precisions = (np.ones((3, d)) if model in DIAGONAL
                  else np.stack([np.eye(d) * (1 + k) for k in range(3)]))
    means = X[rng.choice(X.shape[0], 3, replace=False)]
    user = _fit(model, X, means_init=means, precisions_init=precisions)
    _check_constraint(model, user.covariances_)
    assert np.isfinite(user.score(X))


def test_collapsed_component_is_reseeded_into_a_valid_model():
    rng = np.random.default_rng(8)
    X = np.concatenate([rng.normal(size=(100, 2)), np.tile([[5.0, 5.0]], (30, 1))])
    for model in ("VVE", "EVI", "EEV", "EVV"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gm = fastgmm.GaussianMixture(3, covariance_type=model, reg_covar=0.0,
                                         random_state=0, max_iter=50).fit(X)
        assert np.all(np.isfinite(gm.covariances_))
        _check_constraint(model, gm.covariances_)
        if model == "VVE":      # its component on the 30 equal rows collapsed
            assert any(w.category is fastgmm.ReseedWarning for w in caught)


def test_statistics_layer_and_fit_function_accept_mclust_names():
    X = _mixture(seed=9)
    gm = _fit("VVE", X, max_iter=5)
    params = stats.MixtureParameters.from_model(gm)
    total = stats.block_statistics(X, params)
    new = stats.maximize(total)
    warm = stats.maximize(total, previous=params)
    # Equal up to the M-step tolerance: Q to MSTEP_TOL (relative) pins the
    # covariances to about sqrt(MSTEP_TOL) ~ 1e-4 relative.
    np.testing.assert_allclose(warm.covariances, new.covariances, rtol=1e-3, atol=1e-7)
    assert new.covariance_type == "VVE" and new.covariances.shape == (3, 3, 3)
    _check_constraint("VVE", new.covariances)
    assert fastgmm.fit(X, 2, covariance_type="EVI", random_state=0).covariance_type == "EVI"
    with pytest.raises(ValueError, match="covariance_type"):
        fastgmm.GaussianMixture(2, covariance_type="EXI").fit(X)


def test_every_model_has_a_table_entry():
    assert set(MODELS) == set(MCLUST_MODELS)
    assert {m for m in MCLUST_MODELS if is_iterative(m)} == {"VEI", "VEE", "EVE", "VVE",
                                                              "VEV"}


def _same_start_fits(model, data, X, sample_weight=None):
    start = _fit(model, X, max_iter=2)
    params = dict(weights_init=start.weights_, means_init=start.means_,
                  precisions_init=start.precisions_)
    fits = []
    for rows in (X, data):
        gm = fastgmm.GaussianMixture(3, covariance_type=model, tol=0.0, max_iter=8,
                                     **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fastgmm.ConvergenceWarning)
            fits.append(gm.fit(rows, sample_weight=sample_weight))
    return fits


@pytest.mark.parametrize("model", ["VEV", "EVE", "VEI"])
def test_chunk_stream_fit_equals_in_memory_fit(model):
    X = _mixture(seed=11, n=600)
    pieces = [X[i:i + 97] for i in range(0, X.shape[0], 97)]
    memory, streamed = _same_start_fits(model, lambda: iter(pieces), X)
    np.testing.assert_allclose(streamed.covariances_, memory.covariances_, rtol=1e-9)
    np.testing.assert_allclose(streamed.lower_bounds_, memory.lower_bounds_, rtol=1e-10)


def test_dask_fit_equals_in_memory_fit():
    da = pytest.importorskip("dask.array")
    import dask
    X = _mixture(seed=12, n=600)
    with dask.config.set(scheduler="threads"):
        memory, distributed = _same_start_fits("VVE", da.from_array(X, chunks=(150, 3)), X)
    np.testing.assert_allclose(distributed.covariances_, memory.covariances_, rtol=1e-9)
