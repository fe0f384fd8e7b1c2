"""
Is this a complete MP4? A streaming check of the ISO base media file format's top-level boxes.

An MP4 is a sequence of boxes, each starting with its size (4 bytes, big-endian; ``1`` means a
64-bit size follows the type, ``0`` means "to the end of the file") and its type (4 letters). A
download that broke off leaves a last box shorter than its size says. :class:`Mp4StreamChecker`
is fed the bytes as they arrive and at the end requires: ``ftyp`` first, ``moov`` and ``mdat``
present, and the boxes' sizes adding up to the file's size exactly. It also reads the video
track's width and height from the ``tkhd`` box inside ``moov`` when it can.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MP4_FORMAT = "MP4"
"""The ``format`` of a video result."""

_MOOV_LIMIT = 64 * 1024 * 1024
_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"})


@dataclass(frozen=True)
class Mp4Info:
    """
    What the check learned of a complete MP4.

    :param size: its size in bytes.
    :param boxes: the top-level boxes' types, in order.
    :param width: the video track's width in pixels, if the ``tkhd`` box gave it.
    :param height: the video track's height in pixels, if the ``tkhd`` box gave it.
    """

    size: int
    boxes: tuple[str, ...]
    width: int | None
    height: int | None


class Mp4StreamChecker:
    """Check an MP4 fed in chunks (see the module docstring); :meth:`result` raises ``ValueError`` if not."""

    def __init__(self) -> None:
        self.size = 0
        self._header = b""
        self._remaining = 0
        self._to_end = False
        self._boxes: list[str] = []
        self._moov: bytearray | None = None
        self._moov_kept = b""

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the file."""
        view = memoryview(chunk)
        self.size += len(chunk)
        while view:
            if self._to_end:
                return
            if self._remaining:
                taken = view[: self._remaining]
                if self._moov is not None and len(self._moov) + len(taken) <= _MOOV_LIMIT:
                    self._moov += taken
                self._remaining -= len(taken)
                view = view[len(taken) :]
                if not self._remaining and self._moov is not None:
                    self._moov_kept, self._moov = bytes(self._moov), None
                continue
            view = self._read_header(view)

    def _read_header(self, view: memoryview) -> memoryview:
        need = 16 if len(self._header) >= 4 and self._header[:4] == b"\x00\x00\x00\x01" else 8
        take = need - len(self._header)
        self._header += bytes(view[:take])
        view = view[take:]
        if len(self._header) < need:
            return view
        if need == 8 and self._header[:4] == b"\x00\x00\x00\x01":
            return view
        size, kind = struct.unpack(">I4s", self._header[:8])
        if size == 1:
            (size,) = struct.unpack(">Q", self._header[8:16])
        name = kind.decode("latin-1")
        if not self._boxes and kind != b"ftyp":
            raise ValueError(f"the file does not start with an ftyp box (it starts with {name!r})")
        if not (kind.isascii() and all(32 <= c < 127 for c in kind)):
            raise ValueError(f"box {len(self._boxes) + 1} has no valid type: not an MP4, or a damaged one")
        self._boxes.append(name)
        header = len(self._header)
        self._header = b""
        if size == 0:
            self._to_end = True
            return view
        if size < header:
            raise ValueError(f"box {name!r} states {size} bytes, less than its own header")
        self._remaining = size - header
        if kind == b"moov":
            self._moov = bytearray()
        return view

    def result(self) -> Mp4Info:
        """
        Give what was learned, once the whole file was fed.

        :raises ValueError: if the file is not a complete MP4 (cut short, missing a box, not an MP4).
        """
        if not self._boxes:
            raise ValueError("the file is empty" if self.size == 0 else "the file is too short to be an MP4")
        if self._remaining or self._header:
            raise ValueError(
                f"the file ends inside its box {self._boxes[-1]!r}: the boxes' sizes add up to more "
                f"than its {self.size} bytes (it was cut short)"
            )
        missing = [name for name in ("moov", "mdat") if name not in self._boxes]
        if missing:
            raise ValueError(f"the file has no {' and no '.join(missing)} box, so it holds no playable video")
        width, height = video_dimensions(self._moov_kept)
        return Mp4Info(self.size, tuple(self._boxes), width, height)


def video_dimensions(moov: bytes) -> tuple[int | None, int | None]:
    """
    Read the first track header (``tkhd``) with a picture size from a ``moov`` box's body.

    :param moov: the body of the ``moov`` box (its header excluded).
    :return: width and height in pixels, or ``(None, None)`` if none is found.
    """
    offset = 0
    while offset + 8 <= len(moov):
        size, kind = struct.unpack_from(">I4s", moov, offset)
        header = 8
        if size == 1 and offset + 16 <= len(moov):
            (size,) = struct.unpack_from(">Q", moov, offset + 8)
            header = 16
        if size < header or offset + size > len(moov):
            return None, None
        body = moov[offset + header : offset + size]
        if kind in _CONTAINERS:
            found = video_dimensions(body)
            if found[0]:
                return found
        elif kind == b"tkhd" and len(body) >= 84:
            width, height = struct.unpack_from(">II", body, len(body) - 8)
            if width >> 16 and height >> 16:
                return width >> 16, height >> 16
        offset += size
    return None, None


__all__ = ["MP4_FORMAT", "Mp4Info", "Mp4StreamChecker", "video_dimensions"]
