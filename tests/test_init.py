"""Initialization methods, user-supplied parameters, restarts and re-seeding."""

import warnings

import numpy as np
import pytest

from fastgmm import ReseedWarning

from conftest import CHUNK, COVARIANCE_TYPES, make_mixture, random_params
from fastgmm import ConvergenceWarning, GaussianMixture
from fastgmm._mstep import DegenerateComponentsError, n_statistics, split_statistics
from fastgmm._reseed import ComponentReseeder, data_covariance, distinct_worst_rows
from fastgmm._source import ArraySource
from fastgmm._validation import row_chunks

INIT_METHODS = ["kmeans", "ward", "k-means++", "random", "random_from_data"]


def _precisions(params, covariance_type):
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(params.covariances)
    return 1.0 / params.covariances


@pytest.mark.parametrize("init_params", INIT_METHODS)
@pytest.mark.parametrize("given", [(), ("weights",), ("means",), ("precisions",),
                                   ("weights", "means"), ("means", "precisions"),
                                   ("weights", "precisions"),
                                   ("weights", "means", "precisions")])
def test_every_init_method_and_user_parameter_subset(covariance_type, init_params, given):
    X, _ = make_mixture(800, 2, 3, seed=1)
    params = random_params(covariance_type, 3, 2, seed=2)
    values = {"weights": params.weights, "means": params.means,
              "precisions": _precisions(params, covariance_type)}
    kwargs = {f"{name}_init": values[name] for name in given}
    start = GaussianMixture(3, covariance_type=covariance_type, init_params=init_params,
                            max_iter=0, random_state=0, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(X)
    # max_iter=0 returns the initialization: the given values are used as they are.
    if "weights" in given:
        np.testing.assert_allclose(start.weights_, params.weights, rtol=1e-14)
    if "means" in given:
        np.testing.assert_allclose(start.means_, params.means, rtol=1e-14)
    if "precisions" in given:
        np.testing.assert_allclose(start.covariances_, params.covariances, rtol=1e-10)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(start, name))), name
    np.testing.assert_allclose(start.weights_.sum(), 1.0)
    fitted = GaussianMixture(3, covariance_type=covariance_type, init_params=init_params,
                             random_state=0, **kwargs).fit(X)
    assert fitted.converged_ and np.isfinite(fitted.lower_bound_)


def test_kmeans_start_is_one_m_step_on_the_kmeans_partition():
    from fastgmm._init import kmeans
    X, _ = make_mixture(3000, 3, 4, seed=3)
    gm = GaussianMixture(4, max_iter=0, random_state=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)
    # The same stream as restart 0 of random_state=7.
    from fastgmm._init import spawn_generators
    result = kmeans(X, np.empty(0), 4, spawn_generators(7, 1)[0], 2)
    for k in range(4):
        rows = X[result.labels == k]
        np.testing.assert_allclose(gm.weights_[k], rows.shape[0] / 3000, rtol=1e-12)
        np.testing.assert_allclose(gm.means_[k], rows.mean(axis=0), rtol=1e-10)
        np.testing.assert_allclose(gm.covariances_[k], np.cov(rows.T, bias=True)
                                   + 1e-6 * np.eye(3), rtol=1e-9)


@pytest.mark.parametrize("init_params", INIT_METHODS)
def test_n_init_bit_identical_for_any_thread_count(init_params):
    X, _ = make_mixture(9 * CHUNK + 5, 3, 5, seed=4, separation=1.5)
    sw = np.random.default_rng(5).uniform(0.5, 2.0, X.shape[0])
    fits = [GaussianMixture(5, init_params=init_params, n_init=4, random_state=11,
                            n_threads=t).fit(X, sample_weight=sw) for t in (1, 2, 3)]
    for other in fits[1:]:
        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
            assert np.array_equal(getattr(fits[0], name), getattr(other, name)), name
        assert fits[0].lower_bounds_ == other.lower_bounds_


