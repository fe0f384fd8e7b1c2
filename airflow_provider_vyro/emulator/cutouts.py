"""Classical stand-ins for background removal and upscaling, with Pillow only.

A cut-out is a flood fill from the border: the photo's border colour (the median of its edge
pixels) spreads to every connected pixel close to it, and what it reaches becomes transparent.
The fill runs on a copy at most :data:`WORK_SIDE` pixels wide, and its mask is scaled back up
smoothly and blurred a little, which gives the cut-out a soft edge. An upscale is a 2x Lanczos
resize.
"""

from __future__ import annotations

from PIL import Image, ImageChops, ImageDraw, ImageFilter

TOLERANCE = 24
"""Largest difference (per channel, 0-255) from the border colour that still counts as background."""

WORK_SIDE = 256
"""The flood fill's working size: the longest side of the copy it runs on."""

UPSCALE_FACTOR = 2
"""How much an upscale enlarges each side."""

_EDGE_BLUR = 1.2
_FILLED = 128


def border_colour(image: Image.Image) -> tuple[int, int, int]:
    """Give the median colour (per channel) of an RGB image's outermost pixels."""
    width, height = image.size
    strips = [
        (0, 0, width, 1),
        (0, height - 1, width, height),
        (0, 0, 1, height),
        (width - 1, 0, width, height),
    ]
    edge = b"".join(image.crop(box).tobytes() for box in strips)
    r, g, b = (sorted(edge[c::3]) for c in range(3))
    middle = len(r) // 2
    return r[middle], g[middle], b[middle]


def background_mask(image: Image.Image) -> Image.Image:
    """Give an ``L`` mask (255 = background) of the pixels the border colour reaches, at ``image``'s size."""
    rgb = image.convert("RGB")
    scale = min(1.0, WORK_SIDE / max(rgb.size))
    work = rgb.resize(
        (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.Resampling.BILINEAR
    )
    plain = Image.new("RGB", work.size, border_colour(work))
    near = ImageChops.difference(work, plain).convert("L").point(lambda v: 255 if v <= TOLERANCE else 0)
    framed = Image.new("L", (work.width + 2, work.height + 2), 255)
    framed.paste(near, (1, 1))
    ImageDraw.floodfill(framed, (0, 0), _FILLED, thresh=0)
    reached = framed.crop((1, 1, work.width + 1, work.height + 1)).point(lambda v: 255 if v == _FILLED else 0)
    return reached.resize(rgb.size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(_EDGE_BLUR))


def cut_out(image: Image.Image) -> Image.Image:
    """Give an RGBA copy of ``image`` whose background (what the border colour reaches) is transparent."""
    result = image.convert("RGBA")
    opaque = ImageChops.invert(background_mask(image))
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        opaque = ImageChops.multiply(opaque, result.getchannel("A"))
    result.putalpha(opaque)
    return result


def upscale(image: Image.Image) -> Image.Image:
    """Give ``image`` enlarged :data:`UPSCALE_FACTOR` times (Lanczos), keeping its transparency."""
    has_alpha = image.mode in ("RGBA", "LA") or "transparency" in image.info
    source = image.convert("RGBA" if has_alpha else "RGB")
    size = (source.width * UPSCALE_FACTOR, source.height * UPSCALE_FACTOR)
    return source.resize(size, Image.Resampling.LANCZOS)


__all__ = [
    "TOLERANCE",
    "UPSCALE_FACTOR",
    "WORK_SIDE",
    "background_mask",
    "border_colour",
    "cut_out",
    "upscale",
]
