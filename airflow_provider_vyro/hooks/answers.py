"""
Reading what the API sent back: an image streamed to its destination, or the error it stands for.

An answer is accepted only as a complete image in one of the operation's formats, its format
read from its bytes. Any other answer becomes its error (:mod:`airflow_provider_vyro.statuses`),
and a network failure a :class:`~airflow_provider_vyro.exceptions.VyroConnectionError`. Every
text a server controls (its message, headers, the text of a network failure) is redacted
(:mod:`airflow_provider_vyro.hooks.redaction`) before it is shown.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

import requests

from airflow_provider_vyro.exceptions import (
    VyroAPIError,
    VyroConnectionError,
    VyroResponseError,
    VyroTLSError,
)
from airflow_provider_vyro.failures import is_certificate_failure
from airflow_provider_vyro.hooks.retries import retry_after
from airflow_provider_vyro.statuses import error_for, parse_error_body
from airflow_provider_vyro.streams import ImageStreamChecker

if TYPE_CHECKING:
    from airflow_provider_vyro.hooks.redaction import Redactor

CHUNK = 1024 * 1024
"""Bytes read from an image answer at a time."""
ERROR_BODY_LIMIT = 64 * 1024
"""The most bytes of an error answer read."""
MESSAGE_LIMIT = 500
"""The most characters of a server's message (or a ``Location``) shown."""
REASON_LIMIT = 200
"""The most characters of a network failure's explanation shown."""
TYPE_LIMIT = 100
"""The most characters of the ``Content-Type`` of an answer that is not an image shown."""
JSON_LIMIT = 1024 * 1024
"""The most bytes of a JSON answer (a job's) read."""
CODE_LIMIT = 40
"""The most characters of the API's code, when it is not a number, shown."""


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


def receive(
    response: requests.Response,
    destination: IO[bytes],
    attempt: int,
    formats: tuple[str, ...],
    redactor: Redactor,
) -> ImageResult:
    """
    Stream a 200 answer into ``destination``, requiring a complete image in one of ``formats``.

    :param response: the answer, not yet read.
    :param destination: a writable binary file.
    :param attempt: which attempt this is (recorded in the result).
    :param formats: the image formats the operation answers in.
    :param redactor: keeps the token out of the error's text.
    :raises VyroResponseError: if the answer broke off or is not a complete image.
    """
    checker = ImageStreamChecker(formats)
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in response.iter_content(CHUNK):
            destination.write(chunk)
            digest.update(chunk)
            checker.feed(chunk)
            size += len(chunk)
    except requests.RequestException as err:
        expected = redactor.cut(response.headers.get("Content-Length", "?"), 20)
        raise VyroResponseError(
            200, f"the answer broke off after {size} of {expected} bytes ({type(err).__name__})"
        ) from None
    try:
        image = checker.result()
    except ValueError as err:
        kind = redactor.cut(response.headers.get("Content-Type", "no content type"), TYPE_LIMIT)
        raise VyroResponseError(200, f"the answer is not a complete image ({kind}): {err}") from None
    return ImageResult(size, digest.hexdigest(), image.width, image.height, attempt, image.format)


def read_json(response: requests.Response, redactor: Redactor, conn_id: str | None = None) -> str:
    """
    Read an answer that should be JSON (a job's): its text, token redacted, or the error it stands for.

    :param response: the answer, not yet read.
    :param redactor: keeps the token out of the text and of any error.
    :param conn_id: the connection whose token was sent (see :func:`error_from`).
    :raises VyroAPIError: if the status is not 200 (:func:`error_from`).
    :raises VyroResponseError: if the answer broke off or is larger than :data:`JSON_LIMIT`.
    """
    if response.status_code != 200:
        raise error_from(response, redactor, conn_id)
    try:
        raw = response.raw.read(JSON_LIMIT + 1, decode_content=True)
    except (requests.RequestException, OSError) as err:
        raise VyroResponseError(200, f"the answer broke off ({type(err).__name__})") from None
    if len(raw) > JSON_LIMIT:
        raise VyroResponseError(200, f"the answer is larger than {JSON_LIMIT} bytes: not a job's JSON")
    return redactor.redact(raw.decode("utf-8", errors="replace"))


