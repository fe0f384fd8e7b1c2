"""
The operators of every operation against the emulator: the request on the wire, the dict a task
returns, bad arguments refused before any request, outputs in the format their extension names,
and batches through the same runner.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException
from PIL import Image, ImageDraw

from airflow_provider_vyro import formats
from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.exceptions import VyroInputError, VyroOutputWriteError
from airflow_provider_vyro.operators.background import AIBackgroundBatchOperator, AIBackgroundOperator
from airflow_provider_vyro.operators.generate import TextToImageBatchOperator, TextToImageOperator
from airflow_provider_vyro.operators.generic import VyroImageOperator
from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator, InpaintOperator
from tests.conftest import encode, make_scene

COMMON = {
    "operation",
    "output_path",
    "format",
    "width",
    "height",
    "bytes",
    "sha256",
    "skipped",
    "attempts",
    "prompt",
    "api_version",
    "credits",
    "try_number",
}
PILLOW_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WEBP"}


def cutout(size: tuple[int, int] = (80, 60), *, alpha: bool = True) -> Image.Image:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((20, 10, 60, 50), fill=(200, 40, 40, 255))
    return image if alpha else image.convert("RGB")


class Files:
    """Inputs on disk: a JPEG scene and its mask, an RGBA cut-out; outputs under ``out``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        image, mask = make_scene(size=(96, 64), fmt="JPEG")
        self.image = self.write("photo.jpg", image)
        self.mask = self.write("photo_mask.png", mask)
        self.cutout = self.write("bottle.png", encode(cutout(), "PNG"))
        self.out = root / "out"

    def write(self, name: str, data: bytes) -> Path:
        path = self.root / name
        path.write_bytes(data)
        return path

    def outputs(self) -> list[Path]:
        return sorted(self.out.rglob("*")) if self.out.exists() else []


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path)


def last_request(emulator: EmulatorServer) -> dict[str, Any]:
    stats = emulator.stats()
    assert stats["auth"]["bearer"] == 0, "v2 calls send Authorization: Bearer, never the v1 header"
    last: dict[str, Any] = stats["last_request"]
    assert last["headers"]["authorization"] == "Bearer ***"
    return last


def assert_file_matches(result: dict[str, Any]) -> None:
    """The file at output_path is what the dict says: format, size, bytes, checksum."""
    data = Path(result["output_path"]).read_bytes()
    assert len(data) == result["bytes"]
    assert hashlib.sha256(data).hexdigest() == result["sha256"]
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == PILLOW_FORMATS[result["format"]]
        assert image.size == (result["width"], result["height"])


# --- each operation: the request and the dict -------------------------------------------------


def test_inpaint_v2_is_generative_fill(vyro_conn: EmulatorServer, files: Files) -> None:
    result = InpaintOperator(
        task_id="fill",
        image_path=str(files.image),
        mask_path=str(files.mask),
        prompt="a hand full of petals",
        output_path=str(files.out / "filled.png"),
        api_version="v2",
    ).execute(context={})
    last = last_request(vyro_conn)
    assert (last["operation"], last["path"]) == ("generative_fill", "/v2/image/edits/generative-fill")
    assert last["prompt"] == "a hand full of petals"
    assert "model_version" not in last, "model_version belongs to v1"
    assert (last["image_content_type"], last["mask_content_type"]) == ("image/jpeg", "image/png")
    assert set(result) == COMMON | {"image_path", "mask_path"}
    assert (result["operation"], result["api_version"], result["format"]) == ("generative_fill", "v2", "PNG")
    assert (result["image_path"], result["mask_path"]) == (str(files.image), str(files.mask))
    assert (result["width"], result["height"], result["attempts"], result["skipped"]) == (96, 64, 1, False)
    assert_file_matches(result)


def test_inpaint_v1_dict_keeps_its_keys(vyro_conn: EmulatorServer, files: Files) -> None:
    result = InpaintOperator(
        task_id="inpaint",
        image_path=str(files.image),
        mask_path=str(files.mask),
        prompt="sand",
        output_path=str(files.out / "v1.png"),
    ).execute(context={})
    assert set(result) == COMMON | {"image_path", "mask_path", "model_version"}
    assert (result["operation"], result["api_version"], result["model_version"]) == ("inpaint", "v1", "1")
    assert vyro_conn.stats()["auth"]["bearer"] == 1, "v1 sends the bearer header"


