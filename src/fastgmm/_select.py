"""Model selection: fit a grid of covariance types and component counts, keep the best.

``select`` is what R's ``mclustBIC`` / ``Mclust`` do for their users: fit every
(covariance type, number of components) pair and rank the fits by an information
criterion, skipping degenerate fits (``GaussianMixture.degenerate_``) instead of
choosing a spurious likelihood or crashing on it.

Work shared across the grid (all of it valid: every fit ends exactly where
``GaussianMixture(n_components=K, covariance_type=t, random_state=r,
init_params=..., ...).fit(X)`` ends, with select's ``init_params``, "ward" by
default):

* ``X`` and ``sample_weight`` are validated once, into one row source;
* the start of restart ``i`` for ``K`` components does not depend on the covariance
  type: with ``init_params="kmeans"`` the k-means partition of restart ``i`` (which
  only depends on whether the restart clusters standardized features, see
  ``GaussianMixture``'s ``init_params``) is computed once per ``(K, i)``; with
  ``init_params="ward"`` (``select``'s default) restart 0 cuts one Ward tree of the
  whitened rows, built once for the whole grid (``_ward.WardTree``), into ``K``
  clusters, and restarts ``1, 2, ...`` are the k-means ones. Each covariance type
  starts from one M-step on the shared partition;
* the statistics of a shared partition are computed once per covariance kind (full
  scatter matrices, or their diagonals) and serve every type of that kind;
* the fits of different ``K`` run in parallel (``n_jobs`` threads, each fit's kernels
  on one OpenMP thread; the kernels and the compiled EM iterations release the
  GIL), except on small data (``SERIAL_GRID_MAX_VALUES``). Every fit is
  bit-identical for any thread count, so the result does not depend on ``n_jobs``.
"""

import math
import numbers
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._init import (_SPHERICAL, RestartStreams, _buffers_for, kmeans,
                    parameters_from_assignment)
from ._model import GaussianMixture
from ._openmp_helpers import check_n_threads, effective_n_threads
from ._source import as_source
from ._validation import (ConvergenceWarning, ReseedWarning,
                          check_choice, check_fit_scale, check_int)
from ._ward import WardTree
from . import _validation

CRITERIA = ("bic", "aic", "icl")
COLUMNS = ("covariance_type", "n_components", "log_likelihood", "n_parameters", "bic",
           "aic", "icl", "converged", "degenerate")
SKLEARN_TYPES = ("full", "tied", "diag", "spherical")
# GaussianMixture parameters that select sets itself or that have no meaning across
# a grid of component counts.
_NOT_FIT_PARAMS = ("n_components", "covariance_type", "n_threads", "weights_init",
                   "means_init", "precisions_init", "warm_start")
# Covariance types whose k-means start never clusters standardized features (their
# model is not invariant to the features' units; see _init.initial_parameters).
_RAW_KMEANS_ONLY = _SPHERICAL
# select's start when the caller names none (GaussianMixture's default is "kmeans").
DEFAULT_INIT = "ward"
# The starts select computes once and shares across covariance types.
_SHARED_INITS = ("kmeans", "ward")


# ---------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------

