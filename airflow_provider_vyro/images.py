"""
Cheap checks of images, masks, prompts and API answers, made before any paid API call.

The checks read headers and a few bytes at the end of a file, never the pixels, so they stay
cheap for images of tens of megabytes. Pillow is imported only inside the functions that need it.
Every rejected input raises :class:`~airflow_provider_vyro.exceptions.VyroInputError`, naming the
argument and the path.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, TypeAlias

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

MAX_PROMPT_CHARS = 10_000
"""Longest prompt accepted, in characters (not bytes)."""

SUPPORTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG")
"""Image formats the API accepts, recognised by content (magic bytes), never by file name."""

MASK_MODES: tuple[str, ...] = ("1", "L", "LA", "P", "RGB", "RGBA")
"""Pillow modes accepted for a mask: black and white, grayscale (with alpha), palette, RGB(A)."""

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

_PNG_HEAD_BYTES = len(PNG_SIGNATURE) + 4 + 4 + 13 + 4
_SNIFF_BYTES = 64
_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
_DIGITS = re.compile(r"[0-9]+")


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
        head = fileobj.read(_SNIFF_BYTES)
        fmt = sniff_format(head)
        if fmt is None:
            raise VyroInputError(field, f"'{name}' is {describe_format(head)}, not a JPEG or PNG image")
        if fmt == "PNG":
            try:
                dimensions: tuple[int, int] | None = png_dimensions(head)
            except ValueError as exc:
                raise VyroInputError(field, f"'{name}' is a corrupt or truncated PNG image: {exc}") from None
        else:
            dimensions = _jpeg_dimensions(fileobj)
        if dimensions is not None:
            _check_dimensions(*dimensions, field=field, name=name)
        width, height, mode, transparency = _read_header(fileobj, fmt, field=field, name=name)
        _check_dimensions(width, height, field=field, name=name)
        _check_complete(fileobj, fmt, size, field=field, name=name)
        return ImageInfo(
            format=fmt, width=width, height=height, mode=mode, size=size, transparency=transparency
        )
    finally:
        fileobj.seek(position)


_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE_MARKERS = frozenset(range(0xD0, 0xD8)) | {0x01}
_JPEG_MAX_SEGMENTS = 1000


def _jpeg_dimensions(fileobj: BinaryIO) -> tuple[int, int] | None:
    """Width and height from a JPEG's frame header, or ``None`` if it is not found before the scan."""
    fileobj.seek(2)
    for _ in range(_JPEG_MAX_SEGMENTS):
        byte = fileobj.read(1)
        if byte != b"\xff":
            return None
        marker = 0xFF
        while marker == 0xFF:
            byte = fileobj.read(1)
            if not byte:
                return None
            marker = byte[0]
        if marker in _JPEG_STANDALONE_MARKERS:
            continue
        if marker in (0xD9, 0xDA):
            return None
        segment = fileobj.read(2)
        if len(segment) < 2:
            return None
        (length,) = struct.unpack(">H", segment)
        if marker in _JPEG_SOF_MARKERS:
            frame = fileobj.read(5)
            if len(frame) < 5:
                return None
            _precision, height, width = struct.unpack(">BHH", frame)
            return width, height
        if length < 2:
            return None
        fileobj.seek(length - 2, io.SEEK_CUR)
    return None


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


