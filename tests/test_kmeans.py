"""The k-means kernels and the k-means/k-means++ initialization against numpy."""

import numpy as np
import pytest

import _reference as ref
from conftest import AWKWARD_SIZES, CHUNK, make_mixture
import fastgmm._init as init_module
from fastgmm._init import KMeansBuffers, kmeans, kmeans_plusplus
from fastgmm._kernels import available_variants, variant_module
from fastgmm._kmeans import (LLOYD_CONVERGED, LLOYD_EMPTY, LLOYD_MAX_ITER,
                             lloyd_iterations, lloyd_statistics_length, lloyd_step,
                             n_blocks, pick_by_potential, plusplus_seeds, potential_blocks,
                             seed_pass)

_KERNEL_NAMES = ("lloyd_iterations", "lloyd_statistics_length", "lloyd_step", "n_blocks",
                 "pick_by_potential", "plusplus_seeds", "potential_blocks", "seed_pass")


@pytest.fixture(autouse=True, params=available_variants())
def kmeans_variant(request, monkeypatch):
    """Run every test of this module on each k-means kernel variant (baseline, AVX2,
    AVX-512) this machine can run, directly and through fastgmm._init."""
    module = variant_module(request.param, "_kmeans")
    for name in _KERNEL_NAMES:
        monkeypatch.setitem(globals(), name, getattr(module, name))
    monkeypatch.setattr(init_module, "kmeans_kernels", module)
    return request.param

RTOL = {np.float64: 1e-12, np.float32: 1e-12}   # float32 rows are read exactly as double
E = np.empty(0)


def _lloyd(X, centers, sample_weight=None, labels=None, lower=None, half_separation=None,
           lower_drift=None, n_threads=2, exact=True, upper=None, drift=None):
    """Run lloyd_step; defaults give a plain (unpruned, exact) Lloyd assignment.

    Returns labels, squared distances (exact steps), counts, sums, inertia, number
    of changed labels, lower bounds and members.
    """
    n, d = X.shape
    K = centers.shape[0]
    labels = np.zeros(n, dtype=np.intp) if labels is None else labels
    lower = np.zeros(n) if lower is None else lower
    upper = np.zeros(n) if upper is None else upper
    half_separation = np.zeros(K) if half_separation is None else half_separation
    lower_drift = np.zeros(K) if lower_drift is None else lower_drift
    drift = np.zeros(K) if drift is None else drift
    n_stats = lloyd_statistics_length(K, d)
    block_stats = np.empty((n_blocks(n, K, d), n_stats))
    stats = np.empty(n_stats)
    sw = np.empty(0) if sample_weight is None else sample_weight
    lloyd_step(X, sw, np.empty(0), centers, half_separation, drift, lower_drift, exact,
               labels, upper, lower, block_stats, stats, n_threads)
    counts = stats[2:2 + K]
    sums = stats[2 + K:2 + K + K * d].reshape(K, d)
    return labels, upper ** 2, counts, sums, stats[0], stats[1], lower, stats[-K:]


def _clear_rows(X, centers, gap=1e-9):
    """Rows whose nearest centre is not (nearly) tied with the second nearest."""
    dist = np.sort(ref.squared_distances(X, centers), axis=1)
    if dist.shape[1] < 2:
        return np.ones(X.shape[0], dtype=bool)
    return dist[:, 1] - dist[:, 0] > gap * (1 + dist[:, 1])


