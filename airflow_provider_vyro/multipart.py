"""
The ``multipart/form-data`` body of one request: joined in memory when small, streamed when large.

A body of at most :data:`IN_MEMORY_LIMIT` bytes of files is joined from bytes: a few
microseconds, where requests-toolbelt's ``MultipartEncoder`` takes about a hundred. A larger one
is requests-toolbelt's encoder, which streams each file from where it is, so memory stays flat.
Both give the same bytes for the same boundary (part headers rendered as urllib3 renders them,
which is what the encoder uses).
"""

from __future__ import annotations

import uuid
from typing import IO, TYPE_CHECKING, Any

from urllib3.fields import format_multipart_header_param

if TYPE_CHECKING:
    from collections.abc import Mapping

    from requests_toolbelt.multipart.encoder import MultipartEncoder

IN_MEMORY_LIMIT = 1024 * 1024
"""The most bytes of files a body joined in memory holds; larger bodies stream."""


class FilePart:
    """
    One file of a form: its name, exactly ``length`` bytes from ``fileobj``'s start, and its type.

    :param filename: the file name the form gives.
    :param fileobj: a seekable binary file; it is rewound before each body is built.
    :param length: how many bytes of it are sent.
    :param content_type: the part's ``Content-Type``.
    """

    def __init__(self, filename: str, fileobj: IO[bytes], length: int, content_type: str) -> None:
        self.filename = filename
        self.fileobj = fileobj
        self.length = length
        self.content_type = content_type


class _Reader:
    """Reads exactly ``len`` bytes from a file object, so any seekable file streams into the upload."""

    def __init__(self, fileobj: IO[bytes], length: int) -> None:
        self._fileobj = fileobj
        self.len = length

    def read(self, size: int = -1) -> bytes:
        if self.len <= 0:
            return b""
        size = self.len if size < 0 else min(size, self.len)
        data = self._fileobj.read(size)
        self.len -= len(data)
        return data


def content_type_of(boundary: str) -> str:
    """
    Give the request's ``Content-Type`` for a body built with ``boundary``.

    :param boundary: the boundary, without the leading dashes.
    """
    return f"multipart/form-data; boundary={boundary}"


def encode(
    fields: Mapping[str, Any], files: Mapping[str, FilePart], *, boundary: str | None = None
) -> tuple[bytes | MultipartEncoder, str]:
    """
    Build a form's body: the text ``fields`` first, then the ``files``, each file read from its start.

    :param fields: text parts by name (strings are sent as UTF-8; other values as their ``str``).
    :param files: file parts by name.
    :param boundary: the boundary (default: a random one, as the encoder picks).
    :return: the body (bytes, or a streaming encoder with ``len`` and ``read``) and its content type.
    """
    boundary = boundary or uuid.uuid4().hex
    if sum(part.length for part in files.values()) > IN_MEMORY_LIMIT:
        return _streaming(fields, files, boundary), content_type_of(boundary)
    dashes = f"--{boundary}\r\n".encode()
    chunks: list[bytes] = []
    for name, value in fields.items():
        chunks += (
            dashes,
            f"Content-Disposition: form-data; {format_multipart_header_param('name', name)}\r\n\r\n".encode(),
            value.encode() if isinstance(value, str) else str(value).encode(),
            b"\r\n",
        )
    for name, part in files.items():
        part.fileobj.seek(0)
        chunks += (
            dashes,
            (
                f"Content-Disposition: form-data; {format_multipart_header_param('name', name)}; "
                f"{format_multipart_header_param('filename', part.filename)}\r\n"
                f"Content-Type: {part.content_type}\r\n\r\n"
            ).encode(),
            part.fileobj.read(part.length),
            b"\r\n",
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), content_type_of(boundary)


def _streaming(fields: Mapping[str, Any], files: Mapping[str, FilePart], boundary: str) -> MultipartEncoder:
    from requests_toolbelt.multipart.encoder import MultipartEncoder

    form: dict[str, Any] = {name: str(value) for name, value in fields.items()}
    for name, part in files.items():
        part.fileobj.seek(0)
        form[name] = (part.filename, _Reader(part.fileobj, part.length), part.content_type)
    return MultipartEncoder(fields=form, boundary=boundary)


__all__ = ["IN_MEMORY_LIMIT", "FilePart", "content_type_of", "encode"]
