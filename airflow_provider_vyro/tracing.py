"""
One OpenTelemetry span per request, where Airflow traces the task that sends it.

Airflow 3.2+ runs each task inside a span (``worker.<task_id>``) when ``[traces] otel_on`` is
set; every request of an operation the hook sends from that task (an image call, a video job's
submit; not a job's status requests nor its result's download), retries included, is then a
``vyro.request`` span under it, also from the batch runner's threads (they run in a copy of the
task's context, see :mod:`airflow_provider_vyro.pool`). Attributes:

* ``vyro.operation``: the catalogue's operation name;
* ``vyro.attempt``: the attempt's number, from 1; ``vyro.retry``: whether it repeats a failed one;
* ``vyro.outcome``: as the ``outcome`` tag of ``vyro.requests`` (:func:`.metrics.outcome_of`);
* ``http.response.status_code``: the status answered, absent when none came.

Low-cardinality on purpose: never a path, a URL, a prompt or a token.

Nothing is imported and no span is made unless OpenTelemetry is already loaded (Airflow loads it
when it traces) and the current span records: a task that is not traced, an Airflow without
tracing, or one without OpenTelemetry pays a dictionary look-up per request.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any

SPAN_NAME = "vyro.request"
"""The name of each request's span."""

_log = logging.getLogger(__name__)


@functools.cache
def _tracer() -> Any:
    from opentelemetry import trace

    from airflow_provider_vyro import __version__

    return trace.get_tracer("airflow_provider_vyro", __version__)


def start(operation: str, attempt: int) -> Any | None:
    """
    Start the span of one request, if the task sending it is traced.

    :param operation: the catalogue's operation name.
    :param attempt: the attempt's number, from 1.
    :return: the span (pass it to :func:`finish`), or ``None`` when nothing is traced.
    """
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    try:
        if not trace.get_current_span().is_recording():
            return None
        attributes = {"vyro.operation": operation, "vyro.attempt": attempt, "vyro.retry": attempt > 1}
        return _tracer().start_span(SPAN_NAME, attributes=attributes)
    except Exception:  # tracing never fails a task
        _log.debug("Could not start the span of a request", exc_info=True)
        return None


def finish(span: Any | None, status: int | None, outcome: str) -> None:
    """
    End the span of one request with what came back.

    :param span: what :func:`start` gave.
    :param status: the HTTP status, or ``None`` when no answer came.
    :param outcome: the request's outcome (:func:`.metrics.outcome_of`).
    """
    if span is None:
        return
    try:
        span.set_attribute("vyro.outcome", outcome)
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if outcome != "ok":
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, outcome))
    except Exception:
        _log.debug("Could not describe the span of a request", exc_info=True)
    finally:
        try:
            span.end()
        except Exception:
            _log.debug("Could not end the span of a request", exc_info=True)


__all__ = ["SPAN_NAME", "finish", "start"]
