"""
The services of an end-to-end run, on loopback in a scratch directory: what each needs and how it starts.

The API emulator and moto's S3 server (the bucket seeded from ``dags/examples/data``), Redis and
PostgreSQL for the Celery run, a migrated metadata database, ``airflow api-server``,
``scheduler``, ``dag-processor`` and the Celery workers (each in its own working directory and,
where mount namespaces are available, on a private tmpfs). :mod:`e2e.stack` runs the processes;
:mod:`e2e.run` drives a run.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from e2e.api import AirflowClient
from e2e.stack import Postgres, Service, ServiceError, Stack, free_port, tail, wait_until

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from e2e.cases import Case, Executor
    from e2e.traces import SpanReceiver

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "dags" / "examples"
PROBES = Path(__file__).resolve().parent / "dags"
DATA = EXAMPLES / "data"
BUCKET = "vyro-examples"
USERNAME = "e2e"
WORKER_QUEUES = ("e2e_worker_a", "e2e_worker_b")

STARTUP_TIMEOUT = 180.0
MIGRATE_TIMEOUT = 300.0


@dataclass
class Options:
    """Command-line options (see :func:`e2e.run.parse_args`)."""

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
    spans: SpanReceiver | None = None
    token: str = ""


def say(message: str) -> None:
    """Print a progress line, timestamped, at once."""
    print(f"[e2e {datetime.now():%H:%M:%S}] {message}", flush=True)


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
            "VYRO_EXAMPLES_POLL_INTERVAL": "1",
            # a killed triggerer's triggers move to a live one after this many seconds without a beat
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            # a task whose process dies is noticed within seconds (the kill cases)
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "6",
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


def emulator_admin(emulator_url: str, path: str, payload: dict[str, Any]) -> None:
    """``POST`` a JSON body to one of the emulator's admin endpoints (``/_emulator/...``)."""
    request = urllib.request.Request(
        f"{emulator_url}{path}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10):
        pass


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
    """Create the bucket and upload every file of ``dags/examples/data`` (and its folders) under ``in/``."""
    client = s3_client(endpoint_url)
    client.create_bucket(Bucket=BUCKET)
    files = sorted(p for p in DATA.rglob("*") if p.is_file())
    for path in files:
        client.upload_file(str(path), BUCKET, f"in/{path.relative_to(DATA).as_posix()}")
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
            raise ServiceError(f"DAG import errors:\n{text}")
        return dag_ids <= client.dag_ids()

    wait_until(
        f"DAGs parsed ({', '.join(sorted(dag_ids))})", parsed, STARTUP_TIMEOUT, services=stack.services
    )


def start_services(
    options: Options, stack: Stack, cases: Sequence[Case], token: str, password: str, spans: SpanReceiver
) -> Context:
    """
    Start every service of the run, wait until Airflow has parsed the cases' DAGs; return the context.

    Every Airflow service traces, exporting its spans to ``spans``.
    """
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
    env = {**airflow_env(options, scratch, api_port, broker, conns), **spans.env}
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
    # deferred tasks (video) wait here; --skip-serve-logs as for the scheduler
    stack.start("triggerer", airflow_argv("triggerer", "--skip-serve-logs"), env)
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
    return Context(
        options, scratch, stack, client, emulator_url, s3_url, placeholders, isolated, env, spans, token
    )


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
