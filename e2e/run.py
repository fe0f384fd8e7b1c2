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
import contextlib
import hashlib
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from e2e.api import AirflowClient
from e2e.cases import CASES, XCOM_SHAPE, Case, Executor, Triggered
from e2e.stack import Postgres, Service, ServiceError, Stack, free_port, tail, wait_until

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import FrameType

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "dags" / "examples"
PROBES = Path(__file__).resolve().parent / "dags"
DATA = EXAMPLES / "data"
BUCKET = "vyro-examples"
USERNAME = "e2e"
WORKER_QUEUES = ("e2e_worker_a", "e2e_worker_b")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

STARTUP_TIMEOUT = 180.0
MIGRATE_TIMEOUT = 300.0


class CheckFailed(AssertionError):
    """A check of the run failed; the message says which."""


class Interrupted(BaseException):
    """SIGTERM, SIGINT or the global ``--timeout``: stop everything and exit."""


@dataclass
class Options:
    """Command-line options (see :func:`parse_args`)."""

    executor: Executor
    cases: tuple[str, ...]
    scratch: Path | None
    keep: bool
    timeout: float
    run_timeout: float
    workers: int
    concurrency: int
    conns_on_workers: bool
    browser: bool = False


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


@dataclass
class Context:
    """Everything the cases need about the running stack."""

    options: Options
    scratch: Path
    stack: Stack
    client: AirflowClient
    emulator_url: str
    s3_url: str
    placeholders: dict[str, str]
    isolated_workers: bool
    env: Mapping[str, str] = field(default_factory=dict)


# --- set-up ----------------------------------------------------------------------------------


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


def say(message: str) -> None:
    """Print a progress line, timestamped, at once."""
    print(f"[e2e {datetime.now():%H:%M:%S}] {message}", flush=True)


def select_cases(options: Options) -> list[Case]:
    """Return the cases of this executor (and of ``--case``, if given)."""
    chosen = [c for c in CASES if options.executor in c.executors]
    if options.cases:
        unknown = set(options.cases) - {c.name for c in chosen}
        if unknown:
            raise SystemExit(f"unknown case(s) for {options.executor}: {', '.join(sorted(unknown))}")
        chosen = [c for c in chosen if c.name in options.cases]
    return chosen


def aws_conn(endpoint_url: str) -> str:
    """Return an ``AIRFLOW_CONN_AWS_DEFAULT`` value for moto at ``endpoint_url``."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": endpoint_url, "region_name": "us-east-1"},
        }
    )


def vyro_conn(emulator_url: str, token: str) -> str:
    """Return an ``AIRFLOW_CONN_VYRO_DEFAULT`` value for the emulator."""
    return json.dumps(
        {"conn_type": "vyro", "host": emulator_url, "password": token, "extra": {"backoff_factor": 0.05}}
    )


def clean_env() -> dict[str, str]:
    """Return our environment without Airflow or Vyro settings, and with no proxy for loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VYRO_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({"NO_PROXY": "*", "no_proxy": "*", "PYTHONUNBUFFERED": "1"})
    return env


