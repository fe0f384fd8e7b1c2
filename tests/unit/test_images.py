from __future__ import annotations

import io
import re
import struct
import zlib
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from airflow_provider_vyro import images
from airflow_provider_vyro.checks import (
    check_mask_matches,
    check_model_version,
    check_prompt,
)
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.images import (
    PNG_IEND_CHUNK,
    PNG_SIGNATURE,
    ImageInfo,
    content_type,
    describe_format,
    inspect_image,
    is_complete_png_tail,
    png_dimensions,
    sniff_format,
)

if TYPE_CHECKING:
    from pathlib import Path


def encode(fmt: str, *, mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color=None if mode in ("1", "P") else 0).save(buffer, fmt)
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def inspect_file(path: Path, field: str = "image") -> ImageInfo:
    with path.open("rb") as f:
        return inspect_image(f, field=field, name=str(path))


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A complete-looking PNG whose IHDR claims a size; the pixel data is never allocated."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + PNG_IEND_CHUNK


def jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode("JPEG"))
    sof = data.find(b"\xff\xc0")
    assert sof > 0
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def encode_noise(fmt: str, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(buffer, fmt)
    return buffer.getvalue()


PNG = encode("PNG")
JPEG = encode_noise("JPEG", (256, 192))


class TestSniffAndDescribe:
    def test_supported_formats(self) -> None:
        assert sniff_format(PNG) == "PNG"
        assert sniff_format(JPEG) == "JPEG"

    @pytest.mark.parametrize("fmt", ["GIF", "WEBP", "BMP", "TIFF"])
    def test_other_images_are_not_supported(self, fmt: str) -> None:
        assert sniff_format(encode(fmt)) is None

    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            (b"", "an empty file"),
            (PNG, "a PNG image"),
            (JPEG, "a JPEG image"),
            (encode("GIF"), "a GIF image"),
            (encode("WEBP"), "a WebP image"),
            (encode("BMP"), "a BMP image"),
            (encode("TIFF"), "a TIFF image"),
            (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "a HEIC/HEIF image"),
            (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "an AVIF image"),
            (b"%PDF-1.7\n", "a PDF document"),
            (b'{"error": "not found"}', "text"),
            ("une fleur épanouie 🌸".encode()[:22], "text"),
            (bytes(range(256))[:64], "unknown binary data"),
        ],
    )
    def test_describe_format(self, data: bytes, expected: str) -> None:
        assert describe_format(data[:64]) == expected

    @given(st.binary(max_size=128))
    def test_never_raises_on_arbitrary_bytes(self, data: bytes) -> None:
        assert sniff_format(data) in (None, "JPEG", "PNG")
        assert isinstance(describe_format(data), str)

    def test_content_type(self) -> None:
        assert content_type("JPEG") == "image/jpeg"
        assert content_type("PNG") == "image/png"
        assert ImageInfo("PNG", 8, 8, "RGB", 10).content_type == "image/png"
        with pytest.raises(ValueError, match="GIF"):
            content_type("GIF")


