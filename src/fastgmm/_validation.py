"""Every check of user input, and its error message.

Messages name the argument, the value received and the fix. Nothing here ever
writes into a caller's array: conversions make new arrays, and arrays that are
already in the form the kernels need are passed through untouched (read-only and
memory-mapped arrays included).
"""

import collections.abc
import decimal
import math
import numbers
import os
import sys

import numpy as np

from ._exceptions import SklearnCounterpart

# scikit-learn's four names, then mclust's 14 models (Celeux & Govaert 1995): the
# first three letters say whether volume, shape and orientation are Equal across
# components or Vary (I: identity shape or axis-aligned orientation).
SKLEARN_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
MCLUST_MODELS = ("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE",
                 "EEV", "VEV", "EVV", "VVV")
COVARIANCE_TYPES = SKLEARN_COVARIANCE_TYPES + MCLUST_MODELS
# How a covariance type is stored and seen by the E-step kernels: the axis-aligned
# mclust models as "diag" (K, d), the others as "full" (K, d, d).
_STORAGE = {**{name: name for name in SKLEARN_COVARIANCE_TYPES},
            **{name: "diag" if name.endswith("I") else "full" for name in MCLUST_MODELS}}


def covariance_storage(covariance_type):
    """The scikit-learn type whose arrays hold ``covariance_type``'s parameters:
    itself for the four scikit-learn names, "diag" for EII, VII, EEI, VEI, EVI and
    VVI, "full" for the other mclust models."""
    return _STORAGE[covariance_type]
INIT_METHODS = ("kmeans", "ward", "k-means++", "random", "random_from_data")
# EM forms sums of squared deviations (weighted over rows, summed over features) in
# float64. Data whose such sums would exceed 2**_MAX_LOG2_SQUARES (about 1e307, a
# factor 16 below overflow) cannot be fitted; data so small that the covariances
# would fall below 2**_MIN_LOG2_VARIANCE (about 1e-301) cannot be inverted.
_MAX_LOG2_SQUARES = 1020
_MIN_LOG2_VARIANCE = -1000
# Relative asymmetry accepted in user precision matrices (they are symmetrized).
_SYMMETRY_RTOL = 1e-6
# Beyond this, reg_covar alone makes the covariances' inverses underflow.
MAX_REG_COVAR = 1e300


class NotFittedError(SklearnCounterpart, ValueError, AttributeError):
    """Raised when a method that needs a fitted model is called before ``fit``.

    Subclasses both ``ValueError`` and ``AttributeError``, like scikit-learn's
    ``NotFittedError``, so existing ``except`` clauses keep working. In a process
    that has imported scikit-learn, it is also caught by
    ``except sklearn.exceptions.NotFittedError``.
    """

    _sklearn_counterpart = ("sklearn.exceptions", "NotFittedError")


class ReseedWarning(UserWarning):
    """A component collapsed during EM (its covariance stopped being positive
    definite, e.g. with ``reg_covar=0``) and was re-seeded elsewhere."""


class ConvergenceWarning(SklearnCounterpart, UserWarning):
    """EM stopped at ``max_iter`` before the lower bound changed by less than ``tol``.

    In a process that has imported scikit-learn, it is also filtered (and caught)
    as ``sklearn.exceptions.ConvergenceWarning``.
    """

    _sklearn_counterpart = ("sklearn.exceptions", "ConvergenceWarning")


class InvalidParameterError(SklearnCounterpart, ValueError, TypeError):
    """A hyper-parameter of ``GaussianMixture`` has a wrong type or value.

    Subclasses ``ValueError`` and ``TypeError``, like scikit-learn's
    ``InvalidParameterError``; in a process that has imported scikit-learn's
    parameter validation, it is also an instance of that class.
    """

    _sklearn_counterpart = ("sklearn.utils._param_validation", "InvalidParameterError")


def _type_name(value):
    return type(value).__name__


# ---------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------