class SelectionTable:
    """One row per fit of a model selection, as mappings.

    Each row is a dict with the keys ``covariance_type``, ``n_components``,
    ``log_likelihood``, ``n_parameters``, ``bic``, ``aic``, ``icl``, ``converged``
    and ``degenerate`` (a fit that failed outright has NaN criteria). Criteria are
    in scikit-learn's sign: lower is better. mclust reports the opposite sign
    (higher is better): ``BIC_mclust = -bic``, ``ICL_mclust = -icl``.

    Iterating yields the rows; ``table[i]`` is row ``i``; ``table["bic"]`` is that
    column as a list; ``len(table)`` is the number of fits.

    Parameters
    ----------
    rows : list of dict
    """

    columns = COLUMNS

    def __init__(self, rows):
        self._rows = [dict(row) for row in rows]

    def __len__(self):
        return len(self._rows)

    def __iter__(self):
        return iter(self._rows)

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in COLUMNS:
                raise KeyError(f"{key!r} is not a column of the selection table; the "
                               f"columns are {', '.join(COLUMNS)}.")
            return [row[key] for row in self._rows]
        return self._rows[key]

    def row(self, covariance_type, n_components):
        """The row of one fit (KeyError if the grid did not hold it)."""
        for row in self._rows:
            if row["covariance_type"] == covariance_type and \
                    row["n_components"] == n_components:
                return row
        raise KeyError(f"no fit with covariance_type={covariance_type!r} and "
                       f"n_components={n_components} in this table.")

    def matrix(self, criterion="bic"):
        """A criterion as a grid, like mclust's BIC table.

        Parameters
        ----------
        criterion : {"bic", "aic", "icl", "log_likelihood"}, default="bic"

        Returns
        -------
        values : ndarray of shape (n_k, n_types)
            NaN where the grid has no finite value.
        n_components : list of int
            The row labels (in the order of the grid).
        covariance_types : list of str
            The column labels.
        """
        check_choice(criterion, "criterion", CRITERIA + ("log_likelihood",))
        ks = list(dict.fromkeys(row["n_components"] for row in self._rows))
        types = list(dict.fromkeys(row["covariance_type"] for row in self._rows))
        values = np.full((len(ks), len(types)), np.nan)
        for row in self._rows:
            values[ks.index(row["n_components"]),
                   types.index(row["covariance_type"])] = row[criterion]
        return values, ks, types

    def to_pandas(self):
        """The table as a pandas DataFrame (pandas must be installed)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("SelectionTable.to_pandas needs pandas; install it (pip "
                              "install pandas) or read the rows as dicts.") from None
        return pandas.DataFrame(self._rows, columns=list(COLUMNS))

    def __str__(self):
        header = ["type", "K", "log_lik", "n_par", "bic", "aic", "icl", "conv", "degen"]
        cells = [header]
        for row in self._rows:
            cells.append([str(row["covariance_type"]), str(row["n_components"])]
                         + [f"{row[key]:.2f}" for key in ("log_likelihood",)]
                         + [str(row["n_parameters"])]
                         + [f"{row[key]:.2f}" for key in ("bic", "aic", "icl")]
                         + [str(row["converged"]), str(row["degenerate"])])
        widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                           for i, (cell, w) in enumerate(zip(line, widths)))
                 for line in cells]
        return "\n".join(lines)

    def __repr__(self):
        return f"SelectionTable({len(self)} fits)\n{self}"


class SelectionResult:
    """What ``fastgmm.select`` returns.

    Attributes
    ----------
    best : GaussianMixture
        The fitted model with the lowest criterion among the non-degenerate fits
        (the first in table order on ties).
    table : SelectionTable
        One row per fit, in grid order (covariance types outer, ``n_components``
        inner).
    criterion : str
        The criterion that chose ``best``.
    models : dict or None
        ``{(covariance_type, n_components): GaussianMixture or None}`` with
        ``return_models=True`` (None for a fit that failed), else None.
    errors : dict
        ``{(covariance_type, n_components): message}`` of the fits that failed (their
        rows hold NaN criteria), e.g. fewer rows than components.
    """

    def __init__(self, best, table, criterion, models, errors):
        self.best = best
        self.table = table
        self.criterion = criterion
        self.models = models
        self.errors = errors

    def __repr__(self):
        best = self.best
        return (f"SelectionResult(best: covariance_type={best.covariance_type!r}, "
                f"n_components={best.n_components}, criterion={self.criterion!r}, "
                f"{len(self.table)} fits)")


# ---------------------------------------------------------------------------------
# Shared starts
# ---------------------------------------------------------------------------------

class _SharedWardTree:
    """The Ward tree of the grid, built by the first fit that asks for it (after that
    fit has checked the data) and shared by every fit, from restart 0's stream."""

    def __init__(self, source, random_state):
        self.source = source
        self.random_state = random_state
        self._tree = None
        self._lock = threading.Lock()

    def get(self):
        with self._lock:
            if self._tree is None:
                self._tree = WardTree(self.source.X, self.source.sample_weight,
                                      RestartStreams(self.random_state).restart(0))
            return self._tree


