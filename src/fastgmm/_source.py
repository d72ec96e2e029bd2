"""The rows of a data set, in blocks: the one interface every pass over X goes through.

A fit, a prediction or an initialization reads X in *passes*: the EM statistics of
an iteration, a Lloyd step of k-means, the rows the model explains worst, the
predictions. Each pass is written once, as a *block function* of ``_passes`` that
turns one block of rows (and its sample weights) into a result, and a *row source*
runs it over its blocks:

* ``reduce(function, problem, out)``: the sum of the blocks' result vectors, in a
  fixed order (EM and k-means statistics, moments);
* ``merge(function, problem, combine)``: blocks' results combined by a function
  (the worst rows: per-block candidates, merged);
* ``map_rows(function, problem, outputs)``: per-row outputs (predictions) written
  block by block into the caller's arrays.

Sources:

* ``ArraySource``: a numpy array, in memory or memory-mapped (``np.memmap``,
  ``np.load(..., mmap_mode="r")``), cut into fixed row blocks of about 64 MiB that
  are views of it: nothing is copied. The blocks depend only on the shape of the
  problem, so an array and a memory map of the same data give bit-identical fits.
* ``ChunkSource``: a callable that returns an iterator of row chunks, e.g. read
  from files of any format; one pass over the chunks per pass over X. The first
  pass validates every chunk and draws a bounded uniform sample of rows.
* ``fastgmm.dask.DaskSource``: a dask array; each pass maps the block function over
  the chunks on the workers and reduces the results with a tree reduction.

A source is *in memory* when k-means may keep per-row state (labels, 8 to 24 bytes a
row) over all of it: plain arrays. Memory maps, chunk sources and dask arrays are
streamed: their initialization clusters a bounded sample, then refines the centres
with Lloyd passes over all the rows (``_init``).
"""

import collections.abc
import math
import mmap

import numpy as np

from ._validation import check_data, check_sample_weight, column_ranges

# An array is cut into blocks of about this many bytes (whole multiples of the
# kernels' partition unit), so that long passes return to Python between blocks
# (Ctrl-C) and a memory-mapped file is read in large sequential pieces.
BLOCK_BYTES = 1 << 26
# The kernels' partition unit: CHUNK_SIZE rows x MAX_BLOCKS (``_partition.pxd``).
_ROW_UNIT = 256 * 64
# A streamed source's initialization sample: at most this many bytes of rows ...
SAMPLE_BYTES = 1 << 26
# ... and rows, but at least this many per component.
SAMPLE_ROWS = 1 << 18
SAMPLE_ROWS_PER_COMPONENT = 1024

_EMPTY = np.empty(0)