def test_text_to_image_request_and_dict(vyro_conn: EmulatorServer, files: Files) -> None:
    result = TextToImageOperator(
        task_id="generate",
        prompt="a lighthouse on a cliff",
        output_path=str(files.out / "lighthouse.png"),
        style="flux-dev",
        aspect_ratio="16:9",
        seed=42,
    ).execute(context={})
    last = last_request(vyro_conn)
    assert (last["operation"], last["path"]) == ("text_to_image", "/v2/image/generations")
    assert (last["prompt"], last["style"], last["aspect_ratio"], last["seed"]) == (
        "a lighthouse on a cliff",
        "flux-dev",
        "16:9",
        "42",
    )
    assert set(result) == COMMON | {"style", "aspect_ratio", "seed", "transparent"}
    assert (result["style"], result["aspect_ratio"], result["seed"], result["transparent"]) == (
        "flux-dev",
        "16:9",
        "42",
        False,
    )
    assert (result["width"], result["height"]) == (512, 288)
    assert_file_matches(result)


def test_text_to_image_seed_is_null_when_not_given(vyro_conn: EmulatorServer, files: Files) -> None:
    result = TextToImageOperator(
        task_id="generate", prompt="a fox", output_path=str(files.out / "fox.png")
    ).execute(context={})
    assert result["seed"] is None
    assert (result["style"], result["aspect_ratio"]) == ("imagine-turbo", "1:1")
    assert last_request(vyro_conn)["seed"] is None, "no seed field sent"


def test_transparent_calls_the_transparent_endpoint_without_style(
    vyro_conn: EmulatorServer, files: Files
) -> None:
    result = TextToImageOperator(
        task_id="generate",
        prompt="a red balloon",
        output_path=str(files.out / "balloon.webp"),
        aspect_ratio="3:4",
        transparent=True,
    ).execute(context={})
    last = last_request(vyro_conn)
    assert (last["operation"], last["path"]) == ("text_to_png", "/v2/image/generations/transparent")
    assert "style" not in last, "the transparent endpoint has no style"
    assert set(result) == COMMON | {"style", "aspect_ratio", "seed", "transparent"}
    assert (result["operation"], result["style"], result["transparent"]) == ("text_to_png", None, True)
    assert result["format"] == "WEBP"
    assert_file_matches(result)
    with Image.open(result["output_path"]) as image:
        assert image.mode == "RGBA", "WebP keeps the transparency"


def test_ai_background_request_and_dict(vyro_conn: EmulatorServer, files: Files) -> None:
    result = AIBackgroundOperator(
        task_id="background",
        image_path=str(files.cutout),
        prompt="on a marble table",
        seed=7,
    ).execute(context={})
    last = last_request(vyro_conn)
    assert (last["operation"], last["path"]) == ("ai_background", "/v2/image/generations/ai-background")
    assert (last["prompt"], last["style"], last["seed"]) == ("on a marble table", "product-shoot", "7")
    assert last["image_content_type"] == "image/png"
    assert set(result) == COMMON | {"image_path", "style", "seed"}
    assert result["output_path"] == str(files.root / "bottle_background.png"), "default beside the cut-out"
    assert (result["operation"], result["style"], result["seed"]) == ("ai_background", "product-shoot", "7")
    assert_file_matches(result)


def test_generic_operator_request_and_dict(vyro_conn: EmulatorServer, files: Files) -> None:
    result = VyroImageOperator(
        task_id="generic",
        endpoint="/v2/image/generations/ai-background",
        fields={"prompt": "a beach at noon", "seed": 3},
        files={"image": str(files.cutout)},
    ).execute(context={})
    last = last_request(vyro_conn)
    assert last["path"] == "/v2/image/generations/ai-background"
    assert (last["prompt"], last["seed"], last["style"]) == ("a beach at noon", "3", None)
    assert set(result) == COMMON | {"endpoint", "files", "fields"}
    assert result["endpoint"] == "/v2/image/generations/ai-background"
    assert result["files"] == {"image": str(files.cutout)}
    assert result["fields"] == {"prompt": "a beach at noon", "seed": "3"}
    assert (result["operation"], result["prompt"]) == ("image", "a beach at noon")
    assert result["output_path"] == str(files.root / "bottle_result.png")
    assert_file_matches(result)