def _as_numeric_array(value, name):
    """``np.asarray`` that refuses non-numeric data with a clear message."""
    if type(value) is np.ndarray:
        # A plain array (not a subclass) is none of the containers refused below.
        return _check_numeric_dtype(value, name)
    if value is None:
        raise TypeError(f"{name} must be an array-like of numbers, got None.")
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array-like of numbers, got a {_type_name(value)}.")
    sparse = sys.modules.get("scipy.sparse")   # loaded if value can be a sparse matrix
    if sparse is not None and sparse.issparse(value):
        raise TypeError(
            f"{name} is a scipy sparse {_type_name(value)}; Gaussian mixtures need dense "
            f"data. Pass {name}.toarray() (or a dense numpy array)."
        )
    if isinstance(value, np.ma.MaskedArray) and np.ma.is_masked(value):
        raise ValueError(
            f"{name} is a masked array with {int(np.ma.count_masked(value))} masked "
            f"value(s); masks are not supported. Drop or impute the masked entries and "
            f"pass a plain array, e.g. {name}.filled(fill_value) or "
            f"{name}[~{name}.mask.any(axis=1)].data."
        )
    if isinstance(value, collections.abc.Mapping):
        raise TypeError(
            f"{name} is a {_type_name(value)} (of columns?); pass a 2-D array, e.g. "
            f"np.column_stack(list({name}.values())), or pandas.DataFrame({name})."
        )
    if isinstance(value, collections.abc.Iterator):
        raise TypeError(
            f"{name} is a one-shot iterator ({_type_name(value)}); pass an array, e.g. "
            f"np.asarray(list({name}))."
        )
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested sequences, odd objects
        raise ValueError(
            f"{name} could not be converted to a numeric array ({exc}); pass a "
            "rectangular array of numbers, e.g. a 2-D numpy array."
        ) from None
    return _check_numeric_dtype(array, name)


def _check_numeric_dtype(array, name):
    """``array`` (an ndarray) if its dtype holds numbers (object arrays converted to
    float64), else a TypeError or ValueError that says how to convert it."""
    kind = array.dtype.kind
    if array.dtype.names is not None:
        raise TypeError(
            f"{name} has a structured dtype with fields {list(array.dtype.names)}; pass "
            "a plain 2-D array of numbers, e.g. numpy.lib.recfunctions."
            f"structured_to_unstructured({name}, dtype=float)."
        )
    if kind == "V":
        raise TypeError(
            f"{name} must contain numbers, got dtype {array.dtype} (raw bytes); decode "
            f"it into a numeric array first, e.g. {name}.view(np.float64) if the bytes "
            "hold float64 values."
        )
    if kind in "US":
        raise TypeError(
            f"{name} must contain numbers, got dtype {array.dtype} (text or raw bytes); "
            f"convert it first, e.g. {name}.astype(float)."
        )
    if kind == "c":
        if "weight" in name:
            raise TypeError(
                f"{name} is complex ({array.dtype}); weights are real non-negative "
                f"numbers. Pass e.g. np.abs({name}) or np.real({name})."
            )
        raise TypeError(
            f"{name} is complex ({array.dtype}); Gaussian mixtures need real data. "
            f"Pass e.g. np.real({name}) or stack real and imaginary parts as features."
        )
    if kind in "mM":
        raise TypeError(
            f"{name} has dtype {array.dtype} (dates/times); convert it to numbers first."
        )
    if kind == "O":
        try:
            converted = array.astype(np.float64)
        except (ValueError, TypeError):
            raise TypeError(
                f"{name} has dtype object and holds values that are not numbers (e.g. "
                f"strings, None or pd.NA); pass a numeric array, e.g. "
                f"np.asarray({name}, dtype=float) after removing or imputing them."
            ) from None
        if _count_nonfinite(converted):
            # astype turns None into NaN: say what the caller passed (by identity: ==
            # on arbitrary objects, e.g. pd.NA, need not return a bool).
            n_none = sum(1 for item in array.flat if item is None)
            if n_none:
                raise ValueError(
                    f"{name} holds {n_none} None value(s) (missing values); drop or "
                    f"impute them and pass a numeric array, e.g. np.asarray({name}, "
                    "dtype=float) after replacing each None by a number."
                )
        array = converted
    return array


# Chunked passes over the data keep their temporaries to about this many elements
# (2 MiB of float64), whatever the number of features.
_CHUNK_ELEMENTS = 1 << 18


