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
VVE (the volumes and shapes for a fixed shared orientation, then a sweep of plane
rotations of the orientation, each the exact maximizer of Q in its plane: faster
than the majorization-minimization steps of Browne & McNicholas 2014, which creep
when the scatter matrices are far from spherical) are iterative: every update
maximizes Q in some parameters with the others fixed, so Q never decreases. They start from the
previous EM iteration's covariances when given (then the M-step never returns
parameters worse than those, and EM's log-likelihood never decreases) and stop when
Q changes by at most ``MSTEP_TOL`` (relative), or after ``MSTEP_MAX_ITER`` updates.

The M-steps are compiled (``_constrained.pyx``: plain loops on the K d x d matrices
and LAPACK, without the GIL); ``tests/_reference_parsimonious.py`` writes the same
formulas in numpy and the tests check one against the other.
"""

import numpy as np

from ._constrained import MODEL_CODES, constrained_covariances_into

# The iterative M-steps stop when the relative change of Q falls below MSTEP_TOL, or
# after MSTEP_MAX_ITER alternating updates. MSTEP_TOL is mclust's own inner
# tolerance (``emControl()$tol[2]``, sqrt(.Machine$double.eps)): every update still
# increases Q, so EM stays monotone, and a tighter value bought nothing but time
# (1e-10 moved no BIC of the 14 x 9 grids on Old Faithful, crabs and iris by more
# than 0.22, and cost the EVE and VVE grids about 40% more time).
MSTEP_TOL = float(np.sqrt(np.finfo(np.float64).eps))
MSTEP_MAX_ITER = 500


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


# name: (iterative, number of free covariance parameters (K, d) -> int).
# Counts as mclust's nVarParams: e.g. VEV has K volumes, one shape (d - 1) and K
# orientations (d (d - 1) / 2 each).
MODELS = {
    "EII": (False, _count(_one, _none, _none)),
    "VII": (False, _count(_each, _none, _none)),
    "EEI": (False, _count(_one, _one, _none)),
    "VEI": (True, _count(_each, _one, _none)),
    "EVI": (False, _count(_one, _each, _none)),
    "VVI": (False, _count(_each, _each, _none)),
    "EEE": (False, _count(_one, _one, _one)),
    "VEE": (True, _count(_each, _one, _one)),
    "EVE": (True, _count(_one, _each, _one)),
    "VVE": (True, _count(_each, _each, _one)),
    "EEV": (False, _count(_one, _one, _each)),
    "VEV": (True, _count(_each, _one, _each)),
    "EVV": (False, _count(_one, _each, _each)),
    "VVV": (False, _count(_each, _each, _each)),
}

# The scikit-learn names of four of them.
ALIASES = {"full": "VVV", "tied": "EEE", "diag": "VVI", "spherical": "VII"}

# Models whose M-step is the unconstrained one of their storage type ("full" or
# "diag"): the compiled M-step alone computes them.
UNCONSTRAINED = ("VVV", "VVI")


def is_iterative(model):
    """Whether the M-step of mclust model ``model`` iterates."""
    return MODELS[ALIASES.get(model, model)][0]


def n_covariance_parameters(model, n_components, n_features):
    """Free parameters of the covariances of ``model`` (an mclust or scikit-learn
    name) with ``n_components`` components in ``n_features`` dimensions."""
    return int(MODELS[ALIASES.get(model, model)][1](n_components, n_features))


def constrained_covariances(model, nk, scatter, previous=None, out=None, per_mass=False):
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
        means (their diagonals, for the axis-aligned models); with ``per_mass``,
        ``W_k / n_k`` instead (the unconstrained M-step's covariances).
    previous : ndarray of the same shape as ``scatter``, or None
        The covariances of the previous iteration, from which the iterative M-steps
        start (otherwise, or when they are not finite, from a pooled estimate).
    out : C-contiguous float64 ndarray of the same shape as ``scatter``, or None
        Where to write the covariances (may be ``scatter`` itself).
    per_mass : bool, default=False
        Whether ``scatter`` holds ``W_k / n_k``.

    Returns
    -------
    covariances : ndarray of the same shape as ``scatter``
        ``out`` when given; NaN where a decomposition failed.
    """
    nk = np.ascontiguousarray(nk, dtype=np.float64)
    scatter = np.ascontiguousarray(scatter, dtype=np.float64)
    if out is None:
        out = np.empty_like(scatter)
    elif (out.shape != scatter.shape or out.dtype != np.float64
          or not out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous float64 array of shape "
                         f"{scatter.shape}, got {out.dtype} {out.shape}.")
    if previous is not None:
        previous = np.ascontiguousarray(previous, dtype=np.float64)
        if previous.shape != scatter.shape:
            previous = None
    n_features = scatter.shape[1] if scatter.ndim > 1 else 0
    constrained_covariances_into(MODEL_CODES[model], nk, scatter.reshape(-1), per_mass,
                                 None if previous is None else previous.reshape(-1),
                                 out.reshape(-1), n_features, MSTEP_TOL, MSTEP_MAX_ITER)
    return out


def expected_log_likelihood(nk, scatter, covariances):
    """Q(Sigma) = -1/2 sum_k [n_k log|Sigma_k| + tr(W_k Sigma_k^-1)] (see the module
    docstring), for full (K, d, d) or diagonal (K, d) arrays."""
    if scatter.ndim == 2:
        return float(-0.5 * np.sum(nk[:, None] * np.log(covariances)
                                   + scatter / covariances))
    logdet = np.linalg.slogdet(covariances)[1]
    traces = np.einsum("kij,kji->k", scatter, np.linalg.inv(covariances))
    return float(-0.5 * np.sum(nk * logdet + traces))
