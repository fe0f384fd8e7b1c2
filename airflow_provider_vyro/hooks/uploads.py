"""
The files of a request: opening each source once, inspecting it, and naming its multipart part.

A source is a local path, bytes, a binary file object, or a
:class:`~airflow_provider_vyro.images.CheckedImage` whose header the caller already inspected
(then nothing is parsed twice). Each file is sent whole from its start, and streamed from where
it is when the body is large (:mod:`airflow_provider_vyro.multipart`).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, BinaryIO, TypeAlias, cast

from airflow_provider_vyro import multipart
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.images import CheckedImage, ImageInfo, content_type, inspect_image

if TYPE_CHECKING:
    from contextlib import ExitStack

ImageSource: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | CheckedImage"
"""
What the hook accepts for an image or mask: a local path, the bytes, a binary file object, or a
:class:`~airflow_provider_vyro.images.CheckedImage` whose header the caller already inspected.
"""


@dataclass(frozen=True)
class Part:
    """
    One file of the multipart upload: the open file (sent whole) and how it is named.

    :param fileobj: the open, seekable file.
    :param info: what its header says (format, size in pixels and bytes).
    :param filename: the file name the form gives it (the stem of its path and its format's extension).
    :param shown: how errors and logs name it (its path, or ``<N bytes>``).
    """

    fileobj: IO[bytes]
    info: ImageInfo
    filename: str
    shown: str

    def as_file(self) -> multipart.FilePart:
        """Give the part as :mod:`airflow_provider_vyro.multipart` sends it."""
        return multipart.FilePart(self.filename, self.fileobj, self.info.size, content_type(self.info.format))


def open_part(stack: ExitStack, source: ImageSource, field: str) -> Part:
    """
    Open ``source`` (closed with ``stack``), inspect its header and name its part.

    :param stack: closes what is opened here when the call ends.
    :param source: the file, in any form :data:`ImageSource` allows.
    :param field: the form field it is sent as (named in errors).
    :raises VyroInputError: on ``field`` if it cannot be read or is not an image the API takes.
    """
    if isinstance(source, CheckedImage):
        fileobj: IO[bytes] = stack.enter_context(source.open())
        name, info = source.name, source.info
    else:
        fileobj, name = open_source(stack, source, field)
        info = inspect_image(cast("BinaryIO", fileobj), field=field, name=name)
    stem = os.path.splitext(os.path.basename(name))[0] if not name.startswith("<") else field
    extension = ".png" if info.format == "PNG" else ".jpg"
    return Part(fileobj, info, f"{stem or field}{extension}", name)


def open_source(stack: ExitStack, source: ImageSource, field: str) -> tuple[IO[bytes], str]:
    """
    Open ``source`` as a seekable binary file, and say how to name it.

    A file object that cannot seek is read into memory.

    :param stack: closes a file opened here when the call ends.
    :param source: a path, bytes or a binary file object.
    :param field: the form field it is sent as (named in errors).
    :raises VyroInputError: on ``field`` if it is missing, a folder, unreadable or of another type.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source)), f"<{len(source)} bytes>"
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            return stack.enter_context(open(path, "rb")), path
        except FileNotFoundError:
            raise VyroInputError(field, f"{path!r} does not exist") from None
        except IsADirectoryError:
            raise VyroInputError(field, f"{path!r} is a directory, not a file") from None
        except OSError as err:
            raise VyroInputError(field, f"{path!r} cannot be read: {err.strerror or err}") from None
    if hasattr(source, "read"):
        name = str(getattr(source, "name", "") or getattr(source, "path", "") or f"<{field} file>")
        if not (hasattr(source, "seekable") and source.seekable()):
            return io.BytesIO(source.read()), name
        return cast("IO[bytes]", source), name
    raise VyroInputError(
        field, f"expected a path, bytes or a binary file object, got {type(source).__name__}"
    )


__all__ = ["ImageSource", "Part", "open_part", "open_source"]
