"""
The output file's format: named by its extension, decided before the call, converted after it.

An output path ends in ``.png``, ``.jpg``/``.jpeg`` or ``.webp``, and the file written there is in
that format. The v2 API answers in a format of its choosing (PNG, JPEG or WebP, read from the
bytes); an answer in another format than the output's is converted with Pillow.

Whether the conversion will be possible is decided before the call (:func:`check_output_format`),
so a paid answer is never lost to a conversion that cannot happen: a ``.jpg`` output is refused
for an operation whose answer is transparent by purpose (JPEG has no alpha channel), and for an
image with transparency given to an operation whose answer keeps it (the catalogue's
:attr:`~airflow_provider_vyro.catalogue.Endpoint.answer_alpha` says which);
Pillow must be able to read every format the answer may come in and write the output's.
Elsewhere an answer with transparency written as JPEG is laid on white, and the log says so.

Pillow is imported only when a conversion runs or is checked.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from airflow_provider_vyro.exceptions import VyroInputError

if TYPE_CHECKING:
    from airflow_provider_vyro.catalogue import Endpoint

EXTENSION_FORMATS: dict[str, str] = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
"""The output extensions, and the format each names."""

_NAMES = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}
_CHUNK = 1024 * 1024


def format_of_path(path: str) -> str | None:
    """
    Give the format an output path's extension names (``PNG``, ``JPEG`` or ``WEBP``), or ``None``.

    :param path: the output path or URI.
    """
    return EXTENSION_FORMATS.get(posixpath.splitext(path.rstrip("/"))[1].lower())


def _pillow_can(fmt: str, *, write: bool) -> bool:
    from PIL import Image, features

    if fmt == "WEBP" and not features.check("webp"):
        return False
    Image.init()
    return fmt in (Image.SAVE if write else Image.OPEN)


def check_output_format(endpoint: Endpoint, path: str, *, input_has_alpha: bool = False) -> str:
    """
    Decide, before the call, that any answer of ``endpoint`` can be written at ``path``.

    :param endpoint: the operation.
    :param path: the output path as given.
    :param input_has_alpha: the operation's image input has transparency.
    :return: the output's format.
    :raises VyroInputError: on ``output_path``, if the extension names no supported format, the
        format would lose the transparency the answer carries, or Pillow cannot make the conversion.
    """
    fmt = format_of_path(path)
    if fmt is None:
        raise VyroInputError(
            "output_path",
            f"'{path}' must end in .png, .jpg, .jpeg or .webp: the extension names the image format written",
        )
    if fmt == "JPEG" and endpoint.answer_alpha == "transparent":
        raise VyroInputError(
            "output_path",
            f"'{path}' is a JPEG, which has no alpha channel; {endpoint.operation} makes an image on a "
            "transparent background: write .png or .webp (nothing was sent)",
        )
    if fmt == "JPEG" and input_has_alpha and endpoint.answer_alpha == "input":
        raise VyroInputError(
            "output_path",
            f"'{path}' is a JPEG, which has no alpha channel, and the image has transparency that "
            f"{endpoint.operation} keeps: write .png or .webp (nothing was sent)",
        )
    others = [f for f in endpoint.answer_formats if f != fmt]
    if others:
        missing = [f for f in others if not _pillow_can(f, write=False)]
        if not _pillow_can(fmt, write=True):
            missing.append(fmt)
        if missing:
            raise VyroInputError(
                "output_path",
                f"'{path}' is a {_NAMES[fmt]} and the answer may need converting, but this Pillow "
                f"cannot handle {', '.join(_NAMES.get(f, f) for f in missing)}: write "
                f"{' or '.join(_NAMES[f] for f in endpoint.answer_formats)} instead (nothing was sent)",
            )
    return fmt


@dataclass(frozen=True)
class Written:
    """
    What :func:`write_as` wrote.

    :param format: the format written.
    :param width: width in pixels.
    :param height: height in pixels.
    :param size: size of the file in bytes.
    :param sha256: hex SHA-256 of the file.
    :param note: what the conversion did, for the log (e.g. that transparency was laid on white).
    """

    format: str
    width: int
    height: int
    size: int
    sha256: str
    note: str = ""


class _HashingWriter:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def copy(source: BinaryIO | io.BytesIO, destination: BinaryIO) -> tuple[int, str]:
    """
    Copy ``source`` from its start into ``destination``; give the size and SHA-256 copied.

    :param source: a readable, seekable binary file.
    :param destination: a writable binary file.
    """
    source.seek(0)
    out = _HashingWriter(destination)
    while chunk := source.read(_CHUNK):
        out.write(chunk)
    return out.size, out.digest.hexdigest()


def write_as(source: BinaryIO, fmt: str, destination: BinaryIO) -> Written:
    """
    Decode the image in ``source`` and write it into ``destination`` in ``fmt``.

    PNG and WebP keep the alpha channel (WebP losslessly); JPEG (quality 95) lays an image with
    transparency on white.

    :param source: a readable, seekable binary file holding a complete image.
    :param fmt: ``PNG``, ``JPEG`` or ``WEBP``.
    :param destination: a writable binary file.
    :raises ValueError: if Pillow cannot decode the image.
    """
    from PIL import Image, UnidentifiedImageError

    source.seek(0)
    note = ""
    try:
        with Image.open(source) as opened:
            opened.load()
            image = opened.copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"the answer could not be decoded: {exc}") from None
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    encoded = io.BytesIO()
    if fmt == "JPEG":
        if has_alpha:
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
            note = "; its transparency was laid on white (JPEG has no alpha channel)"
        elif image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(encoded, format="JPEG", quality=95)
    elif fmt == "WEBP":
        image.save(encoded, format="WEBP", lossless=True)
    else:
        image.save(encoded, format="PNG")
    size, sha256 = copy(encoded, destination)
    return Written(fmt, image.width, image.height, size, sha256, note)


__all__ = [
    "EXTENSION_FORMATS",
    "Written",
    "check_output_format",
    "copy",
    "format_of_path",
    "write_as",
]
