"""
The emulator's videos: a few seconds panning over the first frame, or over a scene drawn from the prompt.

Encoded as H.264 in MP4 with PyAV (whose wheels bring FFmpeg and its codecs; the ``emulator``
extra installs it), so a person can play the result. Without PyAV the emulator answers a
structurally valid MP4 (``ftyp``, ``moov``, ``mdat``) that holds no playable picture.
"""

from __future__ import annotations

import io
import struct
from typing import Any

from PIL import Image

from airflow_provider_vyro.emulator import scenes

SECONDS = 3
"""Length of a clip."""

FPS = 12
"""Frames per second of a clip."""

LONG_SIDE = 320
"""Pixels on the long side of a clip (even, as H.264 needs)."""


def clip_size(aspect_ratio: str) -> tuple[int, int]:
    """Give an even ``(width, height)`` for an aspect ratio such as ``16:9``."""
    width, height = scenes.size_of(aspect_ratio, LONG_SIDE)
    return width - width % 2, height - height % 2


def first_picture(frame: Image.Image | None, prompt: str, style: str, size: tuple[int, int]) -> Image.Image:
    """Give the picture a clip pans over: the first frame, or a landscape drawn from the prompt (larger)."""
    if frame is not None:
        return frame.convert("RGB")
    wide = (size[0] * 3 // 2, size[1] * 3 // 2)
    return scenes.landscape(prompt, seed=None, style=style, size=wide).convert("RGB")


def frames(picture: Image.Image, size: tuple[int, int], count: int) -> list[Image.Image]:
    """Give ``count`` frames of ``size`` panning from the left of ``picture`` to its right, zooming in."""
    width, height = picture.size
    out = []
    for index in range(count):
        t = index / max(1, count - 1)
        zoom = 0.85 - 0.1 * t
        crop_w = min(width, max(2, round(min(width, height * size[0] / size[1]) * zoom)))
        crop_h = min(height, max(2, round(crop_w * size[1] / size[0])))
        left = round((width - crop_w) * t)
        top = round((height - crop_h) / 2)
        out.append(
            picture.crop((left, top, left + crop_w, top + crop_h)).resize(size, Image.Resampling.BILINEAR)
        )
    return out


def render(frame: Image.Image | None, prompt: str, style: str, aspect_ratio: str) -> bytes:
    """Give the MP4 of a job: a playable clip with PyAV, else a structurally valid file (see the module)."""
    size = clip_size(aspect_ratio)
    pictures = frames(first_picture(frame, prompt, style, size), size, SECONDS * FPS)
    try:
        import av
    except ImportError:
        return structural_mp4(size)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream: Any = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        video_frame: Any = av.VideoFrame
        for picture in pictures:
            for packet in stream.encode(video_frame.from_image(picture)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def thumbnail(frame: Image.Image | None, prompt: str, style: str, aspect_ratio: str) -> bytes:
    """Give the clip's first frame as a JPEG."""
    size = clip_size(aspect_ratio)
    buffer = io.BytesIO()
    frames(first_picture(frame, prompt, style, size), size, 1)[0].save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def structural_mp4(size: tuple[int, int]) -> bytes:
    """Give a small MP4 whose boxes are well formed (``ftyp``, ``moov`` with a track header, ``mdat``)."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    mvhd = _box(b"mvhd", bytes(4) + bytes(8) + struct.pack(">II", 1000, SECONDS * 1000) + bytes(80))
    tkhd_body = bytes(4) + bytes(8) + struct.pack(">II", 1, 0) + struct.pack(">I", SECONDS * 1000) + bytes(52)
    tkhd = _box(b"tkhd", tkhd_body + struct.pack(">II", size[0] << 16, size[1] << 16))
    moov = _box(b"moov", mvhd + _box(b"trak", tkhd))
    return ftyp + moov + _box(b"mdat", bytes(64))


__all__ = ["FPS", "LONG_SIDE", "SECONDS", "clip_size", "render", "structural_mp4", "thumbnail"]
