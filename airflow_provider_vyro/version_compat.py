"""
Which Airflow this is, for the few behaviours that differ between the versions the provider supports.

Names that moved between Airflow versions are imported through
``airflow.providers.common.compat.sdk``; this module holds only the version flags, computed once.
"""

from __future__ import annotations


def _airflow_version() -> tuple[int, int, int]:
    from airflow import __version__
    from packaging.version import Version

    version = Version(__version__)
    return version.major, version.minor, version.micro


AIRFLOW_VERSION: tuple[int, int, int] = _airflow_version()
"""Major, minor and micro of the installed Airflow."""

AIRFLOW_V_3_0_PLUS: bool = AIRFLOW_VERSION >= (3, 0, 0)
AIRFLOW_V_3_1_PLUS: bool = AIRFLOW_VERSION >= (3, 1, 0)
AIRFLOW_V_3_2_PLUS: bool = AIRFLOW_VERSION >= (3, 2, 0)

__all__ = ["AIRFLOW_VERSION", "AIRFLOW_V_3_0_PLUS", "AIRFLOW_V_3_1_PLUS", "AIRFLOW_V_3_2_PLUS"]
