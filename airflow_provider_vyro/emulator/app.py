"""The emulator's ASGI application: every operation of the catalogue, fault injection and stats.

Each operation of :mod:`airflow_provider_vyro.catalogue` (the v1 inpaint endpoint and the v2
image endpoints) is served at its path with its documented fields. Order of work for one
request: count it, take its fault (the script first, then the random faults), read the
multipart body (spooled to disk by Starlette), wait the latency, then either answer the fault
or check the token, the fields and the files by content, and answer the image. Faults answer
before the token check, as a failing server or network would; ``truncate`` cuts whatever the
normal answer would have been.

v1 answers as its reference shows: the token in a ``bearer`` header (``Authorization: Bearer``
is accepted too), errors with the HTTP status as their code, a PNG labelled ``image/png``. v2
answers as its reference shows: the token in ``Authorization: Bearer`` only (missing: 400 with
code 1000; wrong: 401 with code 1001), invalid requests 400 with code 1100, the image labelled
``application/octet-stream``. The ``answer_format`` knob makes an operation answer JPEG or WebP.
"""

from __future__ import annotations

import hmac
import http
import io
import struct
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from PIL import Image
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from airflow_provider_vyro.catalogue import (
    ENDPOINTS,
    INPAINT,
    JOB_ENDPOINTS,
    TEXT_TO_VIDEO,
    Endpoint,
    TextField,
)
from airflow_provider_vyro.emulator import cutouts, scenes
from airflow_provider_vyro.emulator.faults import Fault, FaultConfig, FaultInjector
from airflow_provider_vyro.emulator.inpainting import inpaint
from airflow_provider_vyro.emulator.video import STORAGE_HOST, VideoBoard

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from starlette.types import Receive, Scope, Send

INPAINT_PATH = INPAINT.path
TRANSPORT_EXTENSION = "vyro.transport"
"""Key under ``scope["extensions"]`` where the server puts the connection's asyncio transport."""

SUPPORTED_MODEL_VERSIONS = ("1",)
TIMELINE_LIMIT = 10_000
"""Requests kept in the stats' timeline (arrival, answer, status) between resets."""

RESET_PATIENCE = 5.0
"""Seconds a reset waits for the calls it ended to be gone before it clears the stats."""
_FORM_CONTENT_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_OTHER_FORMATS = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
)
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, Image.DecompressionBombError)
_FAULT_MESSAGES = {
    400: "The request is malformed or incomplete.",
    401: "Authentication is required or has failed.",
    402: "Insufficient credits.",
    403: "This token may not use this endpoint.",
    406: "The token is not acceptable.",
    422: "The request could not be processed.",
    424: "Insufficient credits for this request.",
    429: "Too many requests; slow down.",
    500: "An unexpected condition was encountered.",
    502: "Bad gateway.",
    503: "The service is temporarily unavailable.",
    504: "Gateway timeout.",
}
V2_CODES = {400: 1100, 401: 1001, 402: 1101, 406: 1002, 429: 1202, 503: 1200}
"""The v2 reference's error code for each status the emulator answers on a v2 path."""
V2_TOKEN_MISSING = 1000
_V2_MESSAGES = {
    400: "Invalid request.",
    401: "The bearer token is invalid.",
    402: "Not enough tokens (credits) for this request.",
    406: "The bearer token has expired.",
    429: "Too many requests.",
    503: "The service is unavailable.",
}
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_HTML_BODY = (
    b"<!DOCTYPE html><html><head><title>Maintenance</title></head><body><h1>Be right back</h1></body></html>"
)
_GARBAGE_BODY = b"GARBAGE, NOT A PNG\x00" + bytes(range(256)) * 4
_ADMIN_TAG = "emulator admin"


