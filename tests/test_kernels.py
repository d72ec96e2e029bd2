"""The Cython kernels against the numpy reference, at the kernel boundary."""

import numpy as np
import pytest

import _reference as ref
from conftest import AWKWARD_SIZES, CHUNK, assert_rel_close, make_mixture, random_params
from fastgmm._kernels import n_blocks, n_statistics
from fastgmm._mstep import covariance_kind, split_statistics

# float32 input is read exactly and accumulated in float64; kernels may compute
# float32 distances in float32 (performance), so they are held to float32 accuracy.
RTOL = {np.float64: 1e-10, np.float32: 2e-5}


def _buffers(n_samples, covariance_type, K, d):
    n_stats = n_statistics(covariance_type, K, d)
    return np.empty((n_blocks(n_samples, n_stats), n_stats)), np.empty(n_stats)


def _run_em_statistics(kernels, X, params, covariance_type, sample_weight=None,
                       n_threads=2):
    K, d = params.means.shape
    block_stats, stats = _buffers(X.shape[0], covariance_type, K, d)
    sw = np.empty(0) if sample_weight is None else sample_weight
    means, prec_chol, log_const = params.kernel_arguments(covariance_type)
    kernels.em_statistics(X, sw, means, prec_chol, log_const, means,
                          covariance_kind(covariance_type), block_stats, stats, n_threads)
    return stats


def _reference_statistics(X, resp, shift, covariance_type, sample_weight, log_norm=None):
    """The statistics vector computed densely from responsibilities."""
    X = X.astype(np.float64)
    n, d = X.shape
    K = shift.shape[0]
    w = np.ones(n) if sample_weight is None else sample_weight
    wr = resp * w[:, None]
    s1 = np.empty((K, d))
    full = np.empty((K, d, d))
    for k in range(K):
        D = X - shift[k]
        s1[k] = wr[:, k] @ D
        full[k] = (wr[:, k, None] * D).T @ D
    s2 = {"full": lambda: np.triu(full), "tied": lambda: np.triu(full.sum(0)),
          "diag": lambda: np.diagonal(full, axis1=1, axis2=2),
          "spherical": lambda: np.diagonal(full, axis1=1, axis2=2)}[covariance_type]()
    ll = 0.0 if log_norm is None else float(w @ log_norm)
    return ll, wr.sum(axis=0), s1, s2


def _compare_statistics(stats, expected, covariance_type, K, d, rtol):
    ll, nk, s1, s2 = split_statistics(stats, covariance_type, K, d)
    e_ll, e_nk, e_s1, e_s2 = expected
    if covariance_type in ("full", "tied"):
        s2 = np.triu(s2)   # only the upper triangle is accumulated
    assert_rel_close(ll, e_ll, rtol, "sum w log p")
    assert_rel_close(nk, e_nk, rtol, "N_k")
    assert_rel_close(s1, e_s1, rtol, "S1")
    assert_rel_close(s2, e_s2, rtol, "S2")


