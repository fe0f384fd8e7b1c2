"""Hook for Vyro's Imagine API: connection -> authenticated session -> API calls."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import ssl
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any, BinaryIO, TypeAlias, TypeVar, cast, overload
from urllib.parse import quote, quote_plus

import requests
from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook, mask_secret

from airflow_provider_vyro import __version__, checks, connection_form, multipart
from airflow_provider_vyro.catalogue import (
    AI_BACKGROUND,
    GENERATIVE_FILL,
    INPAINT,
    TEXT_TO_IMAGE,
    Endpoint,
    api_version_of,
    auth_header,
    token_cost,
)
from airflow_provider_vyro.exceptions import (
    VyroAPIError,
    VyroAuthenticationError,
    VyroCancelledError,
    VyroConnectionError,
    VyroError,
    VyroInputError,
    VyroRateLimitError,
    VyroResponseError,
    VyroServerError,
    VyroTLSError,
    VyroUnexpectedResponseError,
    is_retryable,
)
from airflow_provider_vyro.images import CheckedImage, ImageInfo, content_type, inspect_image
from airflow_provider_vyro.network import DEFAULT_BASE_URL, KeepAliveAdapter, Transport, base_url, bool_extra
from airflow_provider_vyro.statuses import error_for, parse_error_body
from airflow_provider_vyro.streams import ImageStreamChecker
from airflow_provider_vyro.version_compat import AIRFLOW_V_3_2_PLUS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import tenacity
    from airflow.providers.common.compat.sdk import Connection

ImageSource: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | CheckedImage"
"""
What the hook accepts for an image or mask: a local path, the bytes, a binary file object, or a
:class:`~airflow_provider_vyro.images.CheckedImage` whose header the caller already inspected.
"""

_T = TypeVar("_T")

INPAINT_ENDPOINT = INPAINT.path
DEFAULT_TIMEOUT = 180.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_BACKOFF_FACTOR = 1.0
CONNECT_TIMEOUT = 10.0
MAX_BACKOFF = 60.0
MAX_RETRY_AFTER = 300.0
_CHUNK = 1024 * 1024
_ERROR_BODY_LIMIT = 64 * 1024
_MESSAGE_LIMIT = 500
_PROMPT_PREVIEW = 40
_REASON_LIMIT = 200


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
    transport: Transport = field(default_factory=Transport)


@dataclass(frozen=True)
class _Part:
    """One file of the multipart upload: the open file (sent whole) and how it is named."""

    fileobj: IO[bytes]
    info: ImageInfo
    filename: str
    shown: str

    def as_file(self) -> multipart.FilePart:
        return multipart.FilePart(self.filename, self.fileobj, self.info.size, content_type(self.info.format))


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

    The hook owns one ``requests.Session`` (connection pooling with TCP keep-alive; the auth
    header of each API version is set per request), the network policy and the retry policy.
    The token goes to the connection's base URL only: redirects are never followed, and an
    ``http://`` base URL is refused off this machine unless the connection allows it (see
    :mod:`airflow_provider_vyro.network`). Connection failures, timeouts, 408, 429 (honouring
    ``Retry-After``), 500, 502, 503, 504 and 200s whose body is not a complete image are retried
    with exponential backoff and jitter; every other answer fails at once (see
    :mod:`airflow_provider_vyro.statuses`). It is safe to share one hook between threads: a 429
    seen by any call delays every call of the hook.

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

    if not AIRFLOW_V_3_2_PLUS:
        # Airflow 3.2+ reads the form from provider info, and warns about hooks that define these.

        @classmethod
        def get_ui_field_behaviour(cls) -> dict[str, Any]:
            """Return how the form shows the standard fields (Airflow < 3.2); see :mod:`.connection_form`."""
            return connection_form.hook_field_behaviour()

        @classmethod
        def get_connection_form_widgets(cls) -> dict[str, Any]:
            """Return the form's extra fields (Airflow < 3.2); see :mod:`.connection_form`."""
            return connection_form.hook_form_widgets()

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
        """
        The connection's values, checked once; a missing or malformed connection is an input error.

        The base URL is checked against the network policy and the token is registered with
        Airflow's secrets masker, both before any request.
        """
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
        if not (token.isascii() and token.isprintable()) or any(char.isspace() for char in token):
            raise VyroInputError(
                "vyro_conn_id",
                f"connection {self.vyro_conn_id!r}: the API token in its password contains spaces, "
                "line breaks or characters that are not ASCII; paste it again",
            )
        mask_secret(token)
        extra = conn.extra_dejson
        url = base_url(
            conn.host,
            conn.port,
            allow_insecure_http=bool_extra(extra, "allow_insecure_http", False),
            conn_id=self.vyro_conn_id,
        )
        transport = Transport.from_extra(extra)
        timeout = self._timeout or _float_extra(extra, "timeout", DEFAULT_TIMEOUT, allow_zero=False)
        max_retries = self._max_retries
        if max_retries is None:
            max_retries = _int_extra(extra, "max_retries", DEFAULT_MAX_RETRIES)
        backoff = self._backoff_factor
        if backoff is None:
            backoff = _float_extra(extra, "backoff_factor", DEFAULT_BACKOFF_FACTOR, allow_zero=True)
        return _Settings(url, token, timeout, max_retries, backoff, transport)

    def get_conn(self) -> requests.Session:
        """Return the hook's pooled session, created on first use (auth headers are set per request)."""
        with self._session_lock:
            if self._session is None:
                session = requests.Session()
                session.trust_env = False
                session.headers["User-Agent"] = f"airflow-provider-vyro/{__version__}"
                adapter = KeepAliveAdapter(pool_connections=1, pool_maxsize=self._pool_maxsize, max_retries=0)
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
        """
        Make the first attempt directly; on a retryable failure, hand it and the rest to tenacity.

        The retry policy is built only when a first attempt failed in a way worth retrying, and
        tenacity then sees exactly what it would have seen from the start: attempt 1 failing with
        that error (logged, waited for, counted against the stop), then the further attempts.
        """
        try:
            return call()
        except Exception as error:
            if self.settings.max_retries < 1 or not is_retryable(error):
                raise
            first: BaseException | None = error
            del error

        def again() -> _T:
            nonlocal first
            if first is not None:
                failed, first = first, None
                raise failed
            return call()

        return self._retrying()(again)

    def _retrying(self) -> tenacity.Retrying:
        import tenacity

        settings = self.settings
        return tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_retryable),
            stop=tenacity.stop_after_attempt(settings.max_retries + 1),
            wait=self._wait_strategy(settings.backoff_factor),
            before_sleep=self._log_retry,
            sleep=lambda seconds: _pause(self._stop, seconds),
            reraise=True,
        )

    def _wait_strategy(self, backoff_factor: float) -> Callable[[tenacity.RetryCallState], float]:
        import tenacity

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
        body, content_type = multipart.encode(fields, {name: part.as_file() for name, part in parts.items()})
        self._gate.wait()
        if self._stop.is_set():
            raise VyroCancelledError("the run was stopped; no further request is sent")
        if self.before_request is not None:
            self.before_request()
        started = time.monotonic()
        response = self._send(endpoint.path, body, content_type, stream=True)
        result: ImageResult | None = None
        with response:
            try:
                if response.status_code != 200:
                    raise self._error_from(response)
                result = self._receive(response, destination, attempt, endpoint.answer_formats)
            finally:
                self._log_attempt(endpoint, fields, parts, attempt, response.status_code, result, started)
        return result

    def _log_attempt(
        self,
        endpoint: Endpoint,
        fields: Mapping[str, str],
        parts: Mapping[str, _Part],
        attempt: int,
        status: int,
        result: ImageResult | None,
        started: float,
    ) -> None:
        """Log one attempt: what was sent, what came back, how long it took (built only if INFO is on)."""
        log = self.log
        if not log.isEnabledFor(logging.INFO):
            return
        prompt = fields.get("prompt", "")
        files = ", ".join(
            f"{name} {part.info.format} {part.info.width}x{part.info.height} {part.info.size} B"
            for name, part in parts.items()
        )
        answer = f" {result.format} {result.width}x{result.height} {result.bytes} B" if result else ""
        log.info(
            "%s",
            f"{endpoint.operation}: POST {endpoint.path} attempt {attempt}: {files or 'no files'}, "
            f"prompt {_preview(prompt)!r} ({len(prompt)} chars){_describe_fields(endpoint, fields)} "
            f"-> {status}{answer} in {time.monotonic() - started:.2f} s",
        )

    def _headers(self, path: str, content_type: str) -> dict[str, str]:
        """Build one request's headers, with the auth header of the path's API version."""
        name, value = auth_header(api_version_of(path), self.settings.token)
        return {name: value, "Content-Type": content_type, "Accept": "image/*"}

    def _send(self, path: str, body: Any, content_type: str, *, stream: bool) -> requests.Response:
        """
        Post the form to the base URL, never following a redirect.

        Small bodies go in one write, large ones stream from their files (see
        :mod:`airflow_provider_vyro.multipart`). TLS and proxy settings are passed with each
        request (see :attr:`_environment`). A network failure is raised outside the ``except``
        block, so the requests exception (whose text a server may control) is chained only when
        it does not carry the token.
        """
        settings = self.settings
        verify, proxies = self._environment
        try:
            return self.get_conn().post(
                settings.base_url + path,
                data=body,
                headers=self._headers(path, content_type),
                timeout=(min(CONNECT_TIMEOUT, settings.timeout), settings.timeout),
                stream=stream,
                allow_redirects=False,
                verify=verify,
                cert=settings.transport.cert,
                proxies=dict(proxies),
            )
        except requests.RequestException as err:
            failure = self._network_error(err)
        raise failure

    @cached_property
    def _environment(self) -> tuple[bool | str, dict[str, str]]:
        """
        The TLS verification and proxies of every request, read from the environment once.

        ``requests`` would read the proxy variables, match ``NO_PROXY`` and look up ``~/.netrc``
        on every call; the session does not (``trust_env`` is off) and this does the same once
        for the base URL, with the same precedence: the connection's ``proxies`` extra wins over
        ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` (which ``NO_PROXY`` may bypass), and
        ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``) applies only when ``verify`` is left at
        true. ``~/.netrc`` is never read: the API's auth header is the token's. An ``http://`` base
        URL (loopback, or ``allow_insecure_http``) takes no proxy from the environment: the token
        would leave the machine in clear text to the proxy; name one in the ``proxies`` extra to
        use it knowingly.
        """
        settings = self.settings
        transport = settings.transport
        proxies = dict(transport.proxies)
        if not settings.base_url.startswith("http://"):
            environ = requests.utils.get_environ_proxies(settings.base_url, no_proxy=proxies.get("no_proxy"))
            for scheme, url in environ.items():
                proxies.setdefault(scheme, url)
        verify = transport.verify
        if verify is True:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        return verify, proxies

    def _network_error(self, err: requests.RequestException) -> VyroConnectionError:
        """Translate a requests failure into the hook's error, with its cause chained if safe."""
        settings = self.settings
        reason = self._redact(_reason(err))
        failure: VyroConnectionError
        if isinstance(err, requests.Timeout) and not isinstance(err, requests.exceptions.ConnectTimeout):
            failure = VyroConnectionError(
                f"Vyro API at {settings.base_url} did not answer within {settings.timeout:g} s"
            )
        elif _is_certificate_failure(err):
            failure = VyroTLSError(
                f"TLS certificate verification failed for {settings.base_url} ({reason}); "
                "not retried: set the connection extra 'verify' to the CA bundle that signed the "
                "server's certificate (a corporate proxy's, for example), or fix the host"
            )
        elif isinstance(err, requests.exceptions.ProxyError):
            failure = VyroConnectionError(
                f"cannot reach the Vyro API at {settings.base_url} through the proxy: {reason}"
            )
        else:
            failure = VyroConnectionError(
                f"cannot reach the Vyro API at {settings.base_url}: {type(err).__name__} ({reason})"
            )
        failure.__cause__ = self._scrubbed(err)
        failure.__suppress_context__ = True
        return failure

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
            kind = self._redact(response.headers.get("Content-Type", "no content type")[:100])
            raise VyroResponseError(200, f"the answer is not a complete image ({kind}): {err}") from None
        return ImageResult(size, digest.hexdigest(), image.width, image.height, attempt, image.format)

    def _error_from(self, response: requests.Response) -> VyroAPIError:
        """Map an answer that is not an image to its error (see :mod:`airflow_provider_vyro.statuses`)."""
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("Location")
            shown = self._redact(location[:_MESSAGE_LIMIT]) if location else None
            return error_for(status, "", location=shown)
        message, code = self._server_answer(response)
        retry_after = _retry_after(response.headers.get("Retry-After")) if status == 429 else None
        return error_for(status, message, code=code, retry_after=retry_after)

    def _server_message(self, response: requests.Response) -> str:
        """Return the server's message of an error answer, without the token."""
        return self._server_answer(response)[0]

    def _server_answer(self, response: requests.Response) -> tuple[str, int | str | None]:
        """Return the message and the API's code of an error answer, without the token."""
        body = b""
        try:
            for chunk in response.iter_content(8192):
                body += chunk
                if len(body) >= _ERROR_BODY_LIMIT:
                    break
        except requests.RequestException:
            pass
        text = body.decode("utf-8", errors="replace").strip()
        message, code = parse_error_body(text) if text.startswith("{") else (None, None)
        message = message or text or response.reason or "no message"
        return self._redact(message[:_MESSAGE_LIMIT]), code

    def _redact(self, text: str) -> str:
        """Replace the token, as sent or URL-encoded, with ``***``."""
        token = self.settings.token
        for form in (token, quote(token, safe=""), quote_plus(token)):
            text = text.replace(form, "***")
        return text

    def _scrubbed(self, err: BaseException) -> BaseException | None:
        """Return ``err`` to chain as a cause, or ``None`` when it or anything it chains carries the token."""
        token = self.settings.token
        forms = (token, quote(token, safe=""), quote_plus(token))
        for linked in _chain(err):
            text = f"{linked!s} {linked!r}"
            if any(form in text for form in forms):
                return None
        return err

    def test_connection(self) -> tuple[bool, str]:
        """
        Tell a good token from a bad one without spending credits, and say what was found.

        Sends a v2 text-to-image request without a prompt, which the API refuses before
        generating anything: 401, 403, 406, or 400 with code 1000 (token missing) mean the token
        was refused or did not arrive; any other 400 (or 422) means it was accepted. If the v2
        API answers 404, the v1 inpaint endpoint is probed the same way (a request without an
        image). A redirect, a network failure or any other status is a failure whose message
        says which. Nothing is retried.

        Airflow 3 disables connection testing (the UI button and ``airflow connections test``)
        unless ``[core] test_connection`` is ``Enabled``; calling this method works regardless.

        :return: whether the token was accepted, and a message saying what was found.
        """
        try:
            base = self.settings.base_url
            api, error = "v2", self._probe(TEXT_TO_IMAGE.path, {"style": "imagine-turbo"})
            if error is not None and error.status_code == 404:
                api, error = "v1", self._probe(INPAINT.path, {"model_version": "1"})
        except VyroError as err:
            return False, str(err)
        return _probe_verdict(base, api, error)

    def _probe(self, path: str, fields: dict[str, str]) -> VyroAPIError | None:
        """Send one request without its required fields; return the error it answered, if any."""
        body, content_type = multipart.encode(fields, {})
        with self._send(path, body, content_type, stream=True) as response:
            return None if response.status_code == 200 else self._error_from(response)


