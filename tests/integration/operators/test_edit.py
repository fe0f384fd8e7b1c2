"""
Background removal and upscaling against the emulator: the request on the wire (one file part
``image``, no text field, the v2 header) through the hook, the operators, the batch operators and
``@task.vyro``; the answers; bad input refused before any request.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import DAG, task
from PIL import Image, ImageDraw

from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.hooks.vyro import VyroHook
from airflow_provider_vyro.operators.edit import (
    RemoveBackgroundBatchOperator,
    RemoveBackgroundOperator,
    UpscaleBatchOperator,
    UpscaleOperator,
)
from tests.integration.operators.test_operators_v2 import COMMON

PATHS = {"remove_background": "/v2/image/background/remover", "upscale": "/v2/image/enhance"}
SINGLE = {"remove_background": RemoveBackgroundOperator, "upscale": UpscaleOperator}
BATCH = {"remove_background": RemoveBackgroundBatchOperator, "upscale": UpscaleBatchOperator}
KEYS = COMMON | {"image_path"}


def product_photo(size: tuple[int, int] = (120, 80), fmt: str = "JPEG") -> bytes:
    """A red mug-like block on a plain light background."""
    image = Image.new("RGB", size, (235, 232, 225))
    ImageDraw.Draw(image).rectangle((40, 20, 80, 70), fill=(200, 50, 40))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "mug.jpg"
    path.write_bytes(product_photo())
    return path


def wire(emulator: EmulatorServer, operation: str) -> dict[str, Any]:
    """The last request as the emulator saw it, checked to be the reference's shape for ``operation``."""
    stats = emulator.stats()
    last: dict[str, Any] = stats["last_request"]
    assert (last["operation"], last["path"]) == (operation, PATHS[operation])
    assert last["headers"]["authorization"] == "Bearer ***"
    assert stats["auth"]["bearer"] == 0, "v2 calls never send the v1 header"
    parts = {k for k in last if k not in ("operation", "path", "headers")}
    assert parts == {"image_filename", "image_content_type", "image_bytes"}, "one file part, no text field"
    assert last["image_content_type"] == "image/jpeg"
    assert last["headers"]["content-type"].startswith("multipart/form-data")
    return last


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def check_answer(operation: str, image: Image.Image) -> None:
    """A cut-out is transparent around the subject and opaque on it; an upscale is twice the size."""
    if operation == "remove_background":
        assert image.size == (120, 80)
        alpha = image.convert("RGBA").getchannel("A")
        assert alpha.getpixel((2, 2)) == 0, "the background is cut away"
        assert alpha.getpixel((60, 45)) == 255, "the subject stays"
    else:
        assert image.size == (240, 160)


@pytest.mark.parametrize("operation", sorted(PATHS))
def test_the_hook_sends_the_reference_shape(vyro_conn: EmulatorServer, photo: Path, operation: str) -> None:
    hook = VyroHook()
    answer = getattr(hook, operation)(photo)
    wire(vyro_conn, operation)
    check_answer(operation, opened(answer))
    buffer = io.BytesIO()
    result = getattr(hook, f"{operation}_to")(buffer, image=photo.read_bytes())
    assert (result.format, result.attempts) == ("PNG", 1)
    check_answer(operation, opened(buffer.getvalue()))
    assert vyro_conn.stats()["operations"] == {operation: 2}


@pytest.mark.parametrize("operation", sorted(PATHS))
def test_the_operator_sends_the_reference_shape_and_returns_the_dict(
    vyro_conn: EmulatorServer, photo: Path, operation: str
) -> None:
    result = SINGLE[operation](task_id="edit", image_path=str(photo)).execute(context={})
    wire(vyro_conn, operation)
    assert set(result) == KEYS
    suffix = {"remove_background": "_cutout.png", "upscale": "_upscaled.png"}[operation]
    assert result["output_path"] == str(photo.with_name(f"mug{suffix}"))
    assert (result["operation"], result["api_version"], result["format"]) == (operation, "v2", "PNG")
    assert (result["image_path"], result["prompt"], result["skipped"], result["attempts"]) == (
        str(photo),
        None,
        False,
        1,
    )
    written = opened(Path(result["output_path"]).read_bytes())
    assert written.size == (result["width"], result["height"])
    check_answer(operation, written)


@pytest.mark.parametrize("operation", sorted(PATHS))
def test_the_batch_operator_sends_the_reference_shape_per_item(
    vyro_conn: EmulatorServer, photo: Path, tmp_path: Path, operation: str
) -> None:
    items = [{"image_path": str(photo), "output_path": str(tmp_path / f"out{i}.png")} for i in range(3)]
    results = BATCH[operation](task_id="edit", items=items, max_concurrency=2).execute(context={})
    assert isinstance(results, list)
    wire(vyro_conn, operation)
    assert vyro_conn.stats()["operations"] == {operation: 3}
    assert [r["output_path"] for r in results] == [i["output_path"] for i in items]
    for result in results:
        assert set(result) == KEYS
        check_answer(operation, opened(Path(result["output_path"]).read_bytes()))


