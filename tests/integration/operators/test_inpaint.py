"""
InpaintOperator against the emulator: bad inputs cost nothing and write nothing; failed calls
leave no output; overwrite=False keeps what exists.

The table runs in-process through ``execute`` (fast, one assertion set per case); the same kind of
cases then run once more as mapped task instances of a real DAG run, proving Airflow fails them
without task retries.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException
from PIL import Image

from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.exceptions import (
    VyroAuthenticationError,
    VyroConnectionError,
    VyroError,
    VyroInputError,
    VyroResponseError,
    VyroServerError,
)
from airflow_provider_vyro.operators.inpaint import InpaintOperator
from devtools.airflow_runner import REPO, AirflowSandbox
from tests.conftest import conn_json, encode, make_scene
from tests.moto_server import MotoS3Server

TEST_DAGS = REPO / "tests" / "dags"


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


class Workspace:
    """A good image, mask and output folder; each bad case changes one thing."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        image, mask = make_scene(size=(96, 64), fmt="PNG")
        self.image = self.write("photo.png", image)
        self.mask = self.write("photo_mask.png", mask)
        self.out = root / "out"
        self.out.mkdir()

    def write(self, name: str, data: bytes) -> Path:
        path = self.root / name
        path.write_bytes(data)
        return path

    def kwargs(self, **changes: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "image_path": str(self.image),
            "mask_path": str(self.mask),
            "prompt": "smooth sand",
            "output_path": str(self.out / "result.png"),
        }
        return {**base, **changes}

    def outputs(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file() and p.parent != self.root)


def _image_as(fmt: str) -> bytes:
    return encode(Image.new("RGB", (96, 64), (10, 20, 30)), fmt)


# name -> (changes to the good kwargs given a workspace, field, words the problem must contain)
BadCase = tuple[Callable[[Workspace], dict[str, Any]], str, str]
BAD_INPUTS: dict[str, BadCase] = {
    "missing image": (lambda w: {"image_path": str(w.root / "nope.png")}, "image_path", "does not exist"),
    "directory instead of file": (lambda w: {"image_path": str(w.out)}, "image_path", "directory"),
    "zero bytes": (lambda w: {"image_path": str(w.write("zero.png", b""))}, "image_path", "empty"),
    "truncated png": (
        lambda w: {"image_path": str(w.write("cut.png", w.image.read_bytes()[:-40]))},
        "image_path",
        "truncated",
    ),
    "gif disguised as png": (
        lambda w: {"image_path": str(w.write("gif.png", _image_as("GIF")))},
        "image_path",
        "GIF",
    ),
    "webp disguised as png": (
        lambda w: {"image_path": str(w.write("webp.png", _image_as("WEBP")))},
        "image_path",
        "WebP",
    ),
    "bmp disguised as png": (
        lambda w: {"image_path": str(w.write("bmp.png", _image_as("BMP")))},
        "image_path",
        "BMP",
    ),
    "text disguised as png": (
        lambda w: {"image_path": str(w.write("text.png", b"hello, this is not an image\n"))},
        "image_path",
        "text",
    ),
    "mask size mismatch": (
        lambda w: {"mask_path": str(w.write("small_mask.png", make_scene(size=(48, 32))[1]))},
        "mask_path",
        "same size",
    ),
    "mask in another mode": (
        lambda w: {"mask_path": str(w.write("cmyk_mask.jpg", encode(Image.new("CMYK", (96, 64)), "JPEG")))},
        "mask_path",
        "pixel mode",
    ),
    "huge dimensions": (
        lambda w: {"image_path": str(w.write("huge.png", _png_claiming(100_000, 100_000)))},
        "image_path",
        "pixels",
    ),
    "empty prompt": (lambda w: {"prompt": ""}, "prompt", "empty"),
    "whitespace prompt": (lambda w: {"prompt": " \n\t "}, "prompt", "whitespace"),
    "over-long prompt": (lambda w: {"prompt": "x" * 10_001}, "prompt", "limit"),
    "non-string prompt from xcom": (lambda w: {"prompt": 42}, "prompt", "must be a string"),
    "bad model_version": (lambda w: {"model_version": "latest"}, "model_version", "digits"),
    "unknown url scheme": (lambda w: {"image_path": "ftpx://host/photo.png"}, "image_path", "ftpx"),
    "output equals image": (lambda w: {"output_path": str(w.image)}, "output_path", "image_path"),
    "output folder unwritable": (
        lambda w: {"output_path": str(w.write("a_file", b"x") / "out.png")},
        "output_path",
        "is a file, not a folder",
    ),
    "output not png": (lambda w: {"output_path": str(w.out / "result.jpg")}, "output_path", ".png"),
    "output unknown scheme": (lambda w: {"output_path": "nosuch://bucket/out.png"}, "output_path", "nosuch"),
    "image path not a string": (lambda w: {"image_path": None}, "image_path", "NoneType"),
    "missing connection": (lambda w: {"vyro_conn_id": "no_such_conn"}, "vyro_conn_id", "no connection"),
    "connection without token": (lambda w: {"vyro_conn_id": "vyro_no_token"}, "vyro_conn_id", "no API token"),
    "malformed extras": (lambda w: {"vyro_conn_id": "vyro_bad_extra"}, "vyro_conn_id", "'timeout'"),
}


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