def _maybe_charged(error: BaseException | None) -> bool:
    """Whether a failed attempt reached the API far enough that it may have been charged."""
    if isinstance(error, VyroResponseError):
        return True
    if isinstance(error, VyroConnectionError):
        cause = error.__cause__
        return isinstance(cause, requests.ReadTimeout | requests.exceptions.ChunkedEncodingError)
    return False


def _probe_verdict(base: str, api: str, error: VyroAPIError | None) -> tuple[bool, str]:
    if error is None:
        return False, (
            f"{base} answered 200 to a {api} request without a prompt; it does not behave as the "
            "Vyro API: check the connection's host"
        )
    status = error.status_code
    code = f", code {error.code}" if error.code is not None and error.code != status else ""
    if isinstance(error, VyroAuthenticationError):
        return False, f"Token refused by {base} ({api} API answered {status}{code}: {error.message})"
    if status in (400, 422):
        return True, (
            f"Token accepted by {base} ({api} API: a request without a prompt was refused with "
            f"{status}{code}, as expected; nothing was generated)"
        )
    if isinstance(error, VyroUnexpectedResponseError) and 300 <= status < 400:
        return False, f"{base} answered {status}: {error.message}"
    if isinstance(error, VyroRateLimitError | VyroServerError):
        return False, (
            f"{base} could not check the token now ({api} API answered {status}{code}: "
            f"{error.message}); try again later"
        )
    if status == 404:
        return False, (
            f"Neither the v2 nor the v1 API answers at {base} (404 on both): check the connection's host"
        )
    return False, f"Unexpected answer from {base} ({api} API, {status}{code}): {error.message}"


def _chain(err: BaseException) -> list[BaseException]:
    """Every exception reachable from ``err``: its causes, contexts, ``reason`` and exception args."""
    seen: list[BaseException] = []
    todo = [err]
    while todo:
        current = todo.pop()
        if any(current is known for known in seen):
            continue
        seen.append(current)
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        todo.extend(item for item in linked if isinstance(item, BaseException))
    return seen


def _reason(err: BaseException) -> str:
    """Return the innermost explanation of a requests failure, shortened (``Connection refused``)."""
    inner = err
    while True:
        reason = getattr(inner, "reason", None)
        nested = reason if isinstance(reason, BaseException) else None
        if nested is None and inner.args and isinstance(inner.args[-1], BaseException):
            nested = inner.args[-1]
        if nested is None:
            break
        inner = nested
    text = " ".join(str(inner).split()) or type(inner).__name__
    if "): " in text and text.startswith(("HTTPConnection(", "HTTPSConnection(", "<urllib3")):
        text = text.split("): ", 1)[1]
    return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 1] + "…"


def _is_certificate_failure(err: BaseException) -> bool:
    return isinstance(err, requests.exceptions.SSLError) and any(
        isinstance(linked, ssl.SSLCertVerificationError) for linked in _chain(err)
    )


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
