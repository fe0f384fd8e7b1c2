"""Generated pictures for the emulator's v2 answers, drawn with Pillow so a person can see them.

Text to image draws a landscape (a sky gradient, a sun, layers of hills) whose colours, sun
and hills follow from the prompt, the seed and the style, so the same request gives the same
picture and a different prompt a different one. The transparent variant draws a subject (a
sun-like disc over a hill) on a fully transparent canvas. AI background draws a landscape of
the cut-out's size and puts the cut-out, with a soft shadow, in front of it.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import random

from PIL import Image, ImageDraw, ImageFilter

LONG_SIDE = 512
"""Pixels on the long side of a generated image (the real API gives larger images)."""

_STYLE_SATURATION = {"anime": 1.0, "flux-dev": 0.75, "flux-dev-fast": 0.7, "flux-schnell": 0.65}


def size_of(aspect_ratio: str, long_side: int = LONG_SIDE) -> tuple[int, int]:
    """Return ``(width, height)`` for an aspect ratio such as ``"16:9"``, the long side ``long_side``."""
    width_part, height_part = (int(part) for part in aspect_ratio.split(":"))
    if width_part >= height_part:
        return long_side, max(1, round(long_side * height_part / width_part))
    return max(1, round(long_side * width_part / height_part)), long_side


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x00".join(str(part) for part in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _colour(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(
        hue % 1.0, max(0.0, min(1.0, saturation)), max(0.0, min(1.0, value))
    )
    return round(red * 255), round(green * 255), round(blue * 255)


def landscape(prompt: str, *, seed: str | None, style: str, size: tuple[int, int]) -> Image.Image:
    """Draw the landscape of a prompt, seed and style, as an RGB image of ``size``."""
    rng = _rng(prompt, seed, style)
    width, height = size
    saturation = _STYLE_SATURATION.get(style, 0.55)
    hue = rng.choice((rng.uniform(0.52, 0.66), rng.uniform(0.88, 1.0), rng.uniform(0.02, 0.08)))
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    top = _colour(hue, saturation, 0.55)
    horizon = _colour(hue + 0.08, saturation * 0.6, 0.98)
    for y in range(height):
        t = y / max(1, height - 1)
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(round(a + (b - a) * t) for a, b in zip(top, horizon, strict=True)),
        )
    radius = max(2, round(min(width, height) * rng.uniform(0.07, 0.13)))
    sun_x, sun_y = rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.45) * height
    draw.ellipse(
        (sun_x - radius, sun_y - radius, sun_x + radius, sun_y + radius),
        fill=_colour(rng.uniform(0.1, 0.16), 0.5 * saturation + 0.3, 1.0),
    )
    layers = 3
    hill_hue = rng.uniform(0.2, 0.4)
    for layer in range(layers):
        base = height * (0.55 + 0.13 * layer)
        amplitude = height * rng.uniform(0.04, 0.1)
        frequency = rng.uniform(1.0, 3.0) * math.tau / width
        phase = rng.uniform(0, math.tau)
        ridge = [(x, base - amplitude * math.sin(frequency * x + phase)) for x in range(0, width + 8, 8)]
        green = _colour(hill_hue + 0.04 * layer, saturation * 0.8 + 0.1, 0.75 - 0.18 * layer)
        draw.polygon([*ridge, (width, height), (0, height)], fill=green)
    if style == "realistic":
        image = image.filter(ImageFilter.GaussianBlur(1))
    return image


def transparent_subject(prompt: str, *, seed: str | None, size: tuple[int, int]) -> Image.Image:
    """Draw a subject (a disc over a small hill) on a fully transparent RGBA canvas of ``size``."""
    rng = _rng(prompt, seed, "transparent")
    width, height = size
    hue = rng.random()
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    radius = min(width, height) * rng.uniform(0.18, 0.28)
    centre_x, centre_y = width / 2, height * 0.42
    draw.ellipse(
        (centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius),
        fill=(*_colour(hue, 0.7, 0.95), 255),
    )
    hill_top = height * 0.62
    draw.ellipse(
        (width * 0.2, hill_top, width * 0.8, height * 0.95), fill=(*_colour(hue + 0.3, 0.6, 0.6), 255)
    )
    return image


def behind(cutout: Image.Image, prompt: str, *, seed: str | None, style: str) -> Image.Image:
    """Put a generated landscape behind an RGBA cut-out, with a soft shadow; return RGB."""
    cutout = cutout.convert("RGBA")
    scene = landscape(prompt, seed=seed, style=style, size=cutout.size).convert("RGBA")
    alpha = cutout.getchannel("A")
    shadow = Image.new("RGBA", cutout.size, (0, 0, 0, 0))
    offset = max(1, min(cutout.size) // 40)
    shadow.paste((0, 0, 0, 110), (offset, offset), alpha.filter(ImageFilter.GaussianBlur(offset)))
    scene.alpha_composite(shadow)
    scene.alpha_composite(cutout)
    return scene.convert("RGB")
