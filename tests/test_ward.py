"""init_params="ward": Ward's tree of the whitened rows (fastgmm._ward)."""

import warnings

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage

from fastgmm import GaussianMixture
from fastgmm._ward import WARD_MAX_ROWS, WardTree

from conftest import make_mixture

_EMPTY = np.empty(0)


def _same_partition(a, b):
    """True when the labelings a and b group the rows identically."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def _whitened(X):
    centred = X - X.mean(axis=0)
    variances, axes = np.linalg.eigh(centred.T @ centred / X.shape[0])
    return centred @ axes / np.sqrt(variances)


@pytest.mark.parametrize("n_clusters", [1, 2, 3, 5, 8])
def test_cut_equals_scipy_fcluster_on_the_whitened_rows(n_clusters):
    X, _ = make_mixture(300, 3, 4, seed=5)
    tree = WardTree(X, _EMPTY, None)
    assert tree.rows is None                  # small unweighted data: every row
    labels, centres = tree.partition(n_clusters)
    reference = fcluster(linkage(_whitened(X), method="ward"), n_clusters, "maxclust")
    assert _same_partition(labels, reference)
    assert labels.shape == (300,) and set(labels.tolist()) == set(range(n_clusters))
    assert labels[0] == 0                     # numbered by their first row
    for k in range(n_clusters):
        np.testing.assert_allclose(centres[k], X[labels == k].mean(axis=0), rtol=1e-12)


def test_partition_does_not_depend_on_the_features_units_or_axes():
    X, _ = make_mixture(250, 3, 3, seed=2)
    A = np.array([[3.0, 0.5, 0.0], [0.0, 0.01, 2.0], [1.0, 0.0, 40.0]])
    Y = X @ A + np.array([100.0, -5.0, 1e3])
    for k in (2, 3, 4):
        a, _ = WardTree(X, _EMPTY, None).partition(k)
        b, _ = WardTree(Y, _EMPTY, None).partition(k)
        assert np.array_equal(a, b)


def test_constant_and_collinear_columns_are_whitened_away():
    X, _ = make_mixture(200, 2, 3, seed=4)
    Y = np.column_stack([X, np.full(200, 7.0), X[:, 0] * 2 - X[:, 1]])
    a, _ = WardTree(X, _EMPTY, None).partition(3)
    b, _ = WardTree(Y, _EMPTY, None).partition(3)
    assert _same_partition(a, b)
    same = WardTree(np.ones((10, 2)), _EMPTY, None)       # every row equal
    labels, centres = same.partition(3)
    assert set(labels.tolist()) == {0, 1, 2} and np.all(centres == 1.0)


def test_large_data_are_clustered_from_a_seeded_sample():
    rng = np.random.default_rng(6)
    truth = rng.integers(3, size=WARD_MAX_ROWS * 3 + 17)
    X = rng.normal(size=(truth.size, 2)) + np.array([[0, 0], [30, 0], [0, 30]])[truth]
    one = WardTree(X, _EMPTY, np.random.default_rng(0))
    two = WardTree(X, _EMPTY, np.random.default_rng(0))
    other = WardTree(X, _EMPTY, np.random.default_rng(1))
    assert one.rows.size == WARD_MAX_ROWS and np.all(np.diff(one.rows) > 0)
    assert np.array_equal(one.rows, two.rows) and not np.array_equal(one.rows, other.rows)
    labels, centres = one.partition(3)
    again, _ = two.partition(3)
    assert np.array_equal(labels, again) and labels.shape == (X.shape[0],)
    assert _same_partition(labels, truth)      # well separated: the true groups


def test_weights_are_drawn_like_duplicated_rows():
    X, _ = make_mixture(300, 2, 3, seed=7)
    weights = np.tile([0.0, 1.0, 3.0], 100)
    tree = WardTree(X, weights, np.random.default_rng(0))
    assert tree.rows.size == WARD_MAX_ROWS
    drawn = np.bincount(tree.rows % 3, minlength=3)
    assert drawn[0] == 0                                  # zero weight: never drawn
    assert drawn[2] / drawn[1] == pytest.approx(3.0, rel=0.15)
    labels, _ = tree.partition(3)
    assert labels.shape == (300,) and set(labels.tolist()) == {0, 1, 2}


def test_too_many_clusters_is_a_clear_error():
    X, _ = make_mixture(5, 2, 1, seed=0)
    with pytest.raises(ValueError, match="init_params='ward'.*6 clusters"):
        WardTree(X, _EMPTY, None).partition(6)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical", "EEV"])
def test_ward_start_is_deterministic_and_thread_independent(covariance_type):
    X, _ = make_mixture(400, 3, 3, seed=8)
    fits = []
    for random_state, n_threads in ((0, 1), (0, 2), (5, 2)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.append(GaussianMixture(3, covariance_type=covariance_type,
                                        init_params="ward", max_iter=0,
                                        random_state=random_state,
                                        n_threads=n_threads).fit(X))
    # Small unweighted data: the tree uses every row, no random draw.
    for other in fits[1:]:
        np.testing.assert_array_equal(fits[0].means_, other.means_)
        np.testing.assert_array_equal(fits[0].precisions_cholesky_,
                                      other.precisions_cholesky_)


def test_restarts_after_the_first_are_the_kmeans_ones():
    X, _ = make_mixture(300, 2, 3, seed=9)

    def first_bounds(init_params):
        bounds = {}

        def record(info):
            bounds.setdefault(info.restart, info.lower_bound)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            GaussianMixture(3, init_params=init_params, n_init=3, max_iter=2,
                            random_state=0, callback=record).fit(X)
        return [bounds[index] for index in range(3)]

    ward, kmeans = first_bounds("ward"), first_bounds("kmeans")
    assert ward[1:] == kmeans[1:]
    assert ward[0] != kmeans[0]


def test_equal_weights_are_no_weights_and_zero_weights_absent_rows():
    X, _ = make_mixture(300, 2, 3, seed=10)
    plain, _ = WardTree(X, _EMPTY, None).partition(4)
    equal, _ = WardTree(X, np.full(300, 2.5), None).partition(4)
    assert np.array_equal(plain, equal)
    weights = np.ones(300)
    weights[::4] = 0.0
    kept = weights > 0
    partial, centres = WardTree(X, weights, None).partition(4)
    alone, alone_centres = WardTree(X[kept], _EMPTY, None).partition(4)
    assert np.array_equal(partial[kept], alone)
    np.testing.assert_array_equal(centres, alone_centres)
    assert partial.shape == (300,) and partial.min() >= 0 and partial.max() < 4
