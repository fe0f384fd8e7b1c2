"""
The Airflow version matrix: the provider's tests on every older Airflow it supports.

``python -m matrix.run`` (``make matrix``, part of ``make test``). The main environment (``.venv``)
holds the newest Airflow and runs the whole suite; this driver covers the others. For each
version it

1. makes (or reuses, when its requirements file is unchanged) a virtualenv under
   ``.scratch/matrix/<version>/venv`` with uv, from the committed, fully resolved
   ``matrix/requirements-airflow-<version>.txt``;
2. installs the provider as a user does: the wheel built from this checkout, with plain pip (not
   uv) under the requirements file as constraints, within :data:`PIP_TIMEOUT` seconds;
3. runs pytest from a copy of ``tests/``, ``dags/`` and ``devtools/`` (so the wheel is imported, not the
   checkout) on the tests below. Tests marked ``airflow_versions`` that do not apply to the
   version are deselected by ``tests/conftest.py``, and pytest's summary counts them.

``python -m matrix.run --lock`` re-resolves the requirements files with ``uv pip compile`` from
``pyproject.toml`` (extra ``emulator``, group ``test``) and the pins in :data:`PINS`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = REPO / "matrix"
SCRATCH = REPO / ".scratch" / "matrix"
PYTHON = "3.11"

PINS: dict[str, list[str]] = {
    # The declared floors of the compat and amazon providers are proven here, with the oldest Airflow.
    "2.11": [
        "apache-airflow==2.11.2",
        "apache-airflow-providers-common-compat==1.22.0",
        "apache-airflow-providers-amazon==9.18.0",
    ],
    # 3.0's api-server builds provider connection forms only where Flask-AppBuilder and WTForms
    # are installed (it calls the hooks with stand-ins for them): the FAB provider brings them.
    # With FastAPI 0.118+ its in-process execution API refuses every task's state update (422),
    # and its ObjectStoragePath refuses s3:// under universal-pathlib 0.3: the bounds Airflow 3.1
    # declares itself.
    "3.0": [
        "apache-airflow==3.0.6",
        "apache-airflow-providers-fab",
        "fastapi<0.118",
        "universal-pathlib<0.3",
    ],
    "3.1": ["apache-airflow==3.1.8"],
    # With svcs 26 the in-process execution API of ``airflow dags test`` has no service registry
    # and fails every task.
    "3.2": ["apache-airflow==3.2.2", "svcs<26", "apache-airflow-providers-openlineage"],
}
"""Per version, added to the requirements: its Airflow (the latest patch) and what else must be pinned."""

TESTS = [
    "tests/unit",
    "tests/integration/hooks/test_vyro.py",
    "tests/integration/test_example_dags.py::test_example_vyro_inpaint",
    "tests/integration/test_example_dags.py::test_example_vyro_generate_then_edit",
    "tests/integration/test_example_dags.py::test_example_vyro_video_defers_each_product_and_submits_once",
    "tests/integration/test_example_dags.py::test_example_vyro_review_defines_its_dag_only_on_airflow_3_1_plus",
    "tests/integration/operators/test_video.py",
    "tests/integration/operators/test_edit.py",
    "tests/integration/operators/test_overrides.py",
    "tests/integration/test_batch_dags.py::test_a_retry_never_pays_twice_for_what_an_earlier_try_wrote",
    "tests/integration/test_batch_dags.py::test_a_failure_after_execute_returned_is_retried_without_paying_again",
    "tests/integration/decorators",
    "tests/integration/test_discovery.py",
    "tests/integration/test_metrics.py",
    "tests/integration/test_tracing.py",
]
"""On every version: unit tests, the hook against the emulator, three example DAGs (v1 inpaint; v2
generate then edit; video, deferred) through ``airflow dags test``, the review DAG defined only
where its UI exists, a batch task retried in the same DAG run (after a failed item, and after a
failure once ``execute`` returned) that pays nothing twice, the video operators and trigger
against the emulator, background removal and upscaling and every operator's ``endpoint`` and
``extra_fields`` against the emulator, the decorator in-process, discovery, and each request's span
under a task span from the batch runner's threads (in-process, with that version's OpenTelemetry),
and the metrics a real ``airflow dags test`` run sends to a StatsD listener (through that version's
``Stats``)."""

ONLY_ON: dict[str, list[str]] = {
    "2.11": ["tests/integration/test_example_dags.py::test_example_vyro_taskflow_one_item_and_a_list"],
    "3.1": ["tests/integration/ui"],
}
"""
Tests added for one version only: the ``@task.vyro`` example DAG through Airflow 2's ``@task``
machinery on 2.11 (on 3.x the main suite runs it through the newest Airflow, and the decorator's
own tests, ``tests/integration/decorators``, run on every version); the "Vyro images" app on an
api-server on 3.1, the first Airflow with external views (the main suite runs it on the newest,
and the unit tests check on every version that the plugin is there exactly from 3.1 on).
"""

_NEEDS_SDK_LINEAGE = "tests/unit/test_openlineage.py"
_NEEDS_TASK_SDK = "tests/unit/test_assets.py"
_DOCS = "tests/unit/test_doc_snippets.py"

IGNORED: dict[str, list[str]] = {
    "2.11": [_NEEDS_SDK_LINEAGE, _NEEDS_TASK_SDK, _DOCS],
    "3.0": [_NEEDS_SDK_LINEAGE, _DOCS],
    "3.1": [_NEEDS_SDK_LINEAGE, _DOCS],
    "3.2": [_DOCS],
}
"""
Test modules left out per version, because they import at module level what that Airflow lacks:
``airflow.sdk.lineage`` (3.2+) and the Task SDK's outlet-event internals (3.0+); and the docs'
snippets, which need Sphinx (a dev tool the version venvs do not carry) and do not depend on the
Airflow version: the main suite checks them.
"""

_SUMMARY = re.compile(r"^=* ?(\d+ (?:passed|failed|errors?|deselected)\b.*? in [\d.]+s)", re.MULTILINE)


@dataclass
class Outcome:
    """What one version's run did."""

    version: str
    ok: bool
    summary: str
    venv_seconds: float
    test_seconds: float
    reused: bool


