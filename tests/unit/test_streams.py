"""Answers validated as they stream past: complete PNG, JPEG and WebP images, in bounded memory."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from airflow_provider_vyro import streams
from airflow_provider_vyro.catalogue import ANSWER_FORMATS
from airflow_provider_vyro.streams import PngStreamChecker
from tests.conftest import encode as encode_image


def encode(fmt: str) -> bytes:
    """A small black picture."""
    return encode_image(Image.new("RGB", (64, 48), 0), fmt)


def encode_noise(fmt: str, size: tuple[int, int]) -> bytes:
    """A picture of noise, which an encoder cannot shrink to nothing."""
    return encode_image(Image.effect_noise(size, 64).convert("RGB"), fmt)


PNG = encode("PNG")
JPEG = encode_noise("JPEG", (256, 192))


def feed_in(data: bytes, sizes: list[int]) -> PngStreamChecker:
    checker = PngStreamChecker()
    position = 0
    for size in sizes:
        checker.feed(data[position : position + size])
        position += size
    checker.feed(data[position:])
    return checker


class TestPngStreamChecker:
    BIG = encode_noise("PNG", (333, 222))

    @pytest.mark.parametrize("chunk", [1, 2, 7, 12, 13, 33, 4096, 1 << 20])
    def test_fixed_chunk_sizes(self, chunk: int) -> None:
        checker = PngStreamChecker()
        for i in range(0, len(self.BIG), chunk):
            checker.feed(self.BIG[i : i + chunk])
        assert checker.result() == (333, 222)
        assert checker.size == len(self.BIG)

    def test_buffer_types_and_empty_chunks(self) -> None:
        checker = PngStreamChecker()
        checker.feed(b"")
        checker.feed(bytearray(self.BIG[:10]))
        checker.feed(memoryview(self.BIG)[10:40])
        checker.feed(b"")
        checker.feed(memoryview(self.BIG)[40:])
        assert checker.result() == (333, 222)

    def test_keeps_only_a_few_bytes(self) -> None:
        checker = feed_in(self.BIG, [len(self.BIG) // 2])
        assert checker.retained == 45

    def test_empty(self) -> None:
        with pytest.raises(ValueError, match="the body is empty"):
            PngStreamChecker().result()

    @pytest.mark.parametrize("cut", [1, 5, 12, 100])
    def test_truncated_stream(self, cut: int) -> None:
        checker = feed_in(self.BIG[:-cut], [1, 1, 3, 50])
        with pytest.raises(
            ValueError, match=r"the PNG is truncated: \d+ bytes that do not end with the IEND"
        ):
            checker.result()

    @pytest.mark.parametrize("length", [3, 8, 20, 32])
    def test_stream_ending_inside_the_header(self, length: int) -> None:
        checker = feed_in(self.BIG[:length], [1] * length)
        with pytest.raises(ValueError, match="before its IHDR chunk"):
            checker.result()

    @pytest.mark.parametrize(
        ("body", "what"),
        [
            (b'{"status": "error", "message": "no credits"}', "the body is text, not a PNG image"),
            (JPEG, "the body is a JPEG image, not a PNG image"),
            (b"\x89PNX\r\n\x1a\n" + b"\x00" * 40, "the body is unknown binary data, not a PNG image"),
        ],
    )
    def test_not_a_png(self, body: bytes, what: str) -> None:
        with pytest.raises(ValueError, match=what):
            feed_in(body, [1, 2, 3]).result()

    def test_corrupt_ihdr_crc(self) -> None:
        data = bytearray(self.BIG)
        data[30] ^= 0xFF
        with pytest.raises(ValueError, match="IHDR chunk is corrupt"):
            feed_in(bytes(data), [7]).result()

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.integers(min_value=0, max_value=300), max_size=40))
    def test_any_chunking_of_a_valid_png_gives_its_size(self, sizes: list[int]) -> None:
        assert feed_in(self.BIG, sizes).result() == (333, 222)

    @settings(max_examples=60, deadline=None)
    @given(st.data())
    def test_any_proper_prefix_is_rejected(self, data: st.DataObject) -> None:
        length = data.draw(st.integers(min_value=0, max_value=len(PNG) - 1))
        sizes = data.draw(st.lists(st.integers(min_value=1, max_value=20), max_size=10))
        with pytest.raises(ValueError, match=r"the body is empty|truncated"):
            feed_in(PNG[:length], sizes).result()

    @given(st.binary(max_size=200), st.lists(st.integers(min_value=0, max_value=50), max_size=10))
    def test_arbitrary_bytes_give_a_size_or_a_value_error(self, body: bytes, sizes: list[int]) -> None:
        try:
            width, height = feed_in(body, sizes).result()
        except ValueError:
            return
        assert width > 0
        assert height > 0


# --- answers of any format --------------------------------------------------------------------


def encode_answer(fmt: str, size: tuple[int, int] = (333, 222), mode: str = "RGB", **save: object) -> bytes:
    buffer = io.BytesIO()
    image = Image.effect_noise(size, 64).convert(mode)
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def with_exif_and_icc(jpeg: bytes) -> bytes:
    """A JPEG whose frame header comes after two large application segments."""
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 60_000) + b"Exif\x00\x00" + b"\x00" * (60_000 - 6)
    app2 = b"\xff\xe2" + struct.pack(">H", 2 + 3000) + b"\x11" * 3000
    return jpeg[:2] + app1 + app2 + jpeg[2:]


ANSWERS = {
    "png": ("PNG", encode_answer("PNG")),
    "jpeg": ("JPEG", encode_answer("JPEG")),
    "progressive jpeg": ("JPEG", encode_answer("JPEG", progressive=True)),
    "jpeg with big segments": ("JPEG", with_exif_and_icc(encode_answer("JPEG"))),
    "lossy webp": ("WEBP", encode_answer("WEBP")),
    "lossless webp": ("WEBP", encode_answer("WEBP", lossless=True)),
    "webp with alpha": ("WEBP", encode_answer("WEBP", mode="RGBA")),
}


def feed_answer(data: bytes, sizes: list[int], formats: tuple[str, ...] = ANSWER_FORMATS) -> object:
    checker = streams.ImageStreamChecker(formats)
    position = 0
    for size in sizes:
        checker.feed(data[position : position + size])
        position += size
    checker.feed(data[position:])
    return checker.result()


class TestImageStreamChecker:
    @pytest.mark.parametrize("name", list(ANSWERS))
    @pytest.mark.parametrize("chunk", [1, 3, 11, 12, 29, 4096, 1 << 20])
    def test_format_and_size_of_a_complete_answer(self, name: str, chunk: int) -> None:
        fmt, data = ANSWERS[name]
        assert feed_answer(data, [chunk] * (len(data) // chunk)) == streams.StreamedImage(fmt, 333, 222)

    @pytest.mark.parametrize("name", list(ANSWERS))
    @pytest.mark.parametrize("cut", [1, 2, 20, 0.5, 0.99])
    def test_a_truncated_answer_is_refused(self, name: str, cut: float) -> None:
        _, data = ANSWERS[name]
        keep = len(data) - int(cut) if cut >= 1 else int(len(data) * (1 - cut))
        with pytest.raises(ValueError, match="truncated"):
            feed_answer(data[:keep], [7, 100])

    @settings(max_examples=40, deadline=None)
    @given(st.sampled_from(sorted(ANSWERS)), st.data())
    def test_any_proper_prefix_is_refused(self, name: str, data: st.DataObject) -> None:
        _, body = ANSWERS[name]
        length = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
        sizes = data.draw(st.lists(st.integers(min_value=1, max_value=5000), max_size=8))
        with pytest.raises(ValueError, match=r"the body is empty|truncated"):
            feed_answer(body[:length], sizes)

    @settings(max_examples=40, deadline=None)
    @given(st.sampled_from(sorted(ANSWERS)), st.lists(st.integers(min_value=0, max_value=9000), max_size=20))
    def test_any_chunking_gives_the_same_answer(self, name: str, sizes: list[int]) -> None:
        fmt, body = ANSWERS[name]
        assert feed_answer(body, sizes) == streams.StreamedImage(fmt, 333, 222)

    @pytest.mark.parametrize(
        ("body", "formats", "what"),
        [
            (
                b'{"status": "error", "code": 1101}',
                ANSWER_FORMATS,
                "text, not a PNG, JPEG or WebP image",
            ),
            (
                b"<!DOCTYPE html><html>busy</html>",
                ANSWER_FORMATS,
                "text, not a PNG, JPEG or WebP image",
            ),
            (encode("GIF"), ANSWER_FORMATS, "a GIF image, not a PNG, JPEG or WebP image"),
            (ANSWERS["jpeg"][1], ("PNG",), "the body is a JPEG image, not a PNG image"),
            (ANSWERS["lossy webp"][1], ("PNG",), "the body is a WebP image, not a PNG image"),
            (b"", ANSWER_FORMATS, "the body is empty"),
        ],
    )
    def test_not_an_accepted_image(self, body: bytes, formats: tuple[str, ...], what: str) -> None:
        with pytest.raises(ValueError, match=what):
            feed_answer(body, [2], formats)

    def test_trailing_bytes_after_a_webp_are_refused(self) -> None:
        with pytest.raises(ValueError, match="its header states"):
            feed_answer(ANSWERS["lossy webp"][1] + b"\x00\x00", [])

    def test_jpeg_padding_after_the_end_marker_is_tolerated(self) -> None:
        assert feed_answer(ANSWERS["jpeg"][1] + b"\x00" * 8, []) == streams.StreamedImage("JPEG", 333, 222)

    def test_jpeg_checker_keeps_little_memory(self) -> None:
        checker = streams.JpegStreamChecker()
        body = ANSWERS["jpeg with big segments"][1]
        for i in range(0, len(body), 1000):
            checker.feed(body[i : i + 1000])
        assert checker.retained < 64 + 1000 + 18
        assert checker.result() == (333, 222)

    @given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=50), max_size=10))
    def test_arbitrary_bytes_give_an_image_or_a_value_error(self, body: bytes, sizes: list[int]) -> None:
        try:
            image = feed_answer(body, sizes)
        except ValueError:
            return
        assert isinstance(image, streams.StreamedImage)


class TestFileValidator:
    """The validator of a whole existing output, by the format its extension names."""

    def test_a_png_has_every_chunk_checked(self) -> None:
        data = bytearray(encode_noise("PNG", (64, 48)))
        assert streams.file_validator("PNG").__class__ is streams.PngChunkValidator
        data[len(data) // 2] ^= 0xFF
        validator = streams.file_validator("PNG")
        with pytest.raises(ValueError, match="CRC does not match"):
            validator.feed(bytes(data))

    @pytest.mark.parametrize(("fmt", "data"), [("JPEG", JPEG), ("WEBP", encode_noise("WEBP", (40, 30)))])
    def test_jpeg_and_webp_must_be_complete(self, fmt: str, data: bytes) -> None:
        whole = streams.file_validator(fmt)
        whole.feed(data)
        assert whole.result() == Image.open(io.BytesIO(data)).size
        cut = streams.file_validator(fmt)
        cut.feed(data[:-3])
        with pytest.raises(ValueError, match="truncated"):
            cut.result()

    def test_another_format_has_none(self) -> None:
        with pytest.raises(KeyError):
            streams.file_validator("GIF")


def _png_with_idat(data: bytes) -> bytes:
    """A 64x48 PNG whose image data is ``data``, every CRC right."""
    png = encode_noise("PNG", (64, 48))
    start = png.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", png[start : start + 4])
    chunk = struct.pack(">I", len(data)) + b"IDAT" + data + struct.pack(">I", zlib.crc32(b"IDAT" + data))
    return png[:start] + chunk + png[start + 12 + length :]


class TestDecodable:
    """What is accepted as an answer is what a later run keeps: a PNG's image data must decode."""

    @pytest.mark.parametrize(
        ("data", "words"),
        [
            (bytes(range(100)), "cannot be decoded"),
            (zlib.compress(b"\0" * 10), "pixel rows"),
        ],
        ids=["not zlib", "too short"],
    )
    def test_a_png_whose_image_data_does_not_decode_is_refused(self, data: bytes, words: str) -> None:
        png = _png_with_idat(data)
        with pytest.raises(ValueError, match=words):
            _validate_whole(png)
        answer = streams.ImageStreamChecker()
        answer.feed(png)
        with pytest.raises(ValueError, match=words):
            answer.result()

    def test_an_answer_with_a_bad_chunk_crc_is_refused(self) -> None:
        png = bytearray(encode_noise("PNG", (64, 48)))
        png[png.index(b"IDAT") + 10] ^= 0xFF
        answer = streams.ImageStreamChecker()
        for offset in range(0, len(png), 100):
            answer.feed(bytes(png[offset : offset + 100]))
        with pytest.raises(ValueError, match="CRC does not match"):
            answer.result()

    def test_a_whole_png_decodes(self) -> None:
        assert _validate_whole(encode_noise("PNG", (37, 21))) == (37, 21)

    def test_an_interlaced_png_decodes(self) -> None:
        png = _interlaced_rgb_png(37, 21)
        assert Image.open(io.BytesIO(png)).info.get("interlace") == 1
        assert _validate_whole(png) == (37, 21)


def _validate_whole(png: bytes) -> tuple[int, int]:
    validator = streams.file_validator("PNG")
    validator.feed(png)
    return validator.result()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _interlaced_rgb_png(width: int, height: int) -> bytes:
    """An Adam7-interlaced 8-bit RGB PNG, each pass's rows unfiltered."""
    passes = (
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    )
    raw = b""
    for x0, y0, dx, dy in passes:
        columns, rows = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if columns > 0 and rows > 0:
            raw += (b"\0" + b"\x50" * 3 * columns) * rows
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )
