"""
The FastAPI app the plugin mounts in the api-server under ``/vyro``.

* ``GET /vyro/images/{dag_id}/{run_id}/{task_id}?map_index=-1``: the task instance's items as JSON;
* ``GET /vyro/images/{dag_id}/{run_id}/{task_id}/{index}/{role}?map_index=-1[&size=thumb]``:
  one recorded file (or its thumbnail), by the item's index and the file's role (``output``,
  ``image``, ``mask``, ...): the URL names what was recorded, never a path;
* ``GET /vyro/view/{dag_id}/{run_id}/{task_id}?map_index=-1&page=1``: the HTML view.

Every route but the static script is authorised by Airflow's auth manager, as the task instance
and XCom endpoints of Airflow's own API are: the UI's session cookie or a ``Bearer`` token.
Anything not recorded by that task instance, and any malformed parameter, is 404.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep  # noqa: TC002 - FastAPI reads it at runtime
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from airflow_provider_vyro.ui import files, records, view
from airflow_provider_vyro.ui.urls import file_url

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

PAGE_SIZE = 24
"""Items per page of the view."""

MAX_JSON_ITEMS = 1000
"""The most items one JSON answer gives (``?offset=`` pages through more)."""

NOSNIFF = {"X-Content-Type-Options": "nosniff"}
_MEDIA_HEADERS = {
    **NOSNIFF,
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, max-age=300",
}
_HTML_HEADERS = {
    **NOSNIFF,
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    ),
    "Cache-Control": "no-store",
}
_STATIC = Path(__file__).resolve().parent / "static"
_STATIC_FILES = {"view.js": "text/javascript", "view.css": "text/css"}
UNMAPPED_PLACEHOLDER = "{MAP_INDEX}"
"""What the UI leaves in the view's URL for a task that is not mapped (it fills it in for mapped ones)."""

_INT = re.compile(r"^-?[0-9]{1,9}$")
_RANGE = re.compile(r"^bytes=([0-9]{0,15})-([0-9]{0,15})$")


AUTHORISED = [
    Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.TASK_INSTANCE)),
    Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.XCOM)),
]
"""What every route but the static files requires: reading the DAG's task instances and XComs."""


def _number(value: str | None, default: int, *, minimum: int) -> int:
    """Parse a whole-number parameter; anything malformed is a 404 (never a 422 echoing it)."""
    if value is None or value == "":
        return default
    if not _INT.match(value) or int(value) < minimum:
        raise HTTPException(404, "Not found")
    return int(value)


def task_key(dag_id: str, run_id: str, task_id: str, map_index: str | None = None) -> records.TaskKey:
    """
    Read the task instance a request names (a FastAPI dependency).

    :param dag_id: the DAG (path).
    :param run_id: the DAG run (path).
    :param task_id: the task (path).
    :param map_index: the map index (query; ``-1`` when not given).
    """
    if map_index == UNMAPPED_PLACEHOLDER:
        map_index = None
    return records.TaskKey(dag_id, run_id, task_id, _number(map_index, -1, minimum=-1))


TaskKeyDep = Annotated[records.TaskKey, Depends(task_key)]