class InputError(Exception):
    """A request field that the real API would reject with 400 (v2: code 1100)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Stats:
    """Thread-safe request counters, served by ``GET /_emulator/stats``."""

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    auth: Counter[str] = field(default_factory=Counter)
    operations: Counter[str] = field(default_factory=Counter)
    last_request: dict[str, Any] | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    epoch: float = field(default_factory=time.monotonic)

    def clock(self) -> float:
        """Seconds since the stats were last reset."""
        return time.monotonic() - self.epoch

    def record(self, arrived: float, status: int | None, fault: str | None) -> None:
        """Add one request to the timeline: when it arrived and was answered, and how."""
        entry = {
            "arrived": round(arrived, 4),
            "answered": round(self.clock(), 4),
            "status": status,
            "fault": fault,
        }
        with self._lock:
            if len(self.timeline) < TIMELINE_LIMIT:
                self.timeline.append(entry)

    def request_started(self, operation: str) -> None:
        """Count a request that reached an operation's endpoint."""
        with self._lock:
            self.operations[operation] += 1
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def request_finished(self) -> None:
        """Mark the end of a request counted by :meth:`request_started`."""
        with self._lock:
            self.in_flight -= 1

    def count(self, counter: str, key: str) -> None:
        """Add one to ``by_status``, ``faults`` or ``auth`` under ``key``."""
        with self._lock:
            getattr(self, counter)[key] += 1

    def remember(self, description: dict[str, Any]) -> None:
        """Keep the description of the latest request."""
        with self._lock:
            self.last_request = description

    def reset(self) -> None:
        """Forget everything except the requests in flight."""
        with self._lock:
            self.requests = 0
            self.max_in_flight = self.in_flight
            self.by_status.clear()
            self.faults.clear()
            self.auth.clear()
            self.operations.clear()
            self.last_request = None
            self.timeline.clear()
            self.epoch = time.monotonic()

    def to_json(self) -> dict[str, Any]:
        """Return a consistent snapshot, as served by the stats endpoint."""
        with self._lock:
            return {
                "requests": self.requests,
                "by_status": dict(self.by_status),
                "faults": dict(self.faults),
                "auth": {"bearer": self.auth["bearer"], "authorization": self.auth["authorization"]},
                "operations": dict(self.operations),
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "last_request": self.last_request,
                "timeline": list(self.timeline),
            }


@dataclass
class EmulatorState:
    """
    What the routes share: the token, the fault injector, the stats, and the calls waiting.

    :param waits: the cancel scopes of calls waiting out a latency or ``sleep`` fault; a reset
        cancels them, and those calls end by dropping their connection.
    """

    token: str
    faults: FaultInjector
    stats: Stats
    video: VideoBoard
    waits: set[anyio.CancelScope] = field(default_factory=set)

    async def end_calls_in_flight(self, patience: float = RESET_PATIENCE) -> None:
        """Drop the connection of every call waiting, then wait (a bounded time) until none is in flight."""
        for scope in list(self.waits):
            scope.cancel()
        with anyio.move_on_after(patience):
            while self.stats.to_json()["in_flight"]:
                await anyio.sleep(0.01)


def error_response(
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    code: int | str | None = None,
) -> JSONResponse:
    """
    Build the JSON error body ``{"status", "code", "error", "message"}`` with that status.

    :param code: the API's error code; default: the status itself (as v1 answers).
    """
    body = {
        "status": "error",
        "code": status if code is None else code,
        "error": _phrase(status),
        "message": message,
    }
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def code_for(endpoint: Endpoint, status: int) -> int:
    """Return the error code an operation's API version gives with a status."""
    return V2_CODES.get(status, status) if endpoint.api_version == "v2" else status


