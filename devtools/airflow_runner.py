"""
Run DAGs through Airflow itself (``airflow dags test``) in a scratch AIRFLOW_HOME with SQLite.

Used by ``make demo``, the tests and the benchmarks; it lives outside the wheel.

The database is migrated once into a template home and copied for each run, so every run starts
from an empty, current schema in about a second instead of migrating again. Task states and XComs
are read back from the run's SQLite database: what Airflow stored, not what a task printed.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "dags" / "examples"


def use_scratch_airflow_home(prefix: str = "vyro-bench-", *, log_level: str = "WARNING") -> Path:
    """
    Point ``AIRFLOW_HOME`` at a fresh temporary folder, turn the example DAGs off, set the log level.

    Call it before anything imports Airflow in this process; child processes inherit it.

    :param prefix: prefix of the temporary folder's name.
    :param log_level: Airflow's logging level in this process and its children (the hook logs
        one INFO line per request, and a WARNING per retry).
    :return: the scratch ``AIRFLOW_HOME`` (delete its parent when done).
    """
    home = Path(tempfile.mkdtemp(prefix=prefix)) / "airflow-home"
    home.mkdir()
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = log_level
    os.environ.setdefault("NO_PROXY", "*")
    os.environ.setdefault("no_proxy", "*")
    return home


def airflow_env(home: Path, dags_folder: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return the environment of an Airflow subprocess in ``home``: no example DAGs, quiet, local."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "NO_PROXY": "*",
            "no_proxy": "*",
        }
    )
    # The dag-processor and the task runner put the DAG bundle's root on sys.path, so a module beside
    # the DAGs imports; `airflow dags test` does so only from Airflow 3.2 on (and on 2.x).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(dags_folder), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def _airflow(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def migrate_template(home: Path) -> Path:
    """Create a migrated SQLite database in ``home`` and return its path."""
    home.mkdir(parents=True, exist_ok=True)
    result = _airflow(["db", "migrate"], airflow_env(home, home / "dags"), timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout}\n{result.stderr}")
    return home / "airflow.db"


@dataclass
class DagRunResult:
    """What one ``airflow dags test`` left behind: exit code, output, states and XComs."""

    returncode: int
    output: str
    state: str | None
    task_states: dict[tuple[str, int], str] = field(default_factory=dict)
    try_numbers: dict[tuple[str, int], int] = field(default_factory=dict)
    xcoms: dict[tuple[str, int, str], Any] = field(default_factory=dict)
    asset_events: list[dict[str, Any]] = field(default_factory=list)

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """One XCom value as Airflow stored it."""
        return self.xcoms[(task_id, map_index, key)]

    def mapped_xcoms(self, task_id: str, key: str = "return_value") -> list[Any]:
        """Return a mapped task's XComs, in map-index order."""
        found = sorted((m, v) for (t, m, k), v in self.xcoms.items() if t == task_id and k == key)
        return [value for _, value in found]

    def describe(self) -> str:
        """Text for a failed assertion: states and the tail of the output."""
        return f"state={self.state} tasks={self.task_states}\n--- output (tail) ---\n{self.output[-6000:]}"


class AirflowSandbox:
    """
    A scratch AIRFLOW_HOME that runs DAGs from ``dags_folder`` with ``airflow dags test``.

    :param home: the scratch AIRFLOW_HOME (created).
    :param template_db: a migrated database to start from (see :func:`migrate_template`).
    :param dags_folder: the DAGs Airflow parses.
    :param env: extra environment, e.g. ``AIRFLOW_CONN_VYRO_DEFAULT``.
    """

    def __init__(
        self, home: Path, template_db: Path, dags_folder: Path = EXAMPLES, env: dict[str, str] | None = None
    ) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.env = dict(env or {})
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template_db, home / "airflow.db")

    def dags_test(
        self,
        dag_id: str,
        *,
        logical_date: str | None = None,
        conf: dict[str, Any] | None = None,
        timeout: float = 300,
    ) -> DagRunResult:
        """Run ``dag_id`` once, in-process tasks, and read back what Airflow stored."""
        args = ["dags", "test", dag_id]
        if logical_date:
            args.append(logical_date)
        if conf is not None:
            args += ["--conf", json.dumps(conf)]
        with sqlite3.connect(self.home / "airflow.db") as db:
            before = {row[0] for row in db.execute("SELECT run_id FROM dag_run WHERE dag_id = ?", (dag_id,))}
        result = _airflow(args, airflow_env(self.home, self.dags_folder, self.env), timeout)
        return self._read_run(dag_id, before, result.returncode, result.stdout + result.stderr)

    def _read_run(self, dag_id: str, before: set[str], returncode: int, output: str) -> DagRunResult:
        with sqlite3.connect(self.home / "airflow.db") as db:
            runs = [
                row
                for row in db.execute("SELECT run_id, state FROM dag_run WHERE dag_id = ?", (dag_id,))
                if row[0] not in before
            ]
            if not runs:
                return DagRunResult(returncode, output, None)
            run_id, state = runs[-1]
            states: dict[tuple[str, int], str] = {}
            tries: dict[tuple[str, int], int] = {}
            for task, index, ti_state, number in db.execute(
                "SELECT task_id, map_index, state, try_number FROM task_instance "
                "WHERE dag_id = ? AND run_id = ?",
                (dag_id, run_id),
            ):
                states[(task, index)] = ti_state
                tries[(task, index)] = number
            xcoms = {
                (task, index, key): json.loads(value) if isinstance(value, str | bytes) else value
                for task, index, key, value in db.execute(
                    "SELECT task_id, map_index, key, value FROM xcom WHERE dag_id = ? AND run_id = ?",
                    (dag_id, run_id),
                )
            }
            events = _asset_events(db, dag_id, run_id)
        return DagRunResult(returncode, output, state, states, tries, xcoms, events)


def _asset_events(db: sqlite3.Connection, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """Read the asset events of one run; Airflow 2 calls assets datasets, and they have no names."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    kind = "asset" if "asset_event" in tables else "dataset"
    name = "a.name" if kind == "asset" else "a.uri"
    return [
        {
            "uri": uri,
            "name": asset_name,
            "extra": json.loads(extra) if isinstance(extra, str | bytes) else extra,
            "task_id": task,
            "map_index": index,
            "aliases": sorted(
                alias
                for (alias,) in db.execute(
                    f"SELECT a.name FROM {kind}_alias a JOIN {kind}_alias_{kind}_event e "
                    "ON e.alias_id = a.id WHERE e.event_id = ?",
                    (event_id,),
                )
            ),
        }
        for event_id, uri, asset_name, extra, task, index in db.execute(
            f"SELECT e.id, a.uri, {name}, e.extra, e.source_task_id, e.source_map_index "
            f"FROM {kind}_event e JOIN {kind} a ON e.{kind}_id = a.id "
            "WHERE e.source_dag_id = ? AND e.source_run_id = ? ORDER BY a.uri",
            (dag_id, run_id),
        )
    ]
