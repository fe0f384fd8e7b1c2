"""
A whole PNG validated as it streams past: every chunk, and the image data decoded.

:class:`PngChunkValidator` is the validator of a PNG answer and of an existing PNG output (see
:func:`airflow_provider_vyro.streams.file_validator`): a file it accepts is one a later run may
keep. It holds a few bytes and a zlib inflater whatever the image's size.
"""

from __future__ import annotations

import struct
import zlib

from airflow_provider_vyro.images import PNG_SIGNATURE


class PngChunkValidator:
    """
    Validate a whole PNG as it streams past, in bounded memory whatever its size.

    Every chunk's length, type and CRC is checked, IHDR must come first and IEND last with
    nothing after it, and the image data must decode: the IDAT chunks' zlib stream is inflated
    (a megabyte at a time, the pixels thrown away as they come) and must end, checksum right,
    exactly as long as the IHDR chunk's size, colour type, bit depth and interlacing make it.

    Feed every chunk to :meth:`feed`; :meth:`result` gives the PNG's size in pixels or says why
    the file is not a complete, intact PNG. Used to decide whether an existing output may be kept.
    """

    __slots__ = (
        "_buffer",
        "_crc",
        "_dimensions",
        "_ended",
        "_inflater",
        "_raw",
        "_raw_expected",
        "_remaining",
        "_seen",
        "_type",
        "_undecodable",
        "size",
    )

    def __init__(self) -> None:
        self._undecodable: str | None = None
        self._inflater = zlib.decompressobj()
        self._raw = 0
        self._raw_expected = -1
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
                elif self._type == b"IDAT":
                    self._inflate(take)
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
        if self._undecodable is not None:
            raise ValueError(f"its image data cannot be decoded ({self._undecodable})")
        if self._type == b"IHDR":
            self._dimensions = struct.unpack(">II", body[:8])
            self._raw_expected = _png_raw_size(*self._dimensions, body[8], body[9], body[12])
        elif self._type == b"IEND":
            self._ended = True
            if not self._inflater.eof or self._raw_expected not in (-1, self._raw):
                raise ValueError(
                    f"its image data cannot be decoded: {self._raw} bytes of pixel rows where its "
                    f"header makes {self._raw_expected}"
                    + ("" if self._inflater.eof else ", and the zlib stream does not end")
                )
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

    def _inflate(self, data: memoryview) -> None:
        """Inflate image data; a failure is told once the chunk's CRC was checked (which comes first)."""
        inflater = self._inflater
        try:
            while len(data) and not inflater.eof and self._undecodable is None:
                self._raw += len(inflater.decompress(data, _INFLATE_STEP))
                data = memoryview(inflater.unconsumed_tail)
        except zlib.error as exc:
            self._undecodable = str(exc)


_INFLATE_STEP = 1024 * 1024
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_raw_size(width: int, height: int, depth: int, colour: int, interlace: int) -> int:
    """Give the bytes of a PNG's inflated pixel rows (a filter byte, then the pixels); -1 if unknown."""
    channels = _PNG_CHANNELS.get(colour)
    if channels is None or interlace > 1:
        return -1
    bits = channels * depth
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        columns, rows = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if columns > 0 and rows > 0:
            total += rows * (1 + (columns * bits + 7) // 8)
    return total


__all__ = ["PngChunkValidator"]
