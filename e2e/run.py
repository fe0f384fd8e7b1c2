"""
End-to-end driver: the example DAGs on real Airflow services, triggered through the REST API.

``python -m e2e.run --executor local`` (``make e2e``) or ``--executor celery``
(``make e2e-celery``). In a scratch directory on loopback it starts:

* the API emulator (``python -m airflow_provider_vyro.emulator``) and moto's S3 server, with the
  bucket seeded from ``dags/examples/data``;
* a migrated SQLite metadata database and ``airflow api-server``, ``scheduler`` and
  ``dag-processor`` (LocalExecutor: task processes are the scheduler's children);
* for ``celery``: ``redis-server`` as broker and result backend, and two ``airflow celery
  worker`` processes, each in its own working directory and, where mount namespaces are
  available (root), with a private tmpfs at the same path, standing in for a separate disk.

Connections are ``AIRFLOW_CONN_*`` variables. With LocalExecutor every service has them; under
Celery only the api-server, scheduler and dag-processor do, so a task gets its connection through
the Task SDK from the api-server, as on a worker machine that holds no secrets
(``--conns-on-workers`` gives the workers the variables too).

Each case of :mod:`e2e.cases` is run in turn: unpause, trigger with its ``conf``, poll until the
run ends, then check the run and task states, the XComs read back through the REST API, the
output PNGs on disk or in S3, and the emulator's request count. Everything started is stopped at
the end, also on failure, timeout, SIGINT or SIGTERM. Exit status: 0 when every case passed.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from e2e.api import AirflowAPIError
from e2e.browser import browser_checks
from e2e.cases import CASES, Case
from e2e.checks import (
    CaseReport,
    CheckFailed,
    check_case,
    check_provider,
    check_triggered,
    expected_calls,
    failed_task_logs,
    fill,
    tasks_per_worker,
    token_leaks,
)
from e2e.kills import WATCHERS as KILL_WATCHERS
from e2e.reviews import answer_all
from e2e.services import (
    EXAMPLES,
    REPO,
    USERNAME,
    Context,
    Options,
    emulator_stats,
    let_scheduler_create_runs,
    say,
    start_services,
)
from e2e.stack import ServiceError, Stack
from e2e.traces import SpanReceiver
from e2e.videos import WATCHERS, set_video_duration

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

__all__ = ["REPO", "main", "parse_args", "run"]


class Interrupted(BaseException):
    """SIGTERM, SIGINT or the global ``--timeout``: stop everything and exit."""


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m e2e.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--executor", choices=["local", "celery"], default="local")
    parser.add_argument(
        "--case", action="append", default=[], help="run only this case (repeatable); default: all"
    )
    parser.add_argument(
        "--scratch", type=Path, default=None, help="scratch directory (default: a new temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory after a success")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the whole run (default 900)")
    parser.add_argument(
        "--run-timeout", type=float, default=240, help="seconds for one DAG run (default 240)"
    )
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    parser.add_argument("--concurrency", type=int, default=1, help="task slots per Celery worker (default 1)")
    parser.add_argument(
        "--conns-on-workers",
        action="store_true",
        help="give Celery workers the AIRFLOW_CONN_* variables too (default: they ask the api-server)",
    )
    parser.add_argument(
        "--browser",
        action="store_true",
        help="also check the 'Vyro images' view and the built docs in Chromium (e2e/browser.py)",
    )
    args = parser.parse_args(argv)
    if args.executor == "celery" and args.workers < 2:
        parser.error("--workers must be at least 2: the probe needs two workers")
    return Options(
        executor=args.executor,
        cases=tuple(args.case),
        scratch=args.scratch,
        keep=args.keep,
        timeout=args.timeout,
        run_timeout=args.run_timeout,
        workers=args.workers,
        concurrency=args.concurrency,
        conns_on_workers=args.conns_on_workers,
        browser=args.browser,
    )


def select_cases(options: Options) -> list[Case]:
    """Return the cases of this executor (and of ``--case``, if given)."""
    chosen = [c for c in CASES if options.executor in c.executors]
    if options.cases:
        unknown = set(options.cases) - {c.name for c in chosen}
        if unknown:
            raise SystemExit(f"unknown case(s) for {options.executor}: {', '.join(sorted(unknown))}")
        chosen = [c for c in chosen if c.name in options.cases]
    return chosen


def run_case(ctx: Context, case: Case) -> CaseReport:
    """Unpause, trigger and wait for the case's DAG, then check everything about the run."""
    report = CaseReport(case)
    if case.dag_file and not (EXAMPLES / case.dag_file).exists():
        report.skipped = f"dags/examples/{case.dag_file} does not exist yet"
        return report
    if case.name == "local-path-across-workers" and not ctx.isolated_workers:
        report.skipped = "no mount namespaces here (needs root and unshare): workers share one disk"
        return report
    client = ctx.client
    before = emulator_stats(ctx.emulator_url)
    earlier = {t.dag_id: {r["dag_run_id"] for r in client.dag_runs(t.dag_id)} for t in case.triggers}
    for triggered in case.triggers:
        client.unpause(triggered.dag_id)
    client.unpause(case.dag_id)
    report.run_id = f"e2e__{case.name}__{datetime.now():%Y%m%dT%H%M%S%f}"
    if case.video_duration is not None:
        set_video_duration(ctx.emulator_url, case.video_duration)
    started = time.monotonic()
    client.trigger(
        case.dag_id,
        run_id=report.run_id,
        conf=fill(dict(case.conf), ctx.placeholders),
        logical_date=case.logical_date,
    )
    if case.watch is not None:
        try:
            watcher = {**WATCHERS, **KILL_WATCHERS}[case.watch]
            report.checked.extend(watcher(ctx, case, report.run_id, ctx.options.run_timeout))
        except (AssertionError, TimeoutError, ServiceError) as exc:
            report.problems.append(f"{case.watch}: {exc}")
    if case.answers:
        try:
            report.checked.extend(answer_all(ctx, case, report.run_id, ctx.options.run_timeout))
        except (AirflowAPIError, TimeoutError, ServiceError) as exc:
            report.problems.append(f"answers: {exc}")
    try:
        run = client.wait_for_run(case.dag_id, report.run_id, ctx.options.run_timeout)
    except TimeoutError as exc:
        report.wall = time.monotonic() - started
        report.state = client.dag_run(case.dag_id, report.run_id)["state"]
        instances = client.task_instances(case.dag_id, report.run_id)
        report.problems.append(
            f"{exc}; tasks {[(t['task_id'], t['map_index'], t['state']) for t in instances]}"
        )
        report.problems.append(failed_task_logs(ctx, case, report.run_id, instances))
        return report
    report.wall = time.monotonic() - started
    report.state = run["state"]
    if run.get("start_date") and run.get("end_date"):
        start = datetime.fromisoformat(run["start_date"])
        end = datetime.fromisoformat(run["end_date"])
        report.run_seconds = (end - start).total_seconds()
    check_case(ctx, case, report, before)
    for triggered in case.triggers:
        try:
            check_triggered(ctx, case, triggered, earlier[triggered.dag_id], report)
        except (CheckFailed, TimeoutError, ServiceError) as exc:
            report.problems.append(f"{triggered.dag_id}: {exc}")
    return report


