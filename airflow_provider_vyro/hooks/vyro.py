"""
Hook for Vyro's Imagine API: connection -> authenticated session -> API calls.

One generic call, :meth:`VyroHook.call_to` (and :meth:`VyroHook.call`, its in-memory twin), serves
every operation of the catalogue (:mod:`airflow_provider_vyro.catalogue`); the named methods
check their arguments against their catalogue entry and make that call. The rest of the hook is
split by concern: the connection's settings (:mod:`~airflow_provider_vyro.hooks.settings`), the
retry policy and the rate gate (:mod:`~airflow_provider_vyro.hooks.retries`), reading answers and
errors (:mod:`~airflow_provider_vyro.hooks.answers`, :mod:`~airflow_provider_vyro.hooks.redaction`),
the files sent (:mod:`~airflow_provider_vyro.hooks.uploads`) and the connection test
(:mod:`~airflow_provider_vyro.hooks.probe`).
"""

from __future__ import annotations

import io
import logging
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import requests
from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_vyro import __version__, checks, connection_form, metrics, multipart
from airflow_provider_vyro.catalogue import (
    INPAINT,
    Endpoint,
    api_version_of,
    auth_header,
)
from airflow_provider_vyro.exceptions import VyroCancelledError, VyroError
from airflow_provider_vyro.hooks import answers, probe
from airflow_provider_vyro.hooks.answers import ImageResult
from airflow_provider_vyro.hooks.attempt_log import describe_attempt
from airflow_provider_vyro.hooks.job_status import (
    JobStatus,
    parse_job_id,
    parse_job_status,
    status_path,
    submit_may_be_resent,
)
from airflow_provider_vyro.hooks.operations import NamedOperations
from airflow_provider_vyro.hooks.redaction import Redactor
from airflow_provider_vyro.hooks.results import ResultFetcher
from airflow_provider_vyro.hooks.retries import RateGate, RetryPolicy
from airflow_provider_vyro.hooks.settings import CONNECT_TIMEOUT, Settings, read_settings, request_environment
from airflow_provider_vyro.hooks.uploads import ImageSource, Part, open_part
from airflow_provider_vyro.network import DEFAULT_BASE_URL, KeepAliveAdapter
from airflow_provider_vyro.version_compat import AIRFLOW_V_3_2_PLUS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


INPAINT_ENDPOINT = INPAINT.path

InpaintResult = ImageResult
"""The result of :meth:`VyroHook.inpaint_to` (an :class:`ImageResult`)."""


@dataclass(frozen=True)
class _Ready:
    """What the hook derives from its connection once: settings, transport, redaction, retries."""

    settings: Settings
    verify: bool | str
    proxies: dict[str, str]
    redactor: Redactor
    retries: RetryPolicy


