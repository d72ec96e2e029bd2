"""Gaussian mixtures on dask arrays and dataframes: data beyond one machine.

``GaussianMixture.fit`` accepts a ``dask.array.Array`` (and a dask DataFrame of
numeric columns) directly; this module is imported only then (``pip install
fastgmm[dask]``). The fit is the in-memory fit with the passes over X done by dask:

* every pass (an EM iteration, a Lloyd step, the worst rows for re-seeding) maps the
  same block function that in-memory fits run (``fastgmm._passes``) over the row
  chunks on the workers, and sums the per-chunk statistics (``K * d**2`` numbers
  for full covariances, whatever the chunk's rows) by a tree reduction of fan-in
  ``SPLIT_EVERY``; the M-step runs on the client, and the next parameters travel to
  the workers as one small graph key;
* initialization never pulls the data to the client: a bounded uniform sample of rows
  (about 2**18) is clustered locally, then Lloyd passes over all the rows refine the
  centres as map-reduce, and the initial M-step is one more pass;
* ``predict``, ``predict_proba`` and ``score_samples`` return lazy dask arrays with
  the row chunks of X; ``score``, ``bic`` and ``aic`` are reductions.

Results are deterministic: the chunks and the reduction tree fix the order of every
sum, so the same data and chunks give bit-identical fits on any scheduler and any
number of workers, and a lost worker's statistics are recomputed identically. Within
a task the kernels use the task's share of the worker's cores (distributed workers
set ``OMP_NUM_THREADS=1`` by default: give each worker one thread per core). The data
are read once per pass: persist them (``X = X.persist()``) when they fit in the
cluster's memory.

>>> import dask.array as da, fastgmm                        # doctest: +SKIP
>>> X = da.from_zarr("points.zarr")                          # doctest: +SKIP
>>> gm = fastgmm.GaussianMixture(8, random_state=0).fit(X)   # doctest: +SKIP
>>> labels = gm.predict(X)        # a lazy dask array       # doctest: +SKIP
"""

import math
import os

import dask
import dask.array as da
import numpy as np

from ._openmp_helpers import effective_n_threads

__all__ = ["DaskSource"]

# Fan-in of the tree reductions of the per-chunk results.
SPLIT_EVERY = 8
_EMPTY = np.empty(0)