@pytest.mark.parametrize("n_samples", AWKWARD_SIZES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_em_statistics_match_reference(kernels, compute_path, covariance_type, n_samples, dtype, weighted):
    K, d = 3, 4
    X, _ = make_mixture(n_samples, d, K, seed=n_samples, dtype=dtype)
    params = random_params(covariance_type, K, d, seed=1)
    sw = np.random.default_rng(2).uniform(0, 3, n_samples) if weighted else None
    stats = _run_em_statistics(kernels, X, params, covariance_type, sw)
    if n_samples == 0:
        assert np.all(stats == 0)
        return
    resp, log_norm = ref.e_step(X.astype(np.float64), params.weights, params.means,
                                params.covariances, covariance_type)
    expected = _reference_statistics(X, resp, params.means, covariance_type, sw, log_norm)
    _compare_statistics(stats, expected, covariance_type, K, d, RTOL[dtype])


@pytest.mark.parametrize("n_features", [1, 2, 7, 17])
@pytest.mark.parametrize("n_components", [1, 2, 5])
def test_em_statistics_shapes(kernels, compute_path, covariance_type, n_features, n_components):
    X, _ = make_mixture(CHUNK * 3 + 5, n_features, n_components, seed=n_features)
    params = random_params(covariance_type, n_components, n_features, seed=n_components)
    stats = _run_em_statistics(kernels, X, params, covariance_type)
    resp, log_norm = ref.e_step(X, params.weights, params.means, params.covariances,
                                covariance_type)
    expected = _reference_statistics(X, resp, params.means, covariance_type, None, log_norm)
    _compare_statistics(stats, expected, covariance_type, n_components, n_features, 1e-10)


@pytest.mark.parametrize("n_samples", [1, CHUNK + 1, 70 * CHUNK + 17])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_statistics_bit_identical_across_threads(kernels, compute_path, covariance_type, n_samples, dtype):
    X, _ = make_mixture(n_samples, 5, 4, seed=3, dtype=dtype)
    params = random_params(covariance_type, 4, 5, seed=4)
    sw = np.random.default_rng(5).uniform(0, 2, n_samples)
    results = [_run_em_statistics(kernels, X, params, covariance_type, sw, n_threads=t)
               for t in (1, 2, 3, 4)]
    for other in results[1:]:
        assert np.array_equal(results[0], other)


@pytest.mark.parametrize("n_samples", AWKWARD_SIZES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_estimate_log_prob_matches_reference(kernels, compute_path, covariance_type, n_samples, dtype):
    K, d = 4, 3
    X, _ = make_mixture(n_samples, d, K, seed=7, dtype=dtype)
    params = random_params(covariance_type, K, d, seed=8)
    means, prec_chol, log_const = params.kernel_arguments(covariance_type)
    log_norm = np.full(n_samples, np.nan)
    resp = np.full((n_samples, K), np.nan)
    labels = np.full(n_samples, -1, dtype=np.intp)
    kernels.estimate_log_prob(X, means, prec_chol, log_const, covariance_kind(covariance_type),
                      log_norm, resp, labels, 2)
    if n_samples == 0:
        return
    e_resp, e_log_norm = ref.e_step(X.astype(np.float64), params.weights, params.means,
                                    params.covariances, covariance_type)
    lp = ref.log_prob_matrix(X, params.weights, params.means, params.covariances,
                             covariance_type)
    assert_rel_close(log_norm, e_log_norm, RTOL[dtype], "log_norm")
    assert np.max(np.abs(resp - e_resp)) <= 100 * RTOL[dtype]
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    clear = np.sort(lp, axis=1)[:, -1] - np.sort(lp, axis=1)[:, -2] > 1e-6
    assert np.array_equal(labels[clear], lp.argmax(axis=1)[clear])


def test_estimate_log_prob_writes_only_requested_outputs(kernels):
    X, _ = make_mixture(300, 2, 2, seed=0)
    params = random_params("diag", 2, 2)
    means, prec_chol, log_const = params.kernel_arguments("diag")
    resp = np.full((300, 2), -7.0)
    kernels.estimate_log_prob(X, means, prec_chol, log_const, covariance_kind("diag"),
                      np.empty(0), resp, np.empty(0, dtype=np.intp), 2)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)


@pytest.mark.parametrize("source", ["labels", "resp"])
@pytest.mark.parametrize("n_samples", [1, CHUNK - 1, 70 * CHUNK + 17])
def test_assignment_statistics_match_reference(kernels, covariance_type, source, n_samples):
    K, d = 3, 3
    X, true_labels = make_mixture(n_samples, d, K, seed=11)
    rng = np.random.default_rng(12)
    shift = rng.normal(size=(K, d))
    sw = rng.uniform(0, 2, n_samples)
    if source == "labels":
        labels = true_labels.astype(np.intp)
        labels[::7] = -1                               # rows assigned to no component
        resp = np.zeros((n_samples, K))
        keep = labels >= 0
        resp[np.flatnonzero(keep), labels[keep]] = 1.0
        args = (labels, np.empty((0, K)))
    else:
        resp = rng.uniform(size=(n_samples, K))
        resp /= resp.sum(axis=1, keepdims=True)
        args = (np.empty(0, dtype=np.intp), resp)
    block_stats, stats = _buffers(n_samples, covariance_type, K, d)
    kernels.assignment_statistics(X, sw, shift, *args, covariance_kind(covariance_type),
                          block_stats, stats, 2)
    expected = _reference_statistics(X, resp, shift, covariance_type, sw)
    _compare_statistics(stats, expected, covariance_type, K, d, 1e-10)


def test_kernels_reject_inconsistent_buffers(kernels):
    X, _ = make_mixture(100, 2, 2)
    params = random_params("full", 2, 2)
    means, prec_chol, log_const = params.kernel_arguments("full")
    block_stats, stats = _buffers(100, "full", 2, 2)
    kind = covariance_kind("full")
    with pytest.raises(ValueError, match="stats must have length"):
        kernels.em_statistics(X, np.empty(0), means, prec_chol, log_const, means, kind, block_stats,
                      stats[:-1], 1)
    with pytest.raises(ValueError, match="sample_weight"):
        kernels.em_statistics(X, np.ones(3), means, prec_chol, log_const, means, kind, block_stats,
                      stats, 1)
    with pytest.raises(ValueError, match="precisions_cholesky"):
        kernels.em_statistics(X, np.empty(0), means, prec_chol[:-1], log_const, means, kind,
                      block_stats, stats, 1)
    with pytest.raises(ValueError, match="shift"):
        kernels.em_statistics(X, np.empty(0), means, prec_chol, log_const, means[:1], kind,
                      block_stats, stats, 1)


def test_block_partition_does_not_depend_on_threads():
    # The partition is a function of the problem size only.
    assert n_blocks(0, 10) == 0
    assert n_blocks(1, 10) == 1
    assert n_blocks(CHUNK * 1000, 10) == 64
    # Very large statistics vectors use fewer blocks (bounded workspace).
    assert n_blocks(CHUNK * 1000, 10 ** 8) == 1


def test_fast_exp_matches_numpy(kernels):
    x = np.concatenate([np.linspace(-600, 0, 200001), -np.logspace(-300, 2.7, 1000), [0.0]])
    out = np.empty_like(x)
    kernels._vector_exp_floor(x, out)
    np.testing.assert_allclose(out, np.exp(x), rtol=4e-16, atol=0)


def test_fast_exp_flushes_below_floor_to_exact_zero(kernels):
    x = np.array([-600.0000001, -700.0, -745.0, -1e300, -np.inf])
    out = np.empty_like(x)
    kernels._vector_exp_floor(x, out)
    assert np.all(out == 0.0)


def test_fast_log_matches_numpy(kernels):
    x = np.concatenate([np.linspace(1, 1000, 200001), np.logspace(-300, 300, 10001)])
    out = np.empty_like(x)
    kernels._vector_log(x, out)
    np.testing.assert_allclose(out, np.log(x), rtol=5e-16, atol=1e-300)
