"""Accelerated EM: SQUAREM extrapolation of the EM map, kept monotone.

EM for Gaussian mixtures converges linearly, and slowly where components overlap
(the rate is the largest fraction of missing information). SQUAREM (Varadhan &
Roland 2008, Scand. J. Statist. 35:335-353) extrapolates along two consecutive EM
steps: from ``x0``, ``x1 = F(x0)``, ``x2 = F(x1)`` with ``r = x1 - x0`` and
``v = x2 - 2 x1 + x0`` it proposes ::

    x' = x0 + 2 a r + a^2 v        (a = 1 gives x2 exactly)

with the step length of its third scheme, ``a = |r| / |v|`` ("s3"; the first
two, ``-<r, v> / |v|^2`` and ``-|r|^2 / <r, v>``, can be chosen to compare). A
cycle costs three passes over X: ``F(x0)``, ``F(x1)`` and ``F(x')``, the last one
both SQUAREM's stabilizing EM step and the evaluation of ``x'``.

What this module adds to the textbook scheme, so that it is safe in a library:

* **Where to extrapolate, and with which norm.** The affine combination above is
  taken in the parameters themselves (weights, means, covariances): weights then
  still sum to one and covariances stay symmetric. The step length depends on
  the norm, and a Euclidean norm of raw parameters depends on the data's units;
  here differences are measured in the metric of the complete-data Fisher
  information at ``x1`` (weights ``dpi_k^2 / pi_k``; means
  ``pi_k dmu^T Sigma_k^-1 dmu``; covariances ``pi_k / 2 tr((Sigma_k^-1 dSigma)^2)``),
  in which EM's Jacobian is self-adjoint and which is invariant under affine
  changes of the data's coordinates. (Log-weights with log-Cholesky factors, in
  which every point is valid, and precision factors were tried too: both needed
  more passes on overlapping mixtures.)
* **Validity checked and restored.** An extrapolated point is *invalid* when a
  number is not finite, a weight is below ``min_weight`` (the next M-step would
  re-seed that component), a covariance is not above ``(1 - 1e-3) reg_covar`` on
  every axis (every regularized M-step's output is above ``reg_covar``), or its
  precision Cholesky fails in float64. The step length is then halved towards 1
  (no pass needed) until the point is valid; ``a = 1`` is ``x2`` itself.
* **Monotone control.** ``x'`` is accepted when its log-likelihood is at least
  that of ``x1`` (the last accepted value). Otherwise its EM image ``F(x')``,
  which the same pass produced and in which the EM step has damped what the
  extrapolation amplified, is evaluated next and accepted on the same test;
  failing both, the cycle falls back to ``x2``, which is plain EM. An extrapolated
  point whose pass re-seeds or raises ArithmeticError is rejected. The R
  package's default ("global") variant lets the objective get worse near the
  optimum; a library that promises monotone fits cannot.
* **An adaptive step ceiling** (as in the R package): ``a`` is clipped to
  ``[1, step_max]``; the ceiling starts at ``step_max`` (1: the first cycle is two
  plain steps) and is multiplied by ``step_factor`` (4) whenever a step at the
  ceiling is accepted, divided by it when one is rejected or invalid.
* **The same stopping rule and pass accounting as plain EM.** Every call of
  ``em_step`` is one pass over X and one iteration (``n_iter``). The run stops when
  the log-likelihood changes by less than ``tol`` between a point and its EM image
  (``x0 -> x1``, ``x1 -> x2``, ``x' -> F(x')``), which is plain EM's test wherever
  it applies; the jump ``x1 -> x'`` is not an EM step and never stops a run. As in
  plain EM the result is the EM image of the last accepted point, and
  ``lower_bound`` that point's log-likelihood: the result is a fixed point of EM to
  within ``tol``, whatever the extrapolation did.

Monotone means: accepted extrapolations never lower the log-likelihood, and EM
steps are as monotone as EM. The regularized M-step (covariances plus
``reg_covar I``) is not an exact maximization, so an EM step can lower the
log-likelihood by a tiny amount, of order ``reg_covar`` times the distance to the
fixed point; extrapolated points reach the region between the regularized fixed
point and the unregularized optimum more often than plain iterates, so such
drops (1e-10 on iris with ``reg_covar=1e-6``) are seen there; with
``reg_covar=0`` none are.

How it combines with the rest of a fit:

* **Re-seeding** (a component died or collapsed) makes the EM map discontinuous,
  so two steps across a re-seed extrapolate nonsense. When ``em_step`` reports a
  re-seed on an accepted point, the cycle restarts from the re-seeded parameters;
  on an extrapolated point, that point is rejected. Monotonicity holds between
  re-seeds, as for plain EM (a re-seed can lower the likelihood in both).
* **warm_start**: a warm-started fit passes the previous parameters as ``params``
  and the previous ``lower_bound_`` as ``lower_bound``; the first pass is tested
  against it, as in plain EM. No extrapolation state survives between fits (a
  cycle needs two fresh steps).
* **n_init**: each restart is its own accelerated run from its own start, and the
  best lower bound is kept as with plain EM. Acceleration changes which restart
  wins only through where each converges (every run converges to a fixed point
  of EM, usually the one plain EM reaches from the same start).
* **sample_weight** only enters the EM map (weighted statistics and the weighted
  mean log-likelihood); the accelerator never sees the data.
* **Covariance types**: all four; only the information metric and the validity
  check differ between them. The rule is a per-type property,
  ``AFFINE_COVARIANCE_FAMILY``: a family closed under affine combinations (up to
  positive definiteness) is extrapolated; any other type (constrained families such
  as mclust's common-shape or common-orientation models) runs plain EM under
  ``acceleration="squarem"``.

The public parameter is ``GaussianMixture(acceleration="none"|"squarem")`` (and
``fastgmm.fit``); ``_em.fit_mixture`` runs ``accelerated_em`` instead of
``_em.run_em`` per restart, and ``KernelEMMap`` is that run's EM map: one call of
``run_em(..., max_iter=1)``, the same pass as plain EM's. Why SQUAREM-S3 rather than
Aitken/Louis, quasi-Newton, Anderson acceleration, DAAREM or parameter-expanded EM
is in ``docs/how_it_works.rst`` ("Accelerated EM"): in short, SQUAREM needs only the
EM map and three points of memory, S3 is the step length that does not slow EM
down on Gaussian mixtures, and monotone control is what makes it safe (Anderson
acceleration is reported to fail on mixtures without it).
"""

