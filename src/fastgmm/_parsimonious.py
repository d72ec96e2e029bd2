"""mclust's 14 parsimonious covariance models: their M-steps and parameter counts.

Celeux & Govaert (1995) write a component covariance as

    Sigma_k = lambda_k D_k A_k D_k^T

with ``lambda_k = |Sigma_k|^(1/d)`` its volume, ``A_k`` diagonal with ``|A_k| = 1``
its shape and ``D_k`` orthogonal its orientation. A model's three letters say whether
volume, shape and orientation are Equal across components or Vary (``I``: the
identity, i.e. a spherical shape or the coordinate axes as orientation). The
E-step never sees the constraint: the axis-aligned models (EII, VII, EEI, VEI, EVI,
VVI) are stored and evaluated as "diag" covariances, the others as "full" ones.

The M-step maximizes, over the constrained covariances, the expected complete-data
log-likelihood of given responsibilities, which (means at their weighted averages)
is up to a constant

    Q(Sigma) = -1/2 sum_k [ n_k log|Sigma_k| + tr(W_k Sigma_k^-1) ]

with ``n_k`` the responsibility mass of component k and ``W_k`` its scatter matrix
about its mean (``regularized_scatter``: ``reg_covar`` enters as ``n_k reg_covar I``
added to every ``W_k``, which for the unconstrained models is exactly
``W_k / n_k + reg_covar I``, and keeps every constraint exact for the others).

EII, VII, EEI, EVI, VVI, EEE, EEV, EVV and VVV have closed forms. VEI, VEE, VEV
(Celeux & Govaert's alternating updates of volumes and the shared shape), EVE and
VVE (Browne & McNicholas 2014: the shared orientation by majorization-minimization)
are iterative: every update maximizes Q in some parameters with the others fixed,
or increases it through a majorizer, so Q never decreases. They start from the
previous EM iteration's covariances when given (then the M-step never returns
parameters worse than those, and EM's log-likelihood never decreases) and stop when
Q changes by at most ``MSTEP_TOL`` (relative), or after ``MSTEP_MAX_ITER`` updates.
"""

import numpy as np

# The iterative M-steps stop when the relative change of Q falls below MSTEP_TOL, or
# after MSTEP_MAX_ITER alternating updates.
MSTEP_TOL = 1e-10
MSTEP_MAX_ITER = 500


def _geometric_mean(values, axis=-1):
    """(prod values)^(1/d) along ``axis`` (0 where a value is 0)."""
    with np.errstate(divide="ignore"):
        return np.exp(np.mean(np.log(values), axis=axis))