def _png_header_without_pillow(fileobj: BinaryIO) -> tuple[int, int, str, bool] | None:
    """
    Read a plain PNG's header as Pillow's ``Image.open`` would, without Pillow; ``None`` if unsure.

    Gives width, height, Pillow's mode and whether Pillow would see a transparent colour (a tRNS
    chunk, which Pillow records for the modes without an alpha band).

    Walks the chunks from IHDR to the first IDAT, checking each CRC, and answers only when every
    chunk is one whose Pillow handler cannot fail beyond what is checked here (see
    :data:`_PNG_PLAIN_CHUNKS`, and tRNS) and the IHDR is of an 8-bit-or-less mode Pillow knows.
    Anything else (16-bit samples, ICC profiles, text, animation, a bad CRC, a short read) gives
    ``None``, and Pillow decides as before, with its own error messages. So do an empty size
    and one over :data:`MAX_IMAGE_PIXELS` (below Pillow's own default limit).
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


def _read_header(fileobj: BinaryIO, fmt: str, *, field: str, name: str) -> tuple[int, int, str, bool]:
    if fmt == "PNG" and (plain := _png_header_without_pillow(fileobj)) is not None:
        return plain
    return _read_header_with_pillow(fileobj, fmt, field=field, name=name)


def _read_header_with_pillow(
    fileobj: BinaryIO, fmt: str, *, field: str, name: str
) -> tuple[int, int, str, bool]:
    from PIL import Image

    fileobj.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(fileobj, formats=[fmt])
        except Image.DecompressionBombError as exc:
            raise VyroInputError(
                field,
                f"'{name}' is too large ({exc}); the limit is {MAX_IMAGE_PIXELS} pixels "
                f"({_megapixels(MAX_IMAGE_PIXELS, 1)})",
            ) from None
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


def check_mask_matches(image: ImageInfo, mask: ImageInfo, *, field: str = "mask", name: str) -> None:
    """
    Check that a mask fits its image: the same width and height, and a mode usable as a mask.

    Accepted modes are :data:`MASK_MODES`: black and white (``1``), grayscale (``L``, ``LA``),
    palette (``P``), ``RGB`` and ``RGBA``. CMYK, 16-bit (``I;16``), 32-bit (``I``, ``F``) and
    other modes are rejected.

    :param image: the image's :class:`ImageInfo`.
    :param mask: the mask's :class:`ImageInfo`.
    :param field: the argument the mask was given as.
    :param name: how to show the mask in messages, usually its path.
    :raises VyroInputError: if the sizes differ or the mode is not accepted.
    """
    if (mask.width, mask.height) != (image.width, image.height):
        raise VyroInputError(
            field,
            f"'{name}' is {mask.width}x{mask.height} pixels but the image is "
            f"{image.width}x{image.height}; the mask must have the same size as the image",
        )
    if mask.mode not in MASK_MODES:
        raise VyroInputError(
            field,
            f"'{name}' has the pixel mode {mask.mode!r}; a mask must be black and white ('1'), "
            "grayscale ('L', 'LA'), palette ('P'), 'RGB' or 'RGBA'",
        )


def _describe_value(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def check_prompt(
    prompt: object, *, field: str = "prompt", purpose: str = "what should fill the masked area"
) -> str:
    """
    Check a prompt: a string, not blank, at most :data:`MAX_PROMPT_CHARS` characters.

    A value pulled from XCom or rendered from a template may not be a string: anything else is
    rejected, naming its type. The prompt is returned unchanged (whitespace is kept and sent).

    :param prompt: the prompt to check.
    :param field: the argument the prompt was given as.
    :param purpose: what the prompt describes, for the message about an empty prompt.
    :return: the prompt.
    :raises VyroInputError: if it is not a string, is empty or whitespace only, is too long,
        contains a NUL character, or cannot be encoded as UTF-8.
    """
    if not isinstance(prompt, str):
        raise VyroInputError(field, f"must be a string, got {_describe_value(prompt)}")
    if not prompt:
        raise VyroInputError(field, f"is empty; describe {purpose}")
    if prompt.isspace():
        raise VyroInputError(field, f"is only whitespace; describe {purpose}")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise VyroInputError(
            field, f"is {len(prompt)} characters long; the limit is {MAX_PROMPT_CHARS} characters"
        )
    nul = prompt.find("\x00")
    if nul >= 0:
        raise VyroInputError(field, f"contains a NUL character (\\x00) at position {nul}")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise VyroInputError(
            field,
            f"contains a character that cannot be encoded as UTF-8 at position {exc.start} "
            f"({prompt[exc.start]!r}, a lone surrogate)",
        ) from None
    return prompt


def check_model_version(value: object, *, field: str = "model_version") -> str:
    """
    Check a model version: a string of ASCII digits such as ``"1"``.

    A non-negative ``int`` (as XCom or a template may produce) is accepted and converted to a
    string. Anything else (``"latest"``, ``""``, ``" 1"``, ``None``, ``1.5``, ``True``) is rejected.

    :param value: the model version to check.
    :param field: the argument it was given as.
    :return: the model version as a string.
    :raises VyroInputError: if it is not a string of digits or a non-negative int.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return value
    raise VyroInputError(field, f"must be a string of digits such as '1', got {_describe_value(value)}")


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


