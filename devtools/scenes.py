"""Test images drawn on the fly: a gradient with a disc, and a mask over the disc."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path


def scene_png(size: tuple[int, int], seed: int = 0) -> tuple[bytes, bytes]:
    """
    Return an image (a gradient with a disc) and a mask over the disc, both PNG bytes.

    :param size: width and height in pixels.
    :param seed: varies the colours, so that images of one size differ.
    """
    from PIL import Image, ImageDraw

    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    tint = Image.new("RGB", size, ((37 * seed) % 256, (91 * seed + 60) % 256, 180))
    image = Image.blend(image, tint, 0.5)
    box = (width // 3, height // 3, 2 * width // 3, 2 * height // 3)
    ImageDraw.Draw(image).ellipse(box, fill=(220, 20, 30))
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=255)
    return _encode(image), _encode(mask)


def write_scenes(folder: Path, sizes: list[tuple[int, int]]) -> list[tuple[Path, Path, tuple[int, int]]]:
    """
    Write one image and mask per size into ``folder``.

    :param folder: where to write (created).
    :param sizes: the sizes of the images.
    :return: ``(image path, mask path, size)`` per image.
    """
    folder.mkdir(parents=True, exist_ok=True)
    scenes = []
    for index, size in enumerate(sizes):
        image, mask = scene_png(size, seed=index)
        image_path = folder / f"scene{index}.png"
        mask_path = folder / f"scene{index}_mask.png"
        image_path.write_bytes(image)
        mask_path.write_bytes(mask)
        scenes.append((image_path, mask_path, size))
    return scenes


def _encode(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