def row_chunks(n_samples, n_features):
    """Row ranges ``(start, stop)`` covering ``n_samples`` rows in order, each of at
    most about ``_CHUNK_ELEMENTS`` elements (at most 32768 rows, at least one)."""
    step = max(1, min(1 << 15, _CHUNK_ELEMENTS // max(n_features, 1)))
    return [(start, min(start + step, n_samples)) for start in range(0, n_samples, step)]


def _count_nonfinite(array):
    """Number of NaN/inf entries, without an array-sized temporary in the common case."""
    if array.size <= _CHUNK_ELEMENTS:      # small: the mask costs less than errstate
        finite = np.isfinite(array)
        return 0 if finite.all() else int(array.size - np.count_nonzero(finite))
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(array, axis=None, dtype=np.float64)):
            return 0
    flat_rows = array.reshape(array.shape[0], -1) if array.ndim > 1 else array.reshape(-1, 1)
    blocks = (flat_rows[start:stop] for start, stop in row_chunks(*flat_rows.shape))
    return sum(int(block.size - np.count_nonzero(np.isfinite(block))) for block in blocks)


def column_ranges(X):
    """Smallest and largest value of every column of X, as float64 arrays (n_features,).

    Row chunk by row chunk, each transposed into a small contiguous copy first: numpy's
    reductions along axis 0 of a narrow C-ordered array run one short inner loop per
    row, which is tens of times slower (42 ms against 0.9 ms for 1,000,000 x 2).
    """
    chunks = row_chunks(*X.shape)
    if len(chunks) == 1:           # one chunk (and at least one row): no running bounds
        columns = np.ascontiguousarray(X.T)
        return (columns.min(axis=1).astype(np.float64, copy=False),
                columns.max(axis=1).astype(np.float64, copy=False))
    low = np.full(X.shape[1], np.inf)
    high = np.full(X.shape[1], -np.inf)
    for start, stop in chunks:
        columns = np.ascontiguousarray(X[start:stop].T)
        np.minimum(low, columns.min(axis=1), out=low)
        np.maximum(high, columns.max(axis=1), out=high)
    return low, high


def check_data(X, *, name="X", min_samples=1, n_features=None, ranges=False):
    """Validate a data matrix and return it in the kernels' form.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    name : str
        Argument name for error messages.
    min_samples : int
        Fewest rows accepted.
    n_features : int or None
        If given, the number of columns required (the fitted model's).
    ranges : bool
        Also return the columns' smallest and largest values (``column_ranges``),
        which then serve as the finiteness check too: one pass over X for both
        (a fit needs the ranges for ``check_fit_scale``).

    Returns
    -------
    ndarray of shape (n_samples, n_features), float32 or float64, C-contiguous
        ``X`` itself (or a view of it) when it is already an aligned C-contiguous
        native-endian float32/float64 array (read-only and memory-mapped arrays
        included: ``np.memmap`` and ``np.load(..., mmap_mode="r")`` are not copied),
        otherwise a converted copy. Other numeric dtypes (integers, bool, float16,
        longdouble, non-native byte order) become float64.
    (low, high) : tuple of ndarray of shape (n_features,), float64
        With ``ranges`` only: ``column_ranges`` of the returned array.
    """
    array = _as_numeric_array(X, name)
    if array.ndim != 2:
        if array.ndim == 1:
            hint = (f" Reshape it with {name}.reshape(-1, 1) if it holds one feature, "
                    f"or {name}.reshape(1, -1) if it holds one sample.")
        elif array.ndim == 0:
            hint = f" Got the scalar {array!r}; pass a 2-D array (n_samples, n_features)."
        else:
            hint = (f" Got shape {array.shape}; flatten the trailing axes, e.g. "
                    f"{name}.reshape(len({name}), -1).")
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features), "
                         f"got a {array.ndim}-D array.{hint}")
    n_samples, n_cols = array.shape
    if n_cols == 0:
        raise ValueError(f"{name} has 0 features (shape {array.shape}); pass data with at "
                         "least one column.")
    if n_samples < min_samples:
        raise ValueError(f"{name} has {n_samples} sample(s) (shape {array.shape}); pass at "
                         f"least {min_samples} row{'' if min_samples == 1 else 's'}.")
    if n_features is not None and n_cols != n_features:
        raise ValueError(f"{name} has {n_cols} features, but this GaussianMixture was fitted "
                         f"with {n_features} features; pass data with the same columns.")
    converted_from = None
    if array.dtype not in (np.float32, np.float64):
        converted_from = array.dtype
        with np.errstate(over="ignore", invalid="ignore"):  # reported just below
            array = array.astype(np.float64)
    if not (array.flags.c_contiguous and array.flags.aligned):
        array = np.require(array, requirements=["C", "A"])
    if ranges:
        # A NaN or an infinity makes its column's minimum or maximum non-finite (NaN
        # propagates through np.minimum and np.maximum).
        low, high = column_ranges(array)
        finite = all(map(math.isfinite, low.tolist())) and all(map(math.isfinite,
                                                                  high.tolist()))
        n_bad = 0 if finite else _count_nonfinite(array)
    else:
        n_bad = _count_nonfinite(array)
    if n_bad:
        how = (f" (counted after conversion from {converted_from} to float64, whose "
               "range is +-1.8e308)" if converted_from is not None else "")
        raise ValueError(
            f"{name} contains {n_bad} NaN or infinite value(s){how}; remove or impute "
            f"them first (e.g. keep the rows where np.isfinite({name}).all(axis=1))."
        )
    return (array, (low, high)) if ranges else array


