"""
The end-to-end driver under pytest (marker ``e2e``): ``.venv/bin/pytest -m e2e e2e/``.

Each test runs ``python -m e2e.run`` in a subprocess, whose output goes to pytest's captured
output (live with ``-s``). The driver stops every service it started, also when it fails; on a
timeout here it gets SIGTERM first so it can.
"""

from __future__ import annotations

import importlib.util
import shutil
import signal
import subprocess
import sys

import pytest

from e2e.run import REPO

pytestmark = pytest.mark.e2e

DRIVER_TIMEOUT = 900
"""The driver's own ``--timeout``; each test allows two more minutes around it."""


def run_driver(executor: str) -> None:
    """Run the driver for ``executor`` and fail with its exit status if a case failed."""
    command = [sys.executable, "-m", "e2e.run", "--executor", executor, "--timeout", str(DRIVER_TIMEOUT)]
    process = subprocess.Popen(command, cwd=REPO)
    try:
        status = process.wait(timeout=DRIVER_TIMEOUT + 60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            status = process.wait()
    assert status == 0, f"e2e driver ({executor}) exited with {status}; its report is in the captured output"


@pytest.mark.timeout(DRIVER_TIMEOUT + 180)
def test_example_dags_on_local_executor() -> None:
    """Every example DAG, LocalExecutor: api-server, scheduler, dag-processor, SQLite."""
    run_driver("local")


@pytest.mark.timeout(DRIVER_TIMEOUT + 180)
def test_example_dags_on_celery_executor() -> None:
    """The object-storage examples and the cross-worker probe on CeleryExecutor with two workers."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (`make e2e-celery` installs it)")
    if importlib.util.find_spec("airflow.providers.celery") is None:
        pytest.skip("the celery provider is not installed (`uv sync --group e2e`)")
    run_driver("celery")
