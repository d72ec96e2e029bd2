"""The EM loop: restarts, convergence, warm start.

One EM iteration is one call of the fused kernel ``_estep.em_statistics`` (E-step
and sufficient statistics in one pass over X) followed by the M-step in
``_mstep``. The lower bound of an iteration is the weighted mean log-likelihood of
the parameters that iteration started from, as in scikit-learn.
"""

import contextlib
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._kernels import em_statistics, n_blocks, n_statistics
from ._init import initial_parameters, spawn_generators
from ._mstep import (DegenerateComponentsError, GaussianParams, ParameterBuffers,
                     covariance_diagonals, covariance_kind)
from ._openmp_helpers import blas_single_thread
from ._reseed import DEAD_FRACTION, ComponentReseeder
from ._validation import ConvergenceWarning


class Workspace:
    """Buffers every pass over X of one fit reuses (allocated once per fit).

    Attributes
    ----------
    block_stats : ndarray of shape (n_blocks, n_stats)
        Per-block partial statistics of the fixed row partition.
    stats : ndarray of shape (n_stats,)
        Their ordered sum.
    """

    def __init__(self, n_samples, covariance_type, n_components, n_features):
        n_stats = n_statistics(covariance_type, n_components, n_features)
        self.block_stats = np.empty((n_blocks(n_samples, n_stats), n_stats))
        self.stats = np.empty(n_stats)
        self.kmeans = None    # k-means buffers, made by _init on first use


@dataclass
class EMRun:
    """Outcome of EM from one initialization."""

    params: GaussianParams
    lower_bound: float
    lower_bounds: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False


class _Progress:
    """scikit-learn style progress messages (``verbose`` and ``verbose_interval``)."""

    def __init__(self, verbose, verbose_interval):
        self.verbose = verbose
        self.interval = verbose_interval
        self.t_init = self.t_iter = 0.0

    def init_begin(self, index):
        if self.verbose >= 1:
            print(f"Initialization {index}")
            self.t_init = self.t_iter = time.perf_counter()

    def iteration(self, n_iter, change):
        if self.verbose >= 1 and n_iter % self.interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            else:
                now = time.perf_counter()
                print(f"  Iteration {n_iter}\t time lapse {now - self.t_iter:.5f}s\t "
                      f"ll change {change:.5f}")
                self.t_iter = now

    def init_end(self, lower_bound, converged):
        if self.verbose >= 1:
            status = "converged" if converged else "did not converge"
            if self.verbose == 1:
                print(f"Initialization {status}.")
            else:
                print(f"Initialization {status}. time lapse "
                      f"{time.perf_counter() - self.t_init:.5f}s\t lower bound "
                      f"{lower_bound:.5f}")


@contextlib.contextmanager
def _clear_degenerate_errors(covariance_type, reg_covar):
    """Turn a DegenerateComponentsError into a ValueError that says what to do."""
    try:
        yield
    except DegenerateComponentsError as exc:
        where = ("the shared (tied) covariance" if exc.tied
                 else f"the covariance of component(s) {exc.components}")
        raise ValueError(
            f"Fitting the mixture model failed: {where} is not positive definite after "
            f"adding reg_covar={reg_covar!r} (covariance_type={covariance_type!r}). A "
            "component collapsed onto a few (nearly) identical points or a "
            "lower-dimensional subspace, and re-seeding it elsewhere did not help. "
            "Increase reg_covar (e.g. 1e-4 for standardized "
            "data), use fewer components, or rescale X."
        ) from None


# The one-pass covariance S2/N - delta delta^T about the shift c loses about
# log10(delta^2 / variance) digits; beyond this ratio (3 digits) the pass is redone
# about the new means, which are then within rounding of the statistics' centre.
_MAX_SHIFT_RATIO = 1e3


def _reseed(buffers, reseeder, stats, shift, previous):
    """The M-step with flagged components re-seeded (``_reseed.ComponentReseeder``),
    into ``buffers``; returns the shift ratio of the result."""
    params = reseeder.maximize(stats, shift, previous)
    buffers.load(params)
    return _shift_ratio(params, shift, buffers.covariance_type)


def _shift_ratio(params, shift, covariance_type):
    """max_kj (mu_kj - c_kj)^2 / Sigma_k,jj, as the compiled M-step reports it."""
    delta2 = (params.means - shift) ** 2
    return float(np.max(delta2 / covariance_diagonals(params.covariances, covariance_type)))


def _representable_shift(means, dtype):
    """The statistics shift: the means, rounded to float32 for float32 data so that
    the kernels' float32 arithmetic uses exactly the shift the M-step adds back."""
    if dtype == np.float64:
        return means
    return means.astype(dtype).astype(np.float64)



