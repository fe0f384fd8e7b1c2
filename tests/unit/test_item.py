"""The item's pieces: full PNG validation, checks, failure classes, the temp-file registry, the ledger key."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import requests
from PIL import Image

from airflow_provider_vyro import item, storage
from airflow_provider_vyro.catalogue import INPAINT, TEXT_TO_IMAGE
from airflow_provider_vyro.exceptions import (
    VyroAPIError,
    VyroAuthenticationError,
    VyroBadRequestError,
    VyroBudgetError,
    VyroConnectionError,
    VyroInputError,
    VyroInsufficientCreditsError,
    VyroOutputWriteError,
    VyroResponseError,
    VyroServerError,
)
from airflow_provider_vyro.ledger import RunKey
from airflow_provider_vyro.streams import PngChunkValidator
from tests.conftest import make_scene


def png(size: tuple[int, int] = (30, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(buffer, "PNG")
    return buffer.getvalue()


def validate(data: bytes, step: int = 7) -> tuple[int, int]:
    validator = PngChunkValidator()
    for offset in range(0, len(data), step):
        validator.feed(data[offset : offset + step])
    return validator.result()


class TestPngChunkValidator:
    @pytest.mark.parametrize("step", [1, 5, 13, 4096])
    def test_a_good_png_in_any_slicing(self, step: int) -> None:
        assert validate(png(), step) == (30, 20)

    def test_a_bad_crc_in_a_data_chunk(self) -> None:
        data = bytearray(png())
        data[8 + 25 + 8] ^= 0xFF
        with pytest.raises(ValueError, match="IDAT chunk is corrupt"):
            validate(bytes(data))

    def test_truncated(self) -> None:
        with pytest.raises(ValueError, match="truncated"):
            validate(png()[:-6])

    def test_bytes_after_iend(self) -> None:
        with pytest.raises(ValueError, match="after its IEND"):
            validate(png() + b"x")

    def test_not_a_png(self) -> None:
        with pytest.raises(ValueError, match="signature"):
            validate(b"GIF89a" + b"\0" * 40)

    def test_first_chunk_not_ihdr(self) -> None:
        body = b"\x00\x00\x00\x00IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
        with pytest.raises(ValueError, match="first chunk is not IHDR"):
            validate(b"\x89PNG\r\n\x1a\n" + body)


class TestChecks:
    def test_text_fields_follow_the_catalogue(self) -> None:
        style = TEXT_TO_IMAGE.text_field("style")
        seed = TEXT_TO_IMAGE.text_field("seed")
        assert style is not None
        assert seed is not None
        assert item.check_text(TEXT_TO_IMAGE, style, None) == "imagine-turbo"
        assert item.check_text(TEXT_TO_IMAGE, seed, "") is None, "a template that rendered nothing"
        assert item.check_text(TEXT_TO_IMAGE, seed, "42") == "42"
        with pytest.raises(VyroInputError, match="style:"):
            item.check_text(TEXT_TO_IMAGE, style, "watercolour")
        with pytest.raises(VyroInputError, match="seed:"):
            item.check_text(TEXT_TO_IMAGE, seed, 0)

    def test_unknown_keys_and_non_dicts(self) -> None:
        with pytest.raises(VyroInputError, match=r"unknown key\(s\) \['colour'\]"):
            item.resolve(INPAINT, {"colour": "red"})
        with pytest.raises(VyroInputError, match="expected a dict"):
            item.resolve(INPAINT, "a string")  # type: ignore[arg-type]

    def test_an_input_that_changed_since_its_check_is_an_input_error(self, tmp_path: Path) -> None:
        image, mask = make_scene()
        (tmp_path / "i.png").write_bytes(image)
        (tmp_path / "m.png").write_bytes(mask)
        values = {"image_path": str(tmp_path / "i.png"), "mask_path": str(tmp_path / "m.png"), "prompt": "p"}
        checked = item.check(item.resolve(INPAINT, values), overwrite=True)
        (tmp_path / "i.png").write_bytes(image + b"\0" * 10)
        with (
            pytest.raises(VyroInputError, match="changed since it was checked"),
            checked.files["image"].open(),
        ):
            pass

    def test_an_input_many_items_give_is_inspected_once_per_run(self, tmp_path: Path) -> None:
        image, mask = make_scene()
        for name in ("a.png", "b.png"):
            (tmp_path / name).write_bytes(image)
        (tmp_path / "m.png").write_bytes(mask)
        shared, inspections = item.Places(), cast("item.Inspections", {})
        checked = [
            item.check(
                item.resolve(
                    INPAINT,
                    {"image_path": str(tmp_path / n), "mask_path": str(tmp_path / "m.png"), "prompt": "p"},
                    shared=shared,
                ),
                overwrite=True,
                inspections=inspections,
            )
            for n in ("a.png", "b.png")
        ]
        assert checked[0].files["mask"] is checked[1].files["mask"]
        assert checked[0].files["image"] is not checked[1].files["image"]
        assert checked[0].resolved.inputs["mask"] is checked[1].resolved.inputs["mask"]
        (tmp_path / "m.png").write_bytes(mask + b"\0")
        with (
            pytest.raises(VyroInputError, match="changed since it was checked"),
            checked[1].files["mask"].open(),
        ):
            pass

    def test_an_existing_output_is_examined_whole(self, tmp_path: Path) -> None:
        out = tmp_path / "o.png"
        out.write_bytes(png())
        existing, why = item.examine_output(storage.resolve(str(out), field="output_path"))
        assert existing is not None
        assert (existing.width, existing.height) == (30, 20)
        assert why == ""
        data = bytearray(png())
        data[40] ^= 1
        out.write_bytes(bytes(data))
        existing, why = item.examine_output(storage.resolve(str(out), field="output_path"))
        assert existing is None
        assert "corrupt" in why


def _connection_error(cause: BaseException) -> VyroConnectionError:
    try:
        raise VyroConnectionError("cannot reach the API") from cause
    except VyroConnectionError as error:
        return error


def _name_not_resolved() -> BaseException:
    """The chain requests raises when the API's host name does not resolve (a mistyped host)."""
    import socket

    from urllib3.exceptions import MaxRetryError, NameResolutionError

    try:
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except socket.gaierror as gai:
            raise NameResolutionError("api.vyro.example", None, gai) from gai  # type: ignore[arg-type]
    except NameResolutionError as reason:
        return requests.ConnectionError(MaxRetryError(None, "/v2/image/generations", reason=reason))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "stops", "kind"),
    [
        (VyroAuthenticationError(401, "no"), True, "account"),
        (VyroInsufficientCreditsError(424, "no"), True, "account"),
        (VyroBadRequestError(404, "no such path"), True, "config"),
        (VyroAPIError(418, "teapot"), True, "config"),
        (VyroAPIError(307, "redirect"), True, "config"),
        (VyroInputError("vyro_conn_id", "no connection"), True, "config"),
        (_connection_error(requests.exceptions.SSLError("certificate verify failed")), True, "config"),
        (_connection_error(requests.ConnectionError(ConnectionRefusedError(111, "refused"))), True, "config"),
        (VyroBudgetError("spent"), True, "config"),
        (_connection_error(_name_not_resolved()), True, "config"),
        (VyroOutputWriteError("s3://b/k.png", "the upload failed", kept_at="/tmp/x"), True, "storage"),
        (VyroBadRequestError(400, "bad"), False, "input"),
        (VyroInputError("image_path", "changed"), False, "input"),
        (VyroServerError(503, "busy"), False, "transient"),
        (VyroResponseError(200, "truncated"), False, "transient"),
        (_connection_error(requests.ReadTimeout("slow")), False, "transient"),
        (OSError(28, "No space left on device"), False, "storage"),
    ],
)
def test_what_a_failure_means(error: BaseException, stops: bool, kind: str) -> None:
    assert item.stops_run(error) is stops
    assert item.classify(error) == kind


def test_temp_files_of_an_abandoned_run_are_deleted_and_commits_refused(tmp_path: Path) -> None:
    temps = storage.TempFiles()
    target = storage.resolve(str(tmp_path / "out.png"), field="output_path")
    left: list[Path] = []

    def write_while_abandoned() -> None:
        with storage.atomic_writer(target, temps) as f:
            f.write(b"partial")
            assert temps.abandon() == 1
            left.extend(tmp_path.iterdir())

    with pytest.raises(RuntimeError, match="stopped"):
        write_while_abandoned()
    assert left == [], "abandon deleted the temporary file at once"
    assert list(tmp_path.iterdir()) == [], "and the commit was refused"


def test_the_run_key_comes_from_the_task_instance() -> None:
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=3)
    context: dict[str, Any] = {"ti": ti}
    key = RunKey.from_context(context)
    assert key == RunKey("d", "r", "t", 3)
    assert key.digest != RunKey("d", "r2", "t", 3).digest
    assert RunKey.from_context({}) is None
