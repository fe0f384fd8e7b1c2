"""
The status-to-error table: what each HTTP answer other than an image means.

=========================  ==========================================  ============
status                     error                                       hook retries
=========================  ==========================================  ============
3xx (never followed)       :class:`VyroUnexpectedResponseError`        no
400 with code 1000         :class:`VyroAuthenticationError`            no
400, 404, 405, 413, 415,   :class:`VyroBadRequestError`                no
422
401, 403, 406              :class:`VyroAuthenticationError`            no
402, 424                   :class:`VyroInsufficientCreditsError`       no
429                        :class:`VyroRateLimitError`                 yes
408, 500, 502, 503, 504    :class:`VyroServerError`                    yes
any other                  :class:`VyroUnexpectedResponseError`        no
=========================  ==========================================  ============
"""

from __future__ import annotations

import json

from airflow_provider_vyro.exceptions import (
    VyroAPIError,
    VyroAuthenticationError,
    VyroBadRequestError,
    VyroInsufficientCreditsError,
    VyroRateLimitError,
    VyroServerError,
    VyroUnexpectedResponseError,
)

_CODE_LIMIT = 40

TOKEN_MISSING_CODE = 1000
"""The API's code for "bearer token missing from the request" (sent with a 400)."""

ERRORS_BY_STATUS: dict[int, type[VyroAPIError]] = {
    400: VyroBadRequestError,
    404: VyroBadRequestError,
    405: VyroBadRequestError,
    413: VyroBadRequestError,
    415: VyroBadRequestError,
    422: VyroBadRequestError,
    401: VyroAuthenticationError,
    403: VyroAuthenticationError,
    406: VyroAuthenticationError,
    402: VyroInsufficientCreditsError,
    424: VyroInsufficientCreditsError,
    408: VyroServerError,
    500: VyroServerError,
    502: VyroServerError,
    503: VyroServerError,
    504: VyroServerError,
}
"""The error of each documented status except 429 (:class:`VyroRateLimitError`, with its wait)."""

TOP_UP_URL = "https://platform.imagine.art"
"""Vyro's dashboard for API tokens, where an account's credits are topped up."""

_HINTS = {
    404: "no such endpoint: is the connection's host the Vyro API?",
    405: "the endpoint does not take POST: is the connection's host the Vyro API?",
    413: "the request is too large for the server",
    415: "the server does not accept this content type",
}


def error_for(
    status: int,
    message: str,
    *,
    code: int | str | None = None,
    retry_after: float | None = None,
    location: str | None = None,
    conn_id: str | None = None,
) -> VyroAPIError:
    """
    Return the error an answer with ``status`` stands for (see the module's table).

    With ``conn_id``, an account error says what to do first (check the connection's token, or
    top up its credits), then gives the API's own message.

    :param status: the HTTP status.
    :param message: the server's message, already stripped of any secret.
    :param code: the API's numeric code from the JSON body, if any.
    :param retry_after: seconds from a ``Retry-After`` header (429 only).
    :param location: the ``Location`` header of a redirect, already stripped of any secret.
    :param conn_id: the connection whose token was sent, named in the advice.
    """
    if 300 <= status < 400:
        target = location or "no Location"
        return VyroUnexpectedResponseError(
            status,
            f"a redirect to {target}, not followed: API calls never follow redirects, so the token "
            "goes nowhere but the connection's host; check that host (https, the API's own address)",
            code=code,
            location=location,
        )
    if status == 429:
        return VyroRateLimitError(status, message, retry_after, code=code)
    if status == 400 and code == TOKEN_MISSING_CODE:
        advice = _advice(VyroAuthenticationError, conn_id, missing=True)
        return VyroAuthenticationError(status, advice + message, code=code)
    error = ERRORS_BY_STATUS.get(status)
    if error is None:
        return VyroUnexpectedResponseError(
            status, f"a status the API does not document: {message}", code=code
        )
    hint = _HINTS.get(status)
    return error(status, _advice(error, conn_id) + (f"{message} ({hint})" if hint else message), code=code)


def _advice(error: type[VyroAPIError], conn_id: str | None, *, missing: bool = False) -> str:
    """Say what a user can do about an account error, before the API's message (nothing for others)."""
    what = "the API did not receive the token" if missing else "the API refused the token"
    if error is VyroAuthenticationError:
        if conn_id is None:
            return f"{what}: " if missing else ""
        return (
            f"{what} of connection {conn_id!r}: check the token in its password with "
            f"`airflow connections test {conn_id}`. The API said: "
        )
    if error is VyroInsufficientCreditsError and conn_id is not None:
        return (
            f"the account of connection {conn_id!r} has run out of credits: top up its API tokens "
            f"on Vyro's dashboard ({TOP_UP_URL}), then clear the task to run it again. The API said: "
        )
    return ""


def parse_error_body(text: str) -> tuple[str | None, int | str | None]:
    """
    Return the message and the code of a JSON error body, each ``None`` if absent.

    The API's error bodies look like ``{"status": "error", "code": 1001, "error": "...",
    "message": "..."}``; ``code`` may be an int or a string: a string of digits becomes an
    int, any other string is kept (shortened).

    :param text: the body as text (anything that is not a JSON object gives ``(None, None)``).
    """
    try:
        body = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    return _message(body), _code(body.get("code"))


def _message(body: dict[str, object]) -> str | None:
    for key in ("message", "details", "detail", "error"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if value:
            return json.dumps(value)
    return None


def _code(value: object) -> int | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text.isascii() and text.isdigit() else (text[:_CODE_LIMIT] or None)
    return None


__all__ = ["ERRORS_BY_STATUS", "TOKEN_MISSING_CODE", "TOP_UP_URL", "error_for", "parse_error_body"]
