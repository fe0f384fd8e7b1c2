"""
The checks of an end-to-end run: each finished case, and the run as a whole.

A case: run and task states, results read back through the REST API, outputs on disk or in S3,
the emulator's request count, logs, asset-triggered runs. The run: the provider discovered, no
token left in any file, tasks per Celery worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from e2e.cases import XCOM_SHAPE, Case, Triggered
from e2e.services import Context, emulator_stats, s3_client
from e2e.stack import Stack, wait_until
from e2e.traces import check_request_spans

if TYPE_CHECKING:
    from collections.abc import Mapping

    from e2e.api import AirflowClient

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class CheckFailed(AssertionError):
    """A check of the run failed; the message says which."""


@dataclass
class CaseReport:
    """What one case did and what was checked."""

    case: Case
    run_id: str = ""
    state: str = "not run"
    wall: float = 0.0
    run_seconds: float | None = None
    calls: int | None = None
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def passed(self) -> bool:
        """No problem found (a skipped case passes)."""
        return not self.problems


def fill(value: Any, placeholders: Mapping[str, str]) -> Any:
    """Fill ``{name}`` placeholders in every string of ``value`` (dicts, lists, tuples too)."""
    if isinstance(value, str):
        return value.format_map(placeholders)
    if isinstance(value, dict):
        return {k: fill(v, placeholders) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(fill(v, placeholders) for v in value)
    return value


def read_output(path: str, s3_url: str) -> bytes:
    """Read an output: a local path, ``file://`` URI or ``s3://[conn@]bucket/key``."""
    if path.startswith("s3://"):
        bucket, _, key = path.removeprefix("s3://").partition("/")
        bucket = bucket.rpartition("@")[2]
        body: bytes = s3_client(s3_url).get_object(Bucket=bucket, Key=key)["Body"].read()
        return body
    return Path(path.removeprefix("file://")).read_bytes()


def check_result(result: Any, where: str, s3_url: str) -> str:
    """Check one inpaint result dict and the PNG it names; return a one-line description."""
    if not isinstance(result, dict):
        raise CheckFailed(f"{where}: expected a dict, got {type(result).__name__}: {result!r}")
    if set(result) != set(XCOM_SHAPE):
        raise CheckFailed(f"{where}: keys {sorted(result)} != {sorted(XCOM_SHAPE)}")
    for key, kind in XCOM_SHAPE.items():
        value = result[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CheckFailed(f"{where}: {key}={value!r} is not {kind.__name__}")
    try:
        data = read_output(result["output_path"], s3_url)
    except (OSError, KeyError) as exc:
        raise CheckFailed(f"{where}: output {result['output_path']} unreadable: {exc!r}") from None
    except Exception as exc:  # botocore's ClientError (NoSuchKey) and kin
        raise CheckFailed(f"{where}: output {result['output_path']} unreadable: {exc!r}") from None
    if not data.startswith(PNG_SIGNATURE):
        raise CheckFailed(f"{where}: {result['output_path']} is not a PNG (starts {data[:8]!r})")
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        size, fmt = image.size, image.format
    if fmt != "PNG" or size != (result["width"], result["height"]):
        raise CheckFailed(f"{where}: {fmt} {size} != PNG {(result['width'], result['height'])}")
    if len(data) != result["bytes"] or hashlib.sha256(data).hexdigest() != result["sha256"]:
        raise CheckFailed(f"{where}: bytes/sha256 in XCom do not match {result['output_path']}")
    return f"{result['output_path']} (PNG {size[0]}x{size[1]}, {len(data)} B, sha256 ok)"


def collect_results(ctx: Context, case: Case, report: CaseReport, instances: list[dict[str, Any]]) -> None:
    """Read every result dict of the case through the REST API and check it and its output."""
    client, dag_id, run_id = ctx.client, case.dag_id, report.run_id
    outputs: list[str] = []
    for spec in case.results:
        found: list[tuple[str, Any, int]] = []
        if spec.kind == "single":
            found.append((spec.task_id, client.xcom(dag_id, run_id, spec.task_id), -1))
        elif spec.kind == "mapped":
            indexes = sorted(ti["map_index"] for ti in instances if ti["task_id"] == spec.task_id)
            for index in indexes:
                value = client.xcom(dag_id, run_id, spec.task_id, map_index=index)
                found.append((f"{spec.task_id}[{index}]", value, index))
        else:
            values = client.xcom(dag_id, run_id, spec.task_id)
            if not isinstance(values, list):
                raise CheckFailed(f"{spec.task_id}: expected a list of dicts, got {values!r}")
            found += [(f"{spec.task_id} item {i}", v, -2) for i, v in enumerate(values)]
        if len(found) != spec.count:
            raise CheckFailed(f"{spec.task_id}: {len(found)} result(s), expected {spec.count}")
        for where, result, index in found:
            report.checked.append(check_result(result, where, ctx.s3_url))
            outputs.append(result["output_path"])
            if index >= -1:  # each key is its own XCom too (a list-returning task does not push keys)
                own = client.xcom(dag_id, run_id, spec.task_id, key="output_path", map_index=index)
                if own != result["output_path"]:
                    raise CheckFailed(f"{where}: XCom 'output_path' {own!r} != {result['output_path']!r}")
    expected = sorted(fill(case.outputs, ctx.placeholders))
    if case.outputs and sorted(outputs) != expected:
        raise CheckFailed(f"output paths {sorted(outputs)} != expected {expected}")


def expected_calls(case: Case) -> str:
    """Say how many calls a case expects: ``3``, or ``30 to 32``."""
    return str(case.calls) if case.calls_at_most is None else f"{case.calls} to {case.calls_at_most}"


def check_case(ctx: Context, case: Case, report: CaseReport, before: dict[str, Any]) -> None:
    """Every check of a finished run; problems are appended to ``report.problems``."""
    client = ctx.client
    instances = client.task_instances(case.dag_id, report.run_id)
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in instances}

    def check(what: str, fn: Any) -> None:
        try:
            fn()
        except (CheckFailed, OSError) as exc:
            report.problems.append(f"{what}: {exc}")
        except Exception as exc:
            report.problems.append(f"{what}: {type(exc).__name__}: {exc}")

    def run_state() -> None:
        if report.state != case.state:
            raise CheckFailed(f"run {report.state}, expected {case.state}; tasks {states}")

    def task_states() -> None:
        for task_id, wanted in case.task_states.items():
            got = {s for (t, _), s in states.items() if t == task_id}
            if got != {wanted}:
                raise CheckFailed(f"{task_id} {sorted(map(str, got))}, expected {wanted}")
            report.checked.append(f"task {task_id}: {wanted}")

    def calls() -> None:
        after = emulator_stats(ctx.emulator_url)
        report.calls = after["requests"] - before["requests"]
        statuses = {
            code: n - before["by_status"].get(code, 0)
            for code, n in after["by_status"].items()
            if n != before["by_status"].get(code, 0)
        }
        most = case.calls if case.calls_at_most is None else case.calls_at_most
        if not case.calls <= report.calls <= most:
            raise CheckFailed(
                f"emulator saw {report.calls} inpaint request(s), expected {expected_calls(case)}"
            )
        if set(statuses) - {"200"}:
            raise CheckFailed(f"emulator answered {statuses}")
        report.checked.append(f"emulator: {report.calls} request(s), all 200")

    def xcoms() -> None:
        for task_id, wanted in case.xcoms.items():
            got = client.xcom(case.dag_id, report.run_id, task_id)
            if got != fill(wanted, ctx.placeholders):
                raise CheckFailed(f"{task_id} returned {got!r}, expected {fill(wanted, ctx.placeholders)!r}")
            report.checked.append(f"xcom {task_id} = {json.dumps(got)}")

    def logs() -> None:
        for task_id, needles in case.log_contains.items():
            text = client.task_log(case.dag_id, report.run_id, task_id, try_number=1)
            missing = [n for n in needles if n not in text]
            if missing:
                raise CheckFailed(f"log of {task_id} lacks {missing}:\n{text[-3000:]}")
            line = next((ln for ln in text.splitlines() if needles[0] in ln), needles[0])
            report.checked.append(f"log {task_id}: {line.strip()[:300]}")

    check("state", run_state)
    check("task states", task_states)
    check("emulator calls", calls)
    if ctx.spans is not None and report.calls is not None:
        spans, calls_seen = ctx.spans, report.calls
        private = [str(ctx.scratch), ctx.emulator_url, "/v1/", "/v2/"]
        check(
            "traces",
            lambda: report.checked.append(
                check_request_spans(
                    spans, report.run_id, calls_seen, ctx.token, private, killed=case.name.startswith("kill-")
                )
            ),
        )
    if report.state == "success":
        check("results", lambda: collect_results(ctx, case, report, instances))
    if case.videos is not None and report.state == "success":
        from e2e.videos import check_videos

        check("videos", lambda: check_videos(ctx, case, report, instances))
    check("xcoms", xcoms)
    check("task logs", logs)
    if report.problems and report.state != case.state:
        report.problems.append(failed_task_logs(ctx, case, report.run_id, instances))


