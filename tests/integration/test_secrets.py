"""
The token never leaves the connection: not in task output, log files, XCom, rendered template
fields or anything else Airflow stores, whether the run succeeds, is refused (401) or exhausts
its retries on 500s.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.hooks.vyro import VyroHook
from airflow_provider_vyro.operators.inpaint import InpaintOperator
from devtools.airflow_runner import AirflowSandbox
from tests.conftest import TOKEN, conn_json

WRONG_TOKEN = "wrong-token-9d4e2a6b1c"


def files_containing(root: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.parametrize("scenario", ["success", "unauthorised", "server_errors_exhausted"])
def test_token_absent_from_everything_a_dag_run_leaves(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path, scenario: str
) -> None:
    token = WRONG_TOKEN if scenario == "unauthorised" else TOKEN
    airflow_sandbox.env["AIRFLOW_CONN_VYRO_DEFAULT"] = conn_json(
        emulator.url, token=token, backoff_factor=0.01
    )
    if scenario == "server_errors_exhausted":
        emulator.set_faults(script=[500] * 4)

    run = airflow_sandbox.dags_test("example_vyro_inpaint", conf={"output_dir": str(tmp_path / "o")})

    assert run.state == ("success" if scenario == "success" else "failed"), run.describe()
    assert (
        emulator.stats()["requests"]
        == {"success": 1, "unauthorised": 1, "server_errors_exhausted": 4}[scenario]
    )
    assert "attempt 1" in run.output, "the hook's log lines are in the output we search"
    assert token not in run.output
    assert files_containing(airflow_sandbox.home, token) == [], "logs, SQLite (XCom, rendered fields)"
    with sqlite3.connect(airflow_sandbox.home / "airflow.db") as db:
        rendered = db.execute(
            "SELECT rendered_fields FROM rendered_task_instance_fields WHERE task_id = 'inpaint'"
        ).fetchall()
        xcoms = db.execute("SELECT value FROM xcom").fetchall()
    assert rendered, "the rendered template fields were stored, and searched"
    assert token not in repr(rendered) + repr(xcoms)


def test_repr_of_hook_and_operator_hide_the_token(vyro_conn: EmulatorServer) -> None:
    hook = VyroHook()
    hook.get_conn()
    operator = InpaintOperator(task_id="t", image_path="a.png", mask_path="m.png", prompt="p")
    for text in (repr(hook), str(hook), repr(hook.settings), repr(operator), repr(vars(operator))):
        assert TOKEN not in text