def create_app(token: str, faults: FaultConfig | None = None) -> FastAPI:
    """Build the emulator app that accepts ``token`` and starts with the ``faults`` knobs."""
    if not token:
        raise ValueError("the emulator needs a non-empty token")
    state = EmulatorState(
        token=token, faults=FaultInjector(faults or FaultConfig()), stats=Stats(), video=VideoBoard(token)
    )
    app = FastAPI(title="Vyro Imagine API emulator", version="1", docs_url="/_emulator/docs", redoc_url=None)
    app.state.emulator = state

    @app.middleware("http")
    async def quota(request: Request, call_next: Any) -> Response:
        """Apply the ``quota`` knob: rate-limit headers on API answers, 429 (1202 on v2) past the quota."""
        path = request.url.path
        taken = (
            None if path.startswith(("/_emulator", "/storage")) else state.faults.take_quota(time.monotonic())
        )
        if taken is None:
            response: Response = await call_next(request)
            return response
        allowed, headers = taken
        if not allowed:
            state.stats.count("faults", "quota")
            state.stats.count("by_status", "429")
            code = 1202 if path.startswith("/v2/") else 429
            return error_response(429, "Too many requests: this window's quota is spent.", headers, code=code)
        response = await call_next(request)
        response.headers.update(headers)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(exc.status_code, str(exc.detail), exc.headers)

    for endpoint in ENDPOINTS.values():
        fields = ", ".join(endpoint.field_names)
        doc = f"{endpoint.summary} ({endpoint.api_version}: multipart {fields})"
        _add_route(app, state, endpoint, _operation_request, doc)
    for endpoint in JOB_ENDPOINTS.values():
        doc = f"{endpoint.summary} (multipart {', '.join(endpoint.field_names)})"
        _add_route(app, state, endpoint, _job_submit, doc)
    _add_video_routes(app, state)

    @app.get("/_emulator/health", tags=[_ADMIN_TAG])
    async def health() -> dict[str, str]:
        """Liveness probe."""
        return {"status": "ok"}

    @app.get("/_emulator/stats", tags=[_ADMIN_TAG])
    async def stats() -> dict[str, Any]:
        """Return the counters of the API requests since start or the last reset."""
        return state.stats.to_json()

    @app.get("/_emulator/faults", tags=[_ADMIN_TAG])
    async def get_faults() -> dict[str, object]:
        """Return the fault knobs in force (with what is left of the script)."""
        return state.faults.snapshot().to_json()

    @app.post("/_emulator/faults", tags=[_ADMIN_TAG], response_model=None)
    async def set_faults(request: Request) -> Response | dict[str, object]:
        """Replace the knobs present in the JSON body; the others are kept."""
        try:
            knobs = await request.json()
        except ValueError:
            return error_response(400, "The body must be a JSON object of fault knobs.")
        if not isinstance(knobs, dict):
            return error_response(400, "The body must be a JSON object of fault knobs.")
        try:
            return state.faults.configure(knobs).to_json()
        except ValueError as exc:
            return error_response(400, str(exc))

    @app.post("/_emulator/reset", tags=[_ADMIN_TAG])
    async def reset() -> dict[str, str]:
        """End the calls in flight (their connections are dropped), then clear the stats and every fault."""
        await state.end_calls_in_flight()
        state.stats.reset()
        state.faults.reset()
        state.video.reset()
        return {"status": "ok"}

    return app


def _add_route(
    app: FastAPI,
    state: EmulatorState,
    endpoint: Endpoint,
    handle: Callable[[EmulatorState, Endpoint, Request], Awaitable[Response]],
    doc: str,
) -> None:
    async def operation(request: Request) -> Response:
        state.stats.request_started(endpoint.operation)
        try:
            return await handle(state, endpoint, request)
        finally:
            state.stats.request_finished()

    operation.__doc__ = doc
    app.post(
        endpoint.path,
        response_class=Response,
        openapi_extra=_openapi(endpoint),
        name=endpoint.operation,
        summary=endpoint.summary,
    )(operation)


async def _job_submit(state: EmulatorState, endpoint: Endpoint, request: Request) -> Response:
    fault = state.faults.next_fault()
    try:
        form, form_error = await _read_form(request)
    except ClientDisconnect:
        return _NoResponse()
    try:
        if fault is not None and fault.kind not in ("ok", "sleep", "truncate", "drop"):
            state.stats.count("faults", fault.label)
            return _fault_response(endpoint, fault, state.faults.snapshot())
        refused = _refusal(state, endpoint, request, form_error)
        if refused is not None:
            return refused
        try:
            fields = _fields(endpoint, form)
            uploads = [_upload(form, spec.name) for spec in endpoint.file_fields]
            frame = (
                await anyio.to_thread.run_sync(_decode, uploads[0].filename or "file", uploads[0].file)
                if uploads
                else None
            )
        except InputError as exc:
            return error_response(400, exc.message, code=code_for(endpoint, 400))
        job = state.video.submit(endpoint.operation, fields, frame)
        return JSONResponse({"id": job.id, "status": "processing"})
    finally:
        await form.close()