@pytest.fixture
def odd_connections(monkeypatch: pytest.MonkeyPatch, vyro_conn: EmulatorServer) -> EmulatorServer:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_NO_TOKEN", json.dumps({"conn_type": "vyro", "host": vyro_conn.url}))
    monkeypatch.setenv(
        "AIRFLOW_CONN_VYRO_BAD_EXTRA", conn_json(vyro_conn.url, timeout="soon", backoff_factor=0.01)
    )
    return vyro_conn


def run_operator(**kwargs: Any) -> Any:
    return InpaintOperator(task_id="inpaint", **kwargs).execute(context={})


def test_good_input_writes_png_and_returns_the_xcom_dict(
    vyro_conn: EmulatorServer, workspace: Workspace
) -> None:
    result = run_operator(**workspace.kwargs())
    output = workspace.out / "result.png"
    assert result["output_path"] == str(output)
    assert (result["width"], result["height"], result["skipped"]) == (96, 64, False)
    assert result["bytes"] == output.stat().st_size
    assert workspace.outputs() == [output], "no temp file left behind"
    assert vyro_conn.stats()["requests"] == 1


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_fails_before_any_request_and_writes_nothing(
    odd_connections: EmulatorServer, workspace: Workspace, case: str
) -> None:
    changes, field, words = BAD_INPUTS[case]
    with pytest.raises(VyroInputError) as caught:
        run_operator(**workspace.kwargs(**changes(workspace)))
    assert caught.value.field == field
    assert words.lower() in caught.value.problem.lower(), caught.value.problem
    assert isinstance(caught.value, AirflowFailException), "task retries must not run it again"
    assert odd_connections.stats()["requests"] == 0
    assert workspace.outputs() == []


@pytest.fixture
def s3(vyro_conn: EmulatorServer, workspace: Workspace) -> Iterator[MotoS3Server]:
    with MotoS3Server() as server:
        client = server.client()
        client.create_bucket(Bucket="inputs")
        client.upload_file(str(workspace.image), "inputs", "photo.png")
        client.upload_file(str(workspace.mask), "inputs", "photo_mask.png")
        yield server


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"image_path": "s3://no-such-bucket/photo.png"}, "image_path", "bucket"),
        ({"mask_path": "s3://inputs/missing_mask.png"}, "mask_path", "does not exist"),
        ({"output_path": "s3://no-such-bucket/out.png"}, "output_path", "bucket"),
    ],
    ids=["s3 bucket missing", "s3 key missing", "s3 output bucket missing"],
)
def test_bad_s3_paths_fail_before_any_request(
    vyro_conn: EmulatorServer, s3: MotoS3Server, changes: dict[str, str], field: str, words: str
) -> None:
    kwargs = {
        "image_path": "s3://inputs/photo.png",
        "mask_path": "s3://inputs/photo_mask.png",
        "prompt": "sand",
        "output_path": "s3://inputs/out/photo.png",
        "storage_conn_id": s3.conn_id,
        **changes,
    }
    with pytest.raises(VyroInputError) as caught:
        run_operator(**kwargs)
    assert caught.value.field == field
    assert words in caught.value.problem, caught.value.problem
    assert vyro_conn.stats()["requests"] == 0
    assert "Contents" not in s3.client().list_objects_v2(Bucket="inputs", Prefix="out/")


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ([401], VyroAuthenticationError),
        ([500] * 4, VyroServerError),
        (["drop"] * 4, VyroConnectionError),
        (["truncate"] * 4, VyroResponseError),
        (["html200"] * 4, VyroResponseError),
    ],
    ids=["401", "500 exhausted", "dropped", "truncated", "html instead of png"],
)
def test_failed_call_leaves_no_output(
    vyro_conn: EmulatorServer, workspace: Workspace, script: list[Any], error: type[VyroError]
) -> None:
    vyro_conn.set_faults(script=script)
    with pytest.raises(error):
        run_operator(**workspace.kwargs())
    assert workspace.outputs() == []


