"""
Paying once across tries of one DAG run, against the emulator: the ledger outlives the try, is
on record before an outcome is reported (a SIGKILL re-pays only what was in flight), keys a
symlinked output once, keeps an output only while its SHA-256 matches, and goes when stale.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from airflow_provider_vyro import ledger as ledgers
from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator
from tests.conftest import conn_json, encode
from tests.integration.test_batch import make_items
from tests.moto_server import MotoS3Server


def task_context(run_id: str = "manual__1", try_number: int = 1) -> dict[str, Any]:
    """What the runner reads of a task's context: the task instance's names."""
    ti = SimpleNamespace(
        dag_id="vyro_dag", run_id=run_id, task_id="batch", map_index=-1, try_number=try_number
    )
    return {"ti": ti}


def run_try(items: list[dict[str, Any]], context: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    kwargs.setdefault("max_concurrency", 2)
    operator = InpaintBatchOperator(task_id="batch", items=items, progress_interval=60, **kwargs)
    results = operator.execute(context=context)  # type: ignore[arg-type]
    assert isinstance(results, list)
    return results


def ledgers_in(folder: Path) -> list[Path]:
    return sorted(folder.glob(".vyro-ledger.*"))


def test_a_failure_after_execute_returned_does_not_pay_again(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    items = make_items(tmp_path, 6)
    first = run_try(items, task_context(try_number=1))
    assert vyro_conn.stats()["requests"] == 6
    # execute returned; then post_execute, the XCom push or the worker failed: Airflow retries

    second = run_try(items, task_context(try_number=2))

    assert vyro_conn.stats()["requests"] == 6, "the retry paid nothing"
    assert all(r["skipped"] for r in second)
    assert [r["sha256"] for r in second] == [r["sha256"] for r in first]
    assert ledgers_in(tmp_path / "out"), "the ledger outlives a successful try"


def test_another_dag_run_is_not_told_what_this_one_wrote(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    items = make_items(tmp_path, 3)
    run_try(items, task_context("manual__1"))
    run_try(items, task_context("manual__2"))
    assert vyro_conn.stats()["requests"] == 6, "overwrite=True in a new DAG run pays again"


def test_an_output_reached_through_a_symlink_is_paid_once(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    items = make_items(tmp_path, 3)
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "out").mkdir()
    link = tmp_path / "out" / "img1.png"
    link.symlink_to(real / "one.png")

    run_try(items, task_context(try_number=1))
    assert link.is_symlink(), "the output is written through the link, which stays"
    with Image.open(real / "one.png") as written:
        written.load()

    second = run_try(items, task_context(try_number=2))
    assert vyro_conn.stats()["requests"] == 3, "the retry found the symlinked output on record"
    assert second[1]["skipped"] is True
    assert second[1]["output_path"] == str(link), "paths come back in the form they were given"


def test_an_output_changed_since_it_was_recorded_is_paid_again(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    items = make_items(tmp_path, 4)
    run_try(items, task_context(try_number=1))
    changed = Path(items[2]["output_path"])
    changed.write_bytes(encode(Image.new("RGB", (64, 48), (9, 9, 9)), "PNG"))  # complete, but not ours

    second = run_try(items, task_context(try_number=2))

    assert vyro_conn.stats()["requests"] == 5, "only the output whose SHA-256 changed is paid again"
    assert [r["skipped"] for r in second] == [True, True, False, True]


def test_stale_ledgers_of_other_runs_go_and_this_runs_stays(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    items = make_items(tmp_path, 2)
    run_try(items, task_context("manual__old"))
    (old,) = ledgers_in(tmp_path / "out")
    run_try(items, task_context("manual__young"))
    young = next(p for p in ledgers_in(tmp_path / "out") if p != old)
    long_ago = time.time() - ledgers.LEDGER_MAX_AGE - 60
    os.utime(old, (long_ago, long_ago))
    os.utime(young, (long_ago + 120, long_ago + 120))

    run_try(items, task_context("manual__young", try_number=2))

    assert ledgers_in(tmp_path / "out") == [young], "the stale ledger went; this run's own stays"
    assert vyro_conn.stats()["requests"] == 4, "this run's ledger was read before anything was removed"


def test_on_object_storage_each_record_is_one_small_object_and_stale_runs_go(
    vyro_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = make_items(tmp_path, 3)
    for index, item in enumerate(items):
        item["output_path"] = f"s3://outputs/run/img{index}.png"
    with MotoS3Server() as s3:
        client = s3.client()
        client.create_bucket(Bucket="outputs")

        def records() -> list[str]:
            listing = client.list_objects_v2(Bucket="outputs", Prefix="run/.vyro-ledger/")
            return sorted(o["Key"] for o in listing.get("Contents", []))

        run_try(items, task_context("manual__1"), storage_conn_id=s3.conn_id)
        first = records()
        assert len(first) == 3, "one object per written output"
        second = run_try(items, task_context("manual__1", try_number=2), storage_conn_id=s3.conn_id)
        assert vyro_conn.stats()["requests"] == 3, "the retry read the records and paid nothing"
        assert all(r["skipped"] for r in second)

        monkeypatch.setattr(ledgers, "LEDGER_MAX_AGE", -60.0)  # every record of another run is stale
        run_try(items, task_context("manual__2"), storage_conn_id=s3.conn_id)
        assert vyro_conn.stats()["requests"] == 6
        now = records()
        assert len(now) == 3
        assert not set(first) & set(now), "the other DAG run's records went; this run's are there"


_KILLED_RUN = """
import json, sys
from types import SimpleNamespace
from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator
items = json.load(open(sys.argv[1]))
ti = SimpleNamespace(dag_id="vyro_dag", run_id="manual__kill", task_id="batch", map_index=-1, try_number=1)
InpaintBatchOperator(
    task_id="batch", items=items, max_concurrency=2, progress_interval=3600
).execute(context={"ti": ti})
"""


def test_a_sigkill_re_pays_only_the_calls_in_flight(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url))
    items = make_items(tmp_path, 20)
    (tmp_path / "items.json").write_text(json.dumps(items))
    emulator.set_faults(latency=0.2)
    worker = subprocess.Popen(
        [sys.executable, "-c", _KILLED_RUN, str(tmp_path / "items.json")],
        env={**os.environ, "AIRFLOW_CONN_VYRO_DEFAULT": conn_json(emulator.url)},
    )
    try:
        while len(list((tmp_path / "out").glob("img*.png"))) < 8:
            assert worker.poll() is None, "the run ended before it was killed"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait()
    written = len(list((tmp_path / "out").glob("img*.png")))
    paid_first = emulator.stats()["requests"]
    emulator.set_faults(latency=0)

    results = run_try(items, task_context("manual__kill", try_number=2))

    paid = emulator.stats()["requests"]
    assert paid <= 20 + 2, f"at most the calls in flight are paid twice ({paid} calls for 20 items)"
    on_record = sum(r["skipped"] for r in results)
    assert on_record >= written - 2, "every output on disk but those in flight was on record"
    assert paid - paid_first == sum(not r["skipped"] for r in results)
