"""
The kill cases of an end-to-end run: a batch task killed halfway, and what its retry pays.

While the case's run goes, the watcher slows the emulator down (0.5 s a call), waits for about
ten outputs, then sends SIGKILL (or SIGTERM) to the task's own process: the Task SDK's task
runner, titled ``airflow worker -- <task instance id>``, found in ``/proc``. Airflow notices and
retries the task once. The watcher then waits for the run to end and checks that the task ran
twice, that every output is there (the case's results check reads each one), for SIGTERM that no
temporary file is left, and prints the emulator's call counts: at the kill and in all. The case's
``calls``..``calls_at_most`` bound (30 items, 30 + 2 calls) is checked with the other cases'.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from e2e.services import emulator_admin, emulator_stats, s3_client
from e2e.stack import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from e2e.cases import Case
    from e2e.services import Context

LATENCY = 0.5
"""Seconds the emulator takes per call while a kill case runs."""

KILL_AFTER = 10
"""Outputs written before the task's process is killed."""


class KillCheckFailed(AssertionError):
    """A kill case's check failed; the message says which."""


def set_latency(emulator_url: str, seconds: float) -> None:
    """Make every answer of the emulator take ``seconds`` (``POST /_emulator/faults``)."""
    emulator_admin(emulator_url, "/_emulator/faults", {"latency": seconds})


def _names(ctx: Context, case: Case) -> list[str]:
    """Give the names of the files (or objects) in the case's output folder."""
    folder = str(case.conf["output_dir"]).format_map(ctx.placeholders)
    if folder.startswith("s3://"):
        bucket, _, prefix = folder.removeprefix("s3://").partition("/")
        listing = s3_client(ctx.s3_url).list_objects_v2(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
        return [item["Key"].rsplit("/", 1)[-1] for item in listing.get("Contents", [])]
    path = Path(folder)
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else []


def _outputs(ctx: Context, case: Case) -> int:
    return sum(name.endswith(".png") and not name.startswith(".") for name in _names(ctx, case))


def _batch(ctx: Context, case: Case, run_id: str) -> dict[str, Any]:
    instances = ctx.client.task_instances(case.dag_id, run_id)
    return next(ti for ti in instances if ti["task_id"] == "batch")


def task_process(ti_id: str) -> int | None:
    """Find the task runner's process of a task instance by its title; ``None`` if there is none."""
    wanted = f"airflow worker -- {ti_id}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.replace(b"\0", b" ").strip().startswith(wanted):
            return int(entry.name)
    return None


def kill_halfway(sig: signal.Signals) -> Callable[[Context, Case, str, float], list[str]]:
    """Give the watcher that sends ``sig`` to the batch task's process after :data:`KILL_AFTER` outputs."""

    def watch(ctx: Context, case: Case, run_id: str, timeout: float) -> list[str]:
        set_latency(ctx.emulator_url, LATENCY)
        try:
            calls_before = emulator_stats(ctx.emulator_url)["requests"]

            def enough() -> bool:
                if ctx.client.dag_run(case.dag_id, run_id)["state"] in ("success", "failed"):
                    raise KillCheckFailed("the run ended before the task was killed")
                return _outputs(ctx, case) >= KILL_AFTER

            wait_until(f"{KILL_AFTER} outputs", enough, timeout, interval=0.1)
            ti = _batch(ctx, case, run_id)
            pid = wait_until("the task's process", lambda: task_process(str(ti["id"])), 30, interval=0.1)
            os.kill(pid, sig)
            at_kill = emulator_stats(ctx.emulator_url)["requests"] - calls_before
            written = _outputs(ctx, case)
        finally:
            set_latency(ctx.emulator_url, 0)
        run = ctx.client.wait_for_run(case.dag_id, run_id, timeout)
        batch = _batch(ctx, case, run_id)
        total = emulator_stats(ctx.emulator_url)["requests"] - calls_before
        lines = [
            f"{sig.name} sent to the task's process (pid {pid}, 'airflow worker -- {ti['id']}') with "
            f"{written} outputs written; emulator calls: {at_kill} at the kill, {total} in all "
            f"({total - at_kill} by the retry) for {case.calls} items",
        ]
        if run["state"] != "success" or batch["try_number"] != 2:
            raise KillCheckFailed(
                f"run {run['state']}, batch try {batch['try_number']}: expected a success on try 2"
            )
        lines.append("batch: killed on try 1, succeeded on try 2")
        if sig is signal.SIGTERM:
            left = [name for name in _names(ctx, case) if name.startswith(".vyro-tmp.")]
            if left:
                raise KillCheckFailed(f"temporary files left after a SIGTERM: {left}")
            lines.append("no temporary file left in the output folder")
        print(f"         kill {case.name}: {lines[0]}", flush=True)
        return lines

    return watch


WATCHERS: dict[str, Callable[[Context, Case, str, float], list[str]]] = {
    "sigkill-halfway": kill_halfway(signal.SIGKILL),
    "sigterm-halfway": kill_halfway(signal.SIGTERM),
}
"""The kill cases' watchers, by ``Case.watch``."""


__all__ = ["KILL_AFTER", "LATENCY", "WATCHERS", "KillCheckFailed", "set_latency", "task_process"]