@pytest.mark.parametrize("operation", sorted(PATHS))
def test_the_decorator_sends_the_reference_shape_for_one_and_for_many(
    vyro_conn: EmulatorServer, photo: Path, tmp_path: Path, operation: str
) -> None:
    with DAG("edit_taskflow", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:

        @task.vyro(task_id="one", operation=operation)
        def one() -> Any:
            return {"image_path": str(photo), "output_path": str(tmp_path / "one.png")}

        @task.vyro(task_id="many", operation=operation)
        def many() -> Any:
            return [{"image_path": str(photo), "output_path": str(tmp_path / f"m{i}.png")} for i in range(2)]

        one()
        many()
    single = dag.get_task("one").execute({})  # type: ignore[union-attr]
    wire(vyro_conn, operation)
    assert set(single) == KEYS
    assert single["operation"] == operation
    listed = dag.get_task("many").execute({})  # type: ignore[union-attr]
    wire(vyro_conn, operation)
    assert [r["operation"] for r in listed] == [operation, operation]
    assert vyro_conn.stats()["operations"] == {operation: 3}
    check_answer(operation, opened((tmp_path / "m1.png").read_bytes()))


def test_a_transparent_photo_upscaled_keeps_its_transparency(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.png"
    cut.write_bytes(VyroHook().remove_background(product_photo()))
    result = UpscaleOperator(task_id="up", image_path=str(cut)).execute(context={})
    upscaled = opened(Path(result["output_path"]).read_bytes())
    assert upscaled.mode == "RGBA"
    assert upscaled.getchannel("A").getpixel((4, 4)) == 0


# --- bad input: refused naming the field, 0 requests, nothing written ------------------------


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.mark.parametrize("operation", sorted(PATHS))
@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("notes.txt", b"not a photo at all\n", "not a JPEG or PNG"),
        ("anim.gif", None, "GIF"),
        ("missing.jpg", b"", "does not exist"),
    ],
)
def test_a_bad_photo_is_refused_before_any_request(
    vyro_conn: EmulatorServer, tmp_path: Path, operation: str, name: str, content: bytes | None, words: str
) -> None:
    path = tmp_path / name
    if name != "missing.jpg":
        path.write_bytes(gif() if content is None else content)
    out = tmp_path / "out"
    with pytest.raises(VyroInputError) as caught:
        SINGLE[operation](task_id="x", image_path=str(path), output_path=str(out / "a.png")).execute(
            context={}
        )
    assert caught.value.field == "image_path"
    assert words in caught.value.problem
    items = [{"image_path": str(path), "output_path": str(out / "a.png")}]
    with pytest.raises(VyroInputError) as caught:
        BATCH[operation](task_id="x", items=items).execute(context={})
    assert caught.value.field == "items"
    assert "items[0].image_path: " in caught.value.problem
    assert words in caught.value.problem
    assert vyro_conn.stats()["requests"] == 0
    assert not out.exists()


def test_a_jpeg_output_for_a_cut_out_is_refused_before_any_request(
    vyro_conn: EmulatorServer, photo: Path, tmp_path: Path
) -> None:
    with pytest.raises(VyroInputError) as caught:
        RemoveBackgroundOperator(
            task_id="x", image_path=str(photo), output_path=str(tmp_path / "c.jpg")
        ).execute(context={})
    assert caught.value.field == "output_path"
    assert "transparent" in caught.value.problem
    assert vyro_conn.stats()["requests"] == 0
    assert not (tmp_path / "c.jpg").exists()


# --- answers that break the operation's promise: kept, and the log warns with both sizes ----


def test_a_cut_out_without_alpha_is_kept_and_the_log_warns(
    vyro_conn: EmulatorServer,
    photo: Path,
    tmp_path: Path,
    logged: Callable[[], str],
) -> None:
    vyro_conn.set_faults(answer_format={"remove_background": "JPEG"})
    result = RemoveBackgroundOperator(
        task_id="cut", image_path=str(photo), output_path=str(tmp_path / "cut.png")
    ).execute(context={})
    assert opened((tmp_path / "cut.png").read_bytes()).mode == "RGB", "the paid answer is kept as it came"
    assert result["format"] == "PNG"
    text = logged()
    assert "remove_background: the answer has no alpha channel (input 120x80, answer 120x80" in text
    assert f"it is kept at {tmp_path / 'cut.png'}" in text


def test_an_upscale_not_larger_is_kept_and_the_log_warns(
    vyro_conn: EmulatorServer,
    photo: Path,
    tmp_path: Path,
    logged: Callable[[], str],
) -> None:
    result = UpscaleOperator(
        task_id="up",
        image_path=str(photo),
        output_path=str(tmp_path / "same.png"),
        endpoint="/v2/image/background/remover",  # answers the input's size
    ).execute(context={})
    assert (result["width"], result["height"]) == (120, 80)
    assert "upscale: the answer is not larger than its input (input 120x80, answer 120x80)" in logged()


def test_answers_that_keep_their_promise_raise_no_warning(
    vyro_conn: EmulatorServer,
    photo: Path,
    tmp_path: Path,
    logged: Callable[[], str],
) -> None:
    RemoveBackgroundOperator(
        task_id="cut", image_path=str(photo), output_path=str(tmp_path / "c.png")
    ).execute(context={})
    UpscaleOperator(task_id="up", image_path=str(photo), output_path=str(tmp_path / "u.png")).execute(
        context={}
    )
    assert "it was paid for" not in logged()


@pytest.mark.parametrize("operation", sorted(PATHS))
def test_the_emulator_faults_reach_both_operations(
    vyro_conn: EmulatorServer, photo: Path, operation: str
) -> None:
    vyro_conn.set_faults(script=[503, "truncate", "ok"])
    result = SINGLE[operation](task_id="edit", image_path=str(photo)).execute(context={})
    assert result["attempts"] == 3, "a 503 and a truncated answer retried, then written"
    assert vyro_conn.stats()["operations"] == {operation: 3}
    check_answer(operation, opened(Path(result["output_path"]).read_bytes()))
