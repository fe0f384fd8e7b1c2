"""
``make dist``'s check: the built wheel and sdist are what a user would install.

``python -m devtools.check_dist DIST_DIR --uv UV`` checks that ``DIST_DIR`` holds one wheel and one
sdist of the current version, that the wheel holds the package and nothing else of the repository,
that ``twine check --strict`` passes, and then installs the wheel into a fresh virtual environment
(its dependencies pinned to ``uv.lock``) and, from outside the repository, imports the provider and
asks Airflow's ProvidersManager for it. Exit status 1 with the reason on failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
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


def _run(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False, env=env, cwd=cwd)
    if result.returncode != 0:
        raise DistError(f"{' '.join(args[:4])} ... failed:\n{result.stdout}\n{result.stderr}")
    if result.stdout.strip():
        print(result.stdout.strip())


def install_and_import(wheel: Path, uv: str, workdir: Path) -> None:
    """
    Install ``wheel`` into a fresh virtual environment and import the provider from outside the repo.

    :param wheel: the wheel file.
    :param uv: the ``uv`` executable.
    :param workdir: a scratch folder (replaced).
    """
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    constraints = workdir / "constraints.txt"
    export = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--no-header"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if export.returncode != 0:
        raise DistError(f"uv export failed:\n{export.stderr}")
    constraints.write_text(export.stdout)
    venv = workdir / "venv"
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
    python = venv / "bin" / "python"
    _run([uv, "pip", "install", "--quiet", "--python", str(python), "-c", str(constraints), str(wheel)])
    home = workdir / "airflow-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "PYTHON"))}
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    _run([str(python), "-I", "-c", _IMPORT_CHECK], env=env, cwd=workdir)


def main(argv: list[str] | None = None) -> int:
    """Check the distributions in the given folder; exit status 1 if a check fails."""
    parser = argparse.ArgumentParser(prog="python -m devtools.check_dist", description=__doc__.split("\n")[1])
    parser.add_argument("dist", type=Path, help="the folder uv build wrote to")
    parser.add_argument("--uv", default="uv", help="the uv executable (default: %(default)s)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder for the venv")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from airflow_provider_vyro import __version__

    try:
        wheel = _one(args.dist, f"{PACKAGE}-{__version__}-py3-none-any.whl")
        sdist = _one(args.dist, f"{PACKAGE}-{__version__}.tar.gz")
        check_wheel_contents(wheel, __version__)
        _run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)])
        workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="vyro-dist-check-"))).resolve()
        uv = str(Path(args.uv).resolve()) if os.sep in args.uv else args.uv
        install_and_import(wheel.resolve(), uv, workdir)
    except DistError as err:
        print(f"dist check failed: {err}", file=sys.stderr)
        return 1
    print(f"dist check passed: {wheel.name}, {sdist.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