def error_from(response: requests.Response, redactor: Redactor, conn_id: str | None = None) -> VyroAPIError:
    """
    Give the error an answer that is not an image stands for (see :mod:`airflow_provider_vyro.statuses`).

    :param response: the answer, not yet read.
    :param redactor: keeps the token out of the error's text.
    :param conn_id: the connection whose token was sent: an account error names it and says what to do.
    """
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("Location")
        shown = redactor.cut(location, MESSAGE_LIMIT) if location else None
        return error_for(status, "", location=shown)
    message, code = server_answer(response, redactor)
    wait = retry_after(response.headers.get("Retry-After")) if status == 429 else None
    return error_for(status, message, code=code, retry_after=wait, conn_id=conn_id)


def server_answer(response: requests.Response, redactor: Redactor) -> tuple[str, int | str | None]:
    """
    Read an error answer: its message and the API's code, without the token.

    :param response: the answer, not yet read.
    :param redactor: keeps the token out of what is returned.
    """
    body = b""
    try:
        for chunk in response.iter_content(8192):
            body += chunk
            if len(body) >= ERROR_BODY_LIMIT:
                break
    except requests.RequestException:
        pass
    text = body.decode("utf-8", errors="replace")
    if len(body) >= ERROR_BODY_LIMIT:
        text = redactor.without_partial_tail(text)
    text = redactor.redact(text).strip()
    message, code = parse_error_body(text) if text.startswith("{") else (None, None)
    message = redactor.cut(message or text or response.reason or "no message", MESSAGE_LIMIT)
    if isinstance(code, str):
        code = redactor.cut(code, CODE_LIMIT)
    return message, code


def network_error(
    err: requests.RequestException, base_url: str, timeout: float, redactor: Redactor, conn_id: str
) -> VyroConnectionError:
    """
    Translate a ``requests`` failure into the hook's error, with its cause chained if safe.

    A read timeout, a certificate that fails verification (:class:`VyroTLSError`, not retried),
    a proxy failure, or any other failure to reach the API. The ``requests`` exception (whose
    text a server may control) is chained only when it does not carry the token.

    :param err: what ``requests`` raised.
    :param base_url: the API's base URL, named in the message.
    :param timeout: the read timeout, named when it ran out.
    :param redactor: keeps the token out of the error.
    :param conn_id: the connection, named where one of its extras is the fix.
    """
    shown = reason(err, redactor)
    failure: VyroConnectionError
    if isinstance(err, requests.Timeout) and not isinstance(err, requests.exceptions.ConnectTimeout):
        failure = VyroConnectionError(f"Vyro API at {base_url} did not answer within {timeout:g} s")
    elif is_certificate_failure(err):
        failure = VyroTLSError(
            f"TLS certificate verification failed for {base_url} ({shown}); not retried: set the "
            f"extra 'verify' of connection {conn_id!r} to the CA bundle that signed the server's "
            "certificate (a corporate proxy's, for example), or fix the connection's host"
        )
    elif isinstance(err, requests.exceptions.ProxyError):
        failure = VyroConnectionError(f"cannot reach the Vyro API at {base_url} through the proxy: {shown}")
    else:
        failure = VyroConnectionError(
            f"cannot reach the Vyro API at {base_url}: {type(err).__name__} ({shown})"
        )
    failure.__cause__ = redactor.scrubbed(err)
    failure.__suppress_context__ = True
    return failure


def reason(err: BaseException, redactor: Redactor) -> str:
    """
    Give the innermost explanation of a ``requests`` failure, redacted and shortened (``Connection refused``).

    :param err: what ``requests`` raised.
    :param redactor: keeps the token out of it (a server controls the text of a broken status line).
    """
    inner = err
    while True:
        nested = getattr(inner, "reason", None)
        nested = nested if isinstance(nested, BaseException) else None
        if nested is None and inner.args and isinstance(inner.args[-1], BaseException):
            nested = inner.args[-1]
        if nested is None:
            break
        inner = nested
    text = " ".join(str(inner).split()) or type(inner).__name__
    if "): " in text and text.startswith(("HTTPConnection(", "HTTPSConnection(", "<urllib3")):
        text = text.split("): ", 1)[1]
    return redactor.cut(text, REASON_LIMIT, mark="…")


__all__ = [
    "CODE_LIMIT",
    "ERROR_BODY_LIMIT",
    "JSON_LIMIT",
    "MESSAGE_LIMIT",
    "REASON_LIMIT",
    "TYPE_LIMIT",
    "ImageResult",
    "error_from",
    "network_error",
    "read_json",
    "reason",
    "receive",
    "server_answer",
]