@pytest.mark.parametrize("n_samples", AWKWARD_SIZES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_lloyd_step_matches_reference(n_samples, dtype, weighted):
    K, d = 5, 3
    X, _ = make_mixture(n_samples, d, 4, seed=n_samples, dtype=dtype)
    centers = np.random.default_rng(1).normal(scale=4.0, size=(K, d))
    sw = np.random.default_rng(2).uniform(0, 3, n_samples) if weighted else None
    labels, dsq, counts, sums, inertia, changed, lower, members = _lloyd(X, centers, sw)
    e_labels, e_dsq, e_counts, e_sums, e_inertia = ref.kmeans_assignment(X, centers, sw)
    if n_samples == 0:
        assert inertia == 0 and np.all(counts == 0) and np.all(sums == 0)
        return
    assert np.array_equal(labels, e_labels)      # no ties in random data
    np.testing.assert_allclose(dsq, e_dsq, rtol=RTOL[dtype])
    np.testing.assert_allclose(counts, e_counts, rtol=1e-12)
    np.testing.assert_allclose(sums, e_sums, rtol=1e-12, atol=1e-12 * np.abs(e_sums).max())
    assert inertia == pytest.approx(e_inertia, rel=1e-12)
    assert changed == np.count_nonzero(e_labels != 0)
    positive = np.ones(n_samples, bool) if sw is None else sw > 0
    assert np.array_equal(members, np.bincount(e_labels[positive], minlength=K))
    second = np.sort(ref.squared_distances(X, centers), axis=1)[:, 1]
    np.testing.assert_allclose(lower, np.sqrt(second), rtol=1e-12)


@pytest.mark.parametrize("K", [1, 3, 4, 5, 8, 9, 16, 17])   # both sides of the kernels' limits
@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_exact_step_without_row_bounds_matches_reference(K, d):
    # No per-row bounds: up to 16 centres every row searches every centre, beyond
    # the half-separation test prunes first; up to the lanes of a register (8 with
    # AVX-512, 4 with AVX2; none in the baseline build) the cluster sums run in
    # registers. Every row starts with the label K - 1 or no valid one (-1).
    n = 3 * CHUNK + 17
    X, _ = make_mixture(n, d, 4, seed=K + 10 * d)
    rng = np.random.default_rng(K * d)
    centers = X[rng.choice(n, K, replace=False)].astype(np.float64)
    sw = rng.uniform(0, 3, n)
    sw[::7] = 0.0
    labels = np.where(rng.random(n) < 0.5, K - 1, -1).astype(np.intp)
    start = np.where(labels < 0, 0, labels)
    half = np.full(K, np.inf) if K == 1 else 0.5 * np.sort(
        np.sqrt(ref.squared_distances(centers, centers)), axis=1)[:, 1]
    got, _, counts, sums, inertia, changed, _, members = _lloyd(
        X, centers, sw, labels=labels, lower=E, upper=E, half_separation=half)
    e_labels, _, e_counts, e_sums, e_inertia = ref.kmeans_assignment(X, centers, sw)
    clear = _clear_rows(X, centers)
    assert np.array_equal(got[clear], e_labels[clear])
    np.testing.assert_allclose(counts, np.bincount(got, sw, minlength=K), rtol=1e-12)
    assert np.array_equal(members, np.bincount(got[sw > 0], minlength=K))
    e_sums = np.stack([np.bincount(got, sw * X[:, j], minlength=K) for j in range(d)], 1)
    np.testing.assert_allclose(sums, e_sums, rtol=1e-12, atol=1e-12 * np.abs(e_sums).max())
    assert inertia == pytest.approx(e_inertia, rel=1e-12)
    assert changed == np.count_nonzero(got != start)


@pytest.mark.parametrize("weighted", [False, True])
def test_bounded_steps_give_the_plain_assignment_and_statistics(weighted):
    # Bounds from the seeding, then centres that move: exact pruned steps and
    # Hamerly steps (statistics as changes) agree with plain Lloyd assignments.
    X, _ = make_mixture(9 * CHUNK + 7, 4, 6, seed=3, separation=3.0)
    sw = np.random.default_rng(4).integers(0, 3, X.shape[0]).astype(float) if weighted \
        else None
    buffers = KMeansBuffers(X, E if sw is None else sw, 6)
    seeds, _ = kmeans_plusplus(X, E if sw is None else sw, 6, np.random.default_rng(0), 2,
                               buffers)
    assert np.array_equal(buffers.labels, ref.squared_distances(X, seeds).argmin(axis=1))
    state = dict(labels=buffers.labels.copy(), lower=buffers.lower.copy(),
                 upper=buffers.upper.copy())
    centers = seeds
    drift = np.zeros(6)
    rng = np.random.default_rng(1)
    totals = None
    for step in range(5):
        separation = 0.5 * np.sqrt(ref.squared_distances(centers, centers)
                                   + np.diag(np.full(6, np.inf)))
        exact = step % 2 == 0
        got = _lloyd(X, centers, sw, half_separation=separation.min(axis=1),
                     lower_drift=np.array([np.max(np.delete(drift, k)) for k in range(6)]),
                     drift=drift, exact=exact, **state)
        plain = _lloyd(X, centers, sw)
        clear = _clear_rows(X, centers)
        assert np.array_equal(got[0][clear], plain[0][clear])
        # upper and lower remain bounds on the distances to the nearest centres.
        assert np.all(np.sqrt(plain[1]) * (1 - 1e-12) <= state["upper"])
        second = np.sort(ref.squared_distances(X, centers), axis=1)[:, 1]
        assert np.all(state["lower"] <= np.sqrt(second) * (1 + 1e-12))
        if exact:
            np.testing.assert_allclose(got[1], plain[1], rtol=1e-12)
            assert got[4] == pytest.approx(plain[4], rel=1e-12)
            totals = (got[2].copy(), got[3].copy(), got[7].copy())
        else:          # changes of the statistics, added to the previous totals
            totals = (totals[0] + got[2], totals[1] + got[3], totals[2] + got[7])
        np.testing.assert_allclose(totals[0], plain[2], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(totals[1], plain[3], rtol=1e-10, atol=1e-9)
        assert np.array_equal(totals[2], plain[7])
        # Move the centres (by up to a cluster width), as a Lloyd update would.
        moved = centers + rng.normal(scale=0.5, size=centers.shape)
        drift = np.sqrt(((moved - centers) ** 2).sum(axis=1))
        centers = moved


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lloyd_step_bit_identical_across_threads(dtype):
    X, _ = make_mixture(70 * CHUNK + 17, 5, 8, seed=4, dtype=dtype)
    centers = np.random.default_rng(5).normal(scale=4.0, size=(8, 5))
    sw = np.random.default_rng(6).uniform(0, 2, X.shape[0])
    results = [_lloyd(X, centers, sw, n_threads=t) for t in (1, 2, 3, 4)]
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)


def _seed_state(X, seeds, sample_weight=None, candidates=None, n_threads=2):
    """Add ``seeds`` one pass each; the last pass also evaluates ``candidates``."""
    n, d = X.shape
    labels, upper, lower = np.empty(n, dtype=np.intp), np.empty(n), np.empty(n)
    nb = n_blocks(n, max(len(seeds), 2), d)
    sw = E if sample_weight is None else sample_weight
    block = np.empty((nb, 1))
    for index, seed in enumerate(seeds):
        cand = np.empty((0, d)) if index + 1 < len(seeds) or candidates is None else candidates
        block = np.empty((nb, max(len(cand), 1)))
        seed_pass(X, sw, E, np.asarray(seed, dtype=np.float64), index, cand, labels, upper,
                  lower, block, n_threads)
    return labels, upper, lower, block


@pytest.mark.parametrize("n_samples", [1, CHUNK - 1, CHUNK + 1, 70 * CHUNK + 17])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_seed_pass_matches_reference(n_samples, dtype):
    X, _ = make_mixture(n_samples, 3, 3, seed=7, dtype=dtype)
    sw = np.random.default_rng(8).uniform(0, 2, n_samples)
    seeds = np.random.default_rng(9).normal(scale=3.0, size=(4, 3))
    labels, upper, lower, block = _seed_state(X, seeds, sw)
    dist = ref.squared_distances(X, seeds)
    order = np.sort(dist, axis=1)
    assert np.array_equal(labels, dist.argmin(axis=1))
    np.testing.assert_allclose(upper, np.sqrt(order[:, 0]), rtol=1e-12)
    np.testing.assert_allclose(lower, np.sqrt(order[:, 1]), rtol=1e-12)
    total = float(sw @ order[:, 0])
    assert block.sum() == pytest.approx(total, rel=1e-12)
    # The potential each candidate would leave, with the candidates' pass.
    candidates = np.random.default_rng(10).normal(scale=3.0, size=(5, 3))
    _, _, _, block = _seed_state(X, seeds, sw, candidates)
    cand = ref.squared_distances(X, candidates)
    expected = sw @ np.minimum(order[:, :1], cand)
    np.testing.assert_allclose(block.sum(axis=0), expected, rtol=1e-10)


def test_seed_pass_with_scale_equals_scaled_data():
    X, _ = make_mixture(3 * CHUNK + 1, 3, 3, seed=22)
    scale = np.array([0.5, 2.0, 1e-3])
    seeds = X[[0, 5, 9]] * scale
    n, nb = X.shape[0], n_blocks(X.shape[0], 3, 3)
    state = [np.empty(n, dtype=np.intp), np.empty(n), np.empty(n)]
    scaled = [np.empty(n, dtype=np.intp), np.empty(n), np.empty(n)]
    for index, seed in enumerate(seeds):
        seed_pass(X, E, scale, seed, index, np.empty((0, 3)), *state, np.empty((nb, 1)), 1)
        seed_pass(X * scale, E, E, seed, index, np.empty((0, 3)), *scaled,
                  np.empty((nb, 1)), 1)
    assert np.array_equal(state[0], scaled[0])
    np.testing.assert_allclose(state[1], scaled[1], rtol=1e-14)


def test_pick_by_potential_follows_the_cumulative_potential():
    n = 3 * CHUNK + 5                       # several blocks
    X = np.random.default_rng(0).normal(size=(n, 2))
    sw = np.random.default_rng(1).integers(0, 3, n).astype(np.float64)   # zeros too
    labels, upper, lower, block = _seed_state(X, [X[0], X[1]], sw)
    potential = sw * upper * upper
    cumulative = np.cumsum(potential)
    block_potential = np.ascontiguousarray(block[:, 0])
    total = block_potential.sum()
    # Targets in the middle of every row's interval of the cumulative potential.
    rows = np.flatnonzero(potential > 0)
    targets = cumulative[rows] - 0.5 * potential[rows]
    out = np.empty(rows.size, dtype=np.intp)
    pick_by_potential(X, sw, E, upper, E, block_potential, targets, out)
    assert np.array_equal(out, rows)
    # Rows with zero potential (zero weight or on a seed) are never drawn.
    draws = np.random.default_rng(2).random(20000) * total
    out = np.empty(draws.size, dtype=np.intp)
    pick_by_potential(X, sw, E, upper, E, block_potential, draws, out)
    assert np.all(potential[out] > 0)
    # The target at the very end of the range still picks a row with potential.
    pick_by_potential(X, sw, E, upper, E, block_potential, np.array([total]), out[:1])
    assert potential[out[0]] > 0


def test_pick_with_a_pending_seed_uses_the_capped_potential():
    # After a candidate pass, sampling uses min(upper^2, |x - chosen|^2) before the
    # chosen seed is added to the row state.
    n = 2 * CHUNK + 3
    X = np.random.default_rng(3).normal(size=(n, 2))
    labels, upper, lower, block = _seed_state(X, [X[0]], None, X[[7, 8]])
    capped = np.minimum(upper ** 2, ((X - X[8]) ** 2).sum(axis=1))
    rows = np.flatnonzero(capped > 0)
    cumulative = np.cumsum(capped)
    out = np.empty(rows.size, dtype=np.intp)
    pick_by_potential(X, E, E, upper, X[8].copy(), np.ascontiguousarray(block[:, 1]),
                      cumulative[rows] - 0.5 * capped[rows], out)
    assert np.array_equal(out, rows)
    assert capped[8] == 0 and 8 not in out


def test_pick_without_seeds_draws_by_weight():
    n = 2 * CHUNK
    X = np.zeros((n, 1))
    sw = np.zeros(n)
    sw[[3, 300, 301]] = [1.0, 2.0, 1.0]
    block_potential = np.empty(n_blocks(n, 2, 1))
    total = potential_blocks(n, sw, block_potential, 2)
    assert total == 4.0
    out = np.empty(4, dtype=np.intp)
    pick_by_potential(X, sw, E, E, E, block_potential, np.array([0.5, 1.5, 2.5, 3.5]), out)
    assert out.tolist() == [3, 300, 300, 301]
    with pytest.raises(ValueError, match="no row has a positive potential"):
        pick_by_potential(X, np.zeros(n), E, E, E, np.zeros_like(block_potential),
                          np.array([0.0]), out[:1])


def test_kernels_reject_inconsistent_arguments():
    X = np.zeros((10, 2))
    state = (np.empty(10, dtype=np.intp), np.empty(10), np.empty(10))
    none = np.empty((0, 2))
    with pytest.raises(ValueError, match="sample_weight must have length n_samples=10"):
        seed_pass(X, np.ones(3), E, np.zeros(2), 0, none, *state, np.empty((1, 1)), 1)
    with pytest.raises(ValueError, match="scale must have length n_features=2"):
        seed_pass(X, E, np.ones(3), np.zeros(2), 0, none, *state, np.empty((1, 1)), 1)
    with pytest.raises(ValueError, match="pending must have length n_features=2"):
        seed_pass(X, E, E, np.zeros(3), 0, none, *state, np.empty((1, 1)), 1)
    with pytest.raises(ValueError, match="block_potentials must have 3 columns"):
        seed_pass(X, E, E, E, 0, np.zeros((3, 2)), *state, np.empty((1, 1)), 1)
    with pytest.raises(ValueError, match="block_potentials must have at least one row"):
        seed_pass(X, E, E, np.zeros(2), 0, none, *state, np.empty((0, 1)), 1)
    with pytest.raises(ValueError, match="stats must have length 10"):
        lloyd_step(X, E, E, np.zeros((2, 2)), np.zeros(2), np.zeros(2), np.zeros(2), True,
                   np.zeros(10, dtype=np.intp), np.zeros(10), np.zeros(10),
                   np.empty((1, 10)), np.empty(7), 1)


# ---------------------------------------------------------------------------------
# k-means++ and Lloyd (the Python drivers)
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("init", ["seeds", "kmeans"])
def test_bit_identical_for_any_thread_count(init):
    X, _ = make_mixture(40 * CHUNK + 3, 4, 7, seed=11, separation=2.0)
    sw = np.random.default_rng(12).uniform(0, 2, X.shape[0])
    results = []
    for n_threads in (1, 2, 3):
        rng = np.random.default_rng(13)
        if init == "seeds":
            results.append(kmeans_plusplus(X, sw, 7, rng, n_threads))
        else:
            r = kmeans(X, sw, 7, rng, n_threads)
            results.append((r.centers, r.labels.copy(), r.inertia, r.n_iter))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)