# --- bad arguments: refused before any request, nothing written ----------------------------------


def _fill(files: Files, **changes: Any) -> InpaintOperator:
    kwargs: dict[str, Any] = {
        "task_id": "fill",
        "image_path": str(files.image),
        "mask_path": str(files.mask),
        "prompt": "petals",
        "output_path": str(files.out / "filled.png"),
        "api_version": "v2",
        **changes,
    }
    return InpaintOperator(**kwargs)


def _generate(files: Files, **changes: Any) -> TextToImageOperator:
    kwargs: dict[str, Any] = {
        "task_id": "generate",
        "prompt": "a fox",
        "output_path": str(files.out / "fox.png"),
        **changes,
    }
    return TextToImageOperator(**kwargs)


def _background(files: Files, **changes: Any) -> AIBackgroundOperator:
    kwargs: dict[str, Any] = {
        "task_id": "background",
        "image_path": str(files.cutout),
        "prompt": "a marble table",
        "output_path": str(files.out / "bottle.png"),
        **changes,
    }
    return AIBackgroundOperator(**kwargs)


def _generic(files: Files, **changes: Any) -> VyroImageOperator:
    kwargs: dict[str, Any] = {
        "task_id": "generic",
        "endpoint": "/v2/image/generations",
        "fields": {"prompt": "a fox"},
        "output_path": str(files.out / "fox.png"),
        **changes,
    }
    return VyroImageOperator(**kwargs)


def _jpeg_input(files: Files) -> str:
    return str(files.write("bottle.jpg", encode(cutout(alpha=False), "JPEG")))


def _opaque_png(files: Files) -> str:
    return str(files.write("opaque.png", encode(cutout(alpha=False), "PNG")))


def _rgba_scene(files: Files) -> dict[str, Any]:
    return {"image_path": str(files.write("rgba.png", encode(cutout((96, 64)), "PNG")))}


