"""The EM loop: restarts, convergence, warm start.

One EM iteration is one pass over the rows of a source (``_source``) with the fused
block function ``_passes.em_block`` (E-step and sufficient statistics, summed over
the blocks in order) followed by the M-step in ``_mstep``. The lower bound of an
iteration is the weighted mean log-likelihood of the parameters that iteration
started from, as in scikit-learn.
"""

import contextlib
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._accelerate import accelerated_em, extrapolates
from ._kernels import EM_CONVERGED, EM_HANDOFF, em_iterations, n_statistics, uses_blas
from ._init import initial_parameters
from ._mstep import (DegenerateComponentsError, GaussianParams, ParameterBuffers,
                     covariance_diagonals, covariance_kind)
from ._openmp_helpers import blas_single_thread
from ._passes import EStepProblem, Scratch, em_block
from ._progress import IterationInfo
from ._reseed import DEAD_FRACTION, ComponentReseeder
from ._source import ArraySource
from ._validation import ConvergenceWarning, ReseedWarning


class Workspace:
    """Buffers every pass over X of one fit reuses (allocated once per fit).

    Attributes
    ----------
    stats : ndarray of shape (n_stats,)
        The statistics of a pass (summed over the blocks in order).
    scratch : _passes.Scratch
        Per-block partial statistics of the kernels' fixed row partition.
    kmeans : _init.KMeansBuffers or None
        k-means buffers, made by ``_init`` on first use.
    """

    def __init__(self, covariance_type, n_components, n_features):
        self.stats = np.empty(n_statistics(covariance_type, n_components, n_features))
        self.scratch = Scratch()
        self.kmeans = None


@dataclass
class EMRun:
    """Outcome of EM from one initialization."""

    params: GaussianParams
    lower_bound: float
    lower_bounds: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    reseeder: object = None
    # Filled by fit_mixture: restarts that re-seeded a collapsed component, and
    # restarts dropped because re-seeding could not rescue them.
    restarts_reseeded: int = 0
    restarts_failed: int = 0
    stopped: bool = False     # the callback asked to stop this run early


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


def _describe_collapse(exc):
    where = ("the shared (tied) covariance" if exc.tied
             else f"the covariance of component(s) {exc.components}")
    return f"{where} stayed not positive definite after re-seeding"


def _degenerate_fit_error(failed, n_runs, covariance_type, reg_covar):
    """The ValueError of a fit whose every restart collapsed."""
    every = "the only initialization" if n_runs == 1 else f"all {n_runs} initializations"
    return ValueError(
        f"Fitting the mixture model failed in {every}: {_describe_collapse(failed[0][1])} "
        f"(reg_covar={reg_covar!r}, covariance_type={covariance_type!r}). A component "
        "collapsed onto a few (nearly) identical points or a lower-dimensional subspace, "
        "and re-seeding it elsewhere did not help. Increase reg_covar (e.g. 1e-4 for "
        "standardized data), use fewer components, or rescale X.")


def _strict_error(index, what, covariance_type, reg_covar):
    """The ValueError of on_degenerate="raise" when restart ``index`` collapsed."""
    return ValueError(
        f"Degenerate fit (on_degenerate='raise'): in initialization {index}, {what} "
        f"(covariance_type={covariance_type!r}, reg_covar={reg_covar!r}). The data hold "
        "(nearly) duplicated rows, a constant column or fewer distinct points than "
        "components need. Use fewer components, increase reg_covar, or set "
        "on_degenerate='reseed' to re-seed such components and be warned instead.")


# The one-pass covariance S2/N - delta delta^T about the shift c loses about
# log10(delta^2 / variance) digits; beyond this ratio (3 digits) the pass is redone
# about the new means, which are then within rounding of the statistics' centre.
_MAX_SHIFT_RATIO = 1e3
# At most this many compiled iterations a call (the size of its lower-bound buffer).
_COMPILED_ITERATIONS_PER_CALL = 1024


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



