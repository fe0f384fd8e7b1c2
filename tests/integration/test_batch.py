"""InpaintBatchOperator against the emulator: concurrency, up-front checks, partial failure, 429s."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.exceptions import VyroBadRequestError, VyroBatchError, VyroInputError
from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator
from devtools.airflow_runner import AirflowSandbox
from tests.conftest import conn_json, make_scene


def make_items(folder: Path, count: int) -> list[dict[str, Any]]:
    folder.mkdir(parents=True, exist_ok=True)
    image, mask = make_scene(size=(64, 48), fmt="PNG")
    (folder / "mask.png").write_bytes(mask)
    items = []
    for index in range(count):
        (folder / f"img{index}.png").write_bytes(image)
        items.append(
            {
                "image_path": str(folder / f"img{index}.png"),
                "mask_path": str(folder / "mask.png"),
                "output_path": str(folder / "out" / f"img{index}.png"),
                "prompt": f"prompt number {index}",
            }
        )
    return items


def run_batch(items: list[dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:
    operator = InpaintBatchOperator(task_id="batch", items=items, progress_interval=0.2, **kwargs)
    results = operator.execute(context={})
    assert isinstance(results, list)
    return [dict(result) for result in results]


def outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "out").glob("*")) if (folder / "out").exists() else []


def test_runs_items_concurrently_and_returns_dicts_in_input_order(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    items = make_items(tmp_path, 12)
    vyro_conn.set_faults(latency=0.1)
    results = run_batch(items, max_concurrency=4)

    assert [r["image_path"] for r in results] == [i["image_path"] for i in items]
    assert [r["prompt"] for r in results] == [i["prompt"] for i in items]
    for result in results:
        data = Path(result["output_path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == result["sha256"]
        with Image.open(result["output_path"]) as png:
            assert png.size == (64, 48)
    stats = vyro_conn.stats()
    assert stats["requests"] == 12
    assert 2 <= stats["max_in_flight"] <= 4, "calls overlap, never beyond max_concurrency"


def test_operator_level_prompt_and_model_version_are_defaults(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    items = make_items(tmp_path, 2)
    del items[1]["prompt"]
    results = run_batch(items, prompt="the default prompt", model_version="1")
    assert [r["prompt"] for r in results] == ["prompt number 0", "the default prompt"]


def test_bad_items_fail_up_front_naming_each_and_spend_nothing(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    items = make_items(tmp_path, 5)
    items[0]["mask_path"] = str(tmp_path / "missing_mask.png")
    items[3]["image_path"] = str(tmp_path / "missing.png")
    with pytest.raises(VyroInputError) as caught:
        run_batch(items)
    assert caught.value.field == "items"
    assert "items[0].mask_path:" in caught.value.problem
    assert "items[3].image_path:" in caught.value.problem
    assert "nothing was sent" in caught.value.problem
    assert vyro_conn.stats()["requests"] == 0
    assert outputs(tmp_path) == []


@pytest.mark.parametrize("bad", [5, 150])
def test_a_missing_input_further_on_costs_at_most_the_first_call_whose_output_is_kept(
    vyro_conn: EmulatorServer, tmp_path: Path, bad: int
) -> None:
    items = make_items(tmp_path, 160)
    items[bad]["image_path"] = str(tmp_path / "missing.png")
    vyro_conn.set_faults(latency=0.2)
    with pytest.raises(VyroInputError) as caught:
        run_batch(items, max_concurrency=8)
    assert f"items[{bad}].image_path:" in caught.value.problem
    assert "does not exist" in caught.value.problem
    requests = vyro_conn.stats()["requests"]
    assert requests <= 1, "the storage checks overlap the first call only"
    if requests:
        assert "only items[0] was called meanwhile: its output" in caught.value.problem
        assert outputs(tmp_path) == ["img0.png"]
        with Image.open(tmp_path / "out" / "img0.png") as png:
            png.verify()
    else:
        assert outputs(tmp_path) == []

    items[bad]["image_path"] = items[0]["image_path"]
    vyro_conn.reset()
    run_batch(items, max_concurrency=8, overwrite=False)
    assert vyro_conn.stats()["requests"] == 160 - requests, "the kept output is not paid for again"


def test_cheap_checks_come_first_and_skip_the_storage_checks(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    items = make_items(tmp_path, 5)
    items[3]["image_path"] = str(tmp_path / "missing.png")
    items[4]["prompt"] = "  "
    with pytest.raises(VyroInputError) as caught:
        run_batch(items)
    assert "items[4].prompt:" in caught.value.problem
    assert "items[3]" not in caught.value.problem, "storage is not touched while a cheap check fails"
    assert vyro_conn.stats()["requests"] == 0


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda items: items.append(dict(items[0])), "is also the output of items[0]"),
        (lambda items: items[1].update(colour="red"), "unknown key(s) ['colour']"),
        (lambda items: items.append("not a dict"), "expected a dict"),
    ],
    ids=["duplicate output", "unknown key", "not a dict"],
)
def test_malformed_items_are_input_errors(
    vyro_conn: EmulatorServer, tmp_path: Path, change: Any, words: str
) -> None:
    items = make_items(tmp_path, 2)
    change(items)
    with pytest.raises(VyroInputError, match="items") as caught:
        run_batch(items)
    assert words in caught.value.problem
    assert vyro_conn.stats()["requests"] == 0


def test_failed_item_does_not_stop_the_others_and_retry_redoes_only_it(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    items = make_items(tmp_path, 6)
    vyro_conn.set_faults(script=[400])
    with pytest.raises(VyroBatchError) as caught:
        run_batch(items, max_concurrency=3, overwrite=False)
    ((failed_index, error),) = caught.value.failures.items()
    assert isinstance(error, VyroBadRequestError)
    assert f"items[{failed_index}]" in str(caught.value)
    assert len(outputs(tmp_path)) == 5, "the other five were written"
    assert vyro_conn.stats()["requests"] == 6

    results = run_batch(items, max_concurrency=3, overwrite=False)
    assert [r["skipped"] for r in results] == [i != failed_index for i in range(6)]
    assert vyro_conn.stats()["requests"] == 7, "the retry paid only for the failed item"


def test_429_slows_every_worker_down(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    items = make_items(tmp_path, 8)
    vyro_conn.set_faults(latency=0.05, script=[{"status": 429, "retry_after": 0.8}])
    run_batch(items, max_concurrency=4)

    timeline = vyro_conn.stats()["timeline"]
    rate_limited = next(e for e in timeline if e["status"] == 429)
    hold_from, hold_until = rate_limited["answered"] + 0.05, rate_limited["answered"] + 0.8
    arrived_during_hold = [e for e in timeline if hold_from < e["arrived"] < hold_until]
    assert arrived_during_hold == [], "no worker sent a request while the API asked us to wait"
    assert len(timeline) == 9


# Through real DAG runs: the batch example, a failing item, and a 429 storm.


def test_example_vyro_inpaint_batch(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    conf = {"output_dir": str(tmp_path / "batch")}
    run = airflow_sandbox.dags_test("example_vyro_inpaint_batch", conf=conf)
    assert run.state == "success", run.describe()
    results = run.xcom("inpaint")
    assert [Path(r["image_path"]).name for r in results] == ["beach.jpg", "lake.jpg", "meadow.jpg"]
    assert all(Path(r["output_path"]).is_file() for r in results)
    assert run.xcom("summarise") == {"images": 3, "inpainted": 3, "kept": 0}
    assert "Progress: 3/3 done, 0 failed" in run.output
    assert emulator.stats()["requests"] == 3


def test_batch_dag_with_a_failing_item_then_a_rerun_that_pays_only_for_it(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    conf = {"output_dir": str(tmp_path / "batch")}
    emulator.set_faults(script=["ok", 400])
    run = airflow_sandbox.dags_test("example_vyro_inpaint_batch", conf=conf)
    assert run.state == "failed", run.describe()
    assert run.task_states[("inpaint", -1)] == "failed"
    assert "VyroPermanentBatchError" in run.output
    assert "1 of 3 items failed" in run.output
    assert "(input): VyroBadRequestError" in run.output
    assert len(list((tmp_path / "batch").glob("*.png"))) == 2
    assert emulator.stats()["requests"] == 3

    rerun = airflow_sandbox.dags_test("example_vyro_inpaint_batch", conf=conf)
    assert rerun.state == "success", rerun.describe()
    assert rerun.xcom("summarise") == {"images": 3, "inpainted": 1, "kept": 2}
    assert emulator.stats()["requests"] == 4


def test_batch_dag_survives_a_429_storm(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    storm = [{"status": 429, "retry_after": 0.3}] * 3 + [429] * 2
    emulator.set_faults(script=storm)
    airflow_sandbox.env["AIRFLOW_CONN_VYRO_DEFAULT"] = conn_json(emulator.url, max_retries=6)
    run = airflow_sandbox.dags_test("example_vyro_inpaint_batch", conf={"output_dir": str(tmp_path / "b")})
    assert run.state == "success", run.describe()
    assert run.xcom("summarise") == {"images": 3, "inpainted": 3, "kept": 0}
    stats = emulator.stats()
    assert stats["by_status"] == {"429": 5, "200": 3}
    assert stats["requests"] == 8
