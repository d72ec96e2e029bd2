"""Saving and loading fitted models as ``.npz`` files, without pickle.

A model file is a zip archive of ``.npy`` arrays (``numpy.savez``, uncompressed):

===================== =============================================================
entry                 content
===================== =============================================================
``fastgmm_format``    the text ``"fastgmm.GaussianMixture"``
``format_version``    int64 scalar, ``FORMAT_VERSION``; a file from a newer format is
                      refused with a request to upgrade
``fastgmm_version``   the text of ``fastgmm.__version__`` that wrote it (information)
``hyper_parameters``  JSON text of the scalar hyper-parameters (``random_state`` as
                      None, an int, or the full state of its RandomState/Generator)
``weights_init``,     float64 arrays, present when the hyper-parameter is not None
``means_init``,
``precisions_init``
``weights_`` ...      the fitted attributes: float64 arrays ``weights_``, ``means_``,
                      ``covariances_``, ``precisions_``, ``precisions_cholesky_``,
                      ``lower_bounds_``; scalars ``lower_bound_`` (float64),
                      ``converged_`` (bool), ``n_iter_``, ``n_features_in_`` (int64);
                      ``feature_names_in_`` (text, only when fitted on named
                      columns)
``fit_metadata``      JSON text (format version 2, optional): when and how the fit
                      ran (``fitted_at`` UTC time, ``fit_seconds``,
                      ``fastgmm_version``, ``n_samples``, ``dtype``, ``n_threads``);
                      read back into the loaded model's ``_fit_metadata``
===================== =============================================================

Files of format version 1 (no ``fit_metadata``) load as before.

Loading reads the archive with ``zipfile`` and ``numpy.lib.format`` with
``allow_pickle=False``. It reads every member's header first, then the small
entries (texts and scalars, each at most ``_MAX_TEXT_BYTES``); these fix the shape
and dtype of every array (from ``n_components``, ``covariance_type``,
``n_features_in_`` and ``n_iter_``), and each array's header must declare exactly
that, with a total size below half the machine's memory, before any array data are
read (a small deflated file cannot inflate into a huge array). Then every value is
checked: finite numbers, weights on the simplex, positive definite covariances,
upper triangular Cholesky factors equal (column by column, relative to each
column's own scale) to the factors recomputed from the covariances, and precisions
equal to the factors' products. Any failure is a ``ValueError``
that names the file and the entry. Nothing in a file is ever executed: there is no
pickle, and the only text parsed is JSON.
"""

import contextlib
import json
import os
import secrets
import struct
import zipfile
import zlib

import numpy as np

from ._model import GaussianMixture
from ._mstep import (DegenerateComponentsError, compute_precision_cholesky,
                     precisions_from_cholesky)
from ._validation import (COVARIANCE_TYPES, NotFittedError, _physical_memory,
                          covariance_shape, covariance_storage)

FORMAT_NAME = "fastgmm.GaussianMixture"
FORMAT_VERSION = 2        # 2: the optional fit_metadata entry
_MAX_ENTRIES = 64
# Largest text/scalar entry (the hyper-parameters' JSON with a generator state is a
# few KiB) and longest feature name accepted when loading.
_MAX_TEXT_BYTES = 1 << 20
_MAX_NAME_CHARACTERS = 1 << 12
# Relative agreement required between a stored precision Cholesky factor and the one
# recomputed from the stored covariances (per column of the factor).
_FACTOR_RTOL = 1e-7
_BIT_GENERATORS = {cls.__name__: cls for cls in (
    np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox,
    np.random.SFC64)}
_STATE_DTYPES = ("uint32", "uint64")
# Hyper-parameters stored in the JSON entry, with the type each is written as.
def _verbose_value(value):
    return value if isinstance(value, str) else int(value)   # "progress" or a level