# Below this many features, the M-step's and the re-seeder's LAPACK and numpy calls
# work on matrices too small for a BLAS library to thread (OpenBLAS and MKL run
# matrices of a few dozen rows on the calling thread).
_BLAS_THREAD_MIN_FEATURES = 32


def _blas_may_thread(covariance_type, n_features):
    """Whether a fit of this shape can reach a BLAS call large enough for BLAS to start
    threads: the kernels call BLAS (``_kernels.uses_blas``), or the matrices of the
    M-step have ``_BLAS_THREAD_MIN_FEATURES`` rows or more."""
    return (uses_blas(covariance_type, n_features)
            or n_features >= _BLAS_THREAD_MIN_FEATURES)


def _compiled_iterations(source, n_stats, progress, callback):
    """``(X, sample_weight)`` when ``run_em`` may run its iterations compiled
    (``_estep.em_iterations``): the rows are one block of an array source, and no
    progress line or callback wants each iteration. Otherwise None."""
    if (type(source) is not ArraySource or callback is not None
            or (progress is not None and progress.verbose >= 1)
            or len(source.ranges(n_stats)) != 1):
        return None
    return source.X, source.sample_weight


def run_em(source, params, covariance_type, *, tol, max_iter, reg_covar, n_threads,
           workspace, lower_bound=-np.inf, progress=None, reseeder=None, callback=None,
           restart=0, n_init=1):
    """EM iterations from ``params`` until convergence or ``max_iter``.

    Parameters
    ----------
    source : row source (``_source``)
        The rows, in blocks; ``source.total_weight`` is the sum of their weights.
    params : GaussianParams
        Starting parameters (not modified).
    tol, max_iter, reg_covar, n_threads : as in GaussianMixture
    workspace : Workspace
    lower_bound : float
        Lower bound of the starting point (``-inf`` for a fresh start).
    reseeder : _reseed.ComponentReseeder, optional
        Re-seeder to use (and to record in); a new one when not given. The
        accelerated loop, which calls ``run_em`` one pass at a time, shares one per run
        so that its re-seeding budget and record span the whole run.
    callback : callable or None
        Called with an ``_progress.IterationInfo`` after every iteration (``restart``
        and ``n_init`` fill its fields); returning True stops the run there.

    Returns
    -------
    EMRun
        ``reseeder`` attribute: the run's ComponentReseeder (what it re-seeded).
    """
    n_components, n_features = params.means.shape
    kind = covariance_kind(covariance_type)
    dtype = source.dtype
    total_weight = source.total_weight
    current = ParameterBuffers(covariance_type, n_components, n_features).load(params)
    following = ParameterBuffers(covariance_type, n_components, n_features)
    run = EMRun(params=params, lower_bound=lower_bound)
    stats = workspace.stats
    # Re-seeds components that lost their responsibility or collapsed (rare: the
    # compiled M-step flags them, everything else stays on the fast path).
    if reseeder is None:
        reseeder = ComponentReseeder(source, n_components, covariance_type, reg_covar,
                                     n_threads)
    run.reseeder = reseeder

    def statistics(shift):
        problem = EStepProblem(kind, current.means, current.precisions_cholesky_flat,
                               current.log_norm_const, shift, n_threads)
        source.reduce(em_block, problem, stats, workspace.scratch)

    # Small fits run their plain iterations compiled (one call, no round trip per
    # iteration); the loop below does the iterations it hands back.
    compiled = _compiled_iterations(source, stats.size, progress, callback)
    if compiled:
        X, weights = compiled
        shift_buffer = np.empty((n_components, n_features))
        bounds = np.empty(min(max_iter, _COMPILED_ITERATIONS_PER_CALL))
        block_stats = workspace.scratch.block_stats(source.n_samples, stats.size)
        constrained = following.constrained_step()
    started = time.perf_counter()
    n_iter = 0
    while n_iter < max_iter:
        if compiled:
            done, swapped, reason = em_iterations(
                X, weights, kind, total_weight, reg_covar, DEAD_FRACTION, _MAX_SHIFT_RATIO,
                tol, min(max_iter - n_iter, bounds.size), run.lower_bound,
                current.kernel_buffers, following.kernel_buffers, constrained, shift_buffer,
                block_stats, stats, bounds, n_threads)
            if done:
                values = bounds[:done].tolist()
                run.lower_bounds.extend(values)
                run.lower_bound = values[-1]
                n_iter = run.n_iter = n_iter + done
                if swapped:
                    current, following = following, current
            if reason == EM_CONVERGED:
                run.converged = True
                break
            if reason != EM_HANDOFF:
                continue            # the iterations it was allowed: call it again
        n_iter += 1
        previous = run.lower_bound
        shift = _representable_shift(current.means, dtype)
        statistics(shift)
        value = float(stats[0]) / total_weight
        if not math.isfinite(value):
            raise FloatingPointError(
                f"The log-likelihood became {value} at iteration {n_iter}: the data "
                "overflow double precision in the mixture's densities. Rescale X (e.g. "
                "standardize each column)."
            )
        ratio = following.fill(stats, shift, reg_covar, DEAD_FRACTION, strict=False,
                               previous=current)
        snapshot = None     # the parameters behind these statistics, if re-seeding
        if following.needs_reseeding:
            snapshot = current.params()
            ratio = _reseed(following, reseeder, stats, shift, snapshot)
        if ratio > _MAX_SHIFT_RATIO:
            shift = _representable_shift(following.means.copy(), dtype)
            statistics(shift)
            following.fill(stats, shift, reg_covar, DEAD_FRACTION, strict=False,
                           previous=current)
            if following.needs_reseeding:
                snapshot = current.params() if snapshot is None else snapshot
                _reseed(following, reseeder, stats, shift, snapshot)
        current, following = following, current
        run.lower_bound = value
        run.lower_bounds.append(value)
        run.n_iter = n_iter
        change = value - previous
        if progress is not None:
            progress.iteration(n_iter, change)
        if abs(change) < tol:
            run.converged = True
        if callback is not None:
            now = time.perf_counter()
            info = IterationInfo(restart, n_init, n_iter, max_iter, value, change,
                                 now - started, run.converged)
            started = now
            if callback(info) is True and not run.converged:
                run.stopped = True
                break
        if run.converged:
            break
    if run.n_iter:
        run.params = current.params()
    return run


