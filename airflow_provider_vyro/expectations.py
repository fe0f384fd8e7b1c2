"""
What an answer is expected to be beyond a complete image, from the catalogue; a surprise is logged.

Some operations promise something of their answer that the API's reference does not document:
background removal answers a transparent cut-out (``answer_alpha="transparent"`` in
:mod:`airflow_provider_vyro.catalogue`), an upscale an image larger than its input
(``answer_larger``). An answer that breaks such a
promise was paid for and is complete, so it is kept: the log warns, with the input's and the
answer's sizes. Nothing here raises.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow_provider_vyro.catalogue import Endpoint
    from airflow_provider_vyro.images import ImageInfo

_log = logging.getLogger(__name__)


def surprises(
    endpoint: Endpoint,
    image: ImageInfo | None,
    answer: tuple[str, int, int],
    answer_has_alpha: Callable[[], bool],
) -> list[str]:
    """
    Say how an answer breaks what its operation promises (empty when it keeps every promise).

    :param endpoint: the operation.
    :param image: the first input image, if the operation has one.
    :param answer: the answer's format, width and height, as written.
    :param answer_has_alpha: reads whether the answer as written has an alpha channel (called only
        for an operation whose answer is transparent).
    """
    if image is None:
        return []
    fmt, width, height = answer
    sizes = f"input {image.width}x{image.height}, answer {width}x{height}"
    found = []
    if endpoint.answer_larger and width * height <= image.width * image.height:
        found.append(f"the answer is not larger than its input ({sizes})")
    if endpoint.answer_alpha == "transparent" and (fmt == "JPEG" or not answer_has_alpha()):
        found.append(f"the answer has no alpha channel ({sizes}, {fmt})")
    return found


def warn_of_surprises(
    endpoint: Endpoint,
    inputs: Mapping[str, ImageInfo],
    answer: tuple[str, int, int],
    answer_has_alpha: Callable[[], bool],
    output_path: str,
) -> None:
    """
    Log a warning for each way an answer breaks its operation's promise; never raise.

    :param endpoint: the operation.
    :param inputs: the input images inspected, by file field (the first field's is compared).
    :param answer: the answer's format, width and height, as written.
    :param answer_has_alpha: reads whether the answer as written has an alpha channel.
    :param output_path: where the answer was written, for the message.
    """
    try:
        image = inputs.get(endpoint.file_fields[0].name) if endpoint.file_fields else None
        found = surprises(endpoint, image, answer, answer_has_alpha)
    except Exception as exc:
        _log.debug("%s: could not check the answer at %s: %s", endpoint.operation, output_path, exc)
        return
    for surprise in found:
        _log.warning("%s: %s; it is kept at %s (it was paid for)", endpoint.operation, surprise, output_path)


__all__ = ["surprises", "warn_of_surprises"]