import math
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ._mstep import DegenerateComponentsError, GaussianParams, compute_precision_cholesky
from ._reseed import DEAD_FRACTION
from ._validation import check_choice

# Extrapolated covariances must stay above (1 - _FLOOR_MARGIN) * reg_covar on every
# axis (every M-step output is above reg_covar).
_FLOOR_MARGIN = 1e-3
# A step length within this of 1 is a plain EM step (x' = x2).
_PLAIN_STEP = 1e-2


class EMStep(NamedTuple):
    """What one pass over X returns: the EM image of the parameters it was given.

    Attributes
    ----------
    next_params : GaussianParams
        The M-step of the statistics of the pass.
    log_likelihood : float
        The (weighted) mean log-likelihood of the parameters the pass started from.
    reseeded : bool
        Whether the M-step re-seeded a component (a discontinuity of the map).
    """

    next_params: GaussianParams
    log_likelihood: float
    reseeded: bool = False


@dataclass
class AcceleratedRun:
    """Outcome of accelerated EM from one start (the fields of ``_em.EMRun``, plus
    what the accelerator did).

    Attributes
    ----------
    params : GaussianParams
        EM image of the last accepted point.
    lower_bound : float
        Mean log-likelihood of the last accepted point.
    lower_bounds : list of float
        After each pass, the log-likelihood of the last accepted point (rejected
        extrapolations repeat the previous value), so ``len(lower_bounds) == n_iter``.
    n_iter : int
        Passes over X (calls of ``em_step``).
    converged : bool
    n_extrapolated : int
        Extrapolated points evaluated (each one pass).
    n_accepted : int
        Of those, accepted.
    n_invalid : int
        Extrapolated points found invalid before any pass (the step was shortened).
    n_resets : int
        Cycles restarted because ``em_step`` re-seeded a component.
    """

    params: GaussianParams
    lower_bound: float
    lower_bounds: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    n_extrapolated: int = 0
    n_accepted: int = 0
    n_invalid: int = 0
    n_resets: int = 0


