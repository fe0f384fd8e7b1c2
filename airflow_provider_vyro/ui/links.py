"""The "Vyro images" button of every Vyro operator (Airflow 3.1+): it opens the task instance's view."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.providers.common.compat.sdk import BaseOperatorLink

from airflow_provider_vyro.version_compat import AIRFLOW_V_3_1_PLUS

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import TaskInstanceKey

VIEW_ROUTE = "vyro-images"
"""The view's route in the UI: ``/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/plugin/vyro-images``."""


def view_path(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """
    Give the UI's path of a task instance's "Vyro images" view.

    :param dag_id: the DAG.
    :param run_id: the DAG run.
    :param task_id: the task.
    :param map_index: the map index (``-1`` when not mapped).
    """
    parts = "/".join(quote(p, safe="") for p in (dag_id, "runs", run_id, "tasks", task_id))
    mapped = f"/mapped/{map_index}" if map_index >= 0 else ""
    return f"/dags/{parts}{mapped}/plugin/{VIEW_ROUTE}"


class VyroImagesLink(BaseOperatorLink):
    """Open the task instance's images in the Airflow UI."""

    name = "Vyro images"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        """
        Give the view's URL: under ``[api] base_url`` when it is set, else a path on the UI's host.

        :param operator: the operator (unused).
        :param ti_key: the task instance.
        """
        from airflow.providers.common.compat.sdk import conf

        base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
        return base + view_path(ti_key.dag_id, ti_key.run_id, ti_key.task_id, ti_key.map_index)


EXTRA_LINKS: tuple[BaseOperatorLink, ...] = (VyroImagesLink(),) if AIRFLOW_V_3_1_PLUS else ()
"""The extra links of every Vyro operator: the view's on Airflow 3.1+, none before."""

__all__ = ["EXTRA_LINKS", "VIEW_ROUTE", "VyroImagesLink", "view_path"]
