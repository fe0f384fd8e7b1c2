"""
Reading a recorded file for the view.

Open it through the task's storage connection, tell what it is from its bytes, stream it, and make
a thumbnail of it in memory (never written anywhere).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, cast

from airflow_provider_vyro import storage
from airflow_provider_vyro.streams import sniff_answer_format

if TYPE_CHECKING:
    from collections.abc import Iterator

CHUNK_SIZE = 256 * 1024
"""Bytes per chunk of a streamed file."""

THUMBNAIL_SIZE = 320
"""The longest side of a thumbnail, in pixels."""

MAX_THUMBNAIL_SOURCE_BYTES = 64 * 1024 * 1024
"""A larger file gets no thumbnail (the view shows the card without it)."""

MAX_THUMBNAIL_SOURCE_PIXELS = 80_000_000
"""An image with more pixels gets no thumbnail (a decompression bomb would stall the api-server)."""

CONTENT_TYPES: dict[str, str] = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "MP4": "video/mp4",
}
"""The formats the view serves and their MIME types; anything else is not served."""

_SNIFF_BYTES = 64


class FileProblem(Exception):
    """A recorded file that cannot be shown; the message says why, for the card."""


class Missing(FileProblem):
    """The recorded file is no longer there."""


class NotAnImage(FileProblem):
    """The recorded file is neither an image nor a video the view shows."""


@dataclass(frozen=True)
class Recorded:
    """
    A recorded file, opened.

    :param fileobj: the file, positioned at its start.
    :param fmt: ``PNG``, ``JPEG``, ``WEBP`` or ``MP4``, from its first bytes.
    :param size: its size in bytes.
    """

    fileobj: BinaryIO
    fmt: str
    size: int

    @property
    def content_type(self) -> str:
        """The MIME type of its format."""
        return CONTENT_TYPES[self.fmt]


def sniff(head: bytes) -> str | None:
    """
    Tell the format of a file the view serves from its first bytes.

    :param head: at least the first 12 bytes.
    :return: a key of :data:`CONTENT_TYPES`, or ``None``.
    """
    fmt = sniff_answer_format(head)
    if fmt is not None:
        return fmt
    if head[4:8] == b"ftyp":
        return "MP4"
    return None


@contextlib.contextmanager
def open_recorded(path: str, conn_id: str | None) -> Iterator[BinaryIO]:
    """
    Open a recorded file for reading through the task's storage connection.

    :param path: the path as the task recorded it.
    :param conn_id: the task's storage connection (``None``: the scheme's default).
    :raises Missing: nothing is there.
    :raises FileProblem: the path cannot be resolved or read.
    """
    try:
        location = storage.resolve(path, field="path", conn_id=conn_id)
    except Exception as exc:
        raise FileProblem(describe_problem(exc)) from None
    if storage.probe_file(location) is None:
        raise Missing("the file is no longer there")
    folder = storage.local_folder(location)
    try:
        if folder is not None:
            fileobj = cast("BinaryIO", open(location.path, "rb"))  # noqa: SIM115 - closed below
        else:
            fileobj = cast("BinaryIO", location.fs.open(location.path, "rb", block_size=CHUNK_SIZE))
    except FileNotFoundError:
        raise Missing("the file is no longer there") from None
    with fileobj:
        yield fileobj


@contextlib.contextmanager
def open_media(path: str, conn_id: str | None) -> Iterator[Recorded]:
    """
    Open a recorded image or video and tell its format and size.

    :param path: the path as the task recorded it.
    :param conn_id: the task's storage connection.
    :raises Missing: nothing is there.
    :raises NotAnImage: its bytes are not one of :data:`CONTENT_TYPES`.
    """
    with open_recorded(path, conn_id) as fileobj:
        head = fileobj.read(_SNIFF_BYTES)
        fmt = sniff(head)
        if fmt is None:
            raise NotAnImage("the file is not an image (its bytes are not PNG, JPEG, WebP or MP4)")
        size = fileobj.seek(0, io.SEEK_END)
        fileobj.seek(0)
        yield Recorded(fileobj, fmt, size)


def probe(path: str, conn_id: str | None) -> tuple[str | None, str | None]:
    """
    Tell the format of a recorded file, or why it cannot be shown.

    :param path: the path as the task recorded it.
    :param conn_id: the task's storage connection.
    :return: ``(format, None)`` when it can be shown, else ``(None, why)``.
    """
    try:
        with open_media(path, conn_id) as media:
            return media.fmt, None
    except Exception as exc:
        return None, describe_problem(exc)


def chunks(fileobj: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    """
    Read ``length`` bytes from ``start`` in chunks of :data:`CHUNK_SIZE`.

    :param fileobj: an open, seekable file.
    :param start: the first byte.
    :param length: how many bytes.
    """
    fileobj.seek(start)
    left = length
    while left > 0:
        chunk = fileobj.read(min(CHUNK_SIZE, left))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk


def thumbnail(media: Recorded) -> tuple[bytes, str]:
    """
    Make a thumbnail of an opened image, at most :data:`THUMBNAIL_SIZE` pixels on its longest side.

    :param media: an opened image (not a video).
    :return: the encoded thumbnail (PNG when the image has transparency, else JPEG) and its MIME type.
    :raises NotAnImage: it is a video, too large, or Pillow cannot decode it.
    """
    from PIL import Image, UnidentifiedImageError

    if media.fmt not in ("PNG", "JPEG", "WEBP"):
        raise NotAnImage("a video has no thumbnail of its own")
    if media.size > MAX_THUMBNAIL_SOURCE_BYTES:
        raise NotAnImage("the image is too large for a thumbnail")
    data = media.fileobj.read()
    try:
        with Image.open(io.BytesIO(data), formats=[media.fmt]) as image:
            if image.width * image.height > MAX_THUMBNAIL_SOURCE_PIXELS:
                raise NotAnImage("the image has too many pixels for a thumbnail")
            image.draft("RGB", (THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            buffer = io.BytesIO()
            if image.mode in ("RGBA", "LA", "P", "PA"):
                image.convert("RGBA").save(buffer, format="PNG", optimize=True)
                return buffer.getvalue(), "image/png"
            image.convert("RGB").save(buffer, format="JPEG", quality=85)
            return buffer.getvalue(), "image/jpeg"
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise NotAnImage(f"the image cannot be decoded: {exc}") from None


def describe_problem(exc: BaseException) -> str:
    """
    Say in a few words why a recorded file cannot be read, without a traceback.

    :param exc: what reading it raised.
    """
    if isinstance(exc, FileProblem):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return "the file is no longer there"
    if isinstance(exc, PermissionError):
        return "the api-server may not read it"
    return f"it cannot be read ({type(exc).__name__})"
