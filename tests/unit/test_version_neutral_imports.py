"""The package, the DAGs and the tests import Airflow names in a way every supported Airflow has."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOP_LEVEL_SDK_IMPORT = re.compile(r"^(from airflow\.sdk\b|import airflow\.sdk\b)", re.MULTILINE)
NEEDS_NEWER_AIRFLOW = {
    # left out of the older versions of the matrix by path (IGNORED in matrix/run.py)
    "tests/unit/test_assets.py",
    "tests/unit/test_openlineage.py",
}


def test_no_top_level_airflow_sdk_import() -> None:
    """Airflow 2.11 has no ``airflow.sdk``: import through ``airflow.providers.common.compat.sdk``."""
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("airflow_provider_vyro", "dags", "tests", "devtools")
        for path in sorted((REPO / folder).rglob("*.py"))
        if TOP_LEVEL_SDK_IMPORT.search(path.read_text())
        and str(path.relative_to(REPO)) not in NEEDS_NEWER_AIRFLOW
    ]
    assert offenders == []