PIP_TIMEOUT = 300
"""Seconds pip may take to install the wheel into a version's environment."""


def requirements(version: str) -> Path:
    """The committed, resolved requirements file of one Airflow version."""
    return HERE / f"requirements-airflow-{version}.txt"


def uv() -> str:
    """The uv executable: ``$UV``, else on PATH, else the one ``make`` installs under ``.scratch/tools``."""
    found = os.environ.get("UV") or shutil.which("uv")
    return found or str(REPO / ".scratch" / "tools" / "bin" / "uv")


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, echoing it; raise if it fails."""
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, text=True, **kwargs)  # type: ignore[call-overload,no-any-return]


def lock(versions: list[str]) -> None:
    """Resolve each version's requirements file from ``pyproject.toml`` and :data:`PINS`."""
    for version in versions:
        pins = SCRATCH / f"pins-{version}.txt"
        pins.parent.mkdir(parents=True, exist_ok=True)
        pins.write_text("\n".join(PINS[version]) + "\n")
        run(
            [
                uv(),
                "pip",
                "compile",
                "pyproject.toml",
                str(pins.relative_to(REPO)),
                "--extra",
                "emulator",
                "--group",
                "test",
                "--python-version",
                PYTHON,
                "--no-header",
                "--quiet",
                "--output-file",
                str(requirements(version).relative_to(REPO)),
            ],
            cwd=REPO,
        )


def build_wheel() -> Path:
    """Build the provider's wheel from the checkout, as a user would install it."""
    dist = SCRATCH / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    run([uv(), "build", "--wheel", "--quiet", "--out-dir", str(dist), str(REPO)])
    (wheel,) = dist.glob("airflow_provider_vyro-*.whl")
    return wheel


def ensure_venv(version: str, wheel: Path) -> tuple[Path, bool]:
    """Create or reuse the version's venv; install the wheel into it. Return its python and reuse."""
    root = SCRATCH / version
    venv = root / "venv"
    python = venv / "bin" / "python"
    reqs = requirements(version)
    digest = hashlib.sha256(reqs.read_bytes() + PYTHON.encode() + b"seeded with pip").hexdigest()
    stamp = venv / ".requirements.sha256"
    reused = python.exists() and stamp.exists() and stamp.read_text() == digest
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    if not reused:
        shutil.rmtree(venv, ignore_errors=True)
        run([uv(), "venv", "--quiet", "--seed", "--python", PYTHON, str(venv)])
        run([uv(), "pip", "sync", "--quiet", "--python", str(python), str(reqs)], env=env)
        stamp.write_text(digest)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input", "--quiet"]
    run([*pip, "uninstall", "--yes", "airflow-provider-vyro"], env=env)
    start = time.monotonic()
    run([*pip, "install", "--constraint", str(reqs), str(wheel)], env=env, timeout=PIP_TIMEOUT)
    print(f"pip installed the wheel under {reqs.name} in {time.monotonic() - start:.1f} s", flush=True)
    return python, reused


def workdir(version: str) -> Path:
    """A fresh copy of the tests, the DAGs, the dev tools and the pytest settings, outside the checkout."""
    work = SCRATCH / version / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("tests", "dags", "devtools"):
        shutil.copytree(REPO / folder, work / folder, ignore=ignore)
    shutil.copyfile(REPO / "pyproject.toml", work / "pyproject.toml")
    return work


def run_version(version: str, wheel: Path) -> Outcome:
    """Set up one version and run its tests."""
    print(f"\n=== Airflow {version} ===", flush=True)
    start = time.monotonic()
    python, reused = ensure_venv(version, wheel)
    venv_seconds = time.monotonic() - start
    work = workdir(version)
    start = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "VIRTUAL_ENV"))}
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    ignored = [f"--ignore={path}" for path in IGNORED.get(version, [])]
    tests = [*TESTS, *ONLY_ON.get(version, [])]
    cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *ignored, *tests]
    print("+", " ".join(cmd), flush=True)
    lines: list[str] = []
    with subprocess.Popen(
        cmd, cwd=work, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line)
    test_seconds = time.monotonic() - start
    found = _SUMMARY.findall("".join(lines))
    summary = found[-1] if found else f"pytest exited {proc.returncode}"
    return Outcome(version, proc.returncode == 0, summary, venv_seconds, test_seconds, reused)


def main(argv: list[str] | None = None) -> int:
    """Run the matrix (or re-lock it); exit non-zero if any version fails."""
    parser = argparse.ArgumentParser(prog="python -m matrix.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("versions", nargs="*", default=list(PINS), help="Airflow minors (default: all)")
    parser.add_argument("--lock", action="store_true", help="re-resolve the requirements files and stop")
    args = parser.parse_args(argv)
    unknown = set(args.versions) - set(PINS)
    if unknown:
        parser.error(f"unknown versions {sorted(unknown)}; known: {list(PINS)}")
    if args.lock:
        lock(args.versions)
        return 0
    wheel = build_wheel()
    outcomes = [run_version(version, wheel) for version in args.versions]
    print("\nAirflow matrix:")
    for o in outcomes:
        venv = f"venv {o.venv_seconds:5.1f}s ({'reused' if o.reused else 'created'})"
        status = "ok  " if o.ok else "FAIL"
        print(f"  {o.version:<5} {status}  {venv}  tests {o.test_seconds:5.1f}s  {o.summary}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