def test_same_stream_same_seeds_different_stream_differs():
    X, _ = make_mixture(2000, 3, 5, seed=14)
    a = kmeans_plusplus(X, np.empty(0), 5, np.random.default_rng(1), 2)[1]
    b = kmeans_plusplus(X, np.empty(0), 5, np.random.default_rng(1), 2)[1]
    c = kmeans_plusplus(X, np.empty(0), 5, np.random.default_rng(2), 2)[1]
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert len(set(a.tolist())) == 5


def test_zero_weight_rows_are_never_seeds():
    # Far outliers would be the likeliest k-means++ picks; with zero weight, never.
    X, _ = make_mixture(600, 2, 3, seed=15)
    X[:20] += 1000.0
    sw = np.ones(600)
    sw[:20] = 0.0
    for seed in range(30):
        _, indices = kmeans_plusplus(X, sw, 6, np.random.default_rng(seed), 2)
        assert np.all(indices >= 20)


def test_integer_weights_seed_like_duplicated_rows():
    # One block (n < CHUNK): the cumulative potential of a row with weight w equals
    # that of its w copies, so the same random stream picks the same points.
    X, _ = make_mixture(CHUNK // 2, 3, 4, seed=16)
    counts = np.random.default_rng(17).integers(0, 4, X.shape[0])
    duplicated = np.repeat(X, counts, axis=0)
    assert duplicated.shape[0] < CHUNK
    for seed in range(10):
        weighted, _ = kmeans_plusplus(X, counts.astype(np.float64), 4,
                                      np.random.default_rng(seed), 2)
        plain, _ = kmeans_plusplus(duplicated, np.empty(0), 4, np.random.default_rng(seed), 2)
        assert np.array_equal(weighted, plain)


def test_weighted_seeding_distribution_matches_duplicated_rows():
    # Across blocks the partitions differ, so compare frequencies of the first two seeds.
    rng = np.random.default_rng(18)
    X = np.array([[0.0], [1.0], [5.0], [6.0], [20.0]])
    counts = np.array([3, 1, 2, 0, 1])
    big_w = np.tile(X, (CHUNK, 1)), np.tile(counts, CHUNK).astype(np.float64)
    big_d = np.repeat(big_w[0], big_w[1].astype(int), axis=0), None
    freq = []
    for data, sw in (big_w, big_d):
        sw = np.empty(0) if sw is None else sw
        picks = [tuple(kmeans_plusplus(data, sw, 2, np.random.default_rng(s), 1)[0][:, 0])
                 for s in rng.integers(0, 2 ** 32, 400)]
        firsts = np.array([p[0] for p in picks])
        freq.append(np.array([np.mean(firsts == v) for v in X[:, 0]]))
    expected = counts / counts.sum()
    np.testing.assert_allclose(freq[0], expected, atol=0.07)
    np.testing.assert_allclose(freq[1], expected, atol=0.07)
    assert freq[0][3] == 0.0       # the zero-weight value is never drawn


def test_kmeans_matches_sklearn_lloyd_from_the_same_seeds(monkeypatch):
    cluster = pytest.importorskip("sklearn.cluster")
    import fastgmm._init as init_module
    X, _ = make_mixture(5000, 3, 6, seed=19, separation=2.0)
    seed_rows = np.random.default_rng(20).choice(5000, 6, replace=False)
    seeds = X[seed_rows]
    original = init_module.kmeans_plusplus

    def fixed_seeds(X_, sw, K, rng, n_threads, buffers=None, scale=None):
        # The real seeding fills the row state; then the seeds are replaced.
        original(X_, sw, K, rng, n_threads, buffers)
        buffers.labels[:] = ref.squared_distances(X_, seeds).argmin(axis=1)
        buffers.lower[:] = 0.0     # no bound: the first step searches every row
        return seeds.copy(), seed_rows

    monkeypatch.setattr(init_module, "kmeans_plusplus", fixed_seeds)
    ours = init_module.kmeans(X, np.empty(0), 6, np.random.default_rng(0), 2,
                              KMeansBuffers(X, np.empty(0), 6))
    theirs = cluster.KMeans(6, init=seeds, n_init=1, algorithm="lloyd").fit(X)
    assert np.array_equal(ours.labels, theirs.labels_)
    np.testing.assert_allclose(ours.centers, theirs.cluster_centers_, rtol=1e-10)
    assert ours.inertia == pytest.approx(theirs.inertia_, rel=1e-10)
    assert ours.converged


def test_empty_cluster_is_reseeded_at_the_farthest_point(monkeypatch):
    import fastgmm._init as init_module
    X, _ = make_mixture(3000, 2, 4, seed=21, separation=5.0)
    original = init_module.kmeans_plusplus
    relocated = []

    def duplicate_seed(X_, sw, K, rng, n_threads, buffers=None, scale=None):
        _, indices = original(X_, sw, K, rng, n_threads, buffers)
        indices[-1] = indices[0]          # two equal seeds: the second one gets no row
        buffers.labels[:] = ref.squared_distances(X_, X_[indices]).argmin(axis=1)
        buffers.lower[:] = 0.0
        return X_[indices], indices

    def spy(X_, badness, sw, n_rows, floor=-np.inf):
        rows = distinct_worst_rows(X_, badness, sw, n_rows, floor=floor)
        relocated.append((rows, badness.copy()))
        return rows

    from fastgmm._reseed import distinct_worst_rows
    monkeypatch.setattr(init_module, "kmeans_plusplus", duplicate_seed)
    monkeypatch.setattr(init_module, "distinct_worst_rows", spy)
    result = init_module.kmeans(X, np.empty(0), 4, np.random.default_rng(1), 2)
    rows, badness = relocated[0]
    assert rows.size == 1 and badness[rows[0]] == badness.max()   # the farthest row
    assert np.all(np.isfinite(result.centers))
    assert np.all(np.bincount(result.labels, minlength=4) > 0)
    e_labels, _, _, _, e_inertia = ref.kmeans_assignment(X, result.centers)
    assert np.array_equal(result.labels, e_labels)
    assert result.inertia == pytest.approx(e_inertia, rel=1e-12)


def test_fewer_distinct_points_than_clusters_stays_finite():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]]), 50, axis=0)
    result = kmeans(X, np.empty(0), 4, np.random.default_rng(0), 2)
    assert np.all(np.isfinite(result.centers)) and result.inertia == 0.0
    assert set(result.labels.tolist()) <= {0, 1, 2, 3}
    np.testing.assert_allclose(result.centers[result.labels], X)


