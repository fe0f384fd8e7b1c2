"""Shared fixtures: a scratch Airflow home, the emulator, moto's S3 server, example inputs."""

from __future__ import annotations

import io
import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_SCRATCH = Path(tempfile.mkdtemp(prefix="vyro-tests-"))
os.environ["AIRFLOW_HOME"] = str(_SCRATCH / "airflow-home")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ.setdefault("NO_PROXY", "*")

import pytest  # noqa: E402
from packaging.specifiers import SpecifierSet  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from airflow_provider_vyro.emulator import EmulatorServer, connection_json  # noqa: E402
from airflow_provider_vyro.version_compat import AIRFLOW_VERSION  # noqa: E402
from devtools.airflow_runner import EXAMPLES, AirflowSandbox, migrate_template  # noqa: E402

AIRFLOW = ".".join(map(str, AIRFLOW_VERSION))
_DESELECTED = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shuffle",
        metavar="SEED",
        type=int,
        default=None,
        help="run the modules in a random order, and the tests of each module in a random order, "
        "from SEED (the suite passes in any order)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """
    Deselect (not skip) tests marked ``airflow_versions(SPEC)`` whose SPEC does not admit this Airflow;
    with ``--shuffle SEED``, put the rest in a random order (each module's tests kept together).
    """
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("airflow_versions")
        admitted = marker is None or SpecifierSet(marker.args[0]).contains(AIRFLOW)
        (keep if admitted else drop).append(item)
    config.stash[_DESELECTED] = [f"{i.nodeid} (needs Airflow {_spec(i)})" for i in drop]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    seed = config.getoption("--shuffle")
    if seed is not None:
        items[:] = shuffled(items, random.Random(seed))


def shuffled(items: list[pytest.Item], rng: random.Random) -> list[pytest.Item]:
    """The modules in a random order, each with its tests in a random order."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    order = list(modules.values())
    rng.shuffle(order)
    for tests in order:
        rng.shuffle(tests)
    return [item for tests in order for item in tests]


def _spec(item: pytest.Item) -> str:
    marker = item.get_closest_marker("airflow_versions")
    return str(marker.args[0]) if marker else ""


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"airflow {AIRFLOW}: tests marked airflow_versions for other versions are deselected"]
    seed = config.getoption("--shuffle")
    if seed is not None:
        lines.append(f"order shuffled with --shuffle {seed}")
    return lines


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    deselected = config.stash.get(_DESELECTED, [])
    if deselected:
        terminalreporter.section(f"deselected for Airflow {AIRFLOW}")
        for line in deselected:
            terminalreporter.write_line(line)


TOKEN = "test-token-5f1c9e0b7a"
"""A token distinctive enough that finding it anywhere in output is a real leak."""


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(token=TOKEN) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> Iterator[EmulatorServer]:
    """The session's emulator with faults and counters cleared before and after the test."""
    emulator_server.reset()
    yield emulator_server
    emulator_server.reset()


def conn_json(url: str, token: str = TOKEN, **extra: Any) -> str:
    """An ``AIRFLOW_CONN_*`` value for a vyro connection; fast retries unless overridden."""
    return connection_json(url, token, **{"backoff_factor": 0.01, "max_retries": 3, "timeout": 10, **extra})


@pytest.fixture
def vyro_conn(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """``vyro_default`` pointing at the emulator, in this process's environment."""
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url))
    return emulator


def make_scene(size: tuple[int, int] = (96, 64), fmt: str = "PNG") -> tuple[bytes, bytes]:
    """An image with a red disc on a gradient, and a mask over the disc, as encoded bytes."""
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        draw.line([(0, y), (width, y)], fill=(40 + y * 2 % 200, 120, 200))
    box = (width // 3, height // 3, 2 * width // 3, 2 * height // 3)
    draw.ellipse(box, fill=(220, 20, 30))
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=255)
    return encode(image, fmt), encode(mask, "PNG")


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    """``image`` encoded in ``fmt``."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def scene_files(tmp_path: Path) -> tuple[Path, Path]:
    """A JPEG image and its PNG mask on disk."""
    image, mask = make_scene(fmt="JPEG")
    (tmp_path / "photo.jpg").write_bytes(image)
    (tmp_path / "photo_mask.png").write_bytes(mask)
    return tmp_path / "photo.jpg", tmp_path / "photo_mask.png"


@pytest.fixture(scope="session")
def airflow_template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated Airflow SQLite database, made once per test session."""
    return migrate_template(tmp_path_factory.mktemp("airflow-template"))


@pytest.fixture
def airflow_sandbox(tmp_path: Path, airflow_template_db: Path, emulator: EmulatorServer) -> AirflowSandbox:
    """A fresh AIRFLOW_HOME whose ``vyro_default`` points at the emulator; runs dags/examples."""
    return AirflowSandbox(
        tmp_path / "airflow",
        airflow_template_db,
        EXAMPLES,
        env={
            "AIRFLOW_CONN_VYRO_DEFAULT": conn_json(emulator.url),
            "VYRO_EXAMPLES_OUTPUT_DIR": str(tmp_path / "out"),
        },
    )