def airflow_env(
    options: Options, scratch: Path, api_port: int, broker: str | None, conns: Mapping[str, str]
) -> dict[str, str]:
    """Return the environment every Airflow service of the run shares."""
    api_url = f"http://127.0.0.1:{api_port}"
    bundles = [
        {"name": "examples", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
         "kwargs": {"path": str(EXAMPLES)}},
        {"name": "e2e-probes", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
         "kwargs": {"path": str(PROBES)}},
    ]  # fmt: skip
    env = clean_env()
    env.update(
        {
            "AIRFLOW_HOME": str(scratch / "airflow-home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if broker else "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(scratch / "passwords.json"),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the runs we trigger
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "VYRO_EXAMPLES_OUTPUT_DIR": str(scratch / "out"),
            **conns,
        }
    )
    if broker:
        env.update(
            {
                "AIRFLOW__CELERY__BROKER_URL": f"{broker}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"{broker}/1",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(options.concurrency),
            }
        )
    return env


def airflow_argv(*args: str) -> list[str]:
    """``python -m airflow ARGS`` with this interpreter."""
    return [sys.executable, "-m", "airflow", *args]


def start_emulator(stack: Stack, token: str) -> str:
    """Start the emulator CLI on a free port; return its base URL."""
    service = stack.start(
        "emulator",
        [sys.executable, "-m", "airflow_provider_vyro.emulator", "--port", "0", "--token", token],
        clean_env(),
    )
    return service.wait_for_log(r"vyro-emulator listening on (http://\S+)", 60).group(1)


def emulator_stats(emulator_url: str) -> dict[str, Any]:
    """``GET /_emulator/stats``."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{emulator_url}/_emulator/stats", timeout=10) as answer:
        stats: dict[str, Any] = json.load(answer)
        return stats


def start_moto(stack: Stack) -> str:
    """Start moto's S3 server on a free port; return its endpoint URL once it answers."""
    port = free_port()
    service = stack.start(
        "moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], clean_env()
    )
    url = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def answers() -> bool:
        with opener.open(f"{url}/moto-api/", timeout=5) as answer:
            return bool(answer.status == 200)

    wait_until("moto S3 server", answers, 60, services=[service])
    return url


def s3_client(endpoint_url: str) -> Any:
    """Return a boto3 S3 client for moto."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def seed_bucket(endpoint_url: str) -> int:
    """Create the bucket and upload every file of ``dags/examples/data`` under ``in/``."""
    client = s3_client(endpoint_url)
    client.create_bucket(Bucket=BUCKET)
    files = sorted(p for p in DATA.iterdir() if p.is_file())
    for path in files:
        client.upload_file(str(path), BUCKET, f"in/{path.name}")
    return len(files)


def start_redis(stack: Stack, scratch: Path) -> str:
    """Start ``redis-server`` on a free loopback port, persisting nothing; return ``redis://host:port``."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError(
            "redis-server is not installed (make e2e-celery installs it: apt-get install redis-server)"
        )
    port = free_port()
    workdir = scratch / "redis"
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(workdir), "--save", "",
            "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no"]  # fmt: skip
    service = stack.start("redis", argv, clean_env(), cwd=workdir)

    def pong() -> bool:
        import socket

        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")

    wait_until("redis-server", pong, 30, services=[service])
    return f"redis://127.0.0.1:{port}"


def mount_namespaces_work() -> bool:
    """Whether this process may create a mount namespace and mount a tmpfs in it (root, unshare)."""
    if shutil.which("unshare") is None:
        return False
    probe = tempfile.mkdtemp(prefix="vyro-e2e-ns-")
    try:
        result = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "mount", "-t", "tmpfs", "e2e", probe],
            capture_output=True,
            timeout=10,
            check=False,
        )
        return result.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(probe)


def start_workers(
    ctx_env: dict[str, str], options: Options, stack: Stack, scratch: Path, isolate: bool
) -> list[Service]:
    """
    Start the Celery workers; worker ``i`` also serves queue ``WORKER_QUEUES[i]``.

    Each runs in its own working directory and, when ``isolate``,
    in its own mount namespace where ``<scratch>/worker-disk`` is a private tmpfs (also its TMPDIR).
    """
    disk = scratch / "worker-disk"
    disk.mkdir(parents=True, exist_ok=True)
    workers = []
    for index in range(options.workers):
        label = chr(ord("a") + index)
        env = dict(ctx_env)
        if not options.conns_on_workers:
            for name in [k for k in env if k.startswith("AIRFLOW_CONN_")]:
                del env[name]
        queues = ["default", *([WORKER_QUEUES[index]] if index < len(WORKER_QUEUES) else [])]
        argv = airflow_argv("celery", "worker", "--celery-hostname", f"e2e-{label}@%h")
        argv += ["--queues", ",".join(queues), "--concurrency", str(options.concurrency)]
        argv += ["--without-gossip", "--without-mingle", "--skip-serve-logs"]
        if isolate:
            env["TMPDIR"] = str(disk / "tmp")
            script = (
                'mount -t tmpfs -o size=512m,mode=1777 vyro-e2e-disk "$1" && mkdir -p "$1/tmp" '
                '&& shift && exec "$@"'
            )
            argv = [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                script,
                "sh",
                str(disk),
                *argv,
            ]
        workers.append(stack.start(f"worker-{label}", argv, env, cwd=scratch / f"worker-{label}"))
    for worker in workers:
        worker.wait_for_log(r"celery@e2e-\w+@?\S* ready|e2e-\w+@\S+ ready", STARTUP_TIMEOUT)
    return workers


