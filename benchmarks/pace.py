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
    from collections.abc import Callable
    from pathlib import Path

THREADS = 8
CYCLES = 20_000
CALLS = 300
TARGET = 1.01


def threaded_seconds(step: Callable[[], None], threads: int = THREADS, cycles: int = CYCLES) -> float:
    """Give the wall time per ``step``, called ``cycles`` times by each of ``threads`` threads at once."""

    def work() -> None:
        for _ in range(cycles):
            step()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.perf_counter() - started) / (threads * cycles)


def gate_seconds(threads: int = THREADS, cycles: int = CYCLES) -> float:
    """Give the wall time per call of ``admit`` + ``done`` (no rate-limit headers), ``threads`` at once."""
    from airflow_provider_vyro.hooks.retries import RateGate

    gate = RateGate(threading.Event())
    plain = {"content-type": "image/png"}
    gate.admit()
    gate.done(plain)  # the first answer: no allowance shown, so the pace is free

    def step() -> None:
        gate.admit()
        gate.done(plain)

    return threaded_seconds(step, threads, cycles)


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


def per_call_figure(label: str, seconds: float, what: str, target: float) -> Figure:
    """
    Give the figure (bare call + ``seconds``) / bare call: 1.00x is "costs nothing per call".

    :param label: the figure's name.
    :param seconds: what the measured step costs a call.
    :param what: the step's name in the measured column.
    :param target: the highest ratio that meets the target.
    """
    call = bare_call_seconds()
    ratio = (call + seconds) / call
    measured = f"{ratio:.4f}x ({seconds * 1e6:.2f} µs {what}, {call * 1e3:.2f} ms bare call)"
    return Figure(label, measured, f"≤ {target:.3f}×", ratio <= target)


def run(folder: Path) -> list[Figure]:
    """Measure and give the figure (``folder`` is unused: nothing is written)."""
    return [per_call_figure("pacing without rate-limit headers, per call", gate_seconds(), "gate", TARGET)]


__all__ = ["run"]