def _step_s1(rr, rv, vv):
    return -rv / vv


def _step_s2(rr, rv, vv):
    return -rr / rv


def _step_s3(rr, rv, vv):
    return math.sqrt(rr / vv)


# SQUAREM's step lengths, written with a > 0 meaning "further along the EM path".
STEP_LENGTHS = {"s1": _step_s1, "s2": _step_s2, "s3": _step_s3}


# ---------------------------------------------------------------------------------
# The information metric and the validity check
# ---------------------------------------------------------------------------------

class _InformationMetric:
    """Whitening of parameter differences by the complete-data Fisher information
    of a reference point (per observation).

    ``whiten(dw, dmu, dcov)`` returns a flat vector whose squared Euclidean norm is
    ``sum_k dw_k^2 / w_k + sum_k w_k dmu_k^T S_k^-1 dmu_k
    + sum_k w_k / 2 tr((S_k^-1 dS_k)^2)`` at the reference ``(w, S)`` (tied: one
    shared ``S`` with weight 1; diag and spherical: the same with diagonal ``S``).

    Parameters
    ----------
    reference : GaussianParams
    covariance_type : {"full", "tied", "diag", "spherical"}
    """

    def __init__(self, reference, covariance_type):
        self.covariance_type = covariance_type
        self.root_weights = np.sqrt(reference.weights)
        n_features = reference.means.shape[1]
        cov = reference.covariances
        if covariance_type in ("full", "tied"):
            stack = cov if covariance_type == "full" else cov[None]
            # L^-1 with S = L L^T: |L^-1 dmu|^2 = dmu^T S^-1 dmu, and the symmetric
            # L^-1 dS L^-T has squared Frobenius norm tr((S^-1 dS)^2).
            self.inverse_factor = np.linalg.inv(np.linalg.cholesky(stack))
            upper = np.triu_indices(n_features)
            self.upper = upper
            self.pair_factor = np.where(upper[0] == upper[1], 1.0, math.sqrt(2.0))
        elif covariance_type == "diag":
            self.variances = cov
        else:
            self.variances = cov[:, None]
            self.spherical_factor = math.sqrt(n_features)

    def whiten(self, d_weights, d_means, d_covariances):
        """The whitened difference: ndarray of shape (n_coordinates,)."""
        w = self.root_weights
        kind = self.covariance_type
        if kind in ("full", "tied"):
            inv = self.inverse_factor
            means = (np.einsum("kij,kj->ki", inv, d_means) if kind == "full"
                     else d_means @ inv[0].T)
            stack = d_covariances if kind == "full" else d_covariances[None]
            whitened = inv @ stack @ np.swapaxes(inv, 1, 2)
            pairs = whitened[:, self.upper[0], self.upper[1]] * self.pair_factor
            cov_weight = w[:, None] if kind == "full" else 1.0
            covariances = pairs * cov_weight / math.sqrt(2.0)
        else:
            means = d_means / np.sqrt(self.variances)
            relative = d_covariances.reshape(self.variances.shape[0], -1) / self.variances
            if kind == "spherical":
                relative = relative * self.spherical_factor
            covariances = relative * w[:, None] / math.sqrt(2.0)
        return np.concatenate([d_weights / w, (means * w[:, None]).ravel(),
                               covariances.ravel()])


def _valid_params(weights, means, covariances, covariance_type, floor, min_weight):
    """GaussianParams of an extrapolated point, or None if it is invalid.

    Invalid: non-finite numbers, a weight below ``min_weight``, a covariance not
    above ``floor`` on every axis, or a precision Cholesky that fails in float64.
    """
    if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(means))
            and np.all(np.isfinite(covariances))):
        return None
    weights = weights / weights.sum()
    if not np.all(weights >= min_weight):
        return None
    if covariance_type in ("full", "tied"):
        covariances = 0.5 * (covariances + np.swapaxes(covariances, -1, -2))
        stack = covariances if covariance_type == "full" else covariances[None]
        try:
            np.linalg.cholesky(stack - floor * np.eye(stack.shape[-1]))
        except np.linalg.LinAlgError:
            return None
    elif not np.all(covariances > floor):
        return None
    try:
        precisions_cholesky = compute_precision_cholesky(covariances, covariance_type)
    except DegenerateComponentsError:
        return None
    if not np.all(np.isfinite(precisions_cholesky)):
        return None
    return GaussianParams(weights, means, covariances, precisions_cholesky)