def check_sample_weight(sample_weight, n_samples, *, name="sample_weight", rescale=True):
    """Validate sample weights and bring them to a safe common scale.

    Mixture fits and weighted scores are invariant to multiplying every weight by
    the same factor. The weights are therefore multiplied by the power of two that
    puts the largest one in [1, 2): exact in floating point, it keeps sums of weights
    from overflowing (weights near 1e308) and keeps the responsibility guard of the
    M-step negligible (weights near 1e-300). Weights equal up to a power of two thus
    give bit-identical fits.

    Parameters
    ----------
    sample_weight : None, positive number, or array-like of shape (n_samples,)
        Non-negative finite weights, at least one positive.
    n_samples : int
        Rows of the data the weights belong to.
    name : str
        Argument name for error messages.
    rescale : bool
        Whether to rescale (False: the weights of one chunk of a stream, which the
        stream rescales once it has seen them all; an all-zero chunk is accepted).

    Returns
    -------
    ndarray of shape (n_samples,) float64, or of shape (0,) meaning unit weights.
        Always a new array (the caller's is never modified).
    """
    if sample_weight is None:
        return np.empty(0, dtype=np.float64)
    scalar = sample_weight
    if isinstance(scalar, np.ndarray) and scalar.ndim == 0:
        scalar = scalar[()]                # a 0-d array is a scalar, as in scikit-learn
    if isinstance(scalar, (bool, np.bool_)):
        raise TypeError(f"{name}={sample_weight!r} is a bool; pass None for unit weights, "
                        "a positive number (the same for every row) or an array of "
                        "non-negative weights, one per row.")
    if isinstance(scalar, numbers.Complex) and not isinstance(scalar, numbers.Real):
        raise TypeError(f"{name}={sample_weight!r} is complex; weights are real "
                        f"non-negative numbers. Pass e.g. abs({name}).")
    if isinstance(scalar, numbers.Real):
        # Broadcast to every row, like scikit-learn's _check_sample_weight: a common
        # factor, which gives the same fit as unit weights.
        value = float(scalar)
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name}={sample_weight!r} must be a positive finite number "
                             "(the same weight for every row) or an array of "
                             "non-negative weights.")
        return np.empty(0, dtype=np.float64)
    weights = _as_numeric_array(sample_weight, name)
    if weights.ndim != 1:
        raise ValueError(f"{name} must be 1-D of length n_samples={n_samples}, got shape "
                         f"{weights.shape}; pass one weight per row"
                         + (f", e.g. np.ravel({name})." if weights.size == n_samples
                            else "."))
    if weights.shape[0] != n_samples:
        raise ValueError(f"{name} has length {weights.shape[0]} but X has {n_samples} rows; "
                         "pass one weight per row.")
    with np.errstate(over="ignore", invalid="ignore"):  # reported just below
        weights = np.asarray(weights, dtype=np.float64)
    n_bad = _count_nonfinite(weights)
    if n_bad:
        raise ValueError(f"{name} contains {n_bad} NaN or infinite value(s); pass finite, "
                         "non-negative weights (0 excludes a row).")
    if weights.size == 0:       # an empty block of a stream
        return weights if weights is not sample_weight else weights.copy()
    smallest = float(weights.min())
    if smallest < 0:      # counted only here: no n_samples-sized mask otherwise
        n_negative = int(np.count_nonzero(weights < 0))
        raise ValueError(f"{name} contains {n_negative} negative value(s) (min "
                         f"{smallest!r}); pass non-negative weights (0 excludes a row).")
    largest = float(weights.max())
    if not rescale:
        return weights if weights is not sample_weight else weights.copy()
    if not largest > 0:
        raise ValueError(f"{name} is all zeros; give at least one row a positive weight.")
    # 2**(1 - e) with largest = m * 2**e, m in [0.5, 1): the largest weight becomes 2m.
    shift = 1 - math.frexp(largest)[1]
    if shift < 0:
        # Scaling down: positive weights that would become subnormal (or zero) would
        # lose their digits or vanish. Refuse that dynamic range plainly.
        with np.errstate(under="ignore"):
            smallest_positive = float(np.min(weights, where=weights > 0, initial=largest))
        if math.ldexp(smallest_positive, shift) < np.finfo(np.float64).tiny:
            raise ValueError(
                f"{name} spans too wide a range for float64: from "
                f"{smallest_positive:.3g} to {largest:.3g} (a ratio beyond about "
                "2**1022); once normalized the smallest weights would round to zero. "
                "Set the negligible weights to 0 (e.g. "
                f"{name}[{name} < {name}.max() * 1e-300] = 0 on a copy) or rescale them."
            )
    return np.ldexp(weights, shift)


