"""The ``fastgmm`` command line (also ``python -m fastgmm``).

Sub-commands: ``fit``, ``predict``, ``score``, ``sample``, ``select`` and ``info``
(``fastgmm --help``, ``fastgmm fit --help``, ...). Data files are ``.npy``,
``.csv`` / ``.tsv`` (a header row is detected) or ``.parquet`` (with pyarrow).

Exit codes (``EXIT_CODES``): 0 success, 1 the computation failed (e.g. a fit whose
every restart collapsed), 2 bad arguments, 3 a file is missing or unreadable,
4 a CSV/TSV file cannot be parsed (ragged rows, bad quoting, not text), 5 the data
have non-numeric or missing values, 6 the data have the wrong number of columns for
the model, 7 a model file is not a valid fastgmm model, 130 interrupted (Ctrl-C).
"""

import argparse
import contextlib
import csv
import json
import math
import os
import sys
import warnings

import numpy as np

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_FILE = 3
EXIT_BAD_CSV = 4
EXIT_BAD_VALUES = 5
EXIT_WRONG_COLUMNS = 6
EXIT_BAD_MODEL = 7
EXIT_INTERRUPTED = 130

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILED: "the computation failed (the message says why)",
    EXIT_USAGE: "bad command-line arguments",
    EXIT_NO_FILE: "an input file is missing or cannot be read",
    EXIT_BAD_CSV: "a CSV/TSV file cannot be parsed (ragged rows, bad quoting, not text)",
    EXIT_BAD_VALUES: "the data hold non-numeric or missing values",
    EXIT_WRONG_COLUMNS: "the data have the wrong number of columns for the model",
    EXIT_BAD_MODEL: "a model file is not a valid fastgmm model",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}

_MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}
DATA_SUFFIXES = (".npy", ".csv", ".tsv", ".parquet")


class CommandError(Exception):
    """An error reported as one message on stderr and an exit code."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------------
# Reading and writing data
# ---------------------------------------------------------------------------------

def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_exists(path, what="file"):
    if not os.path.exists(path):
        raise CommandError(f"{what} {path!r} does not exist", EXIT_NO_FILE)
    if os.path.isdir(path):
        raise CommandError(f"{what} {path!r} is a directory, not a file", EXIT_NO_FILE)


def _read_delimited(path, delimiter):
    """(rows of str, header or None) of a CSV/TSV file; the first row is a header
    when one of its fields is not a number (and not a missing-value marker)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = [row for row in csv.reader(file, delimiter=delimiter, strict=True)
                    if row and any(field.strip() for field in row)]
    except UnicodeDecodeError as exc:
        raise CommandError(f"{path!r} is not UTF-8 text ({exc.reason} at byte "
                           f"{exc.start}); pass a CSV/TSV text file or a .npy file",
                           EXIT_BAD_CSV) from None
    except csv.Error as exc:
        raise CommandError(f"{path!r} cannot be parsed as "
                           f"{'TSV' if delimiter == chr(9) else 'CSV'}: {exc}",
                           EXIT_BAD_CSV) from None
    except OSError as exc:
        raise CommandError(f"cannot read {path!r}: {exc.strerror}", EXIT_NO_FILE) from None
    if not rows:
        raise CommandError(f"{path!r} holds no rows of data", EXIT_BAD_VALUES)
    header = None
    first = [field.strip() for field in rows[0]]
    if any(not _is_number(f) and f.lower() not in _MISSING for f in first):
        header, rows = first, rows[1:]
        if not rows:
            raise CommandError(f"{path!r} holds a header row but no data", EXIT_BAD_VALUES)
    width = len(header) if header is not None else len(rows[0])
    for number, row in enumerate(rows, start=2 if header is not None else 1):
        if len(row) != width:
            raise CommandError(f"{path!r} line {number} has {len(row)} fields where the "
                               f"{'header' if header is not None else 'first row'} has "
                               f"{width}; every row needs the same number of fields",
                               EXIT_BAD_CSV)
    return rows, header, (2 if header is not None else 1)