def print_report(reports: list[CaseReport], executor: str, extra: Sequence[tuple[bool, str]] = ()) -> None:
    """Print per case: state, durations, calls, what was checked, and any problem; then ``extra`` checks."""
    print(flush=True)
    print(f"===== e2e results ({executor} executor) =====")
    for report in reports:
        case = report.case
        if report.skipped:
            print(f"[SKIP] {case.name} ({case.dag_id}): {report.skipped}")
            continue
        verdict = "PASS" if report.passed else "FAIL"
        run_time = f", run {report.run_seconds:.1f}s" if report.run_seconds is not None else ""
        print(
            f"[{verdict}] {case.name} ({case.dag_id}): {report.state} (expected {case.state}) "
            f"in {report.wall:.1f}s{run_time}; emulator calls {report.calls} "
            f"(expected {expected_calls(case)})"
        )
        for line in report.checked:
            print(f"         checked {line}")
        for problem in report.problems:
            print(f"         PROBLEM {problem}")
    for ok, line in extra:
        print(f"[{'PASS' if ok else 'FAIL'}] {line}")
    passed = sum(r.passed and not r.skipped for r in reports) + sum(ok for ok, _ in extra)
    failed = sum(not r.passed for r in reports) + sum(not ok for ok, _ in extra)
    skipped = sum(bool(r.skipped) for r in reports)
    print(f"e2e-{executor}: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    sys.stdout.flush()


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise Interrupted(signal.Signals(signum).name)


def run(options: Options) -> int:
    """Set everything up, run the cases, tear everything down, print the report; return the exit status."""
    cases = select_cases(options)
    scratch = options.scratch or Path(tempfile.mkdtemp(prefix=f"vyro-e2e-{options.executor}-"))
    scratch.mkdir(parents=True, exist_ok=True)
    token = f"e2e-{secrets.token_hex(12)}"
    password = secrets.token_urlsafe(16)
    (scratch / "passwords.json").write_text(json.dumps({USERNAME: password}))
    (scratch / "passwords.json").chmod(0o600)
    (scratch / "out").mkdir(exist_ok=True)
    say(f"{options.executor} executor, {len(cases)} case(s), scratch {scratch}")
    began = time.monotonic()
    reports: list[CaseReport] = []
    extra: list[tuple[bool, str]] = []
    current: Case | None = None
    aborted = ""
    stack = Stack(scratch)
    spans = SpanReceiver()
    try:
        ctx = start_services(options, stack, cases, token, password, spans)
        extra.append(check_provider(ctx.client))
        say(("" if extra[-1][0] else "PROBLEM: ") + extra[-1][1])
        scheduling = False
        for case in sorted(cases, key=lambda c: bool(c.triggers)):
            if case.triggers and not scheduling:
                let_scheduler_create_runs(ctx)
                scheduling = True
            say(f"{case.name}: triggering {case.dag_id}")
            current = case
            report = run_case(ctx, case)
            reports.append(report)
            say(f"{case.name}: {'skipped' if report.skipped else report.state} in {report.wall:.1f}s"
                f"{'' if report.passed else ' - PROBLEMS'}")  # fmt: skip
            stack.check_alive()
        if options.executor == "local" and not options.cases:
            covered = {dag_id for c in cases for dag_id in (c.dag_id, *(t.dag_id for t in c.triggers))}
            uncovered = ctx.client.dag_ids(bundle="examples") - covered
            extra.append(
                (not uncovered, f"every DAG of dags/examples has a case (missing: {sorted(uncovered)})")
            )
        if options.browser:
            extra.extend(browser_checks(ctx, reports, password))
        ctx.client.close()
    except (ServiceError, CheckFailed, Interrupted, TimeoutError, OSError, subprocess.SubprocessError) as exc:
        aborted = f"{type(exc).__name__}: {exc}"
        say(f"ABORTED: {aborted}")
    except Exception as exc:
        aborted = f"unexpected {type(exc).__name__}: {exc}"
        say(f"ABORTED: {aborted}")
        traceback.print_exc()
    finally:
        signal.alarm(0)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)  # the stop below is bounded; let it finish
        failed_so_far = bool(aborted) or not all(r.passed for r in reports) or not all(ok for ok, _ in extra)
        if failed_so_far:
            print("\n===== service logs (tails) =====\n" + stack.log_tails(), flush=True)
        say("stopping services")
        stopping = time.monotonic()
        notes = stack.stop_all()
        spans.close()
        say(f"stopped in {time.monotonic() - stopping:.1f}s" + (f" ({'; '.join(notes)})" if notes else ""))
    if aborted:
        if current is not None and (not reports or reports[-1].case is not current):
            reports.append(CaseReport(current, state="aborted", problems=[f"aborted: {aborted}"]))
        if len(reports) < len(cases):
            extra.append((False, f"{len(cases) - len(reports)} case(s) not run: aborted ({aborted})"))
    if reports:
        searched, leaks = token_leaks(scratch, token)
        found_in = ", ".join(str(p.relative_to(scratch)) for p in leaks)
        extra.append(
            (False, f"API token found in files the run left: {found_in}")
            if leaks
            else (True, f"API token found in none of the {searched} files left (logs, metadata DB)")
        )
    if options.executor == "celery" and reports:
        say(f"task workloads per worker: {tasks_per_worker(stack)}")
    print_report(reports, options.executor, extra)
    say(f"total {time.monotonic() - began:.0f}s")
    passed = all(r.passed for r in reports) and all(ok for ok, _ in extra)
    status = 2 if aborted else 0 if passed else 1
    if status == 0 and not options.keep and options.scratch is None:
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        say(f"scratch kept: {scratch}")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse options, arm the global timeout and signal handlers, run."""
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGALRM, lambda *_: _raise_timeout(options.timeout))
    signal.alarm(int(options.timeout))
    return run(options)


def _raise_timeout(seconds: float) -> NoReturn:
    raise Interrupted(f"the whole run exceeded --timeout {seconds:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
