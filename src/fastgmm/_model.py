"""The GaussianMixture estimator (scikit-learn compatible API)."""

import contextlib
import inspect
import time
import sys
import warnings
from collections import namedtuple

import numpy as np

from ._accelerate import ACCELERATIONS
from ._em import fit_mixture
from ._init import RestartStreams
from ._kernels import uses_blas
from ._mstep import (GaussianParams, covariance_diagonals, covariance_kind, n_parameters,
                     precisions_from_cholesky)
from ._openmp_helpers import blas_single_thread, check_n_threads, effective_n_threads
from ._passes import EStepProblem, estep_rows_block, log_likelihood_block
from ._reseed import degenerate_components
from ._progress import ProgressDisplay, check_callback, combine_callbacks
from ._source import as_source
from ._validation import (COVARIANCE_TYPES, INIT_METHODS, MAX_REG_COVAR, NotFittedError,
                          InvalidParameterError, check_choice, check_sklearn_conventions,
                          feature_names_of, check_fit_scale, check_int, check_output_memory,
                          covariance_shape,
                          check_means_init, check_precisions_init,
                          check_random_state_param, check_real,
                          check_weights_init, covariance_storage)

_EMPTY = np.empty(0)
ON_DEGENERATE = ("reseed", "raise")
_EMPTY_LABELS = np.empty(0, dtype=np.intp)


_feature_names = feature_names_of

# Methods whose sample_weight can be routed by scikit-learn's metadata routing.
_ROUTED_METHODS = {"fit": ("sample_weight",), "score": ("sample_weight",)}
# scikit-learn's marker for "leave this request as it is".
_UNCHANGED = "$UNCHANGED$"


class _RoutingRequests(dict):
    """``{method: {param: alias}}`` set by ``set_*_request``; ``sklearn.base.clone``
    copies it to the clone (through ``__sklearn_clone__``)."""

    def __sklearn_clone__(self):
        return _RoutingRequests({method: dict(params) for method, params in self.items()})


def _parameter_error(exc, names):
    """``exc`` (a hyper-parameter check's error) as an InvalidParameterError worded
    like scikit-learn's ("The 'tol' parameter of GaussianMixture must be ...")."""
    message = str(exc)
    first, _, rest = message.partition(" ")
    if first in names and rest:
        message = f"The {first!r} parameter of GaussianMixture is invalid: {message}"
    return InvalidParameterError(message)


def _transform(vectors, precisions_cholesky, covariance_type, k):
    """``v U_k`` for rows ``v`` (the whitening of component ``k``)."""
    if covariance_type == "full":
        return vectors @ precisions_cholesky[k]
    if covariance_type == "tied":
        return vectors @ precisions_cholesky
    return vectors * precisions_cholesky[k]      # diag (K, d), spherical (K,)


def _underflow_outputs(rows, params, covariance_type, log_const):
    """Labels of rows whose density underflows: the component of smallest
    Mahalanobis distance (its share of the posterior tends to 1 as a row moves away).

    With ``u = x / s`` (``s = max |x|``), ``(x - mu_k)^T P_k (x - mu_k) = s^2 u^T P_k u
    - 2 s u^T P_k mu_k + mu_k^T P_k mu_k``: for such far rows the components are
    ordered by the quadratic term, then (equal precisions, e.g. tied) by the larger
    linear term, then by the larger log weight and normalization constant.
    """
    scale = np.max(np.abs(rows), axis=1)
    unit = rows / np.where(scale > 0, scale, 1.0)[:, None]
    K = params.means.shape[0]
    quadratic = np.empty((rows.shape[0], K))
    linear = np.empty((rows.shape[0], K))
    for k in range(K):
        whitened = _transform(unit, params.precisions_cholesky, covariance_type, k)
        centre = _transform(params.means[k:k + 1], params.precisions_cholesky,
                            covariance_type, k)
        quadratic[:, k] = np.einsum("nd,nd->n", whitened, whitened)
        linear[:, k] = whitened @ centre[0]
    labels = np.empty(rows.shape[0], dtype=np.intp)
    for i in range(rows.shape[0]):
        nearest = quadratic[i] <= quadratic[i].min() * (1 + 1e-12)
        candidates = np.flatnonzero(nearest)
        order = np.lexsort((-log_const[candidates], -linear[i, candidates]))
        labels[i] = candidates[order[0]]
    return labels


# What ``_estep_rows_safe`` needs: the kernel's EStepProblem, the float64 parameters
# (GaussianParams) and the fitted covariance type (for the rows that underflow).
SafeEStepProblem = namedtuple("SafeEStepProblem", "estep params covariance_type")


def _estep_rows_safe(X, start, problem, views):
    """``_passes.estep_rows_block`` that fills the rows whose log-density underflows
    float64 with ``log p = -inf``, the label of the nearest component (Mahalanobis)
    and a responsibility of 1 for it, instead of leaving them undefined.

    ``problem`` is a ``SafeEStepProblem``. Returns the number of such rows.
    """
    estep, params, covariance_type = problem
    log_norm, resp, labels = views
    n_bad, _ = estep_rows_block(X, start, estep, views)
    if not n_bad:
        return 0
    log_prob = log_norm if log_norm.shape[0] else np.empty(X.shape[0])
    if not log_norm.shape[0]:
        estep_rows_block(X, start, estep, [log_prob, resp[:0], labels[:0]])
    bad = np.flatnonzero(~np.isfinite(log_prob))
    nearest = _underflow_outputs(np.asarray(X[bad], dtype=np.float64), params,
                                 covariance_type, estep.log_norm_const)
    if log_norm.shape[0]:
        log_norm[bad] = -np.inf
    if resp.shape[0]:
        resp[bad] = 0.0
        resp[bad, nearest] = 1.0
    if labels.shape[0]:
        labels[bad] = nearest
    return int(bad.size)