def failed_task_logs(ctx: Context, case: Case, run_id: str, instances: list[dict[str, Any]]) -> str:
    """Return the end of the log of every task instance that did not succeed."""
    parts = []
    for ti in instances:
        if ti["state"] == "success":
            continue
        try:
            text = ctx.client.task_log(
                case.dag_id, run_id, ti["task_id"], max(1, ti["try_number"]), ti["map_index"]
            )
        except Exception as exc:
            text = f"(log unavailable: {exc})"
        lines = "\n".join(text.splitlines()[-40:])
        parts.append(f"--- log of {ti['task_id']}[{ti['map_index']}] ({ti['state']}) ---\n{lines}")
    return "\n".join(parts) or "(no task instance left a log)"


def check_triggered(
    ctx: Context, case: Case, triggered: Triggered, earlier: set[str], report: CaseReport
) -> None:
    """Wait for the one run the case's asset events start, and check what it was told."""
    client = ctx.client

    def new_runs() -> list[dict[str, Any]] | None:
        runs = [r for r in client.dag_runs(triggered.dag_id) if r["dag_run_id"] not in earlier]
        return runs if runs and all(r["state"] in ("success", "failed") for r in runs) else None

    started = time.monotonic()
    runs = wait_until(
        f"a run of {triggered.dag_id} started by the asset events",
        new_runs,
        ctx.options.run_timeout,
        interval=1.0,
        services=ctx.stack.services,
    )
    waited = time.monotonic() - started
    summary = [(r["dag_run_id"], r["run_type"], r["state"]) for r in runs]
    if len(runs) != 1 or runs[0]["run_type"] != "asset_triggered" or runs[0]["state"] != "success":
        raise CheckFailed(f"expected one successful asset_triggered run, got {summary}")
    run_id = runs[0]["dag_run_id"]
    received = client.xcom(triggered.dag_id, run_id, triggered.task_id)
    uris = [image.get("uri") for image in received]
    wanted = list(fill(triggered.uris, ctx.placeholders))
    if uris != wanted:
        raise CheckFailed(f"{triggered.task_id} received {uris}, expected {wanted}")
    produced = {
        r["output_path"]: r
        for spec in case.results
        for r in _as_list(client.xcom(case.dag_id, report.run_id, spec.task_id))
    }
    keys = ("sha256", "bytes", "width", "height")
    for image in received:
        result = produced.get(image.get("path"))
        if result is None or any(image.get(k) != result[k] for k in keys):
            raise CheckFailed(f"{triggered.task_id} got {image}, which matches no result of the run")
    report.checked.append(
        f"{triggered.dag_id} started by itself ({runs[0]['run_type']}, {waited:.1f}s after the run), "
        f"{triggered.task_id} received {json.dumps(received)}"
    )


def _as_list(value: Any) -> list[dict[str, Any]]:
    return list(value) if isinstance(value, list) else [value]


def check_provider(client: AirflowClient) -> tuple[bool, str]:
    """
    Check that the api-server discovered the provider and serves its connection form.

    That is what the UI's "Add connection" page shows for "Vyro Imagine API": the relabelled
    host and password, the hidden fields and the three extras.
    """
    version = client.providers().get("airflow-provider-vyro")
    form = client.connection_form("vyro")
    if version is None or form is None:
        return False, f"provider discovered: version={version}, vyro connection form={form is not None}"
    fields = form.get("standard_fields") or {}
    titles = {name: (fields.get(name) or {}).get("title") for name in ("host", "password")}
    hidden = sorted(name for name, f in fields.items() if f and f.get("hidden"))
    extras = sorted(form.get("extra_fields") or {})
    wanted_extras = ("timeout", "max_retries", "backoff_factor")
    ok = (
        form.get("hook_name") == "Vyro Imagine API"
        and titles == {"host": "Base URL", "password": "API token"}
        and {"login", "port"} <= set(hidden)
        and all(any(e.endswith(w) for e in extras) for w in wanted_extras)
    )
    return ok, (
        f"api-server discovered airflow-provider-vyro {version}; connection form {form.get('hook_name')!r}: "
        f"titles {titles}, hidden {hidden}, extras {extras}"
    )


def token_leaks(scratch: Path, token: str) -> tuple[int, list[Path]]:
    """
    Search every file the run left (service and task logs, the metadata DB) for the API token.

    Returns how many files were searched and those that contain it. Only the outputs (PNGs) are
    not searched.
    """
    needle = token.encode()
    searched, found = 0, []
    for path in sorted(scratch.rglob("*")):
        if not path.is_file() or path.suffix == ".png":
            continue
        searched += 1
        with contextlib.suppress(OSError):
            if needle in path.read_bytes():
                found.append(path)
    return searched, found


def tasks_per_worker(stack: Stack) -> dict[str, int]:
    """Count the task workloads each Celery worker ran, from its log."""
    return {
        s.name: s.log.read_text(errors="replace").count("Executing workload in Celery")
        for s in stack.services
        if s.name.startswith("worker-") and s.log.exists()
    }
