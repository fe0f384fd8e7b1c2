"""
Batch runs through Airflow itself (``airflow dags test``) against the emulator: fail-fast on a
dead account, a retry that pays only once (also after a failure once ``execute`` returned),
``execution_timeout`` with hung calls, the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_vyro.emulator.server import EmulatorServer
from devtools.airflow_runner import REPO, AirflowSandbox
from tests.conftest import TOKEN, conn_json
from tests.integration.test_batch import make_items

TEST_DAGS = REPO / "tests" / "dags"


@pytest.fixture
def sandbox(airflow_sandbox: AirflowSandbox, airflow_template_db: Path, tmp_path: Path) -> AirflowSandbox:
    return AirflowSandbox(tmp_path / "airflow-runs", airflow_template_db, TEST_DAGS, airflow_sandbox.env)


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".vyro-tmp.*"))


def test_refused_token_sends_one_request_and_fails_without_task_retries(
    sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    items = make_items(tmp_path / "w", 40)
    sandbox.env["AIRFLOW_CONN_VYRO_DEFAULT"] = conn_json(emulator.url, token="a-refused-token")

    run = sandbox.dags_test("vyro_batch_retry", conf={"items": items})

    assert run.state == "failed", run.describe()
    assert run.try_numbers[("batch", -1)] == 1, "an account error is not retried (retries=1 in the DAG)"
    assert "VyroAuthenticationError" in run.output
    assert "Stopping the run" in run.output
    assert emulator.stats()["requests"] == 1, "the first call runs alone; nothing follows a refused token"
    assert "a-refused-token" not in run.output
    assert TOKEN not in run.output


def test_a_retry_never_pays_twice_for_what_an_earlier_try_wrote(
    sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    items = make_items(tmp_path / "w", 4)
    sandbox.env["AIRFLOW_CONN_VYRO_DEFAULT"] = conn_json(emulator.url, max_retries=0)
    emulator.set_faults(script=["ok", 500])  # the second call fails, with no hook retry

    run = sandbox.dags_test("vyro_batch_retry", conf={"items": items})

    assert run.state == "success", run.describe()
    assert run.try_numbers[("batch", -1)] == 2, "the first try failed with VyroBatchError and was retried"
    assert "1 of 4 items failed" in run.output
    results = run.xcom("batch")
    assert sum(not r["skipped"] for r in results) == 1, "the second try called only for the failed item"
    assert all(Path(r["output_path"]).is_file() for r in results)
    assert emulator.stats()["requests"] == 4 + 1, "the second try paid only for the failed item"
    assert list((tmp_path / "w" / "out").glob(".vyro-ledger.*")), "the ledger outlives the successful try"


def test_a_failure_after_execute_returned_is_retried_without_paying_again(
    sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    items = make_items(tmp_path / "w", 4)

    run = sandbox.dags_test("vyro_batch_post_execute_fails", conf={"items": items})

    assert run.state == "success", run.describe()
    assert run.try_numbers[("batch", -1)] == 2, "post_execute failed the first try, after execute returned"
    assert "post_execute fails on the first try" in run.output
    assert emulator.stats()["requests"] == 4, "the retry found every output on record and paid nothing"
    assert all(r["skipped"] for r in run.xcom("batch"))


def test_execution_timeout_abandons_hung_calls_and_leaves_no_temp_file(
    sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    items = make_items(tmp_path / "w", 40)
    emulator.set_faults(script=["ok"], latency=0)
    emulator.set_faults(script=["ok", {"sleep": 120}, {"sleep": 120}, {"sleep": 120}])

    run = sandbox.dags_test("vyro_batch_timeout", conf={"items": items})

    assert run.state == "failed", run.describe()
    assert "AirflowTaskTimeout" in run.output or "Timeout" in run.output, run.describe()
    assert "Vyro run:" in run.output, "the summary line is logged on the way out"
    assert temp_files(tmp_path) == []
    stats = emulator.stats()
    assert stats["requests"] == 3, "the first call, then two hung calls in flight, then nothing"


def test_manifest_holds_every_item_even_when_the_run_fails(
    sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    items = make_items(tmp_path / "w", 5)
    manifest = tmp_path / "manifest.jsonl"
    emulator.set_faults(script=["ok", 400])

    run = sandbox.dags_test("vyro_batch_manifest", conf={"items": items, "manifest": str(manifest)})

    assert run.state == "failed", run.describe()
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(5))
    assert sorted(line["status"] for line in lines) == ["failed"] + ["written"] * 4
    failed = next(line for line in lines if line["status"] == "failed")
    assert failed["class"] == "input"
    assert "VyroBadRequestError" in failed["error"]

    emulator.reset()
    rerun = sandbox.dags_test("vyro_batch_manifest", conf={"items": items, "manifest": str(manifest)})
    assert rerun.state == "success", rerun.describe()
    assert rerun.xcom("batch") == {
        "manifest_path": str(manifest),
        "items": 5,
        "written": 5,
        "kept": 0,
        "failed": 0,
        "not_run": 0,
        "calls": 5,
    }


def test_more_items_than_the_limit_without_a_manifest_fail_before_any_request(
    sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    items = make_items(tmp_path / "w", 4)
    run = sandbox.dags_test("vyro_batch_manifest", conf={"items": items, "manifest": ""})
    assert run.state == "failed", run.describe()
    assert "VyroInputError: manifest_path: 4 items are more than the 3" in run.output
    assert emulator.stats()["requests"] == 0
