"""
The provider's metrics, through the ``Stats`` a task may use: no-op when Airflow's metrics are off.

Names (Airflow adds its ``[metrics] statsd_prefix``, ``airflow.`` by default):

* ``vyro.requests`` (tags ``operation``, ``outcome``): each request of an operation sent (an image
  call, a video job's submit; not a job's status request), retries included;
  ``outcome`` is ``ok``, ``bad_answer``, ``redirect``, ``client_error``, ``rate_limited``,
  ``server_error`` or ``network``;
* ``vyro.request_duration`` (timer, tag ``operation``): seconds from sending to the whole answer;
* ``vyro.retries`` (tag ``operation``): attempts that repeat a failed one;
* ``vyro.credits`` (tag ``operation``): the known cost of the requests a run sent (a video
  task's, when it submits its job);
* ``vyro.items`` (tags ``operation``, ``outcome``: ``written``, ``kept`` or ``failed``; a video
  task is one item).

Tags are low-cardinality on purpose: never a path, a prompt or a token. Where Airflow traces the
task, each request is also a span (:mod:`airflow_provider_vyro.tracing`).
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

from airflow_provider_vyro import tracing

_log = logging.getLogger(__name__)


@functools.cache
def stats() -> Any:
    """Give Airflow's ``Stats``: the Task SDK's (through ``common.compat``), else ``airflow.stats``."""
    try:
        from airflow.providers.common.compat.sdk import Stats
    except ImportError:
        from airflow.stats import Stats
    return Stats


def outcome_of(status: int | None, complete: bool) -> str:
    """
    Name the outcome of one request for the ``outcome`` tag.

    :param status: the HTTP status, or ``None`` when no answer came (a network failure).
    :param complete: the answer was accepted.
    """
    if status is None:
        return "network"
    if status == 200:
        return "ok" if complete else "bad_answer"
    if 300 <= status < 400:
        return "redirect"
    if status == 429:
        return "rate_limited"
    if status == 408 or status >= 500:
        return "server_error"
    return "client_error"


def _emit(kind: str, name: str, value: float, tags: dict[str, str]) -> None:
    try:
        getattr(stats(), kind)(name, value, tags=tags)
    except Exception:  # metrics never fail a task
        _log.debug("Could not send the metric %s", name, exc_info=True)


def request(operation: str, status: int | None, complete: bool, seconds: float) -> None:
    """
    Count one request and time it.

    :param operation: the catalogue's operation name.
    :param status: the HTTP status, or ``None`` on a network failure.
    :param complete: the answer was accepted.
    :param seconds: from sending to the whole answer.
    """
    _emit("incr", "vyro.requests", 1, {"operation": operation, "outcome": outcome_of(status, complete)})
    _emit("timing", "vyro.request_duration", seconds * 1000, {"operation": operation})


class Request:
    """
    One request from sending to the whole answer: timed, counted and, where the task is traced, a span.

    :param operation: the catalogue's operation name.
    :param attempt: the attempt's number, from 1.
    """

    __slots__ = ("operation", "span", "started")

    def __init__(self, operation: str, attempt: int) -> None:
        self.operation = operation
        self.span = tracing.start(operation, attempt)
        self.started = time.monotonic()

    def done(self, status: int | None, complete: bool) -> float:
        """
        Count the request, time it and end its span.

        :param status: the HTTP status, or ``None`` on a network failure.
        :param complete: the answer was accepted.
        :return: the seconds from sending to the whole answer.
        """
        seconds = time.monotonic() - self.started
        request(self.operation, status, complete, seconds)
        tracing.finish(self.span, status, outcome_of(status, complete))
        return seconds


def retry(operation: str) -> None:
    """
    Count one retry.

    :param operation: the catalogue's operation name.
    """
    _emit("incr", "vyro.retries", 1, {"operation": operation})


def run_done(operation: str, credits: float, outcomes: dict[str, int]) -> None:
    """
    Count a run's credits and items.

    :param operation: the catalogue's operation name.
    :param credits: the known cost of the requests it sent.
    :param outcomes: how many items were ``written``, ``kept`` and ``failed``.
    """
    if credits:
        _emit("incr", "vyro.credits", credits, {"operation": operation})
    for outcome, count in outcomes.items():
        if count:
            _emit("incr", "vyro.items", count, {"operation": operation, "outcome": outcome})


__all__ = ["Request", "outcome_of", "request", "retry", "run_done", "stats"]
