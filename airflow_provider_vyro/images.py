"""
Inspection of input images: what a file is (format by content, size, mode), read before any call.

The inspection reads headers and a few bytes at the end of a file, never the pixels, so it stays
cheap for images of tens of megabytes. Pillow is imported only inside the functions that need it.
A file that is no complete JPEG or PNG within the limits raises
:class:`~airflow_provider_vyro.exceptions.VyroInputError`, naming the argument and the path.
Whether an inspected file suits a call (its format for the field, a mask of its image's size) is
decided in :mod:`airflow_provider_vyro.checks`; answers are validated as they stream in by
:mod:`airflow_provider_vyro.streams`.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from airflow_provider_vyro.exceptions import VyroInputError

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

MAX_IMAGE_BYTES = 100 * 1024 * 1024
"""Largest image or mask file accepted, in bytes (100 MiB)."""

MAX_IMAGE_PIXELS = 8192 * 8192
"""Most pixels (width × height) an image or mask may have: 8192 × 8192, about 67 megapixels."""

MIN_IMAGE_SIDE = 8
"""Smallest width and height accepted, in pixels."""

SUPPORTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG")
"""Image formats the API accepts, recognised by content (magic bytes), never by file name."""

ALPHA_MODES: tuple[str, ...] = ("RGBA", "LA", "PA", "RGBa", "La")
"""Pillow modes with an alpha band."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The eight bytes every PNG file starts with."""

PNG_IEND_CHUNK = b"\x00\x00\x00\x00IEND\xaeB`\x82"
"""The twelve bytes every complete PNG file ends with (the empty IEND chunk and its CRC)."""

JPEG_SOI = b"\xff\xd8\xff"
JPEG_EOI = b"\xff\xd9"
JPEG_MAX_TRAILING_PADDING = 16
"""Bytes of zeros or whitespace tolerated after a JPEG's end-of-image marker."""

SNIFF_BYTES = 64
"""Bytes read from the start of a file to tell (or name) its format."""

_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}


def sniff_format(head: bytes) -> str | None:
    """
    Tell a supported image format from the first bytes of a file.

    :param head: the first bytes of the file (eight are enough).
    :return: ``"JPEG"`` or ``"PNG"``, or ``None`` for anything else.
    """
    if head.startswith(PNG_SIGNATURE):
        return "PNG"
    if head.startswith(JPEG_SOI):
        return "JPEG"
    return None


def describe_format(head: bytes) -> str:
    """
    Name what the first bytes of a file look like, for error messages.

    :param head: the first bytes of the file (64 give the best answers).
    :return: e.g. ``"a PNG image"``, ``"a GIF image"``, ``"text"``, ``"an empty file"``,
        ``"unknown binary data"``.
    """
    if not head:
        return "an empty file"
    fmt = sniff_format(head)
    if fmt is not None:
        return f"a {fmt} image"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "a WebP image"
    if head.startswith(b"BM"):
        return "a BMP image"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "a TIFF image"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "an AVIF image"
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "a HEIC/HEIF image"
        return "an MP4/QuickTime file"
    if head.startswith(b"\x00\x00\x01\x00"):
        return "an ICO image"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith(b"\xff\x0a") or head[4:12] == b"jP  \r\n\x87\n":
        return "a JPEG XL or JPEG 2000 image"
    if _looks_like_text(head):
        return "text"
    return "unknown binary data"


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return all(ch.isprintable() or ch in "\t\n\r\f\v" for ch in text)
    return False


def content_type(fmt: str) -> str:
    """
    Give the MIME type of a supported format.

    :param fmt: ``"JPEG"`` or ``"PNG"``, as returned by :func:`sniff_format`.
    :return: ``"image/jpeg"`` or ``"image/png"``.
    """
    try:
        return _CONTENT_TYPES[fmt]
    except KeyError:
        raise ValueError(f"unsupported image format {fmt!r}; expected one of {SUPPORTED_FORMATS}") from None


