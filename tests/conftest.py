"""Shared fixtures: a scratch Airflow home, the emulator, moto's S3 server, example inputs."""

from __future__ import annotations

import io
import os
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
from PIL import Image, ImageDraw  # noqa: E402

from airflow_provider_vyro.emulator import EmulatorServer, connection_json  # noqa: E402
from devtools.airflow_runner import EXAMPLES, AirflowSandbox, migrate_template  # noqa: E402

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


def encode(image: Image.Image, fmt: str) -> bytes:
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
