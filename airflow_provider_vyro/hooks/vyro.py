"""Hook for Vyro's Imagine API: connection -> authenticated session -> API calls."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any, BinaryIO, TypeAlias, TypeVar, cast, overload

import requests
import tenacity
from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook
from requests.adapters import HTTPAdapter
from requests_toolbelt.multipart.encoder import MultipartEncoder

from airflow_provider_vyro import __version__, checks
from airflow_provider_vyro.catalogue import (
    AI_BACKGROUND,
    GENERATIVE_FILL,
    INPAINT,
    Endpoint,
    api_version_of,
    auth_header,
    token_cost,
)
from airflow_provider_vyro.exceptions import (
    RETRYABLE_ERRORS,
    VyroAPIError,
    VyroAuthenticationError,
    VyroBadRequestError,
    VyroCancelledError,
    VyroConnectionError,
    VyroError,
    VyroInputError,
    VyroInsufficientCreditsError,
    VyroRateLimitError,
    VyroResponseError,
    VyroServerError,
)
from airflow_provider_vyro.images import (
    CheckedImage,
    ImageInfo,
    ImageStreamChecker,
    content_type,
    inspect_image,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow.providers.common.compat.sdk import Connection

ImageSource: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | CheckedImage"
"""
What the hook accepts for an image or mask: a local path, the bytes, a binary file object, or a
:class:`~airflow_provider_vyro.images.CheckedImage` whose header the caller already inspected.
"""

_T = TypeVar("_T")

DEFAULT_BASE_URL = "https://api.vyro.ai"
INPAINT_ENDPOINT = INPAINT.path
DEFAULT_TIMEOUT = 180.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_BACKOFF_FACTOR = 1.0
CONNECT_TIMEOUT = 10.0
MAX_BACKOFF = 60.0
MAX_RETRY_AFTER = 300.0
_CHUNK = 1024 * 1024
_IN_MEMORY_UPLOAD = 1024 * 1024
_ERROR_BODY_LIMIT = 64 * 1024
_MESSAGE_LIMIT = 500
_PROMPT_PREVIEW = 40
_TOKEN_MISSING_CODE = 1000

_ERRORS_BY_STATUS: dict[int, type[VyroAPIError]] = {
    400: VyroBadRequestError,
    422: VyroBadRequestError,
    401: VyroAuthenticationError,
    403: VyroAuthenticationError,
    406: VyroAuthenticationError,
    402: VyroInsufficientCreditsError,
    424: VyroInsufficientCreditsError,
}


@dataclass(frozen=True)
class ImageResult:
    """
    What one successful call wrote to its destination.

    :param bytes: size of the image in bytes.
    :param sha256: hex SHA-256 of the image.
    :param width: width of the image in pixels.
    :param height: height of the image in pixels.
    :param attempts: requests sent, retries included.
    :param format: the image's format, read from its bytes (``PNG``, ``JPEG`` or ``WEBP``).
    """

    bytes: int
    sha256: str
    width: int
    height: int
    attempts: int
    format: str = "PNG"


InpaintResult = ImageResult
"""The result of :meth:`VyroHook.inpaint_to` (an :class:`ImageResult`)."""


@dataclass(frozen=True)
class _Settings:
    base_url: str
    token: str = field(repr=False)
    timeout: float
    max_retries: int
    backoff_factor: float


@dataclass(frozen=True)
class _Part:
    """One file of the multipart upload: the open file (sent whole) and how it is named."""

    fileobj: IO[bytes]
    info: ImageInfo
    filename: str
    shown: str

    def reader(self) -> _PartReader:
        self.fileobj.seek(0)
        return _PartReader(self.fileobj, self.info.size)

    def as_field(self) -> tuple[str, _PartReader, str]:
        return (self.filename, self.reader(), content_type(self.info.format))


class _PartReader:
    """Reads exactly ``len`` bytes from a file object, so any seekable file streams into the upload."""

    def __init__(self, fileobj: IO[bytes], length: int) -> None:
        self._fileobj = fileobj
        self.len = length

    def read(self, size: int = -1) -> bytes:
        if self.len <= 0:
            return b""
        size = self.len if size < 0 else min(size, self.len)
        data = self._fileobj.read(size)
        self.len -= len(data)
        return data


class _RateGate:
    """Shared by every call of one hook, so a 429 seen by one thread slows all of them down."""

    def __init__(self, stop: threading.Event) -> None:
        self._lock = threading.Lock()
        self._not_before = 0.0
        self._stop = stop

    def hold_until(self, seconds_from_now: float) -> None:
        with self._lock:
            self._not_before = max(self._not_before, time.monotonic() + seconds_from_now)

    def wait(self) -> None:
        while (delay := self._not_before - time.monotonic()) > 0:
            _pause(self._stop, delay)


def _pause(stop: threading.Event, seconds: float) -> None:
    """Sleep, unless the hook is cancelled first (then raise :class:`VyroCancelledError`)."""
    if stop.wait(seconds):
        raise VyroCancelledError("the run was stopped; no further request is sent")


def _float_extra(extra: dict[str, Any], key: str, default: float, *, allow_zero: bool) -> float:
    raw = extra.get(key, extra.get(f"extra__vyro__{key}"))
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise VyroInputError("vyro_conn_id", f"extra {key!r} must be a number, got {raw!r}") from None
    if value < 0 or (value == 0 and not allow_zero) or value != value:
        raise VyroInputError("vyro_conn_id", f"extra {key!r} must be a positive number, got {raw!r}")
    return value


def _int_extra(extra: dict[str, Any], key: str, default: int) -> int:
    raw = extra.get(key, extra.get(f"extra__vyro__{key}"))
    if raw is None or raw == "":
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise VyroInputError("vyro_conn_id", f"extra {key!r} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise VyroInputError("vyro_conn_id", f"extra {key!r} must not be negative, got {raw!r}")
    return value


def _preview(prompt: str) -> str:
    return prompt if len(prompt) <= _PROMPT_PREVIEW else prompt[: _PROMPT_PREVIEW - 1] + "…"


class VyroHook(BaseHook):
    """
    Call Vyro's Imagine API with the token of an Airflow connection.

    The hook owns one ``requests.Session`` (connection pooling; the auth header of each API
    version is set per request) and the retry policy: connection failures, timeouts, 429
    (honouring ``Retry-After``), 5xx and 200s whose body is not a complete image are retried with
    exponential backoff and jitter; every other answer fails at once. It is safe to share one
    hook between threads: a 429 seen by any call delays every call of the hook.

    :param vyro_conn_id: :ref:`Vyro connection <howto/connection:vyro>` whose password is the API
        token and whose host, if set, is the base URL (default ``https://api.vyro.ai``).
    :param timeout: read timeout in seconds for one request; default: the connection's extra
        ``timeout``, else 180.
    :param max_retries: retries after the first attempt for retryable failures; default: the
        connection's extra ``max_retries``, else 3.
    :param backoff_factor: base of the exponential backoff in seconds; default: the connection's
        extra ``backoff_factor``, else 1.0.
    :param pool_maxsize: connections kept open to the API, at least the number of threads that
        share this hook.
    """

    conn_name_attr = "vyro_conn_id"
    default_conn_name = "vyro_default"
    conn_type = "vyro"
    hook_name = "Vyro Imagine API"

    def __init__(
        self,
        vyro_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        backoff_factor: float | None = None,
        pool_maxsize: int = 10,
    ) -> None:
        super().__init__()
        self.vyro_conn_id = vyro_conn_id
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff_factor = backoff_factor
        self._pool_maxsize = pool_maxsize
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()
        self._stop = threading.Event()
        self._gate = _RateGate(self._stop)
        self.before_request: Callable[[], None] | None = None
        """Called just before each request is sent (retries included); it may raise to prevent it."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vyro_conn_id={self.vyro_conn_id!r})"

    @cached_property
    def settings(self) -> _Settings:
        """The connection's values, checked once; a missing or malformed connection is an input error."""
        try:
            conn: Connection = self.get_connection(self.vyro_conn_id)
        except AirflowNotFoundException:
            raise VyroInputError(
                "vyro_conn_id",
                f"no connection {self.vyro_conn_id!r}: add one with "
                f"`airflow connections add {self.vyro_conn_id} --conn-type vyro --conn-password TOKEN`",
            ) from None
        token = (conn.password or "").strip()
        if not token:
            raise VyroInputError(
                "vyro_conn_id", f"connection {self.vyro_conn_id!r} has no API token in its password"
            )
        extra = conn.extra_dejson
        base_url = (conn.host or "").strip() or DEFAULT_BASE_URL
        if "://" not in base_url:
            base_url = f"https://{base_url}"
        if conn.port:
            base_url = f"{base_url.rstrip('/')}:{conn.port}"
        timeout = self._timeout or _float_extra(extra, "timeout", DEFAULT_TIMEOUT, allow_zero=False)
        max_retries = self._max_retries
        if max_retries is None:
            max_retries = _int_extra(extra, "max_retries", DEFAULT_MAX_RETRIES)
        backoff = self._backoff_factor
        if backoff is None:
            backoff = _float_extra(extra, "backoff_factor", DEFAULT_BACKOFF_FACTOR, allow_zero=True)
        return _Settings(base_url.rstrip("/"), token, timeout, max_retries, backoff)

    def get_conn(self) -> requests.Session:
        """Return the hook's pooled session, created on first use (auth headers are set per request)."""
        with self._session_lock:
            if self._session is None:
                session = requests.Session()
                session.headers["User-Agent"] = f"airflow-provider-vyro/{__version__}"
                adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self._pool_maxsize, max_retries=0)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                self._session = session
            return self._session

    def close(self) -> None:
        """Close the session and its pooled connections."""
        with self._session_lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def cancel(self) -> None:
        """
        Stop every call of this hook: waits end at once and no further request is sent.

        Retry and rate-limit waits, and every later attempt, raise
        :class:`~airflow_provider_vyro.exceptions.VyroCancelledError`. Safe to call from any
        thread; requests already on the wire
        are not interrupted.
        """
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._stop.is_set()

    @property
    def inpaint_url(self) -> str:
        """Full URL of the inpaint endpoint."""
        return self.settings.base_url + INPAINT_ENDPOINT

    def inpaint(
        self,
        *,
        image: ImageSource,
        mask: ImageSource,
        prompt: str,
        model_version: str = "1",
    ) -> bytes:
        """
        Inpaint ``image`` where ``mask`` is white, guided by ``prompt``, and return the PNG.

        Holds the answer in memory; for large images use :meth:`inpaint_to`, which streams it.

        :param image: the image (JPEG or PNG by content): a local path, its bytes, or a binary file
            (read whole, from its start; a file that cannot seek is read into memory first).
        :param mask: the mask, of the image's size, in the same forms.
        :param prompt: what to put where the mask is.
        :param model_version: the API's model version.
        :return: the inpainted PNG.
        """
        buffer = io.BytesIO()
        self.inpaint_to(buffer, image=image, mask=mask, prompt=prompt, model_version=model_version)
        return buffer.getvalue()

    def inpaint_to(
        self,
        destination: IO[bytes],
        *,
        image: ImageSource,
        mask: ImageSource,
        prompt: str,
        model_version: str = "1",
    ) -> InpaintResult:
        """
        Inpaint ``image`` and stream the PNG into ``destination``, checking it is complete.

        Inputs are checked before any request (:class:`VyroInputError`), uploaded as a stream
        from their files, and retried per the hook's policy. ``destination`` must be seekable: a
        retry rewinds and truncates it, so after an error its content is undefined and must be
        discarded.

        :param destination: a writable, seekable binary file.
        :param image: see :meth:`inpaint`.
        :param mask: see :meth:`inpaint`.
        :param prompt: see :meth:`inpaint`.
        :param model_version: see :meth:`inpaint`.
        :return: size, SHA-256, dimensions and attempts of the PNG written.
        """
        return self.call_to(
            INPAINT,
            destination,
            fields=checks.check_fields(INPAINT, {"prompt": prompt, "model_version": model_version}),
            files={"image": image, "mask": mask},
        )

    def generative_fill(self, image: ImageSource, mask: ImageSource, prompt: str) -> bytes:
        """
        Fill what ``mask`` covers in ``image``, guided by ``prompt`` (v2), and return the image.

        The v2 successor of :meth:`inpaint`. Holds the answer in memory; for large images use
        :meth:`generative_fill_to`, which streams it.

        :param image: the image (JPEG or PNG by content): a local path, its bytes, or a binary file.
        :param mask: the mask, of the image's size (white = fill, black = keep), in the same forms.
        :param prompt: what to put where the mask is.
        :return: the image, in the format the API chose (PNG, JPEG or WebP: read it from the bytes).
        """
        buffer = io.BytesIO()
        self.generative_fill_to(buffer, image, mask, prompt)
        return buffer.getvalue()

    def generative_fill_to(
        self, destination: IO[bytes], image: ImageSource, mask: ImageSource, prompt: str
    ) -> ImageResult:
        """
        Fill what ``mask`` covers (v2) and stream the image into ``destination``, checking it is complete.

        :param destination: a writable, seekable binary file; rewound and truncated on each retry.
        :param image: see :meth:`generative_fill`.
        :param mask: see :meth:`generative_fill`.
        :param prompt: see :meth:`generative_fill`.
        :return: size, SHA-256, dimensions, format and attempts of the image written.
        """
        return self.call_to(
            GENERATIVE_FILL,
            destination,
            fields=checks.check_fields(GENERATIVE_FILL, {"prompt": prompt}),
            files={"image": image, "mask": mask},
        )

    def text_to_image(
        self,
        prompt: str,
        style: str = "imagine-turbo",
        aspect_ratio: str = "1:1",
        seed: int | None = None,
        transparent: bool = False,
    ) -> bytes:
        """
        Generate an image from ``prompt`` (v2) and return it.

        Holds the answer in memory; :meth:`text_to_image_to` streams it.

        :param prompt: the image to generate.
        :param style: one of ``realistic``, ``anime``, ``flux-schnell``, ``flux-dev``,
            ``flux-dev-fast``, ``sdxl-1.0``, ``imagine-turbo``; the cost in API tokens depends on
            it (see :data:`~airflow_provider_vyro.catalogue.STYLE_TOKEN_COSTS`).
        :param aspect_ratio: one of ``1:1``, ``3:2``, ``4:3``, ``3:4``, ``16:9``, ``9:16``.
        :param seed: a whole number >= 1 for repeatable results, or ``None``.
        :param transparent: ``True`` calls the transparent endpoint (an image with a transparent
            background), which has no style: leave ``style`` at its default then.
        :return: the image, in the format the API chose (PNG, JPEG or WebP: read it from the bytes).
        """
        buffer = io.BytesIO()
        self.text_to_image_to(
            buffer, prompt, style=style, aspect_ratio=aspect_ratio, seed=seed, transparent=transparent
        )
        return buffer.getvalue()

    def text_to_image_to(
        self,
        destination: IO[bytes],
        prompt: str,
        style: str = "imagine-turbo",
        aspect_ratio: str = "1:1",
        seed: int | None = None,
        transparent: bool = False,
    ) -> ImageResult:
        """
        Generate an image from ``prompt`` (v2) and stream it into ``destination``, checking it is complete.

        :param destination: a writable, seekable binary file; rewound and truncated on each retry.
        :param prompt: see :meth:`text_to_image`.
        :param style: see :meth:`text_to_image`.
        :param aspect_ratio: see :meth:`text_to_image`.
        :param seed: see :meth:`text_to_image`.
        :param transparent: see :meth:`text_to_image`.
        :return: size, SHA-256, dimensions, format and attempts of the image written.
        """
        endpoint, fields = checks.text_to_image_call(
            prompt=prompt, style=style, aspect_ratio=aspect_ratio, seed=seed, transparent=transparent
        )
        return self.call_to(endpoint, destination, fields=fields, files={})

    def ai_background(
        self, image: ImageSource, prompt: str, style: str = "product-shoot", seed: int | None = None
    ) -> bytes:
        """
        Put a generated background, described by ``prompt``, behind a cut-out (v2) and return the image.

        Holds the answer in memory; :meth:`ai_background_to` streams it.

        :param image: the cut-out: a PNG whose background is transparent (an alpha channel), as a
            local path, its bytes, or a binary file. An image without transparency is refused.
        :param prompt: the background to generate.
        :param style: ``product-shoot``, the only style documented.
        :param seed: a whole number >= 1 for repeatable results, or ``None``.
        :return: the image, in the format the API chose (PNG, JPEG or WebP: read it from the bytes).
        """
        buffer = io.BytesIO()
        self.ai_background_to(buffer, image, prompt, style=style, seed=seed)
        return buffer.getvalue()

    def ai_background_to(
        self,
        destination: IO[bytes],
        image: ImageSource,
        prompt: str,
        style: str = "product-shoot",
        seed: int | None = None,
    ) -> ImageResult:
        """
        Put a generated background behind a cut-out (v2) and stream the image into ``destination``.

        :param destination: a writable, seekable binary file; rewound and truncated on each retry.
        :param image: see :meth:`ai_background`.
        :param prompt: see :meth:`ai_background`.
        :param style: see :meth:`ai_background`.
        :param seed: see :meth:`ai_background`.
        :return: size, SHA-256, dimensions, format and attempts of the image written.
        """
        fields = checks.check_fields(AI_BACKGROUND, {"prompt": prompt, "style": style, "seed": seed})
        return self.call_to(AI_BACKGROUND, destination, fields=fields, files={"image": image})

    @overload
    def post_image(
        self,
        path: str,
        *,
        fields: Mapping[str, str | int] | None = None,
        files: Mapping[str, ImageSource] | None = None,
        destination: None = None,
    ) -> bytes: ...

    @overload
    def post_image(
        self,
        path: str,
        *,
        fields: Mapping[str, str | int] | None = None,
        files: Mapping[str, ImageSource] | None = None,
        destination: IO[bytes],
    ) -> ImageResult: ...

    def post_image(
        self,
        path: str,
        *,
        fields: Mapping[str, str | int] | None = None,
        files: Mapping[str, ImageSource] | None = None,
        destination: IO[bytes] | None = None,
    ) -> bytes | ImageResult:
        """
        Call any image endpoint of the API by its path.

        This is the way to reach endpoints this provider does not yet support, such as
        ``/v2/image/background/remover`` (field ``image``) or ``/v2/image/enhance``. The call
        gets everything a supported operation gets: the network policy (the token goes to the
        configured base URL only), the auth header of the path's API version (``/v1/`` →
        ``bearer``, ``/v2/`` → ``Authorization: Bearer``), retries, and the answer check (a
        complete PNG, JPEG or WebP image, its format read from the bytes). The text fields are
        sent as given (no check of their values: the API judges them); files must be JPEG or PNG
        by content.

        :param path: the path after the base URL, starting with ``/v1/`` or ``/v2/``.
        :param fields: the text fields, by name (strings, or whole numbers sent as digits).
        :param files: the files, by field name: local paths, bytes, or binary files.
        :param destination: a writable, seekable binary file to stream the answer into; ``None``
            to have the image returned as bytes.
        :return: the image bytes, or, with ``destination``, the :class:`ImageResult` of what was
            written there.
        """
        files = dict(files or {})
        endpoint, sent = checks.generic_call(path, fields or {}, tuple(files))
        if destination is not None:
            return self.call_to(endpoint, destination, fields=sent, files=files)
        buffer = io.BytesIO()
        self.call_to(endpoint, buffer, fields=sent, files=files)
        return buffer.getvalue()

    def call_to(
        self,
        endpoint: Endpoint,
        destination: IO[bytes],
        *,
        fields: Mapping[str, str],
        files: Mapping[str, ImageSource],
    ) -> ImageResult:
        """
        Make one call of a catalogue operation and stream the answer into ``destination``.

        The text ``fields`` are sent as given (the caller checked them, e.g. with
        :func:`~airflow_provider_vyro.checks.check_fields`); each file of ``files`` is inspected
        unless it is a :class:`~airflow_provider_vyro.images.CheckedImage`, then the files are
        checked against the catalogue (:func:`~airflow_provider_vyro.checks.check_files`) before
        any request. The answer must be a complete image in one of ``endpoint.answer_formats``.

        :param endpoint: the operation, from :mod:`airflow_provider_vyro.catalogue`.
        :param destination: a writable, seekable binary file; rewound and truncated on each retry.
        :param fields: the text parts, by form field name.
        :param files: the file parts, by form field name.
        :return: size, SHA-256, dimensions, format and attempts of the image written.
        """
        with ExitStack() as stack:
            parts = {name: _open_part(stack, source, name) for name, source in files.items()}
            checks.check_files(
                endpoint,
                {name: part.info for name, part in parts.items()},
                names={name: part.shown for name, part in parts.items()},
            )
            start = destination.tell()
            attempts = 0

            def attempt() -> ImageResult:
                nonlocal attempts
                attempts += 1
                destination.seek(start)
                destination.truncate()
                return self._post(endpoint, destination, fields, parts, attempts)

            return self._with_retries(attempt)

    def _with_retries(self, call: Callable[[], _T]) -> _T:
        settings = self.settings
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(RETRYABLE_ERRORS),
            stop=tenacity.stop_after_attempt(settings.max_retries + 1),
            wait=self._wait_strategy(settings.backoff_factor),
            before_sleep=self._log_retry,
            sleep=lambda seconds: _pause(self._stop, seconds),
            reraise=True,
        )
        return retrying(call)

    def _wait_strategy(self, backoff_factor: float) -> Callable[[tenacity.RetryCallState], float]:
        exponential = tenacity.wait_exponential(
            multiplier=backoff_factor, max=MAX_BACKOFF
        ) + tenacity.wait_random(0, backoff_factor)

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, VyroRateLimitError):
                delay = (
                    min(error.retry_after, MAX_RETRY_AFTER)
                    if error.retry_after is not None
                    else exponential(state)
                )
                self._gate.hold_until(delay)
                return delay
            return exponential(state)

        return wait

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        self.log.warning(
            "Vyro call attempt %d failed (%s: %s); retrying in %.1f s%s",
            state.attempt_number,
            type(error).__name__,
            error,
            delay,
            " (the failed attempt may have been charged: a call may be paid twice)"
            if _maybe_charged(error)
            else "",
        )

    def _post(
        self,
        endpoint: Endpoint,
        destination: IO[bytes],
        fields: Mapping[str, str],
        parts: Mapping[str, _Part],
        attempt: int,
    ) -> ImageResult:
        form: dict[str, Any] = dict(fields)
        form.update((name, part.as_field()) for name, part in parts.items())
        encoder = MultipartEncoder(fields=form)
        self._gate.wait()
        if self._stop.is_set():
            raise VyroCancelledError("the run was stopped; no further request is sent")
        if self.before_request is not None:
            self.before_request()
        started = time.monotonic()
        response = self._send(endpoint.path, encoder, stream=True)
        result: ImageResult | None = None
        with response:
            try:
                if response.status_code != 200:
                    raise self._error_from(response)
                result = self._receive(response, destination, attempt, endpoint.answer_formats)
            finally:
                prompt = fields.get("prompt", "")
                self.log.info(
                    "%s: POST %s attempt %d: %s, prompt %r (%d chars)%s -> %d%s in %.2f s",
                    endpoint.operation,
                    endpoint.path,
                    attempt,
                    ", ".join(
                        f"{name} {part.info.format} {part.info.width}x{part.info.height} {part.info.size} B"
                        for name, part in parts.items()
                    )
                    or "no files",
                    _preview(prompt),
                    len(prompt),
                    _describe_fields(endpoint, fields),
                    response.status_code,
                    f" {result.format} {result.width}x{result.height} {result.bytes} B" if result else "",
                    time.monotonic() - started,
                )
        return result

    def _headers(self, path: str, content_type: str) -> dict[str, str]:
        """Build one request's headers, with the auth header of the path's API version."""
        name, value = auth_header(api_version_of(path), self.settings.token)
        return {name: value, "Content-Type": content_type, "Accept": "image/*"}

    def _send(self, path: str, encoder: MultipartEncoder, *, stream: bool) -> requests.Response:
        """Post the form: small bodies in one write, large ones streamed from their files."""
        settings = self.settings
        body = encoder.to_string() if encoder.len <= _IN_MEMORY_UPLOAD else encoder
        try:
            return self.get_conn().post(
                settings.base_url + path,
                data=body,
                headers=self._headers(path, encoder.content_type),
                timeout=(min(CONNECT_TIMEOUT, settings.timeout), settings.timeout),
                stream=stream,
            )
        except requests.Timeout as err:
            raise VyroConnectionError(
                f"Vyro API at {settings.base_url} did not answer within {settings.timeout:g} s"
            ) from self._scrubbed(err)
        except requests.ConnectionError as err:
            raise VyroConnectionError(
                f"cannot reach the Vyro API at {settings.base_url}: {type(err).__name__}"
            ) from self._scrubbed(err)

    def _receive(
        self, response: requests.Response, destination: IO[bytes], attempt: int, formats: tuple[str, ...]
    ) -> ImageResult:
        """Stream the answer into ``destination``, requiring a complete image in one of ``formats``."""
        checker = ImageStreamChecker(formats)
        digest = hashlib.sha256()
        size = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                destination.write(chunk)
                digest.update(chunk)
                checker.feed(chunk)
                size += len(chunk)
        except requests.RequestException as err:
            expected = response.headers.get("Content-Length", "?")
            raise VyroResponseError(
                200, f"the answer broke off after {size} of {expected} bytes ({type(err).__name__})"
            ) from None
        try:
            image = checker.result()
        except ValueError as err:
            kind = response.headers.get("Content-Type", "no content type")
            raise VyroResponseError(200, f"the answer is not a complete image ({kind}): {err}") from None
        return ImageResult(size, digest.hexdigest(), image.width, image.height, attempt, image.format)

    def _error_from(self, response: requests.Response) -> VyroAPIError:
        message, code = self._server_answer(response)
        status = response.status_code
        if status == 429:
            return VyroRateLimitError(
                status, message, _retry_after(response.headers.get("Retry-After")), code=code
            )
        if status >= 500:
            return VyroServerError(status, message, code=code)
        if status == 400 and code == _TOKEN_MISSING_CODE:
            return VyroAuthenticationError(status, message, code=code)
        return _ERRORS_BY_STATUS.get(status, VyroAPIError)(status, message, code=code)

    def _server_message(self, response: requests.Response) -> str:
        return self._server_answer(response)[0]

    def _server_answer(self, response: requests.Response) -> tuple[str, int | str | None]:
        """Read an error answer's message (redacted, bounded) and the API's code, if it gave one."""
        body = b""
        try:
            for chunk in response.iter_content(8192):
                body += chunk
                if len(body) >= _ERROR_BODY_LIMIT:
                    break
        except requests.RequestException:
            pass
        text = body.decode("utf-8", errors="replace").strip()
        message = _message_from_json(text) if text.startswith("{") else None
        message = message or text or response.reason or "no message"
        code = _code_from_json(text) if text.startswith("{") else None
        return self._redact(message[:_MESSAGE_LIMIT]), code

    def _redact(self, text: str) -> str:
        token = self.settings.token
        return text.replace(token, "***") if token else text

    def _scrubbed(self, err: Exception) -> Exception | None:
        """Return the cause to chain, or ``None`` when its text carries the token."""
        return err if self.settings.token not in str(err) else None

    def test_connection(self) -> tuple[bool, str]:
        """
        Tell a good token from a bad one without spending credits.

        Sends an inpaint request with no image, mask or prompt: the API checks the token first,
        so 401/403/406 means the token was refused, while a 400/422 validation answer means it
        was accepted and nothing was generated (no credits are spent on a rejected request).
        """
        try:
            encoder = MultipartEncoder(fields={"model_version": "1"})
            with self._send(INPAINT.path, encoder, stream=False) as response:
                status = response.status_code
                message = self._server_message(response)
        except VyroError as err:
            return False, str(err)
        if status in (400, 422):
            return (
                True,
                f"Token accepted by {self.settings.base_url} "
                f"(a request without an image was refused with {status}, as expected).",
            )
        if status in (401, 403, 406):
            return False, f"Token refused by {self.settings.base_url} ({status}: {message})."
        return False, f"Unexpected answer {status} from {self.settings.base_url}: {message}"


