"""Sphinx configuration of nadaraya's documentation (``make docs``).

Stack: Sphinx + numpydoc (the docstrings' format) + pydata-sphinx-theme (the
theme of NumPy, SciPy, pandas) + myst-nb (Markdown pages and the chapter's
notebook, every code cell executed at build time) + sphinx-gallery (example
scripts executed, their figures collected). Any example that raises fails the
build; every warning is an error (``-W``).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import nadaraya  # noqa: E402

project = "nadaraya"
author = "the nadaraya developers"
copyright = "2026, the nadaraya developers"
release = version = nadaraya.__version__

extensions = [
    "api_pages",  # writes api/*.rst from the modules' __all__ (before autosummary reads them)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_nb",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    "auto_examples/*.ipynb",  # sphinx-gallery's notebook downloads, not pages
    "auto_examples/*.py",
    "examples/README.rst",
    "sg_execution_times.rst",  # not written (write_computation_times=False); a stale copy would load a CDN
]

# --- API reference -----------------------------------------------------------
autosummary_generate = False  # api_pages writes the stubs (a fresh build must find them)
autosummary_imported_members = True
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# --- executed pages (myst-nb) --------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 600
nb_merge_streams = True

# --- gallery (sphinx-gallery) --------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "plot_gallery": "True",
    "show_memory": False,
    "show_signature": False,
    "write_computation_times": False,  # its page loads scripts from a CDN: the site must work offline
}

# --- HTML: offline, no external assets -------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"nadaraya {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"changelog": [], "benchmarks": []}
html_show_sourcelink = False
html_copy_source = False