def _prefix(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def describe_item(prefix: str, key: records.TaskKey, index: int, item: dict[str, Any]) -> dict[str, Any]:
    """
    Give one item as the JSON entry point does: its facts and the URL of each of its files.

    :param prefix: where the app is mounted.
    :param key: the task instance.
    :param index: the item's index.
    :param item: the item's dict as recorded.
    """
    described: dict[str, Any] = {"index": index, "status": item.get("status", "written")}
    for name in ("operation", "prompt", "output_path", "format", "bytes", "sha256", "width", "height"):
        described[name] = item.get(name)
    if item.get("error") is not None:
        described["error"] = str(item["error"])
    described["images"] = {role: file_url(prefix, key, index, role) for role in records.files_of(item)}
    return described


def create_app() -> FastAPI:
    """Build the app (the plugin mounts it under ``/vyro``)."""
    app = FastAPI(
        title="Vyro images",
        description="The images a Vyro task recorded, for the Airflow UI and for scripts.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.get("/images/{dag_id}/{run_id}/{task_id}", dependencies=AUTHORISED)
    def list_images(
        request: Request,
        key: TaskKeyDep,
        session: SessionDep,
        offset: str | None = None,
        limit: str | None = None,
    ) -> JSONResponse:
        start = _number(offset, 0, minimum=0)
        count = min(_number(limit, MAX_JSON_ITEMS, minimum=1), MAX_JSON_ITEMS)
        page = _load(session, key, start, count)
        prefix = _prefix(request)
        body: dict[str, Any] = {
            "items": [describe_item(prefix, key, i, item) for i, item in page.items],
            "total": page.total,
            "offset": start,
        }
        if page.manifest_path is not None:
            body["manifest_path"] = page.manifest_path
        if page.problem is not None:
            body["problem"] = page.problem
        return JSONResponse(body, headers={**NOSNIFF, "Cache-Control": "no-store"})

    @app.get("/images/{dag_id}/{run_id}/{task_id}/{index}/{role}", dependencies=AUTHORISED)
    def get_image(
        request: Request,
        key: TaskKeyDep,
        index: str,
        role: str,
        session: SessionDep,
        size: str | None = None,
    ) -> Response:
        if size not in (None, "thumb", "full"):
            raise HTTPException(404, "Not found")
        try:
            item, conn_id = records.item_at(session, key, _number(index, 0, minimum=0))
            path = records.file_of(item, role)
        except records.NotRecorded:
            raise HTTPException(404, "Not found") from None
        session.close()
        if size == "thumb":
            return _thumbnail(path, conn_id)
        return _stream(path, conn_id, request.headers.get("range"))

    @app.get("/view/{dag_id}/{run_id}/{task_id}", dependencies=AUTHORISED)
    def get_view(
        request: Request,
        key: TaskKeyDep,
        session: SessionDep,
        page: str | None = None,
    ) -> HTMLResponse:
        number = _number(page, 1, minimum=1)
        loaded = _load(session, key, (number - 1) * PAGE_SIZE, PAGE_SIZE)
        session.close()
        html = view.render(_prefix(request), key, loaded, number, PAGE_SIZE)
        return HTMLResponse(html, headers=_HTML_HEADERS)

    @app.get("/static/{name}")
    def get_static(name: str) -> Response:
        if name not in _STATIC_FILES:
            raise HTTPException(404, "Not found")
        return Response(
            (_STATIC / name).read_bytes(),
            media_type=_STATIC_FILES[name],
            headers={**NOSNIFF, "Cache-Control": "public, max-age=3600"},
        )

    return app


def _load(session: Session, key: records.TaskKey, offset: int, limit: int) -> records.Page:
    try:
        return records.load(session, key, offset=offset, limit=limit)
    except records.NotRecorded:
        raise HTTPException(404, "Not found") from None


def _thumbnail(path: str, conn_id: str | None) -> Response:
    try:
        with files.open_media(path, conn_id) as media:
            data, media_type = files.thumbnail(media)
    except files.FileProblem as exc:
        raise HTTPException(404, str(exc)) from None
    return Response(data, media_type=media_type, headers=_MEDIA_HEADERS)


def _stream(path: str, conn_id: str | None, range_header: str | None) -> Response:
    opened = files.open_media(path, conn_id)
    try:
        media = opened.__enter__()
    except files.FileProblem as exc:
        raise HTTPException(404, str(exc)) from None
    start, length, status = 0, media.size, 200
    headers = {**_MEDIA_HEADERS, "Accept-Ranges": "bytes"}
    if range_header and (match := _RANGE.match(range_header.strip())):
        first, last = match.groups()
        if first:
            start = int(first)
            end = min(int(last), media.size - 1) if last else media.size - 1
        elif last:
            start, end = max(media.size - int(last), 0), media.size - 1
        else:
            end = -1
        if start >= media.size or end < start:
            opened.__exit__(None, None, None)
            return Response(status_code=416, headers={**NOSNIFF, "Content-Range": f"bytes */{media.size}"})
        length, status = end - start + 1, 206
        headers["Content-Range"] = f"bytes {start}-{end}/{media.size}"
    headers["Content-Length"] = str(length)

    def body() -> Any:
        try:
            yield from files.chunks(media.fileobj, start, length)
        finally:
            opened.__exit__(None, None, None)

    return StreamingResponse(body(), status_code=status, media_type=media.content_type, headers=headers)


__all__ = ["MAX_JSON_ITEMS", "PAGE_SIZE", "create_app", "describe_item"]