def test_restarts_do_not_depend_on_their_order(monkeypatch):
    # Restart i alone, from its own stream, gives the run that restart i gives inside
    # n_init; the best of the separate runs is the n_init result, whatever the order.
    from fastgmm._init import RestartStreams
    X, _ = make_mixture(4000, 2, 6, seed=6, separation=1.2)
    n_init = 5
    together = GaussianMixture(6, n_init=n_init, random_state=3).fit(X)
    original = RestartStreams.restart

    def fit_with(order):
        """A fit whose restart j draws from the stream of restart order[j]."""
        monkeypatch.setattr(RestartStreams, "restart",
                            lambda self, j: original(self, order[j]))
        return GaussianMixture(6, n_init=len(order), random_state=3).fit(X)

    alone = [fit_with([i]) for i in range(n_init)]
    bounds = [fit.lower_bound_ for fit in alone]
    assert len(set(bounds)) > 1, "restarts should reach different optima"
    best = alone[int(np.argmax(bounds))]        # first index on ties
    assert together.lower_bound_ == best.lower_bound_
    assert np.array_equal(together.means_, best.means_)
    reverse = fit_with(list(range(n_init))[::-1])
    assert reverse.lower_bound_ == together.lower_bound_
    assert np.array_equal(reverse.means_, together.means_)


def test_n_init_finds_at_least_the_best_single_start():
    X, _ = make_mixture(3000, 2, 8, seed=8, separation=1.5)
    single = [GaussianMixture(8, random_state=s).fit(X).lower_bound_ for s in range(3)]
    multi = GaussianMixture(8, n_init=8, random_state=0).fit(X)
    assert multi.lower_bound_ >= min(single)


def test_warm_start_ignores_n_init_and_continues():
    X, _ = make_mixture(2000, 2, 3, seed=9, separation=1.5)
    gm = GaussianMixture(3, warm_start=True, n_init=5, random_state=0, tol=1e-8,
                         max_iter=500)
    gm.fit(X)
    first = gm.lower_bound_
    gm.fit(X)
    assert gm.n_iter_ <= 2 and gm.lower_bound_ >= first - 1e-12


# ---------------------------------------------------------------------------------
# Re-seeding of EM components
# ---------------------------------------------------------------------------------

def test_dead_component_is_reseeded_and_finds_the_missing_cluster():
    rng = np.random.default_rng(10)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X = np.concatenate([c + rng.normal(size=(400, 2)) for c in centres])
    # Component 2 starts far from all data: it gets exactly zero responsibility.
    means_init = np.array([[0.0, 0.0], [10.0, 0.0], [1e4, 1e4]])
    precisions_init = np.stack([np.eye(2)] * 3) * 100.0
    gm = GaussianMixture(3, means_init=means_init, precisions_init=precisions_init,
                         weights_init=[0.5, 0.49, 0.01], max_iter=200).fit(X)
    order = np.argsort(gm.means_[:, 0] + 0.1 * gm.means_[:, 1])
    np.testing.assert_allclose(gm.means_[order], centres[[0, 2, 1]], atol=0.2)
    np.testing.assert_allclose(gm.weights_, 1 / 3, atol=0.02)
    assert gm.converged_


def test_reseeder_moves_dead_components_to_worst_explained_rows(covariance_type):
    X, _ = make_mixture(2 * CHUNK + 9, 2, 3, seed=11)
    X[5] = [40.0, -40.0]                      # the worst-explained point
    params = random_params(covariance_type, 3, 2, seed=12)
    K, d = 3, 2
    stats = np.zeros(n_statistics(covariance_type, K, d))
    _, nk, s1, s2 = split_statistics(stats, covariance_type, K, d)
    # Components 0 and 1 are healthy: their statistics are those of unit Gaussians.
    nk[:2] = [200.0, 300.0]
    if covariance_type in ("full", "tied"):
        s2[...] = (np.eye(d) * 500.0 if covariance_type == "tied"
                   else np.stack([np.eye(d) * 200.0, np.eye(d) * 300.0, np.zeros((d, d))]))
    else:
        s2[:2] = np.array([[200.0], [300.0]])
    shift = params.means.copy()
    reseeder = ComponentReseeder(ArraySource(X), K, covariance_type, 1e-6, 2)
    new = reseeder.maximize(stats, shift, params)
    np.testing.assert_allclose(new.means[2], X[5])
    np.testing.assert_allclose(new.means[:2], shift[:2])
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        assert np.all(np.isfinite(getattr(new, name))), name
    assert new.weights[2] > 0.1
    assert reseeder.n_events == 1
    # The same iteration asking again (the re-centred second pass) reuses the seeds.
    again = reseeder.maximize(stats, new.means, params)
    np.testing.assert_allclose(again.means[2], X[5])
    assert reseeder.n_events == 1


