"""Every check of user input, and its error message.

Messages name the argument, the value received and the fix. Nothing here ever
writes into a caller's array: conversions make new arrays, and arrays that are
already in the form the kernels need are passed through untouched (read-only and
memory-mapped arrays included).
"""

import numbers

import numpy as np

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")
_FINITE_CHECK_ROWS = 1 << 16


class NotFittedError(ValueError, AttributeError):
    """Raised when a method that needs a fitted model is called before ``fit``.

    Subclasses both ``ValueError`` and ``AttributeError``, like scikit-learn's
    ``NotFittedError``, so existing ``except`` clauses keep working.
    """


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the lower bound changed by less than ``tol``."""


def _type_name(value):
    return type(value).__name__


# ---------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------

def _as_numeric_array(value, name):
    """``np.asarray`` that refuses non-numeric data with a clear message."""
    if value is None:
        raise TypeError(f"{name} must be an array-like of numbers, got None.")
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array-like of numbers, got a {_type_name(value)}.")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested sequences, odd objects
        raise ValueError(
            f"{name} could not be converted to a numeric array ({exc}); pass a "
            "rectangular array of numbers, e.g. a 2-D numpy array."
        ) from None
    kind = array.dtype.kind
    if kind in "USV":
        raise TypeError(
            f"{name} must contain numbers, got dtype {array.dtype} (text or raw bytes); "
            f"convert it first, e.g. {name}.astype(float)."
        )
    if kind == "c":
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
            array = array.astype(np.float64)
        except (ValueError, TypeError):
            raise TypeError(
                f"{name} has dtype object and holds values that are not numbers; "
                f"pass a numeric array, e.g. np.asarray({name}, dtype=float)."
            ) from None
    return array


def _count_nonfinite(array):
    """Number of NaN/inf entries, without an array-sized temporary in the common case."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(array, axis=None, dtype=np.float64)):
            return 0
    flat_rows = array.reshape(array.shape[0], -1) if array.ndim > 1 else array.reshape(-1, 1)
    count = 0
    for start in range(0, flat_rows.shape[0], _FINITE_CHECK_ROWS):
        block = flat_rows[start:start + _FINITE_CHECK_ROWS]
        count += int(block.size - np.count_nonzero(np.isfinite(block)))
    return count


def check_data(X, *, name="X", min_samples=1, n_features=None):
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

    Returns
    -------
    ndarray of shape (n_samples, n_features), float32 or float64, C-contiguous
        ``X`` itself when it is already a C-contiguous float32/float64 array
        (read-only and memory-mapped arrays included), otherwise a converted copy.
        Other numeric dtypes (integers, bool, float16, longdouble) become float64.
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
        raise ValueError(f"{name} has 0 features (shape {array.shape}); at least one "
                         "column is required.")
    if n_samples < min_samples:
        raise ValueError(f"{name} has {n_samples} sample(s) (shape {array.shape}); at least "
                         f"{min_samples} {'is' if min_samples == 1 else 'are'} required.")
    if n_features is not None and n_cols != n_features:
        raise ValueError(f"{name} has {n_cols} features, but this GaussianMixture was fitted "
                         f"with {n_features} features; pass data with the same columns.")
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
    n_bad = _count_nonfinite(array)
    if n_bad:
        raise ValueError(
            f"{name} contains {n_bad} NaN or infinite value(s); remove or impute them "
            f"first (e.g. rows where np.isfinite({name}).all(axis=1) is True)."
        )
    return array


def check_sample_weight(sample_weight, n_samples, *, name="sample_weight"):
    """Validate sample weights.

    Returns
    -------
    ndarray of shape (n_samples,) float64, or of shape (0,) meaning unit weights.
    """
    if sample_weight is None:
        return np.empty(0, dtype=np.float64)
    if isinstance(sample_weight, numbers.Number) and not isinstance(sample_weight, bool):
        value = float(sample_weight)
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name}={sample_weight!r} must be a positive finite number "
                             "or an array of non-negative weights.")
        return np.full(n_samples, value, dtype=np.float64)
    weights = _as_numeric_array(sample_weight, name)
    if weights.ndim != 1:
        raise ValueError(f"{name} must be 1-D of length n_samples={n_samples}, got shape "
                         f"{weights.shape}; pass e.g. np.ravel({name}).")
    if weights.shape[0] != n_samples:
        raise ValueError(f"{name} has length {weights.shape[0]} but X has {n_samples} rows; "
                         "pass one weight per row.")
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    n_bad = _count_nonfinite(weights)
    if n_bad:
        raise ValueError(f"{name} contains {n_bad} NaN or infinite value(s); weights must "
                         "be finite and non-negative.")
    if np.any(weights < 0):
        raise ValueError(f"{name} contains {int(np.sum(weights < 0))} negative value(s) "
                         f"(min {weights.min()!r}); weights must be non-negative.")
    if not np.any(weights > 0):
        raise ValueError(f"{name} is all zeros; at least one row must have positive weight.")
    return weights


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


def check_real(value, name, *, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type "
                        f"{_type_name(value)}.")
    value = float(value)
    if not np.isfinite(value) or value < low:
        raise ValueError(f"{name} must be a finite number >= {low}, got {value!r}.")
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
    array = _as_numeric_array(value, name).astype(np.float64, copy=True)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}.")
    n_bad = _count_nonfinite(array) if array.size else 0
    if n_bad:
        raise ValueError(f"{name} contains {n_bad} NaN or infinite value(s).")
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


def precisions_init_shape(covariance_type, n_components, n_features):
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


def check_precisions_init(precisions, covariance_type, n_components, n_features):
    """Precision matrices/vectors: right shape, symmetric, positive definite."""
    shape = precisions_init_shape(covariance_type, n_components, n_features)
    precisions = _check_init_array(precisions, "precisions_init", shape)
    if covariance_type in ("diag", "spherical"):
        if np.any(precisions <= 0):
            raise ValueError(f"precisions_init must be positive for covariance_type="
                             f"{covariance_type!r}; got min {precisions.min():.6g}.")
        return precisions
    stack = precisions.reshape(-1, n_features, n_features)
    scale = np.abs(stack).max(axis=(1, 2))
    asymmetric = np.abs(stack - np.swapaxes(stack, 1, 2)).max(axis=(1, 2)) > (
        1e-10 * scale + 1e-300)
    if asymmetric.any():
        k = int(np.flatnonzero(asymmetric)[0])
        where = "" if covariance_type == "tied" else f"[{k}]"
        raise ValueError(f"precisions_init{where} is not symmetric; pass symmetric "
                         "precision matrices (e.g. (P + P.T) / 2).")
    try:
        np.linalg.cholesky(stack)
    except np.linalg.LinAlgError:
        for k, matrix in enumerate(stack):   # find the culprit (error path only)
            try:
                np.linalg.cholesky(matrix)
            except np.linalg.LinAlgError:
                where = "" if covariance_type == "tied" else f"[{k}]"
                raise ValueError(f"precisions_init{where} is not positive definite; every "
                                 "precision matrix must be symmetric positive "
                                 "definite.") from None
    return precisions
