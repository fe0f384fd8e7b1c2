"""``vyro-emulator``: serve the emulator until SIGTERM or SIGINT.

Once it accepts requests it prints one line, ``vyro-emulator listening on http://HOST:PORT``
(with the real port when ``--port 0``), so that scripts can wait for it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

import uvicorn

from airflow_provider_vyro.emulator.app import create_app
from airflow_provider_vyro.emulator.faults import FaultConfig
from airflow_provider_vyro.emulator.server import bind_socket, bind_storage, server_config, url_of
from airflow_provider_vyro.emulator.video import STORAGE_HOST

if TYPE_CHECKING:
    import socket
    from collections.abc import Iterator, Sequence

TOKEN_ENV = "VYRO_EMULATOR_TOKEN"


class _CliServer(uvicorn.Server):
    """uvicorn's server, announcing itself once started and exiting 0 on SIGTERM/SIGINT.

    uvicorn re-raises a caught signal after its graceful shutdown, which would end the
    process with -SIGTERM; this server only shuts down.
    """

    def __init__(self, config: uvicorn.Config, announcement: str) -> None:
        super().__init__(config)
        self._announcement = announcement

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(self._announcement, flush=True)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def fault_item(text: str) -> Any:
    """Parse one fault from the command line: ``500``, ``drop``, ``429:1.5`` (Retry-After), ``sleep:5``."""
    text = text.strip()
    name, sep, value = text.partition(":")
    if sep and name == "sleep":
        return {"sleep": float(value)}
    if sep:
        return {"status": int(name), "retry_after": float(value)}
    return int(text) if text.isdigit() else text


def fault_list(text: str) -> list[Any]:
    """Parse a comma-separated list of :func:`fault_item` (or a JSON list)."""
    if text.lstrip().startswith("["):
        items = json.loads(text)
        if not isinstance(items, list):
            raise argparse.ArgumentTypeError("expected a JSON list")
        return items
    return [fault_item(item) for item in text.split(",") if item.strip()]


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line interface."""
    parser = argparse.ArgumentParser(
        prog="vyro-emulator",
        description="Serve a local emulator of Vyro's Imagine API (v1 inpaint and the v2 image endpoints).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8765, help="port; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument("--token", default=None, help=f"the accepted API token (default: ${TOKEN_ENV})")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added before every answer")
    parser.add_argument(
        "--answer-format",
        default="PNG",
        help="image format of successful answers: PNG (default), JPEG or WEBP",
    )
    parser.add_argument(
        "--script",
        type=fault_list,
        default=[],
        help="faults for the next requests, in order, e.g. 500,503,drop,truncate,429:1.5,sleep:5,ok",
    )
    parser.add_argument(
        "--random-rate", type=float, default=0.0, help="probability of a random fault per request"
    )
    parser.add_argument(
        "--random-kinds", type=fault_list, default=["drop", 500, 429, "truncate"], help="faults to pick from"
    )
    parser.add_argument("--random-seed", type=int, default=None, help="seed of the random faults")
    parser.add_argument("--retry-after", type=float, default=None, help="Retry-After seconds sent with a 429")
    parser.add_argument(
        "--storage-host",
        default=STORAGE_HOST,
        help="loopback address of the storage host serving video results (default: %(default)s)",
    )
    parser.add_argument("--video-duration", type=float, default=None, help="seconds a video job runs")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level (default: %(default)s)")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGTERM or SIGINT; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        parser.error(f"a token is required: --token or ${TOKEN_ENV}")
    knobs: dict[str, Any] = {
        "latency": args.latency,
        "script": args.script,
        "retry_after": args.retry_after,
        "answer_format": args.answer_format,
    }
    if args.random_rate > 0:
        knobs["random_faults"] = {
            "rate": args.random_rate,
            "kinds": args.random_kinds,
            "seed": args.random_seed,
        }
    try:
        faults = FaultConfig.from_dict(knobs)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        parser.error(f"cannot listen on {args.host}:{args.port}: {exc}")
    app = create_app(token, faults)
    if args.video_duration is not None:
        app.state.emulator.video.configure({"duration": args.video_duration})
    sockets = bind_storage(app, sock, args.storage_host)
    config = server_config(app, log_level=args.log_level, access_log=args.access_log)
    server = _CliServer(config, f"vyro-emulator listening on {url_of(sock)}")
    server.run(sockets=sockets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
