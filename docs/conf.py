"""Sphinx configuration: MyST Markdown pages and the API reference from the docstrings (Google style)."""

from __future__ import annotations

import sys
from pathlib import Path

# Build from a plain checkout too, without the package installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flask_ligand

project = "flask-ligand"
author = "flask-ligand contributors"
copyright = "the flask-ligand contributors"
release = flask_ligand.__version__
version = ".".join(release.split(".")[:2])

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]

myst_heading_anchors = 3
myst_enable_extensions = ["deflist"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "alabaster"
html_title = f"flask-ligand {release}"