def _add_video_routes(app: FastAPI, state: EmulatorState) -> None:
    async def job_status(request: Request, job_id: str) -> Response:
        """Answer the status of a video job (also at the deprecated and the assets paths)."""
        fault = state.faults.next_fault()
        if fault is not None and fault.kind not in ("ok", "sleep", "truncate", "drop"):
            state.stats.count("faults", fault.label)
            return _fault_response(TEXT_TO_VIDEO, fault, state.faults.snapshot())
        if _authenticate(request, state.token, TEXT_TO_VIDEO) is None:
            return _token_refused(request, TEXT_TO_VIDEO)
        answer = state.video.status(job_id)
        if answer is None:
            return error_response(404, f"No job {job_id!r}.", code=code_for(TEXT_TO_VIDEO, 404))
        return JSONResponse(answer)

    for path in ("/v2/video/{job_id}/status", "/v2/video/status/{job_id}", "/v2/assets/{job_id}/status"):
        app.get(path, response_class=Response, name=f"job_status {path}")(job_status)

    @app.get("/storage/{job_id}/{name}", response_class=Response, include_in_schema=False)
    async def storage(request: Request, job_id: str, name: str) -> Response:
        server = request.scope.get("server") or ("", 0)
        if server[0] != STORAGE_HOST and not state.video.storage_url.startswith(f"http://{server[0]}:"):
            return error_response(404, "Not found.")
        state.video.note_storage_request(str(request.url), dict(request.headers))
        signature = request.query_params.get("signature", "")
        if not hmac.compare_digest(signature, state.video.signature(request.url.path)):
            return error_response(403, "The signature does not match.")
        found = await anyio.to_thread.run_sync(state.video.download, job_id, name)
        if found is None:
            return error_response(404, "No such object.")
        body, truncate = found
        media = "video/mp4" if name.endswith(".mp4") else "image/jpeg"
        response = Response(body, media_type=media)
        return _TruncatedResponse(response) if truncate else response

    @app.get("/_emulator/video", tags=[_ADMIN_TAG])
    async def video_stats() -> dict[str, Any]:
        """Return the video jobs' counters, knobs and what reached the storage host."""
        return state.video.to_json()

    @app.post("/_emulator/video", tags=[_ADMIN_TAG], response_model=None)
    async def video_knobs(request: Request) -> Response | dict[str, Any]:
        """Set the video knobs present in the JSON body (duration, fail_next, truncate_next, ...)."""
        try:
            return state.video.configure(await request.json())
        except (ValueError, TypeError) as exc:
            return error_response(400, str(exc))


async def _operation_request(state: EmulatorState, endpoint: Endpoint, request: Request) -> Response:
    arrived = state.stats.clock()
    fault = state.faults.next_fault()
    label = fault.label if fault is not None and fault.kind != "ok" else None
    if label is not None:
        state.stats.count("faults", label)
    status: int | None = None
    try:
        form, form_error = await _read_form(request)
    except ClientDisconnect:
        return _NoResponse()
    try:
        state.stats.remember(_describe(endpoint, request, form, state.token))
        delay = state.faults.snapshot().latency + (fault.seconds if fault is not None else 0.0)
        with anyio.CancelScope() as wait:
            state.waits.add(wait)
            try:
                if not await _pause_unless_disconnected(request, delay):
                    return _NoResponse()
            finally:
                state.waits.discard(wait)
        if wait.cancelled_caught:
            return _DroppedConnection()
        if fault is not None and fault.kind == "drop":
            return _DroppedConnection()
        if fault is not None and fault.kind not in ("ok", "sleep", "truncate"):
            response = _fault_response(endpoint, fault, state.faults.snapshot())
        else:
            response = await _answer(state, endpoint, request, form, form_error)
        status = response.status_code
        state.stats.count("by_status", str(status))
        if fault is not None and fault.kind == "truncate":
            return _TruncatedResponse(response)
        return response
    finally:
        state.stats.record(arrived, status, label)
        await form.close()


async def _read_form(request: Request) -> tuple[FormData, str | None]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _FORM_CONTENT_TYPES:
        async for _ in request.stream():
            pass
        shown = content_type or "no content type"
        return FormData(), f"The request body must be multipart/form-data, got {shown!r}."
    try:
        return await request.form(max_files=8, max_fields=32), None
    except StarletteHTTPException as exc:
        return FormData(), f"Malformed multipart body: {exc.detail}"