def test_reseeding_budget_then_clear_error():
    X = np.repeat(np.array([[0.0, 0.0], [3.0, 3.0]]), 20, axis=0)
    K = 3
    params = random_params("full", K, 2, seed=13)
    stats = np.zeros(n_statistics("full", K, 2))
    _, nk, _, _ = split_statistics(stats, "full", K, 2)
    nk[:] = [20.0, 20.0, 0.0]                 # zero scatter: every covariance singular
    reseeder = ComponentReseeder(ArraySource(X), K, "full", 0.0, 1)
    with pytest.raises(DegenerateComponentsError), warnings.catch_warnings():
        warnings.simplefilter("error")   # the fit warns, once; the reseeder records
        for _ in range(3 * K):
            reseeder.maximize(stats, params.means, params.copy())
    assert reseeder.n_events <= reseeder.max_events
    assert reseeder.collapsed and set(reseeder.collapsed) <= set(range(K))


def test_distinct_worst_rows_skips_duplicates_and_zero_weight():
    X = np.array([[0.0], [9.0], [9.0], [8.0], [7.0], [1.0]])
    badness = np.array([0.0, 5.0, 5.0, 4.0, 3.0, 1.0])
    assert distinct_worst_rows(X, badness, np.empty(0), 3).tolist() == [1, 3, 4]
    sw = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    assert distinct_worst_rows(X, badness, sw, 3).tolist() == [2, 4, 5]
    assert distinct_worst_rows(X, badness, np.empty(0), 10, floor=0.0).tolist() == [
        1, 3, 4, 5]


@pytest.mark.parametrize("shape", [(1, 3), (2, 1), (CHUNK + 1, 4), (9000, 70)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_data_covariance_matches_numpy_in_chunks(covariance_type, shape, weighted, dtype):
    # Chunked two-pass covariance (9000 x 70 spans several chunks), far from 0.
    rng = np.random.default_rng(5)
    X = (rng.standard_normal(shape) * 3 + 1e4).astype(dtype)
    weights = rng.random(shape[0]) + 0.1 if weighted else np.empty(0)
    assert (len(row_chunks(*shape)) > 1) == (shape[0] == 9000)
    expected = np.atleast_2d(np.cov(X.astype(np.float64), rowvar=False, bias=True,
                                    aweights=weights if weighted else None))
    if covariance_type == "diag":
        expected = np.diag(expected)
    elif covariance_type == "spherical":
        expected = np.diag(expected).mean()
    got = data_covariance(ArraySource(X, weights), covariance_type)
    assert np.shape(got) == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9 * np.max(expected))
    if covariance_type in ("full", "tied"):
        np.testing.assert_array_equal(got, got.T)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_kmeans_cluster_of_identical_points_without_regularization(covariance_type):
    # A k-means cluster of identical points has zero covariance; with reg_covar=0 the
    # initial M-step gives it the data's covariance instead of failing at once.
    rng = np.random.default_rng(14)
    X = np.concatenate([np.zeros((30, 2)), rng.normal(size=(300, 2)) + 20.0,
                        rng.normal(size=(300, 2)) - 20.0])
    gm = GaussianMixture(3, covariance_type=covariance_type, reg_covar=0.0, max_iter=0,
                         random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(gm, name))), name
    assert np.any(np.all(np.abs(gm.means_) < 1e-12, axis=1))


def test_float32_and_float64_starts_agree():
    X, _ = make_mixture(5000, 3, 4, seed=15)
    a = GaussianMixture(4, random_state=1, max_iter=0)
    b = GaussianMixture(4, random_state=1, max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(X)
        b.fit(X.astype(np.float32))
    order_a, order_b = np.argsort(a.means_[:, 0]), np.argsort(b.means_[:, 0])
    np.testing.assert_allclose(b.means_[order_b], a.means_[order_a], rtol=1e-4, atol=1e-4)


def test_all_init_methods_respect_sample_weight():
    # Rows with zero weight never influence the start: the same as removing them.
    X, _ = make_mixture(1500, 2, 3, seed=16)
    sw = (np.arange(1500) % 3 != 0).astype(np.float64)
    for init_params in ("kmeans", "k-means++"):
        weighted = GaussianMixture(3, init_params=init_params, random_state=0,
                                   max_iter=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            weighted.fit(X, sample_weight=sw)
        kept = X[sw > 0]
        # Every mean is a weighted mean of kept rows: inside their bounding box.
        assert np.all(weighted.means_ >= kept.min(axis=0) - 1e-9)
        assert np.all(weighted.means_ <= kept.max(axis=0) + 1e-9)


def _collapsing_restarts_data():
    """200 N(0, 1) rows, 30 copies of (8, 8), 200 rows shifted by (0, 6): with
    reg_covar=0 some k-means starts put a diag component on the copies alone."""
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(size=(200, 2)), np.tile([8.0, 8.0], (30, 1)),
                      rng.normal(size=(200, 2)) + [0.0, 6.0]])


