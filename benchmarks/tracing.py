"""
What a request's span costs a call where the task is not traced (Airflow's tracing off).

Each request the hook sends calls :func:`airflow_provider_vyro.tracing.start` before it and
:func:`~airflow_provider_vyro.tracing.finish` after the answer. Untraced, that is a look-up for
OpenTelemetry among the loaded modules and, where it is loaded (Airflow 3 loads it), a look at the
current span. This times the pair from 8 threads at once with OpenTelemetry loaded and no span
recording (the state of every task when ``[traces] otel_on`` is off), and a bare ``requests`` call
to the fast server; the figure is (bare call + pair) / bare call: 1.00x is "costs nothing per call".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.pace import per_call_figure, threaded_seconds

if TYPE_CHECKING:
    from pathlib import Path

    from benchmarks._support import Figure

TARGET = 1.005


def untraced_seconds() -> float:
    """Give the wall time per call of ``start`` + ``finish`` with no span recording, 8 threads at once."""
    import opentelemetry.trace  # noqa: F401  (loaded, as in an Airflow 3 task)

    from airflow_provider_vyro import tracing

    return threaded_seconds(lambda: tracing.finish(tracing.start("inpaint", 1), 200, "ok"))


def run(folder: Path) -> list[Figure]:
    """Measure and give the figure (``folder`` is unused: nothing is written)."""
    return [per_call_figure("request span, tracing off, per call", untraced_seconds(), "span check", TARGET)]


__all__ = ["run"]
