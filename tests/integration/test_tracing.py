"""One span per request under the task's span, from the batch runner's threads, against the emulator."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.tracing import SPAN_NAME
from tests.conftest import TOKEN
from tests.integration.operators.test_video import waves
from tests.integration.test_batch import make_items, run_batch


@functools.cache
def _exporter() -> InMemorySpanExporter:
    """Set this process's tracer provider (once), as Airflow does when ``[traces] otel_on``."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = _exporter()
    exporter.clear()
    yield exporter
    exporter.clear()


def requests_of(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == SPAN_NAME]


def texts(span: ReadableSpan) -> list[str]:
    return [span.name, *(f"{key}={value!r}" for key, value in (span.attributes or {}).items())]


def test_each_request_is_a_span_under_the_task_span_from_the_runner_threads(
    vyro_conn: EmulatorServer, spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    items = make_items(tmp_path, 4)
    vyro_conn.set_faults(script=[500])
    with trace.get_tracer("test").start_as_current_span("worker.batch") as task:
        run_batch(items, max_concurrency=3)

    sent = requests_of(spans)
    assert len(sent) == vyro_conn.stats()["requests"] == 5, "4 items, one retried"
    task_context = task.get_span_context()
    assert {span.context.trace_id for span in sent} == {task_context.trace_id}
    assert {span.parent.span_id for span in sent if span.parent} == {task_context.span_id}
    attributes: list[dict[str, Any]] = [dict(span.attributes or {}) for span in sent]
    assert {a["vyro.operation"] for a in attributes} == {"inpaint"}
    assert sorted((a["vyro.outcome"], a.get("http.response.status_code")) for a in attributes) == [
        ("ok", 200),
        ("ok", 200),
        ("ok", 200),
        ("ok", 200),
        ("server_error", 500),
    ]
    retried = [a for a in attributes if a["vyro.retry"]]
    assert [(a["vyro.attempt"], a["vyro.outcome"]) for a in retried] == [(2, "ok")]
    assert sum(1 for a in attributes if a["vyro.attempt"] == 1) == 4
    private = [TOKEN, str(tmp_path), "prompt number", "/v1/", "http://"]
    # Only the provider's spans: FastAPI may trace the emulator's side of the requests in this process.
    assert not [t for span in sent for t in texts(span) if any(p in t for p in private)]


def test_no_span_where_the_task_is_not_traced(
    vyro_conn: EmulatorServer, spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    run_batch(make_items(tmp_path, 2), max_concurrency=2)
    assert vyro_conn.stats()["requests"] == 2
    assert requests_of(spans) == []


def test_a_video_submit_is_a_span_and_its_status_requests_are_not(
    vyro_conn: EmulatorServer, spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    vyro_conn.set_video(duration=1.5)
    with trace.get_tracer("test").start_as_current_span("worker.video"):
        waves(tmp_path).execute(context={})

    assert vyro_conn.video_stats()["polls"] >= 1
    sent = requests_of(spans)
    assert len(sent) == vyro_conn.stats()["requests"] == 1
    assert dict(sent[0].attributes or {}) == {
        "vyro.operation": "text_to_video",
        "vyro.attempt": 1,
        "vyro.retry": False,
        "vyro.outcome": "ok",
        "http.response.status_code": 200,
    }