@dataclass(frozen=True)
class ImageInfo:
    """
    What :func:`inspect_image` learned from an image's header.

    :param format: ``"JPEG"`` or ``"PNG"``, by content.
    :param width: width in pixels.
    :param height: height in pixels.
    :param mode: Pillow's mode, e.g. ``"RGB"``, ``"L"``, ``"RGBA"``.
    :param size: size of the file in bytes.
    :param transparency: the file marks a colour or palette entries as transparent (a PNG
        ``tRNS`` chunk) although its mode has no alpha band.
    """

    format: str
    width: int
    height: int
    mode: str
    size: int
    transparency: bool = False

    @property
    def has_alpha(self) -> bool:
        """Whether some pixels can be transparent: an alpha band, or a transparent colour."""
        return self.mode in ALPHA_MODES or self.transparency

    @property
    def content_type(self) -> str:
        """The MIME type to send the file with."""
        return content_type(self.format)


@dataclass(frozen=True)
class CheckedImage:
    """
    An image input that the checks already inspected, handed to the hook so it is not parsed again.

    :param open: opens the image again from its start, for an upload attempt (a context manager
        giving a binary file; the file may be reopened for each attempt).
    :param info: what the checks learned from its header and size.
    :param name: how to show and name the file (usually the path as the user gave it).
    """

    open: Callable[[], AbstractContextManager[BinaryIO]]
    info: ImageInfo
    name: str


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def _megapixels(width: int, height: int) -> str:
    return f"{width * height / 1_000_000:.1f} megapixels"


def inspect_image(fileobj: BinaryIO, *, field: str, name: str, size: int | None = None) -> ImageInfo:
    """
    Check that a file is a complete JPEG or PNG image of acceptable size, reading only its header.

    The file must be seekable (``seek``, ``read``, ``tell``; s3fs files qualify). The image is the
    whole file, from offset 0; the file's position is restored afterwards. Checks, in order: not
    empty, at most :data:`MAX_IMAGE_BYTES`, JPEG or PNG by content, a header Pillow can parse,
    each side at least :data:`MIN_IMAGE_SIDE` and at most :data:`MAX_IMAGE_PIXELS` pixels in all,
    and not truncated (a PNG ends with its IEND chunk, a JPEG with its end-of-image marker,
    followed by at most :data:`JPEG_MAX_TRAILING_PADDING` bytes of zeros or whitespace).

    :param fileobj: the open binary file.
    :param field: the argument the file was given as, e.g. ``"image"`` or ``"mask_path"``.
    :param name: how to show the file in messages, usually its path as the user gave it.
    :param size: the file's size in bytes, if known; otherwise found by seeking to the end.
    :raises VyroInputError: if any check fails.
    """
    position = fileobj.tell()
    try:
        if size is None:
            fileobj.seek(0, io.SEEK_END)
            size = fileobj.tell()
        if size == 0:
            raise VyroInputError(field, f"'{name}' is an empty file (0 bytes)")
        if size > MAX_IMAGE_BYTES:
            raise VyroInputError(
                field, f"'{name}' is {_mib(size)}; the largest image accepted is {_mib(MAX_IMAGE_BYTES)}"
            )
        fileobj.seek(0)
        head = fileobj.read(SNIFF_BYTES)
        fmt = sniff_format(head)
        if fmt is None:
            raise VyroInputError(field, f"'{name}' is {describe_format(head)}, not a JPEG or PNG image")
        if fmt == "PNG":
            try:
                _check_dimensions(*png_dimensions(head), field=field, name=name)
            except ValueError as exc:
                raise VyroInputError(field, f"'{name}' is a corrupt or truncated PNG image: {exc}") from None
        width, height, mode, transparency = read_header(fileobj, fmt, field=field, name=name)
        _check_dimensions(width, height, field=field, name=name)
        _check_complete(fileobj, fmt, size, field=field, name=name)
        return ImageInfo(
            format=fmt, width=width, height=height, mode=mode, size=size, transparency=transparency
        )
    finally:
        fileobj.seek(position)


_PNG_MODES: dict[tuple[int, int], str] = {
    (1, 0): "1",
    (2, 0): "L",
    (4, 0): "L",
    (8, 0): "L",
    (8, 2): "RGB",
    (1, 3): "P",
    (2, 3): "P",
    (4, 3): "P",
    (8, 3): "P",
    (8, 4): "LA",
    (8, 6): "RGBA",
}
"""Pillow's mode for each 8-bit-or-less (bit depth, colour type) of a PNG's IHDR chunk."""

