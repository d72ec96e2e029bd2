"""Plots of fitted mixtures (needs matplotlib: ``pip install fastgmm[plot]``).

``import fastgmm`` never imports this module or matplotlib; import it explicitly::

    import fastgmm.plotting as fgplot
    fgplot.plot_ellipses(gm, X)

Every function takes ``ax=None`` (draw on ``plt.gca()``) and returns the matplotlib
Axes it drew on. Functions that show a pair of features take ``features=(i, j)``:
the mixture's marginal on those two features is exact (a Gaussian mixture's marginal
is the mixture of its components' marginals), whatever the covariance type.
"""

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.colors import to_rgb
from matplotlib.patches import Ellipse

__all__ = ["plot_ellipses", "plot_density", "plot_learning_curve", "plot_criterion",
           "plot_proba", "marginal_covariances"]


def _axes(ax):
    return plt.gca() if ax is None else ax


def _check_fitted(model):
    if not hasattr(model, "means_"):
        raise ValueError("model must be a fitted GaussianMixture; call fit before plotting.")


def _check_features(model, features):
    d = model.means_.shape[1]
    try:
        i, j = (int(f) for f in features)
    except (TypeError, ValueError):
        raise TypeError(f"features must be a pair of column indices such as (0, 1), got "
                        f"{features!r}.") from None
    if d < 2:
        raise ValueError("the model has one feature; these plots need two (fit on 2 or "
                         "more columns).")
    if not (0 <= i < d and 0 <= j < d) or i == j:
        raise ValueError(f"features must be two different column indices in [0, {d - 1}], "
                         f"got {features!r}.")
    return i, j


def marginal_covariances(model, features=(0, 1)):
    """The 2 x 2 covariance of every component on a pair of features.

    Parameters
    ----------
    model : fitted GaussianMixture
    features : pair of int, default=(0, 1)

    Returns
    -------
    covariances : ndarray of shape (n_components, 2, 2)
    """
    _check_fitted(model)
    i, j = _check_features(model, features)
    pair = [i, j]
    K = model.means_.shape[0]
    cov = np.asarray(model.covariances_, dtype=np.float64)
    kind = model.covariance_type
    if kind == "full":
        return cov[:, pair][:, :, pair]
    if kind == "tied":
        return np.broadcast_to(cov[np.ix_(pair, pair)], (K, 2, 2)).copy()
    if kind == "diag":
        return np.stack([np.diag(c[pair]) for c in cov])
    return cov[:, None, None] * np.eye(2)          # spherical


def _colors(n, cmap="tab10"):
    colormap = plt.get_cmap(cmap)
    return [colormap(k % colormap.N if hasattr(colormap, "N") and colormap.N < 256
                     else k / max(n - 1, 1)) for k in range(n)]


def _pair(X, i, j, model):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != model.means_.shape[1]:
        raise ValueError(f"X must have shape (n_samples, {model.means_.shape[1]}) like the "
                         f"training data, got {X.shape}.")
    return X[:, i], X[:, j]


def _label_axes(ax, model, i, j):
    names = getattr(model, "feature_names_in_", None)
    ax.set_xlabel(str(names[i]) if names is not None else f"feature {i}")
    ax.set_ylabel(str(names[j]) if names is not None else f"feature {j}")


def plot_ellipses(model, X=None, *, features=(0, 1), sigmas=(1, 2, 3), labels=None,
                  ax=None, cmap="tab10", point_size=10, show_means=True):
    """Covariance ellipses of every component at the given sigmas, over a scatter of
    ``X`` coloured by component.

    The ellipse at ``s`` sigma is the set of points at Mahalanobis distance ``s``
    from the component's mean (in the chosen pair of features).

    Parameters
    ----------
    model : fitted GaussianMixture
    X : array-like of shape (n_samples, n_features), default=None
        Points to scatter; not drawn when None.
    features : pair of int, default=(0, 1)
        The two columns to show.
    sigmas : sequence of float, default=(1, 2, 3)
        Mahalanobis radii of the ellipses (one ellipse per component and sigma).
    labels : array-like of shape (n_samples,), default=None
        Colour of each point; ``model.predict(X)`` when None.
    ax : matplotlib Axes, default=None
    cmap : str, default="tab10"
        Colormap of the components (ellipse ``k`` has the colour of label ``k``).
    point_size : float, default=10
    show_means : bool, default=True
        Mark each mean with a cross.

    Returns
    -------
    ax : matplotlib Axes
        Its patches include the ``n_components * len(sigmas)`` ellipses.
    """
    _check_fitted(model)
    i, j = _check_features(model, features)
    ax = _axes(ax)
    K = model.means_.shape[0]
    colors = _colors(K, cmap)
    if X is not None:
        x, y = _pair(X, i, j, model)
        labels = model.predict(X) if labels is None else np.asarray(labels)
        point_colors = [colors[int(k) % K] for k in labels]
        ax.scatter(x, y, c=point_colors, s=point_size, alpha=0.8, linewidths=0)
    covariances = marginal_covariances(model, (i, j))
    means = model.means_[:, [i, j]]
    sigmas = [float(s) for s in sigmas]
    for k in range(K):
        values, vectors = np.linalg.eigh(covariances[k])
        angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
        for n, s in enumerate(sigmas):
            width, height = 2 * s * np.sqrt(np.maximum(values[::-1], 0))
            ax.add_patch(Ellipse(means[k], width, height, angle=angle, fill=False,
                                 edgecolor=colors[k], linewidth=1.5,
                                 alpha=max(1.0 - 0.25 * n, 0.3)))
    if show_means:
        ax.scatter(means[:, 0], means[:, 1], marker="x", c="black", s=40, zorder=3)
    ax.autoscale_view()
    _label_axes(ax, model, i, j)
    return ax


