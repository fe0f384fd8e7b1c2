"""
Fetching a job's result from its storage host: a session of its own, without the token.

The status of a finished job gives signed URLs on a storage host that is not the API's. They are
fetched by :class:`ResultFetcher`, whose session never carries the token nor any header the
connection adds (no client certificate either), and whose environment is read without
``~/.netrc``. Because no secret travels, redirects are followed, each hop checked like the first
URL: ``https://`` only, ``http://`` only for a loopback host. The answer is streamed into the
destination, capped at ``max_bytes`` (connection extra ``max_result_bytes``), and checked by the
caller's checker (a complete MP4, a complete image); a download that breaks off or fails the
check is retried from the start, so a truncated file is never kept. Logs and errors show the
URL's host and path only: the query string of a signed URL is a credential of its own.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import threading
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Generic, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

import requests

from airflow_provider_vyro import __version__
from airflow_provider_vyro.exceptions import (
    VyroBadRequestError,
    VyroCancelledError,
    VyroConnectionError,
    VyroError,
    VyroRateLimitError,
    VyroResponseError,
    VyroServerError,
    VyroUnexpectedResponseError,
)
from airflow_provider_vyro.hooks.settings import DEFAULT_MAX_RESULT_BYTES
from airflow_provider_vyro.network import is_loopback

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_REDIRECTS = 10
"""Redirects followed for one download."""

_CHUNK = 1024 * 1024
_MAX_BACKOFF = 60.0
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

_log = logging.getLogger(__name__)

_R_co = TypeVar("_R_co", covariant=True)
_R = TypeVar("_R")


class StreamChecker(Protocol[_R_co]):
    """Checks a file fed in chunks (an :class:`~airflow_provider_vyro.mp4.Mp4StreamChecker`, say)."""

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes."""

    def result(self) -> _R_co:
        """Give what the check learned; raise ``ValueError`` if the file is not complete."""


@dataclass(frozen=True)
class Fetched(Generic[_R]):
    """
    A result written to its destination.

    :param size: its size in bytes.
    :param sha256: hex SHA-256 of its bytes.
    :param attempts: downloads started, retries included.
    :param checked: what the checker learned of it.
    """

    size: int
    sha256: str
    attempts: int
    checked: _R