class _SharedStarts:
    """The start partitions of one K, computed once per restart and shared by every
    covariance type (the ``start_parameters`` of ``_em.fit_mixture``).

    Restart ``i`` draws from the same stream (``RestartStreams(random_state)``) and
    clusters the same coordinates as a fit of that covariance type alone would, so
    the start is the one that fit would make. With a ``ward_tree`` (built from
    restart 0's stream, as ``init_params="ward"`` builds it) restart 0 is its cut into
    K clusters; the other restarts (and every restart without it) are k-means ones.
    ``ward_tree`` is a ``_SharedWardTree``.
    """

    def __init__(self, source, n_components, random_state, n_threads, ward_tree=None):
        self.source = source
        self.n_components = n_components
        self.streams = RestartStreams(random_state)
        self.n_threads = n_threads
        self.ward_tree = ward_tree
        self._buffers = None
        self._partitions = {}
        self._statistics = {}   # per partition: its statistics by covariance kind

    def _partition(self, index, standardize):
        key = (index, standardize)
        if key not in self._partitions:
            X, weights = self.source.X, self.source.sample_weight
            self._buffers = _buffers_for(X, weights, self.n_components, self._buffers,
                                        self.n_threads)
            result = kmeans(X, weights, self.n_components, self.streams.restart(index),
                            self.n_threads, self._buffers, standardize=standardize)
            # The labels live in the buffers, which the next k-means overwrites.
            self._partitions[key] = (result.labels.copy(), result.centers.copy())
        return self._partitions[key]

    def _ward_partition(self):
        if "ward" not in self._partitions:
            self._partitions["ward"] = self.ward_tree.get().partition(self.n_components)
        return self._partitions["ward"]

    def for_type(self, covariance_type, reg_covar):
        """``start_parameters(index, workspace)`` for one covariance type."""
        def start(index, workspace):
            if index == 0 and self.ward_tree is not None:
                key = "ward"
                labels, centres = self._ward_partition()
            else:
                standardize = index % 2 == 1 and covariance_type not in _RAW_KMEANS_ONLY
                key = (index, standardize)
                labels, centres = self._partition(index, standardize)
            return parameters_from_assignment(
                self.source, self.n_components, covariance_type, reg_covar,
                self.n_threads, workspace, labels=labels, shift=centres,
                statistics=self._statistics.setdefault(key, {}))
        return start


# ---------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------

def _mclust_models():
    names = getattr(_validation, "MCLUST_MODELS", None)
    if names is None:
        raise ValueError("covariance_types='mclust' needs the 14 mclust covariance models, "
                         "which this build of fastgmm does not have; pass scikit-learn's "
                         f"types instead, e.g. covariance_types={SKLEARN_TYPES!r}.")
    return tuple(names)


def _check_covariance_types(covariance_types):
    if isinstance(covariance_types, str):
        if covariance_types == "mclust":
            return _mclust_models()
        if covariance_types == "sklearn":
            return SKLEARN_TYPES
        covariance_types = (covariance_types,)
    try:
        types = tuple(covariance_types)
    except TypeError:
        raise TypeError(f"covariance_types must be a sequence of covariance type names or "
                        f"'mclust', got {covariance_types!r}.") from None
    if not types:
        raise ValueError("covariance_types is empty; pass at least one, e.g. "
                         "covariance_types=('full',).")
    for name in types:
        check_choice(name, "covariance_types", tuple(_validation.COVARIANCE_TYPES))
    if len(set(types)) != len(types):
        raise ValueError(f"covariance_types={types!r} names a type twice; list each once.")
    return types


def _check_n_components(n_components):
    if isinstance(n_components, numbers.Integral) and not isinstance(n_components, bool):
        n_components = (n_components,)
    try:
        ks = tuple(n_components)
    except TypeError:
        raise TypeError(f"n_components must be an int or a sequence of ints such as "
                        f"range(1, 10), got {n_components!r}.") from None
    if not ks:
        raise ValueError("n_components is empty; pass e.g. n_components=range(1, 10).")
    ks = tuple(check_int(k, "n_components", low=1) for k in ks)
    if len(set(ks)) != len(ks):
        raise ValueError(f"n_components={ks!r} repeats a value; list each once.")
    return ks


def _check_fit_params(fit_params):
    refused = sorted(set(fit_params) & set(_NOT_FIT_PARAMS))
    if refused:
        raise TypeError(f"select sets or cannot share {', '.join(map(repr, refused))} across "
                        "its grid; pass n_components and covariance_types (and n_threads) "
                        "to select itself, and no initial parameters.")
    valid = GaussianMixture._param_names()
    unknown = sorted(set(fit_params) - set(valid))
    if unknown:
        raise TypeError(f"select got unknown GaussianMixture parameter(s) "
                        f"{', '.join(map(repr, unknown))}; use the valid ones: "
                        f"{', '.join(p for p in valid if p not in _NOT_FIT_PARAMS)}.")
    # Every value checked once, before any fit.
    GaussianMixture(**fit_params)._check_parameters()
    return fit_params