def _extrapolate(points, covariance_type, step_length, step_max, floor, min_weight):
    """SQUAREM's point from three consecutive EM points.

    Parameters
    ----------
    points : tuple of 3 GaussianParams
        ``x0``, ``x1 = F(x0)``, ``x2 = F(x1)``.
    covariance_type : str
    step_length : callable
        One of STEP_LENGTHS.
    step_max : float
        Ceiling of the step length.
    floor, min_weight : float
        Validity bounds (see ``_valid_params``).

    Returns
    -------
    params : GaussianParams or None
        The extrapolated point; None for a plain step (``x2``).
    step : float
        The step length of ``params`` (1 for a plain step).
    proposed : float
        The step length the scheme proposed, clipped to ``[1, step_max]``.
    n_invalid : int
        Invalid points met while shortening the step towards 1.
    """
    x0, x1, x2 = points
    fields = [(p.weights, p.means, p.covariances) for p in points]
    r = [b - a for a, b in zip(fields[0], fields[1])]
    v = [c - 2.0 * b + a for a, b, c in zip(*fields)]
    try:
        metric = _InformationMetric(x1, covariance_type)
    except np.linalg.LinAlgError:
        return None, 1.0, 1.0, 0
    r_white, v_white = metric.whiten(*r), metric.whiten(*v)
    rr, rv, vv = (float(r_white @ r_white), float(r_white @ v_white),
                  float(v_white @ v_white))
    if not (vv > 0 and rr > 0 and rv != 0):
        return None, 1.0, 1.0, 0
    proposed = step_length(rr, rv, vv)
    if not math.isfinite(proposed):
        return None, 1.0, 1.0, 0
    proposed = min(max(proposed, 1.0), step_max)
    step, n_invalid = proposed, 0
    while step - 1.0 > _PLAIN_STEP:
        candidate = [a + 2.0 * step * dr + step * step * dv
                     for a, dr, dv in zip(fields[0], r, v)]
        params = _valid_params(*candidate, covariance_type, floor, min_weight)
        if params is not None:
            return params, step, proposed, n_invalid
        n_invalid += 1
        step = 1.0 + 0.5 * (step - 1.0)
    return None, 1.0, proposed, n_invalid


def _evaluate_extrapolated(evaluate, point, forget=None):
    """``evaluate(point)``, or None when that pass raises ArithmeticError, re-seeds,
    or gives a non-finite log-likelihood (then ``forget()``, if given, undoes what
    the pass recorded: ``KernelEMMap.forget_last``)."""
    try:
        result = evaluate(point)
    except ArithmeticError:     # e.g. the densities overflow at this point
        result = None
    if result is None or result.reseeded or not math.isfinite(result.log_likelihood):
        if forget is not None:
            forget()
        return None
    return result


def _as_em_step(result):
    """``em_step``'s return value as an EMStep (a plain 2-tuple is not re-seeded)."""
    if isinstance(result, EMStep):
        return result
    if len(result) == 2:
        return EMStep(result[0], float(result[1]), False)
    return EMStep(result[0], float(result[1]), bool(result[2]))


