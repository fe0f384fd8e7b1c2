"""
A Vyro connection's settings: the token, the base URL, timeouts, retries and the transport.

Read once per hook, before the first request, and checked: a missing or malformed connection is
a :class:`~airflow_provider_vyro.exceptions.VyroInputError` on ``vyro_conn_id``. The token is
registered with Airflow's secrets masker here, before anything could print it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowNotFoundException, mask_secret

from airflow_provider_vyro.catalogue import JOB_STATUS_PATH
from airflow_provider_vyro.credits import NO_COSTS, read_credit_costs
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.network import Transport, base_url, bool_extra, connection_problem

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow.providers.common.compat.sdk import Connection

DEFAULT_TIMEOUT = 180.0
"""Read timeout in seconds of one call when neither the hook nor the connection sets one."""
DEFAULT_MAX_RETRIES = 3
"""Retries of a retryable failure when neither the hook nor the connection sets them."""
DEFAULT_BACKOFF_FACTOR = 1.0
"""Base seconds of the exponential backoff when neither the hook nor the connection sets it."""
CONNECT_TIMEOUT = 10.0
"""Seconds to wait for a connection to open (the read timeout, if shorter)."""
DEFAULT_MAX_RESULT_BYTES = 2 * 1024**3
"""The largest job result (a video) fetched unless the connection extra ``max_result_bytes`` says (2 GiB)."""


@dataclass(frozen=True)
class Settings:
    """
    What a hook needs from its connection, checked.

    :param base_url: ``scheme://host[:port]`` of the API.
    :param token: the API token (never shown in the ``repr``).
    :param timeout: read timeout in seconds of one request.
    :param max_retries: retries after the first attempt for retryable failures.
    :param backoff_factor: base seconds of the exponential backoff.
    :param transport: TLS and proxy settings from the connection's extras.
    :param job_status_path: the path of a job's status, with ``{id}`` (extra ``job_status_path``).
    :param max_result_bytes: the largest job result fetched (extra ``max_result_bytes``).
    :param requests_per_minute: the most requests a minute this process sends through one hook
        (extra ``requests_per_minute``; ``0``: no cap).
    :param credit_costs: costs of calls in credits by ``operation`` or ``operation:style``
        (extra ``credit_costs``), over the catalogue's.
    """

    base_url: str
    token: str = field(repr=False)
    timeout: float
    max_retries: int
    backoff_factor: float
    transport: Transport = field(default_factory=Transport)
    job_status_path: str = JOB_STATUS_PATH
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    credit_costs: Mapping[str, float] = field(default_factory=lambda: NO_COSTS, hash=False)
    requests_per_minute: float = 0.0


def read_settings(
    get_connection: Callable[[str], Connection],
    conn_id: str,
    *,
    timeout: float | None = None,
    max_retries: int | None = None,
    backoff_factor: float | None = None,
) -> Settings:
    """
    Read and check the connection ``conn_id``; values given here win over its extras.

    :param get_connection: how to look a connection up (the hook's ``get_connection``).
    :param conn_id: the connection's id.
    :param timeout: the hook's read timeout, or ``None`` for the connection's.
    :param max_retries: the hook's retries, or ``None`` for the connection's.
    :param backoff_factor: the hook's backoff base, or ``None`` for the connection's.
    :raises VyroInputError: on ``vyro_conn_id`` if the connection is missing or malformed.
    """
    try:
        conn = get_connection(conn_id)
    except AirflowNotFoundException:
        add = f"`airflow connections add {conn_id} --conn-type vyro --conn-password TOKEN`"
        problem = f"no connection {conn_id!r}: add one with {add}"
        raise VyroInputError(
            "vyro_conn_id",
            problem,
            message=f"Vyro connection {conn_id!r} not found: Airflow has no connection {conn_id!r} "
            f"(in its database, an AIRFLOW_CONN_{conn_id.upper()} variable or a secrets backend); "
            f"add one with {add}",
        ) from None
    token = check_token(conn.password, conn_id)
    mask_secret(token)
    extra = conn.extra_dejson
    url = base_url(
        conn.host,
        conn.port,
        allow_insecure_http=bool_extra(extra, "allow_insecure_http", False, conn_id=conn_id),
        conn_id=conn_id,
    )
    transport = Transport.from_extra(extra, conn_id=conn_id)
    timeout = timeout or float_extra(extra, "timeout", DEFAULT_TIMEOUT, allow_zero=False, conn_id=conn_id)
    if max_retries is None:
        max_retries = int_extra(extra, "max_retries", DEFAULT_MAX_RETRIES, conn_id=conn_id)
    if backoff_factor is None:
        backoff_factor = float_extra(
            extra, "backoff_factor", DEFAULT_BACKOFF_FACTOR, allow_zero=True, conn_id=conn_id
        )
    max_result_bytes = (
        int_extra(extra, "max_result_bytes", DEFAULT_MAX_RESULT_BYTES, conn_id=conn_id)
        or DEFAULT_MAX_RESULT_BYTES
    )
    return Settings(
        url,
        token,
        timeout,
        max_retries,
        backoff_factor,
        transport,
        status_path_extra(extra, conn_id=conn_id),
        max_result_bytes,
        read_credit_costs(extra.get("credit_costs", extra.get("extra__vyro__credit_costs")), conn_id=conn_id),
        float_extra(extra, "requests_per_minute", 0.0, allow_zero=False, conn_id=conn_id),
    )


def status_path_extra(extra: dict[str, Any], *, conn_id: str | None = None) -> str:
    """
    Read the extra ``job_status_path``: a ``/v2/`` path with one ``{id}`` (default :data:`JOB_STATUS_PATH`).

    :param extra: the connection's ``extra_dejson``.
    :param conn_id: the connection's id, named in errors.
    :raises VyroInputError: on ``vyro_conn_id`` if it is not such a path.
    """
    raw = extra.get("job_status_path", extra.get("extra__vyro__job_status_path"))
    if raw is None or raw == "":
        return JOB_STATUS_PATH
    if (
        not isinstance(raw, str)
        or not raw.startswith("/v2/")
        or raw.count("{id}") != 1
        or any(c in raw for c in "?#\\ ")
        or "/../" in raw
    ):
        raise connection_problem(
            conn_id,
            f"its extra 'job_status_path' must be a /v2/ path with one {{id}}, e.g. {JOB_STATUS_PATH!r}; "
            f"got {raw!r}",
        )
    return raw


def check_token(password: str | None, conn_id: str) -> str:
    """
    Return the API token of a connection's password, stripped, after checking it can be sent.

    A header cannot carry spaces, line breaks or characters that are not ASCII: such a token was
    pasted wrong, and is refused before any request.

    :param password: the connection's password.
    :param conn_id: the connection's id, named in errors.
    :raises VyroInputError: on ``vyro_conn_id`` if the token is empty or cannot be sent.
    """
    token = (password or "").strip()
    if not token:
        raise connection_problem(
            conn_id, "no API token in its password: set the token Vyro gave you as the connection's password"
        )
    if not (token.isascii() and token.isprintable()) or any(char.isspace() for char in token):
        raise connection_problem(
            conn_id,
            "the API token in its password contains spaces, line breaks or characters that are "
            "not ASCII; paste it again",
        )
    return token


def float_extra(
    extra: dict[str, Any], key: str, default: float, *, allow_zero: bool, conn_id: str | None = None
) -> float:
    """
    Read a number extra (``timeout``, ``backoff_factor``).

    :param extra: the connection's ``extra_dejson``.
    :param key: the extra's name (also read as ``extra__vyro__<key>``).
    :param default: the value when the extra is absent or empty.
    :param allow_zero: whether ``0`` is allowed.
    :param conn_id: the connection's id, named in errors.
    :raises VyroInputError: on ``vyro_conn_id`` if it is not a number, or out of range.
    """
    raw = extra.get(key, extra.get(f"extra__vyro__{key}"))
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise connection_problem(conn_id, f"its extra {key!r} must be a number, got {raw!r}") from None
    if value < 0 or (value == 0 and not allow_zero) or value != value:
        raise connection_problem(conn_id, f"its extra {key!r} must be a positive number, got {raw!r}")
    return value


def int_extra(extra: dict[str, Any], key: str, default: int, *, conn_id: str | None = None) -> int:
    """
    Read a whole-number extra (``max_retries``).

    :param extra: the connection's ``extra_dejson``.
    :param key: the extra's name (also read as ``extra__vyro__<key>``).
    :param default: the value when the extra is absent or empty.
    :param conn_id: the connection's id, named in errors.
    :raises VyroInputError: on ``vyro_conn_id`` if it is not a whole number >= 0.
    """
    raw = extra.get(key, extra.get(f"extra__vyro__{key}"))
    if raw is None or raw == "":
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise connection_problem(conn_id, f"its extra {key!r} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise connection_problem(conn_id, f"its extra {key!r} must not be negative, got {raw!r}")
    return value


def request_environment(settings: Settings) -> tuple[bool | str, dict[str, str]]:
    """
    Return the TLS verification and the proxies of every request, read from the environment once.

    ``requests`` would read the proxy variables, match ``NO_PROXY`` and look up ``~/.netrc`` on
    every call; the hook's session does not (``trust_env`` is off) and this does the same once
    for the base URL, with the same precedence: the connection's ``proxies`` extra wins over
    ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` (which ``NO_PROXY`` may bypass), and
    ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``) applies only when ``verify`` is left at true.
    ``~/.netrc`` is never read: the API's auth header is the token's. An ``http://`` base URL
    (loopback, or ``allow_insecure_http``) takes no proxy from the environment: the token would
    leave the machine in clear text to the proxy; name one in the ``proxies`` extra to use it
    knowingly.

    :param settings: the connection's settings.
    :return: ``verify`` and ``proxies`` as ``requests`` takes them.
    """
    import requests

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


__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_BACKOFF_FACTOR",
    "DEFAULT_MAX_RESULT_BYTES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "Settings",
    "check_token",
    "float_extra",
    "int_extra",
    "read_settings",
    "request_environment",
    "status_path_extra",
]
