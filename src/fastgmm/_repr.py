"""HTML summaries of estimators for notebooks (``GaussianMixture._repr_html_``).

An unfitted estimator shows its hyper-parameters (those changed from the default
highlighted, in the manner of scikit-learn's estimator diagrams); a fitted one also
shows K, the covariance type, a converged badge, the log-likelihood, ``n_iter_`` and
a table of weights and means. Every piece of text is HTML-escaped. Nothing here
imports scikit-learn.
"""

import html
import inspect
import itertools

import numpy as np

# Every summary gets its own id, so that its style applies to it alone.
_ids = itertools.count()
_MAX_ROWS = 20          # components shown in the means table
_MAX_COLUMNS = 8        # features shown in the means table

_STYLE = """
#{id} {{font-family: monospace; font-size: 0.9em; color: #000; display: inline-block;
  border: 1px dashed #808080; border-radius: 0.25em; padding: 0.5em; background: #f8fbfe;}}
#{id} .fgmm-title {{font-weight: bold; padding: 0.2em 0.4em; border-radius: 0.25em;
  background: #e1eefb; display: inline-block; margin-bottom: 0.4em;}}
#{id} table {{border-collapse: collapse; margin: 0.3em 0;}}
#{id} th, #{id} td {{padding: 0.1em 0.6em; text-align: right; border-bottom: 1px solid #ddd;}}
#{id} th {{background: #eef3f8;}}
#{id} .fgmm-changed td {{font-weight: bold; color: #0b4f8a;}}
#{id} .fgmm-badge {{display: inline-block; padding: 0.05em 0.5em; border-radius: 1em;
  color: #fff; margin-left: 0.4em;}}
#{id} .fgmm-yes {{background: #2e7d32;}}
#{id} .fgmm-no {{background: #c62828;}}
#{id} details summary {{cursor: pointer;}}
"""


def _e(value):
    return html.escape(str(value), quote=True)


def _shown(value):
    """A hyper-parameter value as short text."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    if callable(value) and not isinstance(value, type):
        return getattr(value, "__qualname__", type(value).__name__)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _parameters_table(estimator):
    defaults = {name: p.default for name, p in
                inspect.signature(type(estimator).__init__).parameters.items()}
    rows = []
    for name, value in sorted(estimator.get_params(deep=False).items()):
        default = defaults.get(name, inspect.Parameter.empty)
        try:
            changed = isinstance(value, np.ndarray) or not (value is default
                                                            or value == default)
        except Exception:
            changed = True
        changed = bool(changed) if not isinstance(changed, np.ndarray) else True
        css = ' class="fgmm-changed"' if changed else ""
        rows.append(f"<tr{css}><td style='text-align:left'>{_e(name)}</td>"
                    f"<td style='text-align:left'>{_e(_shown(value))}</td></tr>")
    return ("<details><summary>Parameters</summary><table><tr><th>parameter</th>"
            f"<th>value</th></tr>{''.join(rows)}</table></details>")


def _number(x):
    return f"{x:.4g}"


def _means_table(estimator):
    means = np.asarray(estimator.means_)
    weights = np.asarray(estimator.weights_)
    K, d = means.shape
    names = getattr(estimator, "feature_names_in_", None)
    names = list(names) if names is not None else [f"x{j}" for j in range(d)]
    columns = names[:_MAX_COLUMNS]
    head = "".join(f"<th>mean {_e(name)}</th>" for name in columns)
    head += "<th>...</th>" if d > _MAX_COLUMNS else ""
    rows = []
    for k in range(min(K, _MAX_ROWS)):
        cells = "".join(f"<td>{_number(v)}</td>" for v in means[k, :_MAX_COLUMNS])
        cells += "<td>...</td>" if d > _MAX_COLUMNS else ""
        rows.append(f"<tr><td>{k}</td><td>{_number(weights[k])}</td>{cells}</tr>")
    if K > _MAX_ROWS:
        rows.append(f"<tr><td colspan='{len(columns) + 2}'>... {K - _MAX_ROWS} more "
                    "components</td></tr>")
    return (f"<table><tr><th>component</th><th>weight</th>{head}</tr>"
            f"{''.join(rows)}</table>")


def _fitted_summary(estimator):
    K, d = np.shape(estimator.means_)
    converged = bool(estimator.converged_)
    badge = ("<span class='fgmm-badge fgmm-yes'>converged</span>" if converged else
             "<span class='fgmm-badge fgmm-no'>not converged</span>")
    covariance_type = estimator._fitted_covariance_type()
    return (f"<div>K = {K} components, {d} features, covariance_type = "
            f"{_e(repr(covariance_type))}{badge}</div>"
            f"<div>log-likelihood (mean per sample) = {_e(_number(estimator.lower_bound_))}, "
            f"n_iter_ = {_e(estimator.n_iter_)}</div>"
            f"{_means_table(estimator)}")


def estimator_html(estimator):
    """The HTML summary of ``estimator`` (fitted or not).

    Parameters
    ----------
    estimator : GaussianMixture

    Returns
    -------
    str
        A self-contained ``<div>`` with its own scoped ``<style>``.
    """
    element_id = f"fastgmm-repr-{next(_ids)}"
    fitted = hasattr(estimator, "means_")
    title = f"{type(estimator).__name__}{'' if fitted else ' (not fitted)'}"
    body = _fitted_summary(estimator) if fitted else ""
    return (f"<style>{_STYLE.format(id=element_id)}</style>"
            f"<div id='{element_id}'><div class='fgmm-title'>{_e(title)}</div>"
            f"<pre style='margin:0.2em 0'>{_e(repr(estimator))}</pre>"
            f"{body}{_parameters_table(estimator)}</div>")
