"""
What a connection test found: the verdict on the answer to a request that cannot be charged.

:meth:`~airflow_provider_vyro.hooks.vyro.VyroHook.test_connection` sends a request without its
required fields, which the API refuses before generating anything; the status it refuses with
tells a good token from a bad one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_vyro import multipart
from airflow_provider_vyro.catalogue import INPAINT, TEXT_TO_IMAGE
from airflow_provider_vyro.exceptions import VyroAuthenticationError
from airflow_provider_vyro.failures import meaning
from airflow_provider_vyro.hooks.answers import error_from

if TYPE_CHECKING:
    from collections.abc import Callable

    import requests

    from airflow_provider_vyro.exceptions import VyroAPIError
    from airflow_provider_vyro.hooks.redaction import Redactor

PROBES: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("v2", TEXT_TO_IMAGE.path, {"style": "imagine-turbo"}),
    ("v1", INPAINT.path, {"model_version": "1"}),
)
"""The requests a connection test may send, in order: API version, path, and the fields sent (no prompt)."""


def check(base: str, send: Callable[..., requests.Response], redactor: Redactor) -> tuple[bool, str]:
    """
    Send the :data:`PROBES` in order until one is not answered 404, and give the :func:`verdict`.

    :param base: the base URL probed (named in the message).
    :param send: the hook's way of posting a form: ``send(path, body, content_type, stream=True)``.
    :param redactor: keeps the token out of the message.
    :raises VyroError: if a probe cannot reach the API.
    """
    api, error = "", None
    for version, path, fields in PROBES:
        body, content_type = multipart.encode(fields, {})
        with send(path, body, content_type, stream=True) as response:
            error = None if response.status_code == 200 else error_from(response, redactor)
        api = version
        if error is None or error.status_code != 404:
            break
    return verdict(base, api, error)


def verdict(base: str, api: str, error: VyroAPIError | None) -> tuple[bool, str]:
    """
    Say whether the token was accepted, given the error a probe answered.

    :param base: the base URL probed.
    :param api: the API version probed (``v1`` or ``v2``).
    :param error: the error the probe's answer stands for; ``None`` if it answered 200.
    :return: whether the token was accepted, and a message saying what was found.
    """
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
    if 300 <= status < 400:
        return False, f"{base} answered {status}: {error.message}"
    if meaning(error).hook_retries:
        return False, (
            f"{base} could not check the token now ({api} API answered {status}{code}: "
            f"{error.message}); try again later"
        )
    if status == 404:
        return False, (
            f"Neither the v2 nor the v1 API answers at {base} (404 on both): check the connection's host"
        )
    return False, f"Unexpected answer from {base} ({api} API, {status}{code}): {error.message}"


__all__ = ["PROBES", "check", "verdict"]