def test_standardized_kmeans_is_kmeans_of_standardized_data():
    X, _ = make_mixture(4000, 3, 5, seed=23)
    X[:, 0] *= 1000.0                       # very different feature scales
    X[:, 2] *= 1e-3
    std = X.std(axis=0)
    a = kmeans(X, np.empty(0), 5, np.random.default_rng(4), 2, standardize=True)
    b = kmeans(X / std, np.empty(0), 5, np.random.default_rng(4), 2)
    clear = _clear_rows(X / std, b.centers)
    assert np.array_equal(a.labels[clear], b.labels[clear])
    np.testing.assert_allclose(a.centers, b.centers * std, rtol=1e-9)
    raw = kmeans(X, np.empty(0), 5, np.random.default_rng(4), 2)
    assert not np.array_equal(raw.labels, a.labels)   # units matter to plain k-means


@pytest.mark.parametrize("n_features", [3, 6])   # rows of 24 bytes (no per-row bounds)
def test_seeding_from_a_sample_of_large_data(monkeypatch, n_features):   # and of 48
    # On large data k-means++ and a first run of Lloyd's iterations use a random
    # sample of rows, and the iterations over all rows start from the sample's
    # centres; force that path on small data and check the k-means result is a valid
    # Lloyd fixed point, bit-identical for any thread count and reproducible, with and
    # without Hamerly's per-row bounds.
    monkeypatch.setattr(init_module, "SEEDING_SAMPLE_ROWS", 1000)
    samples = []
    original = init_module._kmeans_sample

    def spy(*args):
        samples.append(original(*args))
        return samples[-1]

    monkeypatch.setattr(init_module, "_kmeans_sample", spy)
    X, _ = make_mixture(5 * CHUNK + 3000, n_features, 4, seed=20)
    results = []
    for n_threads in (1, 2, 3):
        buffers = KMeansBuffers(X, E, 4)       # fresh buffers: no seeding pass over X
        res = kmeans(X, E, 4, np.random.default_rng(7), n_threads, buffers, tol=0.0)
        results.append((res.centers.copy(), res.labels.copy(), res.inertia))
    for centers, labels, inertia in results[1:]:
        assert np.array_equal(centers, results[0][0])
        assert np.array_equal(labels, results[0][1]) and inertia == results[0][2]
    assert all(rows is not None and rows.size == 1000 for rows in samples)
    centers, labels, inertia = results[0]
    nearest = ((X[:, None, :] - centers[None]) ** 2).sum(-1).argmin(axis=1)
    assert np.array_equal(labels, nearest)
    assert (buffers.upper.size > 0) == (n_features * X.itemsize >= 32)
    for k in range(4):
        np.testing.assert_allclose(centers[k], X[labels == k].mean(axis=0), rtol=1e-10)