def shown_url(url: str) -> str:
    """Give a URL as logs and errors show it: scheme, host and path, never the query (a signature)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def check_result_url(url: object) -> str:
    """
    Check that a result URL may be fetched: ``https://``, or ``http://`` to a loopback host.

    :param url: the URL the API gave.
    :return: the URL.
    :raises VyroUnexpectedResponseError: if it is not a URL, or plain http to another host.
    """
    if not isinstance(url, str) or not url.strip():
        raise VyroUnexpectedResponseError(200, f"the job's result URL is not a URL: {type(url).__name__}")
    parts = urlsplit(url.strip())
    if parts.scheme == "https" and parts.hostname:
        return url.strip()
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return url.strip()
    raise VyroUnexpectedResponseError(
        200,
        f"the job's result URL {shown_url(url)} is not https (plain http is fetched only from this "
        "machine); it was not fetched",
    )


class ResultFetcher:
    """
    Download result URLs (see the module docstring). Safe to share between threads.

    :param max_bytes: the largest result accepted.
    :param timeout: read timeout in seconds.
    :param max_retries: retries after the first download for a broken or incomplete one.
    :param backoff_factor: base seconds of the exponential backoff between downloads.
    :param stop: when set, waits end and no further download starts.
    :param redact: removes secrets from texts a server controls (the API's token).
    """

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        timeout: float = 180.0,
        max_retries: int = 3,
        backoff_factor: float = 1.0,
        stop: threading.Event | None = None,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self._stop = stop or threading.Event()
        self._redact = redact
        self._session: requests.Session | None = None
        self._lock = threading.Lock()

    def session(self) -> requests.Session:
        """Give the fetcher's own session: no auth, no connection headers, environment not trusted."""
        with self._lock:
            if self._session is None:
                session = requests.Session()
                session.trust_env = False
                session.headers = requests.structures.CaseInsensitiveDict(
                    {"User-Agent": f"airflow-provider-vyro/{__version__}", "Accept": "*/*"}
                )
                self._session = session
            return self._session

    def close(self) -> None:
        """Close the session."""
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def fetch(
        self, url: str, destination: IO[bytes], checker: Callable[[], StreamChecker[_R]]
    ) -> Fetched[_R]:
        """
        Stream ``url`` into ``destination`` and check it; retry a broken or incomplete download.

        :param url: the signed URL.
        :param destination: a writable, seekable binary file; rewound and truncated on each attempt,
            so after an error its content must be discarded.
        :param checker: makes a fresh checker per attempt.
        :raises VyroResponseError: the download was still incomplete after the retries.
        :raises VyroUnexpectedResponseError: a URL or redirect off the policy, or a result over the cap.
        """
        check_result_url(url)
        start = destination.tell()
        attempts = 0
        while True:
            attempts += 1
            if self._stop.is_set():
                raise VyroCancelledError("the run was stopped; the result was not fetched")
            destination.seek(start)
            destination.truncate()
            try:
                size, digest, checked = self._download(url, destination, checker())
                return Fetched(size, digest, attempts, checked)
            except (VyroResponseError, VyroConnectionError, VyroServerError, VyroRateLimitError) as error:
                if attempts > self.max_retries:
                    raise
                delay = min(_MAX_BACKOFF, self.backoff_factor * 2 ** (attempts - 1))
                delay += random.uniform(0, self.backoff_factor)
                _log.warning(
                    "Download %d of %s failed (%s: %s); retrying in %.1f s",
                    attempts,
                    shown_url(url),
                    type(error).__name__,
                    error,
                    delay,
                )
                if self._stop.wait(delay):
                    raise VyroCancelledError("the run was stopped; the result was not fetched") from None

    def _download(self, url: str, destination: IO[bytes], checker: StreamChecker[_R]) -> tuple[int, str, _R]:
        response = self._open(url)
        with response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > self.max_bytes:
                raise self._too_large(url, int(declared))
            digest = hashlib.sha256()
            size = 0
            try:
                for chunk in response.iter_content(_CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise self._too_large(url, size)
                    destination.write(chunk)
                    digest.update(chunk)
                    checker.feed(chunk)
            except requests.RequestException as err:
                raise VyroResponseError(
                    200,
                    f"the download of {shown_url(url)} broke off after {size} of {declared or '?'} bytes "
                    f"({type(err).__name__})",
                ) from None
            except ValueError as err:
                raise VyroResponseError(200, f"{shown_url(url)} is not the expected file: {err}") from None
            try:
                checked = checker.result()
            except ValueError as err:
                raise VyroResponseError(
                    200, f"{shown_url(url)} gave {size} bytes that are not a complete file: {err}"
                ) from None
        return size, digest.hexdigest(), checked

    def _open(self, url: str) -> requests.Response:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            check_result_url(current)
            try:
                response = self.session().get(
                    current,
                    stream=True,
                    allow_redirects=False,
                    timeout=(min(10.0, self.timeout), self.timeout),
                    proxies=_environment_proxies(current),
                    verify=os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True,
                )
            except requests.RequestException as err:
                raise VyroConnectionError(
                    f"cannot fetch {shown_url(current)}: {type(err).__name__}"
                ) from None
            if response.is_redirect:
                location = response.headers.get("Location", "")
                response.close()
                current = urljoin(current, location)
                continue
            if response.status_code == 200:
                return response
            response.close()
            raise self._status_error(current, response.status_code)
        raise VyroUnexpectedResponseError(
            200, f"{shown_url(url)} redirected more than {MAX_REDIRECTS} times; the result was not fetched"
        )

    def _status_error(self, url: str, status: int) -> VyroError:
        where = shown_url(url)
        if status == 429:
            return VyroRateLimitError(status, f"the storage host of {where} asked to slow down")
        if status in _RETRY_STATUSES:
            return VyroServerError(status, f"the storage host failed to serve {where}")
        hint = " (a signed URL may have expired)" if status in (401, 403, 410) else ""
        return VyroBadRequestError(status, f"the storage host refused {where}{hint}")

    def _too_large(self, url: str, size: int) -> VyroUnexpectedResponseError:
        return VyroUnexpectedResponseError(
            200,
            f"{shown_url(url)} is larger than the {self.max_bytes} bytes allowed (at least {size}); raise "
            "the connection extra 'max_result_bytes' to fetch it",
        )


def _environment_proxies(url: str) -> dict[str, str]:
    """Give the proxies the environment names for ``url`` (``HTTPS_PROXY``, ``NO_PROXY``), not ``.netrc``."""
    if urlsplit(url).scheme == "http":
        return {}
    return dict(requests.utils.get_environ_proxies(url))


__all__ = [
    "MAX_REDIRECTS",
    "Fetched",
    "ResultFetcher",
    "StreamChecker",
    "check_result_url",
    "shown_url",
]