# With n_jobs=None, data of at most this many values (n_samples x n_features) are
# fitted one fit at a time: their fits are mostly Python (set-up, start, criteria),
# which threads run in turn under the GIL, and handing it back and forth made the
# grids of Old Faithful, crabs and iris 5 to 20% slower on two threads than on one
# (only crabs' 14 models, whose iterative M-steps run without the GIL, gained 25%).
SERIAL_GRID_MAX_VALUES = 1 << 16


def _check_n_jobs(n_jobs, n_tasks, n_values=None):
    """Fits to run at once; ``n_values`` (n_samples x n_features) decides None."""
    if n_jobs is None:
        n_jobs = (1 if n_values is not None and n_values <= SERIAL_GRID_MAX_VALUES
                  else effective_n_threads(None))
    elif isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be None, a positive int or a negative int counting "
                         f"back from the usable cores (-1 = all), got {n_jobs!r}.")
    elif n_jobs < 0:
        n_jobs = max(1, effective_n_threads(-1) + 1 + int(n_jobs))
    return max(1, min(int(n_jobs), n_tasks))


# ---------------------------------------------------------------------------------
# The grid
# ---------------------------------------------------------------------------------

def _failed_row(covariance_type, n_components):
    row = dict.fromkeys(COLUMNS, math.nan)
    row.update(covariance_type=covariance_type, n_components=n_components,
               n_parameters=None, converged=False, degenerate=True)
    return row


def _fit_components(X, source, n_components, covariance_types, fit_params, random_state,
                    n_threads, weights, ward_tree, scale_checked):
    """Every covariance type for one K: [(row, model or None, error or None)].

    ``scale_checked``: ``check_fit_scale`` passed for the grid's source and reg_covar
    (the same for every fit: select takes no initial parameters), so no fit redoes it.
    """
    strict = fit_params.get("on_degenerate", "reseed") == "raise"
    shared = None
    if fit_params["init_params"] in _SHARED_INITS and source.in_memory:
        shared = _SharedStarts(source, n_components, random_state, n_threads, ward_tree)
    reg_covar = float(fit_params.get("reg_covar", 1e-6))
    out = []
    for covariance_type in covariance_types:
        model = GaussianMixture(n_components, covariance_type=covariance_type,
                                random_state=random_state, n_threads=n_threads,
                                **fit_params)
        start = None if shared is None else shared.for_type(covariance_type, reg_covar)
        if source.n_positive < n_components:
            out.append((_failed_row(covariance_type, n_components), None,
                        f"Expected n_samples >= n_components but got n_components = "
                        f"{n_components}, n_samples = {source.n_positive}"
                        + (" (rows with positive sample_weight)" if source.weighted else "")
                        + "; use fewer components or more data."))
            continue
        try:
            model._fit(X, None, source=source, start_parameters=start,
                       scale_checked=scale_checked)
        except ValueError as exc:
            if strict:
                raise
            out.append((_failed_row(covariance_type, n_components), None, str(exc)))
            continue
        row = {"covariance_type": covariance_type, "n_components": n_components}
        row.update(model._criteria(source, weights, fitted_now=True))
        row.update(converged=bool(model.converged_), degenerate=bool(model.degenerate_))
        out.append(({key: row[key] for key in COLUMNS}, model, None))
    return out


def _best_index(rows, criterion, errors):
    """Index of the lowest finite criterion among non-degenerate rows (else among all
    finite rows, with a warning), first on ties."""
    finite = [i for i, row in enumerate(rows) if np.isfinite(row[criterion])]
    if not finite:
        first = next(iter(errors.items()), (None, "no fit"))
        raise ValueError(f"Every fit of the grid failed; the first, {first[0]}: {first[1]}")
    sound = [i for i in finite if not rows[i]["degenerate"]]
    if not sound:
        warnings.warn("Every fit of the grid is degenerate (a component on a point, a "
                      "subspace or a constant column: see GaussianMixture.degenerate_); "
                      "best is the lowest criterion among them, whose likelihood is "
                      "spurious. Remove constant or duplicated columns, use fewer "
                      "components, or increase reg_covar.", ReseedWarning, stacklevel=3)
        sound = finite
    return min(sound, key=lambda i: (rows[i][criterion], i))