def squarem(em_step, params, covariance_type, *, tol, max_iter, reg_covar=0.0,
            lower_bound=-np.inf, step_length="s3", step_max=1.0, step_factor=4.0,
            min_weight=DEAD_FRACTION, progress=None, on_pass=None):
    """Run accelerated EM from ``params`` until convergence or ``max_iter`` passes.

    ``on_pass(n_pass, lower_bound, change)``, when given, is called after every pass
    with the accepted lower bound; returning True stops the run at the end of the
    current extrapolation cycle (at most two more passes), with ``stopped`` set.

    Parameters
    ----------
    em_step : callable
        ``em_step(params) -> (next_params, log_likelihood[, reseeded])`` (or an
        EMStep): one pass over X. ``next_params`` (GaussianParams) is the M-step
        of the statistics of ``params``, ``log_likelihood`` the weighted mean
        log-likelihood of ``params``, ``reseeded`` whether the M-step re-seeded a
        component. Neither its argument nor its result is modified here.
    params : GaussianParams
        Starting point (not modified).
    covariance_type : {"full", "tied", "diag", "spherical"}
    tol : float
        Stop when the log-likelihood changes by less than ``tol`` over one EM step.
    max_iter : int
        Most passes over X (calls of ``em_step``).
    reg_covar : float
        The M-step's regularization: extrapolated covariances must stay above
        ``(1 - 1e-3) reg_covar`` on every axis.
    lower_bound : float
        Log-likelihood of the point whose EM image ``params`` is (warm start), or
        ``-inf``.
    step_length : {"s3", "s1", "s2"}
        SQUAREM's step length scheme.
    step_max, step_factor : float
        Initial ceiling of the step length, and its growth and shrink factor.
    min_weight : float
        Extrapolated points with a smaller weight are invalid (the next M-step
        would re-seed that component).
    progress : object with ``iteration(n_iter, change)``, optional
        Called after every pass with the change of the accepted log-likelihood
        (as ``_em._Progress`` prints it).

    Returns
    -------
    AcceleratedRun

    Raises
    ------
    ValueError
        For an unknown ``step_length`` or ``step_max < 1``, ``step_factor <= 1``.
    Whatever ``em_step`` raises on a point that is not an extrapolation (on an
    extrapolated point an ArithmeticError only rejects the point).
    """
    check_choice(step_length, "step_length", tuple(STEP_LENGTHS))
    if not (step_max >= 1.0 and step_factor > 1.0):
        raise ValueError(f"step_max must be >= 1 and step_factor > 1, got step_max="
                         f"{step_max!r} and step_factor={step_factor!r}; the defaults "
                         "are 1 and 4.")
    scheme = STEP_LENGTHS[step_length]
    forget = getattr(em_step, "forget_last", None)
    floor = (1.0 - _FLOOR_MARGIN) * reg_covar
    run = AcceleratedRun(params=params, lower_bound=lower_bound)
    ceiling = float(step_max)

    def evaluate(point):
        run.n_iter += 1         # a pass, even one that raises
        return _as_em_step(em_step(point))

    def accept(result):
        change = result.log_likelihood - run.lower_bound
        run.lower_bound = result.log_likelihood
        run.params = result.next_params
        run.lower_bounds.append(result.log_likelihood)
        if progress is not None:
            progress.iteration(run.n_iter, change)
        if on_pass is not None and on_pass(run.n_iter, run.lower_bound, change) is True:
            stop_requested[0] = True

    def keep():
        """Record the passes since the last accepted value as not changing it."""
        while len(run.lower_bounds) < run.n_iter:
            run.lower_bounds.append(run.lower_bound)
            if progress is not None:
                progress.iteration(len(run.lower_bounds), 0.0)
            if (on_pass is not None
                    and on_pass(len(run.lower_bounds), run.lower_bound, 0.0) is True):
                stop_requested[0] = True

    x0 = params
    previous = lower_bound       # log-likelihood of the point whose EM image x0 is
    stop_requested = [False]
    while run.n_iter < max_iter and not stop_requested[0]:
        # First EM step of the cycle: x0 -> x1.
        step0 = evaluate(x0)
        accept(step0)
        if abs(step0.log_likelihood - previous) < tol:
            run.converged = True
            break
        run.n_resets += step0.reseeded
        if step0.reseeded or run.n_iter >= max_iter:
            x0, previous = step0.next_params, step0.log_likelihood
            continue
        # Second: x1 -> x2.
        step1 = evaluate(step0.next_params)
        accept(step1)
        if abs(step1.log_likelihood - step0.log_likelihood) < tol:
            run.converged = True
            break
        cycle = (x0, step0.next_params, step1.next_params)
        x0, previous = step1.next_params, step1.log_likelihood      # the fallback
        run.n_resets += step1.reseeded
        if step1.reseeded or run.n_iter >= max_iter:
            continue
        # The extrapolated point, evaluated by the pass that is also its EM step.
        extrapolated, step, proposed, n_invalid = _extrapolate(
            cycle, covariance_type, scheme, ceiling, floor, min_weight)
        run.n_invalid += n_invalid
        if extrapolated is None:
            if proposed >= ceiling:
                ceiling = (max(step_max, ceiling / step_factor) if n_invalid
                           else ceiling * step_factor)
            continue
        run.n_extrapolated += 1
        target = step1.log_likelihood
        candidate = _evaluate_extrapolated(evaluate, extrapolated, forget)
        if candidate is not None and candidate.log_likelihood < target:
            # x' is lower than x1; its EM image (from the same pass) may not be.
            keep()
            image = (_evaluate_extrapolated(evaluate, candidate.next_params, forget)
                     if run.n_iter < max_iter else None)
            if image is not None and image.log_likelihood >= target:
                run.n_accepted += 1
                accept(image)
                x0, previous = image.next_params, image.log_likelihood
                if abs(image.log_likelihood - candidate.log_likelihood) < tol:
                    run.converged = True
                    break
                continue
            candidate = None
        if candidate is None:
            keep()
            if proposed >= ceiling:
                ceiling = max(step_max, ceiling / step_factor)
            continue
        run.n_accepted += 1
        accept(candidate)
        x0, previous = candidate.next_params, candidate.log_likelihood
        if step >= ceiling:
            ceiling *= step_factor
    return run


