"""
Output folders through the operators, against the emulator: one rule.

A missing local folder is created only when an answer is written: never before the call, never
left behind (empty) by a call that fails. A folder that cannot hold the output (a parent that is
a regular file, a folder we may not write) is a ``VyroInputError`` naming ``output_path`` before
any request. The tests run with a task instance in the context, so the run keeps its ledger
beside the output as it does in Airflow.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.exceptions import VyroAuthenticationError, VyroInputError, VyroJobFailedError
from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator, InpaintOperator
from airflow_provider_vyro.operators.video import TextToVideoOperator
from tests.conftest import conn_json, make_scene


def task_context() -> Any:
    return {"ti": SimpleNamespace(dag_id="folders", run_id="manual__1", task_id="t", map_index=-1)}


def files_below(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*"))


@pytest.fixture
def scene(tmp_path: Path) -> tuple[Path, Path]:
    image, mask = make_scene(fmt="PNG")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "photo.png").write_bytes(image)
    (tmp_path / "in" / "mask.png").write_bytes(mask)
    return tmp_path / "in" / "photo.png", tmp_path / "in" / "mask.png"


@pytest.fixture
def wrong_token(vyro_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(vyro_conn.url, token="not-the-token"))
    return vyro_conn


def inpaint(scene: tuple[Path, Path], output: Path) -> InpaintOperator:
    image, mask = scene
    return InpaintOperator(
        task_id="t", image_path=str(image), mask_path=str(mask), prompt="sand", output_path=str(output)
    )


def test_a_missing_folder_is_created_when_the_answer_is_written(
    vyro_conn: EmulatorServer, scene: tuple[Path, Path], tmp_path: Path
) -> None:
    output = tmp_path / "out" / "2026" / "photo.png"
    result = inpaint(scene, output).execute(context=task_context())
    assert result["output_path"] == str(output)
    assert output.is_file()
    below = files_below(tmp_path / "out")
    ledger = [p for p in below if p.name.startswith(".vyro-ledger.")]
    assert len(ledger) == 1, "the ledger outlives a successful try, in the output's own folder"
    assert [p for p in below if p not in ledger] == [tmp_path / "out" / "2026", output], "no temp file left"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]
    assert vyro_conn.stats()["requests"] == 1


def test_a_failed_call_leaves_no_folder_behind(
    wrong_token: EmulatorServer, scene: tuple[Path, Path], tmp_path: Path
) -> None:
    output = tmp_path / "out" / "2026" / "photo.png"
    with pytest.raises(VyroAuthenticationError):
        inpaint(scene, output).execute(context=task_context())
    assert wrong_token.stats()["requests"] == 1
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"], "no temp file or ledger left"


def test_a_failed_batch_leaves_no_folder_behind(
    wrong_token: EmulatorServer, scene: tuple[Path, Path], tmp_path: Path
) -> None:
    image, mask = scene
    items = [
        {"image_path": str(image), "mask_path": str(mask), "output_path": str(tmp_path / f"out{i}" / "a.png")}
        for i in range(3)
    ]
    operator = InpaintBatchOperator(task_id="t", items=items, prompt="sand", max_concurrency=1)
    with pytest.raises(VyroAuthenticationError):
        operator.execute(context=task_context())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


@pytest.mark.parametrize("depth", ["parent", "grandparent"])
def test_a_parent_that_is_a_file_is_refused_before_any_request(
    vyro_conn: EmulatorServer, scene: tuple[Path, Path], tmp_path: Path, depth: str
) -> None:
    (tmp_path / "taken").write_bytes(b"a file, not a folder")
    output = tmp_path / "taken" / "photo.png" if depth == "parent" else tmp_path / "taken" / "sub" / "x.png"
    with pytest.raises(VyroInputError) as caught:
        inpaint(scene, output).execute(context=task_context())
    assert caught.value.field == "output_path"
    assert f"'{tmp_path / 'taken'}' is a file, not a folder" in caught.value.problem
    assert isinstance(caught.value, AirflowFailException), "task retries must not run it again"
    assert vyro_conn.stats()["requests"] == 0
    assert (tmp_path / "taken").read_bytes() == b"a file, not a folder"


def test_a_batch_item_below_a_file_is_refused_before_any_request(
    vyro_conn: EmulatorServer, scene: tuple[Path, Path], tmp_path: Path
) -> None:
    image, mask = scene
    (tmp_path / "taken").write_bytes(b"x")
    items = [
        {"image_path": str(image), "mask_path": str(mask), "output_path": str(tmp_path / "taken" / "a.png")},
        {"image_path": str(image), "mask_path": str(mask), "output_path": str(tmp_path / "ok" / "b.png")},
    ]
    with pytest.raises(VyroInputError) as caught:
        InpaintBatchOperator(task_id="t", items=items, prompt="sand").execute(context=task_context())
    assert "items[0].output_path" in caught.value.problem
    assert vyro_conn.stats()["requests"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "taken"]


def video(output: Path) -> TextToVideoOperator:
    return TextToVideoOperator(
        task_id="t", prompt="waves", output_path=str(output), poll_interval=1, deferrable=False
    )


def test_a_video_below_a_file_is_refused_before_any_request(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    (tmp_path / "taken").write_bytes(b"x")
    with pytest.raises(VyroInputError) as caught:
        video(tmp_path / "taken" / "clip.mp4").execute(context=task_context())
    assert caught.value.field == "output_path"
    assert "is a file, not a folder" in caught.value.problem
    assert vyro_conn.stats()["requests"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_a_failed_video_job_leaves_no_folder_behind(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    vyro_conn.set_video(duration=1.5, fail_next=1)
    with pytest.raises(VyroJobFailedError):
        video(tmp_path / "clips" / "2026" / "clip.mp4").execute(context=task_context())
    assert list(tmp_path.iterdir()) == [], "the job record's folders went with it"


def test_a_video_into_a_missing_folder_is_written(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    vyro_conn.set_video(duration=1.5)
    output = tmp_path / "clips" / "2026" / "clip.mp4"
    result = video(output).execute(context=task_context())
    assert result["output_path"] == str(output)
    names = sorted(p.name for p in output.parent.iterdir())
    assert names[1:] == ["clip.mp4"], "no temporary file left"
    assert names[0].startswith(".vyro-job."), "the job record stays, noting what was written"
