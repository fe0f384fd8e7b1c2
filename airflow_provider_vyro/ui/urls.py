"""The app's URLs: of one recorded file (by item index and role, never by path) and of the view."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    from airflow_provider_vyro.ui.records import TaskKey


def file_url(prefix: str, key: TaskKey, index: int, role: str, *, thumb: bool = False) -> str:
    """
    Give the URL (a path on the api-server) of one recorded file.

    :param prefix: where the app is mounted, e.g. ``/vyro``.
    :param key: the task instance.
    :param index: the item's index.
    :param role: the file's role (``output``, ``image``, ``mask``, ...).
    :param thumb: the thumbnail instead of the file.
    """
    segments = "/".join(quote(s, safe="") for s in (key.dag_id, key.run_id, key.task_id, str(index), role))
    query: dict[str, Any] = {"map_index": key.map_index}
    if thumb:
        query["size"] = "thumb"
    return f"{prefix}/images/{segments}?{urlencode(query)}"


def view_url(prefix: str, key: TaskKey, page: int = 1) -> str:
    """
    Give the URL of the view of a task instance.

    :param prefix: where the app is mounted, e.g. ``/vyro``.
    :param key: the task instance.
    :param page: the page (from 1).
    """
    segments = "/".join(quote(s, safe="") for s in (key.dag_id, key.run_id, key.task_id))
    query: dict[str, Any] = {"map_index": key.map_index}
    if page != 1:
        query["page"] = page
    return f"{prefix}/view/{segments}?{urlencode(query)}"


__all__ = ["file_url", "view_url"]