def run_em(X, sample_weight, total_weight, params, covariance_type, *, tol, max_iter,
           reg_covar, n_threads, workspace, lower_bound=-np.inf, progress=None):
    """EM iterations from ``params`` until convergence or ``max_iter``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C-contiguous
    sample_weight : ndarray of shape (n_samples,) or (0,)
    total_weight : float
        ``sum(sample_weight)`` (``n_samples`` for unit weights).
    params : GaussianParams
        Starting parameters (not modified).
    tol, max_iter, reg_covar, n_threads : as in GaussianMixture
    workspace : Workspace
    lower_bound : float
        Lower bound of the starting point (``-inf`` for a fresh start).

    Returns
    -------
    EMRun
    """
    n_components, n_features = params.means.shape
    kind = covariance_kind(covariance_type)
    current = ParameterBuffers(covariance_type, n_components, n_features).load(params)
    following = ParameterBuffers(covariance_type, n_components, n_features)
    run = EMRun(params=params, lower_bound=lower_bound)
    # Re-seeds components that lost their responsibility or collapsed (rare: the
    # compiled M-step flags them, everything else stays on the fast path).
    reseeder = ComponentReseeder(X, sample_weight, total_weight, n_components,
                                 covariance_type, reg_covar, n_threads)
    for n_iter in range(1, max_iter + 1):
        previous = run.lower_bound
        shift = _representable_shift(current.means, X.dtype)
        em_statistics(X, sample_weight, current.means, current.precisions_cholesky_flat,
                      current.log_norm_const, shift, kind, workspace.block_stats,
                      workspace.stats, n_threads)
        value = workspace.stats[0] / total_weight
        if not np.isfinite(value):
            raise FloatingPointError(
                f"The log-likelihood became {value} at iteration {n_iter}: the data "
                "overflow double precision in the mixture's densities. Rescale X (e.g. "
                "standardize each column)."
            )
        ratio = following.fill(workspace.stats, shift, reg_covar, DEAD_FRACTION,
                               strict=False)
        snapshot = None     # the parameters behind these statistics, if re-seeding
        if following.needs_reseeding:
            snapshot = current.params()
            ratio = _reseed(following, reseeder, workspace.stats, shift, snapshot)
        if ratio > _MAX_SHIFT_RATIO:
            shift = _representable_shift(following.means.copy(), X.dtype)
            em_statistics(X, sample_weight, current.means, current.precisions_cholesky_flat,
                          current.log_norm_const, shift, kind, workspace.block_stats,
                          workspace.stats, n_threads)
            following.fill(workspace.stats, shift, reg_covar, DEAD_FRACTION, strict=False)
            if following.needs_reseeding:
                snapshot = current.params() if snapshot is None else snapshot
                _reseed(following, reseeder, workspace.stats, shift, snapshot)
        current, following = following, current
        run.lower_bound = value
        run.lower_bounds.append(value)
        run.n_iter = n_iter
        change = value - previous
        if progress is not None:
            progress.iteration(n_iter, change)
        if abs(change) < tol:
            run.converged = True
            break
    if run.n_iter:
        run.params = current.params()
    return run


def fit_mixture(X, sample_weight, n_components, covariance_type, *, tol, reg_covar,
                max_iter, n_init, init_params, weights_init, means_init, precisions_init,
                random_state, n_threads, warm_params=None, warm_lower_bound=-np.inf,
                verbose=0, verbose_interval=10):
    """Fit a mixture with ``n_init`` restarts and keep the best lower bound.

    With ``warm_params`` (warm start) a single run continues from them.

    Returns
    -------
    best : EMRun
    """
    n_samples, n_features = X.shape
    total_weight = float(n_samples if sample_weight.size == 0 else sample_weight.sum())
    workspace = Workspace(n_samples, covariance_type, n_components, n_features)
    progress = _Progress(verbose, verbose_interval)
    n_runs = 1 if warm_params is not None else n_init
    generators = spawn_generators(random_state, n_runs) if warm_params is None else [None]
    best = None
    # OpenMP threads do the work; BLAS (inside the kernels and in the M-step) stays
    # serial so that it never oversubscribes the cores alongside them.
    with blas_single_thread(), _clear_degenerate_errors(
            covariance_type, reg_covar):
        for index, rng in enumerate(generators):
            progress.init_begin(index)
            if warm_params is not None:
                start, lower_bound = warm_params.copy(), warm_lower_bound
            else:
                start = initial_parameters(
                    X, sample_weight, n_components, covariance_type, init_params=init_params,
                    weights_init=weights_init, means_init=means_init,
                    precisions_init=precisions_init, reg_covar=reg_covar, rng=rng,
                    n_threads=n_threads, workspace=workspace, restart=index)
                lower_bound = -np.inf
            run = run_em(X, sample_weight, total_weight, start, covariance_type, tol=tol,
                         max_iter=max_iter, reg_covar=reg_covar, n_threads=n_threads,
                         workspace=workspace, lower_bound=lower_bound, progress=progress)
            progress.init_end(run.lower_bound, run.converged)
            if best is None or run.lower_bound > best.lower_bound:
                best = run
    if not best.converged and max_iter > 0:
        warnings.warn(
            f"Best of {n_runs} initialization(s) did not converge in max_iter={max_iter} "
            f"iterations (last lower-bound change >= tol={tol}). Increase max_iter or tol, "
            "or check the data's scale.",
            ConvergenceWarning, stacklevel=3,
        )
    return best
