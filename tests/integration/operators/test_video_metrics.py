"""What a video task counts in the metrics: one item, written, kept or failed, and its submit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_vyro import metrics
from airflow_provider_vyro.emulator import EmulatorServer
from airflow_provider_vyro.exceptions import VyroJobFailedError, VyroJobTimeoutError
from tests.integration.operators.test_video import context, run_trigger, submits, waves


class Recorder:
    """Stands in for Airflow's ``Stats``: keeps every counter it is given, with its tags."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def incr(self, name: str, count: float = 1, *, tags: dict[str, str]) -> None:
        key = (name, tuple(sorted(tags.items())))
        self.counts[key] = self.counts.get(key, 0) + count

    def timing(self, name: str, value: float, *, tags: dict[str, str]) -> None:
        pass

    def outcomes(self, metric: str) -> dict[str, float]:
        return {dict(tags)["outcome"]: n for (name, tags), n in self.counts.items() if name == metric}

    def items(self) -> dict[str, float]:
        return self.outcomes("vyro.items")

    def requests(self) -> dict[str, float]:
        return self.outcomes("vyro.requests")


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(metrics, "stats", lambda: recorder)
    return recorder


@pytest.fixture
def fast_video(vyro_conn: EmulatorServer) -> EmulatorServer:
    vyro_conn.set_video(duration=1.5)
    return vyro_conn


def test_a_failed_job_counts_its_item_failed(
    fast_video: EmulatorServer, recorded: Recorder, tmp_path: Path
) -> None:
    fast_video.set_video(fail_next=1)
    with pytest.raises(VyroJobFailedError):
        waves(tmp_path).execute(context())
    assert recorded.items() == {"failed": 1}
    assert recorded.requests() == {"ok": 1}, "the submit; status requests are not counted"


def test_a_job_that_outlasts_its_timeout_counts_its_item_failed(
    fast_video: EmulatorServer, recorded: Recorder, tmp_path: Path
) -> None:
    fast_video.set_video(duration=30)
    with pytest.raises(VyroJobTimeoutError):
        waves(tmp_path, job_timeout=1.5).execute(context())
    assert recorded.items() == {"failed": 1}


def test_a_kept_output_counts_its_item_kept_and_sends_nothing(
    fast_video: EmulatorServer, recorded: Recorder, tmp_path: Path
) -> None:
    waves(tmp_path).execute(context())
    assert recorded.items() == {"written": 1}
    waves(tmp_path, overwrite=False).execute(context(task_id="again"))
    assert recorded.items() == {"written": 1, "kept": 1}
    assert submits(fast_video) == 1


def test_a_deferred_task_counts_its_item_once(
    fast_video: EmulatorServer, recorded: Recorder, tmp_path: Path
) -> None:
    with pytest.raises(TaskDeferred) as deferred:
        waves(tmp_path, deferrable=True).execute(context())
    assert recorded.items() == {}, "a deferral ends nothing"
    (event,) = run_trigger(deferred.value.trigger)
    result: Any = waves(tmp_path, deferrable=True).execute_complete(context(), event)
    assert result["operation"] == "text_to_video"
    assert recorded.items() == {"written": 1}
    assert recorded.requests() == {"ok": 1}
