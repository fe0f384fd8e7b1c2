"""
The run's traces: Airflow's services export OpenTelemetry spans over OTLP/HTTP to a receiver here.

Every service gets ``[traces] otel_on`` and the standard ``OTEL_*`` variables pointing at
:class:`SpanReceiver`, a loopback HTTP server in the driver that decodes each export
(``opentelemetry-proto``, which Airflow brings) and keeps the spans. :func:`check_request_spans`
then checks a finished case: one ``vyro.request`` span per request the emulator saw, each under a
task span (``worker.<task_id>``) of that DAG run, in the same trace, with only the provider's
low-cardinality attributes.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from e2e.stack import ServiceError, wait_until

REQUEST_SPAN = "vyro.request"
REQUEST_ATTRIBUTES = {
    "vyro.operation",
    "vyro.attempt",
    "vyro.retry",
    "vyro.outcome",
    "http.response.status_code",
}
"""Every attribute a request's span may carry (the status only when an answer came)."""


@dataclass(frozen=True)
class Span:
    """One exported span, as much of it as the checks read."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    attributes: dict[str, Any]


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return None if kind is None else getattr(any_value, kind)


def decode(body: bytes) -> list[Span]:
    """Decode one OTLP/HTTP protobuf export into its spans."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return [
        Span(
            span.trace_id.hex(),
            span.span_id.hex(),
            span.parent_span_id.hex(),
            span.name,
            {kv.key: _value(kv.value) for kv in span.attributes},
        )
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


class SpanReceiver:
    """An OTLP/HTTP trace receiver on loopback that keeps every span exported to it."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                spans = decode(body) if self.path == "/v1/traces" else []
                with receiver._lock:
                    receiver.spans.extend(spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Say nothing per export."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)
        self._thread.start()

    @property
    def env(self) -> dict[str, str]:
        """The environment that turns Airflow's tracing on and exports here."""
        port = self._server.server_address[1]
        return {
            "AIRFLOW__TRACES__OTEL_ON": "True",
            "OTEL_TRACES_EXPORTER": "otlp_proto_http",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{port}/v1/traces",
            "OTEL_SERVICE_NAME": "airflow-e2e",
        }

    def snapshot(self) -> list[Span]:
        """Give the spans received so far."""
        with self._lock:
            return list(self.spans)

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def request_spans_of_run(spans: list[Span], run_id: str) -> tuple[list[Span], list[Span]]:
    """
    Give the ``vyro.request`` spans of a DAG run's traces: those under one of its task spans, and the rest.

    :param spans: every span received.
    :param run_id: the DAG run.
    """
    by_id = {span.span_id: span for span in spans}
    tasks = {
        span.span_id
        for span in spans
        if span.name.startswith("worker.") and span.attributes.get("airflow.dag_run.run_id") == run_id
    }
    traces = {by_id[task].trace_id for task in tasks}
    nested: list[Span] = []
    stray: list[Span] = []
    for span in spans:
        if span.name != REQUEST_SPAN or span.trace_id not in traces:
            continue
        ancestor = by_id.get(span.parent_id)
        while ancestor is not None and ancestor.span_id not in tasks:
            ancestor = by_id.get(ancestor.parent_id)
        (nested if ancestor is not None else stray).append(span)
    return nested, stray


def texts(span: Span) -> list[str]:
    """Give a span's name, and each attribute as ``key=value``."""
    return [span.name, *(f"{key}={value}" for key, value in span.attributes.items())]


def check_request_spans(
    receiver: SpanReceiver, run_id: str, calls: int, token: str, private: list[str], *, killed: bool = False
) -> str:
    """
    Check a finished run's request spans against the emulator's count; say what was checked.

    :param receiver: where the services exported their spans.
    :param run_id: the DAG run.
    :param calls: the requests the emulator saw from this run.
    :param token: the API token, in no span at all.
    :param private: text no request span may hold (the run's folders, the URLs' paths).
    :param killed: a task process of the run was killed: the spans it had not exported are lost,
        so there may be fewer than ``calls``.
    :raises AssertionError: naming what is wrong.
    """

    def complete() -> bool:
        return len(request_spans_of_run(receiver.snapshot(), run_id)[0]) >= calls

    if calls and not killed:
        with contextlib.suppress(ServiceError):
            wait_until("the request spans", complete, 15)
    spans = receiver.snapshot()
    nested, stray = request_spans_of_run(spans, run_id)
    if (len(nested) > calls if killed else len(nested) != calls) or stray:
        raise AssertionError(
            f"{len(nested)} {REQUEST_SPAN} span(s) under the run's task spans ({len(stray)} not under one), "
            f"for {calls} request(s)"
        )
    needed = {"vyro.operation", "vyro.attempt", "vyro.outcome"}
    odd = [s.attributes for s in nested if not needed <= set(s.attributes)]
    extra = {key for s in nested for key in s.attributes} - REQUEST_ATTRIBUTES
    if odd or extra:
        raise AssertionError(f"request spans lack attributes ({odd[:2]}) or carry others ({sorted(extra)})")
    leaked = [s.name for s in spans if any(token in text for text in texts(s))]
    leaked += [s.name for s in nested if any(p in text for p in private for text in texts(s))]
    if leaked:
        raise AssertionError(f"spans hold private text: {leaked[:5]}")
    operations = sorted({str(s.attributes["vyro.operation"]) for s in nested})
    return f"traces: {len(nested)} {REQUEST_SPAN} span(s) under its task spans ({', '.join(operations)})"


__all__ = [
    "REQUEST_SPAN",
    "Span",
    "SpanReceiver",
    "check_request_spans",
    "decode",
    "request_spans_of_run",
    "texts",
]