def _marginal_log_density(model, i, j, x, y):
    """log p of the (i, j) marginal at the points (x, y) (arrays of equal shape)."""
    covariances = marginal_covariances(model, (i, j))
    means = model.means_[:, [i, j]]
    points = np.stack([x.ravel(), y.ravel()], axis=1)
    log_terms = []
    for k, weight in enumerate(model.weights_):
        L = np.linalg.cholesky(covariances[k])
        z = np.linalg.solve(L, (points - means[k]).T)
        log_det = 2 * np.log(np.diag(L)).sum()
        log_terms.append(np.log(weight) - 0.5 * (np.sum(z * z, axis=0) + log_det
                                                   + 2 * np.log(2 * np.pi)))
    stacked = np.array(log_terms)
    top = stacked.max(axis=0)
    return (top + np.log(np.exp(stacked - top).sum(axis=0))).reshape(x.shape)


def _grid_limits(model, X, i, j, margin=3.0):
    """Plot limits covering ``X`` (if given) and every component's 3-sigma box."""
    covariances = marginal_covariances(model, (i, j))
    means = model.means_[:, [i, j]]
    spread = margin * np.sqrt(np.stack([covariances[:, 0, 0], covariances[:, 1, 1]], 1))
    low, high = (means - spread).min(axis=0), (means + spread).max(axis=0)
    if X is not None:
        x, y = _pair(X, i, j, model)
        low = np.minimum(low, [x.min(), y.min()])
        high = np.maximum(high, [x.max(), y.max()])
    return low, high


def plot_density(model, X=None, *, features=(0, 1), levels=12, grid_size=150, ax=None,
                 cmap="viridis", point_size=6, filled=False, **contour_kwargs):
    """Contours of the mixture's log-density on a pair of features.

    Parameters
    ----------
    model : fitted GaussianMixture
    X : array-like of shape (n_samples, n_features), default=None
        Points drawn under the contours (grey); the grid covers them.
    features : pair of int, default=(0, 1)
    levels : int or sequence of float, default=12
        Contour levels of the log-density (a count or the values).
    grid_size : int, default=150
        Grid points per axis.
    ax : matplotlib Axes, default=None
    cmap : str, default="viridis"
    point_size : float, default=6
    filled : bool, default=False
        Filled contours (``contourf``) instead of lines.
    **contour_kwargs
        Passed to matplotlib's ``contour`` / ``contourf`` (e.g. ``colors="0.75"``,
        which replaces ``cmap``, or ``linewidths=0.7``).

    Returns
    -------
    ax : matplotlib Axes
    """
    _check_fitted(model)
    i, j = _check_features(model, features)
    ax = _axes(ax)
    low, high = _grid_limits(model, X, i, j)
    pad = 0.05 * (high - low)
    gx, gy = np.meshgrid(np.linspace(low[0] - pad[0], high[0] + pad[0], grid_size),
                         np.linspace(low[1] - pad[1], high[1] + pad[1], grid_size))
    log_density = _marginal_log_density(model, i, j, gx, gy)
    if X is not None:
        x, y = _pair(X, i, j, model)
        ax.scatter(x, y, s=point_size, c="0.5", alpha=0.6, linewidths=0)
    # Levels spread over the upper range of the log-density, where the mass is.
    if np.ndim(levels) == 0:
        top = log_density.max()
        levels = np.linspace(top - 12.0, top, int(levels) + 1)[:-1]
    draw = ax.contourf if filled else ax.contour
    if "colors" not in contour_kwargs:
        contour_kwargs["cmap"] = cmap
    draw(gx, gy, log_density, levels=levels, **contour_kwargs)
    ax.set_xlim(gx.min(), gx.max())
    ax.set_ylim(gy.min(), gy.max())
    _label_axes(ax, model, i, j)
    return ax


