"""Sphinx configuration of the provider's documentation (``make docs``)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# autodoc imports the provider, hence Airflow: keep Airflow away from the user's home.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="vyro-docs-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from airflow_provider_vyro import __version__  # noqa: E402

project = "airflow-provider-vyro"
author = "airflow-provider-vyro developers"
copyright = "airflow-provider-vyro developers"
release = __version__
version = __version__

extensions = ["sphinx.ext.autodoc"]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
nitpicky = False

autodoc_default_options = {
    "members": True,
    "undoc-members": False,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autoclass_content = "class"

# Furo: a maintained theme whose content column is wide enough for the code samples.
html_theme = "furo"
html_title = f"airflow-provider-vyro {release}"
html_static_path = ["_static"]