class PngStreamChecker:
    """
    Validate a PNG as it streams past, keeping 45 bytes whatever its size.

    Feed every chunk to :meth:`feed` as it is written; :meth:`result` then gives the PNG's size in
    pixels, or says why the stream is not a complete PNG. It keeps the first 33 bytes (signature
    and IHDR chunk, whose CRC is checked) and the last 12 (which must be the IEND chunk).
    """

    __slots__ = ("_head", "_tail", "size")

    def __init__(self) -> None:
        self._head = bytearray()
        self._tail = b""
        self.size = 0
        """Bytes fed so far."""

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """
        Take the next chunk of the stream.

        :param chunk: the bytes, possibly empty.
        """
        view = memoryview(chunk).cast("B")
        n = len(view)
        if not n:
            return
        self.size += n
        missing = _PNG_HEAD_BYTES - len(self._head)
        if missing > 0:
            self._head += view[:missing]
        keep = len(PNG_IEND_CHUNK)
        self._tail = (self._tail + bytes(view[-keep:]))[-keep:]

    def result(self) -> tuple[int, int]:
        """
        Check the stream fed so far.

        :return: ``(width, height)`` of the PNG.
        :raises ValueError: if the stream is empty, not a PNG, or truncated; the message says which.
        """
        if self.size == 0:
            raise ValueError("the body is empty")
        head = bytes(self._head)
        if not (head.startswith(PNG_SIGNATURE) or PNG_SIGNATURE.startswith(head)):
            raise ValueError(f"the body is {describe_format(head)}, not a PNG image")
        if len(head) < _PNG_HEAD_BYTES:
            raise ValueError(f"the PNG is truncated: it ends after {self.size} bytes, before its IHDR chunk")
        try:
            width, height = png_dimensions(head)
        except ValueError as exc:
            raise ValueError(f"the PNG is corrupt: {exc}") from None
        (crc,) = struct.unpack(">I", head[29:33])
        if zlib.crc32(head[12:29]) != crc:
            raise ValueError("the PNG's IHDR chunk is corrupt (its CRC does not match)")
        if not is_complete_png_tail(self._tail):
            raise ValueError(f"the PNG is truncated: {self.size} bytes that do not end with the IEND chunk")
        return width, height


WEBP_HEAD_BYTES = 30
"""Bytes of a WebP file that hold its RIFF header, first chunk header and canvas size."""

ANSWER_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP")
"""Formats an API answer may come in, recognised by content."""


def sniff_answer_format(head: bytes) -> str | None:
    """
    Tell the format of an API answer from its first bytes.

    :param head: the first bytes of the body (twelve are enough).
    :return: ``"PNG"``, ``"JPEG"`` or ``"WEBP"``, or ``None`` for anything else.
    """
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    return sniff_format(head)