class TestInspectImage:
    @pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
    def test_good_image(self, tmp_path: Path, fmt: str) -> None:
        data = encode(fmt, size=(640, 480))
        path = write(tmp_path / "photo.bin", data)
        assert inspect_file(path) == ImageInfo(fmt, 640, 480, "RGB", len(data))

    def test_position_is_restored_and_size_may_be_given(self) -> None:
        f = io.BytesIO(PNG)
        f.seek(5)
        info = inspect_image(f, field="image", name="mem", size=len(PNG))
        assert (info.width, info.height, info.size) == (64, 48, len(PNG))
        assert f.tell() == 5
        assert not f.closed

    def test_position_is_restored_after_a_rejection(self) -> None:
        f = io.BytesIO(b"GIF89a" + b"\x00" * 100)
        f.seek(3)
        with pytest.raises(VyroInputError):
            inspect_image(f, field="image", name="mem")
        assert f.tell() == 3

    @pytest.mark.parametrize(
        ("fmt", "what"),
        [("GIF", "a GIF image"), ("WEBP", "a WebP image"), ("BMP", "a BMP image"), ("TIFF", "a TIFF image")],
    )
    def test_other_formats_named_png_are_rejected_by_content(
        self, tmp_path: Path, fmt: str, what: str
    ) -> None:
        path = write(tmp_path / "x.png", encode(fmt))
        with pytest.raises(VyroInputError) as info:
            inspect_file(path)
        assert info.value.field == "image"
        assert info.value.problem == f"'{path}' is {what}, not a JPEG or PNG image"

    def test_text_named_png(self, tmp_path: Path) -> None:
        path = write(tmp_path / "x.png", b"<html><body>Not Found</body></html>\n")
        with pytest.raises(VyroInputError, match="is text, not a JPEG or PNG image"):
            inspect_file(path)

    def test_empty_file(self, tmp_path: Path) -> None:
        path = write(tmp_path / "empty.png", b"")
        with pytest.raises(VyroInputError) as info:
            inspect_file(path, field="mask_path")
        assert info.value.field == "mask_path"
        assert info.value.problem == f"'{path}' is an empty file (0 bytes)"

    def test_over_the_byte_limit_is_rejected_before_reading(self) -> None:
        with pytest.raises(VyroInputError, match=r"is 101\.0 MiB; the largest image accepted is 100\.0 MiB"):
            inspect_image(io.BytesIO(PNG), field="image", name="big.png", size=101 * 1024 * 1024)

    @pytest.mark.parametrize("cut", [1, 12, len(PNG) // 2])
    def test_truncated_png(self, tmp_path: Path, cut: int) -> None:
        path = write(tmp_path / "cut.png", PNG[:-cut])
        with pytest.raises(VyroInputError, match="truncated PNG image"):
            inspect_file(path)

    def test_png_cut_inside_its_header(self, tmp_path: Path) -> None:
        path = write(tmp_path / "cut.png", PNG[:20])
        with pytest.raises(VyroInputError, match="corrupt or truncated PNG image"):
            inspect_file(path)

    @pytest.mark.parametrize("cut", [1, 2, 100])
    def test_truncated_jpeg(self, tmp_path: Path, cut: int) -> None:
        path = write(tmp_path / "cut.jpg", JPEG[:-cut])
        with pytest.raises(VyroInputError, match=r"truncated JPEG image: .*end-of-image marker"):
            inspect_file(path)

    @pytest.mark.parametrize("padding", [b"\x00" * 16, b"\r\n", b" \n\x00"])
    def test_jpeg_with_trailing_padding_is_accepted(self, tmp_path: Path, padding: bytes) -> None:
        path = write(tmp_path / "padded.jpg", JPEG + padding)
        assert inspect_file(path).format == "JPEG"

    def test_jpeg_with_trailing_data_is_rejected(self, tmp_path: Path) -> None:
        path = write(tmp_path / "trailer.jpg", JPEG + b"\x00" * 17)
        with pytest.raises(VyroInputError, match="truncated JPEG"):
            inspect_file(path)

    def test_jpeg_with_corrupt_header(self, tmp_path: Path) -> None:
        path = write(tmp_path / "bad.jpg", b"\xff\xd8\xff" + b"\x01" * 200 + b"\xff\xd9")
        with pytest.raises(VyroInputError, match="corrupt or truncated JPEG image"):
            inspect_file(path)

    def test_png_whose_first_chunk_is_not_ihdr(self, tmp_path: Path) -> None:
        data = PNG_SIGNATURE + png_chunk(b"IDAT", b"\x00" * 13) + PNG_IEND_CHUNK
        path = write(tmp_path / "bad.png", data)
        with pytest.raises(
            VyroInputError, match="corrupt or truncated PNG image: its first chunk is not IHDR"
        ):
            inspect_file(path)

    def test_huge_png_dimensions_are_rejected_from_the_header(self, tmp_path: Path) -> None:
        path = write(tmp_path / "huge.png", png_claiming(100_000, 100_000))
        with pytest.raises(VyroInputError) as info:
            inspect_file(path)
        assert "is 100000x100000 pixels (10000.0 megapixels)" in info.value.problem
        assert "the limit is 67108864 pixels" in info.value.problem

    def test_huge_jpeg_dimensions_are_rejected(self, tmp_path: Path) -> None:
        path = write(tmp_path / "huge.jpg", jpeg_claiming(60_000, 50_000))
        with pytest.raises(VyroInputError, match=r"is 60000x50000 pixels \(3000\.0 megapixels\); the limit"):
            inspect_file(path)

    def test_jpeg_just_over_the_pixel_limit(self, tmp_path: Path) -> None:
        path = write(tmp_path / "big.jpg", jpeg_claiming(8193, 8192))
        with pytest.raises(VyroInputError, match="is 8193x8192 pixels"):
            inspect_file(path)

    def test_pixel_limit_itself_is_accepted(self, tmp_path: Path) -> None:
        path = write(tmp_path / "edge.png", png_claiming(8192, 8192))
        assert (inspect_file(path).width, inspect_file(path).height) == (8192, 8192)

    def test_too_small(self, tmp_path: Path) -> None:
        path = write(tmp_path / "tiny.png", encode("PNG", size=(7, 100)))
        with pytest.raises(VyroInputError, match="is 7x100 pixels; each side must be at least 8"):
            inspect_file(path)


class TestMask:
    @pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA"])
    def test_accepted_modes(self, tmp_path: Path, mode: str) -> None:
        image = inspect_file(write(tmp_path / "image.jpg", encode("JPEG")))
        mask = inspect_file(write(tmp_path / "mask.png", encode("PNG", mode=mode)), field="mask")
        assert mask.mode == mode
        check_mask_matches(image, mask, name="mask.png")

    @pytest.mark.parametrize(("fmt", "mode"), [("JPEG", "CMYK"), ("PNG", "I;16")])
    def test_rejected_modes(self, tmp_path: Path, fmt: str, mode: str) -> None:
        image = inspect_file(write(tmp_path / "image.png", PNG))
        mask = inspect_file(write(tmp_path / "mask.bin", encode(fmt, mode=mode)), field="mask")
        with pytest.raises(VyroInputError) as info:
            check_mask_matches(image, mask, name="mask.bin")
        assert info.value.field == "mask"
        assert f"has the pixel mode {mode!r}" in info.value.problem

    @pytest.mark.parametrize("mode", ["F", "I", "YCbCr"])
    def test_other_modes_are_rejected(self, mode: str) -> None:
        image = ImageInfo("PNG", 64, 48, "RGB", 100)
        with pytest.raises(VyroInputError, match="a mask must be black and white"):
            check_mask_matches(image, ImageInfo("PNG", 64, 48, mode, 100), name="m.png")

    def test_size_mismatch(self, tmp_path: Path) -> None:
        image = inspect_file(write(tmp_path / "image.png", encode("PNG", size=(1024, 768))))
        mask = inspect_file(write(tmp_path / "mask.png", encode("PNG", mode="L", size=(512, 512))))
        with pytest.raises(VyroInputError) as info:
            check_mask_matches(image, mask, field="mask_path", name="s3://b/mask.png")
        assert info.value.field == "mask_path"
        assert info.value.problem == (
            "'s3://b/mask.png' is 512x512 pixels but the image is 1024x768; "
            "the mask must have the same size as the image"
        )

    def test_transposed_size_is_a_mismatch(self) -> None:
        with pytest.raises(VyroInputError, match="is 48x64 pixels but the image is 64x48"):
            check_mask_matches(ImageInfo("PNG", 64, 48, "RGB", 1), ImageInfo("PNG", 48, 64, "L", 1), name="m")


class TestPrompt:
    @pytest.mark.parametrize(
        "prompt",
        [
            "a hand full of flower petals",
            "  leading and trailing spaces are kept  ",
            "des pétales de fleurs 🌸, 花びら",
            "x",
            "p" * 10_000,
            "🌸" * 10_000,
            "line one\nline two",
        ],
    )
    def test_good(self, prompt: str) -> None:
        assert check_prompt(prompt) is prompt

    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            (42, "must be a string, got int 42"),
            (None, "must be a string, got NoneType None"),
            (["a", "b"], "must be a string, got list ['a', 'b']"),
            (b"bytes", "must be a string, got bytes b'bytes'"),
            ("", "is empty; describe what should fill the masked area"),
            ("   \n\t\u3000", "is only whitespace; describe what should fill the masked area"),
            ("p" * 10_001, "is 10001 characters long; the limit is 10000 characters"),
            ("a\x00b", "contains a NUL character (\\x00) at position 1"),
        ],
    )
    def test_bad(self, value: object, problem: str) -> None:
        with pytest.raises(VyroInputError) as info:
            check_prompt(value)
        assert info.value.field == "prompt"
        assert info.value.problem == problem

    def test_long_values_are_shortened_in_the_message(self) -> None:
        with pytest.raises(VyroInputError) as info:
            check_prompt(list(range(1000)), field="prompts")
        assert info.value.field == "prompts"
        assert len(info.value.problem) < 120

    def test_lone_surrogate(self) -> None:
        with pytest.raises(VyroInputError, match="cannot be encoded as UTF-8 at position 2"):
            check_prompt("ab\ud800cd")