_SCALAR_PARAMS = {
    "n_components": int, "covariance_type": str, "tol": float, "reg_covar": float,
    "max_iter": int, "n_init": int, "init_params": str, "warm_start": bool,
    "verbose": _verbose_value, "verbose_interval": int, "n_threads": int,
    "acceleration": str, "on_degenerate": str,
}
# Hyper-parameters added after format version 1 was first written, with the value a
# file without them stands for.
_LATER_PARAMS = {"acceleration": "none", "on_degenerate": "reseed"}
_INIT_ARRAYS = ("weights_init", "means_init", "precisions_init")
_HEADER = ("fastgmm_format", "format_version", "fastgmm_version", "hyper_parameters")
_FITTED_ARRAYS = ("weights_", "means_", "covariances_", "precisions_",
                  "precisions_cholesky_", "lower_bounds_")
# Fitted scalars and the kind _scalar checks them for (float64, bool, integer).
_FITTED_SCALARS = {"lower_bound_": "f", "converged_": "b", "n_iter_": "i",
                   "n_features_in_": "i"}


class _Invalid(Exception):
    """A check of the file's content failed (turned into a ValueError with the path)."""


# ---------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------

def _encode_state(value):
    """A bit generator state (nested dict of ints, floats, str, arrays) as JSON data."""
    if isinstance(value, dict):
        return {str(key): _encode_state(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return {"ndarray": str(value.dtype), "values": value.tolist()}
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def _encode_random_state(random_state):
    if isinstance(random_state, np.random.RandomState):
        return {"RandomState": _encode_state(random_state.get_state(legacy=False))}
    if isinstance(random_state, np.random.Generator):
        return {"Generator": _encode_state(random_state.bit_generator.state)}
    return None if random_state is None else int(random_state)


def _hyper_parameters_json(estimator):
    params = {}
    for name, kind in _SCALAR_PARAMS.items():
        value = getattr(estimator, name)
        params[name] = None if value is None else kind(value)
    params["random_state"] = _encode_random_state(estimator.random_state)
    return json.dumps(params, allow_nan=False, sort_keys=True)


def _entries(estimator):
    """Every array the file holds, validated hyper-parameters included."""
    # Fitted state consistent with the hyper-parameters (e.g. covariance_type not
    # changed since fit); ``save`` has already refused an unfitted estimator.
    estimator._check_fitted()
    # A file holds one model: the fitted attributes with the hyper-parameters that
    # describe them. n_components changed after fit (set_params) no longer does, and
    # is refused with the fix (like covariance_type, in _check_fitted).
    fitted_components = np.shape(estimator.means_)[0]
    if estimator.n_components != fitted_components:
        raise ValueError(
            f"n_components was changed to {estimator.n_components!r} after fitting, but "
            f"the fitted model has {fitted_components} components; set n_components="
            f"{fitted_components} again to save the fitted model, or call fit to refit "
            "it with the new value first.")
    # The hyper-parameters are checked as fit would check them: a file never holds
    # values that load would refuse. The arrays are stored as given (as float64).
    estimator._check_parameters(estimator.n_features_in_)
    entries = {
        "fastgmm_format": np.array(FORMAT_NAME),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "fastgmm_version": np.array(_package_version()),
        "hyper_parameters": np.array(_hyper_parameters_json(estimator)),
    }
    for name in _INIT_ARRAYS:
        if getattr(estimator, name) is not None:
            entries[name] = np.array(getattr(estimator, name), dtype=np.float64)
    for name in _FITTED_ARRAYS:
        entries[name] = np.asarray(getattr(estimator, name), dtype=np.float64)
    if estimator.means_.dtype == np.float32:
        # float32 public arrays: store the float64 parameters EM computed (kept beside
        # them), so that a loaded model predicts exactly as this one; load rounds the
        # public arrays to float32 again (fit_metadata records the dtype).
        kept = estimator._params()
        entries.update(weights_=kept.weights, means_=kept.means,
                       covariances_=kept.covariances,
                       precisions_cholesky_=kept.precisions_cholesky,
                       precisions_=precisions_from_cholesky(kept.precisions_cholesky,
                                                            estimator.covariance_type))
    entries["lower_bound_"] = np.array(estimator.lower_bound_, dtype=np.float64)
    entries["converged_"] = np.array(estimator.converged_, dtype=np.bool_)
    entries["n_iter_"] = np.array(estimator.n_iter_, dtype=np.int64)
    entries["n_features_in_"] = np.array(estimator.n_features_in_, dtype=np.int64)
    if hasattr(estimator, "feature_names_in_"):
        entries["feature_names_in_"] = np.asarray(estimator.feature_names_in_, dtype=str)
    metadata = getattr(estimator, "_fit_metadata", None)
    if metadata:
        entries["fit_metadata"] = np.array(json.dumps(metadata, allow_nan=False,
                                                      sort_keys=True))
    return entries


def _package_version():
    from . import __version__
    return __version__


def save(estimator, path):
    """Write a fitted GaussianMixture to ``path`` (see the module docstring).

    Parameters
    ----------
    estimator : GaussianMixture
        A fitted estimator.
    path : str, os.PathLike or writable binary file object
        Written exactly as given, no suffix appended. A path is written to a
        temporary file beside it that then replaces it atomically.

    Raises
    ------
    NotFittedError
        If ``estimator`` is not fitted.
    TypeError, ValueError
        For a ``path`` of the wrong type, hyper-parameters that fit would refuse, or
        ``n_components``/``covariance_type`` changed since the fit (the file would
        not describe the fitted model; set the fitted value again, or refit).
    OSError
        If the file cannot be written; the message names ``path`` (not the
        temporary file).
    """
    if not hasattr(estimator, "means_"):
        raise NotFittedError("This GaussianMixture instance is not fitted yet; call fit "
                             "before save (only fitted models are saved).")
    if isinstance(path, (str, bytes, os.PathLike)):
        entries = _entries(estimator)
        target = os.fsdecode(path)
        temporary = f"{target}.tmp-{secrets.token_hex(6)}"
        try:
            with open(temporary, "xb") as file:
                np.savez(file, **entries)
            os.replace(temporary, target)
        except BaseException as exc:
            if os.path.exists(temporary):
                os.remove(temporary)
            if isinstance(exc, OSError) and exc.errno is not None:
                # Name the path the caller passed, not the temporary file beside it.
                raise type(exc)(exc.errno, f"cannot save the model to {target!r}: "
                                f"{exc.strerror}") from None
            raise
    elif hasattr(path, "write"):
        np.savez(path, **_entries(estimator))
    else:
        raise TypeError(f"path must be a str, an os.PathLike or a writable binary file "
                        f"object, got {path!r} of type {type(path).__name__}; pass e.g. "
                        "'model.npz'.")


# ---------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------

def _read_header(member):
    """(shape, dtype) of an ``.npy`` member, read without its data."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise _Invalid(f"unsupported .npy format version {version}")
    return shape, dtype


def _declared_bytes(shape, dtype):
    return int(np.prod(shape, dtype=np.float64)) * dtype.itemsize


def _expected_entries(small):
    """``{entry: (shape, dtype kind, largest itemsize)}`` of the arrays a model file
    may hold, from its small entries (hyper-parameters, ``n_features_in_``,
    ``n_iter_``) alone."""
    _check_format(small)
    missing = [name for name in ("n_features_in_", "n_iter_") if name not in small]
    if missing:
        raise _Invalid(f"missing entries {missing}")
    params = json.loads(_text(small, "hyper_parameters"))
    names = set(_SCALAR_PARAMS) | {"random_state"}
    if not isinstance(params, dict) or set(params) != names:
        found = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise _Invalid(f"hyper_parameters must name exactly {sorted(names)}, got {found}")
    K, covariance_type = params.get("n_components"), params.get("covariance_type")
    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise _Invalid(f"n_components must be an int >= 1, got {K!r}")
    if covariance_type not in COVARIANCE_TYPES:
        raise _Invalid(f"covariance_type must be one of {COVARIANCE_TYPES}, got "
                       f"{covariance_type!r}")
    d = _scalar(small, "n_features_in_", _FITTED_SCALARS["n_features_in_"])
    n_iter = _scalar(small, "n_iter_", _FITTED_SCALARS["n_iter_"])
    if d < 1:
        raise _Invalid(f"n_features_in_={d} must be >= 1")
    if n_iter < 0:
        raise _Invalid(f"n_iter_={n_iter} must be >= 0")
    cov_shape = covariance_shape(covariance_type, K, d)
    expected = {name: ((K, d), "f", 8) for name in ("means_", "means_init")}
    expected.update({name: ((K,), "f", 8) for name in ("weights_", "weights_init")})
    expected.update({name: (cov_shape, "f", 8) for name in (
        "covariances_", "precisions_", "precisions_cholesky_", "precisions_init")})
    expected["lower_bounds_"] = ((n_iter,), "f", 8)
    expected["feature_names_in_"] = ((d,), "U", 4 * _MAX_NAME_CHARACTERS)
    return expected, (K, d, covariance_type, n_iter)


def _read_arrays(file):
    """Every array of the archive, each checked by its header before it is read.

    The small entries (texts and scalars) are read first; they fix the shape and
    dtype of every other entry, which are checked against their headers (and their
    total size against this machine's memory) before any of their data are read: a
    small file that would inflate to a huge array is refused without reading it.
    """
    with zipfile.ZipFile(file) as archive:
        members = archive.infolist()
        if len(members) > _MAX_ENTRIES:
            raise _Invalid(f"{len(members)} entries (a model has at most {_MAX_ENTRIES})")
        headers = {}
        for info in members:
            name = info.filename[:-4] if info.filename.endswith(".npy") else None
            if name is None or name in headers:
                raise _Invalid(f"unexpected archive member {info.filename!r}")
            with archive.open(info) as member:
                shape, dtype = _read_header(member)
            if dtype.hasobject:
                raise _Invalid(f"entry {name!r} holds Python objects (dtype {dtype}); model "
                               "files hold numbers and text only, never pickled objects")
            if _declared_bytes(shape, dtype) > info.file_size:
                raise _Invalid(f"entry {name!r} declares shape {shape} of {dtype}, more "
                               "data than the archive holds (truncated or tampered)")
            headers[name] = (info, shape, dtype)

        def read(name):
            with archive.open(headers[name][0]) as member:
                return np.lib.format.read_array(member, allow_pickle=False)

        arrays = {}
        for name in _HEADER + ("fit_metadata",) + tuple(_FITTED_SCALARS):
            if name in headers:
                _, shape, dtype = headers[name]
                if shape != () or dtype.itemsize > _MAX_TEXT_BYTES:
                    raise _Invalid(f"entry {name!r} must be a scalar of at most "
                                   f"{_MAX_TEXT_BYTES} bytes, its header declares shape "
                                   f"{shape} of {dtype}")
                arrays[name] = read(name)
        expected, (K, d, covariance_type, n_iter) = _expected_entries(arrays)
        total = 0
        for name, (_, shape, dtype) in headers.items():
            if name in arrays:
                continue
            if name not in expected:
                raise _Invalid(f"unexpected entry {name!r}")
            want_shape, kind, itemsize = expected[name]
            if shape != want_shape:
                raise _Invalid(
                    f"entry {name!r} declares shape {shape}, but n_components={K}, "
                    f"n_features_in_={d}, covariance_type={covariance_type!r} and "
                    f"n_iter_={n_iter} imply {want_shape} (tampered or corrupted file)")
            if dtype.kind != kind or dtype.itemsize > itemsize or (
                    kind == "f" and dtype.itemsize != itemsize):
                wanted = "float64" if kind == "f" else "text"
                raise _Invalid(f"entry {name!r} must be {wanted}, its header declares "
                               f"{dtype}")
            total += _declared_bytes(shape, dtype)
        memory = _physical_memory()
        if memory is not None and total > memory // 2:
            raise _Invalid(f"its arrays would take {total / 2 ** 30:.3g} GiB, more than "
                           f"half of this machine's {memory / 2 ** 30:.3g} GiB of memory")
        for name in headers:
            if name not in arrays:
                arrays[name] = read(name)
    return arrays


def _text(arrays, name):
    array = arrays[name]
    if array.dtype.kind != "U" or array.shape != ():
        raise _Invalid(f"entry {name!r} must be a text scalar, got {array.dtype} of shape "
                       f"{array.shape}")
    return str(array[()])


def _float_array(arrays, name, shape):
    array = arrays[name]
    if array.dtype.kind != "f" or array.dtype.itemsize != 8:
        raise _Invalid(f"entry {name!r} must be float64, got {array.dtype}")
    if array.shape != shape:
        raise _Invalid(f"entry {name!r} must have shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise _Invalid(f"entry {name!r} contains NaN or infinite values")
    return np.ascontiguousarray(array, dtype=np.float64)   # native byte order


def _scalar(arrays, name, kind):
    array = arrays[name]
    ok_dtype = {"f": array.dtype.kind == "f" and array.dtype.itemsize == 8,
                "b": array.dtype.kind == "b",
                "i": array.dtype.kind in "iu"}[kind]
    if not ok_dtype or array.shape != ():
        raise _Invalid(f"entry {name!r} must be a scalar of kind {kind!r}, got "
                       f"{array.dtype} of shape {array.shape}")
    return {"f": float, "b": bool, "i": int}[kind](array[()])


def _decode_state(value):
    if isinstance(value, dict):
        if set(value) == {"ndarray", "values"}:
            if value["ndarray"] not in _STATE_DTYPES or not isinstance(value["values"], list):
                raise _Invalid(f"random_state holds an array of dtype {value['ndarray']!r}")
            return np.array(value["values"], dtype=value["ndarray"])
        return {key: _decode_state(item) for key, item in value.items()}
    return value


def _decode_random_state(value):
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        raise _Invalid(f"random_state must be null, an int or a generator state, got "
                       f"{type(value).__name__}")
    (kind, state), = value.items()
    if not isinstance(state, dict):
        raise _Invalid(f"the {kind} state must be an object")
    state = _decode_state(state)
    name = state.get("bit_generator")
    if kind not in ("RandomState", "Generator") or name not in _BIT_GENERATORS:
        raise _Invalid(f"unknown random_state kind {kind!r} / bit generator {name!r}")
    try:   # numpy checks the state; what it raises for a bad one varies
        if kind == "RandomState":
            generator = np.random.RandomState()
            generator.set_state(state)
            return generator
        bit_generator = _BIT_GENERATORS[name]()
        bit_generator.state = state
        return np.random.Generator(bit_generator)
    except Exception as exc:
        raise _Invalid(f"random_state holds an invalid {kind} state ({exc!r})") from None


def _hyper_parameters(arrays):
    params = json.loads(_text(arrays, "hyper_parameters"))
    if isinstance(params, dict):
        for name, value in _LATER_PARAMS.items():
            params.setdefault(name, value)
    expected = set(_SCALAR_PARAMS) | {"random_state"}
    if not isinstance(params, dict) or set(params) != expected:
        found = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise _Invalid(f"hyper_parameters must name exactly {sorted(expected)}, got {found}")
    params["random_state"] = _decode_random_state(params["random_state"])
    for name in _INIT_ARRAYS:
        params[name] = arrays.get(name)
    return params


def _check_format(arrays):
    missing = [name for name in _HEADER if name not in arrays]
    if missing:
        raise _Invalid("not a fastgmm model file (no entries "
                       f"{', '.join(map(repr, missing))}); save models with "
                       "GaussianMixture.save")
    if _text(arrays, "fastgmm_format") != FORMAT_NAME:
        raise _Invalid(f"fastgmm_format is {_text(arrays, 'fastgmm_format')!r}, not "
                       f"{FORMAT_NAME!r}")
    version = _scalar(arrays, "format_version", "i")
    if version > FORMAT_VERSION:
        raise _Invalid(f"it has format version {version}, written by a newer fastgmm "
                       f"({_text(arrays, 'fastgmm_version')}); this fastgmm reads format "
                       f"versions up to {FORMAT_VERSION}: upgrade fastgmm to load it")
    if version < 1:
        raise _Invalid(f"format_version {version} is not a valid version")


def _check_matrices(covariances, precisions_cholesky, precisions, covariance_type):
    """Positive definite covariances, their precisions and triangular factors agree."""
    covariance_type = covariance_storage(covariance_type)
    if covariance_type in ("diag", "spherical"):
        if np.any(covariances <= 0) or np.any(precisions_cholesky <= 0):
            raise _Invalid("covariances_ and precisions_cholesky_ must be positive")
        with np.errstate(over="ignore"):
            if np.max(np.abs(covariances * precisions_cholesky ** 2 - 1)) > 1e-10:
                raise _Invalid("covariances_ and precisions_cholesky_ disagree: "
                               "covariances_ * precisions_cholesky_**2 must be 1")
    else:
        stack = lambda a: a if covariance_type == "full" else a[None]  # noqa: E731
        cov, upper = stack(covariances), stack(precisions_cholesky)
        if np.any(np.tril(upper, -1) != 0) or np.any(np.diagonal(upper, 0, 1, 2) <= 0):
            raise _Invalid("precisions_cholesky_ must be upper triangular with a positive "
                           "diagonal")
        asymmetry = np.abs(cov - np.swapaxes(cov, 1, 2)).max(axis=(1, 2))
        if np.any(asymmetry > 1e-12 * np.abs(cov).max(axis=(1, 2))):
            raise _Invalid("covariances_ must be symmetric")
        try:
            expected_upper = compute_precision_cholesky(cov, "full")
        except DegenerateComponentsError:
            raise _Invalid("covariances_ must be positive definite") from None
        # The factor recomputed from the covariances, compared column by column
        # relative to that column's own scale: a badly scaled or ill-conditioned
        # covariance cannot widen the tolerance (as a condition-number bound would).
        column_scale = np.abs(expected_upper).max(axis=1, keepdims=True)
        if np.any(np.abs(upper - expected_upper) > _FACTOR_RTOL * column_scale):
            raise _Invalid("covariances_ and precisions_cholesky_ disagree: "
                           "precisions_cholesky_ must be the Cholesky factor of the "
                           "inverse covariances")
    expected = precisions_from_cholesky(precisions_cholesky, covariance_type)
    # Entry by entry, relative to the sum of magnitudes each entry is made of.
    if covariance_type in ("full", "tied"):
        magnitude = np.abs(precisions_cholesky) @ np.swapaxes(np.abs(precisions_cholesky),
                                                              -1, -2)
    else:
        magnitude = expected
    if np.any(np.abs(precisions - expected) > 1e-10 * magnitude):
        raise _Invalid("precisions_ must equal precisions_cholesky_ times its transpose")


def _fitted(arrays, covariance_type, n_components):
    """The fitted attributes, every one checked."""
    n_features = _scalar(arrays, "n_features_in_", _FITTED_SCALARS["n_features_in_"])
    n_iter = _scalar(arrays, "n_iter_", _FITTED_SCALARS["n_iter_"])
    if n_features < 1:
        raise _Invalid(f"n_features_in_={n_features} must be >= 1")
    if n_iter < 0:
        raise _Invalid(f"n_iter_={n_iter} must be >= 0")
    K, d = n_components, n_features
    cov_shape = covariance_shape(covariance_type, K, d)
    fitted = {
        "weights_": _float_array(arrays, "weights_", (K,)),
        "means_": _float_array(arrays, "means_", (K, d)),
        "covariances_": _float_array(arrays, "covariances_", cov_shape),
        "precisions_": _float_array(arrays, "precisions_", cov_shape),
        "precisions_cholesky_": _float_array(arrays, "precisions_cholesky_", cov_shape),
        "lower_bounds_": _float_array(arrays, "lower_bounds_", (n_iter,)),
        "converged_": _scalar(arrays, "converged_", _FITTED_SCALARS["converged_"]),
        "n_iter_": n_iter,
        "lower_bound_": _scalar(arrays, "lower_bound_", _FITTED_SCALARS["lower_bound_"]),
        "n_features_in_": n_features,
    }
    weights = fitted["weights_"]
    if np.any(weights < 0) or abs(weights.sum() - 1) > 1e-8:
        raise _Invalid(f"weights_ must be non-negative and sum to 1 (sum "
                       f"{weights.sum():.17g})")
    _check_matrices(fitted["covariances_"], fitted["precisions_cholesky_"],
                    fitted["precisions_"], covariance_type)
    bound = fitted["lower_bound_"]
    if np.isnan(bound) or bound == np.inf:
        raise _Invalid(f"lower_bound_ must be finite or -inf, got {bound}")
    fitted["lower_bounds_"] = [float(v) for v in fitted["lower_bounds_"]]
    return fitted


def _load_checked(file):
    arrays = _read_arrays(file)
    _check_format(arrays)
    params = _hyper_parameters(arrays)
    known = (set(_HEADER) | set(_INIT_ARRAYS) | set(_FITTED_ARRAYS) | set(_FITTED_SCALARS)
             | {"feature_names_in_", "fit_metadata"})
    unknown = sorted(set(arrays) - known)
    if unknown:
        raise _Invalid(f"unexpected entries {unknown}")
    missing = sorted(name for name in set(_FITTED_ARRAYS) | set(_FITTED_SCALARS)
                     if name not in arrays)
    if missing:
        raise _Invalid(f"missing entries {missing}")
    estimator = GaussianMixture(**params)
    fitted_features = _scalar(arrays, "n_features_in_", _FITTED_SCALARS["n_features_in_"])
    try:   # exactly the checks fit makes, so a loaded model can be refitted
        estimator._check_parameters(max(fitted_features, 1))
    except (TypeError, ValueError) as exc:
        raise _Invalid(f"invalid hyper-parameter: {exc}") from None
    for name, value in _fitted(arrays, estimator.covariance_type,
                               estimator.n_components).items():
        setattr(estimator, name, value)
    if "feature_names_in_" in arrays:
        names = arrays["feature_names_in_"]
        if names.dtype.kind != "U" or names.shape != (fitted_features,):
            raise _Invalid(f"feature_names_in_ must hold {fitted_features} strings, got "
                           f"{names.dtype} of shape {names.shape}")
        estimator.feature_names_in_ = names.astype(object)
    estimator._covariance_type_fitted = estimator.covariance_type
    estimator._fit_metadata = _fit_metadata(arrays)
    if estimator._fit_metadata.get("dtype") == "float32":
        # A float32 fit: float32 public arrays over the stored float64 parameters.
        estimator._set_fitted(estimator._params(), np.float32)
    return estimator


def _fit_metadata(arrays):
    """The ``fit_metadata`` entry as a dict of str, numbers and None (empty for
    files without it), with ``saved_by``: the version that wrote the file."""
    metadata = {}
    if "fit_metadata" in arrays:
        metadata = json.loads(_text(arrays, "fit_metadata"))
        if not isinstance(metadata, dict) or not all(
                isinstance(v, (str, int, float, type(None))) for v in metadata.values()):
            raise _Invalid("fit_metadata must be a JSON object of strings and numbers")
    metadata["saved_by"] = _text(arrays, "fastgmm_version")
    metadata["format_version"] = _scalar(arrays, "format_version", "i")
    return metadata


def load(path):
    """Read a model written by ``GaussianMixture.save``.

    Parameters
    ----------
    path : str, os.PathLike or readable, seekable binary file object

    Returns
    -------
    GaussianMixture
        Fitted, with every hyper-parameter and fitted attribute as saved (bit for
        bit).

    Raises
    ------
    ValueError
        If the file is not a fastgmm model, is truncated or corrupted, comes from a
        newer format version, or holds values that fail any check.
    TypeError
        If ``path`` is neither a path nor a binary file object.
    OSError
        If the file cannot be opened (missing, a directory, no permission).
    """
    if isinstance(path, (str, bytes, os.PathLike)):
        where = repr(os.fsdecode(path))
        source = open(path, "rb")
    elif hasattr(path, "read") and hasattr(path, "seek"):
        where = repr(path)
        source = contextlib.nullcontext(path)
    else:
        raise TypeError(f"path must be a str, an os.PathLike or a readable binary file "
                        f"object, got {path!r} of type {type(path).__name__}; pass e.g. "
                        "'model.npz'.")
    try:
        with source as file:
            return _load_checked(file)
    except (_Invalid, zipfile.BadZipFile, zlib.error, EOFError, ValueError, KeyError,
            IndexError, TypeError, OverflowError, UnicodeError, RecursionError,
            struct.error, NotImplementedError) as exc:
        raise ValueError(
            f"path={where} is not a valid fastgmm model file: {str(exc).rstrip('.')}. "
            "Load only files "
            "written by GaussianMixture.save; re-save the model if this one is damaged."
        ) from None
