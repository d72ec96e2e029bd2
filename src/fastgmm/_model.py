"""The GaussianMixture estimator (scikit-learn compatible API)."""

import contextlib
import datetime
import inspect
import time

import numpy as np

from ._em import fit_mixture
from ._init import RestartStreams
from ._kernels import uses_blas
from ._mstep import (GaussianParams, covariance_diagonals, covariance_kind, n_parameters,
                     precisions_from_cholesky)
from ._openmp_helpers import blas_single_thread, check_n_threads, effective_n_threads
from ._passes import EStepProblem, estep_rows_block, log_likelihood_block
from ._progress import ProgressDisplay, check_callback, combine_callbacks
from ._source import as_source
from ._validation import (COVARIANCE_TYPES, INIT_METHODS, MAX_REG_COVAR, NotFittedError,
                          check_choice, check_fit_scale, check_int,
                          check_means_init, check_precisions_init,
                          check_random_state_param, check_real,
                          check_weights_init)

_EMPTY = np.empty(0)
_EMPTY_LABELS = np.empty(0, dtype=np.intp)


def _feature_names(X):
    """Column names of a dataframe-like ``X`` when all are strings (as scikit-learn
    records them in ``feature_names_in_``), else None."""
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "shape") or isinstance(X, np.ndarray):
        return None
    names = list(columns)
    if not names or not all(isinstance(name, str) for name in names):
        return None
    return np.asarray(names, dtype=object)


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
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        ``"full"``: each component has its own covariance matrix; ``"tied"``: all
        components share one; ``"diag"``: each has a diagonal covariance;
        ``"spherical"``: each has a single variance.
    tol : float, default=1e-3
        Convergence threshold: EM stops when the mean log-likelihood (the lower
        bound) changes by less than ``tol`` between iterations.
    reg_covar : float, default=1e-6
        Non-negative value added to the diagonal of every covariance.
    max_iter : int, default=100
        Maximum number of EM iterations per initialization.
    n_init : int, default=1
        Number of initializations; the run with the best final lower bound is kept
        (the first one on ties). Restart ``i`` draws from its own random stream, so
        the result does not depend on ``n_threads`` or on the order of restarts.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How the initial responsibilities are obtained (one M-step on them gives the
        initial weights, means and covariances). "kmeans": the partition of
        k-means (k-means++ seeding, then Lloyd iterations with scikit-learn's
        KMeans tolerance), computed by multi-threaded kernels; restarts 0, 2, 4, ...
        cluster X as given and restarts 1, 3, 5, ... cluster standardized features
        (not for "spherical"), because Euclidean k-means depends on the features'
        units while the EM of the other covariance types does not. "k-means++": the
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
        Column names of ``X`` in ``fit``, when it had string column names (e.g. a
        pandas DataFrame); data passed later with other names are refused.
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6,
                 max_iter=100, n_init=1, init_params="kmeans", weights_init=None,
                 means_init=None, precisions_init=None, random_state=None,
                 warm_start=False, verbose=0, verbose_interval=10, n_threads=None,
                 callback=None):
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
        """Hyper-parameters of this estimator, as a dict (scikit-learn protocol)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set hyper-parameters (scikit-learn protocol); returns self."""
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
        """
        feature_names = _feature_names(X)
        numbers = self._check_parameters()
        K = numbers["n_components"]
        warm = self.warm_start and hasattr(self, "converged_")
        streams = None if warm else RestartStreams(self.random_state)
        # X -> rows in blocks (validated): an array or memory map, a chunk stream, a
        # dask collection. Every pass of the fit reads the rows through ``source``.
        source = as_source(X, sample_weight, n_components=K, streams=streams)
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
        check_fit_scale(source, numbers["reg_covar"], covariance_type=self.covariance_type,
                        means_init=means_init, precisions_init=precisions_init)
        if warm:
            self._check_warm_start(n_features)
        started = time.perf_counter()
        progress_display = ProgressDisplay() if numbers["verbose"] == "progress" else None
        best = fit_mixture(
            source, K, self.covariance_type,
            tol=numbers["tol"], reg_covar=numbers["reg_covar"],
            max_iter=numbers["max_iter"], n_init=numbers["n_init"],
            init_params=self.init_params, weights_init=weights_init, means_init=means_init,
            precisions_init=precisions_init, streams=streams,
            n_threads=effective_n_threads(self.n_threads),
            warm_params=self._params() if warm else None,
            warm_lower_bound=self.lower_bound_ if warm else -np.inf,
            verbose=0 if progress_display else numbers["verbose"],
            verbose_interval=numbers["verbose_interval"],
            callback=combine_callbacks(progress_display, self.callback),
        )
        self._set_fitted(best.params)
        self.converged_ = bool(best.converged)
        self.n_iter_ = int(best.n_iter)
        self.lower_bound_ = float(best.lower_bound)
        self.lower_bounds_ = [float(v) for v in best.lower_bounds]
        self.n_features_in_ = n_features
        if feature_names is not None:
            self.feature_names_in_ = feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._fit_metadata = _fit_metadata(source, time.perf_counter() - started,
                                           effective_n_threads(self.n_threads))
        return self

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
        """
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def _set_fitted(self, params):
        """Store fitted parameters, refusing any that float64 could not represent."""
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            precisions = precisions_from_cholesky(params.precisions_cholesky,
                                                  self.covariance_type)
        arrays = {"weights_": params.weights, "means_": params.means,
                  "covariances_": params.covariances,
                  "precisions_cholesky_": params.precisions_cholesky,
                  "precisions_": precisions}
        bad = [name for name, array in arrays.items() if not np.all(np.isfinite(array))]
        if bad:
            raise ValueError(
                f"The fit produced non-finite {', '.join(bad)}: some covariance is too small "
                f"for its inverse to fit in float64 (smallest variance "
                f"{np.min(covariance_diagonals(params.covariances, self.covariance_type)):.3g}). "
                f"Increase reg_covar (now {self.reg_covar!r}; e.g. 1e-6 times the data's "
                "variance) or rescale X."
            )
        for name, array in arrays.items():
            setattr(self, name, array)
        self._covariance_type_fitted = self.covariance_type

    def _params(self):
        return GaussianParams(self.weights_, self.means_, self.covariances_,
                              self.precisions_cholesky_)

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
        names = _feature_names(X)
        fitted = getattr(self, "feature_names_in_", None)
        if names is not None and fitted is not None and not np.array_equal(names, fitted):
            raise ValueError(
                f"X has feature names {list(names)}, but this GaussianMixture was fitted "
                f"with {list(fitted)}; pass the columns of the training data, in that "
                "order.")
        return as_source(X, sample_weight, n_features=self.n_features_in_)

    def _estep_problem(self, source):
        means, prec_chol, log_const = self._params().kernel_arguments(self.covariance_type)
        return EStepProblem(covariance_kind(self.covariance_type), means, prec_chol,
                            log_const, None, effective_n_threads(self.n_threads))

    def _blas_guard(self, n_features):
        return (blas_single_thread() if uses_blas(self.covariance_type, n_features)
                else contextlib.nullcontext())

    def _estep(self, source, *, log_norm=False, resp=False, labels=False):
        """Run the E-step over the rows of ``source``: (log_norm, resp, labels).

        Each output is computed when asked for (else empty), block by block (Ctrl-C
        stops a long call between blocks). A row whose log-density is not finite
        (its squared Mahalanobis distance to every component overflows float64)
        makes every output meaningless, and is reported instead of returned as NaN.
        A dask source returns lazy dask arrays.
        """
        problem = self._estep_problem(source)
        lazy = getattr(source, "lazy_estep", None)
        if lazy is not None:
            return lazy(problem, log_norm=log_norm, resp=resp, labels=labels)
        n = source.n_samples
        K = self.weights_.shape[0]
        outputs = [np.empty(n) if log_norm else _EMPTY,
                   np.empty((n, K)) if resp else np.empty((0, K)),
                   np.empty(n, dtype=np.intp) if labels else _EMPTY_LABELS]
        with self._blas_guard(source.n_features):
            results = source.map_rows(estep_rows_block, problem, outputs)
        n_bad = sum(count for count, _ in results)
        if n_bad:
            first_bad = min(first for count, first in results if count)
            raise self._underflow_error(n_bad, f" (first: row {first_bad})")
        return tuple(outputs)

    @staticmethod
    def _underflow_error(n_bad, where=""):
        return ValueError(
            f"X has {n_bad} row(s){where} so far from every "
            "component that their log-density underflows float64 (the squared "
            "Mahalanobis distance overflows); no probability can be computed for them. "
            "Check that X has the units and scale of the training data, or drop those "
            "rows."
        )

    def _log_likelihood(self, source):
        """``sum_n w_n log p(x_n)`` over the rows of ``source`` (no per-row array)."""
        out = np.empty(2)
        with self._blas_guard(source.n_features):
            source.reduce(log_likelihood_block, self._estep_problem(source), out)
        if out[1]:
            self._estep(source, log_norm=True)     # raises, naming the first such row
            raise self._underflow_error(int(out[1]))
        return float(out[0])

    def score_samples(self, X):
        """Log-likelihood ``log p(x)`` of every sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
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
        """
        return self._estep(self._validated(X), resp=True)[1]

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Uses ``random_state``: with an int seed, repeated calls give the same draw.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to draw (at least 1).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component each sample was drawn from.
        """
        self._check_fitted()
        n_samples = check_int(n_samples, "n_samples", low=1)
        rng = _sampling_generator(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        d = self.means_.shape[1]
        pieces = []
        for k, count in enumerate(counts):
            z = rng.standard_normal((count, d))
            if self.covariance_type == "full":
                z = z @ np.linalg.cholesky(self.covariances_[k]).T
            elif self.covariance_type == "tied":
                z = z @ np.linalg.cholesky(self.covariances_).T
            else:  # diag: per-feature variances; spherical: one variance
                z = z * np.sqrt(self.covariances_[k])
            pieces.append(self.means_[k] + z)
        X = np.concatenate(pieces, axis=0)
        y = np.repeat(np.arange(len(counts)), counts)
        return X, y

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
        """
        return self._information_criterion(X, lambda n: 2 * self._n_parameters())

    def save(self, path):
        """Write the fitted model to ``path`` as a ``.npz`` file (no pickle inside).

        The file holds every hyper-parameter and fitted attribute; ``fastgmm.load``
        reads it back bit for bit. Nothing in it is executed when loading.

        Parameters
        ----------
        path : str, os.PathLike or writable binary file object
            Written exactly as given (no ``.npz`` suffix is appended); a path is
            replaced atomically, so an interrupted save never leaves a truncated file.
        """
        from ._persistence import save   # here: _persistence imports this module
        save(self, path)


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


def _fit_metadata(source, seconds, n_threads):
    """When and how a fit ran (saved with the model, shown by ``fastgmm info``)."""
    from . import __version__
    n_samples = getattr(source, "n_samples", None)    # unknown for some dask sources
    return {
        "fitted_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "fit_seconds": round(float(seconds), 6),
        "fastgmm_version": __version__,
        "n_samples": int(n_samples) if isinstance(n_samples, (int, np.integer)) else None,
        "dtype": str(np.dtype(source.dtype)),
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