async def _answer(
    state: EmulatorState, endpoint: Endpoint, request: Request, form: FormData, form_error: str | None
) -> Response:
    refused = _refusal(state, endpoint, request, form_error)
    if refused is not None:
        return refused
    try:
        fields = _fields(endpoint, form)
        uploads = {spec.name: _upload(form, spec.name) for spec in endpoint.file_fields}
        answer_format = state.faults.snapshot().answer_format_of(endpoint.operation)
        body = await anyio.to_thread.run_sync(_render, endpoint, fields, uploads, answer_format)
    except InputError as exc:
        return error_response(400, exc.message, code=code_for(endpoint, 400))
    return Response(body, media_type=endpoint.answer_content_type)


def _refusal(
    state: EmulatorState, endpoint: Endpoint, request: Request, form_error: str | None
) -> Response | None:
    """Answer a refused token or a malformed form; ``None`` when the request may go on (auth counted)."""
    method = _authenticate(request, state.token, endpoint)
    if method is None:
        return _token_refused(request, endpoint)
    state.stats.count("auth", method)
    if form_error is not None:
        return error_response(400, form_error, code=code_for(endpoint, 400))
    return None


def _authenticate(request: Request, token: str, endpoint: Endpoint) -> str | None:
    expected = token.encode()
    bearer = request.headers.get("bearer")
    if (
        endpoint.api_version == "v1"
        and bearer is not None
        and hmac.compare_digest(bearer.strip().encode(), expected)
    ):
        return "bearer"
    scheme, _, credentials = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), expected):
        return "authorization"
    return None


def _token_refused(request: Request, endpoint: Endpoint) -> Response:
    if endpoint.api_version == "v1":
        return error_response(401, "Missing or invalid token: send it in the 'bearer' header.")
    scheme, _, credentials = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return error_response(
            400,
            "Bearer token missing: send it as 'Authorization: Bearer <token>'.",
            code=V2_TOKEN_MISSING,
        )
    return error_response(401, "The bearer token is invalid.", code=code_for(endpoint, 401))


def _fields(endpoint: Endpoint, form: FormData) -> dict[str, str]:
    known = {spec.name for spec in endpoint.file_fields}
    for name, part in form.items():
        if endpoint.shape_source == "public clients" and isinstance(part, str):
            continue
        if endpoint.text_field(name) is None and name not in known:
            expected = ", ".join(endpoint.field_names)
            raise InputError(f"Unknown field '{name}'; this endpoint takes {expected}.")
    fields: dict[str, str] = {}
    for spec in endpoint.text_fields:
        value = _field(spec, form.get(spec.name))
        if value is not None:
            fields[spec.name] = value
    return fields


def _field(spec: TextField, value: str | UploadFile | None) -> str | None:
    if isinstance(value, UploadFile):
        raise InputError(f"Field '{spec.name}' must be a text field, not a file.")
    if value is None:
        if spec.required:
            raise InputError(f"Missing required field '{spec.name}'.")
        return spec.default
    if spec.kind == "prompt" and not value.strip():
        raise InputError(f"Field '{spec.name}' must be a non-empty text field.")
    if spec.kind == "choice" and value not in spec.choices:
        allowed = ", ".join(spec.choices)
        raise InputError(f"Invalid {spec.name} {value!r}: must be one of {allowed}.")
    if spec.kind == "seed" and not (value.isascii() and value.isdigit() and int(value) >= 1):
        raise InputError(f"Field '{spec.name}' must be an integer >= 1, got {value!r}.")
    if spec.kind == "digits" and value.strip() not in SUPPORTED_MODEL_VERSIONS:
        supported = ", ".join(repr(v) for v in SUPPORTED_MODEL_VERSIONS)
        raise InputError(f"Field '{spec.name}' must be one of {supported}, got {value!r}.")
    return value.strip() if spec.kind == "digits" else value


def _upload(form: FormData, name: str) -> UploadFile:
    upload = form.get(name)
    if upload is None:
        raise InputError(f"Missing required file '{name}'.")
    if not isinstance(upload, UploadFile):
        raise InputError(f"Field '{name}' must be a file upload (jpeg/jpg or png), not a text field.")
    return upload


