"""
``make dist``'s check: the built wheel and sdist are what a user would install.

``python -m devtools.check_dist DIST_DIR --uv UV`` checks that ``DIST_DIR`` holds one wheel and one
sdist of the current version, that the wheel holds the package and nothing else of the repository,
that ``twine check --strict`` passes, and then installs the wheel as the installation page tells a
user to: with plain pip (not uv) into a fresh virtual environment, Airflow and the wheel together
under a constraints file (made here from ``uv.lock``, standing in for Airflow's published one,
which needs the public internet). The install must finish within ``--pip-timeout`` seconds. From
outside the repository it then imports the provider and asks Airflow's ProvidersManager for it.
Last, it reports, without failing, what plain pip does WITHOUT constraints (a dry run resolving
Airflow and the wheel, stopped after ``--plain-pip-cap`` seconds). Exit status 1 with the reason
on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_vyro"
DISTRIBUTION = "airflow-provider-vyro"

_IMPORT_CHECK = """
import importlib.metadata as metadata
import sys

import airflow_provider_vyro as provider

assert provider.__file__.startswith(sys.prefix), f"not imported from the venv: {provider.__file__}"
info = provider.get_provider_info()
assert info["package-name"] == "airflow-provider-vyro", info["package-name"]
assert info["versions"][0] == provider.__version__ == metadata.version("airflow-provider-vyro")
points = metadata.entry_points(group="apache_airflow_provider")
points = [point for point in points if point.module == "airflow_provider_vyro"]
assert len(points) == 1 and points[0].load()() == info, points

import airflow_provider_vyro.emulator
import airflow_provider_vyro.hooks.vyro
import airflow_provider_vyro.operators.inpaint
from airflow.providers_manager import ProvidersManager