def fit_mixture(source, n_components, covariance_type, *, tol, reg_covar, max_iter,
                n_init, init_params, weights_init, means_init, precisions_init, streams,
                n_threads, warm_params=None, warm_lower_bound=-np.inf, verbose=0,
                verbose_interval=10, start_parameters=None, on_degenerate="reseed",
                acceleration="none", callback=None):
    """Fit a mixture with ``n_init`` restarts and keep the best lower bound.

    With ``warm_params`` (warm start) a single run continues from them. A restart
    whose components collapse beyond what re-seeding can rescue is dropped (one
    ReseedWarning says how many were); only when every restart fails does the fit
    fail, with a ValueError that says what to change.

    Parameters
    ----------
    source : row source (``_source``)
    streams : _init.RestartStreams
        The random streams of the restarts (restart ``i`` draws from its own).
    start_parameters : callable or None
        ``start_parameters(index, workspace) -> GaussianParams``: the starting point
        of restart ``index`` instead of ``_init.initial_parameters`` (``select``
        shares one k-means partition per restart across covariance types).
    on_degenerate : {"reseed", "raise"}
        "raise": a collapsed component (one that would be re-seeded) is an error,
        a ValueError naming the restart, instead of a ReseedWarning.
    acceleration : {"none", "squarem"}
        "squarem": each run is ``_accelerate.accelerated_em`` (for the covariance
        types that ``_accelerate.extrapolates``; plain EM for the others).
    callback : callable or None
        See ``run_em``; a run it stopped raises no ConvergenceWarning.

    Returns
    -------
    best : EMRun
    """
    workspace = Workspace(covariance_type, n_components, source.n_features)
    progress = _Progress(verbose, verbose_interval)
    n_runs = 1 if warm_params is not None else n_init
    run_from = run_em
    if acceleration == "squarem" and extrapolates(covariance_type):
        run_from = accelerated_em
    best = None
    failed = []               # (restart, DegenerateComponentsError) of dropped restarts
    reseeded = []             # restarts that re-seeded a collapsed component
    all_given = (weights_init is not None and means_init is not None
                 and precisions_init is not None)
    # OpenMP threads do the work; BLAS (inside the kernels and in the M-step) stays
    # serial so that it never oversubscribes the cores alongside them. Setting the
    # limit costs more than a small fit's iterations: it is set only where BLAS
    # could start threads (``_blas_may_thread``).
    guard = (blas_single_thread() if _blas_may_thread(covariance_type, source.n_features)
             else contextlib.nullcontext())
    with guard:
        for index in range(n_runs):
            progress.init_begin(index)
            try:
                if warm_params is not None:
                    start, lower_bound = warm_params.copy(), warm_lower_bound
                elif start_parameters is not None:
                    start, lower_bound = start_parameters(index, workspace), -np.inf
                else:
                    start = initial_parameters(
                        source, n_components, covariance_type, init_params=init_params,
                        weights_init=weights_init, means_init=means_init,
                        precisions_init=precisions_init, reg_covar=reg_covar,
                        # Given parameters draw nothing: no generator to make.
                        rng=None if all_given else streams.restart(index),
                        n_threads=n_threads,
                        workspace=workspace, restart=index)
                    lower_bound = -np.inf
                run = run_from(source, start, covariance_type, tol=tol, max_iter=max_iter,
                               reg_covar=reg_covar, n_threads=n_threads,
                               workspace=workspace, lower_bound=lower_bound,
                               progress=progress, callback=callback,
                               restart=index, n_init=n_runs)
            except DegenerateComponentsError as exc:
                if on_degenerate == "raise":
                    raise _strict_error(index, _describe_collapse(exc), covariance_type,
                                        reg_covar) from None
                failed.append((index, exc))
                continue
            progress.init_end(run.lower_bound, run.converged)
            if run.reseeder.collapsed:
                if on_degenerate == "raise":
                    raise _strict_error(
                        index, f"component(s) {sorted(set(run.reseeder.collapsed))} "
                        "collapsed (a covariance was not positive definite)",
                        covariance_type, reg_covar)
                reseeded.append(index)
            if best is None or run.lower_bound > best.lower_bound:
                best = run
    if best is None:
        raise _degenerate_fit_error(failed, n_runs, covariance_type, reg_covar)
    best.restarts_reseeded = len(reseeded)
    best.restarts_failed = len(failed)
    if failed or reseeded:
        # One ReseedWarning per fit, whatever the number of restarts it concerns.
        parts = []
        if reseeded:
            parts.append(
                f"components collapsed in {len(reseeded)} of {n_runs} initialization(s) "
                f"(a covariance was not positive definite after adding reg_covar="
                f"{reg_covar!r}) and were re-seeded at the points the model explained "
                f"worst{'' if best.reseeder.collapsed else ' (not in the run kept)'}, "
                "which can move a fit to another optimum")
        if failed:
            parts.append(
                f"{len(failed)} of {n_runs} initialization(s) failed and were dropped "
                f"({_describe_collapse(failed[0][1])} in restart {failed[0][0]}"
                f"{' and others' if len(failed) > 1 else ''}); the fit kept the best of "
                f"the other {n_runs - len(failed)}")
        message = "; ".join(parts)
        warnings.warn(f"{message[0].upper()}{message[1:]}; to keep such components "
                      f"instead, increase reg_covar (now {reg_covar!r}).",
                      ReseedWarning, stacklevel=3)
    if not best.converged and not best.stopped and max_iter > 0:
        # An instance: its class is scikit-learn's ConvergenceWarning too when
        # scikit-learn is loaded (``_exceptions``), and filters match on it.
        warnings.warn(ConvergenceWarning(
            f"Best of {n_runs} initialization(s) did not converge in max_iter={max_iter} "
            f"iterations (last lower-bound change >= tol={tol}). Increase max_iter or tol, "
            "or check the data's scale."),
            stacklevel=3,
        )
    return best
