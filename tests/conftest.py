"""Shared helpers for the fastgmm tests (the package is imported as installed)."""

import os

import numpy as np
import pytest

from fastgmm._kernels import available_variants, chunk_size, variant_module
from fastgmm._mstep import GaussianParams, compute_precision_cholesky

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
# Set by tools/sanitize.sh: under AddressSanitizer or valgrind, resident memory
# measures the tool's bookkeeping, not fastgmm's, so memory bounds are not checked.
UNDER_SANITIZER = bool(os.environ.get("FASTGMM_SANITIZER"))
CHUNK = chunk_size()
# Awkward sizes: empty, one row, around one chunk, and more chunks than blocks + rest.
AWKWARD_SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 70 * CHUNK + 17]


def make_mixture(n_samples, n_features, n_components, *, seed=0, separation=4.0,
                 dtype=np.float64, offset=0.0):
    """Samples of a random Gaussian mixture with anisotropic components.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=separation, size=(n_components, n_features)) + offset
    labels = rng.integers(0, n_components, size=n_samples)
    shapes = 0.5 * rng.normal(size=(n_components, n_features, n_features)) + np.eye(n_features)
    noise = rng.normal(size=(n_samples, n_features))
    X = centres[labels] + np.einsum("nij,nj->ni", shapes[labels], noise)
    return X.astype(dtype), labels


def random_covariances(covariance_type, n_components, n_features, rng):
    """Random well-conditioned covariances of the given type."""
    if covariance_type == "full":
        A = rng.normal(size=(n_components, n_features, n_features))
        return A @ np.swapaxes(A, 1, 2) / n_features + 0.5 * np.eye(n_features)
    if covariance_type == "tied":
        A = rng.normal(size=(n_features, n_features))
        return A @ A.T / n_features + 0.5 * np.eye(n_features)
    if covariance_type == "diag":
        return rng.uniform(0.5, 2.0, size=(n_components, n_features))
    return rng.uniform(0.5, 2.0, size=n_components)


def random_params(covariance_type, n_components, n_features, *, seed=0, scale=3.0):
    """Random GaussianParams (weights, means, covariances, precision Cholesky)."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n_components, 2.0))
    means = rng.normal(scale=scale, size=(n_components, n_features))
    covariances = random_covariances(covariance_type, n_components, n_features, rng)
    return GaussianParams(weights, means, covariances,
                          compute_precision_cholesky(covariances, covariance_type))


def init_from_params(params, covariance_type):
    """GaussianMixture keyword arguments that start EM exactly at ``params``."""
    if covariance_type in ("full", "tied"):
        precisions = np.linalg.inv(params.covariances)
    else:
        precisions = 1.0 / params.covariances
    return dict(weights_init=params.weights, means_init=params.means,
                precisions_init=precisions)


def at_odd_byte(array):
    """A copy of ``array`` that starts one byte into its buffer (unaligned),
    as memory-mapped files at odd offsets and buffers unpickled in a worker can."""
    raw = np.zeros(array.nbytes + 1, dtype=np.uint8)
    raw[1:] = np.frombuffer(np.ascontiguousarray(array).tobytes(), dtype=np.uint8)
    view = np.frombuffer(raw.data, dtype=array.dtype, count=array.size,
                         offset=1).reshape(array.shape)
    assert not view.flags.aligned
    return view


def assert_rel_close(actual, expected, rtol, what=""):
    """max |actual - expected| <= rtol * max |expected| (scale-aware closeness)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    scale = max(np.max(np.abs(expected)) if expected.size else 0.0, 1e-300)
    err = np.max(np.abs(actual - expected)) / scale if expected.size else 0.0
    assert err <= rtol, f"{what}: relative error {err:.3e} > {rtol:.1e}"


@pytest.fixture(params=COVARIANCE_TYPES)
def covariance_type(request):
    return request.param


@pytest.fixture(params=available_variants())
def kernels(request):
    """Each kernel variant (baseline, AVX2, AVX-512) this machine can run."""
    return variant_module(request.param)


MATRIX_PATHS = ["rows", "blas", "micro"]


def _force_path(module, name):
    """Make full/tied problems of any size take ``name`` in ``module``."""
    return module._set_matrix_path(10 ** 6 if name == "rows" else 1,
                                   "blas" if name == "rows" else name)


@pytest.fixture(params=MATRIX_PATHS)
def compute_path(request, kernels):
    """Force the row-loop, BLAS or micro-kernel path of ``kernels`` (full/tied)."""
    previous = _force_path(kernels, request.param)
    yield request.param
    kernels._set_matrix_path(*previous)


@pytest.fixture(params=MATRIX_PATHS)
def fit_path(request):
    """Force one compute path in every kernel variant, for whole fits."""
    modules = [variant_module(v) for v in available_variants()]
    previous = [_force_path(m, request.param) for m in modules]
    yield request.param
    for module, old in zip(modules, previous):
        module._set_matrix_path(*old)