listed = ProvidersManager().providers
assert "airflow-provider-vyro" in listed, sorted(listed)
assert listed["airflow-provider-vyro"].version == provider.__version__
assert airflow_provider_vyro.hooks.vyro.VyroHook.conn_type == "vyro"
print(f"installed {provider.__version__} from {provider.__file__}; Airflow's ProvidersManager lists it")
"""


class DistError(Exception):
    """A check of the distributions failed."""


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise DistError(f"expected one {pattern} in {folder}, found {[p.name for p in found]}")
    return found[0]


def check_wheel_contents(wheel: Path, version: str) -> None:
    """
    Check that the wheel holds the package and its metadata only, with the provider entry point.

    :param wheel: the wheel file.
    :param version: the version its metadata folder must carry.
    """
    dist_info = f"{PACKAGE}-{version}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        tops = {name.split("/", 1)[0] for name in names}
        if tops != {PACKAGE, dist_info}:
            raise DistError(f"the wheel's top-level entries are {sorted(tops)}, not {PACKAGE}, {dist_info}")
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    if "[apache_airflow_provider]" not in entry_points:
        raise DistError("the wheel has no apache_airflow_provider entry point")
    if f"{PACKAGE}/py.typed" not in names:
        raise DistError("the wheel lacks py.typed")


def _run(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
) -> str:
    try:
        result = subprocess.run(
            args, capture_output=True, text=True, check=False, env=env, cwd=cwd, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise DistError(f"{' '.join(args[:4])} ... did not finish within {timeout:.0f} s") from exc
    if result.returncode != 0:
        raise DistError(f"{' '.join(args[:4])} ... failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _airflow_version(constraints: str) -> str:
    for line in constraints.splitlines():
        name, _, version = line.partition("==")
        if name.strip() == "apache-airflow":
            return version.split(";")[0].strip()
    raise DistError("the resolution pins no apache-airflow")


def resolution(uv: str) -> str:
    """
    Give the runtime resolution of ``uv.lock`` as a pip constraints file (``name==version`` lines).

    :param uv: the ``uv`` executable.
    """
    export = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--no-header"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if export.returncode != 0:
        raise DistError(f"uv export failed:\n{export.stderr}")
    return export.stdout


def install_with_pip(wheel: Path, uv: str, workdir: Path, *, timeout: float) -> tuple[Path, str]:
    """
    Install Airflow and ``wheel`` with pip, under constraints, into a fresh virtual environment.

    :param wheel: the wheel file.
    :param uv: the ``uv`` executable (only to export the resolution).
    :param workdir: a scratch folder (replaced).
    :param timeout: seconds the pip install may take.
    :return: the environment's python and the Airflow version installed.
    """
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    constraints = workdir / "constraints.txt"
    constraints.write_text(resolution(uv))
    airflow = _airflow_version(constraints.read_text())
    venv = workdir / "venv"
    start = time.monotonic()
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "install", "--quiet", "--upgrade", "pip"], timeout=timeout)
    pip_version = _run([*pip, "--version"]).split()[1]
    print(f"a fresh venv with pip {pip_version} in {time.monotonic() - start:.0f} s")
    start = time.monotonic()
    _run(
        [
            *pip,
            "install",
            "--quiet",
            "--no-compile",  # bytecode is not what is checked, and compiling it costs a minute
            "--constraint",
            str(constraints),
            f"apache-airflow=={airflow}",
            str(wheel),
        ],
        timeout=timeout,
    )
    print(
        f"pip {pip_version}: Airflow {airflow} and {wheel.name} installed under constraints "
        f"into a fresh venv in {time.monotonic() - start:.0f} s"
    )
    return python, airflow


def import_provider(python: Path, workdir: Path) -> None:
    """
    Import the provider with ``python`` from outside the repository; ask Airflow's ProvidersManager for it.

    :param python: the environment's interpreter.
    :param workdir: the scratch folder (the Airflow home goes there).
    """
    home = workdir / "airflow-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "PYTHON"))}
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    print(_run([str(python), "-I", "-c", _IMPORT_CHECK], env=env, cwd=workdir).strip())


def report_plain_pip(python: Path, airflow: str, wheel: Path, *, cap: float) -> None:
    """
    Report (never fail) how plain pip, without constraints, resolves Airflow and the wheel.

    A dry run that ignores what is installed, so it resolves as into a fresh environment (with
    the download cache the constrained install left).

    :param python: an environment with pip.
    :param airflow: the Airflow version to ask for.
    :param wheel: the wheel file.
    :param cap: seconds after which the resolution is stopped.
    """
    args = [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input", "install", "--dry-run"]
    args += ["--ignore-installed", "--quiet", "--report", "-", f"apache-airflow=={airflow}", str(wheel)]
    start = time.monotonic()
    try:
        result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=cap)
    except subprocess.TimeoutExpired:
        print(f"plain pip without constraints: still resolving after {cap:.0f} s (stopped; not a failure)")
        return
    took = time.monotonic() - start
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"plain pip without constraints: failed after {took:.0f} s (not a failure here): {last}")
        return
    try:
        chosen = {
            i["metadata"]["name"].lower(): i["metadata"]["version"]
            for i in json.loads(result.stdout)["install"]
        }
    except (ValueError, KeyError, TypeError):
        chosen = {}
    picks = ", ".join(
        f"{name} {chosen[name]}" for name in ("python-dateutil", "botocore", "aiobotocore") if name in chosen
    )
    print(f"plain pip without constraints: resolved in {took:.0f} s ({picks})")


def main(argv: list[str] | None = None) -> int:
    """Check the distributions in the given folder; exit status 1 if a check fails."""
    parser = argparse.ArgumentParser(prog="python -m devtools.check_dist", description=__doc__.split("\n")[1])
    parser.add_argument("dist", type=Path, help="the folder uv build wrote to")
    parser.add_argument("--uv", default="uv", help="the uv executable (default: %(default)s)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder for the venv")
    parser.add_argument(
        "--pip-timeout", type=float, default=900, help="seconds the constrained pip install may take"
    )
    parser.add_argument(
        "--plain-pip-cap", type=float, default=120, help="seconds the unconstrained resolution may run"
    )
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from airflow_provider_vyro import __version__

    try:
        wheel = _one(args.dist, f"{PACKAGE}-{__version__}-py3-none-any.whl")
        sdist = _one(args.dist, f"{PACKAGE}-{__version__}.tar.gz")
        check_wheel_contents(wheel, __version__)
        print(_run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)]).strip())
        workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="vyro-dist-check-"))).resolve()
        uv = str(Path(args.uv).resolve()) if os.sep in args.uv else args.uv
        python, airflow = install_with_pip(wheel.resolve(), uv, workdir, timeout=args.pip_timeout)
        import_provider(python, workdir)
        report_plain_pip(python, airflow, wheel.resolve(), cap=args.plain_pip_cap)
    except DistError as err:
        print(f"dist check failed: {err}", file=sys.stderr)
        return 1
    print(f"dist check passed: {wheel.name}, {sdist.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