def test_exact_lloyd_step_recovers_from_invalid_labels():
    # The exact step starts from the current labels; labels outside [0, K) (a buffer
    # no seeding filled) must lead to a full search, never to an out-of-bounds read.
    X, _ = make_mixture(3 * CHUNK + 5, 2, 3, seed=21)
    centers = X[[0, 400, 700]].astype(np.float64)
    labels = np.full(X.shape[0], 10 ** 9, dtype=np.intp)
    labels[::3] = -5
    out = _lloyd(X, centers, labels=labels, lower=np.full(X.shape[0], 1e300))
    nearest = ((X[:, None, :] - centers[None]) ** 2).sum(-1).argmin(axis=1)
    assert np.array_equal(out[0], nearest)


@pytest.mark.parametrize("K", [1, 2, 3, 5, 9])
@pytest.mark.parametrize("d", [1, 2, 3, 8, 17])
def test_drift_bounds_match_a_loop(K, d):
    # The vectorized helper of the Lloyd loop gives exactly what a loop over the
    # centres gives (Hamerly's bounds rely on it).
    rng = np.random.default_rng(K * 100 + d)
    for trial in range(20):
        drift = rng.standard_normal(K) ** 2
        if trial % 2:
            drift[rng.integers(K)] = drift.max()        # ties
        if trial % 5 == 0:
            drift[:] = 0.0
        others = np.array([np.max(np.delete(drift, k)) if K > 1 else 0.0
                           for k in range(K)])
        np.testing.assert_array_equal(init_module._max_other(drift), others)


