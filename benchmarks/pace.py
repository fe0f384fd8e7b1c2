"""
What the hook's pacing costs a call when answers carry no ``x-ratelimit-*`` headers.

Each call of the hook passes its rate gate twice: :meth:`~airflow_provider_vyro.hooks.retries.RateGate.admit`
before the request and :meth:`~airflow_provider_vyro.hooks.retries.RateGate.done` after the answer.
This times that pair from 8 threads at once (after a first answer without headers, so the pace is
free), and a bare ``requests`` call to the fast server; the figure is
(bare call + gate) / bare call: 1.00x is "costs nothing per call".
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from benchmarks._support import TOKEN, Figure
from benchmarks.fast_server import FastServerProcess

if TYPE_CHECKING:
    from pathlib import Path

THREADS = 8
CYCLES = 20_000
CALLS = 300
TARGET = 1.01


def gate_seconds(threads: int = THREADS, cycles: int = CYCLES) -> float:
    """Give the wall time per call of ``admit`` + ``done`` (no rate-limit headers), ``threads`` at once."""
    from airflow_provider_vyro.hooks.retries import RateGate

    gate = RateGate(threading.Event())
    plain = {"content-type": "image/png"}
    gate.admit()
    gate.done(plain)  # the first answer: no allowance shown, so the pace is free

    def work() -> None:
        for _ in range(cycles):
            gate.admit()
            gate.done(plain)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.perf_counter() - started) / (threads * cycles)


def bare_call_seconds(calls: int = CALLS) -> float:
    """Give the best-of-three mean time of a bare ``requests`` POST to the fast server."""
    import requests

    with FastServerProcess(TOKEN) as server:
        session = requests.Session()
        url = server.url + "/v2/image/background/remover"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(calls):
                session.post(url, files={"image": ("a.png", b"x" * 1024, "image/png")}, headers=headers)
            best = min(best, (time.perf_counter() - started) / calls)
        return best


def run(folder: Path) -> list[Figure]:
    """Measure and give the figure (``folder`` is unused: nothing is written)."""
    gate, call = gate_seconds(), bare_call_seconds()
    ratio = (call + gate) / call
    measured = f"{ratio:.3f}x ({gate * 1e6:.1f} µs gate, {call * 1e3:.2f} ms bare call)"
    return [
        Figure("pacing without rate-limit headers, per call", measured, f"≤ {TARGET:.2f}×", ratio <= TARGET)
    ]


__all__ = ["run"]
