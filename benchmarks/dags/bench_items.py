"""Shared by the benchmark DAGs: the task that reads the items from the run's ``conf["items"]``."""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import task


@task
def list_items(dag_run: Any = None) -> list[dict[str, Any]]:
    """The items the benchmark passed in the run's conf: dicts of InpaintOperator arguments."""
    items: list[dict[str, Any]] = dag_run.conf["items"]
    return items