class JpegStreamChecker:
    """
    Validate a JPEG as it streams past, keeping a few bytes whatever its size.

    It walks the segments from the start of the stream (skipping their bodies without keeping
    them) up to the frame header, which gives the size in pixels, and keeps the last bytes, which
    must be the end-of-image marker (``FF D9``, then at most :data:`JPEG_MAX_TRAILING_PADDING`
    bytes of zeros or whitespace).
    """

    __slots__ = (
        "_dimensions",
        "_head",
        "_pending",
        "_problem",
        "_segments",
        "_skip",
        "_started",
        "_tail",
        "size",
    )

    def __init__(self) -> None:
        self._head = b""
        self._started = False
        self._pending = bytearray()
        self._skip = 0
        self._segments = 0
        self._dimensions: tuple[int, int] | None = None
        self._problem: str | None = None
        self._tail = b""
        self.size = 0
        """Bytes fed so far."""

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """
        Take the next chunk of the stream.

        :param chunk: the bytes, possibly empty.
        """
        view = memoryview(chunk).cast("B")
        if not len(view):
            return
        if len(self._head) < _SNIFF_BYTES:
            self._head += bytes(view[: _SNIFF_BYTES - len(self._head)])
        self.size += len(view)
        keep = len(JPEG_EOI) + JPEG_MAX_TRAILING_PADDING
        self._tail = (self._tail + bytes(view[-keep:]))[-keep:]
        if self._dimensions is None and self._problem is None:
            skipped = min(self._skip, len(view))
            self._skip -= skipped
            self._pending += view[skipped:]
            self._walk()

    def _walk(self) -> None:
        data = self._pending
        if not self._started:
            if len(data) < len(JPEG_SOI):
                return
            if not data.startswith(JPEG_SOI):
                self._problem = f"the body is {describe_format(self._head)}, not a JPEG image"
                return
            del data[:2]
            self._started = True
        while len(data) >= 2:
            if data[0] != 0xFF:
                self._problem = "the JPEG is corrupt: a segment does not start with a marker"
                return
            if data[1] == 0xFF:
                del data[:1]
                continue
            marker = data[1]
            if marker in _JPEG_STANDALONE_MARKERS:
                del data[:2]
                continue
            if marker in (0xD9, 0xDA):
                self._problem = "the JPEG is corrupt: it has no frame header before its image data"
                return
            if len(data) < 4:
                return
            (length,) = struct.unpack(">H", data[2:4])
            if marker in _JPEG_SOF_MARKERS:
                if len(data) < 9:
                    return
                _precision, height, width = struct.unpack(">BHH", data[4:9])
                if width == 0 or height == 0:
                    self._problem = f"the JPEG's frame header gives an empty size ({width}x{height})"
                    return
                self._dimensions = (width, height)
                data.clear()
                return
            self._segments += 1
            if length < 2 or self._segments > _JPEG_MAX_SEGMENTS:
                self._problem = "the JPEG is corrupt: its segments cannot be read"
                return
            if len(data) < 2 + length:
                self._skip = 2 + length - len(data)
                data.clear()
                return
            del data[: 2 + length]

    def result(self) -> tuple[int, int]:
        """
        Check the stream fed so far.

        :return: ``(width, height)`` of the JPEG.
        :raises ValueError: if the stream is empty, not a JPEG, corrupt or truncated.
        """
        if self.size == 0:
            raise ValueError("the body is empty")
        if self._problem is not None:
            raise ValueError(self._problem)
        if self._dimensions is None:
            raise ValueError(
                f"the JPEG is truncated: it ends after {self.size} bytes, before its frame header"
            )
        if not self._tail.rstrip(b"\x00 \t\r\n").endswith(JPEG_EOI):
            raise ValueError(
                f"the JPEG is truncated: {self.size} bytes that do not end with "
                "the end-of-image marker (FF D9)"
            )
        return self._dimensions


class WebpStreamChecker:
    """
    Validate a WebP image as it streams past, keeping 30 bytes whatever its size.

    The RIFF header states the file's length, so a complete WebP is exactly that long; the size
    in pixels comes from the first chunk (``VP8 ``, ``VP8L`` or ``VP8X``).
    """

    __slots__ = ("_head", "size")

    def __init__(self) -> None:
        self._head = bytearray()
        self.size = 0
        """Bytes fed so far."""

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """
        Take the next chunk of the stream.

        :param chunk: the bytes, possibly empty.
        """
        view = memoryview(chunk).cast("B")
        missing = WEBP_HEAD_BYTES - len(self._head)
        if missing > 0:
            self._head += view[:missing]
        self.size += len(view)

    def result(self) -> tuple[int, int]:
        """
        Check the stream fed so far.

        :return: ``(width, height)`` of the WebP image.
        :raises ValueError: if the stream is empty, not a WebP image, corrupt or truncated.
        """
        if self.size == 0:
            raise ValueError("the body is empty")
        head = bytes(self._head)
        if len(head) >= 12 and not (head.startswith(b"RIFF") and head[8:12] == b"WEBP"):
            raise ValueError(f"the body is {describe_format(head)}, not a WebP image")
        if len(head) < WEBP_HEAD_BYTES:
            raise ValueError(
                f"the WebP image is truncated: it ends after {self.size} bytes, before its header"
            )
        (riff_size,) = struct.unpack("<I", head[4:8])
        expected = riff_size + 8
        if self.size < expected:
            raise ValueError(
                f"the WebP image is truncated: {self.size} of the {expected} bytes its header states"
            )
        if self.size > expected:
            raise ValueError(
                f"the WebP image is corrupt: {self.size} bytes, but its header states {expected}"
            )
        return _webp_dimensions(head)