def _ratio(numerator, denominator):
    """numerator / denominator, 0 where the denominator is 0 (a component without
    mass takes no part in the shared parameters)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = numerator / denominator
    return np.where(denominator > 0, out, 0.0)


def _unit_determinant(matrix):
    """``matrix / |matrix|^(1/d)`` for a positive definite ``matrix`` (d, d)."""
    sign, logdet = np.linalg.slogdet(matrix)
    return matrix / np.exp(logdet / matrix.shape[0]) if sign > 0 else matrix


def _usable(previous, shape):
    """Whether ``previous`` covariances can warm-start an iterative M-step."""
    return (previous is not None and np.shape(previous) == shape
            and bool(np.all(np.isfinite(previous))))


def _converged(old, new):
    return abs(new - old) <= MSTEP_TOL * max(abs(new), 1.0)


# ---------------------------------------------------------------------------------
# Axis-aligned models: scatter diagonals w (K, d) -> variances (K, d)
# ---------------------------------------------------------------------------------

def _eii(nk, w, previous):
    return np.full(w.shape, w.sum() / (nk.sum() * w.shape[1]))


def _vii(nk, w, previous):
    return np.repeat((w.sum(axis=1) / (nk * w.shape[1]))[:, None], w.shape[1], axis=1)


def _eei(nk, w, previous):
    return np.broadcast_to(w.sum(axis=0) / nk.sum(), w.shape).copy()


def _vvi(nk, w, previous):
    return w / nk[:, None]


def _evi(nk, w, previous):
    # For any volume, A_k is w_k scaled to unit determinant; the volume is then
    # sum_k |diag w_k|^(1/d) / n.
    scale = _geometric_mean(w)
    return (scale.sum() / nk.sum()) * _ratio(w, scale[:, None])


def _vei(nk, w, previous):
    d = w.shape[1]
    if _usable(previous, w.shape) and np.all(previous[0] > 0):
        shape = previous[0] / _geometric_mean(previous[0])
    else:
        pooled = w.sum(axis=0)
        shape = pooled / _geometric_mean(pooled)
    objective = np.inf
    for _ in range(MSTEP_MAX_ITER):
        volume = (w / shape).sum(axis=1) / (d * nk)
        shape = _ratio(w, volume[:, None]).sum(axis=0)
        shape = shape / _geometric_mean(shape)
        volume = (w / shape).sum(axis=1) / (d * nk)
        new = float(np.sum(nk * d * np.log(volume)) + d * nk.sum())
        if _converged(objective, new):
            break
        objective = new
    return volume[:, None] * shape


# ---------------------------------------------------------------------------------
# Models with an orientation: scatter matrices W (K, d, d) -> covariances (K, d, d)
# ---------------------------------------------------------------------------------

def _eee(nk, W, previous):
    return np.broadcast_to(W.sum(axis=0) / nk.sum(), W.shape).copy()


def _vvv(nk, W, previous):
    return W / nk[:, None, None]


def _descending_eigh(W):
    """Eigenvalues (K, d) in decreasing order and their eigenvectors (K, d, d)."""
    values, vectors = np.linalg.eigh(W)
    return np.maximum(values[:, ::-1], 0.0), vectors[:, :, ::-1]


def _compose(volume, shape, orientation):
    """lambda_k D_k A_k D_k^T from (K,), (K, d) or (d,), and (K, d, d) or (d, d)."""
    scaled = np.asarray(volume)[..., None] * np.broadcast_to(
        shape, (len(volume), shape.shape[-1]))
    D = np.broadcast_to(orientation, (len(volume),) + orientation.shape[-2:])
    return (D * scaled[:, None, :]) @ np.swapaxes(D, 1, 2)


def _eev(nk, W, previous):
    # D_k are the eigenvectors of W_k (eigenvalues in decreasing order, paired with
    # a decreasing A); A is the summed eigenvalues at unit determinant.
    values, vectors = _descending_eigh(W)
    pooled = values.sum(axis=0)
    scale = _geometric_mean(pooled)
    volume = np.full(len(nk), scale / nk.sum())
    return _compose(volume, pooled / scale, vectors)


def _evv(nk, W, previous):
    d = W.shape[1]
    sign, logdet = np.linalg.slogdet(W)
    scale = np.where(sign > 0, np.exp(logdet / d), 0.0)
    return (scale.sum() / nk.sum()) * _ratio(W, scale[:, None, None])


def _vee(nk, W, previous):
    d = W.shape[1]
    if _usable(previous, W.shape) and np.linalg.slogdet(previous[0])[0] > 0:
        shape = _unit_determinant(previous[0])
    else:
        shape = _unit_determinant(W.sum(axis=0))
    objective = np.inf
    for _ in range(MSTEP_MAX_ITER):
        inverse = np.linalg.inv(shape)
        volume = np.einsum("kij,ji->k", W, inverse) / (d * nk)
        shape = _unit_determinant(np.tensordot(_ratio(1.0, volume), W, axes=1))
        inverse = np.linalg.inv(shape)
        volume = np.einsum("kij,ji->k", W, inverse) / (d * nk)
        new = float(np.sum(nk * d * np.log(volume)) + d * nk.sum())
        if _converged(objective, new):
            break
        objective = new
    return volume[:, None, None] * shape


def _vev(nk, W, previous):
    d = W.shape[1]
    values, vectors = _descending_eigh(W)
    if _usable(previous, W.shape) and np.linalg.slogdet(previous[0])[0] > 0:
        shape = np.linalg.eigvalsh(previous[0])[::-1]
    else:
        shape = values.sum(axis=0)
    shape = shape / _geometric_mean(shape)
    objective = np.inf
    for _ in range(MSTEP_MAX_ITER):
        volume = (values / shape).sum(axis=1) / (d * nk)
        shape = _ratio(values, volume[:, None]).sum(axis=0)
        shape = shape / _geometric_mean(shape)
        volume = (values / shape).sum(axis=1) / (d * nk)
        new = float(np.sum(nk * d * np.log(volume)) + d * nk.sum())
        if _converged(objective, new):
            break
        objective = new
    return _compose(volume, shape, vectors)


def _common_orientation(W, previous):
    """Starting orientation D (d, d) of EVE and VVE: the shared eigenvectors of the
    previous covariances (of a generic combination of them), else those of sum W_k."""
    if _usable(previous, W.shape):
        K = W.shape[0]
        mix = np.tensordot(np.arange(1, K + 1) / K, previous, axes=1)
        return np.linalg.eigh(0.5 * (mix + mix.T))[1]
    return np.linalg.eigh(W.sum(axis=0))[1]


def _rotated_diagonals(W, D):
    """diag(D^T W_k D) for every k: (K, d)."""
    return np.einsum("ij,kil,lj->kj", D, W, D)


def _improve_orientation(W, D, variances, top_eigenvalues):
    """Two majorization-minimization steps (Browne & McNicholas 2014) that decrease
    f(D) = sum_k tr(W_k D diag(1/variances_k) D^T) over orthogonal D."""
    inverse = _ratio(1.0, variances)                              # (K, d)
    # W_k - w_k I <= 0 with w_k the largest eigenvalue of W_k.
    F = np.einsum("kij,jl,kl->il", top_eigenvalues[:, None, None] * np.eye(len(D)) - W,
                  D, inverse)
    U, _, Vt = np.linalg.svd(F)
    D = U @ Vt
    # The same with the roles swapped: diag(1/variances_k) - b_k I <= 0.
    b = inverse.max(axis=1)
    F = np.einsum("kj,ji,kil->jl", b[:, None] - inverse, D.T, W)
    U, _, Vt = np.linalg.svd(F)
    return (U @ Vt).T


def _rotated_objective(nk, W, D, variances):
    traces = _ratio(_rotated_diagonals(W, D), variances).sum()
    with np.errstate(divide="ignore"):
        return float(np.sum(nk[:, None] * np.log(variances)) + traces)


def _eve(nk, W, previous):
    D = _common_orientation(W, previous)
    top = np.linalg.eigvalsh(W)[:, -1]
    objective = np.inf
    for _ in range(MSTEP_MAX_ITER):
        diagonals = _rotated_diagonals(W, D)
        scale = _geometric_mean(diagonals)
        variances = (scale.sum() / nk.sum()) * _ratio(diagonals, scale[:, None])
        new = _rotated_objective(nk, W, D, variances)
        if _converged(objective, new):
            break
        objective = new
        D = _improve_orientation(W, D, variances, top)
    return _compose(np.ones(len(nk)), variances, D)


def _vve(nk, W, previous):
    D = _common_orientation(W, previous)
    top = np.linalg.eigvalsh(W)[:, -1]
    objective = np.inf
    for _ in range(MSTEP_MAX_ITER):
        variances = _rotated_diagonals(W, D) / nk[:, None]
        new = _rotated_objective(nk, W, D, variances)
        if _converged(objective, new):
            break
        objective = new
        D = _improve_orientation(W, D, variances, top)
    return _compose(np.ones(len(nk)), variances, D)


# ---------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------

def _count(volume, shape, orientation):
    """Number of free covariance parameters from the counts of volumes, shapes and
    orientations: functions of (K, d)."""
    return lambda K, d: volume(K) + shape(K) * (d - 1) + orientation(K) * d * (d - 1) // 2


def _one(K):
    return 1


def _none(K):
    return 0


def _each(K):
    return K


# name: (M-step, iterative, number of free covariance parameters (K, d) -> int).
# Counts as mclust's nVarParams: e.g. VEV has K volumes, one shape (d - 1) and K
# orientations (d (d - 1) / 2 each).
MODELS = {
    "EII": (_eii, False, _count(_one, _none, _none)),
    "VII": (_vii, False, _count(_each, _none, _none)),
    "EEI": (_eei, False, _count(_one, _one, _none)),
    "VEI": (_vei, True, _count(_each, _one, _none)),
    "EVI": (_evi, False, _count(_one, _each, _none)),
    "VVI": (_vvi, False, _count(_each, _each, _none)),
    "EEE": (_eee, False, _count(_one, _one, _one)),
    "VEE": (_vee, True, _count(_each, _one, _one)),
    "EVE": (_eve, True, _count(_one, _each, _one)),
    "VVE": (_vve, True, _count(_each, _each, _one)),
    "EEV": (_eev, False, _count(_one, _one, _each)),
    "VEV": (_vev, True, _count(_each, _one, _each)),
    "EVV": (_evv, False, _count(_one, _each, _each)),
    "VVV": (_vvv, False, _count(_each, _each, _each)),
}

# The scikit-learn names of four of them.
ALIASES = {"full": "VVV", "tied": "EEE", "diag": "VVI", "spherical": "VII"}

# Models whose M-step is the unconstrained one of their storage type ("full" or
# "diag"): the compiled M-step alone computes them.
UNCONSTRAINED = ("VVV", "VVI")


def is_iterative(model):
    """Whether the M-step of mclust model ``model`` iterates."""
    return MODELS[ALIASES.get(model, model)][1]


def n_covariance_parameters(model, n_components, n_features):
    """Free parameters of the covariances of ``model`` (an mclust or scikit-learn
    name) with ``n_components`` components in ``n_features`` dimensions."""
    return int(MODELS[ALIASES.get(model, model)][2](n_components, n_features))


def constrained_covariances(model, nk, scatter, previous=None):
    """The M-step of an mclust model: covariances maximizing Q given the statistics.

    Parameters
    ----------
    model : str
        One of the 14 mclust names.
    nk : ndarray of shape (n_components,)
        Responsibility mass of every component (positive).
    scatter : ndarray of shape (n_components, n_features, n_features) or \