class TestModelVersion:
    @pytest.mark.parametrize(("value", "expected"), [("1", "1"), ("12", "12"), (1, "1"), (0, "0")])
    def test_good(self, value: object, expected: str) -> None:
        assert check_model_version(value) == expected

    @pytest.mark.parametrize(
        "value", ["latest", "", " 1", "1\n", "1.0", "v1", "\u0661", None, 1.5, True, -1, [1]]
    )
    def test_bad(self, value: object) -> None:
        with pytest.raises(VyroInputError) as info:
            check_model_version(value)
        assert info.value.field == "model_version"
        assert info.value.problem.startswith("must be a string of digits such as '1', got ")


class TestPngHelpers:
    def test_png_dimensions(self) -> None:
        assert png_dimensions(encode("PNG", size=(300, 200))[:24]) == (300, 200)

    @pytest.mark.parametrize(
        ("head", "reason"),
        [
            (JPEG[:24], "PNG signature"),
            (PNG[:20], "ends before the IHDR chunk"),
            (PNG_SIGNATURE + png_chunk(b"tEXt", b"k\x00" + b"v" * 11), "not IHDR"),
            (png_claiming(0, 10)[:24], "empty size"),
        ],
    )
    def test_png_dimensions_rejects(self, head: bytes, reason: str) -> None:
        with pytest.raises(ValueError, match=reason):
            png_dimensions(head)

    def test_is_complete_png_tail(self) -> None:
        assert is_complete_png_tail(PNG[-12:])
        assert is_complete_png_tail(PNG)
        assert not is_complete_png_tail(PNG[:-1])
        assert not is_complete_png_tail(b"")


