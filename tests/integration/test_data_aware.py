"""
Asset events and OpenLineage through Airflow itself (``airflow dags test``) against the emulator.

The asset events are read back from the run's metadata database (``asset_event``, the alias it
came through, and the consumer DAG queued on it); the OpenLineage events from the file the
OpenLineage provider's file transport writes during a real DAG run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator, InpaintOperator
from devtools.airflow_runner import REPO, AirflowSandbox
from tests.conftest import make_scene

DATA = REPO / "dags" / "examples" / "data"
TEST_DAGS = REPO / "tests" / "dags"


def extra_of(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "operation": "inpaint",
        "sha256": result["sha256"],
        "bytes": result["bytes"],
        "width": result["width"],
        "height": result["height"],
        "format": "PNG",
    }


def test_batch_and_mapped_tasks_announce_written_outputs_only(
    airflow_template_db: Path, airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    sandbox = AirflowSandbox(tmp_path / "airflow-da", airflow_template_db, TEST_DAGS, airflow_sandbox.env)
    conf = {"data": str(DATA), "out": str(tmp_path / "da")}
    run = sandbox.dags_test("vyro_data_aware", conf=conf)
    assert run.state == "success", run.describe()

    batch, mapped = run.xcom("batch"), run.mapped_xcoms("mapped")
    expected = [
        (f"file://{r['output_path']}", task, index, extra_of(r), [alias])
        for r, task, index, alias in (
            (batch[0], "batch", -1, "vyro-test-batch"),
            (batch[1], "batch", -1, "vyro-test-batch"),
            (mapped[0], "mapped", 0, "vyro-test-mapped"),
        )
    ]
    got = [(e["uri"], e["task_id"], e["map_index"], e["extra"], e["aliases"]) for e in run.asset_events]
    assert sorted(got, key=str) == sorted(expected, key=str), "a mapped task declares its alias on the worker"

    rerun = sandbox.dags_test("vyro_data_aware", conf=conf)
    assert rerun.state == "success", rerun.describe()
    assert all(r["skipped"] for r in [*rerun.xcom("batch"), *rerun.mapped_xcoms("mapped")])
    assert rerun.asset_events == [], "kept outputs of an earlier run are not announced"
    assert emulator.stats()["requests"] == 3


def test_openlineage_facets_of_executed_operators(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    from airflow.providers.common.compat.openlineage.facet import Dataset

    image, mask = make_scene(size=(64, 48))
    (tmp_path / "a.png").write_bytes(image)
    (tmp_path / "a_mask.png").write_bytes(mask)
    single = InpaintOperator(
        task_id="one",
        image_path=str(tmp_path / "a.png"),
        mask_path=f"file://{tmp_path}/a_mask.png",
        prompt="p",
        output_path=str(tmp_path / "out" / "a.png"),
        overwrite=False,
    )
    single.execute(context={})
    lineage = single.get_openlineage_facets_on_complete(None)
    assert lineage.inputs == [
        Dataset(namespace="file", name=str(tmp_path / "a.png")),
        Dataset(namespace="file", name=str(tmp_path / "a_mask.png")),
    ]
    assert lineage.outputs == [Dataset(namespace="file", name=str(tmp_path / "out" / "a.png"))]

    batch = InpaintBatchOperator(
        task_id="many",
        items=[
            {
                "image_path": str(tmp_path / "a.png"),
                "mask_path": str(tmp_path / "a_mask.png"),
                "output_path": str(tmp_path / "out" / f"{i}.png"),
            }
            for i in range(3)
        ],
        prompt="p",
        overwrite=False,
    )
    (tmp_path / "out" / "0.png").write_bytes((tmp_path / "out" / "a.png").read_bytes())
    batch.execute(context={})
    lineage = batch.get_openlineage_facets_on_complete(None)
    assert lineage.inputs == [
        Dataset(namespace="file", name=str(tmp_path / "a.png")),
        Dataset(namespace="file", name=str(tmp_path / "a_mask.png")),
    ], "one dataset per file, however many items read it"
    assert lineage.outputs == [
        Dataset(namespace="file", name=str(tmp_path / "out" / f"{i}.png")) for i in (1, 2)
    ], "0.png was kept, not written"

    fresh = InpaintOperator(task_id="not-run", image_path="a.png", mask_path="m.png", prompt="p")
    assert fresh.get_openlineage_facets_on_complete(None).outputs == []


def test_openlineage_events_of_a_real_dag_run(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    events_file = tmp_path / "openlineage.jsonl"
    airflow_sandbox.env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
        {"type": "file", "log_file_path": str(events_file), "append": True}
    )
    airflow_sandbox.env["AIRFLOW__OPENLINEAGE__NAMESPACE"] = "vyro-tests"
    out = tmp_path / "ol"
    run = airflow_sandbox.dags_test("example_vyro_asset_producer", conf={"output_dir": str(out)})
    assert run.state == "success", run.describe()

    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    (complete,) = [
        event
        for event in events
        if event["eventType"] == "COMPLETE" and event["job"]["name"] == "example_vyro_asset_producer.inpaint"
    ]
    assert complete["job"]["namespace"] == "vyro-tests"
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [
        ("file", str(DATA / name)) for name in ("beach.jpg", "beach_mask.png", "lake.jpg", "lake_mask.png")
    ]
    assert [(d["namespace"], d["name"]) for d in complete["outputs"]] == [
        ("file", str(out / "beach.png")),
        ("file", str(out / "lake.png")),
    ]