def _render(
    endpoint: Endpoint, fields: Mapping[str, str], uploads: Mapping[str, UploadFile], answer_format: str
) -> bytes:
    images = {name: _decode(name, upload.file) for name, upload in uploads.items()}
    for spec in endpoint.file_fields:
        other = spec.same_size_as
        if other is not None and images[spec.name].size != images[other].size:
            mine, theirs = images[spec.name], images[other]
            raise InputError(
                f"File '{spec.name}' is {mine.width}x{mine.height} but '{other}' is "
                f"{theirs.width}x{theirs.height}; they must have the same size."
            )
        if (
            spec.needs_alpha
            and images[spec.name].mode not in _ALPHA_MODES
            and ("transparency" not in images[spec.name].info)
        ):
            raise InputError(
                f"File '{spec.name}' must have a transparent background (an alpha channel); "
                f"got a {images[spec.name].mode} image."
            )
    return encode(_picture(endpoint, fields, images), answer_format)


def _picture(endpoint: Endpoint, fields: Mapping[str, str], images: Mapping[str, Image.Image]) -> Image.Image:
    prompt, seed = fields.get("prompt", ""), fields.get("seed")
    if "mask" in images:
        return inpaint(images["image"], images["mask"])
    if "image" in images and endpoint.answer_larger:
        return cutouts.upscale(images["image"])
    if "image" in images and "prompt" not in fields and endpoint.answer_alpha == "transparent":
        return cutouts.cut_out(images["image"])
    if "image" in images:
        return scenes.behind(images["image"], prompt, seed=seed, style=fields.get("style", ""))
    size = scenes.size_of(fields.get("aspect_ratio", "1:1"))
    if "style" not in fields:
        return scenes.transparent_subject(prompt, seed=seed, size=size)
    return scenes.landscape(prompt, seed=seed, style=fields["style"], size=size)


def encode(image: Image.Image, fmt: str) -> bytes:
    """Encode an answer: PNG (favouring speed over size), JPEG or WebP (lossy, RGB; WebP keeps alpha)."""
    buffer = io.BytesIO()
    if fmt == "PNG":
        image.save(buffer, format="PNG", compress_level=1)
    elif fmt == "JPEG":
        image.convert("RGB").save(buffer, format="JPEG", quality=90)
    else:
        image.save(buffer, format="WEBP", quality=85, method=0)
    return buffer.getvalue()


def _decode(name: str, file: IO[bytes]) -> Image.Image:
    file.seek(0)
    head = file.read(16)
    detected = _sniff(head)
    if detected not in ("PNG", "JPEG"):
        raise InputError(f"File '{name}' must be a JPEG or PNG image (by content), got {detected}.")
    file.seek(0)
    try:
        image = Image.open(file, formats=[detected])
        image.load()
    except _DECODE_ERRORS as exc:
        raise InputError(f"File '{name}' is not a valid {detected} image: {exc}.") from None
    return image


def _sniff(head: bytes) -> str:
    if head.startswith(_PNG_MAGIC):
        return "PNG"
    if head.startswith(_JPEG_MAGIC):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    for magic, name in _OTHER_FORMATS:
        if head.startswith(magic):
            return name
    return "an empty file" if not head else "content that is not an image"


def _describe(endpoint: Endpoint, request: Request, form: FormData, token: str) -> dict[str, Any]:
    description: dict[str, Any] = {"operation": endpoint.operation, "path": endpoint.path}
    text_names = [spec.name for spec in endpoint.text_fields]
    text_names += [name for name, value in form.items() if isinstance(value, str) and name not in text_names]
    for field_name in text_names:
        value = form.get(field_name)
        description[field_name] = value if isinstance(value, str) else None
    file_names = [spec.name for spec in endpoint.file_fields]
    file_names += [
        name for name, value in form.items() if isinstance(value, UploadFile) and name not in file_names
    ]
    for file_name in file_names:
        upload = form.get(file_name)
        if isinstance(upload, UploadFile):
            filename, content_type, size = upload.filename, upload.content_type, upload.size
        else:
            filename = content_type = size = None
        description[f"{file_name}_filename"] = filename
        description[f"{file_name}_content_type"] = content_type
        description[f"{file_name}_bytes"] = size
    description["headers"] = {name: _redact(name, value, token) for name, value in request.headers.items()}
    return description


def _redact(name: str, value: str, token: str) -> str:
    if name == "bearer":
        return "***"
    if name == "authorization":
        scheme, _, credentials = value.partition(" ")
        return f"{scheme} ***" if credentials else "***"
    return value.replace(token, "***")


