"""Sphinx configuration for the fastgmm documentation.

Build with ``tools/build_docs.sh`` (warnings are errors). The build imports the
installed fastgmm (autodoc) and runs the examples' plotting code (matplotlib's plot
directive), so fastgmm, scikit-learn, pandas and matplotlib must be importable.
Nothing is fetched from the network: intersphinx is deliberately not enabled.
"""

import fastgmm

project = "fastgmm"
author = "fastgmm developers"
copyright = "fastgmm developers"  # noqa: A001 (Sphinx's name)
version = fastgmm.__version__
release = fastgmm.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_copybutton",
    "matplotlib.sphinxext.plot_directive",
]

exclude_patterns = ["_build"]
root_doc = "index"
default_role = "literal"
highlight_language = "python3"
pygments_style = "sphinx"

# -- autodoc / numpydoc ------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "none"
# Methods are listed by ``.. autoclass:: :members:`` in api.rst; numpydoc's own
# member tables would need autosummary stub pages.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- the examples' figures ---------------------------------------------------------
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
plot_pre_code = ""
plot_rcparams = {"figure.figsize": (6.4, 4.0), "figure.dpi": 100,
                 "savefig.bbox": "tight"}
plot_apply_rcparams = True

# -- copy buttons: strip the ">>> " and "... " prompts of doctest blocks -------------
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True

# -- HTML --------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastgmm {release}"
html_static_path = ["_static"]   # benchmarks.png (benchmarks/plot.py)
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
# Top-level pages without sub-pages have nothing for the primary ("Section
# Navigation") sidebar, which would stay empty: drop it there. Their own sections
# and, on the API page, every class, method and function are listed in the
# secondary sidebar ("On this page", from the section headings and autodoc entries).
html_sidebars = {page: [] for page in ("api", "performance", "how_it_works",
                                       "getting_started", "development", "changelog")}