def _sampling_generator(random_state):
    """Generator for ``sample``: an int seed gives the same draw on every call."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2 ** 31 - 1))
    return np.random.default_rng(random_state)


class GaussianMixture:
    """Gaussian mixture model fitted by Expectation-Maximization.

    A drop-in replacement for ``sklearn.mixture.GaussianMixture``: the same
    parameters, methods and fitted attributes, computed by multi-threaded compiled
    kernels that make one pass over ``X`` per EM iteration. Results are
    bit-identical for any ``n_threads``.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical", "EII", "VII", "EEI", \
"VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV"}, \
default="full"
        ``"full"``: each component has its own covariance matrix; ``"tied"``: all
        components share one; ``"diag"``: each has a diagonal covariance;
        ``"spherical"``: each has a single variance. The three-letter names are
        mclust's parsimonious models ``Sigma_k = lambda_k D_k A_k D_k^T``: volume
        ``lambda_k``, shape ``A_k`` and orientation ``D_k`` Equal across components
        or Varying (``I``: spherical shape, or axis-aligned orientation); "full" is
        VVV, "tied" EEE, "diag" VVI and "spherical" VII (the same model and fit,
        stored as scikit-learn stores it). Under an mclust name, ``covariances_``
        and the precisions have the shapes of "diag", (n_components, n_features),
        for EII, VII, EEI, VEI, EVI and VVI, and of "full", (n_components,
        n_features, n_features), for the others. ``bic`` and ``aic`` count the
        model's free parameters as mclust does. See the user guide's covariance
        page.
    tol : float, default=1e-3
        Convergence threshold: EM stops when the mean log-likelihood (the lower
        bound) changes by less than ``tol`` between iterations.
    reg_covar : float, default=1e-6
        Non-negative value added to the diagonal of every covariance (for the
        constrained mclust models, ``n_k * reg_covar`` is added to the diagonal of
        every component's scatter matrix before the constrained M-step, which is the
        same for the unconstrained ones and keeps the constraint exact).
    max_iter : int, default=100
        Maximum number of EM iterations per initialization.
    n_init : int, default=1
        Number of initializations; the run with the best final lower bound is kept
        (the first one on ties). Restart ``i`` draws from its own random stream, so
        the result does not depend on ``n_threads`` or on the order of restarts.
    init_params : {"kmeans", "ward", "k-means++", "random", "random_from_data"}, default="kmeans"
        How the initial responsibilities are obtained (one M-step on them gives the
        initial weights, means and covariances). "kmeans": the partition of
        k-means (k-means++ seeding, then Lloyd iterations with scikit-learn's
        KMeans tolerance), computed by multi-threaded kernels; restarts 0, 2, 4, ...
        cluster X as given and restarts 1, 3, 5, ... cluster standardized features
        (not for "spherical"), because Euclidean k-means depends on the features'
        units while the EM of the other covariance types does not. "ward": restart
        0 from the cut into ``n_components`` clusters of Ward's hierarchical tree of
        the rows whitened by the data's covariance (independent of the features'
        units and axes; on at most 2048 rows, drawn from restart 0's stream when the
        data are larger or weighted, the others joining the nearest cluster mean),
        restarts 1, 2, ... as with "kmeans"; ``fastgmm.select``'s default. "k-means++": the
        k-means++ seeds alone (one row per component). "random": random
        responsibilities. "random_from_data": ``n_components`` distinct rows as
        means. Sample weights are respected by every method. A component that loses
        all its responsibility, or whose covariance stops being positive definite,
        is re-seeded at the point the model explains worst (empty k-means clusters
        likewise at the point farthest from its centre).
    weights_init : array-like of shape (n_components,), default=None
        Initial mixture weights (must sum to 1).
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means.
    precisions_init : array-like, default=None
        Initial precisions (inverse covariances), shaped like ``covariances_``.
    random_state : int, RandomState, Generator or None, default=None
        Seed for initialization. Restart ``i`` uses its own stream derived from it.
    warm_start : bool, default=False
        If True, ``fit`` continues from the previous fit's parameters (``n_init``
        is then ignored).
    verbose : int, bool or "progress", default=0
        Print progress as scikit-learn does (1 or True: iterations, 2: also timings
        and lower-bound changes; 0 or False: nothing). ``"progress"``: a compact
        display on stderr instead, one line updated in place on a terminal or in a
        notebook (``fastgmm.progress()``).
    verbose_interval : int, default=10
        Iterations between progress messages.
    n_threads : int or None, default=None
        OpenMP threads for the kernels. ``None`` uses all usable cores (honouring
        ``OMP_NUM_THREADS``, CPU affinity and threadpoolctl limits); negative values
        count back from the number of usable cores (-1 = all).
    on_degenerate : {"reseed", "raise"}, default="reseed"
        What to do with a degenerate component. "reseed": a component that
        collapses during EM (its covariance stops being positive definite) is
        re-seeded (see ``init_params``) with one ReseedWarning per fit, and a fitted
        model whose likelihood is spurious is flagged in ``degenerate_``. "raise":
        either is a ValueError instead (for users who want strictness).
    acceleration : {"none", "squarem"}, default="none"
        ``"none"``: plain EM, scikit-learn's iterates. ``"squarem"``: EM accelerated
        by SQUAREM extrapolation (Varadhan & Roland 2008, step length S3, kept
        monotone: an extrapolated point that is invalid or lowers the lower bound is
        replaced by plain EM steps), which needs far fewer passes over ``X`` where
        components overlap and ends at a fixed point of EM like plain EM. ``n_iter_``
        and ``max_iter`` then count passes over ``X``, ``lower_bounds_`` holds the
        accepted lower bound after each pass, and ``tol`` applies to its change over
        one EM step. A pass that re-seeds a component restarts the extrapolation;
        each of the ``n_init`` runs, and a warm start, is accelerated on its own.
        Covariance families that a linear extrapolation would leave run plain EM
        (see ``docs/how_it_works.rst``).
    callback : callable or None, default=None
        Called as ``callback(info)`` after every EM iteration of every restart, with
        a ``fastgmm.IterationInfo`` (restart, n_init, iteration, max_iter,
        lower_bound, change, seconds, converged). Returning ``True`` stops that
        restart early (the fit keeps the best restart as usual, without a
        ConvergenceWarning for a stopped one); an exception it raises, such as
        ``KeyboardInterrupt``, propagates out of ``fit`` and leaves the estimator as
        it was. ``fastgmm.progress()`` is such a callback.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        full: (n_components, n_features, n_features); tied: (n_features, n_features);
        diag: (n_components, n_features); spherical: (n_components,).
    precisions_ : ndarray, same shape as ``covariances_``
    precisions_cholesky_ : ndarray, same shape as ``covariances_``
        Upper-triangular ``U`` with ``precisions_ = U U^T`` (full, tied), or the
        inverse standard deviations (diag, spherical).
    converged_ : bool
    n_iter_ : int
        EM iterations of the best initialization.
    lower_bound_ : float
        Mean log-likelihood at the start of the last iteration of the best run.
    lower_bounds_ : list of float
        That lower bound at every iteration of the best run (the learning curve).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Column names of ``X`` in ``fit``, when they were all strings (a pandas or
        polars DataFrame, a pyarrow Table); data passed later with other names are
        refused, data without names (or names for a model without) warned about.
    degenerate_ : bool
        Whether the fitted likelihood is spurious: some component is degenerate
        (listed in ``degenerate_components_``). Component ``k`` is degenerate when
        its effective number of points ``weights_[k] * n_samples`` (sum of its
        responsibilities) is below what its covariance needs (``n_features + 1``
        for "full", 2 for "diag" and "spherical", none for "tied": its volume is
        shared), or when its covariance sits at the regularization floor (the
        eigenvalues of ``covariance - reg_covar I`` have a reciprocal condition
        number below sqrt(machine epsilon), e.g. a component on rows that repeat a
        value). ``fastgmm.select`` skips such fits.
    degenerate_components_ : ndarray of int
        Indices of the degenerate components (empty for a sound fit).
    reseeded_components_ : ndarray of int
        Components of the kept initialization that collapsed during EM and were
        re-seeded (each re-seeding counted once, in order; empty when none did).

    Notes
    -----
    float32 data give float32 fitted arrays (and float32 ``predict_proba`` and
    ``score_samples`` of float32 data); the arithmetic accumulates in float64.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgmm import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.round(gm.means_[np.argsort(gm.means_[:, 0])], 6)
    array([[ 1.,  2.],
           [10.,  2.]])
    >>> bool(gm.predict([[0, 0]])[0] != gm.predict([[12, 3]])[0])
    True
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6,
                 max_iter=100, n_init=1, init_params="kmeans", weights_init=None,
                 means_init=None, precisions_init=None, random_state=None,
                 warm_start=False, verbose=0, verbose_interval=10, n_threads=None,
                 on_degenerate="reseed", acceleration="none", callback=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.on_degenerate = on_degenerate
        self.acceleration = acceleration
        self.callback = callback

    _estimator_type = "DensityEstimator"   # scikit-learn < 1.6 reads this

    def __sklearn_tags__(self):
        """Estimator tags for scikit-learn >= 1.6 (pipelines, model selection).

        Imported lazily: scikit-learn is not a dependency of fastgmm.
        """
        from sklearn.utils import Tags, TargetTags
        return Tags(estimator_type="density_estimator", target_tags=TargetTags(required=False))

    # ---------------------------------------------------------------- parameters
    @classmethod
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(name for name in signature.parameters if name != "self")

    def get_params(self, deep=True):
        """Hyper-parameters of this estimator, as a dict (scikit-learn protocol).

        Parameters
        ----------
        deep : bool, default=True
            Ignored (GaussianMixture holds no sub-estimators).

        Returns
        -------
        params : dict
            Hyper-parameter name -> value.

        Examples
        --------
        >>> from fastgmm import GaussianMixture
        >>> GaussianMixture(3, covariance_type="diag").get_params()["covariance_type"]
        'diag'
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set hyper-parameters (scikit-learn protocol).

        Parameters
        ----------
        **params
            Hyper-parameter name -> new value.

        Returns
        -------
        self : GaussianMixture

        Examples
        --------
        >>> from fastgmm import GaussianMixture
        >>> GaussianMixture().set_params(n_components=3, tol=1e-4)
        GaussianMixture(n_components=3, tol=0.0001)
        """
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for GaussianMixture; use one "
                                 f"of the valid parameters: {', '.join(valid)}.")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = {name: p.default for name, p in
                    inspect.signature(type(self).__init__).parameters.items()}
        changed = []
        for name in self._param_names():
            value = getattr(self, name)
            default = defaults[name]
            if isinstance(value, np.ndarray) or value is not default and value != default:
                shown = "array(...)" if isinstance(value, np.ndarray) else repr(value)
                changed.append(f"{name}={shown}")
        return f"GaussianMixture({', '.join(changed)})"

    def _repr_html_(self):
        """HTML summary for notebooks: hyper-parameters, and the fitted mixture."""
        from ._repr import estimator_html   # loaded only when a notebook asks
        return estimator_html(self)

    def _check_parameters(self, n_features=None):
        """Validate the scalar hyper-parameters (and, given ``n_features``, the initial
        parameters too: ``_check_initial_parameters``).

        Raises InvalidParameterError (a ValueError and a TypeError, and scikit-learn's
        InvalidParameterError when scikit-learn is loaded) for a bad one.
        """
        try:
            return self._check_parameter_values(n_features)
        except InvalidParameterError:
            raise
        except (TypeError, ValueError) as exc:
            raise _parameter_error(exc, self._param_names()) from None

    def _check_parameter_values(self, n_features=None):
        """``_check_parameters`` with the checks' own errors.

        Returns
        -------
        numbers : dict
            n_components, tol, reg_covar, max_iter, n_init, verbose and
            verbose_interval as plain Python numbers (numpy integer scalars such as
            np.uint8 would overflow in arithmetic further down).
        """
        numbers = dict(
            n_components=check_int(self.n_components, "n_components", low=1),
            tol=check_real(self.tol, "tol", low=0.0),
            reg_covar=check_real(self.reg_covar, "reg_covar", low=0.0, high=MAX_REG_COVAR),
            max_iter=check_int(self.max_iter, "max_iter", low=0),
            n_init=check_int(self.n_init, "n_init", low=1))
        check_choice(self.covariance_type, "covariance_type", COVARIANCE_TYPES)
        check_choice(self.init_params, "init_params", INIT_METHODS)
        check_random_state_param(self.random_state)
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise TypeError(f"warm_start must be True or False, got {self.warm_start!r}.")
        numbers["verbose"] = _check_verbose(self.verbose)
        check_callback(self.callback)
        numbers["verbose_interval"] = check_int(self.verbose_interval, "verbose_interval",
                                                low=1)
        check_n_threads(self.n_threads)
        check_choice(self._on_degenerate(), "on_degenerate", ON_DEGENERATE)
        check_choice(self.acceleration, "acceleration", ACCELERATIONS)
        if n_features is not None:
            self._check_initial_parameters(numbers["n_components"], n_features)
        return numbers

    def _check_initial_parameters(self, n_components, n_features):
        """The validated ``weights_init``, ``means_init``, ``precisions_init`` (each an
        ndarray or None)."""
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = check_weights_init(self.weights_init, n_components)
        if self.means_init is not None:
            means = check_means_init(self.means_init, n_components, n_features)
        if self.precisions_init is not None:
            precisions = check_precisions_init(self.precisions_init, self.covariance_type,
                                               n_components, n_features)
        return weights, means, precisions

    # ----------------------------------------------------------- metadata routing
    def _set_request(self, method, values):
        """Record the routing requests of ``method`` (``set_fit_request`` ...)."""
        sklearn = sys.modules.get("sklearn")
        if sklearn is not None and not sklearn.get_config().get("enable_metadata_routing",
                                                                False):
            raise RuntimeError(
                "This method is only available when metadata routing is enabled. You "
                "can enable it using sklearn.set_config(enable_metadata_routing=True).")
        for param, alias in values.items():
            if alias == _UNCHANGED:
                continue
            if not (alias is None or isinstance(alias, (bool, str))):
                raise ValueError(
                    f"The {param!r} request of {method} must be True, False, None or a "
                    f"str alias, got {alias!r}.")
            if isinstance(alias, str) and not alias.isidentifier():
                raise ValueError(
                    f"The {param!r} request of {method} must be True, False, None or a "
                    f"str alias that is a valid Python identifier (the name of the "
                    f"metadata to pass as {param}), got {alias!r}.")
            requests = _RoutingRequests(getattr(self, "_metadata_request", None) or {})
            requests[method] = {**requests.get(method, {}), param: alias}
            self._metadata_request = requests
        return self

    def set_fit_request(self, *, sample_weight=_UNCHANGED):
        """Request ``sample_weight`` to be passed to ``fit`` by scikit-learn's
        metadata routing (``sklearn.set_config(enable_metadata_routing=True)``).

        Parameters
        ----------
        sample_weight : bool, None or str, default=unchanged
            True: pass it; False: do not; None: raise if it is given; a str: pass
            the metadata of that name as ``sample_weight``.

        Returns
        -------
        self : GaussianMixture

        Examples
        --------
        >>> import sklearn
        >>> from fastgmm import GaussianMixture
        >>> with sklearn.config_context(enable_metadata_routing=True):
        ...     gm = GaussianMixture(2).set_fit_request(sample_weight=True)
        ...     gm.get_metadata_routing().fit.requests
        {'sample_weight': True}
        """
        return self._set_request("fit", {"sample_weight": sample_weight})

    def set_score_request(self, *, sample_weight=_UNCHANGED):
        """Request ``sample_weight`` to be passed to ``score`` by scikit-learn's
        metadata routing (e.g. by ``GridSearchCV`` or ``cross_validate``).

        Parameters
        ----------
        sample_weight : bool, None or str, default=unchanged
            As in ``set_fit_request``.

        Returns
        -------
        self : GaussianMixture

        Examples
        --------
        >>> import sklearn
        >>> from fastgmm import GaussianMixture
        >>> with sklearn.config_context(enable_metadata_routing=True):
        ...     gm = GaussianMixture(2).set_score_request(sample_weight=True)
        ...     gm.get_metadata_routing().score.requests
        {'sample_weight': True}
        """
        return self._set_request("score", {"sample_weight": sample_weight})

    def get_metadata_routing(self):
        """The metadata this estimator requests (scikit-learn's routing protocol).

        Returns
        -------
        sklearn.utils.metadata_routing.MetadataRequest
            ``sample_weight`` for ``fit`` and ``score``, as set by
            ``set_fit_request`` and ``set_score_request`` (None, "not requested,
            error if given", until then). Needs scikit-learn, imported here.

        Examples
        --------
        >>> from fastgmm import GaussianMixture
        >>> GaussianMixture().get_metadata_routing().fit.requests
        {'sample_weight': None}
        """
        from sklearn.utils.metadata_routing import MetadataRequest
        request = MetadataRequest(owner=type(self).__name__)
        requests = getattr(self, "_metadata_request", None) or {}
        for method, params in _ROUTED_METHODS.items():
            method_request = getattr(request, method)
            for param in params:
                method_request.add_request(param=param,
                                           alias=requests.get(method, {}).get(param))
        return request

    # ------------------------------------------------------------------- fitting
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the model parameters with EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; float32 data are processed as float32.
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight counts the row that many times.

        Returns
        -------
        self : GaussianMixture

        Examples
        --------
        >>> import numpy as np
        >>> from fastgmm import GaussianMixture
        >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
        >>> gm = GaussianMixture(2, random_state=0).fit(X)
        >>> gm.converged_, gm.weights_.round(6).tolist()
        (True, [0.5, 0.5])
        >>> gm = GaussianMixture(2, random_state=0).fit(X, sample_weight=[3, 1, 1, 1, 1, 1])
        >>> sorted(gm.weights_.round(6).tolist())
        [0.375, 0.625]
        """
        return self._fit(X, sample_weight)

    def _on_degenerate(self):
        # Estimators pickled before this parameter existed: the default.
        return getattr(self, "on_degenerate", "reseed")

    def _fit(self, X, sample_weight, *, source=None, start_parameters=None,
             scale_checked=False):
        """``fit``; ``fastgmm.select`` passes the validated ``source`` of ``X`` (built
        once for the whole grid), the shared k-means starts (``_em.fit_mixture``'s
        ``start_parameters``) and ``scale_checked=True`` when it has run
        ``check_fit_scale`` for the grid (no initial parameters) and it passed."""
        feature_names = _feature_names(X)
        numbers = self._check_parameters()
        X = check_sklearn_conventions(X)
        K = numbers["n_components"]
        warm = self.warm_start and hasattr(self, "converged_")
        streams = None if warm else RestartStreams(self.random_state)
        # X -> rows in blocks (validated): an array or memory map, a chunk stream, a
        # dask collection. Every pass of the fit reads the rows through ``source``.
        if source is None:
            source = as_source(X, sample_weight, n_components=K, streams=streams,
                               ranges=True)
        n_features = source.n_features
        weights_init, means_init, precisions_init = self._check_initial_parameters(
            K, n_features)
        n_rows = source.n_positive
        if n_rows < K:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = "
                f"{K}, n_samples = {n_rows}"
                + (" (rows with positive sample_weight)" if source.weighted else "")
                + "; use fewer components or more data."
            )
        if not scale_checked:
            check_fit_scale(source, numbers["reg_covar"],
                            covariance_type=self.covariance_type, means_init=means_init,
                            precisions_init=precisions_init)
        if warm:
            self._check_warm_start(n_features)
        started = time.perf_counter()
        n_threads = effective_n_threads(self.n_threads)
        progress_display = ProgressDisplay() if numbers["verbose"] == "progress" else None
        best = fit_mixture(
            source, K, self.covariance_type,
            tol=numbers["tol"], reg_covar=numbers["reg_covar"],
            max_iter=numbers["max_iter"], n_init=numbers["n_init"],
            init_params=self.init_params, weights_init=weights_init, means_init=means_init,
            precisions_init=precisions_init, streams=streams,
            n_threads=n_threads,
            warm_params=self._params() if warm else None,
            warm_lower_bound=self.lower_bound_ if warm else -np.inf,
            verbose=0 if progress_display else numbers["verbose"],
            verbose_interval=numbers["verbose_interval"],
            start_parameters=None if warm else start_parameters,
            on_degenerate=self._on_degenerate(),
            acceleration=self.acceleration,
            callback=combine_callbacks(progress_display, self.callback),
        )
        degenerate = degenerate_components(best.params, self.covariance_type,
                                           source.total_weight, numbers["reg_covar"])
        if degenerate.size and self._on_degenerate() == "raise":
            raise ValueError(
                f"Degenerate fit (on_degenerate='raise'): component(s) "
                f"{degenerate.tolist()} of the fitted {self.covariance_type!r} mixture "
                f"with {K} components have a spurious likelihood (fewer effective points "
                "than the covariance needs, or a covariance at the reg_covar floor: rows "
                "repeating a value, a constant column). Use fewer components or a more "
                "constrained covariance_type, or set on_degenerate='reseed' to get the "
                "fit flagged in degenerate_ instead.")
        self._set_fitted(best.params, getattr(source, "dtype", np.float64))
        self.degenerate_components_ = degenerate
        self.degenerate_ = bool(degenerate.size)
        self.reseeded_components_ = np.asarray(best.reseeder.collapsed
                                               if best.reseeder is not None else [],
                                               dtype=np.intp)
        self.converged_ = bool(best.converged)
        self.n_iter_ = int(best.n_iter)
        self.lower_bound_ = float(best.lower_bound)
        self.lower_bounds_ = [float(v) for v in best.lower_bounds]
        self.n_features_in_ = n_features
        if feature_names is not None:
            self.feature_names_in_ = feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        # Formatted when first read (``_fit_metadata``): a fit in a grid never pays it.
        vars(self).pop("_fit_metadata", None)
        self._fit_record = (time.time(), time.perf_counter() - started,
                            getattr(source, "n_samples", None), source.dtype, n_threads)
        return self

    @property
    def _fit_metadata(self):
        """When and how the fit ran (a dict saved with the model, shown by ``fastgmm
        info``), or None before a fit."""
        state = vars(self)
        record = state.pop("_fit_record", None)
        if record is not None:
            state["_fit_metadata"] = _format_fit_metadata(*record)
        return state.get("_fit_metadata")

    @_fit_metadata.setter
    def _fit_metadata(self, value):
        vars(self).pop("_fit_record", None)
        vars(self)["_fit_metadata"] = value

    @_fit_metadata.deleter
    def _fit_metadata(self):
        vars(self).pop("_fit_record", None)
        vars(self).pop("_fit_metadata", None)

    def _check_warm_start(self, n_features):
        """warm_start=True continues the previous fit: the same problem is required."""
        fitted = (self._fitted_covariance_type(), self.means_.shape[0], self.n_features_in_)
        wanted = (self.covariance_type, self.n_components, n_features)
        if fitted != wanted:
            raise ValueError(
                "warm_start=True continues the previous fit, which had (covariance_type, "
                f"n_components, n_features) = {fitted}, but this fit asks for {wanted}. "
                "Restore those settings and data, or set warm_start=False."
            )

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model and return the component label of every sample.

        Equal to ``fit(X).predict(X)``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)

        Examples
        --------
        >>> import numpy as np
        >>> from fastgmm import GaussianMixture
        >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
        >>> GaussianMixture(2, means_init=[[0, 0], [9, 0]]).fit_predict(X)
        array([0, 0, 0, 1, 1, 1])
        """
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def _set_fitted(self, params, dtype=np.float64):
        """Store fitted parameters, refusing any that float64 could not represent.

        The public arrays have the data's dtype (float32 for float32 data, like
        scikit-learn); the float64 parameters EM computed are kept for predictions
        and warm starts (``_params``) as long as the public arrays are unchanged.
        """
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            precisions = precisions_from_cholesky(params.precisions_cholesky,
                                                  self.covariance_type)
        arrays = {"weights_": params.weights, "means_": params.means,
                  "covariances_": params.covariances,
                  "precisions_cholesky_": params.precisions_cholesky,
                  "precisions_": precisions}
        bad = [name for name, array in arrays.items() if not np.isfinite(array).all()]
        if bad:
            raise ValueError(
                f"The fit produced non-finite {', '.join(bad)}: some covariance is too small "
                f"for its inverse to fit in float64 (smallest variance "
                f"{np.min(covariance_diagonals(params.covariances, self.covariance_type)):.3g}). "
                f"Increase reg_covar (now {self.reg_covar!r}; e.g. 1e-6 times the data's "
                "variance) or rescale X."
            )
        public = np.float32 if np.dtype(dtype) == np.float32 else np.float64
        for name, array in arrays.items():
            setattr(self, name, array.astype(public, copy=False))
        self._params64 = (params, tuple(getattr(self, name) for name in arrays))
        self._covariance_type_fitted = self.covariance_type

    def _params(self):
        """The fitted parameters as float64 arrays (GaussianParams)."""
        names = ("weights_", "means_", "covariances_", "precisions_cholesky_",
                 "precisions_")
        kept = getattr(self, "_params64", None)
        if kept is not None and all(getattr(self, name, None) is array
                                    for name, array in zip(names, kept[1])):
            return kept[0]
        return GaussianParams(*(np.asarray(getattr(self, name), dtype=np.float64)
                                for name in names[:4]))

    # ---------------------------------------------------------------- prediction
    def _fitted_covariance_type(self):
        # Estimators pickled before this attribute existed: the hyper-parameter.
        return getattr(self, "_covariance_type_fitted", self.covariance_type)

    def _check_fitted(self):
        if not hasattr(self, "means_"):
            raise NotFittedError(
                "This GaussianMixture instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")
        fitted = self._fitted_covariance_type()
        if self.covariance_type != fitted:
            raise ValueError(
                f"covariance_type was changed to {self.covariance_type!r} after fitting, "
                f"but the fitted parameters are {fitted!r}; set covariance_type="
                f"{fitted!r} again, or call fit to refit the model."
            )

    def _validated(self, X, sample_weight=None):
        """The row source of ``X`` checked against the fitted model (fitted, same
        number of features and, for data with column names, the same names as in
        fit)."""
        self._check_fitted()
        self._check_feature_names(_feature_names(X))
        X = check_sklearn_conventions(X, n_features=self.n_features_in_)
        return as_source(X, sample_weight, n_features=self.n_features_in_)

    def _check_feature_names(self, names):
        """Compare the column names of the data (None: none) with those of ``fit``,
        as scikit-learn does: a warning when only one of the two has names, an error
        when they differ."""
        fitted = getattr(self, "feature_names_in_", None)
        if names is None and fitted is None:
            return
        if names is not None and fitted is None:
            warnings.warn("X has feature names, but GaussianMixture was fitted without "
                          "feature names", UserWarning, stacklevel=4)
            return
        if names is None:
            warnings.warn("X does not have valid feature names, but GaussianMixture was "
                          "fitted with feature names", UserWarning, stacklevel=4)
            return
        if len(names) == len(fitted) and np.array_equal(names, fitted):
            return
        unseen = [name for name in names if name not in set(fitted)]
        missing = [name for name in fitted if name not in set(names)]
        message = "The feature names should match those that were passed during fit.\n"
        if unseen:
            message += "Feature names unseen at fit time:\n" + "".join(
                f"- {name}\n" for name in unseen)
        if missing:
            message += "Feature names seen at fit time, yet now missing:\n" + "".join(
                f"- {name}\n" for name in missing)
        if not unseen and not missing:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(message + f"(X has feature names {list(names)}, but this "
                         f"GaussianMixture was fitted with {list(fitted)}: pass the "
                         "columns of the training data, in that order.)")

    def _estep_problem(self, source, fitted_now=False):
        """The EStepProblem of the fitted parameters; ``fitted_now``: ``_fit`` set
        them just now (no caller can have changed them), so they go unchecked."""
        if not fitted_now:
            self._check_model_attributes()
        means, prec_chol, log_const = self._params().kernel_arguments(self.covariance_type)
        return EStepProblem(covariance_kind(self.covariance_type), means, prec_chol,
                            log_const, None, effective_n_threads(self.n_threads))

    def _blas_guard(self, n_features):
        return (blas_single_thread() if uses_blas(self.covariance_type, n_features)
                else contextlib.nullcontext())

    def _estep(self, source, *, log_norm=False, resp=False, labels=False,
               fitted_now=False):
        """Run the E-step over the rows of ``source``: (log_norm, resp, labels).

        Each output is computed when asked for (else empty), block by block (Ctrl-C
        stops a long call between blocks). A row whose log-density underflows
        float64 (its squared Mahalanobis distance to every component overflows)
        gets ``log_norm = -inf``, the label of its nearest component (Mahalanobis)
        and a responsibility of 1 for it, as its posterior tends to when the row
        moves away. A dask source returns lazy dask arrays.

        log_norm and resp are float32 when the model was fitted on float32 data
        and ``source`` holds float32 rows (computed in float64), else float64.
        """
        problem = SafeEStepProblem(self._estep_problem(source, fitted_now), self._params(),
                                   self._fitted_covariance_type())
        public = (np.float32 if (getattr(source, "dtype", None) == np.float32
                                 and self.means_.dtype == np.float32) else np.float64)
        lazy = getattr(source, "lazy_map_rows", None)
        if lazy is not None:
            return lazy(_estep_rows_safe, problem, self.weights_.shape[0], public,
                        log_norm=log_norm, resp=resp, labels=labels)
        n = source.n_samples
        K = self.weights_.shape[0]
        outputs = [np.empty(n) if log_norm else _EMPTY,
                   np.empty((n, K)) if resp else np.empty((0, K)),
                   np.empty(n, dtype=np.intp) if labels else _EMPTY_LABELS]
        with self._blas_guard(source.n_features):
            source.map_rows(_estep_rows_safe, problem, outputs)
        outputs[0] = outputs[0].astype(public, copy=False)
        outputs[1] = outputs[1].astype(public, copy=False)
        return tuple(outputs)

    def _log_likelihood(self, source):
        """``sum_n w_n log p(x_n)`` over the rows of ``source`` (no per-row array)."""
        out = np.empty(2)
        with self._blas_guard(source.n_features):
            source.reduce(log_likelihood_block, self._estep_problem(source), out)
        if out[1]:      # a row whose density underflows: log p = -inf (score_samples)
            return -np.inf
        return float(out[0])

    def score_samples(self, X):
        """Log-likelihood ``log p(x)`` of every sample.

        A row so far from every component that its density underflows float64
        scores ``-inf`` (anomaly scoring keeps working for the other rows).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            float32 when the model was fitted on float32 data and ``X`` is float32.

        Examples
        --------
        >>> import numpy as np
        >>> from fastgmm import GaussianMixture
        >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
        >>> gm = GaussianMixture(2, means_init=[[0, 0], [9, 0]]).fit(X)
        >>> gm.score_samples([[1, 2], [1e154, 0]]).round(3)
        array([3.886,  -inf])
        """
        return self._estep(self._validated(X), log_norm=True)[0]

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood of ``X`` (weighted by ``sample_weight`` if given).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float

        Examples
        --------
        >>> import numpy as np
        >>> from fastgmm import GaussianMixture
        >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
        >>> gm = GaussianMixture(2, means_init=[[0, 0], [9, 0]]).fit(X)
        >>> round(gm.score(X), 3)
        3.386
        """
        source = self._validated(X, sample_weight)
        return self._log_likelihood(source) / source.total_weight

    def predict(self, X):
        """Most probable component of every sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)

        Examples
        --------
        >>> import numpy as np
        >>> from fastgmm import GaussianMixture
        >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
        >>> gm = GaussianMixture(2, means_init=[[0, 0], [9, 0]]).fit(X)
        >>> gm.predict([[0, 0], [12, 3]])
        array([0, 1])
        """
        return self._estep(self._validated(X), labels=True)[2]

    def predict_proba(self, X):
        """Posterior probability (responsibility) of each component for every sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            float32 when the model was fitted on float32 data and ``X`` is float32.

        Examples
        --------
        >>> import numpy as np
        >>> from fastgmm import GaussianMixture
        >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
        >>> gm = GaussianMixture(2, means_init=[[0, 0], [9, 0]]).fit(X)
        >>> gm.predict_proba([[1, 3], [10, 1]]).round(6)
        array([[1., 0.],
               [0., 1.]])
        """
        return self._estep(self._validated(X), resp=True)[1]

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Uses ``random_state``: with an int seed, repeated calls give the same draw.
        The rows are drawn in blocks of about ``_SAMPLE_BLOCK_ELEMENTS`` values into
        one preallocated output (Ctrl-C stops a long call between blocks); the draw
        is the same as drawing each component's rows at once.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to draw (at least 1). A count whose output would not
            fit in this machine's memory is refused before anything is drawn.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component each sample was drawn from.

        Examples
        --------
        >>> import numpy as np
        >>> from fastgmm import GaussianMixture
        >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
        >>> gm = GaussianMixture(2, means_init=[[0, 0], [9, 0]], random_state=0).fit(X)
        >>> X_new, y_new = gm.sample(4)
        >>> X_new.shape, y_new.shape
        ((4, 2), (4,))
        """
        self._check_fitted()
        n_samples = check_int(n_samples, "n_samples", low=1)
        self._check_model_attributes(for_sampling=True)
        d = self.means_.shape[1]
        check_output_memory(n_samples * (d + 1) * 8, "n_samples", n_samples,
                            f"X of shape (n_samples, {d}) float64 and the labels y")
        factors = self._sampling_factors()
        rng = _sampling_generator(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        X = np.empty((n_samples, d))
        step = max(1, _SAMPLE_BLOCK_ELEMENTS // d)
        start = 0
        for k, count in enumerate(counts):
            for offset in range(0, int(count), step):
                rows = min(step, int(count) - offset)
                _sample_block(rng, self.means_[k], factors[k], X[start:start + rows])
                start += rows
        y = np.repeat(np.arange(len(counts)), counts)
        return X, y

    def _sampling_factors(self):
        """Per component, ``F`` with ``F F^T`` its covariance: a lower Cholesky
        factor (full, tied) or the standard deviations (diag, spherical)."""
        covariances = np.asarray(self.covariances_, dtype=np.float64)
        K = self.means_.shape[0]
        storage = covariance_storage(self.covariance_type)
        if storage in ("diag", "spherical"):
            if np.any(covariances <= 0):
                raise self._invalid_attribute("covariances_", "some variance is <= 0")
            return [np.sqrt(covariances[k]) for k in range(K)]
        stack = covariances if storage == "full" else covariances[None]
        factors = []
        for k, matrix in enumerate(stack):
            try:
                factors.append(np.linalg.cholesky(matrix))
            except np.linalg.LinAlgError:
                where = "" if storage == "tied" else f"[{k}]"
                raise self._invalid_attribute(
                    "covariances_", f"covariances_{where} is not positive definite"
                ) from None
        return factors if storage == "full" else factors * K

    @staticmethod
    def _invalid_attribute(name, reason):
        return ValueError(
            f"the model's attribute {name} is invalid ({reason}): it is not what fit "
            "computed, so the model cannot be used. Call fit again, or restore the "
            "attribute (e.g. load a saved model with fastgmm.load)."
        )

    def _check_model_attributes(self, *, for_sampling=False):
        """Refuse fitted attributes that a user changed into something no fit makes
        (wrong shapes, NaN or infinite values, negative weights, precision factors
        without a positive diagonal) before they are used, naming the attribute.

        ``for_sampling``: only what ``sample`` reads (weights_, means_, covariances_).
        """
        means = np.asarray(self.means_)
        # A model assembled by hand (means_, covariances_, weights_ set, as scikit-
        # learn allows for sample) may lack n_features_in_: means_ then sets it.
        n_features = getattr(self, "n_features_in_", means.shape[-1] if means.ndim else 0)
        if means.ndim != 2 or means.shape[0] < 1 or means.shape[1] != n_features:
            raise self._invalid_attribute(
                "means_", f"shape {means.shape}, expected (n_components, "
                f"{n_features})")
        K, d = means.shape
        shapes = {"weights_": (K,), "means_": (K, d),
                  "covariances_": covariance_shape(self.covariance_type, K, d),
                  "precisions_cholesky_": covariance_shape(self.covariance_type, K, d)}
        if for_sampling:
            del shapes["precisions_cholesky_"]
        for name, shape in shapes.items():
            array = np.asarray(getattr(self, name))
            if array.dtype.kind not in "fiu":
                raise self._invalid_attribute(name, f"dtype {array.dtype}, not numbers")
            if array.shape != shape:
                raise self._invalid_attribute(name, f"shape {array.shape}, expected {shape}")
            if not np.all(np.isfinite(array)):
                raise self._invalid_attribute(name, "it holds NaN or infinite values")
        weights = np.asarray(self.weights_, dtype=np.float64)
        if np.any(weights < 0) or not weights.sum() > 0:
            raise self._invalid_attribute("weights_", "weights must be non-negative with "
                                          "a positive sum")
        if for_sampling:
            return
        factor = np.asarray(self.precisions_cholesky_, dtype=np.float64)
        if covariance_storage(self.covariance_type) in ("full", "tied"):
            factor = np.diagonal(factor, 0, -2, -1)
        if np.any(factor <= 0):
            raise self._invalid_attribute("precisions_cholesky_", "its diagonal must be "
                                          "positive")

    def _n_parameters(self):
        return n_parameters(self.covariance_type, self.means_.shape[0], self.means_.shape[1])

    def _information_criterion(self, X, penalty):
        """-2 log-likelihood of ``X`` plus ``penalty(n_samples)``."""
        source = self._validated(X)
        return float(-2 * self._log_likelihood(source) + penalty(source.n_samples))

    def bic(self, X):
        """Bayesian information criterion on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        float

        Examples
        --------
        >>> import numpy as np
        >>> from fastgmm import GaussianMixture
        >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
        >>> bics = [GaussianMixture(k, random_state=0).fit(X).bic(X) for k in (1, 2)]
        >>> int(np.argmin(bics)) + 1           # components preferred
        2
        """
        return self._information_criterion(X, lambda n: self._n_parameters() * np.log(n))

    def aic(self, X):
        """Akaike information criterion on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        float

        Examples
        --------
        >>> import numpy as np
        >>> from fastgmm import GaussianMixture
        >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
        >>> aics = [GaussianMixture(k, random_state=0).fit(X).aic(X) for k in (1, 2)]
        >>> int(np.argmin(aics)) + 1
        2
        """
        return self._information_criterion(X, lambda n: 2 * self._n_parameters())

    def icl(self, X):
        """Integrated completed likelihood criterion on ``X`` (lower is better).

        The BIC plus the entropy of the hard (MAP) assignment:
        ``ICL = BIC - 2 sum_i log z_i,map(i)`` with ``z`` the responsibilities and
        ``map(i)`` the most probable component of row ``i`` (Biernacki, Celeux &
        Govaert 2000, as mclust's ``icl`` computes it). In mclust's sign (higher is
        better) that is ``-ICL``. It penalizes overlapping components, so it favours
        well separated clusters more than the BIC does.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        float
        """
        return self._criteria(self._validated(X))["icl"]

    def _criteria(self, source, sample_weight=None, fitted_now=False):
        """log_likelihood, bic, aic and icl of the rows of an in-memory ``source``
        from one E-step pass; ``sample_weight`` (validated, not rescaled) weights the
        rows, and ``n = sum(sample_weight)`` then enters the BIC penalty.
        ``fitted_now``: ``select`` asks right after ``_fit`` (see ``_estep_problem``)."""
        log_norm, resp, _ = self._estep(source, log_norm=True, resp=True,
                                        fitted_now=fitted_now)
        hard = np.log(_row_maxima(resp))
        if sample_weight is None or sample_weight.size == 0:
            log_likelihood, hard_sum, n = float(log_norm.sum()), float(hard.sum()), \
                source.n_samples
        else:
            log_likelihood = float(sample_weight @ log_norm)
            hard_sum, n = float(sample_weight @ hard), float(sample_weight.sum())
        p = self._n_parameters()
        bic = -2 * log_likelihood + p * np.log(n)
        return {"log_likelihood": log_likelihood, "n_parameters": p, "bic": float(bic),
                "aic": float(-2 * log_likelihood + 2 * p), "icl": float(bic - 2 * hard_sum)}

    def save(self, path):
        """Write the fitted model to ``path`` as a ``.npz`` file (no pickle inside).

        The file holds every hyper-parameter and fitted attribute; ``fastgmm.load``
        reads it back bit for bit. Nothing in it is executed when loading.

        Parameters
        ----------
        path : str, os.PathLike or writable binary file object
            Written exactly as given (no ``.npz`` suffix is appended); a path is
            replaced atomically, so an interrupted save never leaves a truncated file.

        Raises
        ------
        ValueError
            If ``n_components`` or ``covariance_type`` was changed (``set_params``)
            since the fit: the file would describe a model that does not exist. Set
            the fitted value again to save the fitted model, or refit first.

        Examples
        --------
        >>> import io
        >>> import fastgmm
        >>> import numpy as np
        >>> from fastgmm import GaussianMixture
        >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
        >>> gm = GaussianMixture(2, means_init=[[0, 0], [9, 0]]).fit(X)
        >>> buffer = io.BytesIO()
        >>> gm.save(buffer)
        >>> _ = buffer.seek(0)
        >>> loaded = fastgmm.load(buffer)
        >>> bool(np.array_equal(loaded.means_, gm.means_))
        True
        """
        from ._persistence import save   # here: _persistence imports this module
        save(self, path)


# Values per block of ``sample`` (2 MiB of float64): the unit between two checks for
# a pending Ctrl-C, and a bound on the temporaries.
_SAMPLE_BLOCK_ELEMENTS = 1 << 18


def _sample_block(rng, mean, factor, out):
    """Draw ``out.shape[0]`` rows of N(mean, F F^T) into ``out`` (rows, n_features).

    ``factor`` F is a lower triangular matrix (n_features, n_features) or a vector of
    standard deviations (n_features,) or a scalar one.
    """
    z = rng.standard_normal(out.shape)
    if np.ndim(factor) == 2:
        z = z @ factor.T
    else:
        z = z * factor
    np.add(mean, z, out=out)


def _row_maxima(values):
    """``values.max(axis=1)`` of a C-ordered (n, K) array: with few columns, one
    vectorized maximum per column (numpy's reduction along short rows costs about
    30 ns a row, 20 to 40 times as much at K = 2 to 5)."""
    n_columns = values.shape[1]
    if n_columns > 32 or n_columns == 0:
        return values.max(axis=1)
    out = values[:, 0].copy()
    for k in range(1, n_columns):
        np.maximum(out, values[:, k], out=out)
    return out


def _check_verbose(verbose):
    """``verbose`` as 0, 1, 2, ... (bools as 0 and 1) or the text "progress"."""
    if isinstance(verbose, str):
        if verbose != "progress":
            raise TypeError(f"verbose must be an int >= 0, a bool or 'progress', got "
                             f"{verbose!r}.")
        return verbose
    if isinstance(verbose, (bool, np.bool_)):
        return int(verbose)
    return check_int(verbose, "verbose", low=0)


_DTYPE_NAMES = {np.dtype(np.float64): "float64", np.dtype(np.float32): "float32"}


def _format_fit_metadata(finished, seconds, n_samples, dtype, n_threads):
    """When and how a fit ran (``GaussianMixture._fit_metadata``): ``finished`` a
    ``time.time()``, ``n_samples`` None where unknown (some dask sources)."""
    from . import __version__
    return {
        # datetime.fromtimestamp(finished, timezone.utc).isoformat(timespec="seconds")
        "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(finished)),
        "fit_seconds": round(float(seconds), 6),
        "fastgmm_version": __version__,
        "n_samples": int(n_samples) if isinstance(n_samples, (int, np.integer)) else None,
        "dtype": _DTYPE_NAMES.get(dtype) or str(np.dtype(dtype)),
        "n_threads": int(n_threads),
    }


def fit(X, n_components=1, *, sample_weight=None, **params):
    """Fit a Gaussian mixture in one call.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_components : int, default=1
    sample_weight : array-like of shape (n_samples,), default=None
    **params
        Any other GaussianMixture hyper-parameter.

    Returns
    -------
    GaussianMixture
        The fitted estimator.

    Examples
    --------
    >>> import numpy as np, fastgmm
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = fastgmm.fit(X, 2, random_state=0)
    >>> np.round(gm.means_[np.argsort(gm.means_[:, 0])], 6)
    array([[ 1.,  2.],
           [10.,  2.]])
    """
    unknown = sorted(set(params) - set(GaussianMixture._param_names()))
    if unknown:
        raise TypeError(f"fastgmm.fit got unknown hyper-parameter(s) "
                        f"{', '.join(map(repr, unknown))}; use the valid ones: "
                        f"{', '.join(GaussianMixture._param_names())}.")
    return GaussianMixture(n_components, **params).fit(X, sample_weight=sample_weight)
