"""
A minimal Imagine API stand-in for the benchmarks: every POST gets one fixed, pre-encoded PNG.

The emulator spends milliseconds of CPU on each answer (it parses the form, checks the images
and paints a result), which hides what a client costs. This server does next to nothing: the
standard library's ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive and ``TCP_NODELAY``,
which reads and discards the request body, checks only that the token came in a ``bearer`` (v1)
or ``Authorization: Bearer`` (v2) header, optionally waits a fixed latency, and writes the same
bytes every time. So the figures measured against it are the client's.

Run it in its own process, so that its CPU does not compete with the client for the GIL:
:class:`FastServerProcess` does that, and ``python -m benchmarks.fast_server`` is the process.
``GET /__stats`` gives the requests answered, the most in flight at once, and the wall-clock time
(``time.time()``) of the first and last request; ``POST /__reset`` zeroes them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from types import TracebackType

_DISCARD = 64 * 1024
_READY = "fast-server listening on "


class _Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.first: float | None = None
        self.last: float | None = None

    def enter(self) -> None:
        with self.lock:
            now = time.time()
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.first = now if self.first is None else self.first
            self.last = now

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def as_json(self) -> bytes:
        with self.lock:
            return json.dumps(
                {
                    "requests": self.requests,
                    "max_in_flight": self.max_in_flight,
                    "first": self.first,
                    "last": self.last,
                }
            ).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    token: ClassVar[str] = ""
    answer: ClassVar[bytes] = b""
    latency: ClassVar[float] = 0.0
    stats: ClassVar[_Stats]

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _discard_body(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline().split(b";")[0], 16):
                self.rfile.read(size + 2)
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            read = len(self.rfile.read(min(left, _DISCARD)))
            if not read:
                break
            left -= read

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        if self.path.startswith("/v2/"):
            return self.headers.get("Authorization") == f"Bearer {self.token}"
        return self.headers.get("bearer") == self.token

    def do_GET(self) -> None:
        if self.path == "/__stats":
            self._reply(200, self.stats.as_json(), "application/json")
        else:
            self._reply(404, b'{"detail": "not found"}', "application/json")

    def do_POST(self) -> None:
        self._discard_body()
        if self.path == "/__reset":
            self.stats.reset()
            self._reply(200, b"{}", "application/json")
            return
        if not self._authorised():
            self._reply(401, b'{"message": "token missing or wrong"}', "application/json")
            return
        self.stats.enter()
        try:
            if self.latency:
                time.sleep(self.latency)
            self._reply(200, self.answer, "image/png")
        finally:
            self.stats.leave()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def serve(token: str, answer: bytes, *, latency: float = 0.0, port: int = 0) -> _Server:
    """
    Make the server (bound to 127.0.0.1, not yet serving); call ``serve_forever`` on it.

    :param token: the API token the server accepts.
    :param answer: the bytes every POST gets.
    :param latency: seconds to wait before each answer.
    :param port: the port, 0 for any free one.
    """
    handler = type(
        "Handler", (_Handler,), {"token": token, "answer": answer, "latency": latency, "stats": _Stats()}
    )
    return _Server(("127.0.0.1", port), handler)


class FastServerProcess:
    """
    The fast server in a child process; a context manager.

    :param token: the API token the server accepts.
    :param answer_size: width and height of the PNG it answers (the benchmarks' scene).
    :param latency: seconds to wait before each answer.
    """

    def __init__(
        self, token: str, *, answer_size: tuple[int, int] = (256, 256), latency: float = 0.0
    ) -> None:
        self.token = token
        self.answer_size = answer_size
        self.latency = latency
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> FastServerProcess:
        width, height = self.answer_size
        command = [sys.executable, "-m", "benchmarks.fast_server", "--token", self.token]
        command += ["--answer-size", f"{width}x{height}", "--latency", str(self.latency)]
        from benchmarks._support import REPO

        self._process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith(_READY):
            self.__exit__(None, None, None)
            raise RuntimeError(f"the fast server did not start: {line!r}")
        self.url = line[len(_READY) :].strip()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None

    def connection_json(self, **extra: Any) -> str:
        """The ``vyro_default`` connection to this server, as ``AIRFLOW_CONN_*`` JSON."""
        return json.dumps({"conn_type": "vyro", "host": self.url, "password": self.token, "extra": extra})

    def stats(self) -> dict[str, Any]:
        """Requests answered, most in flight, first and last request's ``time.time()``."""
        import urllib.request

        with urllib.request.urlopen(self.url + "/__stats", timeout=10) as answer:
            stats: dict[str, Any] = json.loads(answer.read())
        return stats

    def reset(self) -> None:
        """Zero the stats."""
        import urllib.request

        request = urllib.request.Request(self.url + "/__reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


def main(argv: list[str] | None = None) -> int:
    """Serve until killed; print ``fast-server listening on URL`` once ready."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fast_server", description=__doc__.split("\n")[1]
    )
    parser.add_argument("--token", required=True)
    parser.add_argument("--answer-size", default="256x256", help="WIDTHxHEIGHT of the PNG answered")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    from devtools.scenes import scene_png

    width, height = (int(side) for side in args.answer_size.lower().split("x"))
    answer, _ = scene_png((width, height), seed=7)
    server = serve(args.token, answer, latency=args.latency, port=args.port)
    host, port = server.server_address[:2]
    print(f"{_READY}http://{host!s}:{port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
