"""Serving the emulator: the uvicorn set-up, and a context manager that runs it in a thread.

How the ``drop`` fault closes a connection without answering: ASGI gives an application no
handle on the socket, and an application that returns without responding makes uvicorn
answer 500 itself. :class:`EmulatorH11Protocol` therefore wraps the application once per
connection (uvicorn creates one protocol object per TCP connection) so that every request
on that connection carries the connection's asyncio transport in
``scope["extensions"]["vyro.transport"]``. The app aborts that transport and waits for
uvicorn to notice the disconnect, after which uvicorn sends nothing: the client sees the
connection closed with no response (``RemoteDisconnected`` -> ``requests.ConnectionError``).
Wrapping the app, rather than patching the scope after the request is parsed, also covers
pipelined requests and does not depend on when uvicorn schedules the ASGI task.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol

from airflow_provider_vyro.emulator.app import TRANSPORT_EXTENSION, create_app
from airflow_provider_vyro.emulator.faults import Fault, FaultConfig, RandomFaults

if TYPE_CHECKING:
    from types import TracebackType

    from uvicorn.server import ServerState

_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 15.0
_ADMIN_TIMEOUT = 10.0


class EmulatorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, handing the connection's transport to the app (see the module doc)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: Any = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        app = self.app

        async def app_with_transport(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})[TRANSPORT_EXTENSION] = self.transport
            await app(scope, receive, send)

        self.app = app_with_transport


def bind_socket(host: str, port: int) -> socket.socket:
    """
    Return a listening TCP socket on ``host:port`` (port 0 picks a free port).

    The socket is created with ``IPPROTO_TCP`` explicitly: asyncio sets ``TCP_NODELAY`` only on
    connections whose protocol number says TCP, and without it Nagle's algorithm holds each
    answer's body (uvicorn writes headers and body separately) until the client's delayed ACK,
    about 40 ms per request on a kept-alive connection.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


def server_config(app: Any, *, log_level: str = "warning", access_log: bool = False) -> Config:
    """Return the uvicorn configuration of the emulator (its own h11 protocol, no lifespan)."""
    return Config(
        app,
        http=EmulatorH11Protocol,
        ws="none",
        lifespan="off",
        loop="asyncio",
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=3,
    )


def url_of(sock: socket.socket) -> str:
    """Return ``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class EmulatorServer:
    """The emulator on a real loopback port, served from a background thread.

    ``with EmulatorServer(token="t", script=[503, "ok"]) as emulator: ...`` starts it on a
    free port; ``emulator.url`` is the base URL to give a client. Keyword arguments beyond
    ``token``, ``host`` and ``port`` are the initial fault knobs (``latency``, ``script``,
    ``random_faults``, ``retry_after``).
    """

    def __init__(
        self, token: str = "test-token", host: str = "127.0.0.1", port: int = 0, **initial_fault_knobs: Any
    ):
        self.token = token
        self.host = host
        self._requested_port = port
        self._initial_faults = FaultConfig.from_dict(_jsonable(initial_fault_knobs))
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (available once started)."""
        if self._url is None:
            raise RuntimeError("the emulator is not running")
        return self._url

    @property
    def port(self) -> int:
        """The bound port (available once started)."""
        return int(self.url.rsplit(":", 1)[1])

    @property
    def inpaint_url(self) -> str:
        """Full URL of the inpaint endpoint."""
        return self.url + "/v1/imagine/api/edits/inpaint"

    def start(self) -> EmulatorServer:
        """Bind, start serving in a daemon thread, and return once requests are accepted."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        sock = bind_socket(self.host, self._requested_port)
        server = uvicorn.Server(server_config(create_app(self.token, self._initial_faults)))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="vyro-emulator", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError("the emulator failed to start")
            time.sleep(0.01)
        self._server, self._thread, self._url = server, thread, url_of(sock)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to finish (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_STOP_TIMEOUT)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        """Replace the given fault knobs at run time; returns the knobs now in force."""
        return self._admin("POST", "/_emulator/faults", _jsonable(knobs))

    def faults(self) -> dict[str, Any]:
        """Return the fault knobs in force, with what is left of the script."""
        return self._admin("GET", "/_emulator/faults")

    def stats(self) -> dict[str, Any]:
        """Return the stats JSON (see ``GET /_emulator/stats``)."""
        return self._admin("GET", "/_emulator/stats")

    def reset(self) -> None:
        """Clear the stats and every fault."""
        self._admin("POST", "/_emulator/reset", {})

    def _admin(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=_ADMIN_TIMEOUT) as response:
                answer: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as exc:
            raise ValueError(
                f"emulator rejected {method} {path}: {exc.read().decode(errors='replace')}"
            ) from None
        return answer


def _jsonable(knobs: dict[str, Any]) -> dict[str, Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, Fault | RandomFaults):
            return value.to_json()
        if isinstance(value, list | tuple):
            return [convert(item) for item in value]
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        return value

    return {key: convert(value) for key, value in knobs.items()}