def _physical_memory():
    """Bytes of physical memory (None where the platform does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_output_memory(n_bytes, name, value, what):
    """Refuse an output of ``n_bytes`` bytes that this machine's memory cannot hold.

    Raises
    ------
    ValueError
        Naming ``name=value``, what it allocates and the memory it would need.
    """
    memory = _physical_memory()
    if memory is not None and n_bytes > memory:
        raise ValueError(
            f"{name}={value} would need {n_bytes / 2 ** 30:.3g} GiB for {what}, more "
            f"than this machine's {memory / 2 ** 30:.3g} GiB of memory; pass a smaller "
            f"{name}."
        )


# ---------------------------------------------------------------------------------
# Hyper-parameters
# ---------------------------------------------------------------------------------

def check_int(value, name, *, low, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} of type {_type_name(value)}.")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an int {bound}, got {value!r}.")
    return int(value)


def check_real(value, name, *, low, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type "
                        f"{_type_name(value)}.")
    value = float(value)
    if not np.isfinite(value) or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high:g}]"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}.")
    return value


def check_choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; "
                         f"got {value!r}.")
    return value


def check_random_state_param(random_state):
    if random_state is None or isinstance(random_state, (np.random.RandomState,
                                                         np.random.Generator)):
        return
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError("random_state must be None, an int, a numpy RandomState or a numpy "
                        f"Generator; got {random_state!r} of type {_type_name(random_state)}.")
    if not 0 <= random_state < 2 ** 32:
        raise ValueError(f"random_state must be in [0, 2**32 - 1] when an int, got "
                         f"{random_state!r}.")


# ---------------------------------------------------------------------------------
# User-supplied initial parameters
# ---------------------------------------------------------------------------------

def _check_init_array(value, name, shape):
    array = _as_numeric_array(value, name)
    if array.dtype == np.float64:
        array = array.copy(order="K")       # as astype would: nothing to overflow
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # reported just below
            array = array.astype(np.float64, copy=True)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (from n_components, n_features "
                         f"and covariance_type), got {array.shape}; pass an array of "
                         f"shape {shape} or None.")
    n_bad = _count_nonfinite(array) if array.size else 0
    if n_bad:
        raise ValueError(f"{name} contains {n_bad} NaN or infinite value(s) (as float64); "
                         "pass finite values or None.")
    return array


def check_weights_init(weights, n_components):
    """Mixture weights: shape (K,), in [0, 1], summing to 1."""
    weights = _check_init_array(weights, "weights_init", (n_components,))
    if np.any(weights < 0) or np.any(weights > 1):
        raise ValueError(f"weights_init must lie in [0, 1], got min {weights.min():.6g} and "
                         f"max {weights.max():.6g}.")
    total = weights.sum()
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"weights_init must sum to 1, got sum(weights_init) = {total:.8g}; "
                         "divide by the sum to normalize them.")
    return weights


def check_means_init(means, n_components, n_features):
    return _check_init_array(means, "means_init", (n_components, n_features))


def covariance_shape(covariance_type, n_components, n_features):
    """Shape of ``covariances_`` (and of the precisions) for a covariance type."""
    covariance_type = covariance_storage(covariance_type)
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


def check_precisions_init(precisions, covariance_type, n_components, n_features):
    """Precision matrices/vectors: right shape, symmetric, positive definite, and
    with inverses (the covariances) representable in float64."""
    shape = covariance_shape(covariance_type, n_components, n_features)
    precisions = _check_init_array(precisions, "precisions_init", shape)
    if covariance_storage(covariance_type) in ("diag", "spherical"):
        if np.any(precisions <= 0):
            raise ValueError(f"precisions_init must be positive for covariance_type="
                             f"{covariance_type!r}; got min {precisions.min():.6g}. Pass "
                             "inverse variances (1 / variance), all > 0.")
        _check_precision_range(precisions, "precisions_init")
        return precisions
    stack = precisions.reshape(-1, n_features, n_features)
    # Inverses of ill-conditioned covariances (np.linalg.inv(gm.covariances_)) are
    # symmetric only to about cond * eps: accept that, and symmetrize at the end.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        difference = np.abs(stack - np.swapaxes(stack, 1, 2)).max(axis=(1, 2))
        # An all-zero matrix is symmetric (0 / 0 is not asymmetry): the positive
        # definiteness check below reports it.
        largest = np.maximum(np.abs(stack).max(axis=(1, 2)), np.finfo(float).tiny)
        asymmetry = np.where(difference > 0, difference / largest, 0.0)
    asymmetric = ~(asymmetry <= _SYMMETRY_RTOL)
    if asymmetric.any():
        k = int(np.flatnonzero(asymmetric)[0])
        where = "" if covariance_type == "tied" else f"[{k}]"
        raise ValueError(f"precisions_init{where} is not symmetric (max |P - P.T| is "
                         f"{asymmetry[k]:.2g} of max |P|); pass symmetric precision "
                         "matrices (e.g. (P + P.T) / 2).")
    try:
        lower = np.linalg.cholesky(stack)
    except np.linalg.LinAlgError:
        for k, matrix in enumerate(stack):   # find the culprit (error path only)
            try:
                np.linalg.cholesky(matrix)
            except np.linalg.LinAlgError:
                where = "" if covariance_type == "tied" else f"[{k}]"
                raise ValueError(f"precisions_init{where} is not positive definite; pass "
                                 "symmetric positive definite precision matrices (inverse "
                                 "covariances).") from None
    # The pivots of every matrix at once; the first matrix out of range (if any) is
    # then checked alone, for its message.
    pivots = np.diagonal(lower, axis1=1, axis2=2) ** 2
    if not _surely_in_precision_range(pivots):
        out_of_range = ~_in_precision_range(pivots)
        if out_of_range.any():
            k = int(np.flatnonzero(out_of_range)[0])
            where = "" if covariance_type == "tied" else f"[{k}]"
            _check_precision_range(pivots[k], f"precisions_init{where}")
    return 0.5 * (precisions + np.swapaxes(precisions, -1, -2))


# Values in [2**(_MIN_LOG2_VARIANCE + 1), 2**(-_MIN_LOG2_VARIANCE - 1)] pass the log2 test
# of ``_check_precision_range`` however log2 rounds: no logarithms needed.
_SURELY_LOW = 2.0 ** (_MIN_LOG2_VARIANCE + 1)
_SURELY_HIGH = 2.0 ** (-_MIN_LOG2_VARIANCE - 1)


def _surely_in_precision_range(values):
    """Whether every value lies well inside the range ``_check_precision_range``
    accepts (False also for NaN: then the exact test decides)."""
    return float(values.min()) >= _SURELY_LOW and float(values.max()) <= _SURELY_HIGH


def _in_precision_range(pivots):
    """Whether each row of ``pivots`` (m, d) lies in the range ``_check_precision_range``
    accepts: shape (m,)."""
    with np.errstate(divide="ignore"):
        log2 = np.log2(pivots)
    return ((log2.min(axis=1) >= _MIN_LOG2_VARIANCE)
            & (log2.max(axis=1) <= -_MIN_LOG2_VARIANCE))


def _check_precision_range(pivots, name):
    """Precisions (or Cholesky pivots of them) whose inverses fit in float64."""
    if _surely_in_precision_range(pivots):
        return
    with np.errstate(divide="ignore"):
        log2 = np.log2(pivots)
    if log2.min() < _MIN_LOG2_VARIANCE or log2.max() > -_MIN_LOG2_VARIANCE:
        raise ValueError(
            f"{name} holds precisions from {pivots.min():.3g} to {pivots.max():.3g}; "
            f"values outside [2**{_MIN_LOG2_VARIANCE}, 2**{-_MIN_LOG2_VARIANCE}] have "
            "covariances (their inverses) that float64 cannot represent. Pass precisions "
            "on the scale of 1 / variance of the data, or rescale X."
        )


# ---------------------------------------------------------------------------------
# The scale of a fit
# ---------------------------------------------------------------------------------

def _log2(value):
    return math.log2(value) if value > 0 else -math.inf


def _twice(value):
    """``2 * value`` as text, also where the product overflows float64."""
    if math.isfinite(2 * value):
        return f"{2 * value:.3g}"
    return f"{2 * decimal.Decimal(value):.3g}"


def _max_precision(precisions, covariance_type):
    """An upper bound of the largest eigenvalue of any precision in ``precisions``."""
    if covariance_type == "full":
        return float(np.trace(precisions, axis1=1, axis2=2).max())
    if covariance_type == "tied":
        return float(np.trace(precisions))
    return float(precisions.max())


def check_fit_scale(source, reg_covar, *, covariance_type="full", means_init=None,
                    precisions_init=None):
    """Refuse a fit that float64 cannot carry out, before it starts.

    EM accumulates weighted sums of squared deviations over rows and features; the
    initialization also forms squared norms of rows. These must stay below
    ``2**_MAX_LOG2_SQUARES``. Conversely, when every column spans so little that
    the covariances (plus ``reg_covar``) fall below ``2**_MIN_LOG2_VARIANCE``, their
    inverses overflow.

    Parameters
    ----------
    source : row source (``_source``)
        The validated rows: their shape, column ranges and ``total_weight`` (the sum
        of the normalized sample weights, or n_samples).
    reg_covar : float
    covariance_type : {"full", "tied", "diag", "spherical"}
    means_init : ndarray of shape (n_components, n_features) or None
    precisions_init : ndarray or None
        Validated initial parameters; they widen the range the distances span.

    Raises
    ------
    ValueError
        Naming ``X``, ``means_init`` or ``precisions_init`` and how to rescale.
    """
    n_samples, n_features = source.n_samples, source.n_features
    total_weight = source.total_weight
    low, high = source.column_ranges()
    # Ranges are computed as (high/2 - low/2) * 2 in log space: no overflow.
    half_range = float(np.max(0.5 * high - 0.5 * low))
    magnitude = float(max(np.max(np.abs(low)), np.max(np.abs(high))))
    log2_rows = _log2(total_weight) + _log2(n_features)
    if (log2_rows + 2 * (_log2(half_range) + 1) > _MAX_LOG2_SQUARES
            or _log2(n_features) + 2 * _log2(magnitude) > _MAX_LOG2_SQUARES):
        raise ValueError(
            f"X is too large for float64: its values reach {magnitude:.3g} in magnitude "
            f"(largest column range {_twice(half_range)}), so the sums of squares EM "
            f"accumulates over {n_samples} rows and {n_features} features would "
            "overflow. Rescale X, e.g. subtract the column means and divide by the "
            "standard deviations (sklearn.preprocessing.StandardScaler)."
        )
    if reg_covar + half_range ** 2 < 2.0 ** _MIN_LOG2_VARIANCE and half_range == 0:
        raise ValueError(
            f"X is constant (every column holds a single value), so with reg_covar="
            f"{reg_covar!r} every covariance is zero and cannot be inverted: set "
            "reg_covar > 0 (e.g. the default 1e-6), or fit data that vary."
        )
    if reg_covar + half_range ** 2 < 2.0 ** _MIN_LOG2_VARIANCE:
        raise ValueError(
            f"X is too small for float64: every column spans at most {2 * half_range:.3g}, "
            f"so with reg_covar={reg_covar!r} the covariances would be below "
            f"2**{_MIN_LOG2_VARIANCE} and their inverses overflow. Rescale X (e.g. "
            "divide by the standard deviations) or set reg_covar > 0."
        )
    if means_init is not None:
        low = np.minimum(low, means_init.min(axis=0))
        high = np.maximum(high, means_init.max(axis=0))
        half_range = float(np.max(0.5 * high - 0.5 * low))
        if log2_rows + 2 * (_log2(half_range) + 1) > _MAX_LOG2_SQUARES:
            raise ValueError(
                f"means_init lies too far from X for float64: together they span "
                f"{_twice(half_range)}, and the squared distances EM sums over "
                f"{n_samples} rows would overflow. Pass initial means within the range "
                "of X (or None)."
            )
    if precisions_init is not None:
        largest = _max_precision(precisions_init, covariance_type)
        if (_log2(largest) + _log2(n_features) + 2 * (_log2(half_range) + 1)
                > _MAX_LOG2_SQUARES):
            raise ValueError(
                f"precisions_init is too large for the range of X: precisions up to "
                f"{largest:.3g} times the squares of distances up to {_twice(half_range)} "
                "overflow float64 (no point would have a finite density). Pass "
                "precisions on the scale of 1 / variance of X (or None)."
            )


# ---------------------------------------------------------------------------------
# Feature names (scikit-learn's ``feature_names_in_`` rules)
# ---------------------------------------------------------------------------------

def _column_names(X):
    """The column names of a table-like ``X`` as a list, or None: pyarrow tables and
    record batches (``column_names``), pandas and polars data frames (``columns``),
    other data frames through the interchange protocol (``__dataframe__``). Read by
    duck typing: no data-frame library is imported."""
    if isinstance(X, np.ndarray) or not hasattr(X, "shape"):
        return None
    names = getattr(X, "column_names", None)          # pyarrow Table / RecordBatch
    if isinstance(names, (list, tuple)):
        return list(names)
    columns = getattr(X, "columns", None)              # pandas, polars
    if columns is not None and not callable(columns):
        names = list(columns)
        if all(isinstance(name, (str, numbers.Number)) or np.isscalar(name)
               for name in names):
            return names
    interchange = getattr(X, "__dataframe__", None)
    if callable(interchange):
        try:
            return list(interchange().column_names())
        except Exception:   # a protocol object that cannot describe itself: no names
            return None
    return None


def feature_names_of(X):
    """``feature_names_in_`` of data ``X``: its column names when they are all
    strings, else None (no names, or names that are all non-strings).

    Raises
    ------
    TypeError
        When the column names mix strings and non-strings (as scikit-learn does).
    """
    names = _column_names(X)
    if not names:
        return None
    types = sorted({type(name).__qualname__ for name in names})
    if len(types) > 1 and "str" in types:
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {types} as feature name / column name types. If you "
            "want feature names to be stored and validated, you must convert them all "
            "to strings, by using X.columns = X.columns.astype(str) for example. "
            "Otherwise you can remove feature / column names from your input data, or "
            "convert them all to a non-string data type.")
    if types == ["str"]:
        return np.asarray(names, dtype=object)
    return None


class ComplexDataError(ValueError, TypeError):
    """Complex data: a ValueError as in scikit-learn, and a TypeError (fastgmm)."""


def check_sklearn_conventions(X, *, name="X", n_features=None):
    """The checks scikit-learn's estimator checks expect, with their wording, for
    arrays (and array-likes with ``shape``) before ``check_data`` sees them.

    Returns ``X``. A numpy array of dtype object is test-converted to float64 here,
    so that an error carries numpy's own message; ``check_data`` converts it (and
    counts its None values).
    """
    shape = getattr(X, "shape", None)
    if shape is None:
        return X
    dtype = getattr(X, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.names is not None:
        return X                    # structured: check_data says how to unpack it
    if isinstance(dtype, np.dtype) and dtype.kind == "c":
        raise ComplexDataError(
            f"Complex data not supported: {name} is {dtype}; Gaussian mixtures need real "
            f"data. Pass e.g. np.real({name}) or stack real and imaginary parts as "
            "features.")
    if len(shape) == 1:
        raise ValueError(
            f"Expected a 2-D array, got a 1-D array instead ({name} of shape {shape}). "
            f"Reshape your data either using {name}.reshape(-1, 1) if your data has a "
            f"single feature or {name}.reshape(1, -1) if it contains a single sample.")
    if len(shape) == 2 and shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(shape)}) while a minimum of 1 "
            f"is required: {name} has 0 features; pass data with at least one column.")
    if (len(shape) == 2 and n_features is not None and isinstance(shape[1], numbers.Integral)
            and shape[1] != n_features):
        raise ValueError(
            f"{name} has {shape[1]} features, but GaussianMixture is expecting "
            f"{n_features} features as input; pass data with the columns of the "
            "training data.")
    if isinstance(X, np.ndarray) and dtype.kind == "O":
        try:
            X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} has dtype object and holds values that are not numbers ({exc}); "
                f"pass a numeric array, e.g. np.asarray({name}, dtype=float) after "
                "removing or imputing them.") from None
    return X