def _fault_response(endpoint: Endpoint, fault: Fault, config: FaultConfig) -> Response:
    if fault.kind == "json200":
        return JSONResponse(
            {"status": "success", "code": 200, "message": "Emulated fault: JSON instead of an image."}
        )
    if fault.kind == "html200":
        return Response(_HTML_BODY, media_type="text/html; charset=utf-8")
    if fault.kind == "garbage200":
        return Response(_GARBAGE_BODY, media_type="image/png")
    if fault.kind in ("badcrc200", "undecodable200"):
        return Response(_corrupt_png(fault.kind), media_type="image/png")
    if fault.kind == "redirect":
        status = fault.status or 307
        return Response(status_code=status, headers={"Location": fault.location or ""})
    status = fault.status or 500
    headers: dict[str, str] = {}
    retry_after = fault.retry_after if fault.retry_after is not None else config.retry_after
    if status == 429 and retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    messages = _V2_MESSAGES if endpoint.api_version == "v2" else {}
    message = messages.get(status) or _FAULT_MESSAGES.get(status, f"Emulated fault: {_phrase(status)}.")
    code = fault.code if fault.code is not None else code_for(endpoint, status)
    return error_response(status, message, headers, code=code)


def _corrupt_png(kind: str) -> bytes:
    """Give a 64x48 PNG, signature to IEND, whose image data is corrupt (see the fault kinds)."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, "PNG")
    png = buffer.getvalue()
    start = png.index(b"IDAT") + 4
    (length,) = struct.unpack(">I", png[start - 8 : start - 4])
    if kind == "badcrc200":
        data = bytes([png[start] ^ 0xFF]) + png[start + 1 : start + length]
        crc = png[start + length : start + length + 4]
    else:
        data = bytes(range(7, 7 + length))  # not a zlib stream
        crc = struct.pack(">I", zlib.crc32(b"IDAT" + data))
    return png[:start] + data + crc + png[start + length + 4 :]


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _pause_unless_disconnected(request: Request, seconds: float) -> bool:
    if seconds <= 0:
        return True
    with anyio.move_on_after(seconds):
        await _until_disconnected(request.receive)
        return False
    return True


async def _until_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _transport_of(scope: Scope) -> Any:
    transport = scope.get("extensions", {}).get(TRANSPORT_EXTENSION)
    if transport is None:
        raise RuntimeError(
            "This fault needs the connection's transport: serve the app with EmulatorServer, "
            "the vyro-emulator CLI, or uvicorn with http=EmulatorH11Protocol."
        )
    return transport


class _NoResponse(Response):
    """Nothing to send: the client is already gone."""

    def __init__(self) -> None:
        super().__init__(status_code=499)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


class _DroppedConnection(Response):
    """Close the TCP connection without sending a single byte of response."""

    def __init__(self) -> None:
        super().__init__(status_code=499)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _transport_of(scope).abort()
        with anyio.move_on_after(5):
            await _until_disconnected(receive)


class _TruncatedResponse(Response):
    """Send the status and headers of ``full`` (its Content-Length too), half its body, then close."""

    def __init__(self, full: Response) -> None:
        super().__init__(status_code=full.status_code)
        self.body = bytes(full.body)
        self.raw_headers = list(full.raw_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send(
            {"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True}
        )
        _transport_of(scope).close()
        with anyio.move_on_after(5):
            await _until_disconnected(receive)


def _openapi(endpoint: Endpoint) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for spec in endpoint.text_fields:
        schema: dict[str, Any] = (
            {"type": "integer", "minimum": 1} if spec.kind == "seed" else {"type": "string"}
        )
        if spec.choices:
            schema["enum"] = list(spec.choices)
        if spec.default is not None:
            schema["default"] = spec.default
        properties[spec.name] = schema
    for file_spec in endpoint.file_fields:
        properties[file_spec.name] = {"type": "string", "format": "binary"}
    required = [spec.name for spec in endpoint.text_fields if spec.required]
    required += [spec.name for spec in endpoint.file_fields]
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": required, "properties": properties}
                }
            },
        },
        "responses": {"200": {"description": "The image.", "content": {endpoint.answer_content_type: {}}}},
    }
