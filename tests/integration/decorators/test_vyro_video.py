"""``@task.vyro`` for the video operations: one job per task, deferred or polled in the worker."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import DAG, TaskDeferred, task

from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.triggers.vyro import VyroJobTrigger
from tests.conftest import conn_json

FRAME = Path(__file__).resolve().parents[3] / "dags" / "examples" / "data" / "product_lamp.jpg"


@pytest.fixture
def vyro_conn(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """``vyro_default`` pointing at the emulator; video jobs of one second."""
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url))
    emulator.set_video(duration=1)
    return emulator


def build(returned: Any, **decorator_kwargs: Any) -> Any:
    """The operator ``@task.vyro(**decorator_kwargs)`` makes of a function returning ``returned``."""
    with DAG("taskflow_video", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        task.vyro(task_id="video", **decorator_kwargs)(lambda: returned)()
    return dag.get_task("video")


def context() -> Any:
    ti = SimpleNamespace(dag_id="taskflow_video", run_id="r", task_id="video", map_index=-1, try_number=1)
    return {"params": {}, "ti": ti}


def test_image_to_video_from_a_dict_polled_in_the_worker(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    returned = {
        "image_path": str(FRAME),
        "prompt": "the lamp switches on",
        "output_path": str(tmp_path / "l.mp4"),
    }
    result = build(returned, operation="image_to_video", deferrable=False, poll_interval=1).execute(context())
    assert result["operation"] == "image_to_video"
    assert result["format"] == "MP4"
    assert result["image_path"] == str(FRAME)
    assert (tmp_path / "l.mp4").stat().st_size == result["bytes"]
    assert vyro_conn.video_stats()["submits"] == {"image_to_video": 1}


def test_text_to_video_deferred_resumes_on_a_new_operator(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    returned = {"prompt": "waves at dusk", "output_path": str(tmp_path / "w.mp4")}
    with pytest.raises(TaskDeferred) as deferred:
        build(returned, operation="text_to_video", deferrable=True, poll_interval=1).execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, VyroJobTrigger)

    async def events() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    (event,) = asyncio.run(events())
    resumed = build(returned, operation="text_to_video", deferrable=True, poll_interval=1)
    result = resumed.execute_complete(context(), event)
    assert result["job_id"] == event["job_id"]
    assert result["attempts"] == 1
    assert (tmp_path / "w.mp4").stat().st_size == result["bytes"]
    assert vyro_conn.video_stats()["submits"] == {"text_to_video": 1}


def test_a_list_for_a_video_operation_is_refused_before_any_request(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    returned = [{"prompt": "a", "output_path": str(tmp_path / "a.mp4")}]
    with pytest.raises(VyroInputError) as caught:
        build(returned, operation="text_to_video").execute(context())
    assert caught.value.field == "return_value"
    assert "map the task" in caught.value.problem
    assert vyro_conn.stats()["requests"] == 0


def test_a_key_text_to_video_does_not_take_is_refused(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    returned = {"prompt": "a", "seed": 3, "output_path": str(tmp_path / "a.mp4")}
    with pytest.raises(VyroInputError) as caught:
        build(returned, operation="text_to_video", deferrable=False).execute(context())
    assert caught.value.field == "item"
    assert vyro_conn.stats()["requests"] == 0
