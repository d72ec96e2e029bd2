"""fastgmm.plotting with matplotlib's Agg backend: the artists each helper draws, the
number of ellipses, and axes limits that contain the data."""

import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt                       # noqa: E402
from matplotlib.collections import PathCollection     # noqa: E402
from matplotlib.patches import Ellipse                # noqa: E402

import fastgmm                                        # noqa: E402
import fastgmm.plotting as fgplot                     # noqa: E402

from conftest import COVARIANCE_TYPES, make_mixture   # noqa: E402

X3, _ = make_mixture(300, 3, 3, seed=2)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def fitted(covariance_type="full", X=X3, K=3):
    return fastgmm.GaussianMixture(K, covariance_type=covariance_type,
                                   random_state=0).fit(X)


def assert_limits_contain(ax, x, y):
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 <= x.min() and x.max() <= x1 and y0 <= y.min() and y.max() <= y1


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("features", [(0, 1), (2, 0)])
def test_ellipses_for_every_covariance_type(covariance_type, features):
    gm = fitted(covariance_type)
    fig, ax = plt.subplots()
    assert fgplot.plot_ellipses(gm, X3, features=features, ax=ax) is ax
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(ellipses) == 3 * 3
    i, j = features
    cov = fgplot.marginal_covariances(gm, features)
    for k in range(3):
        mine = [e for e in ellipses if np.allclose(e.center, gm.means_[k, [i, j]])]
        assert len(mine) == 3
        widths = sorted(e.width for e in mine)
        # the s-sigma ellipse's axes are 2 s sqrt(eigenvalues)
        top = np.sqrt(np.linalg.eigvalsh(cov[k]).max())
        np.testing.assert_allclose(widths, [2 * top, 4 * top, 6 * top], rtol=1e-9)
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points[0].get_offsets()) == len(X3)
    assert_limits_contain(ax, X3[:, i], X3[:, j])
    assert ax.get_xlabel() == f"feature {i}"


def test_marginal_covariances_match_the_full_matrices():
    gm = fitted("full")
    np.testing.assert_array_equal(fgplot.marginal_covariances(gm, (2, 0))[1],
                                  gm.covariances_[1][np.ix_([2, 0], [2, 0])])
    diag = fitted("diag")
    assert fgplot.marginal_covariances(diag)[0, 0, 1] == 0


def test_ellipses_at_chosen_sigmas_without_points_and_with_labels():
    gm = fitted()
    ax = fgplot.plot_ellipses(gm, sigmas=(2,))
    assert sum(isinstance(p, Ellipse) for p in ax.patches) == 3
    ax = fgplot.plot_ellipses(gm, X3, labels=np.zeros(len(X3), dtype=int), ax=plt.figure().gca())
    colours = ax.collections[0].get_facecolors()
    assert len(np.unique(colours.round(6), axis=0)) == 1


def test_plot_uses_current_axes_by_default():
    fig = plt.figure()
    assert fgplot.plot_ellipses(fitted(), X3) is fig.gca()


def test_density_contours_cover_the_data():
    gm = fitted("tied")
    ax = fgplot.plot_density(gm, X3, features=(1, 2))
    contours = [c for c in ax.collections if not isinstance(c, PathCollection)] or \
        ax.collections
    assert len(contours) >= 1
    assert_limits_contain(ax, X3[:, 1], X3[:, 2])
    ax = fgplot.plot_density(gm, filled=True, ax=plt.figure().gca())
    assert ax.collections


def test_density_marginal_matches_the_model_in_two_dimensions():
    X2, _ = make_mixture(200, 2, 2, seed=3)
    gm = fitted("full", X2, 2)
    grid = np.array([[0.5, -1.0], [2.0, 3.0]])
    ours = fgplot._marginal_log_density(gm, 0, 1, grid[:, 0], grid[:, 1])
    np.testing.assert_allclose(ours, gm.score_samples(grid), rtol=1e-9)


def test_learning_curve_plots_lower_bounds():
    gm = fastgmm.GaussianMixture(3, init_params="random", tol=1e-6, random_state=0).fit(X3)
    ax = fgplot.plot_learning_curve(gm)
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_ydata(), gm.lower_bounds_)
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, gm.n_iter_ + 1))


def test_criterion_against_k_per_covariance_type():
    table = []
    for covariance_type in ("full", "diag"):
        for k in (1, 2, 3, 4):
            gm = fitted(covariance_type, K=k)
            table.append({"covariance_type": covariance_type, "n_components": k,
                          "bic": gm.bic(X3), "aic": gm.aic(X3)})
    ax = fgplot.plot_criterion(iter(table))
    lines = ax.get_lines()
    assert [line.get_label() for line in lines[:2]] == ["full", "diag"]
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3, 4])
    best = min(table, key=lambda row: row["bic"])
    assert lines[2].get_xdata()[0] == best["n_components"]
    assert lines[2].get_ydata()[0] == best["bic"]
    ax = fgplot.plot_criterion(table, "aic", ax=plt.figure().gca())
    assert ax.get_ylabel().startswith("AIC")
    with pytest.raises(ValueError, match="no 'icl' key"):
        fgplot.plot_criterion(table, "icl")
    with pytest.raises(ValueError, match="empty"):
        fgplot.plot_criterion([])


def test_proba_colours_blend_by_probability():
    gm = fitted("full")
    ax = fgplot.plot_proba(gm, X3, features=(0, 2))
    points = ax.collections[0]
    assert len(points.get_offsets()) == len(X3)
    resp = gm.predict_proba(X3)
    confident = resp.max(axis=1) > 0.999
    palette = np.array([matplotlib.colors.to_rgb(plt.get_cmap("tab10")(k)) for k in range(3)])
    np.testing.assert_allclose(points.get_facecolors()[confident, :3],
                               palette[resp[confident].argmax(axis=1)], atol=2e-3)
    assert_limits_contain(ax, X3[:, 0], X3[:, 2])


def test_errors_name_the_fix():
    gm = fitted()
    with pytest.raises(ValueError, match="fitted GaussianMixture"):
        fgplot.plot_ellipses(fastgmm.GaussianMixture(2))
    with pytest.raises(ValueError, match=r"two different column indices in \[0, 2\]"):
        fgplot.plot_ellipses(gm, features=(0, 0))
    with pytest.raises(ValueError, match="X must have shape"):
        fgplot.plot_proba(gm, X3[:, :2])
    one = fastgmm.GaussianMixture(1).fit(X3[:, :1])
    with pytest.raises(ValueError, match="needs? two"):
        fgplot.plot_density(one)


def test_import_fastgmm_does_not_import_matplotlib():
    code = ("import sys, fastgmm, numpy as np; "
            "fastgmm.fit(np.random.default_rng(0).normal(size=(50, 2)), 2, random_state=0); "
            "print('matplotlib' in sys.modules, 'fastgmm.plotting' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]