def _warn_summary(rows, models, n_fits, chosen_degenerate=False):
    reseeded = [f"{m.covariance_type}/{m.n_components}" for m in models
                if m is not None and m.reseeded_components_.size]
    degenerate = [f"{row['covariance_type']}/{row['n_components']}" for row in rows
                  if row["degenerate"] and np.isfinite(row["bic"])
                  and not chosen_degenerate]      # else _best_index has warned
    if reseeded or degenerate:
        parts = []
        if reseeded:
            parts.append(f"{len(reseeded)} of {n_fits} fits re-seeded collapsed "
                         f"components ({', '.join(reseeded[:6])}"
                         f"{', ...' if len(reseeded) > 6 else ''})")
        if degenerate:
            parts.append(f"{len(degenerate)} fits are degenerate and were not chosen "
                         f"({', '.join(degenerate[:6])}"
                         f"{', ...' if len(degenerate) > 6 else ''})")
        warnings.warn("; ".join(parts) + ". See the table's 'degenerate' column.",
                      ReseedWarning, stacklevel=3)
    unconverged = [f"{row['covariance_type']}/{row['n_components']}" for row in rows
                   if np.isfinite(row["bic"]) and not row["converged"]]
    if unconverged:
        warnings.warn(f"{len(unconverged)} of {n_fits} fits did not converge "
                      f"({', '.join(unconverged[:6])}{', ...' if len(unconverged) > 6 else ''}"
                      "); increase max_iter or tol.", ConvergenceWarning, stacklevel=3)