def _maybe_charged(error: BaseException | None) -> bool:
    """Whether a failed attempt reached the API far enough that it may have been charged."""
    if isinstance(error, VyroResponseError):
        return True
    if isinstance(error, VyroConnectionError):
        cause = error.__cause__
        return isinstance(cause, requests.ReadTimeout | requests.exceptions.ChunkedEncodingError)
    return False


def _message_from_json(text: str) -> str | None:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    for key in ("message", "details", "detail", "error"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if value:
            return json.dumps(value)
    return None


def _code_from_json(text: str) -> int | str | None:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(code, str):
        code = code.strip()
        return int(code) if code.isdigit() else (code[:40] or None)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _describe_fields(endpoint: Endpoint, fields: Mapping[str, str]) -> str:
    """Show the text fields other than the prompt and, for text to image, the documented cost."""
    shown = "".join(f", {name} {value!r}" for name, value in fields.items() if name != "prompt")
    if "style" in fields and endpoint.operation == "text_to_image":
        cost = token_cost(endpoint, fields)
        shown += (
            f", documented cost {cost} token{'s' if cost != 1 else ''}"
            if cost is not None
            else ", cost not documented for this style"
        )
    return shown


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds)


def _open_part(stack: ExitStack, source: ImageSource, field: str) -> _Part:
    if isinstance(source, CheckedImage):
        fileobj: IO[bytes] = stack.enter_context(source.open())
        name, info = source.name, source.info
    else:
        fileobj, name = _open_source(stack, source, field)
        info = inspect_image(cast("BinaryIO", fileobj), field=field, name=name)
    stem = os.path.splitext(os.path.basename(name))[0] if not name.startswith("<") else field
    extension = ".png" if info.format == "PNG" else ".jpg"
    return _Part(fileobj, info, f"{stem or field}{extension}", name)


def _open_source(stack: ExitStack, source: ImageSource, field: str) -> tuple[IO[bytes], str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source)), f"<{len(source)} bytes>"
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            return stack.enter_context(open(path, "rb")), path
        except FileNotFoundError:
            raise VyroInputError(field, f"{path!r} does not exist") from None
        except IsADirectoryError:
            raise VyroInputError(field, f"{path!r} is a directory, not a file") from None
        except OSError as err:
            raise VyroInputError(field, f"{path!r} cannot be read: {err.strerror or err}") from None
    if hasattr(source, "read"):
        name = str(getattr(source, "name", "") or getattr(source, "path", "") or f"<{field} file>")
        if not (hasattr(source, "seekable") and source.seekable()):
            return io.BytesIO(source.read()), name
        return cast("IO[bytes]", source), name
    raise VyroInputError(
        field, f"expected a path, bytes or a binary file object, got {type(source).__name__}"
    )


__all__ = ["DEFAULT_BASE_URL", "INPAINT_ENDPOINT", "ImageResult", "ImageSource", "InpaintResult", "VyroHook"]
