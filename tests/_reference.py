"""A short, obviously correct numpy EM for Gaussian mixtures (the test oracle).

Straight from the textbook formulas (Bishop ch. 9), with sample weights w_n:

    gamma_nk = pi_k N(x_n | mu_k, Sigma_k) / sum_j pi_j N(x_n | mu_j, Sigma_j)
    N_k      = sum_n w_n gamma_nk
    mu_k     = sum_n w_n gamma_nk x_n / N_k
    Sigma_k  = sum_n w_n gamma_nk (x_n - mu_k)(x_n - mu_k)^T / N_k + reg I
    pi_k     = N_k / sum_n w_n

Everything is float64, dense and explicit; speed is irrelevant here. Covariance
types are handled by turning every type into full covariance matrices for the
E-step and projecting the M-step result back (diagonal, shared, or averaged).
"""

import numpy as np

NK_EPS = 10 * np.finfo(np.float64).eps  # the same guard scikit-learn and fastgmm use


def full_covariances(covariances, covariance_type, n_components, n_features):
    """Any covariance type as a (K, d, d) stack of full matrices."""
    c = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        return c
    if covariance_type == "tied":
        return np.repeat(c[None], n_components, axis=0)
    if covariance_type == "diag":
        return np.stack([np.diag(v) for v in c])
    return np.stack([v * np.eye(n_features) for v in c])


def log_gaussian(X, mean, cov):
    """log N(x | mean, cov) for every row of X, via an explicit inverse and determinant."""
    d = X.shape[1]
    diff = X - mean
    maha = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff)
    _, logdet = np.linalg.slogdet(cov)
    return -0.5 * (d * np.log(2 * np.pi) + logdet + maha)


def log_prob_matrix(X, weights, means, covariances, covariance_type):
    """log pi_k + log N(x_n | k): shape (n, K)."""
    K, d = means.shape
    covs = full_covariances(covariances, covariance_type, K, d)
    X = np.asarray(X, dtype=np.float64)
    return np.stack([np.log(weights[k]) + log_gaussian(X, means[k], covs[k])
                     for k in range(K)], axis=1)


def e_step(X, weights, means, covariances, covariance_type):
    """Responsibilities (n, K) and per-row log-likelihoods (n,)."""
    lp = log_prob_matrix(X, weights, means, covariances, covariance_type)
    top = lp.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(lp - top).sum(axis=1))
    return np.exp(lp - log_norm[:, None]), log_norm


def m_step(X, resp, covariance_type, reg_covar, sample_weight=None):
    """Weights, means and covariances from responsibilities."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    wr = resp * w[:, None]
    nk = wr.sum(axis=0) + NK_EPS
    means = (wr.T @ X) / nk[:, None]
    K = means.shape[0]
    full = np.empty((K, d, d))
    for k in range(K):
        diff = X - means[k]
        full[k] = (wr[:, k, None] * diff).T @ diff / nk[k]
    if covariance_type == "full":
        covariances = full + reg_covar * np.eye(d)
    elif covariance_type == "tied":
        covariances = (nk[:, None, None] * full).sum(axis=0) / nk.sum() + reg_covar * np.eye(d)
    elif covariance_type == "diag":
        covariances = np.stack([np.diag(c) for c in full]) + reg_covar
    else:
        covariances = np.array([np.trace(c) / d for c in full]) + reg_covar
    return nk / nk.sum(), means, covariances


def em(X, weights, means, covariances, covariance_type, n_iter, reg_covar=1e-6,
       sample_weight=None):
    """``n_iter`` EM iterations from the given parameters.

    Returns
    -------
    (weights, means, covariances), lower_bounds
        Final parameters, and the weighted mean log-likelihood at the start of each
        iteration (scikit-learn's ``lower_bounds_``).
    """
    n = X.shape[0]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    bounds = []
    for _ in range(n_iter):
        resp, log_norm = e_step(X, weights, means, covariances, covariance_type)
        bounds.append(float(np.dot(w, log_norm) / w.sum()))
        weights, means, covariances = m_step(X, resp, covariance_type, reg_covar, w)
    return (weights, means, covariances), bounds


def precisions(covariances, covariance_type):
    """Precision matrices (full/tied) or vectors (diag/spherical)."""
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(covariances)
    return 1.0 / np.asarray(covariances)


# ---------------------------------------------------------------------------------
# k-means (the oracle of the _kmeans kernels)
# ---------------------------------------------------------------------------------

def squared_distances(X, centers):
    """|x_n - c_k|^2 for every row and centre: shape (n, K), computed directly."""
    X = np.asarray(X, dtype=np.float64)
    return ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)


def kmeans_assignment(X, centers, sample_weight=None):
    """One Lloyd assignment: labels, squared distances, counts, sums, inertia."""
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    K = centers.shape[0]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    dist = squared_distances(X, centers)
    labels = dist.argmin(axis=1)
    dsq = dist[np.arange(n), labels]
    counts = np.bincount(labels, weights=w, minlength=K)
    sums = np.zeros_like(centers)
    for k in range(K):
        sums[k] = w[labels == k] @ X[labels == k]
    return labels, dsq, counts, sums, float(w @ dsq)
