"""
A small client of Airflow 3's public REST API (``/api/v2``), authenticated by SimpleAuthManager.

SimpleAuthManager hands out a JWT for a user of ``[core] simple_auth_manager_users`` whose
password is in its passwords file: ``POST /auth/token`` with ``{"username", "password"}``
answers ``201 {"access_token": ...}``, sent afterwards as ``Authorization: Bearer``.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import requests

TERMINAL_RUN_STATES = frozenset({"success", "failed"})
REQUEST_TIMEOUT = 30.0


class AirflowAPIError(RuntimeError):
    """The REST API answered with an error status."""


class AirflowClient:
    """
    The calls the end-to-end driver makes, on ``base_url`` (e.g. ``http://127.0.0.1:8080``).

    :param base_url: the api-server's root URL.
    :param username: a SimpleAuthManager user.
    :param password: that user's password.
    """

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._session = requests.Session()
        self._session.trust_env = False  # loopback only: never through a proxy

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    def login(self) -> None:
        """Get a JWT from ``POST /auth/token`` and send it with every later request."""
        answer = self._session.post(
            f"{self.base_url}/auth/token",
            json={"username": self._username, "password": self._password},
            timeout=REQUEST_TIMEOUT,
        )
        if answer.status_code not in (200, 201):
            raise AirflowAPIError(f"POST /auth/token: {answer.status_code} {answer.text[:500]}")
        self._session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def request(self, method: str, path: str, *, prefix: str = "/api/v2", **kwargs: Any) -> Any:
        """Send ``method`` to ``prefix`` + ``path``; return the decoded JSON (or text)."""
        url = f"{self.base_url}{prefix}{path}"
        answer = self._session.request(method, url, timeout=REQUEST_TIMEOUT, **kwargs)
        if answer.status_code >= 400:
            raise AirflowAPIError(f"{method} {path}: {answer.status_code} {answer.text[:1000]}")
        if answer.headers.get("content-type", "").startswith("application/json"):
            return answer.json()
        return answer.text

    # --- health and DAGs ---------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /monitor/health`` (needs no token)."""
        result: dict[str, Any] = self.request("GET", "/monitor/health")
        return result

    def dag_ids(self, bundle: str | None = None) -> set[str]:
        """Every DAG the dag-processor has stored (of one DAG bundle, if given)."""
        found = self.request("GET", "/dags", params={"limit": 1000})
        return {dag["dag_id"] for dag in found["dags"] if bundle is None or dag.get("bundle_name") == bundle}

    def import_errors(self) -> list[dict[str, Any]]:
        """Files the dag-processor could not import, with their tracebacks."""
        found = self.request("GET", "/importErrors", params={"limit": 1000})
        errors: list[dict[str, Any]] = found["import_errors"]
        return errors

    def providers(self) -> dict[str, str]:
        """Return the providers the api-server discovered: package name -> version."""
        found = self.request("GET", "/providers", params={"limit": 1000})
        return {p["package_name"]: p["version"] for p in found["providers"]}

    def connection_form(self, conn_type: str) -> dict[str, Any] | None:
        """Return the UI's connection-form metadata of ``conn_type`` (``GET /ui/connections/hook_meta``)."""
        forms = self.request("GET", "/connections/hook_meta", prefix="/ui")
        return next((f for f in forms if f.get("connection_type") == conn_type), None)

    def unpause(self, dag_id: str) -> None:
        """``PATCH /dags/{dag_id}`` with ``is_paused: false``."""
        self.request("PATCH", f"/dags/{_q(dag_id)}", json={"is_paused": False})

    def pause(self, dag_id: str) -> None:
        """``PATCH /dags/{dag_id}`` with ``is_paused: true``."""
        self.request("PATCH", f"/dags/{_q(dag_id)}", json={"is_paused": True})

    # --- runs --------------------------------------------------------------------------------

    def trigger(
        self, dag_id: str, *, run_id: str, conf: dict[str, Any], logical_date: str | None
    ) -> dict[str, Any]:
        """``POST /dags/{dag_id}/dagRuns``; returns the new run."""
        body = {"dag_run_id": run_id, "conf": conf, "logical_date": logical_date}
        run: dict[str, Any] = self.request("POST", f"/dags/{_q(dag_id)}/dagRuns", json=body)
        return run

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        """``GET /dags/{dag_id}/dagRuns``: every run of the DAG (up to 1000)."""
        found = self.request("GET", f"/dags/{_q(dag_id)}/dagRuns", params={"limit": 1000})
        runs: list[dict[str, Any]] = found["dag_runs"]
        return runs

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """``GET /dags/{dag_id}/dagRuns/{run_id}``."""
        run: dict[str, Any] = self.request("GET", f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}")
        return run

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float, interval: float = 1.0) -> dict[str, Any]:
        """Poll the run until it is ``success`` or ``failed``; raise ``TimeoutError`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.dag_run(dag_id, run_id)
            if run["state"] in TERMINAL_RUN_STATES:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} run {run_id} still {run['state']!r} after {timeout:.0f}s")
            time.sleep(interval)

    def answer(
        self, dag_id: str, run_id: str, task_id: str, chosen_options: list[str], params_input: dict[str, Any]
    ) -> dict[str, Any]:
        """``PATCH .../taskInstances/{task_id}/-1/hitlDetails``: answer a waiting human-in-the-loop task."""
        path = f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/-1/hitlDetails"
        body = {"chosen_options": chosen_options, "params_input": params_input}
        answered: dict[str, Any] = self.request("PATCH", path, json=body)
        return answered

    def waits_for_answer(self, dag_id: str, run_id: str, task_id: str) -> bool:
        """Tell whether a human-in-the-loop task waits for its answer (its details exist, none given)."""
        path = f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/-1/hitlDetails"
        try:
            details = self.request("GET", path)
        except AirflowAPIError:
            return False
        return not details.get("response_received")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (mapped ones once per map index)."""
        found = self.request(
            "GET", f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances", params={"limit": 1000}
        )
        instances: list[dict[str, Any]] = found["task_instances"]
        return instances

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """
        Return one XCom entry's value as the API serves it (the stored JSON, decoded).

        ``GET /dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}``,
        with ``?map_index=`` for a mapped task instance.
        """
        path = f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/xcomEntries/{_q(key)}"
        entry = self.request("GET", path, params={"map_index": map_index})
        return entry["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """
        Return the task instance's log of one try, as text: one line per event.

        The API serves structured events (``{"timestamp", "level", "event", ...}``); an event
        with an exception carries ``error_detail``, rendered here as ``Type: message`` lines.
        """
        path = f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/logs/{try_number}"
        answer = self.request(
            "GET",
            path,
            params={"map_index": map_index, "full_content": "true"},
            headers={"Accept": "application/json"},
        )
        lines: list[str] = []
        for entry in answer.get("content", []):
            if isinstance(entry, str):
                lines.append(entry)
                continue
            lines.append(f"[{entry.get('level', '')}] {entry.get('event', '')}")
            for detail in entry.get("error_detail") or []:
                lines.append(f"    {detail.get('exc_type')}: {detail.get('exc_value')}")
        return "\n".join(lines)


def _q(part: str) -> str:
    return quote(part, safe="")