@pytest.mark.parametrize("K", [1, 2, 5, 17, 20])
@pytest.mark.parametrize("bounded", [False, True])
def test_lloyd_step_computes_the_half_separations_itself(K, bounded):
    # An empty half_separation: the step computes it (when it prunes with it) and
    # gives what the explicit s_k = min_{j != k} |c_k - c_j| / 2 gives.
    X, _ = make_mixture(2 * CHUNK + 5, 3, 4, seed=K)
    centers = X[np.random.default_rng(K).choice(X.shape[0], K, replace=False)].copy()
    dist = np.sqrt(ref.squared_distances(centers, centers))
    np.fill_diagonal(dist, np.inf)
    half = 0.5 * dist.min(axis=1)
    rows = {} if bounded else {"lower": E, "upper": E}
    start = np.full(X.shape[0], K - 1, dtype=np.intp)
    given = _lloyd(X, centers, labels=start.copy(), half_separation=half, **rows)
    computed = _lloyd(X, centers, labels=start.copy(), half_separation=E, **rows)
    for a, b in zip(given, computed):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------
# The compiled drivers: plusplus_seeds and lloyd_iterations against loops of the
# pass kernels (the loops they replace), bit for bit
# ---------------------------------------------------------------------------------

def _ordered_sum(values):
    total = 0.0
    for value in values:
        total = total + float(value)
    return total


def _reference_seeds(X, sw, scale, K, uniforms):
    """Greedy k-means++ as a Python loop of seed_pass and pick_by_potential."""
    n, d = X.shape
    T = 2 + int(np.log(K))
    nb = n_blocks(n, K, d)
    labels, upper, lower = np.empty(n, dtype=np.intp), np.empty(n), np.empty(n)
    weights_blocks, current, candidates_blocks = (np.empty(nb), np.empty((nb, 1)),
                                                  np.empty((nb, T)))
    unit = np.ones(d) if scale.size == 0 else scale
    position = [0]

    def draw(up, pending, blocks, n_draws):
        targets = uniforms[position[0]:position[0] + n_draws]
        position[0] += n_draws
        total = _ordered_sum(blocks)
        if total <= 0:
            up, pending, blocks = E, E, weights_blocks
            total = _ordered_sum(blocks)
        out = np.empty(n_draws, dtype=np.intp)
        pick_by_potential(X, sw, scale, up, pending, np.ascontiguousarray(blocks),
                          targets * total, out)
        return out

    potential_blocks(n, sw, weights_blocks, 2)
    indices = np.empty(K, dtype=np.intp)
    indices[0] = draw(E, E, weights_blocks, 1)[0]
    pending = X[indices[0]] * unit
    seed_pass(X, sw, scale, pending, 0, np.empty((0, d)), labels, upper, lower, current, 2)
    picks = draw(upper, E, current[:, 0], T) if K > 1 else None
    for index in range(1, K):
        cand = X[picks] * unit
        seed_pass(X, sw, scale, pending if index > 1 else E, index - 1, cand, labels, upper,
                  lower, candidates_blocks, 2)
        totals = [_ordered_sum(candidates_blocks[:, t]) for t in range(T)]
        best = int(np.argmin(totals))
        indices[index] = picks[best]
        pending = cand[best]
        if index + 1 < K:
            picks = draw(upper, pending, candidates_blocks[:, best], T)
    if K > 1:
        seed_pass(X, sw, scale, pending, K - 1, np.empty((0, d)), labels, upper, lower,
                  current, 2)
    return indices, labels, upper, lower