def _task_threads(requested):
    """OpenMP threads for a kernel inside a dask task: the task's share of its
    process's cores (a distributed worker runs ``nthreads`` tasks at once; the
    threaded scheduler its pool), never more than ``requested``."""
    try:
        from distributed import get_worker
        slots = get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        slots = dask.config.get("num_workers", None) or os.cpu_count() or 1
    return max(1, min(requested, effective_n_threads(None) // max(1, slots)))


def _task_problem(problem):
    """The problem (a namedtuple of ``_passes``) with the task's thread count, and its
    arrays aligned (deserialized in a worker, they can start at any byte)."""
    fields = getattr(problem, "_fields", ())
    arrays = {name: _aligned(getattr(problem, name)) for name in fields
              if isinstance(getattr(problem, name), np.ndarray)
              and not getattr(problem, name).flags.aligned}
    if arrays:
        problem = problem._replace(**arrays)
    estep = getattr(problem, "estep", None)
    if estep is not None:                       # WorstRowsProblem, SafeEStepProblem
        return problem._replace(estep=_task_problem(estep))
    if hasattr(problem, "n_threads"):
        return problem._replace(n_threads=_task_threads(problem.n_threads))
    return problem


def _aligned(array, dtype=None):
    """``array`` as an aligned C-contiguous ndarray, copied only when it is not one: a
    chunk deserialized from another process can start at any byte, and the kernels
    read whole float64/float32 values."""
    return np.require(array, dtype=dtype, requirements=("C", "A"))


def _task_weights(w):
    return _EMPTY if w is None else _aligned(w, np.float64)


def _reduce_task(X, w, function, problem, size):
    out = np.empty(size)
    function(_aligned(X), _task_weights(w), _task_problem(problem), out, None)
    return out


def _merge_task(X, w, start, function, problem):
    return function(_aligned(X), _task_weights(w), start, _task_problem(problem))


def _tree(parts, combine):
    """Combine delayed results pairwise-by-groups of SPLIT_EVERY, in order."""
    while len(parts) > 1:
        parts = [dask.delayed(_fold)(combine, *parts[i:i + SPLIT_EVERY])
                 for i in range(0, len(parts), SPLIT_EVERY)]
    return parts[0]


def _fold(combine, *items):
    result = items[0]
    for item in items[1:]:
        result = combine(result, item)
    return result


def _add(a, b):
    return a + b


def _validation_task(X, w, has_weights):
    """[rows, non-finite values, positive-weight rows, weight sum, largest weight,
    negative weights, non-finite weights, column minima (d), column maxima (d)]."""
    X = np.asarray(X)
    d = X.shape[1]
    out = np.zeros(7 + 2 * d)
    out[0] = X.shape[0]
    if X.shape[0] == 0:
        out[7:7 + d], out[7 + d:] = np.inf, -np.inf
        return out
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(X)
        out[1] = X.size - np.count_nonzero(finite)
        out[7:7 + d] = np.where(finite, X, np.inf).min(axis=0)
        out[7 + d:] = np.where(finite, X, -np.inf).max(axis=0)
    if has_weights:
        w = np.asarray(w, dtype=np.float64)
        good = np.isfinite(w)
        out[6] = w.size - np.count_nonzero(good)
        w = np.where(good, w, 0.0)
        out[2] = np.count_nonzero(w > 0)
        out[3] = w.sum()
        out[4] = w.max()
        out[5] = np.count_nonzero(w < 0)
    else:
        out[2] = out[3] = X.shape[0]
        out[4] = 1.0
    return out


def _as_dask_rows(X, name):
    """A 2-D float32/float64 dask array with one chunk across the columns."""
    if hasattr(X, "to_dask_array"):            # a dask DataFrame
        kinds = {getattr(t, "kind", "O") for t in X.dtypes}
        if not kinds <= set("biuf"):
            raise TypeError(
                f"{name} is a dask DataFrame with non-numeric columns (dtypes "
                f"{sorted(map(str, set(X.dtypes)))}); select the numeric columns, e.g. "
                f"{name}[numeric_columns], or convert them first.")
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(f"{name} is a {type(X).__name__}; pass a dask array or a dask "
                        "DataFrame of numeric columns.")
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D dask array of shape (n_samples, n_features), "
                         f"got {X.ndim}-D; reshape it, e.g. {name}.reshape(-1, 1) for one "
                         "feature.")
    kind = X.dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{name} has dtype {X.dtype}; pass numbers (e.g. "
                        f"{name}.astype(float)).")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if any(math.isnan(c) for c in X.chunks[0]):
        X.compute_chunk_sizes()
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


class DaskSource:
    """The rows of a dask array (or DataFrame), in its row chunks.

    Implements the row-source interface of ``fastgmm._source`` (``reduce``,
    ``merge``, ``sample``, ``column_ranges``) with dask: every pass maps a block
    function over the chunks and combines the results with a tree reduction;
    ``lazy_map_rows`` gives predictions as lazy dask arrays.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame
    sample_weight : None, array-like or dask array of shape (n_samples,)
    n_components : int
    streams : _init.RestartStreams or None
        Unused (the sample is drawn per restart from the restart's stream).
    n_features : int or None
        Columns required (a fitted model's).
    name : str
    """

    in_memory = False

    def __init__(self, X, sample_weight=None, *, n_components=1, streams=None,
                 n_features=None, name="X"):
        X = _as_dask_rows(X, name)
        self.name = name
        self.n_samples, self.n_features = (int(s) for s in X.shape)
        if n_features is not None and self.n_features != n_features:
            raise ValueError(f"{name} has {self.n_features} features, but this "
                             f"GaussianMixture was fitted with {n_features} features; pass "
                             "data with the same columns.")
        if self.n_features == 0 or self.n_samples == 0:
            raise ValueError(f"{name} has shape {X.shape}; pass at least one row and one "
                             "column.")
        self.dtype = X.dtype
        self.weighted = sample_weight is not None
        w = None
        if self.weighted:
            if hasattr(sample_weight, "to_dask_array"):
                sample_weight = sample_weight.to_dask_array(lengths=True)
            w = (sample_weight if isinstance(sample_weight, da.Array)
                 else da.from_array(np.asarray(sample_weight), chunks=(X.chunks[0],)))
            if w.ndim != 1 or w.shape[0] != self.n_samples:
                raise ValueError(f"sample_weight must have shape ({self.n_samples},), got "
                                 f"{w.shape}; pass one weight per row.")
            w = w.astype(np.float64).rechunk((X.chunks[0],))
        self.X = X
        self._x_blocks = list(X.to_delayed().ravel())
        self._w_blocks = (list(w.to_delayed().ravel()) if w is not None
                          else [None] * len(self._x_blocks))
        self._starts = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(int)
        self._validate()
        if self.weighted:
            self._w = w * self._scale
            self._w_blocks = list(self._w.to_delayed().ravel())

    def _validate(self):
        """One pass: finite values, valid weights, column ranges, counts."""
        d = self.n_features
        parts = [dask.delayed(_validation_task)(x, w, self.weighted)
                 for x, w in zip(self._x_blocks, self._w_blocks)]
        blocks = np.stack(dask.compute(*parts))
        n_bad, n_negative, n_bad_weights = blocks[:, 1].sum(), blocks[:, 5].sum(), \
            blocks[:, 6].sum()
        if n_bad:
            raise ValueError(
                f"{self.name} contains {int(n_bad)} NaN or infinite value(s); remove or impute "
                f"them first (e.g. keep the rows where da.isfinite({self.name}).all(axis=1)).")
        if n_bad_weights or n_negative:
            raise ValueError(
                f"sample_weight contains {int(n_bad_weights)} NaN or infinite and "
                f"{int(n_negative)} negative value(s); pass finite, non-negative weights.")
        self.n_positive = int(blocks[:, 2].sum())
        largest = float(blocks[:, 4].max())
        if not largest > 0:
            raise ValueError("sample_weight is all zeros; give at least one row a positive "
                             "weight.")
        # As check_sample_weight: the largest weight into [1, 2) (exact).
        self._scale = math.ldexp(1.0, 1 - math.frexp(largest)[1]) if self.weighted else 1.0
        self.total_weight = float(blocks[:, 3].sum()) * self._scale
        self._low = blocks[:, 7:7 + d].min(axis=0)
        self._high = blocks[:, 7 + d:].max(axis=0)

    # ------------------------------------------------------------------ passes
    def reduce(self, function, problem, out, scratch=None):
        """``out = sum over chunks of function(X_b, w_b, problem)`` (tree order)."""
        key = dask.delayed(problem, pure=True)
        parts = [dask.delayed(_reduce_task, pure=True)(x, w, function, key, out.size)
                 for x, w in zip(self._x_blocks, self._w_blocks)]
        out[...] = dask.compute(_tree(parts, _add))[0]
        return out

    def merge(self, function, problem, combine):
        key = dask.delayed(problem, pure=True)
        parts = [dask.delayed(_merge_task, pure=True)(x, w, int(start), function, key)
                 for x, w, start in zip(self._x_blocks, self._w_blocks, self._starts)]
        return dask.compute(_tree(parts, combine))[0]

    def sample(self, size, rng):
        """A uniform sample of ``size`` rows (one per equal stratum), computed."""
        n = self.n_samples
        size = min(size, n)
        edges = np.arange(size + 1, dtype=np.int64) * n // size
        rows = edges[:-1] + (rng.random(size) * np.diff(edges)).astype(np.int64)
        if size == n:
            rows = np.arange(n)
        X = self.X[rows]
        w = self._w[rows] if self.weighted else None
        X, w = dask.compute(X, w)
        return _aligned(X), _task_weights(w)

    def column_ranges(self):
        return self._low, self._high

    def lazy_map_rows(self, function, problem, n_components, dtype, *, log_norm=False,
                      resp=False, labels=False):
        """The lazy form of ``map_rows`` for the E-step outputs.

        ``function(X_b, 0, problem, views)`` fills each chunk's (log_norm, resp,
        labels); returns them as lazy dask arrays with the row chunks of X (log_norm
        and resp of ``dtype``), each None when not asked for.
        """
        key = dask.delayed(problem, pure=True)

        def output(kind):
            if kind == "resp":
                return self.X.map_blocks(_rows_task, function, key, kind, n_components,
                                         dtype, dtype=dtype,
                                         chunks=(self.X.chunks[0], (n_components,)))
            return self.X.map_blocks(_rows_task, function, key, kind, n_components, dtype,
                                     drop_axis=1,
                                     dtype=np.intp if kind == "labels" else dtype)
        return (output("log_norm") if log_norm else None,
                output("resp") if resp else None,
                output("labels") if labels else None)


def _rows_task(X, function, problem, kind, n_components, dtype):
    """One chunk's ``kind`` output of ``function`` (see ``DaskSource.lazy_map_rows``)."""
    X = _aligned(X)
    n, K = X.shape[0], n_components
    outputs = [np.empty(n) if kind == "log_norm" else _EMPTY,
               np.empty((n, K)) if kind == "resp" else np.empty((0, K)),
               np.empty(n, dtype=np.intp) if kind == "labels" else np.empty(0, dtype=np.intp)]
    function(X, 0, _task_problem(problem), outputs)
    result = outputs[{"log_norm": 0, "resp": 1, "labels": 2}[kind]]
    return result if kind == "labels" else result.astype(dtype, copy=False)