def migrate(env: dict[str, str], scratch: Path) -> None:
    """``airflow db migrate`` into the scratch home's SQLite database."""
    log = scratch / "logs" / "db-migrate.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        result = subprocess.run(
            airflow_argv("db", "migrate"),
            env=env,
            cwd=scratch,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=MIGRATE_TIMEOUT,
            check=False,
        )
    if result.returncode != 0:
        raise ServiceError(f"airflow db migrate failed ({result.returncode}):\n{tail(log)}")


def wait_for_airflow(client: AirflowClient, stack: Stack, dag_ids: set[str]) -> None:
    """Wait for the api-server, a healthy scheduler and dag-processor, and every DAG parsed."""
    wait_until("api-server health", client.health, STARTUP_TIMEOUT, services=stack.services)
    client.login()

    def healthy() -> bool:
        health = client.health()
        return all(
            health[part]["status"] == "healthy" for part in ("metadatabase", "scheduler", "dag_processor")
        )

    wait_until("healthy scheduler and dag-processor", healthy, STARTUP_TIMEOUT, services=stack.services)

    def parsed() -> bool:
        errors = client.import_errors()
        if errors:
            text = "\n".join(f"{e.get('filename')}:\n{e.get('stack_trace')}" for e in errors)
            raise CheckFailed(f"DAG import errors:\n{text}")
        return dag_ids <= client.dag_ids()

    wait_until(
        f"DAGs parsed ({', '.join(sorted(dag_ids))})", parsed, STARTUP_TIMEOUT, services=stack.services
    )


# --- checks ----------------------------------------------------------------------------------


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
        if report.calls != case.calls:
            raise CheckFailed(f"emulator saw {report.calls} inpaint request(s), expected {case.calls}")
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
    if report.state == "success":
        check("results", lambda: collect_results(ctx, case, report, instances))
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
    started = time.monotonic()
    client.trigger(
        case.dag_id,
        run_id=report.run_id,
        conf=fill(dict(case.conf), ctx.placeholders),
        logical_date=case.logical_date,
    )
    try:
        for answer in case.answers:

            def waits(task_id: str = answer.task_id) -> bool:
                return client.waits_for_answer(case.dag_id, report.run_id, task_id)

            wait_until(f"{answer.task_id} to wait for its answer", waits, ctx.options.run_timeout)
            client.answer(
                case.dag_id,
                report.run_id,
                answer.task_id,
                list(answer.chosen_options),
                dict(answer.params_input),
            )
            report.checked.append(
                f"{answer.task_id} answered through the REST API: {dict(answer.params_input)}"
            )
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


# --- the whole run ---------------------------------------------------------------------------


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
            f"in {report.wall:.1f}s{run_time}; emulator calls {report.calls} (expected {case.calls})"
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