_PNG_PLAIN_CHUNKS: dict[bytes, int] = {
    b"PLTE": 0,
    b"gAMA": 4,
    b"cHRM": 32,
    b"sRGB": 1,
    b"pHYs": 9,
}
"""Chunks that may come before IDAT in a PNG read without Pillow, with their shortest length."""

_PNG_TRNS_MIN = {0: 2, 2: 6, 3: 0}
_PNG_PLAIN_CHUNK_LIMIT = 64 * 1024


def png_header_without_pillow(fileobj: BinaryIO) -> tuple[int, int, str, bool] | None:
    """
    Read a plain PNG's header as Pillow would, without Pillow; ``None`` if unsure.

    Gives width, height, Pillow's mode and whether Pillow would see a transparent colour (a tRNS
    chunk, which Pillow records for the modes without an alpha band).

    Walks the chunks from IHDR to the first IDAT, checking each CRC, and answers only when every
    chunk is one whose Pillow handler cannot fail beyond what is checked here (the plain
    chunks: ``PLTE``, ``gAMA``, ``cHRM``, ``sRGB``, ``pHYs`` and ``tRNS``) and the IHDR is of an
    8-bit-or-less mode Pillow knows.
    Anything else (16-bit samples, ICC profiles, text, animation, a bad CRC, a short read) gives
    ``None``, and Pillow decides as before, with its own error messages. So do an empty size
    and one over :data:`MAX_IMAGE_PIXELS`.

    :param fileobj: the open binary file, holding the PNG from offset 0.
    """
    fileobj.seek(len(PNG_SIGNATURE))
    header = fileobj.read(8 + 13 + 4)
    if len(header) < 25 or header[:8] != b"\x00\x00\x00\rIHDR":
        return None
    width, height, depth, colour, compression, filtering, interlace, crc = struct.unpack(
        ">IIBBBBBI", header[8:]
    )
    mode = _PNG_MODES.get((depth, colour))
    if mode is None or compression or filtering or interlace > 1 or zlib.crc32(header[4:21]) != crc:
        return None
    if not 0 < width * height <= MAX_IMAGE_PIXELS:
        return None
    transparency = False
    while True:
        head = fileobj.read(8)
        if len(head) < 8:
            return None
        length, kind = struct.unpack(">I4s", head)
        if kind == b"IDAT":
            return width, height, mode, transparency
        shortest = _PNG_TRNS_MIN.get(colour, 0) if kind == b"tRNS" else _PNG_PLAIN_CHUNKS.get(kind)
        if shortest is None or not shortest <= length <= _PNG_PLAIN_CHUNK_LIMIT:
            return None
        body = fileobj.read(length + 4)
        if len(body) < length + 4 or zlib.crc32(body[:length], zlib.crc32(kind)) != int.from_bytes(
            body[length:], "big"
        ):
            return None
        transparency = transparency or (kind == b"tRNS" and colour in _PNG_TRNS_MIN)


def read_header(fileobj: BinaryIO, fmt: str, *, field: str, name: str) -> tuple[int, int, str, bool]:
    """
    Read an image's header: width, height, Pillow's mode, and whether a colour is transparent.

    A plain PNG is read without Pillow (:func:`png_header_without_pillow`), exactly as Pillow
    would read it; anything else by Pillow (:func:`read_header_with_pillow`).

    :param fileobj: the open binary file, holding the image from offset 0.
    :param fmt: ``"JPEG"`` or ``"PNG"``, by content.
    :param field: the argument the file was given as.
    :param name: how to show the file in messages.
    :raises VyroInputError: if the header cannot be read.
    """
    if fmt == "PNG" and (plain := png_header_without_pillow(fileobj)) is not None:
        return plain
    return read_header_with_pillow(fileobj, fmt, field=field, name=name)