class KernelEMMap:
    """The EM map on fastgmm's compiled kernels, as ``squarem`` takes it.

    Each call runs ``_em.run_em(..., max_iter=1)`` (one pass, or two when the
    statistics' shift must be redone) from the given parameters: the same loop body
    as plain EM, so the accelerated and the plain fit share one data path. Re-seeding
    is reported when the pass left a component dead (the same test as the
    re-seeder's) or the re-seeder recorded a collapsed one. The caller holds BLAS to
    one thread (``_openmp_helpers.blas_single_thread``) as ``fit_mixture`` does.

    Parameters
    ----------
    source : row source (``_source``)
        The validated rows.
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
    n_threads : int
    workspace : _em.Workspace, optional
        Reused buffers (made on the first call if not given).
    reseeder : _reseed.ComponentReseeder, optional
        Shared by every pass of the run (its re-seeding budget and its record of
        collapsed components span the run); a new one per pass when not given.

    Attributes
    ----------
    reseeder : _reseed.ComponentReseeder or None
    """

    def __init__(self, source, covariance_type, *, reg_covar, n_threads, workspace=None,
                 reseeder=None):
        self.source = source
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.n_threads = n_threads
        self.workspace = workspace
        self.reseeder = reseeder
        self._before = None

    def __call__(self, params):
        """One pass: ``params`` (GaussianParams) -> EMStep."""
        from ._em import Workspace, run_em      # _em is the EM loop that calls us
        n_components = params.means.shape[0]
        if self.workspace is None:
            self.workspace = Workspace(self.covariance_type, n_components,
                                       self.source.n_features)
        reseeder = self.reseeder
        if reseeder is not None:
            self._before = (reseeder.n_events, len(reseeder.collapsed))
            n_collapsed = len(reseeder.collapsed)
        run = run_em(self.source, params, self.covariance_type, tol=0.0, max_iter=1,
                     reg_covar=self.reg_covar, n_threads=self.n_threads,
                     workspace=self.workspace, reseeder=reseeder)
        collapsed = (len(run.reseeder.collapsed) > n_collapsed if reseeder is not None
                     else bool(run.reseeder.collapsed))
        nk = self.workspace.stats[1:1 + n_components]
        dead = bool(np.any(nk <= DEAD_FRACTION * self.source.total_weight))
        return EMStep(run.params, float(run.lower_bound), collapsed or dead)

    def forget_last(self):
        """Undo what the last pass recorded in the shared re-seeder (``squarem`` calls
        this when it rejects an extrapolated point: re-seeding there neither spends
        the run's budget nor is reported)."""
        if self.reseeder is not None and self._before is not None:
            self.reseeder.n_events, n_collapsed = self._before
            del self.reseeder.collapsed[n_collapsed:]
        self._before = None


def kernel_em_step(source, covariance_type, *, reg_covar, n_threads, workspace=None):
    """``KernelEMMap`` without a shared re-seeder: ``em_step(params) -> EMStep``
    (kept for callers that drive ``squarem`` themselves)."""
    return KernelEMMap(source, covariance_type, reg_covar=reg_covar, n_threads=n_threads,
                       workspace=workspace)


