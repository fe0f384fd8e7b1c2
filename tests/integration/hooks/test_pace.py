"""The hook's pace against the emulator's ``quota`` knob: no 429 where the answers show the allowance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator
from tests.conftest import conn_json
from tests.integration.test_batch import make_items


def run_batch(items: list[dict[str, Any]], **kwargs: Any) -> Any:
    return InpaintBatchOperator(task_id="batch", items=items, progress_interval=0.2, **kwargs).execute(
        context={}
    )


def test_a_batch_past_the_quota_at_full_speed_gets_no_429_and_writes_every_item(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url, max_retries=0))
    emulator.set_faults(quota={"limit": 4, "window": 1})
    results = run_batch(make_items(tmp_path, 10), max_concurrency=8)
    assert [r["skipped"] for r in results] == [False] * 10
    stats = emulator.stats()
    assert stats["faults"].get("quota", 0) == 0, stats
    assert stats["requests"] == 10


def test_requests_per_minute_caps_the_pace(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url, requests_per_minute=600))
    results = run_batch(make_items(tmp_path, 4), max_concurrency=4)
    assert len(results) == 4


@pytest.mark.parametrize("value", [0, -5, "fast"])
def test_requests_per_minute_must_be_a_positive_number(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: Any
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url, requests_per_minute=value))
    with pytest.raises(VyroInputError, match="requests_per_minute"):
        run_batch(make_items(tmp_path, 2))
    assert emulator.stats()["requests"] == 0
