"""Classical inpainting: fill the masked part of an image from its surroundings.

With OpenCV installed (the ``opencv`` extra) the fill is ``cv2.inpaint`` (Telea); without it,
a Pillow-only push-pull fill: the known pixels are averaged down a pyramid, and the holes are
filled coming back up from the coarser levels, so a hole takes the colours around it. Either
way the work is done on the bounding box of the mask plus a margin only, and every pixel
outside the mask is returned unchanged.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, Literal

from PIL import Image, ImageMath

if TYPE_CHECKING:
    from collections.abc import Callable

Backend = Literal["auto", "opencv", "pillow"]

MASK_THRESHOLD = 127
"""Mask pixels whose luminance is above this are inpainted."""

_HOLE_LUT = [0] * (MASK_THRESHOLD + 1) + [255] * (255 - MASK_THRESHOLD)
_ANY_HOLE_LUT = [0] + [255] * 255
_NEUTRAL = (128, 128, 128)
_TELEA_RADIUS = 5
MAX_WORK_PIXELS = 4_000_000
"""The largest region (in pixels) the push-pull fill works on at full scale; larger ones are downscaled."""


def opencv_available() -> bool:
    """Tell whether ``cv2`` can be imported."""
    return importlib.util.find_spec("cv2") is not None


def hole_mask(mask: Image.Image) -> Image.Image:
    """Return the binary ``L`` mask of pixels to inpaint: 255 where luminance > 127, else 0."""
    return mask.convert("L").point(_HOLE_LUT)


def inpaint(
    image: Image.Image,
    mask: Image.Image,
    *,
    backend: Backend = "auto",
    max_work_pixels: int = MAX_WORK_PIXELS,
) -> Image.Image:
    """Return an RGB copy of ``image`` whose masked pixels are filled from their surroundings.

    ``mask`` must have the size of ``image``; pixels whose luminance is above 127 are filled,
    all others are copied from ``image.convert("RGB")`` exactly. Without OpenCV (or with
    ``backend="pillow"``) a region larger than ``max_work_pixels`` is filled at a reduced scale.
    """
    if image.size != mask.size:
        raise ValueError(f"mask size {mask.size} differs from image size {image.size}")
    result = image.convert("RGB")
    hole = hole_mask(mask)
    box = hole.getbbox()
    if box is None:
        return result
    region = _with_margin(box, result.size)
    crop = result.crop(region)
    hole_crop = hole.crop(region)
    use_opencv = backend == "opencv" or (backend == "auto" and opencv_available())
    filled = (
        _fill_opencv(crop, hole_crop) if use_opencv else _fill_push_pull(crop, hole_crop, max_work_pixels)
    )
    result.paste(filled, region[:2], hole_crop)
    return result


def _with_margin(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    left, top, right, bottom = box
    margin = max(16, max(right - left, bottom - top) // 2)
    width, height = size
    return (
        max(0, left - margin),
        max(0, top - margin),
        min(width, right + margin),
        min(height, bottom + margin),
    )


def _fill_opencv(crop: Image.Image, hole: Image.Image) -> Image.Image:
    import cv2
    import numpy

    pixels = numpy.ascontiguousarray(numpy.asarray(crop))
    filled = cv2.inpaint(pixels, numpy.asarray(hole), _TELEA_RADIUS, cv2.INPAINT_TELEA)
    return Image.fromarray(filled, "RGB")


def _fill_push_pull(crop: Image.Image, hole: Image.Image, max_work_pixels: int) -> Image.Image:
    """Push-pull fill (Gortler et al.) with clamped weights, in float, region downscaled if huge."""
    if hole.getextrema() == (255, 255):
        return Image.new("RGB", crop.size, _NEUTRAL)
    scale = min(1.0, (max_work_pixels / (crop.width * crop.height)) ** 0.5)
    if scale < 1.0:
        small = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
        work, work_hole = crop.resize(small, Image.Resampling.BOX), hole.resize(small, Image.Resampling.BOX)
        return _push_pull(work, work_hole.point(_ANY_HOLE_LUT)).resize(crop.size, Image.Resampling.BICUBIC)
    return _push_pull(crop, hole)


def _push_pull(crop: Image.Image, hole: Image.Image) -> Image.Image:
    colours = [tuple(band.convert("F") for band in crop.split())]
    weights = [_math(lambda a: 1.0 - a["h"] / 255.0, h=hole.convert("F"))]
    while weights[-1].size != (1, 1) and _minimum(weights[-1]) < 1.0:
        width, height = weights[-1].size
        factor = (2 if width > 1 else 1, 2 if height > 1 else 1)
        fine = weights[-1]
        coverage = fine.reduce(factor)
        colours.append(
            tuple(
                _math(
                    lambda a: a["p"] / a["w"],
                    p=_math(lambda a: a["w"] * a["c"], w=fine, c=band).reduce(factor),
                    w=coverage,
                )
                for band in colours[-1]
            )
        )
        weights.append(
            _math(lambda a: a["min"](a["w"] * a["n"], 1.0), w=coverage, n=float(factor[0] * factor[1]))
        )

    filled = colours[-1]
    for colour, weight in zip(reversed(colours[:-1]), reversed(weights[:-1]), strict=True):
        filled = tuple(
            _math(
                lambda a: a["w"] * a["c"] + (1.0 - a["w"]) * a["u"],
                w=weight,
                c=own,
                u=coarse.resize(own.size, Image.Resampling.BILINEAR),
            )
            for own, coarse in zip(colour, filled, strict=True)
        )
    return Image.merge("RGB", [band.convert("L") for band in filled])


def _minimum(band: Image.Image) -> float:
    low, _ = band.getextrema()
    assert isinstance(low, float | int)
    return float(low)


def _math(expression: Callable[[dict[str, Any]], Any], **operands: Image.Image | float) -> Image.Image:
    result = ImageMath.lambda_eval(expression, **operands)
    assert isinstance(result, Image.Image)
    return result