BAD: dict[str, tuple[Any, str, str]] = {
    "fill: model_version with v2": (lambda f: _fill(f, model_version="2"), "model_version", "v1"),
    "fill: .jpg for an image with transparency": (
        lambda f: _fill(f, **_rgba_scene(f), output_path=str(f.out / "x.jpg")),
        "output_path",
        "alpha",
    ),
    "fill: .gif output": (lambda f: _fill(f, output_path=str(f.out / "x.gif")), "output_path", ".webp"),
    "fill: blank prompt": (lambda f: _fill(f, prompt="   "), "prompt", "whitespace"),
    "generate: unknown style": (lambda f: _generate(f, style="Anime"), "style", "'anime'"),
    "generate: unknown aspect ratio": (lambda f: _generate(f, aspect_ratio="2:1"), "aspect_ratio", "16:9"),
    "generate: seed 0": (lambda f: _generate(f, seed=0), "seed", ">= 1"),
    "generate: seed 1.5": (lambda f: _generate(f, seed=1.5), "seed", "whole number"),
    "generate: no output path": (lambda f: _generate(f, output_path=None), "output_path", "required"),
    "transparent: a style": (lambda f: _generate(f, transparent=True, style="anime"), "style", "no style"),
    "transparent: .jpg output": (
        lambda f: _generate(f, transparent=True, output_path=str(f.out / "x.jpg")),
        "output_path",
        "transparent",
    ),
    "background: a JPEG": (
        lambda f: _background(f, image_path=_jpeg_input(f)),
        "image_path",
        "cannot be transparent",
    ),
    "background: an opaque PNG": (
        lambda f: _background(f, image_path=_opaque_png(f)),
        "image_path",
        "no transparency",
    ),
    "background: unknown style": (lambda f: _background(f, style="studio"), "style", "product-shoot"),
    "background: seed -1": (lambda f: _background(f, seed=-1), "seed", ">= 1"),
    "generic: a host in the path": (
        lambda f: _generic(f, endpoint="https://evil.example/v2/x"),
        "path",
        "/v2/",
    ),
    "generic: a path traversal": (lambda f: _generic(f, endpoint="/v2/../admin"), "path", "plain segments"),
    "generic: a float field": (
        lambda f: _generic(f, fields={"prompt": "a", "seed": 1.5}),
        "seed",
        "whole number",
    ),
    "generic: no output and no file": (lambda f: _generic(f, output_path=None), "output_path", "required"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_argument_refused_before_any_request(vyro_conn: EmulatorServer, files: Files, case: str) -> None:
    build, field, words = BAD[case]
    with pytest.raises(VyroInputError) as caught:
        build(files).execute(context={})
    assert caught.value.field == field, caught.value
    assert words.lower() in caught.value.problem.lower(), caught.value.problem
    assert isinstance(caught.value, AirflowFailException)
    assert vyro_conn.stats()["requests"] == 0
    assert files.outputs() == []


def test_unknown_api_version_refused_when_the_task_is_built(files: Files) -> None:
    with pytest.raises(VyroInputError) as caught:
        _fill(files, api_version="v3")
    assert caught.value.field == "api_version"


# --- formats: the output is in the format its extension names ------------------------------------


@pytest.mark.parametrize(
    ("answer", "extension", "written"),
    [("JPEG", ".png", "PNG"), ("WEBP", ".jpg", "JPEG"), ("PNG", ".webp", "WEBP"), ("WEBP", ".jpeg", "JPEG")],
)
def test_an_answer_in_another_format_is_converted_and_logged(
    vyro_conn: EmulatorServer,
    files: Files,
    caplog: pytest.LogCaptureFixture,
    answer: str,
    extension: str,
    written: str,
) -> None:
    vyro_conn.set_faults(answer_format=answer)
    with caplog.at_level(logging.INFO):
        result = _generate(files, output_path=str(files.out / f"fox{extension}")).execute(context={})
    assert result["format"] == written
    assert_file_matches(result)
    assert f"the answer was a {answer}" in caplog.text
    assert f"converted to {written}" in caplog.text
    assert [p.name for p in files.outputs()] == [f"fox{extension}"], "no temporary file left"


def test_a_paid_answer_that_cannot_be_converted_is_kept_and_the_task_not_retried(
    vyro_conn: EmulatorServer, files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    def undecodable(source: Any, fmt: str, destination: Any) -> Any:
        raise ValueError("the answer could not be decoded: broken data stream")

    monkeypatch.setattr(formats, "write_as", undecodable)
    vyro_conn.set_faults(answer_format="WEBP")
    with pytest.raises(VyroOutputWriteError) as caught:
        _generate(files, output_path=str(files.out / "fox.jpg")).execute(context={})

    assert isinstance(caught.value, AirflowFailException), "a task retry would pay again"
    kept = files.out / "fox.answer.webp"
    assert caught.value.kept_at == str(kept)
    assert str(kept) in str(caught.value)
    assert kept.read_bytes().startswith(b"RIFF"), "the paid answer is kept under its own extension"
    assert [p.name for p in files.outputs()] == ["fox.answer.webp"], "no output, no temporary file"
    assert vyro_conn.stats()["requests"] == 1


def test_an_answer_in_the_output_format_is_written_as_received(
    vyro_conn: EmulatorServer, files: Files
) -> None:
    vyro_conn.set_faults(answer_format="JPEG")
    result = _background(files, output_path=str(files.out / "bottle.jpg")).execute(context={})
    assert result["format"] == "JPEG"
    assert_file_matches(result)


def test_a_transparent_answer_written_as_webp_keeps_alpha_as_png(
    vyro_conn: EmulatorServer, files: Files
) -> None:
    vyro_conn.set_faults(answer_format="WEBP")
    result = _generate(files, transparent=True, output_path=str(files.out / "balloon.png")).execute(
        context={}
    )
    assert result["format"] == "PNG"
    with Image.open(result["output_path"]) as image:
        assert image.mode == "RGBA"
        assert image.getchannel("A").getextrema()[0] == 0, "the background is still transparent"


@pytest.mark.parametrize("extension", [".jpg", ".webp", ".png"])
def test_overwrite_false_keeps_an_intact_output_of_any_format(
    vyro_conn: EmulatorServer, files: Files, extension: str
) -> None:
    path = str(files.out / f"fox{extension}")
    first = _generate(files, output_path=path).execute(context={})
    second = _generate(files, output_path=path, overwrite=False).execute(context={})
    assert second == {**first, "skipped": True, "attempts": 0, "credits": 0}
    assert vyro_conn.stats()["requests"] == 1


@pytest.mark.parametrize("extension", [".jpg", ".webp"])
def test_overwrite_false_redoes_a_truncated_output(
    vyro_conn: EmulatorServer, files: Files, extension: str
) -> None:
    path = files.out / f"fox{extension}"
    first = _generate(files, output_path=str(path)).execute(context={})
    path.write_bytes(path.read_bytes()[: first["bytes"] - 40])
    again = _generate(files, output_path=str(path), overwrite=False).execute(context={})
    assert not again["skipped"]
    assert_file_matches(again)
    assert vyro_conn.stats()["requests"] == 2


# --- batches ---------------------------------------------------------------------------------------


def run_batch(operator: Any) -> list[dict[str, Any]]:
    results = operator.execute(context={})
    assert isinstance(results, list)
    return results


def test_text_to_image_batch(vyro_conn: EmulatorServer, files: Files) -> None:
    prompts = ["a red fox", "a blue whale", "a green parrot"]
    results = run_batch(
        TextToImageBatchOperator(
            task_id="batch",
            items=[{"prompt": p, "output_path": str(files.out / f"{i}.webp")} for i, p in enumerate(prompts)],
            style="anime",
            seed=5,
            max_concurrency=3,
        )
    )
    assert [r["prompt"] for r in results] == prompts
    assert {(r["style"], r["seed"], r["format"], r["operation"]) for r in results} == {
        ("anime", "5", "WEBP", "text_to_image")
    }
    for result in results:
        assert_file_matches(result)
    assert vyro_conn.stats()["operations"] == {"text_to_image": 3}


def test_transparent_batch_refuses_a_style(vyro_conn: EmulatorServer, files: Files) -> None:
    operator = TextToImageBatchOperator(
        task_id="batch",
        items=[{"prompt": "a", "output_path": str(files.out / "a.png"), "style": "anime"}],
        transparent=True,
    )
    with pytest.raises(VyroInputError) as caught:
        operator.execute(context={})
    assert caught.value.field == "items[0].style"
    assert vyro_conn.stats()["requests"] == 0


def test_ai_background_batch(vyro_conn: EmulatorServer, files: Files) -> None:
    second = files.write("vase.png", encode(cutout((64, 64)), "PNG"))
    results = run_batch(
        AIBackgroundBatchOperator(
            task_id="batch",
            items=[{"image_path": str(files.cutout)}, {"image_path": str(second), "prompt": "a garden"}],
            prompt="a marble table",
        )
    )
    assert [r["prompt"] for r in results] == ["a marble table", "a garden"]
    assert [Path(r["output_path"]).name for r in results] == ["bottle_background.png", "vase_background.png"]
    for result in results:
        assert_file_matches(result)
    assert vyro_conn.stats()["operations"] == {"ai_background": 2}


def test_inpaint_batch_v2(vyro_conn: EmulatorServer, files: Files) -> None:
    second = files.write("other.png", make_scene(size=(96, 64))[0])
    results = run_batch(
        InpaintBatchOperator(
            task_id="batch",
            items=[
                {"image_path": str(files.image), "mask_path": str(files.mask)},
                {"image_path": str(second), "mask_path": str(files.mask), "model_version": "1"},
            ],
            prompt="petals",
            api_version="v2",
        )
    )
    assert [r["operation"] for r in results] == ["generative_fill", "generative_fill"]
    assert all("model_version" not in r for r in results)
    assert [Path(r["output_path"]).name for r in results] == ["photo_filled.png", "other_filled.png"]
    assert vyro_conn.stats()["operations"] == {"generative_fill": 2}


def test_inpaint_batch_v2_refuses_an_item_model_version(vyro_conn: EmulatorServer, files: Files) -> None:
    operator = InpaintBatchOperator(
        task_id="batch",
        items=[{"image_path": str(files.image), "mask_path": str(files.mask), "model_version": "2"}],
        prompt="petals",
        api_version="v2",
    )
    with pytest.raises(VyroInputError) as caught:
        operator.execute(context={})
    assert caught.value.field == "items[0].model_version"
    assert vyro_conn.stats()["requests"] == 0