@pytest.mark.parametrize("n_init", [1, 2, 3, 10])
def test_a_collapsed_restart_is_dropped_not_fatal(monkeypatch, n_init):
    import fastgmm._em as em_module
    finished = []
    original = em_module.run_em

    def spy(*args, **kwargs):
        run = original(*args, **kwargs)
        finished.append(run.lower_bound)
        return run

    monkeypatch.setattr(em_module, "run_em", spy)
    X = _collapsing_restarts_data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm = GaussianMixture(4, covariance_type="diag", reg_covar=0.0, random_state=0,
                             n_init=n_init).fit(X)
    assert np.all(np.isfinite(gm.covariances_)) and np.all(gm.covariances_ > 0)
    reseeds = [w for w in caught if issubclass(w.category, ReseedWarning)]
    assert len(reseeds) == 1                     # one per fit, however many restarts
    message = str(reseeds[0].message)
    n_failed = n_init - len(finished)
    if n_init >= 3:                              # restart 2 cannot be rescued here
        assert n_failed >= 1
    if n_failed:
        assert f"{n_failed} of {n_init} initialization(s) failed and were dropped" in message
    else:
        assert "dropped" not in message
    # The kept run is the best of the restarts that succeeded.
    assert gm.lower_bound_ == max(finished)


def test_every_restart_failing_is_a_clear_error():
    X = np.repeat(np.array([[0.0, 0.0], [3.0, 3.0]]), 20, axis=0)
    with pytest.raises(ValueError, match="failed in all 4 initializations.*"
                                         "Increase reg_covar"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GaussianMixture(3, reg_covar=0.0, n_init=4, random_state=0).fit(X)


def test_restart_streams_are_lazy_and_equal_spawned_ones():
    from fastgmm._init import RestartStreams, spawn_generators
    streams = RestartStreams(7)
    spawned = np.random.SeedSequence(7).spawn(3)
    for index, child in enumerate(spawned):
        assert (streams.restart(index).random(4)
                == np.random.default_rng(child).random(4)).all()
    assert (spawn_generators(7, 2)[1].random(3) == streams.restart(1).random(3)).all()
    # Streams are made when a restart starts, one at a time (n_init costs nothing
    # up front).
    X = np.repeat(np.array([[0.0, 0.0], [3.0, 3.0]]), 20, axis=0)
    created = []
    original = RestartStreams.restart
    try:
        RestartStreams.restart = lambda self, j: created.append(j) or original(self, j)
        GaussianMixture(2, n_init=3, random_state=0).fit(X)
    finally:
        RestartStreams.restart = original
    assert created == [0, 1, 2]


@pytest.mark.parametrize("random_state", [None, 0, 12345, np.int64(7)])
def test_restart_streams_make_their_seed_sequence_on_first_use(random_state):
    # A fit from given parameters draws nothing: no SeedSequence is made for an int
    # or None; when one is made, the streams are those of SeedSequence(seed).spawn.
    from fastgmm._init import RestartStreams
    streams = RestartStreams(random_state)
    assert streams._seed is None
    if random_state is not None:
        children = np.random.SeedSequence(int(random_state)).spawn(3)
        for index, child in enumerate(children):
            np.testing.assert_array_equal(streams.restart(index).random(5),
                                          np.random.default_rng(child).random(5))
    else:
        streams.restart(0).random(2)
    assert streams.seed is streams.seed


def test_restart_streams_draw_from_a_generator_at_construction():
    # A Generator random_state is drawn from when the streams are made (as before).
    from fastgmm._init import RestartStreams
    generator = np.random.default_rng(5)
    state = generator.bit_generator.state
    RestartStreams(generator)
    assert generator.bit_generator.state != state
