"""
Validating answers: PNG, JPEG and WebP images checked as their bytes stream past.

An answer of the API is written to its destination as it arrives; these checkers see every
chunk on the way, keep a few bytes whatever the image's size, and say at the end whether the
bytes were one complete image, of which format (read from the bytes, never from a
``Content-Type``) and size. :class:`ImageStreamChecker` takes any answer format;
:func:`file_validator` gives the checker of a whole file in a known format, used to decide
whether an existing output may be kept (a PNG then has every chunk's CRC checked).

Each checker's :meth:`result` raises ``ValueError`` saying what is wrong: the caller turns it
into the error of its context (an answer that is not an image, an output not worth keeping).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from airflow_provider_vyro.catalogue import ANSWER_FORMATS
from airflow_provider_vyro.images import (
    JPEG_EOI,
    JPEG_MAX_TRAILING_PADDING,
    JPEG_SOI,
    PNG_IEND_CHUNK,
    PNG_SIGNATURE,
    SNIFF_BYTES,
    describe_format,
    is_complete_png_tail,
    png_dimensions,
    sniff_format,
)
from airflow_provider_vyro.png import PngChunkValidator

if TYPE_CHECKING:
    from collections.abc import Callable

_PNG_HEAD_BYTES = len(PNG_SIGNATURE) + 4 + 4 + 13 + 4
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE_MARKERS = frozenset(range(0xD0, 0xD8)) | {0x01}
_JPEG_MAX_SEGMENTS = 1000


class _EndsKept:
    """Count the bytes of a stream and keep its first ``head_bytes`` and last ``tail_bytes``."""

    __slots__ = ("_head", "_tail", "size")
    head_bytes = 0
    tail_bytes = 0

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
        if not len(view):
            return
        self.size += len(view)
        missing = self.head_bytes - len(self._head)
        if missing > 0:
            self._head += view[:missing]
        if keep := self.tail_bytes:
            self._tail = (self._tail + bytes(view[-keep:]))[-keep:]
        self._after_feed(view)

    def _after_feed(self, view: memoryview) -> None:
        """Look further at the chunk just fed (nothing by default)."""


class PngStreamChecker(_EndsKept):
    """
    Validate a PNG as it streams past, keeping 45 bytes whatever its size.

    Feed every chunk to :meth:`feed` as it is written; :meth:`result` then gives the PNG's size in
    pixels, or says why the stream is not a complete PNG. It keeps the first 33 bytes (signature
    and IHDR chunk, whose CRC is checked) and the last 12 (which must be the IEND chunk).
    """

    __slots__ = ()
    head_bytes = _PNG_HEAD_BYTES
    tail_bytes = len(PNG_IEND_CHUNK)

    @property
    def retained(self) -> int:
        """Bytes of the stream the checker holds (at most 45)."""
        return len(self._head) + len(self._tail)

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


def sniff_answer_format(head: bytes) -> str | None:
    """
    Tell the format of an API answer from its first bytes.

    :param head: the first bytes of the body (twelve are enough).
    :return: ``"PNG"``, ``"JPEG"`` or ``"WEBP"``, or ``None`` for anything else.
    """
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    return sniff_format(head)


class JpegStreamChecker(_EndsKept):
    """
    Validate a JPEG as it streams past, keeping a few bytes whatever its size.

    It walks the segments from the start of the stream (skipping their bodies without keeping
    them) up to the frame header, which gives the size in pixels, and keeps the last bytes, which
    must be the end-of-image marker (``FF D9``, then at most :data:`JPEG_MAX_TRAILING_PADDING`
    bytes of zeros or whitespace).
    """

    __slots__ = ("_dimensions", "_pending", "_problem", "_segments", "_skip", "_started")
    head_bytes = SNIFF_BYTES
    tail_bytes = len(JPEG_EOI) + JPEG_MAX_TRAILING_PADDING

    def __init__(self) -> None:
        super().__init__()
        self._started = False
        self._pending = bytearray()
        self._skip = 0
        self._segments = 0
        self._dimensions: tuple[int, int] | None = None
        self._problem: str | None = None

    def _after_feed(self, view: memoryview) -> None:
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
                self._problem = f"the body is {describe_format(bytes(self._head))}, not a JPEG image"
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

    @property
    def retained(self) -> int:
        """
        Bytes of the stream the checker holds.

        The first 64, the last 18, and the part of a segment header still being read (none once
        the frame header is found).
        """
        return len(self._head) + len(self._pending) + len(self._tail)

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


class WebpStreamChecker(_EndsKept):
    """
    Validate a WebP image as it streams past, keeping 30 bytes whatever its size.

    The RIFF header states the file's length, so a complete WebP is exactly that long; the size
    in pixels comes from the first chunk (``VP8 ``, ``VP8L`` or ``VP8X``).
    """

    __slots__ = ()
    head_bytes = WEBP_HEAD_BYTES

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


class StreamValidator(Protocol):
    """What every checker of one format offers: feed it the bytes, then ask for the result."""

    size: int
    """Bytes fed so far."""

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """Take the next bytes."""

    def result(self) -> tuple[int, int]:
        """Give ``(width, height)``, or raise ``ValueError`` saying why the bytes are no complete image."""


_STREAM_CHECKERS: dict[str, Callable[[], StreamValidator]] = {
    "PNG": PngStreamChecker,
    "JPEG": JpegStreamChecker,
    "WEBP": WebpStreamChecker,
}


class ImageStreamChecker:
    """
    Validate an image of any answer format as it streams past, keeping a few bytes whatever its size.

    The format is read from the first bytes (never from a ``Content-Type``), then the validator
    of that format takes the stream: the same one that later decides whether an existing output
    may be kept (:func:`file_validator`), so an answer is accepted only if a later run with
    ``overwrite=False`` would keep what was written.

    :param formats: the formats accepted (a subset of :data:`ANSWER_FORMATS`); an image in
        another format is refused, naming both.
    """

    __slots__ = ("_checker", "_formats", "_head", "_problem", "size")

    def __init__(self, formats: tuple[str, ...] = ANSWER_FORMATS) -> None:
        self._formats = formats
        self._problem: str | None = None
        self._head = b""
        self._checker: StreamValidator | None = None
        self.size = 0
        """Bytes fed so far."""

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """
        Take the next chunk of the stream.

        :param chunk: the bytes, possibly empty.
        """
        view = memoryview(chunk).cast("B")
        self.size += len(view)
        if self._problem is not None:
            return
        try:
            if self._checker is not None:
                self._checker.feed(view)
                return
            sniffed = len(self._head)
            if sniffed < SNIFF_BYTES:
                self._head += bytes(view[: SNIFF_BYTES - sniffed])
            if len(self._head) < 12:
                return
            fmt = sniff_answer_format(self._head)
            if fmt is not None and sniffed < 12:
                self._checker = file_validator(fmt)
                self._checker.feed(self._head[:sniffed])
                self._checker.feed(view)
        except ValueError as exc:
            self._problem = str(exc)

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
        if self._problem is not None:
            raise ValueError(f"the {_FORMAT_NAMES[fmt]} image is corrupt: {self._problem}")
        if self._checker is None:
            self._checker = file_validator(fmt)
            try:
                self._checker.feed(self._head)
            except ValueError as exc:
                raise ValueError(f"the {_FORMAT_NAMES[fmt]} image is corrupt: {exc}") from None
        width, height = self._checker.result()
        return StreamedImage(fmt, width, height)


_MAGICS = (PNG_SIGNATURE, JPEG_SOI, b"RIFF")
_FORMAT_NAMES = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}


def _not_one_of(formats: tuple[str, ...]) -> str:
    names = [_FORMAT_NAMES.get(fmt, fmt) for fmt in formats]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f"not a {listed} image"


def file_validator(fmt: str) -> StreamValidator:
    """
    Give a validator of a whole file in ``fmt``, for deciding whether an existing output may be kept.

    A PNG has every chunk's CRC checked (:class:`PngChunkValidator`); a JPEG must reach its
    end-of-image marker (:class:`JpegStreamChecker`); a WebP must be as long as its header
    states (:class:`WebpStreamChecker`).

    :param fmt: ``"PNG"``, ``"JPEG"`` or ``"WEBP"``.
    :raises KeyError: for another format.
    """
    return _FILE_VALIDATORS[fmt]()


_FILE_VALIDATORS: dict[str, Callable[[], StreamValidator]] = {
    **_STREAM_CHECKERS,
    "PNG": PngChunkValidator,
}


__all__ = [
    "WEBP_HEAD_BYTES",
    "ImageStreamChecker",
    "JpegStreamChecker",
    "PngChunkValidator",
    "PngStreamChecker",
    "StreamValidator",
    "StreamedImage",
    "WebpStreamChecker",
    "file_validator",
    "sniff_answer_format",
]
