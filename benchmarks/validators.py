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


def timed(job: Callable[[bytes], object], data: bytes, repeats: int = REPEATS) -> float:
    """The best wall time of ``job(data)`` in seconds over ``repeats`` runs."""
    job(data)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        job(data)
        times.append(time.perf_counter() - start)
    return min(times)


def fed(checker: streams.ImageStreamChecker | streams.PngChunkValidator, data: bytes) -> object:
    for offset in range(0, len(data), CHUNK):
        checker.feed(data[offset : offset + CHUNK])
    return checker.result()


def inspect(data: bytes) -> images.ImageInfo:
    return images.inspect_image(io.BytesIO(data), field="image", name="bench", size=len(data))


def jpeg_header(data: bytes) -> tuple[int, int]:
    with JpegImagePlugin.JpegImageFile(io.BytesIO(data)) as image:
        return image.size


def png_header(data: bytes) -> tuple[int, int]:
    with PngImagePlugin.PngImageFile(io.BytesIO(data)) as image:
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

    def answer(data: bytes) -> object:
        return fed(streams.ImageStreamChecker(), data)

    jobs: list[tuple[str, bytes, str, Callable[[bytes], object], str, Callable[[bytes], object]]] = [
        ("input header, JPEG", jpeg, "inspect_image", inspect, "Pillow JpegImageFile", jpeg_header),
        ("input header, PNG", png, "inspect_image", inspect, "Pillow PngImageFile", png_header),
        (
            "answer stream, PNG",
            rgba_png,
            "ImageStreamChecker",
            answer,
            "Pillow verify (whole)",
            pillow_verify,
        ),
        ("answer stream, JPEG", jpeg, "ImageStreamChecker", answer, "Pillow ImageFile.Parser", pillow_parser),
        (
            "answer stream, WebP",
            webp,
            "ImageStreamChecker",
            answer,
            "Pillow decode (whole)",
            pillow_decode,
        ),
        (
            "kept output, PNG",
            png,
            "PngChunkValidator + sha256",
            validated_and_hashed,
            "sha256 + Pillow verify",
            hashed_then_verified,
        ),
    ]
    return [
        (
            f"{job} {len(data) // 1024} KiB",
            ours,
            timed(our_job, data),
            theirs,
            timed(their_job, data),
        )
        for job, data, ours, our_job, theirs, their_job in jobs
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