def read_header_with_pillow(
    fileobj: BinaryIO, fmt: str, *, field: str, name: str
) -> tuple[int, int, str, bool]:
    """
    Read an image's header with Pillow's reader of its format, decoding no pixels.

    The format's own reader is used (not ``Image.open``, which guesses the format and applies
    Pillow's decompression-bomb limit): the size is checked against :data:`MAX_IMAGE_PIXELS`
    afterwards, so a huge image is refused with its size in the message.

    :param fileobj: the open binary file, holding the image from offset 0.
    :param fmt: ``"JPEG"`` or ``"PNG"``, by content.
    :param field: the argument the file was given as.
    :param name: how to show the file in messages.
    :raises VyroInputError: if Pillow cannot read the header.
    """
    from PIL import JpegImagePlugin, PngImagePlugin

    reader = JpegImagePlugin.JpegImageFile if fmt == "JPEG" else PngImagePlugin.PngImageFile
    fileobj.seek(0)
    try:
        image = reader(fileobj)
    except Exception as exc:
        raise VyroInputError(
            field, f"'{name}' is a corrupt or truncated {fmt} image (its header cannot be read: {exc})"
        ) from None
    width, height = image.size
    return width, height, image.mode, "transparency" in image.info


def _check_dimensions(width: int, height: int, *, field: str, name: str) -> None:
    if width < MIN_IMAGE_SIDE or height < MIN_IMAGE_SIDE:
        raise VyroInputError(
            field,
            f"'{name}' is {width}x{height} pixels; each side must be at least {MIN_IMAGE_SIDE} pixels",
        )
    if width * height > MAX_IMAGE_PIXELS:
        raise VyroInputError(
            field,
            f"'{name}' is {width}x{height} pixels ({_megapixels(width, height)}); the limit is "
            f"{MAX_IMAGE_PIXELS} pixels ({_megapixels(MAX_IMAGE_PIXELS, 1)}, e.g. 8192x8192)",
        )


def _check_complete(fileobj: BinaryIO, fmt: str, size: int, *, field: str, name: str) -> None:
    if fmt == "PNG":
        fileobj.seek(max(0, size - len(PNG_IEND_CHUNK)))
        if not is_complete_png_tail(fileobj.read(len(PNG_IEND_CHUNK))):
            raise VyroInputError(
                field, f"'{name}' is a truncated PNG image: it does not end with the IEND chunk"
            )
        return
    tail_size = len(JPEG_EOI) + JPEG_MAX_TRAILING_PADDING
    fileobj.seek(max(0, size - tail_size))
    tail = fileobj.read(tail_size).rstrip(b"\x00 \t\r\n")
    if not tail.endswith(JPEG_EOI):
        raise VyroInputError(
            field,
            f"'{name}' is a truncated JPEG image: it does not end with the end-of-image marker (FF D9)",
        )


def png_dimensions(head: bytes) -> tuple[int, int]:
    """
    Read a PNG's width and height from its IHDR chunk, without Pillow.

    :param head: at least the first 24 bytes of the PNG.
    :return: ``(width, height)`` in pixels.
    :raises ValueError: if the bytes do not start with a PNG signature and an IHDR chunk.
    """
    if not head.startswith(PNG_SIGNATURE):
        raise ValueError("it does not start with the PNG signature")
    if len(head) < 24:
        raise ValueError("it ends before the IHDR chunk")
    length, chunk_type, width, height = struct.unpack(">I4sII", head[8:24])
    if chunk_type != b"IHDR" or length != 13:
        raise ValueError("its first chunk is not IHDR")
    if width == 0 or height == 0:
        raise ValueError(f"its IHDR chunk gives an empty size ({width}x{height})")
    return width, height


def is_complete_png_tail(tail: bytes) -> bool:
    """
    Tell whether the last bytes of a PNG are its IEND chunk.

    :param tail: the last bytes of the file (twelve or more).
    """
    return tail.endswith(PNG_IEND_CHUNK)


__all__ = [
    "ALPHA_MODES",
    "JPEG_EOI",
    "JPEG_MAX_TRAILING_PADDING",
    "JPEG_SOI",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MIN_IMAGE_SIDE",
    "PNG_IEND_CHUNK",
    "PNG_SIGNATURE",
    "SNIFF_BYTES",
    "SUPPORTED_FORMATS",
    "CheckedImage",
    "ImageInfo",
    "content_type",
    "describe_format",
    "inspect_image",
    "is_complete_png_tail",
    "png_dimensions",
    "png_header_without_pillow",
    "read_header",
    "read_header_with_pillow",
    "sniff_format",
]