@pytest.mark.parametrize("n_samples", [1, CHUNK - 1, CHUNK + 1, 9 * CHUNK + 7])
@pytest.mark.parametrize("K", [1, 2, 6])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted, scaled", [(False, False), (True, False), (True, True)])
def test_plusplus_seeds_match_the_loop_of_pass_kernels(n_samples, K, dtype, weighted,
                                                       scaled):
    rng = np.random.default_rng(n_samples + K)
    X = rng.normal(size=(n_samples, 3)).astype(dtype)
    X[: n_samples // 3] = X[0]            # duplicates: potentials reach 0
    sw = rng.uniform(0, 2, n_samples) * (rng.random(n_samples) > 0.2) if weighted else E
    if weighted and not np.any(sw > 0):
        sw[0] = 1.0
    scale = np.array([0.5, 2.0, 3.0]) if scaled else E
    T = 2 + int(np.log(K))
    uniforms = rng.random(1 + (K - 1) * T)
    expected = _reference_seeds(X, sw, scale, K, uniforms)
    nb = n_blocks(n_samples, K, 3)
    indices = np.empty(K, dtype=np.intp)
    state = np.empty(n_samples, dtype=np.intp), np.empty(n_samples), np.empty(n_samples)
    plusplus_seeds(X, sw, scale, uniforms, indices, *state, np.empty(nb), np.empty(nb),
                   np.empty((nb, T)), 2)
    for got, want in zip((indices,) + state, expected):
        np.testing.assert_array_equal(got, want)


def test_plusplus_seeds_rejects_bad_buffers():
    X = np.zeros((10, 2))
    state = np.empty(10, dtype=np.intp), np.empty(10), np.empty(10)
    blocks = np.empty(1), np.empty(1), np.empty((1, 2))
    with pytest.raises(ValueError, match="uniforms must hold 1 \\+ \\(n_clusters - 1\\)"):
        plusplus_seeds(X, E, E, np.zeros(2), np.empty(3, dtype=np.intp), *state, *blocks, 1)
    with pytest.raises(ValueError, match="no row has a positive weight"):
        plusplus_seeds(X, np.zeros(10), E, np.zeros(5), np.empty(3, dtype=np.intp), *state,
                       *blocks, 1)
    with pytest.raises(ValueError, match="at least one row and one seed"):
        plusplus_seeds(np.zeros((0, 2)), E, E, np.zeros(1), np.empty(1, dtype=np.intp),
                       *(a[:0] for a in state), np.empty(0), np.empty(0),
                       np.empty((0, 2)), 1)


def _reference_lloyd(X, sw, centers, labels, upper, lower, tol, max_iter):
    """Lloyd's loop of lloyd_step calls, as lloyd_iterations documents it."""
    K, d = centers.shape
    bounded = upper.size > 0
    stats = np.empty(lloyd_statistics_length(K, d))
    block_stats = np.empty((n_blocks(X.shape[0], K, d), stats.size))
    drift, lower_drift = np.zeros(K), np.zeros(K)
    totals, n_iter, settled, reason = None, 0, False, LLOYD_MAX_ITER

    def step(exact):
        lloyd_step(X, sw, E, centers, E, drift, lower_drift, exact, labels, upper, lower,
                   block_stats, stats, 2)

    while n_iter < max_iter:
        n_iter += 1
        exact = totals is None or not bounded
        step(exact)
        totals = stats[2:].copy() if exact else totals + stats[2:]
        if not np.all(totals[-K:] > 0):
            if not exact:
                drift[:] = lower_drift[:] = 0.0
                step(True)
            return n_iter, LLOYD_EMPTY, centers, totals, stats
        new = totals[K:K + K * d].reshape(K, d) / totals[:K, None]
        moved = new - centers
        squares = np.zeros(K)
        for j in range(d):
            squares = squares + moved[:, j] * moved[:, j]
        drift[:] = np.sqrt(squares)
        lower_drift[:] = init_module._max_other(drift) if bounded else drift
        centers = new
        if n_iter > 1 and stats[1] == 0:
            reason, settled = LLOYD_CONVERGED, exact
            break
        if _ordered_sum(drift * drift) <= tol:
            reason = LLOYD_CONVERGED
            break
    if not settled:
        step(True)
    return n_iter, reason, centers, totals, stats


@pytest.mark.parametrize("n_features, dtype", [(2, np.float64), (4, np.float64),
                                               (8, np.float32), (3, np.float32)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", ["converge", "max_iter", "empty", "tol"])
def test_lloyd_iterations_match_the_loop_of_lloyd_steps(n_features, dtype, weighted, case):
    # Rows of 32 bytes or more keep per-row bounds (Hamerly's bounded steps).
    X, _ = make_mixture(6 * CHUNK + 11, n_features, 5, seed=n_features, separation=1.0)
    X = X.astype(dtype)
    n = X.shape[0]
    rng = np.random.default_rng(3)
    sw = rng.uniform(0, 2, n) if weighted else E
    K = 5
    seeds = rng.choice(n, K, replace=False)
    if case == "empty":
        seeds[-1] = seeds[0]              # two equal centres: one gets no row
    centers0 = X[seeds].astype(np.float64)
    bounded = n_features * X.itemsize >= 32
    labels0 = ref.squared_distances(X, centers0).argmin(axis=1).astype(np.intp)
    tol = {"tol": 1e-2 * float(np.mean(X.var(axis=0)))}.get(case, 0.0)
    max_iter = 3 if case == "max_iter" else 300

    def state():
        rows = (np.zeros(n), np.zeros(n)) if bounded else (E, E)
        return labels0.copy(), *rows

    labels, upper, lower = state()
    want = _reference_lloyd(X, sw, centers0.copy(), labels, upper, lower, tol, max_iter)
    got_labels, got_upper, got_lower = state()
    centers = centers0.copy()
    totals = np.empty(lloyd_statistics_length(K, n_features) - 2)
    stats = np.empty(totals.size + 2)
    block_stats = np.empty((n_blocks(n, K, n_features), stats.size))
    n_iter, reason = lloyd_iterations(X, sw, E, centers, totals, np.zeros(K), np.zeros(K),
                                      True, 0, max_iter, tol, got_labels, got_upper,
                                      got_lower, block_stats, stats, 2)
    assert (n_iter, reason) == want[:2]
    assert reason == {"converge": LLOYD_CONVERGED, "tol": LLOYD_CONVERGED,
                      "max_iter": LLOYD_MAX_ITER, "empty": LLOYD_EMPTY}[case]
    if case == "tol":
        assert n_iter < _reference_lloyd(X, sw, centers0.copy(), *state(), 0.0, 300)[0]
    np.testing.assert_array_equal(centers, want[2] if reason != LLOYD_EMPTY else centers0)
    np.testing.assert_array_equal(totals, want[3])
    np.testing.assert_array_equal(stats, want[4])
    np.testing.assert_array_equal(got_labels, labels)
    # The bounds add up the centres' drifts step after step, computed in C here and
    # in numpy by the reference: whether the compiler fuses their squares into FMAs
    # (the sanitizer build does not) can move a drift by an ulp, and a bound by a
    # few, never a label or a centre.
    np.testing.assert_allclose(got_upper, upper, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got_lower, lower, rtol=1e-12, atol=0)


def test_kmeans_goes_on_after_relocating_an_empty_cluster(monkeypatch):
    # The compiled iterations hand an empty cluster back to Python, which relocates
    # it and calls them again: every cluster ends with members, at a Lloyd fixed
    # point of all the rows.
    X, _ = make_mixture(4000, 4, 4, seed=8, separation=4.0)
    calls = []
    original = init_module.kmeans_kernels.lloyd_iterations

    def counting(*args):
        calls.append(original(*args))
        return calls[-1]

    original_seeds = init_module.kmeans_plusplus

    def duplicate_seed(X_, sw, K, rng, n_threads, buffers=None, scale=E):
        _, indices = original_seeds(X_, sw, K, rng, n_threads, buffers, scale)
        indices[-1] = indices[0]
        buffers.labels[:] = ref.squared_distances(X_, X_[indices]).argmin(axis=1)
        buffers.lower[:] = 0.0
        return X_[indices], indices

    monkeypatch.setattr(init_module.kmeans_kernels, "lloyd_iterations", counting,
                        raising=True)
    monkeypatch.setattr(init_module, "kmeans_plusplus", duplicate_seed)
    result = kmeans(X, E, 4, np.random.default_rng(2), 2)
    assert [reason for _, reason in calls] == [LLOYD_EMPTY, LLOYD_CONVERGED]
    assert np.all(np.bincount(result.labels, minlength=4) > 0) and result.converged
    e_labels, _, _, _, e_inertia = ref.kmeans_assignment(X, result.centers)
    assert np.array_equal(result.labels, e_labels)
    assert result.inertia == pytest.approx(e_inertia, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_column_variances_match_numpy(dtype, weighted):
    rng = np.random.default_rng(5)
    X = (rng.normal(size=(3 * CHUNK + 5, 4)) * [1.0, 1e3, 1e-3, 0.0]
         + [1e6, -5.0, 3.0, 7.0]).astype(dtype)          # far from 0, a constant column
    sw = rng.uniform(0, 2, X.shape[0]) if weighted else E
    w = sw if weighted else np.ones(X.shape[0])
    X64 = X.astype(np.float64)
    mean = w @ X64 / w.sum()
    expected = w @ (X64 - mean) ** 2 / w.sum()
    got = init_module.column_variances(X, sw, 2)
    np.testing.assert_allclose(got[:3], expected[:3], rtol=1e-9)
    assert got[3] == 0.0              # exactly (the mean is the constant)