def select(X, n_components=range(1, 10), covariance_types=SKLEARN_TYPES, criterion="bic",
           sample_weight=None, n_jobs=None, n_threads=None, return_models=False,
           **fit_params):
    """Fit a grid of Gaussian mixtures and choose one by an information criterion.

    Every pair of ``covariance_types`` and ``n_components`` is fitted (as
    ``GaussianMixture(n_components=K, covariance_type=t, init_params="ward",
    **fit_params).fit(X)`` would fit it, bit for bit) and scored; the best is the lowest criterion among
    the fits that are not degenerate (``GaussianMixture.degenerate_``: a component
    on fewer points than its covariance needs, or at the ``reg_covar`` floor), so a
    spurious likelihood on rounded or duplicated data is never chosen. A fit that
    fails outright (e.g. more components than rows) gets a row of NaN criteria, like
    mclust's NA, instead of stopping the grid.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        In memory (or memory-mapped); validated once for the whole grid.
    n_components : int or sequence of int, default=range(1, 10)
    covariance_types : sequence of str or "mclust", default=("full", "tied", "diag", "spherical")
        "mclust": mclust's 14 models (EII ... VVV), when this build has them.
    criterion : {"bic", "aic", "icl"}, default="bic"
        In scikit-learn's sign, lower is better: ``bic = -2 log L + p log n``,
        ``aic = -2 log L + 2 p``, ``icl = bic - 2 sum_i log z_i,map(i)`` (see
        ``GaussianMixture.icl``). mclust's values have the opposite sign (higher is
        better): ``BIC_mclust = -bic``.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights the log-likelihood; ``n = sum(sample_weight)`` in the BIC penalty
        (integer weights equal duplicated rows).
    n_jobs : int or None, default=None
        Fits run at once (threads; fits of one K run in turn, sharing their k-means
        partitions). None: one per usable core, except for data of at most
        ``SERIAL_GRID_MAX_VALUES`` (65,536) values, whose fits are mostly Python and
        run fastest one at a time, each on ``n_threads``; -1: all usable cores. The
        result does not depend on it.
    n_threads : int or None, default=None
        OpenMP threads of each fit's kernels when ``n_jobs`` resolves to 1 (with
        several jobs, each fit uses one thread).
    return_models : bool, default=False
        Keep every fitted model in ``result.models``.
    **fit_params
        Other GaussianMixture parameters (``n_init``, ``max_iter``, ``tol``,
        ``reg_covar``, ``init_params``, ``random_state``, ``on_degenerate``, ...).
        ``init_params`` defaults to ``"ward"`` here (GaussianMixture's default is
        ``"kmeans"``): restart 0 of every fit starts from one Ward tree of the
        whitened rows, built once for the grid and cut into K clusters, which finds
        optima that k-means starts miss on correlated features (mclust starts from
        a hierarchical clustering too); with ``n_init > 1`` the further restarts are
        k-means ones. ``init_params="kmeans"`` gives k-means starts.
        ``random_state=None`` draws one seed for the whole grid (the result is then
        reproducible from ``result.best.random_state``). ``on_degenerate="raise"``
        makes the first degenerate fit an error.

    Returns
    -------
    SelectionResult
        ``best`` (fitted GaussianMixture), ``table`` (SelectionTable), ``models``
        and ``errors``.

    Examples
    --------
    >>> import numpy as np, fastgmm
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 1, (100, 2)), rng.normal(6, 1, (100, 2))])
    >>> result = fastgmm.select(X, n_components=range(1, 4), random_state=0)
    >>> result.best.n_components
    2
    >>> row = result.table.row("full", 2)
    >>> bool(row["bic"] == result.best.bic(X))
    True
    """
    ks = _check_n_components(n_components)
    types = _check_covariance_types(covariance_types)
    check_choice(criterion, "criterion", CRITERIA)
    check_n_threads(n_threads)
    if not isinstance(return_models, (bool, np.bool_)):
        raise TypeError(f"return_models must be True or False, got {return_models!r}.")
    fit_params = _check_fit_params(dict(fit_params))
    fit_params.setdefault("init_params", DEFAULT_INIT)
    random_state = fit_params.pop("random_state", None)
    if random_state is None:
        random_state = int(np.random.SeedSequence().generate_state(1)[0])
    elif not isinstance(random_state, numbers.Integral):
        # A RandomState or Generator is drawn from once: every fit gets the same seed.
        random_state = int(RestartStreams(random_state).seed.generate_state(1)[0])
    source = as_source(X, sample_weight, ranges=True)   # the column ranges: once
    if not hasattr(source, "X"):
        raise TypeError("select needs X in memory (an array or memory map); for chunk "
                        "streams or dask arrays fit GaussianMixture per model.")
    weights = source.sample_weight
    if weights.size:
        # The caller's weights (not rescaled) for the weighted criteria.
        weights = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        with np.errstate(over="ignore"):
            overflows = not np.isfinite(weights.sum())
        if overflows:
            # Weights whose sum overflows: their validated rescaling (a power of 2).
            weights = source.sample_weight
    n_jobs = _check_n_jobs(n_jobs, len(ks), source.n_samples * source.n_features)
    fit_threads = 1 if n_jobs > 1 else effective_n_threads(n_threads)
    try:
        check_fit_scale(source, float(fit_params.get("reg_covar", 1e-6)))
        scale_checked = True
    except ValueError:
        scale_checked = False       # every fit raises it, as each would alone
    ward_tree = None
    if fit_params["init_params"] == "ward" and source.in_memory:
        # One tree for every K: the one each fit's restart 0 would build.
        ward_tree = _SharedWardTree(source, random_state)

    def run(k):
        return _fit_components(X, source, k, types, fit_params, random_state,
                               fit_threads, weights, ward_tree, scale_checked)

    # Each fit's own ReseedWarning and ConvergenceWarning are summarized once below.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReseedWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        if n_jobs == 1:
            per_k = [run(k) for k in ks]
        else:
            with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                per_k = list(pool.map(run, ks))
    # Grid order: covariance types outer, K inner.
    fits = [per_k[i][j] for j in range(len(types)) for i in range(len(ks))]
    rows = [row for row, _, _ in fits]
    models = [model for _, model, _ in fits]
    errors = {(row["covariance_type"], row["n_components"]): error
              for row, _, error in fits if error is not None}
    for model in models:        # the hyper-parameter the caller gave, not the jobs'
        if model is not None:
            model.n_threads = n_threads
    best_index = _best_index(rows, criterion, errors)
    best = models[best_index]
    _warn_summary(rows, models, len(rows), chosen_degenerate=rows[best_index]["degenerate"])
    kept = ({(row["covariance_type"], row["n_components"]): model
             for row, model in zip(rows, models)} if return_models else None)
    return SelectionResult(best, SelectionTable(rows), criterion, kept, errors)