def block_rows(n_features, itemsize, n_stats=0):
    """Rows per block of an ``ArraySource``: about ``BLOCK_BYTES`` of rows, and enough
    that summing a block's statistics (``n_stats`` doubles per kernel block, at most
    64 kernel blocks) costs little next to reading its rows; a multiple of the
    kernels' partition unit."""
    row_bytes = max(1, n_features * itemsize)
    wanted = max(BLOCK_BYTES, 16 * 64 * 8 * n_stats) // row_bytes
    return max(_ROW_UNIT, -(-wanted // _ROW_UNIT) * _ROW_UNIT)


def sample_size(n_samples, n_features, n_components):
    """Rows of a streamed source's initialization sample."""
    by_bytes = SAMPLE_BYTES // max(1, 8 * n_features)
    wanted = max(SAMPLE_ROWS_PER_COMPONENT * n_components, min(SAMPLE_ROWS, by_bytes))
    return int(min(n_samples, wanted))


def is_memory_mapped(X):
    """Whether ``X`` (an ndarray) views a memory-mapped file."""
    if isinstance(X, np.memmap):
        return True
    base = X.base
    while base is not None:
        if isinstance(base, (mmap.mmap, np.memmap)):
            return True
        base = getattr(base, "base", None)
    return False


class ArraySource:
    """Rows of a validated array (in memory or memory-mapped), in fixed blocks.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C-contiguous
        Validated by ``check_data``; never copied or modified.
    sample_weight : ndarray of shape (n_samples,) or (0,) for unit weights
        Validated by ``check_sample_weight``.
    streamed : bool or None
        Whether initialization streams (a bounded sample and passes) instead of keeping
        per-row state; None: True for memory-mapped arrays.
    column_ranges : (low, high) or None
        The columns' smallest and largest values, if already known (``as_source``).

    Attributes
    ----------
    n_samples, n_features : int
    dtype : numpy dtype (float32 or float64)
    total_weight : float
        Sum of the sample weights (``n_samples`` for unit weights).
    in_memory : bool
        Whether k-means may keep per-row state over all rows.
    """

    def __init__(self, X, sample_weight=_EMPTY, *, streamed=None, column_ranges=None):
        self.X = X
        self._column_ranges = column_ranges
        self.sample_weight = sample_weight
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        self.weighted = sample_weight.size > 0
        self.total_weight = float(sample_weight.sum() if self.weighted else self.n_samples)
        self.in_memory = not (is_memory_mapped(X) if streamed is None else streamed)
        self._ranges = {}

    @property
    def n_positive(self):
        """Rows with a positive weight."""
        return (int(np.count_nonzero(self.sample_weight)) if self.weighted
                else self.n_samples)

    # ------------------------------------------------------------------ blocks
    def ranges(self, n_stats=0):
        """Row ranges ``(start, stop)`` of the blocks, in order (fixed by the shape)."""
        key = n_stats
        if key not in self._ranges:
            step = block_rows(self.n_features, self.X.itemsize, n_stats)
            n = self.n_samples
            self._ranges[key] = ([(0, n)] if n <= step else
                                 [(a, min(a + step, n)) for a in range(0, n, step)])
        return self._ranges[key]

    def max_block_rows(self, n_stats=0):
        return max(stop - start for start, stop in self.ranges(n_stats))

    def _block(self, start, stop):
        X = self.X if (start, stop) == (0, self.n_samples) else self.X[start:stop]
        w = self.sample_weight[start:stop] if self.weighted else _EMPTY
        return X, w

    def reduce(self, function, problem, out, scratch=None):
        """``out = sum_b function(X_b, w_b, problem)``, blocks in order.

        ``function(X, w, problem, out, scratch)`` writes a block's float64 result
        vector into ``out`` (``scratch``: reusable buffers, may be None).
        """
        ranges = self.ranges(out.size)
        if len(ranges) == 1:
            function(self.X, self.sample_weight, problem, out, scratch)
            return out
        part = np.empty_like(out)
        for index, (start, stop) in enumerate(ranges):
            X, w = self._block(start, stop)
            function(X, w, problem, out if index == 0 else part, scratch)
            if index:
                out += part
        return out

    def merge(self, function, problem, combine):
        """``combine`` of the blocks' results ``function(X_b, w_b, start_b, problem)``,
        folded in block order."""
        result = None
        for start, stop in self.ranges():
            X, w = self._block(start, stop)
            part = function(X, w, start, problem)
            result = part if result is None else combine(result, part)
        return result

    def map_rows(self, function, problem, outputs):
        """Per-row outputs: ``function(X_b, start_b, problem, views)`` writes the rows
        of block b into ``views`` (the blocks' slices of ``outputs``; empty outputs
        stay empty). Returns the list of the blocks' return values."""
        results = []
        for start, stop in self.ranges():
            X, _ = self._block(start, stop)
            views = [out[start:stop] if out.shape[0] else out for out in outputs]
            results.append(function(X, start, problem, views))
        return results

    # --------------------------------------------------------- initialization
    def sample(self, size, rng):
        """A uniform sample of about ``size`` rows and their weights (in memory).

        Drawn in runs of consecutive rows (about one page of a memory-mapped file
        each), one run at a random offset in each of ``size / run`` equal strata, so
        that a memory map is read in few pages.

        Returns
        -------
        X : ndarray of shape (m, n_features)
        sample_weight : ndarray of shape (m,) or (0,)
        """
        n = self.n_samples
        if size >= n:
            return np.ascontiguousarray(self.X), self.sample_weight
        run = max(1, min(size // 64, 4096 // max(1, self.n_features * self.X.itemsize)))
        n_runs = -(-size // run)
        # Run i starts at a uniform offset in stratum i of n_runs equal strata (runs
        # never overlap: each stays inside its own stratum, which holds >= run rows).
        edges = np.arange(n_runs + 1, dtype=np.int64) * n // n_runs
        room = np.maximum(edges[1:] - edges[:-1] - run, 0) + 1
        starts = edges[:-1] + (rng.random(n_runs) * room).astype(np.int64)
        X = np.concatenate([self.X[a:a + run] for a in starts.tolist()])
        w = (np.concatenate([self.sample_weight[a:a + run] for a in starts.tolist()])
             if self.weighted else _EMPTY)
        return np.ascontiguousarray(X), w

    def column_ranges(self):
        """Smallest and largest value of every column, float64 (n_features,) each
        (computed once: given by ``as_source`` or on the first call)."""
        if self._column_ranges is None:
            self._column_ranges = column_ranges(self.X)
        return self._column_ranges


def _chunk_arrays(item, index):
    """A chunk as yielded: an array of rows, or a ``(rows, weights)`` pair."""
    if isinstance(item, tuple):
        if len(item) != 2:
            raise ValueError(
                f"chunk {index} of X is a tuple of {len(item)} items; a chunk is an array "
                "of rows or a (rows, sample_weight) pair.")
        return item
    return item, None


class ChunkSource:
    """Rows yielded in chunks by a callable, one pass at a time.

    Parameters
    ----------
    chunks : callable
        ``chunks()`` returns a new iterator over the row chunks,
        each a 2-D array-like of shape (m, n_features), or a ``(rows, weights)`` pair;
        every pass must yield the same rows in the same order.
    sample_weight : array-like of shape (n_samples,) or None
        Weights of all the rows, in order (or give them in the chunks).
    sample_rows : int or callable
        Rows of the uniform sample drawn during the first pass, or a function of
        ``n_features`` giving them.
    rng : numpy.random.Generator or None
        Generator of that sample.
    name : str
        Argument name for error messages.

    The first pass (at construction) validates every chunk (numbers, finite, the
    same number of columns), counts the rows, sums the weights, finds the column
    ranges and draws the sample by keeping the rows with the smallest random keys.
    The source is float32 when every chunk is float32, else float64.
    """

    def __init__(self, chunks, sample_weight=None, *, sample_rows=0, rng=None, name="X",
                 n_features=None):
        self._chunks = chunks
        self.name = name
        self.in_memory = False
        self.n_features = n_features
        n_samples = max_rows = n_positive = 0
        total = largest = 0.0
        low = high = None
        all_float32 = True
        chunk_weights = None          # whether the chunks yield weights (first chunk decides)
        reservoir = _Reservoir(sample_rows, rng)
        for index, item in enumerate(self._iterate()):
            rows, weights = _chunk_arrays(item, index)
            X = check_data(rows, name=f"chunk {index} of {name}", min_samples=0,
                           n_features=self.n_features)
            if X.shape[0] == 0:
                continue
            self.n_features = X.shape[1]
            if callable(reservoir.size) and rng is not None:   # depends on the row width
                reservoir.size = reservoir.size(self.n_features)
            if chunk_weights is None:
                chunk_weights = weights is not None
            elif chunk_weights != (weights is not None):
                raise ValueError(
                    f"chunk {index} of {name} {'has' if weights is not None else 'has no'} "
                    "sample weights, unlike the chunks before it; yield (rows, weights) "
                    "pairs from every chunk or from none.")
            w = _EMPTY
            if weights is not None:
                if np.ndim(weights) == 0:
                    weights = np.full(X.shape[0], weights, dtype=np.float64)
                w = check_sample_weight(weights, X.shape[0], rescale=False,
                                        name=f"the weights of chunk {index} of {name}")
                largest = max(largest, float(w.max()))
                total += float(w.sum())
                n_positive += int(np.count_nonzero(w))
            else:
                n_positive += X.shape[0]
            all_float32 &= X.dtype == np.float32
            max_rows = max(max_rows, X.shape[0])
            chunk_low, chunk_high = column_ranges(X)
            low = chunk_low if low is None else np.minimum(low, chunk_low)
            high = chunk_high if high is None else np.maximum(high, chunk_high)
            reservoir.add(X, w, n_samples)
            n_samples += X.shape[0]
        if n_samples == 0:
            raise ValueError(
                f"{name} yielded no rows; the chunks must hold at least one row of numbers.")
        self.n_samples = n_samples
        self.dtype = np.dtype(np.float32 if all_float32 else np.float64)
        self._max_rows = max_rows
        self._low, self._high = low, high
        self._sample_weight_all = None
        if sample_weight is not None:
            if chunk_weights:
                raise ValueError(
                    f"sample_weight was given and the chunks of {name} also yield weights; "
                    "give the weights one way only.")
            self._sample_weight_all = check_sample_weight(sample_weight, n_samples)
            self._scale = 1.0                 # check_sample_weight has rescaled them
            total = float(self._sample_weight_all.sum())
            n_positive = int(np.count_nonzero(self._sample_weight_all))
        elif chunk_weights:
            if not largest > 0:
                raise ValueError(f"the sample weights of {name} are all zeros; give at least "
                                 "one row a positive weight.")
            # Rescale as check_sample_weight does: the largest weight into [1, 2).
            self._scale = math.ldexp(1.0, 1 - math.frexp(largest)[1])
            total *= self._scale
        else:
            self._scale = 1.0
            total = float(n_samples)
        self.weighted = bool(chunk_weights) or sample_weight is not None
        self.total_weight = total
        self.n_positive = n_positive
        self._sample = None
        if rng is not None:
            X_sample, w_sample, positions = reservoir.result()
            if self._sample_weight_all is not None:
                w_sample = self._sample_weight_all[positions]
            elif self.weighted:
                w_sample = w_sample * self._scale
            else:
                w_sample = _EMPTY
            self._sample = (np.ascontiguousarray(X_sample, dtype=self.dtype), w_sample)

    def _iterate(self):
        iterator = self._chunks()
        try:
            return iter(iterator)
        except TypeError:
            raise TypeError(
                f"{self.name}() returned {type(iterator).__name__!r}, not an iterator of row "
                "chunks; the callable must return e.g. a generator of 2-D arrays.") from None

    def _blocks(self):
        """(X, w) of every chunk in order, converted as the first pass decided."""
        start = 0
        for index, item in enumerate(self._iterate()):
            rows, weights = _chunk_arrays(item, index)
            X = np.asarray(rows)
            if X.ndim != 2 or (X.shape[0] and X.shape[1] != self.n_features):
                X = check_data(rows, name=f"chunk {index} of {self.name}", min_samples=0,
                               n_features=self.n_features)
            m = X.shape[0]
            if m == 0:
                continue
            if X.dtype != self.dtype or not (X.flags.c_contiguous and X.flags.aligned):
                X = np.ascontiguousarray(X, dtype=self.dtype)
            if start + m > self.n_samples:
                self._changed(start + m)
            if self._sample_weight_all is not None:
                w = self._sample_weight_all[start:start + m] * self._scale
            elif weights is not None:
                w = np.asarray(weights, dtype=np.float64) * self._scale
                if w.shape != (m,):
                    self._changed_weights(index)
            else:
                w = _EMPTY
            yield X, w, start
            start += m
        if start != self.n_samples:
            self._changed(start)

    def _changed(self, rows):
        raise ValueError(
            f"{self.name} yielded {rows} rows in this pass but {self.n_samples} in the first; "
            "every pass must yield the same rows in the same order.")

    def _changed_weights(self, index):
        raise ValueError(
            f"the weights of chunk {index} of {self.name} do not match its rows in this "
            "pass; every pass must yield the same rows and weights.")

    def max_block_rows(self, n_stats=0):
        return self._max_rows

    def reduce(self, function, problem, out, scratch=None):
        part = np.empty_like(out)
        first = True
        for X, w, _ in self._blocks():
            function(X, w, problem, out if first else part, scratch)
            if not first:
                out += part
            first = False
        return out

    def merge(self, function, problem, combine):
        result = None
        for X, w, start in self._blocks():
            part = function(X, w, start, problem)
            result = part if result is None else combine(result, part)
        return result

    def map_rows(self, function, problem, outputs):
        results = []
        for X, _, start in self._blocks():
            stop = start + X.shape[0]
            views = [out[start:stop] if out.shape[0] else out for out in outputs]
            results.append(function(X, start, problem, views))
        return results

    def sample(self, size, rng):
        """The sample drawn in the first pass (its size was fixed then; ``rng`` is not
        used: the restarts share it)."""
        if self._sample is None:
            raise RuntimeError("this ChunkSource was made without a sample")
        return self._sample

    def column_ranges(self):
        return self._low, self._high


class _Reservoir:
    """A uniform sample of ``size`` rows of a stream of chunks: the rows with the
    smallest random keys (one uniform key per row), kept in row order."""

    def __init__(self, size, rng):
        self.size = size
        self.rng = rng
        self.keys = np.empty(0)
        self.positions = np.empty(0, dtype=np.intp)
        self.rows = None
        self.weights = np.empty(0)

    def add(self, X, w, offset):
        """Offer the rows of a chunk (``offset``: the index of its first row)."""
        if self.rng is None or self.size <= 0:
            return
        keys = self.rng.random(X.shape[0])
        take = (np.sort(np.argpartition(keys, self.size - 1)[:self.size])
                if keys.size > self.size else np.arange(keys.size))
        self.keys = np.concatenate([self.keys, keys[take]])
        self.positions = np.concatenate([self.positions, take + offset])
        rows = X[take].astype(np.float64)
        self.rows = rows if self.rows is None else np.concatenate([self.rows, rows])
        self.weights = np.concatenate([self.weights, w[take] if w.size else
                                       np.ones(take.size)])
        if self.keys.size >= 2 * self.size:
            self._prune()

    def _prune(self):
        if self.keys.size > self.size:
            keep = np.sort(np.argpartition(self.keys, self.size - 1)[:self.size])
            self.keys, self.positions = self.keys[keep], self.positions[keep]
            self.rows, self.weights = self.rows[keep], self.weights[keep]

    def result(self):
        """(rows (m, d) float64, weights (m,), positions (m,)), in row order."""
        self._prune()
        return self.rows, self.weights, self.positions


def _is_dask_collection(X):
    module = type(X).__module__ or ""
    return module.split(".")[0] == "dask" and hasattr(X, "__dask_graph__")


def as_source(X, sample_weight=None, *, n_components=1, streams=None, n_features=None,
              name="X", ranges=False):
    """The row source of ``X`` (validated).

    Parameters
    ----------
    X : array-like, np.memmap, dask array or dataframe, or callable
        A callable returns an iterator of row chunks (``ChunkSource``); a dask collection becomes a ``fastgmm.dask.DaskSource``;
        anything else is validated by ``check_data`` into an ``ArraySource``.
    sample_weight : array-like of shape (n_samples,) or None
    n_components : int
        Sets the size of a streamed source's initialization sample.
    streams : _init.RestartStreams or None
        Where a chunk stream's sample draws from (None: no sample, e.g. prediction).
    n_features : int or None
        Columns required (a fitted model's).
    name : str
    ranges : bool
        A fit: an array's column ranges (``check_fit_scale``) are found with its
        finiteness check, in the same pass, and kept by the ``ArraySource``.

    Returns
    -------
    ArraySource, ChunkSource or DaskSource
    """
    if _is_dask_collection(X):
        from .dask import DaskSource
        return DaskSource(X, sample_weight, n_components=n_components, streams=streams,
                          n_features=n_features, name=name)
    if isinstance(X, collections.abc.Iterator):
        raise TypeError(
            f"{name} is a one-shot iterator ({type(X).__name__}), which can be read only "
            f"once. For rows that fit in memory pass an array, e.g. "
            f"np.asarray(list({name})); for data read in chunks pass a callable that "
            "returns a new iterator of 2-D row chunks each time it is called (EM reads "
            "the rows once per iteration).")
    if callable(X) and not hasattr(X, "__array__") and not hasattr(X, "shape"):
        def rows(width):
            return sample_size(np.inf, width, n_components)
        return ChunkSource(X, sample_weight, sample_rows=rows,
                           rng=None if streams is None else streams.sample_stream(),
                           name=name, n_features=n_features)
    if not ranges:
        X = check_data(X, name=name, n_features=n_features)
        return ArraySource(X, check_sample_weight(sample_weight, X.shape[0]))
    X, low_high = check_data(X, name=name, n_features=n_features, ranges=True)
    return ArraySource(X, check_sample_weight(sample_weight, X.shape[0]),
                       column_ranges=low_high)