class VyroHook(NamedOperations, BaseHook):
    """
    Call Vyro's Imagine API with the token of an Airflow connection.

    The hook owns one ``requests.Session`` (connection pooling with TCP keep-alive; the auth
    header of each API version is set per request), the network policy and the retry policy.
    The token goes to the connection's base URL only: redirects are never followed, and an
    ``http://`` base URL is refused off this machine unless the connection allows it (see
    :mod:`airflow_provider_vyro.network`). Connection failures, timeouts, 408, 429 (honouring
    ``Retry-After``), 500, 502, 503, 504 and 200s whose body is not a complete image are retried
    with exponential backoff and jitter (:mod:`~airflow_provider_vyro.hooks.retries`); every other
    answer fails at once (see :mod:`airflow_provider_vyro.statuses`). It is safe to share one hook
    between threads: a 429 seen by any call delays every call of the hook.

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
    :param before_request: called just before each request is sent (retries included); it may
        raise to prevent it (a run's budget does).
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
        before_request: Callable[[], None] | None = None,
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
        self._gate = RateGate(self._stop)
        self._ready: _Ready | None = None
        self.before_request = before_request
        """Called just before each request is sent (retries included); it may raise to prevent it."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vyro_conn_id={self.vyro_conn_id!r})"

    def validate(self) -> Settings:
        """
        Read and check the connection now, once; later calls return what was read.

        The base URL is checked against the network policy and the token is registered with
        Airflow's secrets masker, both before any request. A run calls this before its first
        request, so a missing or malformed connection fails it before anything is sent.

        :return: the connection's settings.
        :raises VyroInputError: on ``vyro_conn_id`` if the connection is missing or malformed.
        """
        return self._prepared().settings

    @property
    def settings(self) -> Settings:
        """The connection's settings, read and checked on first use (see :meth:`validate`)."""
        return self._prepared().settings

    def _prepared(self) -> _Ready:
        ready = self._ready
        if ready is None:
            settings = read_settings(
                self.get_connection,
                self.vyro_conn_id,
                timeout=self._timeout,
                max_retries=self._max_retries,
                backoff_factor=self._backoff_factor,
            )
            verify, proxies = request_environment(settings)
            retries = RetryPolicy(
                settings.max_retries, settings.backoff_factor, self._gate, self._stop, self.log
            )
            ready = self._ready = _Ready(settings, verify, proxies, Redactor(settings.token), retries)
        return ready

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
        thread; requests already on the wire are not interrupted.
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

    # --- the one call path --------------------------------------------------------------------

    def call(
        self, endpoint: Endpoint, *, fields: Mapping[str, str], files: Mapping[str, ImageSource]
    ) -> bytes:
        """
        Make one call of a catalogue operation and return the image it answered.

        Holds the answer in memory; :meth:`call_to` streams it.

        :param endpoint: the operation, from :mod:`airflow_provider_vyro.catalogue`.
        :param fields: see :meth:`call_to`.
        :param files: see :meth:`call_to`.
        :return: the image, in one of ``endpoint.answer_formats`` (read it from the bytes).
        """
        buffer = io.BytesIO()
        self.call_to(endpoint, buffer, fields=fields, files=files)
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
            parts = _checked_parts(stack, endpoint, files)
            start = destination.tell()
            attempts = 0

            def attempt() -> ImageResult:
                nonlocal attempts
                attempts += 1
                if attempts > 1:
                    metrics.retry(endpoint.operation)
                destination.seek(start)
                destination.truncate()
                return self._attempt(endpoint, destination, fields, parts, attempts)

            return self._prepared().retries.run(attempt)

    def _attempt(
        self,
        endpoint: Endpoint,
        destination: IO[bytes],
        fields: Mapping[str, str],
        parts: Mapping[str, Part],
        attempt: int,
    ) -> ImageResult:
        body, content_type = multipart.encode(fields, {name: part.as_file() for name, part in parts.items()})
        self._gate.wait()
        if self._stop.is_set():
            raise VyroCancelledError("the run was stopped; no further request is sent")
        if self.before_request is not None:
            self.before_request()
        self._gate.admit(self._prepared().settings.requests_per_minute)
        sent = metrics.Request(endpoint.operation, attempt)
        try:
            response = self._send(endpoint.path, body, content_type, stream=True)
        except BaseException:
            sent.done(None, False)
            self._gate.done(None)
            raise
        redactor = self._prepared().redactor
        result: ImageResult | None = None
        with response:
            try:
                if response.status_code != 200:
                    raise answers.error_from(response, redactor, self.vyro_conn_id)
                result = answers.receive(response, destination, attempt, endpoint.answer_formats, redactor)
            finally:
                status = response.status_code
                seconds = sent.done(status, result is not None)
                self._gate.done(response.headers)
                if self.log.isEnabledFor(logging.INFO):
                    self.log.info(
                        "%s", describe_attempt(endpoint, fields, parts, attempt, status, result, seconds)
                    )
        return result

    # --- jobs (asynchronous operations: video) ----------------------------------------------------

    def submit_job(
        self, endpoint: Endpoint, *, fields: Mapping[str, str], files: Mapping[str, ImageSource]
    ) -> str:
        """
        Start a job of an asynchronous operation (video) and return its id.

        Files are inspected and checked like every call's. The submit is sent again only when
        the API surely did not take it (:func:`~.job_status.submit_may_be_resent`): a job the API
        accepted may be charged, so one is never submitted twice.

        :param endpoint: the operation, from :data:`~airflow_provider_vyro.catalogue.JOB_ENDPOINTS`.
        :param fields: the text parts (checked by the caller).
        :param files: the file parts, by form field name.
        :raises VyroResponseError: if the answer is not JSON with a job id.
        """
        with ExitStack() as stack:
            parts = _checked_parts(stack, endpoint, files)
            attempts = 0

            def attempt() -> str:
                nonlocal attempts
                attempts += 1
                if attempts > 1:
                    metrics.retry(endpoint.operation)
                for part in parts.values():
                    part.fileobj.seek(0)
                body, content_type = multipart.encode(
                    fields, {name: part.as_file() for name, part in parts.items()}
                )
                return self._exchange(
                    "POST", endpoint.path, body, content_type, (endpoint.operation, attempts), parse_job_id
                )

            job_id = self._prepared().retries.run(attempt, retry_if=submit_may_be_resent)
        self.log.info("%s: POST %s accepted as job %s", endpoint.operation, endpoint.path, job_id)
        return job_id

    def job_status(self, job_id: str, *, path: str | None = None) -> JobStatus:
        """
        Ask where a job is (retried per the hook's policy: the call is free and changes nothing).

        :param job_id: the job, as :meth:`submit_job` gave it.
        :param path: the status path with ``{id}``; default :attr:`job_status_path`.
        """
        target = status_path(path or self.job_status_path, job_id)
        text = self._prepared().retries.run(lambda: self._exchange("GET", target, None, None))
        return parse_job_status(job_id, text)

    @property
    def job_status_path(self) -> str:
        """The status path with ``{id}``: the connection extra ``job_status_path``, else the catalogue's."""
        return self.settings.job_status_path

    def result_fetcher(self) -> ResultFetcher:
        """
        Give a fetcher of job results: its own session, without the token (see :mod:`.results`).

        It takes the connection's timeout, retries, backoff and ``max_result_bytes``, and stops
        when the hook is cancelled.
        """
        settings = self.settings
        return ResultFetcher(
            max_bytes=settings.max_result_bytes,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            backoff_factor=settings.backoff_factor,
            stop=self._stop,
            redact=self._prepared().redactor.redact,
        )

    def _exchange(
        self,
        method: str,
        path: str,
        body: Any,
        content_type: str | None,
        counted: tuple[str, int] | None = None,
        parse: Callable[[str], str] | None = None,
    ) -> str:
        """
        Send one request whose answer is JSON; give its text (token redacted), or raise its error.

        ``counted`` (operation, attempt) makes it a request of :mod:`.metrics` (a job's submit);
        a status request is not one. ``parse`` reads the text into what is given (a request whose
        answer it refuses is counted as a bad answer).
        """
        self._gate.wait()
        if self._stop.is_set():
            raise VyroCancelledError("the run was stopped; no further request is sent")
        if self.before_request is not None:
            self.before_request()
        redactor = self._prepared().redactor
        sent = None if counted is None else metrics.Request(*counted)
        try:
            response = self._send(
                path, body, content_type, stream=True, method=method, accept="application/json"
            )
        except BaseException:
            if sent is not None:
                sent.done(None, False)
            raise
        given: str | None = None
        with response:
            try:
                text = answers.read_json(response, redactor, self.vyro_conn_id)
                given = text if parse is None else parse(text)
            finally:
                if sent is not None:
                    sent.done(response.status_code, given is not None)
        return given

    def _send(
        self,
        path: str,
        body: Any,
        content_type: str | None,
        *,
        stream: bool,
        method: str = "POST",
        accept: str = "image/*",
    ) -> requests.Response:
        """
        Post the form to the base URL, never following a redirect.

        Small bodies go in one write, large ones stream from their files (see
        :mod:`airflow_provider_vyro.multipart`). TLS and proxy settings, read from the
        connection and the environment once (:func:`~.settings.request_environment`), are passed
        with each request. A network failure is raised outside the ``except`` block, so the
        requests exception (whose text a server may control) is chained only when it does not
        carry the token.
        """
        ready = self._prepared()
        settings = ready.settings
        name, value = auth_header(api_version_of(path), settings.token)
        headers = {name: value, "Accept": accept}
        if content_type is not None:
            headers["Content-Type"] = content_type
        try:
            return self.get_conn().request(
                method,
                settings.base_url + path,
                data=body,
                headers=headers,
                timeout=(min(CONNECT_TIMEOUT, settings.timeout), settings.timeout),
                stream=stream,
                allow_redirects=False,
                verify=ready.verify,
                cert=settings.transport.cert,
                proxies=dict(ready.proxies),
            )
        except requests.RequestException as err:
            failure = answers.network_error(
                err, settings.base_url, settings.timeout, ready.redactor, self.vyro_conn_id
            )
        raise failure

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
            ready = self._prepared()
            return probe.check(ready.settings.base_url, self._send, ready.redactor)
        except VyroError as err:
            return False, str(err)


def _checked_parts(stack: ExitStack, endpoint: Endpoint, files: Mapping[str, ImageSource]) -> dict[str, Part]:
    """Open each file to send (inspecting it unless it was already), and check them against ``endpoint``."""
    parts = {name: open_part(stack, source, name) for name, source in files.items()}
    checks.check_files(
        endpoint,
        {name: part.info for name, part in parts.items()},
        names={name: part.shown for name, part in parts.items()},
    )
    return parts


__all__ = ["DEFAULT_BASE_URL", "INPAINT_ENDPOINT", "ImageResult", "ImageSource", "InpaintResult", "VyroHook"]