# ---------------------------------------------------------------------------------
# The public ``acceleration`` parameter
# ---------------------------------------------------------------------------------

# acceleration= values of GaussianMixture and fastgmm.fit.
ACCELERATIONS = ("none", "squarem")

# Whether a covariance type's parameter family is closed under affine combinations
# (up to positive definiteness, which ``_valid_params`` checks): then SQUAREM's point
# ``x0 + 2 a r + a^2 v`` of three members is again a member, or invalid and
# shortened. full, tied, diag and spherical are (a sum of diagonal matrices is
# diagonal, of multiples of I a multiple of I, of shared matrices shared). Families
# with constraints that are not linear (a common shape or orientation across
# components with free volumes, as in several of mclust's types) are not: a linear
# extrapolation leaves them. A type that is not listed here, or listed False, runs
# plain EM under acceleration="squarem" (same iterates as acceleration="none"); a new
# type opts in by adding itself with True once its family is affine.
AFFINE_COVARIANCE_FAMILY = {"full": True, "tied": True, "diag": True, "spherical": True}


def extrapolates(covariance_type):
    """Whether acceleration="squarem" extrapolates this covariance type (see
    ``AFFINE_COVARIANCE_FAMILY``); otherwise it runs plain EM."""
    return AFFINE_COVARIANCE_FAMILY.get(covariance_type, False)


def accelerated_em(source, params, covariance_type, *, tol, max_iter, reg_covar,
                   n_threads, workspace, lower_bound=-np.inf, progress=None,
                   callback=None, restart=0, n_init=1):
    """SQUAREM-accelerated EM from ``params``: ``_em.run_em``'s arguments and result.

    Parameters
    ----------
    source : row source (``_source``)
    params : GaussianParams
        Starting parameters (not modified).
    covariance_type : str
        One that ``extrapolates``.
    tol, max_iter, reg_covar, n_threads : as in GaussianMixture
        ``max_iter`` bounds the passes over X; ``tol`` applies to the change of the
        accepted lower bound over one EM step.
    workspace : _em.Workspace
    lower_bound : float
        Lower bound of the point whose EM image ``params`` is (warm start), or -inf.
    progress : _em._Progress, optional
    callback, restart, n_init : as in ``_em.run_em``
        The callback is called after every pass; a True return stops the run at the
        end of the current extrapolation cycle.

    Returns
    -------
    _em.EMRun
        ``n_iter``: passes over X; ``lower_bounds``: the accepted lower bound after
        every pass; ``params``: the EM image of the last accepted point;
        ``reseeder``: the run's shared re-seeder; ``acceleration``: the
        AcceleratedRun (what the accelerator did).
    """
    from ._em import EMRun
    from ._reseed import ComponentReseeder
    reseeder = ComponentReseeder(source, params.means.shape[0], covariance_type,
                                 reg_covar, n_threads)
    em_map = KernelEMMap(source, covariance_type, reg_covar=reg_covar,
                         n_threads=n_threads, workspace=workspace, reseeder=reseeder)
    stop_requested_by_callback = [False]
    on_pass = None
    if callback is not None:
        from ._progress import IterationInfo
        clock = [time.perf_counter()]

        def report_pass(n_pass, value, change):
            now = time.perf_counter()
            info = IterationInfo(restart, n_init, n_pass, max_iter, value, change,
                                 now - clock[0], abs(change) < tol)
            clock[0] = now
            if callback(info) is True:
                stop_requested_by_callback[0] = True
                return True
            return False

        on_pass = report_pass

    accelerated = squarem(em_map, params, covariance_type, tol=tol, max_iter=max_iter,
                          reg_covar=reg_covar, lower_bound=lower_bound, progress=progress,
                          on_pass=on_pass)
    run = EMRun(params=accelerated.params, lower_bound=accelerated.lower_bound,
                lower_bounds=accelerated.lower_bounds, n_iter=accelerated.n_iter,
                converged=accelerated.converged, reseeder=reseeder)
    run.acceleration = accelerated
    run.stopped = stop_requested_by_callback[0] and not run.converged
    return run