(n_components, n_features)
        Regularized scatter matrices ``W_k + n_k reg_covar I`` about the component
        means (their diagonals, for the axis-aligned models).
    previous : ndarray of the same shape as ``scatter``, or None
        The covariances of the previous iteration, from which the iterative M-steps
        start (otherwise from a pooled estimate).

    Returns
    -------
    covariances : ndarray of the same shape as ``scatter``
    """
    nk = np.asarray(nk, dtype=np.float64)
    scatter = np.asarray(scatter, dtype=np.float64)
    if scatter.ndim == 3:
        scatter = 0.5 * (scatter + np.swapaxes(scatter, 1, 2))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return MODELS[model][0](nk, scatter, previous)


def expected_log_likelihood(nk, scatter, covariances):
    """Q(Sigma) = -1/2 sum_k [n_k log|Sigma_k| + tr(W_k Sigma_k^-1)] (see the module
    docstring), for full (K, d, d) or diagonal (K, d) arrays."""
    if scatter.ndim == 2:
        return float(-0.5 * np.sum(nk[:, None] * np.log(covariances)
                                   + scatter / covariances))
    logdet = np.linalg.slogdet(covariances)[1]
    traces = np.einsum("kij,kji->k", scatter, np.linalg.inv(covariances))
    return float(-0.5 * np.sum(nk * logdet + traces))