def start_services(
    options: Options, stack: Stack, cases: Sequence[Case], token: str, password: str
) -> Context:
    """Start every service of the run, wait until Airflow has parsed the cases' DAGs; return the context."""
    scratch, began = stack.scratch, time.monotonic()
    emulator_url = start_emulator(stack, token)
    s3_url = start_moto(stack)
    say(f"emulator {emulator_url}, S3 {s3_url}; {seed_bucket(s3_url)} files in s3://{BUCKET}/in/")
    broker = start_redis(stack, scratch) if options.executor == "celery" else None
    if broker:
        say(f"redis {broker}")
    conns = {
        "AIRFLOW_CONN_VYRO_DEFAULT": vyro_conn(emulator_url, token),
        "AIRFLOW_CONN_AWS_DEFAULT": aws_conn(s3_url),
    }
    api_port = free_port()
    env = airflow_env(options, scratch, api_port, broker, conns)
    if broker:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = Postgres(stack).start(clean_env())
        say(f"postgresql on 127.0.0.1 ({time.monotonic() - began:.0f}s)")
    migrate(env, scratch)
    say(f"database migrated ({time.monotonic() - began:.0f}s)")
    stack.start("api-server", airflow_argv("api-server", "--host", "127.0.0.1", "--port", str(api_port)), env)
    # --skip-serve-logs: the log server binds every interface; the api-server reads the task logs
    # from the shared AIRFLOW_HOME/logs instead.
    stack.start("scheduler", airflow_argv("scheduler", "--skip-serve-logs"), env)
    stack.start("dag-processor", airflow_argv("dag-processor"), env)
    stack.start("triggerer", airflow_argv("triggerer"), env)
    isolated = False
    if options.executor == "celery":
        isolated = mount_namespaces_work()
        start_workers(env, options, stack, scratch, isolated)
        disks = "yes" if isolated else "NO (no unshare)"
        conns_from = "env" if options.conns_on_workers else "the api-server"
        say(f"{options.workers} celery workers up; private disks: {disks}; connections from {conns_from}")
    client = AirflowClient(f"http://127.0.0.1:{api_port}", USERNAME, password)
    wanted = {
        dag_id
        for c in cases
        if not c.dag_file or (EXAMPLES / c.dag_file).exists()
        for dag_id in (c.dag_id, *(t.dag_id for t in c.triggers))
    }
    wait_for_airflow(client, stack, wanted)
    say(f"airflow ready ({time.monotonic() - began:.0f}s): api-server http://127.0.0.1:{api_port}")
    placeholders = {
        "out": str(scratch / "out"),
        "bucket": BUCKET,
        "worker_disk": str(scratch / "worker-disk"),
    }
    return Context(options, scratch, stack, client, emulator_url, s3_url, placeholders, isolated, env)


def browser_checks(ctx: Context, reports: Sequence[CaseReport], password: str) -> list[tuple[bool, str]]:
    """Check the view of the first passed batch case, and the built docs, in Chromium (e2e/browser.py)."""
    from e2e import browser

    batch = next(
        ((r, res) for r in reports if r.passed and r.run_id for res in r.case.results if res.kind == "list"),
        None,
    )
    found: list[tuple[bool, str]] = []
    with browser.chromium() as driver:
        try:
            if batch is None:
                raise browser.BrowserCheckFailed("no batch case passed: run one (e.g. --case batch)")
            browser.log_in(driver, ctx.client.base_url, USERNAME, password)
            report, results = batch
            shot = REPO / ".scratch" / "e2e-browser" / "vyro-images-view.png"
            args = (report.case.dag_id, report.run_id, results.task_id, results.count, shot)
            found.append((True, browser.check_view(driver, ctx.client.base_url, *args)))
        except browser.BrowserCheckFailed as exc:
            found.append((False, f"browser: {exc}"))
        try:
            found.append((True, browser.check_docs(driver, REPO / ".scratch" / "docs")))
        except browser.BrowserCheckFailed as exc:
            found.append((False, f"browser: {exc}"))
    for ok, line in found:
        say(("" if ok else "PROBLEM: ") + line)
    return found


def let_scheduler_create_runs(ctx: Context) -> None:
    """
    Pause every DAG and restart the scheduler with ``use_job_schedule`` on, for asset-triggered runs.

    Until then the scheduler creates no run by itself (so unpausing the ``@daily`` example starts
    nothing); runs scheduled on assets need it. Every DAG is paused first, so only the DAGs a
    case unpauses from here on can be scheduled.
    """
    client, stack = ctx.client, ctx.stack
    for dag_id in client.dag_ids():
        client.pause(dag_id)
    restarted = datetime.now(UTC)
    stack.stop("scheduler")
    env = {**ctx.env, "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True"}
    stack.start("scheduler-jobs", airflow_argv("scheduler", "--skip-serve-logs"), env)

    def beating() -> bool:
        scheduler = client.health()["scheduler"]
        beat = scheduler.get("latest_scheduler_heartbeat")
        return scheduler["status"] == "healthy" and bool(beat) and datetime.fromisoformat(beat) > restarted

    wait_until("the restarted scheduler's heartbeat", beating, STARTUP_TIMEOUT, services=stack.services)
    say("scheduler restarted with use_job_schedule on; every DAG paused")


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
    try:
        ctx = start_services(options, stack, cases, token, password)
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