def plot_learning_curve(model, *, ax=None, marker="o", label=None):
    """The lower bound (mean log-likelihood) at every EM iteration (``lower_bounds_``).

    Parameters
    ----------
    model : fitted GaussianMixture
    ax : matplotlib Axes, default=None
    marker : str, default="o"
    label : str, default=None
        Legend label of the curve.

    Returns
    -------
    ax : matplotlib Axes
    """
    _check_fitted(model)
    ax = _axes(ax)
    bounds = np.asarray(model.lower_bounds_, dtype=np.float64)
    iterations = np.arange(1, bounds.size + 1)
    ax.plot(iterations, bounds, marker=marker, markersize=3, label=label)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("EM iteration")
    ax.set_ylabel("lower bound (mean log-likelihood)")
    state = "converged" if model.converged_ else "not converged"
    if label is None:
        ax.set_title(f"{bounds.size} iterations, {state}")
    return ax


_TABLE_KEYS = ("covariance_type", "n_components")


def plot_criterion(table, criterion="bic", *, ax=None):
    """A selection criterion against the number of components, one line per
    covariance type, with the best (lowest) point starred.

    Parameters
    ----------
    table : iterable of mappings
        Rows with keys ``covariance_type``, ``n_components`` and ``criterion`` (the
        ``table`` of ``fastgmm.select``'s result, or any list of dicts).
    criterion : str, default="bic"
        The key to plot (lower is better: "bic", "aic", "icl").
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
    """
    rows = [dict(row) for row in table]
    if not rows:
        raise ValueError("table is empty; pass the rows of a model selection.")
    for key in _TABLE_KEYS + (criterion,):
        if key not in rows[0]:
            raise ValueError(f"table rows have no {key!r} key; rows need "
                             f"{', '.join(_TABLE_KEYS + (criterion,))} (got "
                             f"{', '.join(map(str, rows[0]))}).")
    ax = _axes(ax)
    types = list(dict.fromkeys(row["covariance_type"] for row in rows))
    best = min((row for row in rows if np.isfinite(float(row[criterion]))),
               key=lambda row: float(row[criterion]), default=None)
    for covariance_type in types:
        points = sorted((int(row["n_components"]), float(row[criterion]))
                        for row in rows if row["covariance_type"] == covariance_type)
        ks, values = zip(*points)
        ax.plot(ks, values, marker="o", markersize=4, label=covariance_type)
    if best is not None:
        ax.plot([int(best["n_components"])], [float(best[criterion])], marker="*",
                markersize=16, color="black", linestyle="none",
                label=f"best: K={best['n_components']}, {best['covariance_type']}")
    ax.set_xlabel("number of components K")
    ax.set_ylabel(criterion.upper() + " (lower is better)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8)
    return ax


def plot_proba(model, X, *, features=(0, 1), ax=None, cmap="tab10", point_size=12):
    """Soft assignments: every point coloured by the mixture of its components'
    colours, weighted by ``predict_proba`` (points between clusters blend).

    Parameters
    ----------
    model : fitted GaussianMixture
    X : array-like of shape (n_samples, n_features)
    features : pair of int, default=(0, 1)
    ax : matplotlib Axes, default=None
    cmap : str, default="tab10"
        Colormap of the components (as in ``plot_ellipses``).
    point_size : float, default=12

    Returns
    -------
    ax : matplotlib Axes
    """
    _check_fitted(model)
    i, j = _check_features(model, features)
    ax = _axes(ax)
    x, y = _pair(X, i, j, model)
    resp = model.predict_proba(X)
    palette = np.array([to_rgb(c) for c in _colors(resp.shape[1], cmap)])
    colors = np.clip(resp @ palette, 0, 1)
    ax.scatter(x, y, c=colors, s=point_size, linewidths=0)
    uncertain = resp.max(axis=1) < 0.9
    if uncertain.any():
        ax.scatter(x[uncertain], y[uncertain], s=point_size * 3, facecolors="none",
                   edgecolors="black", linewidths=0.6,
                   label=f"max probability < 0.9 ({int(uncertain.sum())})")
        ax.legend(fontsize=8)
    _label_axes(ax, model, i, j)
    return ax
