"""The notebook HTML summary of estimators (``_repr_html_``)."""

import subprocess
import sys

import pytest

import fastgmm
from fastgmm import GaussianMixture

from conftest import COVARIANCE_TYPES, make_mixture


def test_unfitted_shows_the_parameters_and_highlights_changed_ones():
    html = GaussianMixture(3, covariance_type="diag", tol=1e-4)._repr_html_()
    assert "GaussianMixture (not fitted)" in html
    assert "<td style='text-align:left'>covariance_type</td>" in html
    assert html.count('class="fgmm-changed"') == 3     # n_components, covariance_type, tol
    assert "mean x0" not in html and "log-likelihood" not in html


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fitted_shows_k_type_weights_means_badge_likelihood(covariance_type):
    X, _ = make_mixture(300, 2, 2, seed=0)
    gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    html = gm._repr_html_()
    assert ("K = 2 components, 2 features, covariance_type = "
            f"&#x27;{covariance_type}&#x27;") in html
    assert ("fgmm-yes'>converged<" in html) == gm.converged_
    assert f"{gm.lower_bound_:.4g}" in html and f"n_iter_ = {gm.n_iter_}" in html
    for w in gm.weights_:
        assert f"<td>{w:.4g}</td>" in html
    for m in gm.means_.ravel():
        assert f"<td>{m:.4g}</td>" in html


def test_not_converged_badge_and_large_models_are_truncated():
    X, _ = make_mixture(500, 12, 25, seed=0)
    with pytest.warns(fastgmm.ConvergenceWarning):
        gm = GaussianMixture(25, covariance_type="diag", max_iter=1, random_state=0).fit(X)
    html = gm._repr_html_()
    assert "not converged" in html and "5 more components" in html
    assert html.count("<th>mean x") == 8


def test_everything_is_escaped():
    import pandas as pd
    X, _ = make_mixture(100, 2, 1, seed=0)
    frame = pd.DataFrame(X, columns=["<b>a</b>", "x&y"])
    gm = GaussianMixture(1, random_state=0).fit(frame)
    html = gm._repr_html_()
    assert "<b>a</b>" not in html and "&lt;b&gt;a&lt;/b&gt;" in html and "x&amp;y" in html
    strange = GaussianMixture(covariance_type="<script>alert(1)</script>")._repr_html_()
    assert "<script>" not in strange


def test_each_summary_scopes_its_style():
    a, b = GaussianMixture()._repr_html_(), GaussianMixture()._repr_html_()
    id_a = a.split("id='")[1].split("'")[0]
    id_b = b.split("id='")[1].split("'")[0]
    assert id_a != id_b and f"#{id_a} " in a


def test_repr_html_imports_neither_sklearn_nor_matplotlib():
    code = ("import sys, fastgmm; fastgmm.GaussianMixture()._repr_html_(); "
            "print(sorted(m for m in ('sklearn', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
