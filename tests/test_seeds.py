"""The workflows of the articles in shared/seeds, run with fastgmm."""

import numpy as np
import pytest

from fastgmm import GaussianMixture

datasets = pytest.importorskip("sklearn.datasets")
metrics = pytest.importorskip("sklearn.metrics")
from sklearn.mixture import GaussianMixture as SkGaussianMixture  # noqa: E402


def test_seed001_six_points_two_clusters():
    # CS 412 slides: two well-separated groups of three points.
    X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    order = np.argsort(gm.means_[:, 0])
    np.testing.assert_allclose(gm.means_[order], [[1.0, 2.0], [10.0, 2.0]], atol=1e-8)
    np.testing.assert_allclose(gm.weights_, [0.5, 0.5])
    labels = gm.predict(X)
    assert len(set(labels[:3])) == 1 and len(set(labels[3:])) == 1
    assert labels[0] != labels[3]
    # Same answer as scikit-learn, to the last digits.
    sk = SkGaussianMixture(n_components=2, random_state=0).fit(X)
    assert gm.lower_bound_ == pytest.approx(sk.lower_bound_, rel=1e-12)


def test_seed000_iris_first_two_columns():
    # GeeksforGeeks: iris sepal length/width, 3 components, labels, n_iter_, lower_bound_.
    X = datasets.load_iris().data[:, :2]
    gm = GaussianMixture(n_components=3, random_state=0, n_init=5).fit(X)
    labels = gm.predict(X)
    assert set(labels) == {0, 1, 2}
    assert gm.converged_ and 1 <= gm.n_iter_ <= 100
    sk = SkGaussianMixture(n_components=3, random_state=0, n_init=5).fit(X)
    # At least as good an optimum as scikit-learn's from the same number of restarts.
    assert gm.lower_bound_ >= sk.lower_bound_ - 1e-3
    # The pandas-style workflow of the article: a DataFrame in, cluster labels out.
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(X)
    frame_labels = GaussianMixture(n_components=3, random_state=0, n_init=5).fit(
        frame).predict(frame)
    assert np.array_equal(frame_labels, labels)


def test_seed002_two_gaussians_learning_curve():
    # Medium post: two tight 2-D clusters; parameters recovered; the learning curve rises.
    rng = np.random.default_rng(0)
    a = rng.multivariate_normal([5, 10], np.diag([0.01, 0.01]), size=100)
    b = rng.multivariate_normal([6, 11], np.diag([0.05, 0.05]), size=100)
    X = np.vstack([a, b])
    gm = GaussianMixture(n_components=2, random_state=0, tol=1e-6).fit(X)
    order = np.argsort(gm.means_[:, 0])
    np.testing.assert_allclose(gm.means_[order], [[5, 10], [6, 11]], atol=0.06)
    np.testing.assert_allclose(np.diagonal(gm.covariances_[order], axis1=1, axis2=2),
                               [[0.01, 0.01], [0.05, 0.05]], rtol=0.35)
    curve = np.asarray(gm.lower_bounds_)
    # reg_covar > 0 makes the M-step a near (not exact) maximizer: EM is monotone up to
    # O((reg_covar / variance)^2), here ~1e-11 (test_em checks exact EM to rounding).
    assert np.all(np.diff(curve) >= -1e-9 * np.abs(curve[1:]))


def test_seed003_make_blobs_recovers_clusters():
    # ChatGPT deep dive: make_blobs(300, centers=3, random_state=42), GMM(3) labels.
    X, truth = datasets.make_blobs(n_samples=300, centers=3, cluster_std=1.0,
                                   random_state=42)
    labels = GaussianMixture(n_components=3, random_state=42).fit(X).predict(X)
    assert metrics.adjusted_rand_score(truth, labels) == 1.0
