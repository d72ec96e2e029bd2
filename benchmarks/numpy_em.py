"""An honest, vectorized pure-numpy EM for Gaussian mixtures (the benchmark baseline).

This is how a competent numpy user writes EM: whole-array operations, BLAS matrix
products, a stable log-sum-exp, the Cholesky parametrization of the precisions,
and no Python loop over samples (only over components where numpy has no batched
form). It computes the same iteration as fastgmm and scikit-learn, so all three
can be timed from the same start and their results compared.
"""

import numpy as np
from scipy.linalg import solve_triangular

_LOG_2PI = np.log(2 * np.pi)
_NK_EPS = 10 * np.finfo(np.float64).eps


def precision_cholesky(covariances, covariance_type):
    """Upper factor U with U U^T = inv(cov) (full/tied) or 1/sqrt(var)."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / np.sqrt(covariances)
    stack = covariances if covariance_type == "full" else covariances[None]
    out = np.empty_like(stack)
    for k, cov in enumerate(stack):
        lower = np.linalg.cholesky(cov)
        out[k] = solve_triangular(lower, np.eye(cov.shape[0]), lower=True).T
    return out if covariance_type == "full" else out[0]


def log_prob(X, weights, means, prec_chol, covariance_type):
    """log pi_k + log N(x_n | k) for all n, k: shape (n_samples, K)."""
    n, d = X.shape
    K = means.shape[0]
    if covariance_type == "full":
        log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
        maha = np.empty((n, K), dtype=X.dtype)
        for k in range(K):
            y = X @ prec_chol[k] - means[k] @ prec_chol[k]
            maha[:, k] = np.einsum("ij,ij->i", y, y)
    elif covariance_type == "tied":
        log_det = np.full(K, np.log(np.diag(prec_chol)).sum())
        y = X @ prec_chol
        centres = means @ prec_chol
        maha = ((y * y).sum(axis=1)[:, None] - 2 * y @ centres.T
                + (centres * centres).sum(axis=1)[None, :])
    elif covariance_type == "diag":
        log_det = np.log(prec_chol).sum(axis=1)
        p2 = prec_chol ** 2
        maha = ((means ** 2 * p2).sum(axis=1)[None, :] - 2 * X @ (means * p2).T
                + (X ** 2) @ p2.T)
    else:
        log_det = d * np.log(prec_chol)
        p2 = prec_chol ** 2
        maha = ((means ** 2).sum(axis=1)[None, :] * p2 - 2 * (X @ means.T) * p2
                + np.outer((X ** 2).sum(axis=1), p2))
    return np.log(weights) + log_det - 0.5 * (d * _LOG_2PI + maha)


def e_step(X, weights, means, prec_chol, covariance_type):
    """Responsibilities (n, K) and the mean log-likelihood."""
    lp = log_prob(X, weights, means, prec_chol, covariance_type)
    top = lp.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(lp - top).sum(axis=1))
    resp = np.exp(lp - log_norm[:, None])
    return resp, float(log_norm.mean())


def m_step(X, resp, covariance_type, reg_covar):
    """Weights, means, covariances from responsibilities."""
    n, d = X.shape
    nk = resp.sum(axis=0) + _NK_EPS
    means = (resp.T @ X) / nk[:, None]
    if covariance_type == "full":
        covariances = np.empty((means.shape[0], d, d))
        for k in range(means.shape[0]):
            diff = X - means[k]
            covariances[k] = (resp[:, k] * diff.T) @ diff / nk[k]
            covariances[k].flat[::d + 1] += reg_covar
    elif covariance_type == "tied":
        covariances = (X.T @ X - (nk * means.T) @ means) / nk.sum()
        covariances.flat[::d + 1] += reg_covar
    else:
        avg_x2 = (resp.T @ (X * X)) / nk[:, None]
        variances = avg_x2 - means ** 2 + reg_covar
        covariances = variances if covariance_type == "diag" else variances.mean(axis=1)
    return nk / nk.sum(), means, covariances


def fit(X, weights, means, covariances, covariance_type, n_iter, reg_covar=1e-6):
    """``n_iter`` EM iterations from the given parameters.

    Returns
    -------
    (weights, means, covariances), lower_bounds
    """
    bounds = []
    for _ in range(n_iter):
        prec_chol = precision_cholesky(covariances, covariance_type)
        resp, lower_bound = e_step(X, weights, means, prec_chol, covariance_type)
        bounds.append(lower_bound)
        weights, means, covariances = m_step(X, resp, covariance_type, reg_covar)
    return (weights, means, covariances), bounds
