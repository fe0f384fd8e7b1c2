"""
What a task instance recorded, read from Airflow's metadata database: the items the view shows.

A Vyro task returns one dict per image (single task), a list of them (batch), or, when it wrote a
manifest, a small summary naming ``manifest_path`` whose JSON lines are the items. The view
serves only the files named there: an item's ``*_path`` keys (``output_path``, ``image_path``,
``mask_path``, ...) and, for the generic operation, the values of its ``files`` dict. The storage
connection is the one the task used: its rendered ``storage_conn_id``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_vyro.ledger import RunKey as TaskKey

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.orm import Session

MAX_MANIFEST_BYTES = 256 * 1024 * 1024
"""The most bytes of a manifest read to page through it; lines past it are not shown."""

MAX_MANIFEST_LINE = 1024 * 1024
"""A manifest line longer than this is shown as unreadable."""


class NotRecorded(LookupError):
    """No such task instance, or it recorded nothing the view can show."""


@dataclass(frozen=True)
class Page:
    """
    Some of the items of a task instance.

    :param items: ``(index, item)`` pairs in order; ``index`` counts from 0 over all items.
    :param total: how many items there are in all (as far as the manifest was read).
    :param offset: the index of the first item asked for.
    :param storage_conn_id: the connection the task read and wrote remote files with.
    :param manifest_path: where the items came from, when the task wrote a manifest.
    :param problem: why the items cannot be listed (an unreadable manifest), or ``None``.
    :param summary: what the task returned when it wrote a manifest.
    """

    items: list[tuple[int, dict[str, Any]]]
    total: int
    offset: int
    storage_conn_id: str | None = None
    manifest_path: str | None = None
    problem: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def files_of(item: dict[str, Any]) -> dict[str, str]:
    """
    Name the files an item recorded, by role: ``output``, ``image``, ``mask``, ...

    :param item: one item's dict (from XCom or a manifest line).
    :return: role to path, the output first; only non-empty string paths.
    """
    found: dict[str, str] = {}
    for key, value in item.items():
        if key.endswith("_path") and key != "manifest_path" and isinstance(value, str) and value:
            found[key.removesuffix("_path")] = value
    files = item.get("files")
    if isinstance(files, dict):
        for name, value in files.items():
            if isinstance(name, str) and isinstance(value, str) and value and name not in found:
                found[name] = value
    if "output" in found:
        found = {"output": found.pop("output"), **found}
    return found


def file_of(item: dict[str, Any], role: str) -> str:
    """
    Give the path an item recorded for ``role``.

    :param item: one item's dict.
    :param role: e.g. ``output``, ``image``, ``mask``.
    :raises NotRecorded: the item recorded no file for that role.
    """
    path = files_of(item).get(role)
    if path is None:
        raise NotRecorded(role)
    return path


def load(session: Session, key: TaskKey, *, offset: int = 0, limit: int | None = None) -> Page:
    """
    Read the items a task instance recorded.

    :param session: a metadata database session.
    :param key: the task instance.
    :param offset: the index of the first item to give.
    :param limit: the most items to give; ``None``: all from ``offset``.
    :raises NotRecorded: the task instance does not exist, or its return value holds no item.
    """
    if not _task_instance_exists(session, key):
        raise NotRecorded(f"no task instance {key}")
    value = _return_value(session, key)
    conn_id = _storage_conn_id(session, key)
    end = None if limit is None else offset + limit
    if isinstance(value, dict) and isinstance(value.get("manifest_path"), str) and "operation" not in value:
        manifest = value["manifest_path"]
        try:
            items, total = _manifest_page(manifest, conn_id, offset, end)
        except Exception as exc:
            return Page([], 0, offset, conn_id, manifest, _describe(exc), summary=value)
        return Page(items, total, offset, conn_id, manifest, summary=value)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not any(_is_item(v) for v in value):
        raise NotRecorded(f"{key} returned no image")
    items = [(i, v) for i, v in enumerate(value) if _is_item(v)]
    return Page(items[offset:end], len(items), offset, conn_id)


def item_at(session: Session, key: TaskKey, index: int) -> tuple[dict[str, Any], str | None]:
    """
    Give one recorded item and the storage connection to read its files with.

    :param session: a metadata database session.
    :param key: the task instance.
    :param index: the item's index (as in :attr:`Page.items`).
    :raises NotRecorded: there is no such item.
    """
    if index < 0:
        raise NotRecorded(f"no item {index}")
    page = load(session, key, offset=index, limit=1)
    if not page.items or page.items[0][0] != index:
        raise NotRecorded(f"no item {index}")
    return page.items[0][1], page.storage_conn_id


def _is_item(value: Any) -> bool:
    return isinstance(value, dict) and bool(files_of(value))


def _of(model: Any, key: TaskKey) -> list[Any]:
    """Select the rows of ``model`` that belong to one task instance."""
    return [
        model.dag_id == key.dag_id,
        model.run_id == key.run_id,
        model.task_id == key.task_id,
        model.map_index == key.map_index,
    ]


def _task_instance_exists(session: Session, key: TaskKey) -> bool:
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    return session.scalar(select(TaskInstance.task_id).where(*_of(TaskInstance, key))) is not None


def _return_value(session: Session, key: TaskKey) -> Any:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    row = session.scalar(select(XComModel).where(*_of(XComModel, key), XComModel.key == "return_value"))
    if row is None:
        return None
    value = XComModel.deserialize_value(row)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value


def _storage_conn_id(session: Session, key: TaskKey) -> str | None:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as Rendered
    from sqlalchemy import select

    fields = session.scalar(select(Rendered.rendered_fields).where(*_of(Rendered, key)))
    if isinstance(fields, str):
        fields = json.loads(fields)
    conn_id = fields.get("storage_conn_id") if isinstance(fields, dict) else None
    return conn_id if isinstance(conn_id, str) and conn_id else None


def _manifest_page(
    manifest: str, conn_id: str | None, start: int, end: int | None
) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    items: list[tuple[int, dict[str, Any]]] = []
    total = 0
    for index, line in enumerate(_lines(manifest, conn_id)):
        total = index + 1
        if index < start or (end is not None and index >= end):
            continue
        items.append((index, _parse_line(line)))
    return items, total


def _parse_line(line: bytes) -> dict[str, Any]:
    if len(line) > MAX_MANIFEST_LINE:
        return {"status": "unreadable", "error": "manifest line too long"}
    try:
        value = json.loads(line)
    except ValueError:
        return {"status": "unreadable", "error": "not a JSON object"}
    return value if isinstance(value, dict) else {"status": "unreadable", "error": "not a JSON object"}


def _lines(manifest: str, conn_id: str | None) -> Iterator[bytes]:
    from airflow_provider_vyro.ui import files

    with files.open_recorded(manifest, conn_id) as fileobj:
        read = 0
        for raw in fileobj:
            read += len(raw)
            if read > MAX_MANIFEST_BYTES:
                return
            line = raw.strip()
            if line:
                yield line


def _describe(exc: BaseException) -> str:
    from airflow_provider_vyro.ui.files import describe_problem

    return f"the manifest cannot be read: {describe_problem(exc)}"


__all__ = ["MAX_MANIFEST_BYTES", "NotRecorded", "Page", "TaskKey", "file_of", "files_of", "item_at", "load"]
