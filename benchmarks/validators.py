"""
The provider's hand-written image validators against what Pillow offers for the same job.

Run with ``python -m benchmarks.validators``. For each job (inspecting an input's header,
validating an answer as it streams past, checking a kept output whole) it times the provider's
code and the Pillow call that could replace it, on the same bytes, and prints the best of
several runs (the least disturbed by other work on the machine). Nothing is asserted: the
figures say where Pillow is as fast (there it replaced the hand-written code) and where it is not.
"""

from __future__ import annotations

import hashlib
import io
import time
from typing import TYPE_CHECKING

from PIL import Image, ImageFile, JpegImagePlugin, PngImagePlugin

from airflow_provider_vyro import images, streams

if TYPE_CHECKING:
    from collections.abc import Callable

CHUNK = 64 * 1024
REPEATS = 15


def photo(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A noisy picture, so the encoders cannot shrink it to nothing."""
    noise = Image.effect_noise(size, 64).convert("L")
    bands = [noise, noise.rotate(90, expand=False), noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    if mode == "RGBA":
        bands.append(Image.linear_gradient("L").resize(size))
    return Image.merge(mode, bands)


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def timed(job: Callable[[], object], repeats: int = REPEATS) -> float:
    """The best wall time of ``job`` in seconds over ``repeats`` runs."""
    job()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return min(times)


def fed(checker: streams.ImageStreamChecker | streams.PngChunkValidator, data: bytes) -> object:
    for offset in range(0, len(data), CHUNK):
        checker.feed(data[offset : offset + CHUNK])
    return checker.result()


def inspect(data: bytes) -> images.ImageInfo:
    return images.inspect_image(io.BytesIO(data), field="image", name="bench", size=len(data))


def pillow_header(data: bytes, plugin: type[ImageFile.ImageFile]) -> tuple[int, int]:
    with plugin(io.BytesIO(data)) as image:
        return image.size


def pillow_verify(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        size = image.size
        image.verify()
    return size


def pillow_decode(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size


def pillow_parser(data: bytes) -> tuple[int, int]:
    parser = ImageFile.Parser()
    for offset in range(0, len(data), CHUNK):
        parser.feed(data[offset : offset + CHUNK])
    return parser.close().size


def hashed_then_verified(data: bytes) -> tuple[int, int]:
    hashlib.sha256(data).hexdigest()
    return pillow_verify(data)


def validated_and_hashed(data: bytes) -> object:
    digest = hashlib.sha256()
    checker = streams.PngChunkValidator()
    for offset in range(0, len(data), CHUNK):
        chunk = data[offset : offset + CHUNK]
        checker.feed(chunk)
        digest.update(chunk)
    return checker.result()


def rows() -> list[tuple[str, str, float, str, float]]:
    big = photo((2048, 1536))
    jpeg = encoded(big, "JPEG", quality=90)
    png = encoded(big, "PNG")
    rgba_png = encoded(photo((1024, 1024), "RGBA"), "PNG")
    webp = encoded(big, "WEBP", quality=90)
    answer = streams.ImageStreamChecker
    return [
        (
            f"input header, JPEG {len(jpeg) // 1024} KiB",
            "inspect_image",
            timed(lambda: inspect(jpeg)),
            "Pillow JpegImageFile",
            timed(lambda: pillow_header(jpeg, JpegImagePlugin.JpegImageFile)),
        ),
        (
            f"input header, PNG {len(png) // 1024} KiB",
            "inspect_image",
            timed(lambda: inspect(png)),
            "Pillow PngImageFile",
            timed(lambda: pillow_header(png, PngImagePlugin.PngImageFile)),
        ),
        (
            f"answer stream, PNG {len(rgba_png) // 1024} KiB",
            "ImageStreamChecker",
            timed(lambda: fed(answer(), rgba_png)),
            "Pillow verify (whole body)",
            timed(lambda: pillow_verify(rgba_png)),
        ),
        (
            f"answer stream, JPEG {len(jpeg) // 1024} KiB",
            "ImageStreamChecker",
            timed(lambda: fed(answer(), jpeg)),
            "Pillow ImageFile.Parser",
            timed(lambda: pillow_parser(jpeg)),
        ),
        (
            f"answer stream, WebP {len(webp) // 1024} KiB",
            "ImageStreamChecker",
            timed(lambda: fed(answer(), webp)),
            "Pillow decode (whole body)",
            timed(lambda: pillow_decode(webp)),
        ),
        (
            f"kept output, PNG {len(png) // 1024} KiB",
            "PngChunkValidator + sha256",
            timed(lambda: validated_and_hashed(png)),
            "sha256 + Pillow verify",
            timed(lambda: hashed_then_verified(png)),
        ),
    ]


def main() -> None:
    """Print one line per job: the provider's time, Pillow's, and their ratio."""
    print(f"{'job':34} {'provider':28} {'time':>10}   {'Pillow':28} {'time':>10}  Pillow/provider")
    for job, ours, our_time, theirs, their_time in rows():
        print(
            f"{job:34} {ours:28} {our_time * 1e3:8.3f}ms   {theirs:28} {their_time * 1e3:8.3f}ms"
            f"  {their_time / our_time:6.2f}x"
        )


if __name__ == "__main__":
    main()
