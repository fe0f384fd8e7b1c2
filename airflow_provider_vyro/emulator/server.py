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

import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Self

import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol

from airflow_provider_vyro.emulator.admin import EmulatorAdmin, knobs_to_json
from airflow_provider_vyro.emulator.app import TRANSPORT_EXTENSION, create_app
from airflow_provider_vyro.emulator.faults import FaultConfig
from airflow_provider_vyro.emulator.video import STORAGE_HOST

if TYPE_CHECKING:
    from uvicorn.server import ServerState

_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 15.0


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


def bind_storage(
    app: Any, api: socket.socket, host: str = STORAGE_HOST, port: int = 0
) -> list[socket.socket]:
    """
    Bind the storage host's socket (video results) and tell the app its URL; give every socket to serve.

    When ``host`` cannot be bound (no such loopback address here), results are served from the
    API's own address instead.
    """
    try:
        storage = bind_socket(host, port)
    except OSError:
        app.state.emulator.video.storage_url = url_of(api)
        return [api]
    app.state.emulator.video.storage_url = url_of(storage)
    return [api, storage]


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


class EmulatorServer(EmulatorAdmin):
    """The emulator on a real loopback port, served from a background thread.

    ``with EmulatorServer(token="t", script=[503, "ok"]) as emulator: ...`` starts it on a
    free port; ``emulator.url`` is the base URL to give a client. Keyword arguments beyond
    ``token``, ``host`` and ``port`` are the initial fault knobs (``latency``, ``script``,
    ``random_faults``, ``retry_after``).
    """

    def __init__(
        self, token: str = "test-token", host: str = "127.0.0.1", port: int = 0, **initial_fault_knobs: Any
    ):
        super().__init__(token)
        self.host = host
        self._requested_port = port
        self._initial_faults = FaultConfig.from_dict(knobs_to_json(initial_fault_knobs))
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Bind, start serving in a daemon thread, and return once requests are accepted."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        sock = bind_socket(self.host, self._requested_port)
        app = create_app(self.token, self._initial_faults)
        sockets = bind_storage(app, sock)
        self.storage_url = app.state.emulator.video.storage_url
        server = uvicorn.Server(server_config(app))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": sockets}, name="vyro-emulator", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                for bound in sockets:
                    bound.close()
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
