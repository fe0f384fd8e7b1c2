"""
The fault matrix behind the README's "What happens when…" table.

Each row runs InpaintOperator against the emulator with one scripted fault and asserts the exact
outcome: requests made (from the emulator's stats), the error raised (or success), a time bound
showing the backoff is respected yet bounded, and that no output exists after a failure.
The connection allows 3 retries with ``backoff_factor`` 0.1 s (waits of 0.1-0.2, 0.2-0.3,
0.4-0.5 s) and a read timeout of 0.5 s.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.exceptions import (
    VyroAuthenticationError,
    VyroBadRequestError,
    VyroConnectionError,
    VyroError,
    VyroInsufficientCreditsError,
    VyroRateLimitError,
    VyroResponseError,
    VyroServerError,
    VyroUnexpectedResponseError,
)
from airflow_provider_vyro.operators.inpaint import InpaintOperator
from tests.conftest import conn_json, make_scene

BACKOFF = 0.1
TIMEOUT = 0.5
SLOW = {"sleep": 2}


@dataclass(frozen=True)
class Row:
    """One fault: what the emulator does, and what must happen."""

    script: list[Any]
    requests: int
    error: type[VyroError] | None
    min_seconds: float = 0.0
    max_seconds: float = 3.0


MATRIX: dict[str, Row] = {
    "dropped connection, then OK": Row(["drop"], 2, None, 0.1),
    "dropped connection every time": Row(["drop"] * 4, 4, VyroConnectionError, 0.7),
    "truncated PNG, then OK": Row(["truncate"], 2, None, 0.1),
    "truncated PNG every time": Row(["truncate"] * 4, 4, VyroResponseError, 0.7),
    "read timeout, then OK": Row([SLOW], 2, None, TIMEOUT + 0.1),
    "read timeout every time": Row([SLOW] * 4, 4, VyroConnectionError, 4 * TIMEOUT + 0.7, 6.0),
    "429 with Retry-After 1, then OK": Row([{"status": 429, "retry_after": 1}], 2, None, 1.0),
    "429 without Retry-After, then OK": Row([429], 2, None, 0.1),
    "429 every time": Row([429] * 4, 4, VyroRateLimitError, 0.7),
    "500, 502, then OK": Row([500, 502], 3, None, 0.3),
    "503, 504, 500, then OK (as long as max_retries)": Row([503, 504, 500], 4, None, 0.7),
    "5xx longer than max_retries": Row([500, 502, 503, 504, 500], 4, VyroServerError, 0.7),
    "400": Row([400], 1, VyroBadRequestError),
    "401": Row([401], 1, VyroAuthenticationError),
    "403": Row([403], 1, VyroAuthenticationError),
    "422": Row([422], 1, VyroBadRequestError),
    "424": Row([424], 1, VyroInsufficientCreditsError),
    "400 with code 1000 (token not received)": Row(
        [{"status": 400, "code": 1000}], 1, VyroAuthenticationError
    ),
    "404 (a wrong host or path)": Row([404], 1, VyroBadRequestError),
    "405 (an endpoint that takes no POST)": Row([405], 1, VyroBadRequestError),
    "408, then OK": Row([408], 2, None, 0.1),
    "501 (a status the API does not document)": Row([501], 1, VyroUnexpectedResponseError),
    "a redirect (never followed)": Row([{"redirect": 307}], 1, VyroUnexpectedResponseError),
    "200 with JSON instead of PNG, then OK": Row(["json200"], 2, None, 0.1),
    "200 with HTML instead of PNG every time": Row(["html200"] * 4, 4, VyroResponseError, 0.7),
}


@pytest.fixture
def matrix_conn(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    monkeypatch.setenv(
        "AIRFLOW_CONN_VYRO_DEFAULT",
        conn_json(emulator.url, backoff_factor=BACKOFF, timeout=TIMEOUT, max_retries=3),
    )
    return emulator


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Any]:
    image, mask = make_scene()
    (tmp_path / "in.png").write_bytes(image)
    (tmp_path / "mask.png").write_bytes(mask)
    (tmp_path / "out").mkdir()
    return {
        "image_path": str(tmp_path / "in.png"),
        "mask_path": str(tmp_path / "mask.png"),
        "output_path": str(tmp_path / "out" / "result.png"),
        "prompt": "sand",
    }


@pytest.mark.parametrize("name", MATRIX, ids=list(MATRIX))
def test_fault(matrix_conn: EmulatorServer, inputs: dict[str, Any], name: str) -> None:
    row = MATRIX[name]
    matrix_conn.set_faults(script=row.script)
    operator = InpaintOperator(task_id="inpaint", **inputs)
    started = time.monotonic()
    if row.error is None:
        result = operator.execute(context={})
        assert Path(result["output_path"]).stat().st_size == result["bytes"]
    else:
        with pytest.raises(row.error):
            operator.execute(context={})
    elapsed = time.monotonic() - started
    if row.error is not None:
        assert issubclass(row.error, AirflowFailException) == (row.requests == 1), (
            "task retries iff hook retries"
        )

    assert matrix_conn.stats()["requests"] == row.requests
    assert row.min_seconds <= elapsed < row.max_seconds, f"{elapsed:.2f} s"
    written = sorted(p.name for p in Path(inputs["output_path"]).parent.iterdir())
    assert written == ([] if row.error else ["result.png"])


def test_connection_refused(monkeypatch: pytest.MonkeyPatch, inputs: dict[str, Any]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_VYRO_DEFAULT", conn_json(f"http://127.0.0.1:{port}", backoff_factor=BACKOFF)
    )
    started = time.monotonic()
    with pytest.raises(VyroConnectionError):
        InpaintOperator(task_id="inpaint", **inputs).execute(context={})
    assert 0.7 <= time.monotonic() - started < 3.0, "three backoffs, then give up"
    assert list(Path(inputs["output_path"]).parent.iterdir()) == []