def test_images_module_does_not_import_pillow_at_import_time() -> None:
    import subprocess
    import sys

    code = "import sys, airflow_provider_vyro.images; print('PIL' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_limits_are_documented() -> None:
    assert images.MAX_IMAGE_BYTES == 100 * 1024 * 1024
    assert images.MAX_IMAGE_PIXELS == 8192 * 8192
    assert images.SUPPORTED_FORMATS == ("JPEG", "PNG")


def encode_png(mode: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image = Image.new(mode, (40, 24), color=None if mode in ("1", "P") else 1)
    image.save(buffer, "PNG", **params)
    return buffer.getvalue()


def header_outcome(read: object, data: bytes) -> object:
    """What a header reader gives for ``data``: its value, or the problem it raises."""
    try:
        return read(io.BytesIO(data), "PNG", field="image", name="x.png")  # type: ignore[operator]
    except VyroInputError as error:
        return ("VyroInputError", re.sub(r" at 0x[0-9a-f]+>", ">", error.problem))


PLAIN_PNGS = {
    "1": encode_png("1"),
    "L": encode_png("L"),
    "L with transparency": encode_png("L", transparency=3),
    "LA": encode_png("LA"),
    "P": encode_png("P"),
    "P with transparency": encode_png("P", transparency=0),
    "RGB": encode_png("RGB"),
    "RGB with transparency": encode_png("RGB", transparency=(1, 2, 3)),
    "RGB with dpi": encode_png("RGB", dpi=(300, 300)),
    "RGBA": encode_png("RGBA"),
    "RGBA interlaced (as written by hand)": PNG_SIGNATURE
    + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 40, 24, 8, 6, 0, 0, 1))
    + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    + PNG_IEND_CHUNK,
    "RGBA with a tRNS chunk (Pillow records no transparency)": PNG_SIGNATURE
    + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 40, 24, 8, 6, 0, 0, 0))
    + png_chunk(b"tRNS", b"\x00\x01")
    + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    + PNG_IEND_CHUNK,
}


class TestPngHeaderWithoutPillow:
    """The PNG header reader that skips Pillow answers exactly as Pillow does, or defers to it."""

    @pytest.mark.parametrize("name", sorted(PLAIN_PNGS))
    def test_plain_pngs_are_read_without_pillow_and_as_pillow_reads_them(self, name: str) -> None:
        data = PLAIN_PNGS[name]
        plain = images.png_header_without_pillow(io.BytesIO(data))
        assert plain is not None
        assert plain == header_outcome(images.read_header_with_pillow, data)

    def test_other_pngs_are_left_to_pillow(self) -> None:
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text("Software", "test")
        samples = [
            encode_png("I;16"),
            encode_png("RGB", icc_profile=b"\x00" * 128),
            encode_png("RGB", pnginfo=info),
        ]
        for data in samples:
            assert images.png_header_without_pillow(io.BytesIO(data)) is None
            with_pillow = header_outcome(images.read_header_with_pillow, data)
            assert header_outcome(images.read_header, data) == with_pillow

    @settings(max_examples=400, deadline=None)
    @given(
        st.sampled_from(sorted(PLAIN_PNGS)),
        st.lists(st.tuples(st.integers(min_value=8, max_value=120), st.integers(0, 255)), max_size=3),
        st.integers(min_value=0, max_value=200),
    )
    def test_damaged_headers_give_what_pillow_gives(
        self, name: str, changes: list[tuple[int, int]], cut: int
    ) -> None:
        data = bytearray(PLAIN_PNGS[name])
        for offset, value in changes:
            if offset < len(data):
                data[offset] = value
        damaged = bytes(data[: len(data) - cut] if cut < len(data) else data)
        assert header_outcome(images.read_header, damaged) == header_outcome(
            images.read_header_with_pillow, damaged
        )
