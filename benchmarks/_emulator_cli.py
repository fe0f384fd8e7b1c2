"""
``python -m benchmarks._emulator_cli ARGS``: the ``vyro-emulator`` CLI, with TCP_NODELAY on every connection.

The emulator serves with uvicorn on the plain asyncio loop from a socket it binds itself with
:func:`socket.create_server`, whose protocol number is 0. asyncio only sets ``TCP_NODELAY`` on
accepted connections whose protocol is ``IPPROTO_TCP``, so Nagle's algorithm holds the body
of each answer (uvicorn writes the headers and the body separately) until the client's delayed
ACK, about 40 ms later, on every request of a kept-alive connection. That would swamp every
timing of the benchmarks, so this launcher binds the listening socket with ``IPPROTO_TCP``
(accepted connections inherit it) and otherwise runs the CLI unchanged. It does nothing once
the emulator binds such a socket itself.
"""

from __future__ import annotations

import socket
import sys

import airflow_provider_vyro.emulator.__main__ as cli
from airflow_provider_vyro.emulator.server import bind_socket


def bind_tcp_socket(host: str, port: int) -> socket.socket:
    """Bind like the emulator does, but with ``proto=IPPROTO_TCP`` so asyncio sets TCP_NODELAY."""
    sock = bind_socket(host, port)
    if sock.proto == socket.IPPROTO_TCP:
        return sock
    family, address = sock.family, sock.getsockname()
    sock.close()
    tcp = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if family == socket.AF_INET6:
            tcp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(address[:2] if family == socket.AF_INET else address)
        tcp.listen(1024)
    except OSError:
        tcp.close()
        raise
    return tcp


def main() -> int:
    """Run the emulator CLI with :func:`bind_tcp_socket`."""
    cli.bind_socket = bind_tcp_socket  # type: ignore[attr-defined]
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
