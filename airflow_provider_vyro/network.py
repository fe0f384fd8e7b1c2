"""
Where and how the hook may connect: the base URL policy, TLS and proxy settings, TCP keep-alive.

The token goes to the connection's base URL and nowhere else. This module decides which base
URLs are acceptable (scheme and host only; ``http://`` only on loopback unless the connection
allows it), reads the connection extras that shape the transport (``verify``, ``cert``,
``proxies``) with the names :class:`~airflow.providers.http.hooks.http.HttpHook` users know, and
provides the adapter whose pooled connections use TCP keep-alive.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection

from airflow_provider_vyro.exceptions import VyroInputError

DEFAULT_BASE_URL = "https://api.vyro.ai"
_FIELD = "vyro_conn_id"
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})

KEEPALIVE_IDLE = 60
"""Seconds a pooled connection may be silent before the kernel probes it (below common NAT timeouts)."""
KEEPALIVE_INTERVAL = 20
"""Seconds between keep-alive probes."""
KEEPALIVE_COUNT = 5
"""Unanswered probes after which the connection is declared dead."""


def connection_problem(conn_id: str | None, problem: str) -> VyroInputError:
    """
    Give the error of a connection setting, worded from the connection's side.

    A :class:`~airflow_provider_vyro.exceptions.VyroInputError` on ``vyro_conn_id`` whose message
    names the connection: ``Vyro connection 'vyro_default': its extra 'timeout' must be ...``.

    :param conn_id: the connection's id (``None`` when unknown).
    :param problem: what is wrong with it, in words a user can act on.
    """
    name = f"Vyro connection {conn_id!r}" if conn_id else "The Vyro connection"
    return VyroInputError(_FIELD, problem, message=f"{name}: {problem}")


def extra_value(extra: dict[str, Any], key: str) -> Any:
    """
    Return a connection extra, also under its old form-field name ``extra__vyro__<key>``.

    :param extra: the connection's ``extra_dejson``.
    :param key: the extra's name.
    """
    value = extra.get(key, extra.get(f"extra__vyro__{key}"))
    return None if value == "" else value


def bool_extra(extra: dict[str, Any], key: str, default: bool, *, conn_id: str | None = None) -> bool:
    """
    Read a yes/no extra: a JSON boolean or ``true``/``false`` (also ``yes``/``no``, ``1``/``0``).

    :param extra: the connection's ``extra_dejson``.
    :param key: the extra's name.
    :param default: the value when the extra is absent.
    :param conn_id: the connection's id, named in errors.
    :raises VyroInputError: on ``vyro_conn_id`` if the value is neither.
    """
    raw = extra_value(extra, key)
    if raw is None:
        return default
    parsed = _as_bool(raw)
    if parsed is None:
        raise connection_problem(conn_id, f"its extra {key!r} must be true or false, got {raw!r}")
    return parsed


def _as_bool(raw: object) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return None


def is_loopback(hostname: str) -> bool:
    """
    Tell whether ``hostname`` is this machine: ``localhost``, 127.0.0.0/8 or ``::1``.

    :param hostname: a host name or IP address, without brackets or port.
    """
    name = hostname.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def base_url(
    host: str | None, port: int | None, *, allow_insecure_http: bool, conn_id: str = "vyro_default"
) -> str:
    """
    Return the API's base URL (``scheme://host[:port]``) from a connection's host and port.

    An empty host means :data:`DEFAULT_BASE_URL`; a host without a scheme gets ``https://``.

    :param host: the connection's host.
    :param port: the connection's port, if set.
    :param allow_insecure_http: the connection's ``allow_insecure_http`` extra: whether an
        ``http://`` URL may name a host other than this machine.
    :param conn_id: the connection's id, named in errors.
    :raises VyroInputError: on ``vyro_conn_id`` if the host has a path, query, credentials or an
        unknown scheme, or is ``http://`` off this machine without ``allow_insecure_http``.
    """
    raw = (host or "").strip() or DEFAULT_BASE_URL
    if "://" not in raw:
        raw = f"https://{raw}"
    try:
        parts = urlsplit(raw)
        given_port = parts.port
    except ValueError as err:
        raise connection_problem(conn_id, f"its host {raw!r} is not a URL ({err})") from None
    scheme = parts.scheme.lower()
    hostname = parts.hostname or ""
    if parts.username is not None or parts.password is not None:
        raise connection_problem(
            conn_id,
            "its host must not carry a user name or password; "
            "the API token belongs in the connection's password",
        )
    shown = _rebuild(scheme, hostname, given_port)
    if scheme not in ("https", "http"):
        raise connection_problem(conn_id, f"its host {raw!r} must start with https:// (got {scheme}://)")
    if not hostname:
        raise connection_problem(conn_id, f"its host {raw!r} names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        extra = parts.path + (f"?{parts.query}" if parts.query else "")
        extra += f"#{parts.fragment}" if parts.fragment else ""
        raise connection_problem(
            conn_id,
            f"its host {raw!r} must be a scheme and host only (an optional port "
            f"too), without the path {extra!r}: set host to {shown!r}; each call adds its own "
            "path (/v1/..., /v2/...)",
        )
    if port and given_port and port != given_port:
        raise connection_problem(conn_id, f"its host {raw!r} says port {given_port}, the port field {port}")
    url = _rebuild(scheme, hostname, given_port or port or None)
    if scheme == "http" and not allow_insecure_http and not is_loopback(hostname):
        secure = _rebuild("https", hostname, given_port or port or None)
        raise connection_problem(
            conn_id,
            f"its host {url!r} would send the API token in clear text over the "
            f"network; use https ({secure!r}), or set the extra allow_insecure_http to true if "
            "every network between here and that host is trusted",
        )
    return url


def _rebuild(scheme: str, hostname: str, port: int | None) -> str:
    shown = f"[{hostname}]" if ":" in hostname else hostname
    return f"{scheme}://{shown}" + (f":{port}" if port else "")


@dataclass(frozen=True)
class Transport:
    """
    How requests reach the API: TLS verification, a client certificate, proxies.

    :param verify: ``True`` (verify against the default CA bundle, or ``REQUESTS_CA_BUNDLE``),
        ``False`` (do not verify: any server can read the token), or the path of a CA bundle.
    :param cert: a client certificate file holding its key, or a ``(cert, key)`` pair, or ``None``.
    :param proxies: proxy URL by scheme or ``scheme://host`` (as ``requests`` takes them); the
        ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` variables fill in what it does not name.
    """

    verify: bool | str = True
    cert: str | tuple[str, str] | None = None
    proxies: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_extra(cls, extra: dict[str, Any], *, conn_id: str | None = None) -> Transport:
        """
        Read the ``verify``, ``cert`` and ``proxies`` extras of a connection.

        :param extra: the connection's ``extra_dejson``.
        :param conn_id: the connection's id, named in errors.
        :raises VyroInputError: on ``vyro_conn_id`` if one is malformed or names a missing file.
        """
        return cls(
            _verify(extra_value(extra, "verify"), conn_id),
            _cert(extra_value(extra, "cert"), conn_id),
            _proxies(extra, conn_id),
        )


def _verify(raw: object, conn_id: str | None) -> bool | str:
    if raw is None:
        return True
    flag = _as_bool(raw)
    if flag is not None:
        return flag
    if not isinstance(raw, str):
        raise connection_problem(
            conn_id, f"its extra 'verify' must be true, false or a CA bundle path, got {raw!r}"
        )
    path = os.path.expanduser(raw.strip())
    if not os.path.exists(path):
        raise connection_problem(
            conn_id, f"its extra 'verify' names a CA bundle, {path!r}, that does not exist"
        )
    return path


def _cert(raw: object, conn_id: str | None) -> str | tuple[str, str] | None:
    if raw is None:
        return None
    if isinstance(raw, str) and raw.strip().startswith("["):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise connection_problem(
                conn_id, "its extra 'cert' is not a path nor a JSON [cert, key] list"
            ) from None
    if isinstance(raw, str):
        return _existing_file("cert", raw, conn_id)
    if isinstance(raw, list | tuple) and len(raw) == 2 and all(isinstance(item, str) for item in raw):
        return _existing_file("cert", raw[0], conn_id), _existing_file("cert", raw[1], conn_id)
    raise connection_problem(
        conn_id, f"its extra 'cert' must be a file path or a [cert, key] pair, got {raw!r}"
    )


def _existing_file(key: str, raw: str, conn_id: str | None) -> str:
    path = os.path.expanduser(raw.strip())
    if not os.path.isfile(path):
        raise connection_problem(conn_id, f"its extra {key!r} names {path!r}, which is not a file")
    return path


def _proxies(extra: dict[str, Any], conn_id: str | None) -> dict[str, str]:
    raw = extra_value(extra, "proxies")
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise connection_problem(
                conn_id, 'its extra \'proxies\' must be an object such as {"https": "http://proxy:3128"}'
            ) from None
    if not isinstance(raw, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in raw.items()
    ):
        raise connection_problem(
            conn_id,
            'its extra \'proxies\' must map schemes to proxy URLs, such as {"https": "http://proxy:3128"}',
        )
    return {key.strip(): value.strip() for key, value in raw.items()}


def keepalive_socket_options() -> list[tuple[int, int, int]]:
    """Return urllib3's default socket options plus TCP keep-alive, as far as the platform has them."""
    options: list[tuple[int, int, int]] = list(HTTPConnection.default_socket_options)
    options.append((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1))
    idle = getattr(socket, "TCP_KEEPIDLE", None) or getattr(socket, "TCP_KEEPALIVE", None)
    for option, value in (
        (idle, KEEPALIVE_IDLE),
        (getattr(socket, "TCP_KEEPINTVL", None), KEEPALIVE_INTERVAL),
        (getattr(socket, "TCP_KEEPCNT", None), KEEPALIVE_COUNT),
    ):
        if option is not None:
            options.append((socket.IPPROTO_TCP, option, value))
    return options


class KeepAliveAdapter(HTTPAdapter):
    """
    An ``HTTPAdapter`` whose connections, direct or through a proxy, use TCP keep-alive.

    A call may wait minutes for its answer; without keep-alive a NAT or firewall may forget the
    silent connection and the answer, already paid for, never arrives.
    """

    def init_poolmanager(self, *args: Any, **pool_kwargs: Any) -> None:
        """Create the pool manager with keep-alive socket options (see ``HTTPAdapter``)."""
        pool_kwargs.setdefault("socket_options", keepalive_socket_options())
        super().init_poolmanager(*args, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """Return the proxy's pool manager, with keep-alive socket options (see ``HTTPAdapter``)."""
        proxy_kwargs.setdefault("socket_options", keepalive_socket_options())
        return super().proxy_manager_for(proxy, **proxy_kwargs)


__all__ = [
    "DEFAULT_BASE_URL",
    "KeepAliveAdapter",
    "Transport",
    "base_url",
    "bool_extra",
    "connection_problem",
    "extra_value",
    "is_loopback",
    "keepalive_socket_options",
]
