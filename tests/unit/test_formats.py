"""The output's format: decided from the extension before the call, converted with Pillow after it."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from airflow_provider_vyro import formats
from airflow_provider_vyro.catalogue import (
    AI_BACKGROUND,
    GENERATIVE_FILL,
    TEXT_TO_IMAGE,
    TEXT_TO_PNG,
    Endpoint,
)
from airflow_provider_vyro.exceptions import VyroInputError


def encoded(image: Image.Image, fmt: str) -> io.BytesIO:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    buffer.seek(0)
    return buffer


def transparent_disc() -> Image.Image:
    image = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    image.paste((200, 20, 20, 255), (10, 5, 30, 25))
    return image


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("/o/a.png", "PNG"),
        ("s3://b/o/A.JPG", "JPEG"),
        ("o/a.jpeg", "JPEG"),
        ("file:///o/a.webp", "WEBP"),
        ("/o/a.gif", None),
        ("/o/png", None),
    ],
)
def test_the_extension_names_the_format(path: str, fmt: str | None) -> None:
    assert formats.format_of_path(path) == fmt


@pytest.mark.parametrize("endpoint", [TEXT_TO_IMAGE, AI_BACKGROUND, GENERATIVE_FILL])
@pytest.mark.parametrize("extension", [".png", ".jpg", ".webp"])
def test_opaque_answers_may_be_written_in_any_format(endpoint: Endpoint, extension: str) -> None:
    expected = formats.format_of_path(f"a{extension}")
    assert formats.check_output_format(endpoint, f"/o/a{extension}") == expected


def test_jpeg_is_refused_for_the_transparent_endpoint() -> None:
    assert formats.check_output_format(TEXT_TO_PNG, "/o/a.webp") == "WEBP"
    with pytest.raises(VyroInputError, match="alpha channel") as caught:
        formats.check_output_format(TEXT_TO_PNG, "/o/a.jpeg")
    assert caught.value.field == "output_path"


def test_jpeg_is_refused_for_a_generative_fill_of_a_transparent_image() -> None:
    with pytest.raises(VyroInputError, match="transparency"):
        formats.check_output_format(GENERATIVE_FILL, "/o/a.jpg", input_has_alpha=True)
    assert formats.check_output_format(AI_BACKGROUND, "/o/a.jpg", input_has_alpha=True) == "JPEG", (
        "an AI background lays the cut-out on an opaque scene"
    )


def test_an_unknown_extension_is_refused() -> None:
    with pytest.raises(VyroInputError, match=r"\.webp") as caught:
        formats.check_output_format(TEXT_TO_IMAGE, "/o/a.tiff")
    assert caught.value.field == "output_path"


def test_write_as_jpeg_lays_transparency_on_white() -> None:
    out = io.BytesIO()
    written = formats.write_as(encoded(transparent_disc(), "PNG"), "JPEG", out)
    assert "laid on white" in written.note
    image = Image.open(io.BytesIO(out.getvalue()))
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (40, 30))
    assert all(c > 240 for c in image.getpixel((1, 1))), "the transparent corner is white"  # type: ignore[union-attr]
    assert written.size == len(out.getvalue())


def test_write_as_webp_and_png_keep_alpha_losslessly() -> None:
    source = transparent_disc()
    for fmt in ("WEBP", "PNG"):
        out = io.BytesIO()
        written = formats.write_as(encoded(source, "PNG"), fmt, out)
        image = Image.open(io.BytesIO(out.getvalue()))
        assert (image.format, written.format, written.note) == (fmt, fmt, "")
        assert image.convert("RGBA").tobytes() == source.tobytes()


def test_write_as_refuses_what_it_cannot_decode() -> None:
    with pytest.raises(ValueError, match="could not be decoded"):
        formats.write_as(io.BytesIO(b"RIFF\x00\x00\x00\x00WEBPVP8 garbage"), "PNG", io.BytesIO())
