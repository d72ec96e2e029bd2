"""A numpy oracle of mclust's constrained M-steps (``fastgmm._parsimonious``, compiled
in ``_constrained.pyx``): the same formulas written with batched numpy calls, slow but
short, that the compiled M-steps are checked against (tests/test_parsimonious.py).

``reference_covariances(model, nk, scatter, previous)`` takes what
``fastgmm._parsimonious.constrained_covariances`` takes.
"""

import numpy as np

from fastgmm._parsimonious import MSTEP_MAX_ITER, MSTEP_TOL


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


def _volumes_and_shape(nk, values, shape):
    """Celeux & Govaert's alternation of K volumes and one unit-determinant shape
    for diagonal scatter ``values`` (K, d), from ``shape`` (any positive scale)."""
    d = values.shape[1]
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
    return volume, shape


def _vei(nk, w, previous):
    if _usable(previous, w.shape) and np.all(previous[0] > 0):
        start = previous[0]
    else:
        start = w.sum(axis=0)
    volume, shape = _volumes_and_shape(nk, w, start)
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
    values, vectors = _descending_eigh(W)
    if _usable(previous, W.shape) and np.linalg.slogdet(previous[0])[0] > 0:
        start = np.linalg.eigvalsh(previous[0])[::-1]
    else:
        start = values.sum(axis=0)
    volume, shape = _volumes_and_shape(nk, values, start)
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


def _orientation_sweep(W, D, variances):
    """One sweep of plane rotations that decreases f(D) = sum_k tr(W_k D
    diag(1/variances_k) D^T) over orthogonal D: each pair of columns (p, q) in turn
    turns by the angle that minimizes f exactly, f = const + A cos 2t + B sin 2t."""
    inverse = _ratio(1.0, variances)                              # (K, d)
    D = D.copy()
    M = np.einsum("li,klm,mj->kij", D, W, D)                      # D^T W_k D
    d = len(D)
    for p in range(d - 1):
        for q in range(p + 1, d):
            weight = inverse[:, p] - inverse[:, q]
            A = float(np.sum(0.5 * (M[:, p, p] - M[:, q, q]) * weight))
            B = float(np.sum(M[:, p, q] * weight))
            if not A * A + B * B > 0:
                continue
            angle = 0.5 * np.arctan2(-B, -A)
            G = np.eye(d)
            G[p, p] = G[q, q] = np.cos(angle)
            G[q, p] = np.sin(angle)
            G[p, q] = -G[q, p]
            D = D @ G
            M = np.einsum("li,klm,mj->kij", G, M, G)
    return D


def _rotated_objective(nk, W, D, variances):
    traces = _ratio(_rotated_diagonals(W, D), variances).sum()
    with np.errstate(divide="ignore"):
        return float(np.sum(nk[:, None] * np.log(variances)) + traces)


def _common_orientation_model(nk, W, previous, equal_volumes):
    """EVE (``equal_volumes``) and VVE: alternate the optimal variances for a fixed
    orientation D and a sweep of plane rotations of D."""
    D = _common_orientation(W, previous)
    objective = np.inf
    for _ in range(MSTEP_MAX_ITER):
        diagonals = _rotated_diagonals(W, D)
        if equal_volumes:
            scale = _geometric_mean(diagonals)
            variances = (scale.sum() / nk.sum()) * _ratio(diagonals, scale[:, None])
        else:
            variances = diagonals / nk[:, None]
        new = _rotated_objective(nk, W, D, variances)
        if _converged(objective, new):
            break
        objective = new
        D = _orientation_sweep(W, D, variances)
    return _compose(np.ones(len(nk)), variances, D)


def _eve(nk, W, previous):
    return _common_orientation_model(nk, W, previous, True)


def _vve(nk, W, previous):
    return _common_orientation_model(nk, W, previous, False)


_MSTEPS = {"EII": _eii, "VII": _vii, "EEI": _eei, "VEI": _vei, "EVI": _evi, "VVI": _vvi,
           "EEE": _eee, "VEE": _vee, "EVE": _eve, "VVE": _vve, "EEV": _eev, "VEV": _vev,
           "EVV": _evv, "VVV": _vvv}


def reference_covariances(model, nk, scatter, previous=None):
    """The M-step of mclust model ``model`` (numpy): covariances maximizing Q."""
    nk = np.asarray(nk, dtype=np.float64)
    scatter = np.asarray(scatter, dtype=np.float64)
    if scatter.ndim == 3:
        scatter = 0.5 * (scatter + np.swapaxes(scatter, 1, 2))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _MSTEPS[model](nk, scatter, previous)