def _parse_numbers(path, rows, first_line):
    X = np.empty((len(rows), len(rows[0])))
    for i, row in enumerate(rows):
        for j, field in enumerate(row):
            text = field.strip()
            try:
                X[i, j] = float(text)
            except ValueError:
                what = "a missing value" if text.lower() in _MISSING else \
                    f"the non-numeric value {text!r}"
                raise CommandError(f"{path!r} line {i + first_line}, column {j + 1} holds "
                                   f"{what}; every field must be a number (drop or fill "
                                   "those rows first)", EXIT_BAD_VALUES) from None
            if not math.isfinite(X[i, j]):
                raise CommandError(f"{path!r} line {i + first_line}, column {j + 1} holds "
                                   f"{text!r}, a missing or infinite value; every field "
                                   "must be a finite number", EXIT_BAD_VALUES)
    return X


def _read_parquet(path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise CommandError(f"reading {path!r} needs pyarrow: pip install pyarrow (or "
                           "convert the file to .csv or .npy)", EXIT_USAGE) from None
    try:
        table = pq.read_table(path)
    except Exception as exc:        # pyarrow raises its own ArrowInvalid and others
        raise CommandError(f"{path!r} cannot be read as Parquet: {exc}",
                           EXIT_BAD_CSV) from None
    columns = []
    for name, column in zip(table.column_names, table.columns):
        if column.null_count:
            raise CommandError(f"{path!r} column {name!r} holds {column.null_count} "
                               "missing value(s); drop or fill them first", EXIT_BAD_VALUES)
        try:
            columns.append(np.asarray(column.to_numpy(), dtype=np.float64))
        except (TypeError, ValueError):
            raise CommandError(f"{path!r} column {name!r} is not numeric (type "
                               f"{column.type}); select numeric columns with --columns",
                               EXIT_BAD_VALUES) from None
    if not columns:
        raise CommandError(f"{path!r} has no columns", EXIT_BAD_VALUES)
    return np.column_stack(columns), list(table.column_names)


def _select_columns(path, X, header, columns):
    """The columns named (header names) or numbered (from 1) in ``columns``, and
    their names (None without a header)."""
    if columns is None:
        return X, header
    picked = []
    for item in columns:
        if header is not None and item in header:
            picked.append(header.index(item))
        elif item.isdigit() and 1 <= int(item) <= X.shape[1]:
            picked.append(int(item) - 1)
        else:
            known = (f"its columns are {', '.join(header)}" if header is not None
                     else f"it has {X.shape[1]} unnamed columns, numbered 1 to "
                          f"{X.shape[1]}")
            raise CommandError(f"--columns: {item!r} is not a column of {path!r}; {known}",
                               EXIT_USAGE)
    return X[:, picked], (None if header is None else [header[j] for j in picked])


def read_data(path, columns=None, *, wanted_names=None):
    """The numeric matrix of a data file, shape (n_samples, n_features), float64
    (float32 ``.npy`` files stay float32), and its column names (None when the file
    has none).

    Without ``columns``, a first CSV/TSV column with an empty header field (the row
    names that R's ``write.csv`` and pandas' ``to_csv`` write) is left out, and ``wanted_names`` (a model's feature names), when the header holds
    them all, selects those columns by name.

    Parameters
    ----------
    path : str
        A ``.npy``, ``.csv``, ``.tsv`` or ``.parquet`` file.
    columns : list of str or None
        Column names (from a header) or 1-based numbers (of the file's columns) to
        keep, in that order.
    wanted_names : sequence of str or None
        Used only without ``columns``.

    Raises
    ------
    CommandError
        With the exit code of what went wrong.
    """
    _check_exists(path, "data file")
    suffix = os.path.splitext(path)[1].lower()
    header = None
    if suffix == ".npy":
        try:
            X = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise CommandError(f"{path!r} is not a readable .npy array file: {exc}",
                               EXIT_BAD_VALUES) from None
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2 or X.dtype.kind not in "biuf":
            raise CommandError(f"{path!r} holds an array of dtype {X.dtype} and shape "
                               f"{X.shape}; a data file holds a 2-D numeric array",
                               EXIT_BAD_VALUES)
        if X.dtype.kind != "f":
            X = X.astype(np.float64)
        bad = ~np.isfinite(X)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise CommandError(f"{path!r} holds {int(bad.sum())} missing or infinite "
                               f"value(s) (first: row {i + 1}, column {j + 1}); drop or "
                               "fill them first", EXIT_BAD_VALUES)
    elif suffix in (".csv", ".tsv"):
        rows, header, first_line = _read_delimited(path, "\t" if suffix == ".tsv" else ",")
        X = _parse_numbers(path, rows, first_line)
    elif suffix == ".parquet":
        X, header = _read_parquet(path)
    else:
        raise CommandError(f"{path!r}: unknown data format {suffix or '(no suffix)'!r}; "
                           f"use one of {', '.join(DATA_SUFFIXES)}", EXIT_USAGE)
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise CommandError(f"{path!r} holds no data (shape {X.shape})", EXIT_BAD_VALUES)
    if columns is None and header is not None:
        if wanted_names is not None and set(wanted_names) <= set(header):
            columns = list(wanted_names)
        elif header[0] == "" and X.shape[1] > 1:
            X, header = X[:, 1:], header[1:]        # row names, not data
    return _select_columns(path, X, header, columns)


def _read_for_model(args, model):
    """The data of ``args.data`` for ``model``: --columns, or the columns named by
    its feature names when the file's header has them. Warns (stderr) when the
    columns read have names other than the model's."""
    names = getattr(model, "feature_names_in_", None)
    names = None if names is None else [str(n) for n in names]
    X, read_names = read_data(args.data, args.columns, wanted_names=names)
    if (names is not None and read_names is not None and read_names != names
            and not args.quiet):
        if len(read_names) == len(names):       # else _check_width says what is wrong
            print(f"warning: the columns read from {args.data!r} "
                  f"({', '.join(map(repr, read_names))}) are not the model's "
                  f"({', '.join(map(repr, names))})", file=sys.stderr)
    return X


@contextlib.contextmanager
def _names_checked_here():
    """The CLI matches columns itself (``_read_for_model``): no scikit-learn style
    warning that a plain array has no feature names."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        yield


def _write_array(path, array, header, int_columns=()):
    """Write ``array`` (1-D or 2-D) as ``.npy`` or ``.csv``/``.tsv``; '-' is stdout
    (CSV)."""
    if path == "-":
        _write_delimited(sys.stdout, array, header, ",", int_columns)
        return
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".npy":
        np.save(path, array)
    elif suffix in (".csv", ".tsv"):
        with open(path, "w", newline="", encoding="utf-8") as file:
            _write_delimited(file, array, header, "\t" if suffix == ".tsv" else ",",
                             int_columns)
    else:
        raise CommandError(f"-o {path!r}: unknown output format "
                           f"{suffix or '(no suffix)'!r}; use .npy, .csv or .tsv",
                           EXIT_USAGE)


def _write_delimited(file, array, header, delimiter, int_columns=()):
    writer = csv.writer(file, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    rows = array[:, None] if array.ndim == 1 else array
    integer = [array.dtype.kind in "iu" or j in int_columns for j in range(rows.shape[1])]
    for row in rows:
        writer.writerow([str(int(v)) if integer[j] else repr(float(v))
                         for j, v in enumerate(row)])


# ---------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------

def _load_model(path):
    import fastgmm
    _check_exists(path, "model file")
    try:
        return fastgmm.load(path)
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_BAD_MODEL) from None
    except OSError as exc:
        raise CommandError(f"cannot read model file {path!r}: {exc.strerror}",
                           EXIT_NO_FILE) from None


def _check_width(model, X, data_path, model_path):
    if X.shape[1] != model.n_features_in_:
        raise CommandError(f"{data_path!r} has {X.shape[1]} column(s) but the model in "
                           f"{model_path!r} was fitted on {model.n_features_in_}; pass the "
                           "training data's columns (--columns selects them)",
                           EXIT_WRONG_COLUMNS)


def _save_model(model, path):
    try:
        model.save(path)
    except OSError as exc:
        raise CommandError(f"cannot write {path!r}: {exc.strerror}", EXIT_NO_FILE) from None


def _progress_callback(args):
    """A progress line on stderr when it is a terminal (not with --quiet)."""
    if args.quiet or not sys.stderr.isatty():
        return None
    import fastgmm
    return fastgmm.progress(sys.stderr)


def _say(args, message):
    if not args.quiet:
        print(message, file=sys.stderr)


def _common_fit_params(args):
    return dict(n_init=args.n_init, random_state=args.seed, n_threads=args.threads,
                max_iter=args.max_iter, tol=args.tol, reg_covar=args.reg_covar)


def _cmd_fit(args):
    import fastgmm
    X, names = read_data(args.data, args.columns)
    model = fastgmm.GaussianMixture(args.k, covariance_type=args.covariance_type,
                                    init_params=args.init, callback=_progress_callback(args),
                                    **_common_fit_params(args))
    model.fit(X)
    model.callback = None
    if names is not None and all(names) and len(set(names)) == len(names):
        model.feature_names_in_ = np.asarray(names, dtype=object)   # for info, sample
    _save_model(model, args.output)
    state = ("converged" if model.converged_ else "did NOT converge") + \
        f" in {model.n_iter_} iterations"
    _say(args, f"fitted {args.k} {args.covariance_type} components to {X.shape[0]} rows x "
               f"{X.shape[1]} columns of {args.data}: {state}, mean log-likelihood "
               f"{model.lower_bound_:.6g}; wrote {args.output}")
    return EXIT_OK


def _cmd_predict(args):
    model = _load_model(args.model)
    X = _read_for_model(args, model)
    _check_width(model, X, args.data, args.model)
    with _names_checked_here():
        if args.proba:
            result = model.predict_proba(X)
            header = [f"p{k}" for k in range(result.shape[1])]
        else:
            result = model.predict(X).astype(np.int64)
            header = ["label"]
    _write_array(args.output, result, header)
    if args.output != "-":
        _say(args, f"wrote {'probabilities' if args.proba else 'labels'} of {X.shape[0]} "
                   f"rows to {args.output}")
    return EXIT_OK


def _cmd_score(args):
    model = _load_model(args.model)
    X = _read_for_model(args, model)
    _check_width(model, X, args.data, args.model)
    with _names_checked_here():
        score = model.score(X)
        criteria = {"bic": model.bic(X), "aic": model.aic(X)} if args.json else {}
    if args.json:
        print(json.dumps({"mean_log_likelihood": score, **criteria,
                          "n_samples": int(X.shape[0])}))
    else:
        print(f"{score:.10g}")
    return EXIT_OK


def _cmd_sample(args):
    model = _load_model(args.model)
    if args.seed is not None:
        model.random_state = args.seed
    X, labels = model.sample(args.n)
    names = getattr(model, "feature_names_in_", None)
    header = list(names) if names is not None else [f"x{j}" for j in range(X.shape[1])]
    int_columns = ()
    if args.labels:
        X = np.column_stack([X, labels])
        header = header + ["component"]
        int_columns = (X.shape[1] - 1,)
    _write_array(args.output, X, header, int_columns)
    if args.output != "-":
        _say(args, f"wrote {args.n} samples to {args.output}")
    return EXIT_OK


def _parse_range(text):
    """'1-9' -> range(1, 10); '4' -> range(4, 5)."""
    parts = text.split("-")
    try:
        bounds = [int(p) for p in parts]
    except ValueError:
        bounds = []
    if len(bounds) not in (1, 2) or bounds[0] < 1 or bounds[-1] < bounds[0]:
        raise argparse.ArgumentTypeError(f"{text!r} is not a range of component counts "
                                         "such as 1-9 or 3")
    return range(bounds[0], bounds[-1] + 1)


def _parse_models(text):
    """A comma-separated list of covariance types; ``mclust`` stands for its 14."""
    from ._validation import COVARIANCE_TYPES, MCLUST_MODELS
    models = []
    for name in (m.strip() for m in text.split(",") if m.strip()):
        models.extend(MCLUST_MODELS if name == "mclust" else [name])
    bad = [m for m in models if m not in COVARIANCE_TYPES]
    if bad or not models:
        raise argparse.ArgumentTypeError(f"{text!r}: covariance types are a comma-separated "
                                         f"list of {', '.join(COVARIANCE_TYPES)} (or "
                                         "mclust: its 14 models)")
    return list(dict.fromkeys(models))


_TABLE_COLUMNS = ("covariance_type", "n_components", "log_likelihood", "n_parameters",
                  "bic", "aic", "icl", "converged", "degenerate")


def _format_cell(value):
    if isinstance(value, (float, np.floating)):
        return f"{value:.6g}"
    return str(value)


def _cmd_select(args):
    from fastgmm import select
    X, names = read_data(args.data, args.columns)
    result = select(X, n_components=args.k, covariance_types=args.models,
                    criterion=args.criterion, random_state=args.seed, n_init=args.n_init,
                    n_threads=args.threads)
    rows = [dict(row) for row in result.table]
    best = result.best
    lines = [list(_TABLE_COLUMNS)]
    for row in rows:
        lines.append([_format_cell(row.get(name, "")) for name in _TABLE_COLUMNS])
    widths = [max(len(line[j]) for line in lines) for j in range(len(_TABLE_COLUMNS))]
    for i, line in enumerate(lines):
        mark = ""
        if i and rows[i - 1].get("covariance_type") == best.covariance_type and \
                rows[i - 1].get("n_components") == best.n_components:
            mark = "  <- best"
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths)) + mark)
    if args.table:
        with open(args.table, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(_TABLE_COLUMNS)
            for row in rows:
                writer.writerow([row.get(name, "") for name in _TABLE_COLUMNS])
    if args.output:
        if names is not None and all(names) and len(set(names)) == len(names):
            best.feature_names_in_ = np.asarray(names, dtype=object)
        _save_model(best, args.output)
        _say(args, f"best by {args.criterion}: {best.n_components} {best.covariance_type} "
                   f"components; wrote {args.output}")
    return EXIT_OK


def describe_model(model, path):
    """The lines ``fastgmm info`` prints for a loaded model."""
    meta = getattr(model, "_fit_metadata", {}) or {}
    K, d = model.means_.shape
    names = getattr(model, "feature_names_in_", None)
    lines = [
        ("file", f"{path} (fastgmm model format {meta.get('format_version', '?')}, "
                 f"saved by fastgmm {meta.get('saved_by', '?')})"),
        ("type", f"{type(model).__module__.split('.')[0]}.{type(model).__name__}"),
        ("components (K)", str(K)),
        ("features (d)", str(d) + (f": {', '.join(map(str, names))}" if names is not None
                                   else "")),
        ("covariance type", model.covariance_type),
        ("converged", f"{'yes' if model.converged_ else 'no'} after {model.n_iter_} "
                      "EM iterations"),
        ("log-likelihood", f"{model.lower_bound_:.10g} (mean per sample, last iteration)"),
        ("weights", " ".join(f"{w:.4g}" for w in model.weights_)),
    ]
    if meta.get("fitted_at"):
        how = f"{meta['fitted_at']}, in {meta.get('fit_seconds', 0):.3g} s"
        if meta.get("n_samples"):
            how += f" on {meta['n_samples']} samples ({meta.get('dtype', '?')})"
        how += f" with fastgmm {meta.get('fastgmm_version', '?')}, " \
               f"{meta.get('n_threads', '?')} thread(s)"
        lines.append(("fitted", how))
    else:
        lines.append(("fitted", "(not recorded: saved by an older fastgmm)"))
    settings = ["init_params", "n_init", "max_iter", "tol", "reg_covar", "random_state"]
    lines.append(("settings", ", ".join(f"{name}={getattr(model, name)!r}"
                                        for name in settings)))
    width = max(len(key) for key, _ in lines)
    return [f"{key + ':':<{width + 1}} {value}" for key, value in lines]


def _cmd_info(args):
    model = _load_model(args.model)
    if args.json:
        meta = dict(getattr(model, "_fit_metadata", {}) or {})
        print(json.dumps({
            "type": "fastgmm.GaussianMixture", "n_components": int(model.means_.shape[0]),
            "n_features": int(model.n_features_in_),
            "covariance_type": model.covariance_type, "converged": bool(model.converged_),
            "n_iter": int(model.n_iter_), "log_likelihood": float(model.lower_bound_),
            "weights": [float(w) for w in model.weights_], "metadata": meta}, indent=2))
    else:
        print("\n".join(describe_model(model, args.model)))
    return EXIT_OK


# ---------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse with exit code EXIT_USAGE (argparse's own 2) on errors."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 1")
    return value


def _columns(text):
    return [c.strip() for c in text.split(",") if c.strip()]


_DATA_HELP = ("data file: .npy (2-D array), .csv or .tsv (numbers only; a header row "
              "is detected), or .parquet (needs pyarrow)")
_COLUMNS_HELP = ("comma-separated columns to use, by header name or number from 1 "
                 "(default: all), e.g. --columns eruptions,waiting")


def _add_fit_options(parser):
    parser.add_argument("--n-init", type=_positive_int, default=1, metavar="N",
                        help="initializations per model; the best is kept (default 1)")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help="random seed, for reproducible results (default: none)")
    parser.add_argument("--threads", type=int, default=None, metavar="T",
                        help="OpenMP threads (default: all usable cores; -1 = all)")
    parser.add_argument("--max-iter", type=int, default=100, metavar="N",
                        help="EM iterations per initialization at most (default 100)")
    parser.add_argument("--tol", type=float, default=1e-3,
                        help="convergence threshold on the mean log-likelihood "
                             "(default 1e-3)")
    parser.add_argument("--reg-covar", type=float, default=1e-6, metavar="R",
                        help="added to every covariance's diagonal (default 1e-6)")


def build_parser():
    """The argparse parser of the ``fastgmm`` command."""
    from ._validation import COVARIANCE_TYPES, INIT_METHODS, SKLEARN_COVARIANCE_TYPES
    codes = "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_CODES.items())
    parser = _Parser(
        prog="fastgmm",
        description="Fit, apply and inspect Gaussian mixture models stored as .npz "
                    "files. Run 'fastgmm COMMAND --help' for each command's options.",
        epilog=f"exit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import __version__
    parser.add_argument("--version", action="version", version=f"fastgmm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                     parser_class=_Parser)
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true",
                       help="print nothing but the results (no summary, no progress line)")

    fit = commands.add_parser(
        "fit", parents=[quiet], help="fit a mixture to a data file and save it",
        description="Fit a K-component Gaussian mixture to DATA with EM and save it to "
                    "MODEL.npz (read it back with fastgmm.load). On a terminal a progress "
                    "line shows the iterations of long fits.")
    fit.add_argument("data", metavar="DATA", help=_DATA_HELP)
    fit.add_argument("-k", "--n-components", dest="k", type=_positive_int, required=True,
                     metavar="K", help="number of mixture components")
    fit.add_argument("-t", "--covariance-type", default="full", choices=COVARIANCE_TYPES,
                     help="full: one matrix per component (default); tied: one shared; "
                          "diag: diagonal; spherical: one variance per component")
    fit.add_argument("--init", default="kmeans", choices=INIT_METHODS,
                     help="how EM starts (default kmeans)")
    fit.add_argument("--columns", type=_columns, default=None, help=_COLUMNS_HELP)
    _add_fit_options(fit)
    fit.add_argument("-o", "--output", required=True, metavar="MODEL.npz",
                     help="where to write the fitted model")
    fit.set_defaults(run=_cmd_fit)

    predict = commands.add_parser(
        "predict", parents=[quiet], help="component labels or probabilities of each row",
        description="Write the most probable component of every row of DATA (a column "
                    "'label', from 0), or with --proba the probability of each component "
                    "(columns p0, p1, ...).")
    predict.add_argument("model", metavar="MODEL", help="a model file from fastgmm fit")
    predict.add_argument("data", metavar="DATA", help=_DATA_HELP)
    predict.add_argument("--proba", action="store_true",
                         help="write probabilities instead of labels")
    predict.add_argument("--columns", type=_columns, default=None, help=_COLUMNS_HELP)
    predict.add_argument("-o", "--output", default="-", metavar="OUT",
                         help="output file, .npy, .csv or .tsv (default: CSV on stdout)")
    predict.set_defaults(run=_cmd_predict)

    score = commands.add_parser(
        "score", parents=[quiet], help="mean log-likelihood of a data file",
        description="Print the mean log-likelihood per row of DATA under the model "
                    "(higher is better); --json adds BIC and AIC.")
    score.add_argument("model", metavar="MODEL", help="a model file from fastgmm fit")
    score.add_argument("data", metavar="DATA", help=_DATA_HELP)
    score.add_argument("--columns", type=_columns, default=None, help=_COLUMNS_HELP)
    score.add_argument("--json", action="store_true",
                       help="print a JSON object with mean_log_likelihood, bic, aic")
    score.set_defaults(run=_cmd_score)

    sample = commands.add_parser(
        "sample", parents=[quiet], help="draw samples from a model",
        description="Draw N rows from the fitted mixture.")
    sample.add_argument("model", metavar="MODEL", help="a model file from fastgmm fit")
    sample.add_argument("-n", "--n-samples", dest="n", type=_positive_int, required=True,
                        metavar="N", help="number of rows to draw")
    sample.add_argument("--seed", type=int, default=None, metavar="S",
                        help="random seed (default: the model's random_state)")
    sample.add_argument("--labels", action="store_true",
                        help="add a last column 'component': the component of each row")
    sample.add_argument("-o", "--output", default="-", metavar="OUT",
                        help="output file, .npy, .csv or .tsv (default: CSV on stdout)")
    sample.set_defaults(run=_cmd_sample)

    select = commands.add_parser(
        "select", parents=[quiet], help="choose K and the covariance type by BIC/AIC/ICL",
        description="Fit every combination of K in the range and covariance type, print "
                    "the criterion table (best marked) and save the best model.")
    select.add_argument("data", metavar="DATA", help=_DATA_HELP)
    select.add_argument("-k", "--n-components", dest="k", type=_parse_range,
                        default=range(1, 10), metavar="A-B",
                        help="range of component counts (default 1-9)")
    select.add_argument("--models", type=_parse_models,
                        default=list(SKLEARN_COVARIANCE_TYPES), metavar="T,T",
                        help="comma-separated covariance types, or mclust for its 14 "
                             "models (default: full,tied,diag,spherical)")
    select.add_argument("--criterion", default="bic", choices=["bic", "aic", "icl"],
                        help="criterion to minimize (default bic)")
    select.add_argument("--columns", type=_columns, default=None, help=_COLUMNS_HELP)
    select.add_argument("--n-init", type=_positive_int, default=1, metavar="N",
                        help="initializations per model (default 1)")
    select.add_argument("--seed", type=int, default=None, metavar="S", help="random seed")
    select.add_argument("--threads", type=int, default=None, metavar="T",
                        help="OpenMP threads (default: all usable cores)")
    select.add_argument("--table", metavar="TABLE.csv", default=None,
                        help="also write the criterion table as CSV")
    select.add_argument("-o", "--output", metavar="MODEL.npz", default=None,
                        help="where to write the best model")
    select.set_defaults(run=_cmd_select)

    info = commands.add_parser(
        "info", help="describe a saved model",
        description="Print what a model file holds: type, K, d, covariance type, "
                    "convergence, log-likelihood, weights, and when and how it was fitted.")
    info.add_argument("model", metavar="MODEL", help="a model file")
    info.add_argument("--json", action="store_true", help="print JSON instead")
    info.set_defaults(run=_cmd_info)
    return parser


def main(argv=None):
    """Run the ``fastgmm`` command; returns its exit code.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments (``sys.argv[1:]`` when None).

    Returns
    -------
    int
        One of ``EXIT_CODES``.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        with warnings.catch_warnings():
            if getattr(args, "quiet", False):
                warnings.simplefilter("ignore")
            else:
                warnings.showwarning = _show_warning
            return args.run(args)
    except CommandError as exc:
        print(f"fastgmm {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except (ValueError, TypeError, FloatingPointError) as exc:
        print(f"fastgmm {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:       # e.g. | head: the reader has what it wanted
        sys.stdout = open(os.devnull, "w")
        return EXIT_OK
    except OSError as exc:
        print(f"fastgmm {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_NO_FILE
    except KeyboardInterrupt:
        print(f"\nfastgmm {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def console_main():
    """Entry point of the ``fastgmm`` console script."""
    sys.exit(main())