def _webp_dimensions(head: bytes) -> tuple[int, int]:
    kind = head[12:16]
    if kind == b"VP8 ":
        if head[23:26] != b"\x9d\x01\x2a":
            raise ValueError("the WebP image is corrupt: its VP8 frame has no start code")
        width, height = struct.unpack("<HH", head[26:30])
        width, height = width & 0x3FFF, height & 0x3FFF
    elif kind == b"VP8L":
        if head[20] != 0x2F:
            raise ValueError("the WebP image is corrupt: its VP8L signature is wrong")
        (bits,) = struct.unpack("<I", head[21:25])
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif kind == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
    else:
        raise ValueError(f"the WebP image is corrupt: unknown first chunk {kind!r}")
    if width == 0 or height == 0:
        raise ValueError(f"the WebP image gives an empty size ({width}x{height})")
    return width, height


@dataclass(frozen=True)
class StreamedImage:
    """
    What :class:`ImageStreamChecker` learned from a complete image.

    :param format: ``"PNG"``, ``"JPEG"`` or ``"WEBP"``, read from the bytes.
    :param width: width in pixels.
    :param height: height in pixels.
    """

    format: str
    width: int
    height: int


_StreamChecker: TypeAlias = "PngStreamChecker | JpegStreamChecker | WebpStreamChecker"
_STREAM_CHECKERS: dict[str, Callable[[], _StreamChecker]] = {
    "PNG": PngStreamChecker,
    "JPEG": JpegStreamChecker,
    "WEBP": WebpStreamChecker,
}


class ImageStreamChecker:
    """
    Validate an image of any answer format as it streams past, keeping a few bytes whatever its size.

    The format is read from the first bytes (never from a ``Content-Type``), then the checker of
    that format (:class:`PngStreamChecker`, :class:`JpegStreamChecker`,
    :class:`WebpStreamChecker`) takes the stream: the image must be complete.

    :param formats: the formats accepted (a subset of :data:`ANSWER_FORMATS`); an image in
        another format is refused, naming both.
    """

    __slots__ = ("_checker", "_formats", "_head", "size")

    def __init__(self, formats: tuple[str, ...] = ANSWER_FORMATS) -> None:
        self._formats = formats
        self._head = b""
        self._checker: _StreamChecker | None = None
        self.size = 0
        """Bytes fed so far."""

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """
        Take the next chunk of the stream.

        :param chunk: the bytes, possibly empty.
        """
        view = memoryview(chunk).cast("B")
        self.size += len(view)
        if self._checker is not None:
            self._checker.feed(view)
            return
        sniffed = len(self._head)
        if sniffed < _SNIFF_BYTES:
            self._head += bytes(view[: _SNIFF_BYTES - sniffed])
        if len(self._head) < 12:
            return
        fmt = sniff_answer_format(self._head)
        if fmt is not None and sniffed < 12:
            self._checker = _STREAM_CHECKERS[fmt]()
            self._checker.feed(self._head[:sniffed])
            self._checker.feed(view)

    def result(self) -> StreamedImage:
        """
        Check the stream fed so far.

        :return: the image's format and size in pixels.
        :raises ValueError: if the stream is empty, not an image of an accepted format, corrupt or
            truncated; the message says which.
        """
        if self.size == 0:
            raise ValueError("the body is empty")
        fmt = sniff_answer_format(self._head)
        if (
            fmt is None
            and len(self._head) < 12
            and any(magic.startswith(self._head[: len(magic)]) for magic in _MAGICS)
        ):
            raise ValueError(f"the image is truncated: it ends after {self.size} bytes")
        if fmt is None:
            raise ValueError(f"the body is {describe_format(self._head)}, {_not_one_of(self._formats)}")
        if fmt not in self._formats:
            raise ValueError(f"the body is a {_FORMAT_NAMES[fmt]} image, {_not_one_of(self._formats)}")
        if self._checker is None:
            self._checker = _STREAM_CHECKERS[fmt]()
            self._checker.feed(self._head)
        width, height = self._checker.result()
        return StreamedImage(fmt, width, height)


_MAGICS = (PNG_SIGNATURE, JPEG_SOI, b"RIFF")
_FORMAT_NAMES = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}


def _not_one_of(formats: tuple[str, ...]) -> str:
    names = [_FORMAT_NAMES.get(fmt, fmt) for fmt in formats]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f"not a {listed} image"


