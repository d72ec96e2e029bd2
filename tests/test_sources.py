"""Rows in blocks: the statistics layer, arrays in several blocks, memory maps and
chunk streams, against in-memory fits."""

import doctest
import pickle
import tracemalloc
import warnings

import numpy as np
import pytest

import fastgmm
import fastgmm._source as source_module
from conftest import assert_rel_close, init_from_params, make_mixture, random_params
from fastgmm import ConvergenceWarning, GaussianMixture, stats


def _fit(X, covariance_type, params, n_iter=8, sample_weight=None, **kwargs):
    gm = GaussianMixture(params.means.shape[0], covariance_type=covariance_type, tol=0.0,
                         max_iter=n_iter, **init_from_params(params, covariance_type),
                         **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gm.fit(X, sample_weight=sample_weight)


FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def _assert_same_fit(a, b, rtol):
    for name in FITTED:
        if rtol == 0:
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        else:
            assert_rel_close(getattr(a, name), getattr(b, name), rtol, name)
    if rtol == 0:
        assert a.lower_bounds_ == b.lower_bounds_
    else:
        assert_rel_close(a.lower_bounds_, b.lower_bounds_, rtol, "lower bounds")


def _chunks_of(X, size, weights=None):
    """A callable yielding X (and weights) in chunks of ``size`` rows."""
    def chunks():
        for start in range(0, X.shape[0], size):
            if weights is None:
                yield X[start:start + size]
            else:
                yield X[start:start + size], weights[start:start + size]
    return chunks


# ---------------------------------------------------------------------------------
# fastgmm.stats
# ---------------------------------------------------------------------------------

def test_stats_module_example_runs():
    assert doctest.testmod(fastgmm.stats, raise_on_error=False).failed == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_block_statistics_sum_and_maximize_equal_one_em_iteration(covariance_type, dtype):
    X, _ = make_mixture(3000, 3, 3, seed=1, dtype=dtype)
    w = np.random.default_rng(2).uniform(0.2, 2.0, 3000)
    start = random_params(covariance_type, 3, 3, seed=3)
    params = stats.MixtureParameters(covariance_type, start.weights, start.means,
                                     start.covariances, start.precisions_cholesky)
    pieces = [stats.block_statistics(X[a:b], params, sample_weight=w[a:b])
              for a, b in [(0, 1), (1, 1000), (1000, 1000), (1000, 3000)]]
    total = stats.combine(pieces)
    assert total.n_samples == 3000 and total.total_weight == pytest.approx(w.sum())
    whole = stats.block_statistics(X, params, sample_weight=w)
    assert_rel_close(total.vector, whole.vector, 1e-12, "summed statistics")
    assert sum(pieces).vector.tolist() == total.vector.tolist()
    new = stats.maximize(total)
    # One iteration of the estimator from the same start: the same parameters (the
    # estimator rescales the weights by a power of two, which changes nothing).
    fit = _fit(X, covariance_type, start, n_iter=1, sample_weight=w)
    for ours, theirs in [(new.weights, fit.weights_), (new.means, fit.means_),
                         (new.covariances, fit.covariances_)]:
        assert_rel_close(ours, theirs, 1e-10 if dtype == np.float64 else 1e-6)
    assert total.mean_log_likelihood == pytest.approx(fit.lower_bounds_[0], rel=1e-10)
    model = new.to_model()
    assert_rel_close(model.predict_proba(X[:50]), fit.predict_proba(X[:50]), 1e-6)


def test_statistics_are_plain_picklable_and_refuse_mixing_iterations():
    X, _ = make_mixture(500, 2, 2, seed=4)
    a = stats.MixtureParameters.from_arrays([0.5, 0.5], [[0, 0], [3, 3]],
                                            [np.eye(2), np.eye(2)])
    b = stats.MixtureParameters.from_arrays([0.5, 0.5], [[0, 0], [3, 4]],
                                            [np.eye(2), np.eye(2)])
    s = stats.block_statistics(X, a)
    back = pickle.loads(pickle.dumps(s))
    assert np.array_equal(back.vector, s.vector) and back.shift.tolist() == s.shift.tolist()
    assert s.vector.nbytes == 8 * (1 + 2 + 4 + 8)       # K * d**2, not n_samples
    with pytest.raises(ValueError, match="different parameters"):
        s + stats.block_statistics(X, b)
    with pytest.raises(ValueError, match="at least one"):
        stats.combine([])
    empty = stats.block_statistics(X[:0], a)
    assert empty.n_samples == 0 and np.all(empty.vector == 0)
    with pytest.raises(ValueError, match="hold no weight"):
        stats.maximize(empty)
    with pytest.raises(ValueError, match="positive definite"):
        stats.MixtureParameters.from_arrays([1.0], [[0.0, 0.0]], [-np.eye(2)])


# ---------------------------------------------------------------------------------
# Arrays in several blocks, memory maps
# ---------------------------------------------------------------------------------

@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of one partition unit (16384 rows) whatever the row width."""
    monkeypatch.setattr(source_module, "BLOCK_BYTES", 1)


def test_blocks_are_fixed_whole_units_and_cover_the_rows(small_blocks):
    X = np.zeros((40000, 3))
    ranges = source_module.ArraySource(X).ranges()
    assert ranges == [(0, 16384), (16384, 32768), (32768, 40000)]
    assert source_module.ArraySource(X[:100]).ranges() == [(0, 100)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_an_array_in_several_blocks_fits_as_in_one(covariance_type, dtype, monkeypatch):
    X, _ = make_mixture(40000, 3, 3, seed=5, dtype=dtype)
    w = np.random.default_rng(6).uniform(0.1, 2.0, 40000)
    params = random_params(covariance_type, 3, 3, seed=7)
    one = _fit(X, covariance_type, params, sample_weight=w)
    monkeypatch.setattr(source_module, "BLOCK_BYTES", 1)
    several = _fit(X, covariance_type, params, sample_weight=w)
    _assert_same_fit(several, one, 1e-10 if dtype == np.float64 else 1e-6)
    for n_threads in (1, 3):   # still bit-identical for any thread count
        _assert_same_fit(_fit(X, covariance_type, params, sample_weight=w,
                              n_threads=n_threads), several, 0)
    np.testing.assert_array_equal(several.predict(X), one.predict(X))
    assert several.score(X) == pytest.approx(one.score(X), rel=1e-12)


def _memmap_of(X, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, X)
    return np.load(path, mmap_mode="r")


def test_memory_map_is_bit_identical_to_the_array_from_the_same_start(
        covariance_type, tmp_path, small_blocks):
    X, _ = make_mixture(40000, 3, 3, seed=8, dtype=np.float32)
    mapped = _memmap_of(X, tmp_path)
    assert not source_module.ArraySource(mapped).in_memory
    params = random_params(covariance_type, 3, 3, seed=9)
    a, b = _fit(X, covariance_type, params), _fit(mapped, covariance_type, params)
    _assert_same_fit(b, a, 0)
    np.testing.assert_array_equal(b.predict(mapped), a.predict(X))
    np.testing.assert_array_equal(b.score_samples(mapped), a.score_samples(X))


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random",
                                         "random_from_data"])
def test_memory_map_initializes_from_a_sample_and_finds_the_mixture(tmp_path, init_params):
    X, _ = make_mixture(60000, 2, 3, seed=10, separation=6.0)
    mapped = _memmap_of(X, tmp_path)
    in_memory = GaussianMixture(3, random_state=0, init_params=init_params,
                                max_iter=300).fit(X)
    streamed = GaussianMixture(3, random_state=0, init_params=init_params,
                               max_iter=300).fit(mapped)
    assert streamed.converged_
    # Another start, the same optimum (well separated components).
    assert streamed.lower_bound_ == pytest.approx(in_memory.lower_bound_, abs=1e-3)


def test_memory_map_fit_keeps_no_per_row_state(tmp_path):
    """The streamed start clusters a bounded sample: the fit's traced memory does not
    grow with the rows of the map (in memory, k-means keeps 8 bytes a row)."""
    peaks = []
    for n in (1_000_000, 3_000_000):
        X, _ = make_mixture(n, 2, 3, seed=11, dtype=np.float32)
        mapped = _memmap_of(X, tmp_path)
        del X
        tracemalloc.start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            GaussianMixture(3, random_state=0, max_iter=3, tol=0.0).fit(mapped)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        del mapped
    assert peaks[1] < 1.1 * peaks[0] + 1e5, peaks
    assert peaks[1] < 8 * 3_000_000 / 2, peaks


# ---------------------------------------------------------------------------------
# Chunk streams
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("weights_in", [None, "chunks", "argument"])
def test_chunk_stream_fit_equals_in_memory_from_the_same_start(covariance_type, weights_in):
    X, _ = make_mixture(5000, 3, 3, seed=12)
    w = np.random.default_rng(13).uniform(0.1, 2.0, 5000)
    params = random_params(covariance_type, 3, 3, seed=14)
    reference = _fit(X, covariance_type, params,
                     sample_weight=None if weights_in is None else w)
    chunks = _chunks_of(X, 777, w if weights_in == "chunks" else None)
    streamed = _fit(chunks, covariance_type, params,
                    sample_weight=w if weights_in == "argument" else None)
    _assert_same_fit(streamed, reference, 1e-10)
    np.testing.assert_array_equal(reference.predict(chunks), reference.predict(X))
    np.testing.assert_allclose(reference.score_samples(chunks), reference.score_samples(X),
                               rtol=1e-12)
    weighted = w if weights_in == "chunks" else None     # chunk weights weight the score
    assert reference.score(chunks) == pytest.approx(reference.score(X, sample_weight=weighted),
                                                    rel=1e-12)
    if weights_in != "chunks":
        assert reference.bic(chunks) == pytest.approx(reference.bic(X), rel=1e-12)


def test_chunk_stream_of_float32_stays_float32_and_list_of_chunks_works():
    X, _ = make_mixture(3000, 2, 2, seed=15, dtype=np.float32)
    params = random_params("full", 2, 2, seed=16)
    reference = _fit(X, "full", params)
    pieces = [X[:1000], X[1000:1001], X[1001:]]
    source = source_module.as_source(lambda: iter(pieces))
    assert source.dtype == np.float32 and source.n_samples == 3000
    _assert_same_fit(_fit(lambda: iter(pieces), "full", params), reference, 1e-6)


def test_chunk_stream_default_fit_initializes_from_its_sample():
    X, _ = make_mixture(30000, 2, 3, seed=17, separation=6.0)
    chunks = _chunks_of(X, 4096)
    a = GaussianMixture(3, random_state=1, max_iter=300).fit(chunks)
    b = GaussianMixture(3, random_state=1, max_iter=300).fit(chunks)
    _assert_same_fit(a, b, 0)                        # deterministic
    full = GaussianMixture(3, random_state=1, max_iter=300).fit(X)
    assert a.lower_bound_ == pytest.approx(full.lower_bound_, abs=1e-3)


def test_chunk_stream_errors_name_the_problem():
    X = np.random.default_rng(0).normal(size=(100, 2))
    with pytest.raises(TypeError, match="one-shot iterator.*callable"):
        GaussianMixture(2).fit(iter([X]))
    bad = X.copy()
    bad[70, 1] = np.nan
    with pytest.raises(ValueError, match="chunk 1 of X contains 1 NaN"):
        GaussianMixture(2).fit(_chunks_of(bad, 50))
    with pytest.raises(ValueError, match="chunk 1 of X has 3 features"):
        GaussianMixture(2).fit(lambda: iter([X, np.zeros((5, 3))]))
    calls = []

    def shrinking():
        calls.append(1)
        yield X[:100 - 10 * len(calls)]
    with pytest.raises(ValueError, match="the same rows"):
        GaussianMixture(2, random_state=0).fit(shrinking)
    with pytest.raises(ValueError, match="yielded no rows"):
        GaussianMixture(2).fit(lambda: iter([]))
    with pytest.raises(TypeError, match="not an iterator of row chunks"):
        GaussianMixture(2).fit(lambda: 3)
    with pytest.raises(ValueError, match="from every chunk or from none"):
        GaussianMixture(2).fit(lambda: iter([(X[:50], np.ones(50)), X[50:]]))
    with pytest.raises(ValueError, match="weights one way only"):
        GaussianMixture(2).fit(lambda: iter([(X, np.ones(100))]), sample_weight=np.ones(100))
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="has 3 features"):
        gm.predict(lambda: iter([np.zeros((4, 3))]))