def test_failed_s3_call_leaves_no_object(vyro_conn: EmulatorServer, s3: MotoS3Server) -> None:
    vyro_conn.set_faults(script=["truncate"] * 4)
    with pytest.raises(VyroResponseError):
        run_operator(
            image_path="s3://inputs/photo.png",
            mask_path="s3://inputs/photo_mask.png",
            prompt="sand",
            output_path="s3://inputs/out/photo.png",
            storage_conn_id=s3.conn_id,
        )
    assert "Contents" not in s3.client().list_objects_v2(Bucket="inputs", Prefix="out/")


def test_overwrite_false_keeps_existing_output_without_a_call(
    vyro_conn: EmulatorServer, workspace: Workspace
) -> None:
    first = run_operator(**workspace.kwargs())
    second = run_operator(**workspace.kwargs(overwrite=False))
    assert second == {**first, "skipped": True, "attempts": 0, "credits": 0}
    assert vyro_conn.stats()["requests"] == 1


def test_overwrite_false_redoes_an_incomplete_output(vyro_conn: EmulatorServer, workspace: Workspace) -> None:
    broken = workspace.out / "result.png"
    broken.write_bytes(workspace.image.read_bytes()[:50])
    result = run_operator(**workspace.kwargs(overwrite=False))
    assert not result["skipped"]
    with Image.open(io.BytesIO(broken.read_bytes())) as png:
        png.load()
    assert vyro_conn.stats()["requests"] == 1


def test_default_output_path_is_beside_the_image(vyro_conn: EmulatorServer, workspace: Workspace) -> None:
    kwargs = workspace.kwargs()
    del kwargs["output_path"]
    result = run_operator(**kwargs)
    assert result["output_path"] == str(workspace.root / "photo_inpainted.png")
    assert (workspace.root / "photo_inpainted.png").is_file()


def test_bad_inputs_fail_mapped_tasks_in_a_real_dag_run_without_retries(
    airflow_sandbox: AirflowSandbox, airflow_template_db: Path, emulator: EmulatorServer, tmp_path: Path
) -> None:
    workspace = Workspace(tmp_path / "w")
    names = [
        "missing image",
        "gif disguised as png",
        "mask size mismatch",
        "whitespace prompt",
        "non-string prompt from xcom",
        "output equals image",
        "unknown url scheme",
        "missing connection",
    ]
    cases = [workspace.kwargs(**BAD_INPUTS[name][0](workspace)) for name in names]
    sandbox = AirflowSandbox(tmp_path / "airflow-bad", airflow_template_db, TEST_DAGS, airflow_sandbox.env)

    run = sandbox.dags_test("vyro_bad_inputs", conf={"cases": cases})

    assert run.state == "failed", run.describe()
    for index, name in enumerate(names):
        assert run.task_states[("inpaint", index)] == "failed", name
        assert run.try_numbers[("inpaint", index)] == 1, f"{name}: no task retry (retries=2 in the DAG)"
        field, words = BAD_INPUTS[name][1], BAD_INPUTS[name][2]
        named = "Vyro connection" if field == "vyro_conn_id" else f"{field}:"
        assert f"VyroInputError: {named}" in run.output, name
        assert words in run.output, name
    assert emulator.stats()["requests"] == 0
    assert workspace.outputs() == []


def test_expand_and_a_mapped_second_step_fed_by_output_path(
    airflow_template_db: Path, airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    image, mask = make_scene(size=(64, 48), fmt="JPEG")
    names = ["a.jpg", "b.jpg", "c.jpg"]
    for name in names:
        (tmp_path / name).write_bytes(image)
    (tmp_path / "mask.png").write_bytes(mask)
    sandbox = AirflowSandbox(tmp_path / "airflow-chain", airflow_template_db, TEST_DAGS, airflow_sandbox.env)
    conf = {"images": [str(tmp_path / n) for n in names], "mask": str(tmp_path / "mask.png")}

    run = sandbox.dags_test("vyro_mapped_chain", conf=conf)

    assert run.state == "success", run.describe()
    first = run.mapped_xcoms("first")
    second = run.mapped_xcoms("second")
    assert [r["output_path"] for r in first] == [str(tmp_path / f"{n[0]}_inpainted.png") for n in names]
    assert [r["image_path"] for r in second] == [r["output_path"] for r in first]
    assert [r["output_path"] for r in second] == [
        str(tmp_path / f"{n[0]}_inpainted_inpainted.png") for n in names
    ]
    assert run.mapped_xcoms("first", key="output_path") == [r["output_path"] for r in first]
    assert run.xcom("gather") == [r["output_path"] for r in first], 'output["output_path"] of a mapped task'
    assert emulator.stats()["requests"] == 6