class PngChunkValidator:
    """
    Validate a whole PNG as it streams past, in bounded memory whatever its size.

    Every chunk's length, type and CRC is checked, IHDR must come first and IEND last with
    nothing after it.

    Feed every chunk to :meth:`feed`; :meth:`result` gives the PNG's size in pixels or says why
    the file is not a complete, intact PNG. Used to decide whether an existing output may be kept.
    """

    __slots__ = ("_buffer", "_crc", "_dimensions", "_ended", "_remaining", "_seen", "_type", "size")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._type = b""
        self._remaining = -1
        self._crc = 0
        self._seen = 0
        self._dimensions: tuple[int, int] | None = None
        self._ended = False
        self.size = 0
        """Bytes fed so far."""

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """
        Take the next bytes of the file.

        :param chunk: the bytes, possibly empty.
        :raises ValueError: as soon as the bytes fed cannot be an intact PNG.
        """
        data = memoryview(chunk).cast("B")
        self.size += len(data)
        while len(data):
            if self._ended:
                raise ValueError("the PNG has bytes after its IEND chunk")
            if self._seen == 0:
                need = len(PNG_SIGNATURE) - len(self._buffer)
                self._buffer += data[:need]
                data = data[need:]
                if len(self._buffer) == len(PNG_SIGNATURE):
                    if bytes(self._buffer) != PNG_SIGNATURE:
                        raise ValueError("it does not start with the PNG signature")
                    self._buffer.clear()
                    self._seen = 1
            elif self._remaining < 0:
                need = 8 - len(self._buffer)
                self._buffer += data[:need]
                data = data[need:]
                if len(self._buffer) == 8:
                    self._start_chunk(bytes(self._buffer))
            elif self._remaining > 0:
                take = data[: self._remaining]
                self._crc = zlib.crc32(take, self._crc)
                if self._type == b"IHDR":
                    self._buffer += take
                self._remaining -= len(take)
                data = data[len(take) :]
            else:
                need = 4 - len(self._buffer) + (13 if self._type == b"IHDR" else 0)
                self._buffer += data[:need]
                data = data[need:]
                if len(self._buffer) == 4 + (13 if self._type == b"IHDR" else 0):
                    self._end_chunk()

    def _start_chunk(self, header: bytes) -> None:
        length, kind = struct.unpack(">I4s", header)
        if length > 0x7FFFFFFF or not kind.isalpha():
            raise ValueError(f"chunk {self._seen} has a corrupt header")
        if self._seen == 1 and (kind != b"IHDR" or length != 13):
            raise ValueError("its first chunk is not IHDR")
        self._type = kind
        self._remaining = length
        self._crc = zlib.crc32(kind)
        self._buffer.clear()

    def _end_chunk(self) -> None:
        body = bytes(self._buffer)
        (crc,) = struct.unpack(">I", body[-4:])
        if crc != self._crc:
            raise ValueError(f"its {self._type.decode('ascii')} chunk is corrupt (the CRC does not match)")
        if self._type == b"IHDR":
            self._dimensions = struct.unpack(">II", body[:8])
        elif self._type == b"IEND":
            self._ended = True
        self._seen += 1
        self._remaining = -1
        self._buffer.clear()

    def result(self) -> tuple[int, int]:
        """
        Check the file fed so far.

        :return: ``(width, height)`` of the PNG.
        :raises ValueError: if it is empty, not a PNG, truncated or corrupt; the message says which.
        """
        if self.size == 0:
            raise ValueError("the file is empty")
        if not self._ended or self._dimensions is None:
            raise ValueError(f"the PNG is truncated: {self.size} bytes that do not end with the IEND chunk")
        width, height = self._dimensions
        if not width or not height:
            raise ValueError(f"its IHDR chunk gives an empty size ({width}x{height})")
        return width, height


__all__ = [
    "ALPHA_MODES",
    "ANSWER_FORMATS",
    "JPEG_MAX_TRAILING_PADDING",
    "MASK_MODES",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_PROMPT_CHARS",
    "MIN_IMAGE_SIDE",
    "PNG_IEND_CHUNK",
    "PNG_SIGNATURE",
    "SUPPORTED_FORMATS",
    "WEBP_HEAD_BYTES",
    "CheckedImage",
    "ImageInfo",
    "ImageStreamChecker",
    "JpegStreamChecker",
    "PngChunkValidator",
    "PngStreamChecker",
    "StreamedImage",
    "WebpStreamChecker",
    "check_mask_matches",
    "check_model_version",
    "check_prompt",
    "content_type",
    "describe_format",
    "inspect_image",
    "is_complete_png_tail",
    "png_dimensions",
    "sniff_answer_format",
    "sniff_format",
]
