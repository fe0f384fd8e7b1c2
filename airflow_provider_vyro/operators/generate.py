"""Operators that generate images from text with Vyro's Imagine API (v2 text to image)."""

from __future__ import annotations

from types import MappingProxyType

from airflow_provider_vyro.catalogue import ASPECT_RATIOS, STYLES, TEXT_TO_IMAGE, TEXT_TO_PNG
from airflow_provider_vyro.operators.declared import (
    Argument,
    Choice,
    Declaration,
    DeclaredBatchOperator,
    DeclaredItemOperator,
    seed_argument,
    style_argument,
)


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(f"``{v}``" for v in values)


DECLARATION = Declaration(
    endpoint=TEXT_TO_IMAGE,
    arguments=(
        Argument("prompt", "the image to generate.", batch_doc="the prompt of items that have none."),
        Argument(
            "output_path",
            "where to write the image (required: there is no input to put it beside);\na local path, "
            "``file://`` URI or object-storage URI.",
        ),
        style_argument(TEXT_TO_IMAGE, f"one of {_listed(STYLES)}."),
        Argument(
            "aspect_ratio",
            f"one of {_listed(ASPECT_RATIOS)}.",
            default=TEXT_TO_IMAGE.text_field("aspect_ratio").default,  # type: ignore[union-attr]
            batch_doc="the aspect ratio of items that have none.",
        ),
        seed_argument("images"),
    ),
    items_doc="list of dicts with ``prompt`` (unless given below) and ``output_path``, and\n"
    "optionally ``style``, ``aspect_ratio`` and ``seed``.",
    ui_colors=("#d8e8f4", "#c8dcf0"),
    choice=Choice(
        "transparent",
        doc="``True`` for an image on a transparent background.",
        batch_doc="``True``: every item calls the transparent endpoint (no style).",
        default=False,
        endpoints=MappingProxyType({False: TEXT_TO_IMAGE, True: TEXT_TO_PNG}),
        allowed="True or False",
    ),
)
"""The arguments of :class:`TextToImageOperator` and :class:`TextToImageBatchOperator`."""


class TextToImageOperator(DeclaredItemOperator):
    """
    Generate one image from a prompt and write it to ``output_path``.

    The prompt, style, aspect ratio and seed are checked before any request, so a bad value fails
    the task with :class:`~airflow_provider_vyro.exceptions.VyroInputError` naming it (and the
    values allowed) without spending credits. The file is written atomically, in the format its
    extension names (``.png``, ``.jpg``/``.jpeg`` or ``.webp``): an answer in another format is
    converted and the log says so. The log line of each call gives the style's documented cost
    in API tokens.

    ``transparent=True`` calls the transparent endpoint (text to PNG: a subject on a transparent
    background). It has no style, so a style other than the default is refused, and a ``.jpg``
    output (JPEG has no alpha channel) is refused before the call.

    The return value is a dict with ``output_path``, ``prompt``, ``style`` (``None`` when
    transparent), ``aspect_ratio``, ``seed`` (``None`` when not given), ``transparent``,
    ``width``, ``height``, ``bytes``, ``sha256``, ``skipped``, ``operation`` (``text_to_image``
    or ``text_to_png``), ``api_version`` (``v2``), ``format`` and ``attempts``; each key is also
    pushed as its own XCom, so ``task.output["output_path"]`` can feed a later task.
    """

    declaration = DECLARATION


class TextToImageBatchOperator(DeclaredBatchOperator):
    """
    Generate many images in one task, keeping up to ``max_concurrency`` calls in flight.

    Each item is checked, called and written as :class:`TextToImageOperator` does it, through
    the same runner as every batch: every item is checked before the first request,
    ``max_calls`` caps the requests, an error that would hit every item stops the run, and
    outputs already written are kept on a retry. The return value is the list of per-item dicts
    (the shape :class:`TextToImageOperator` returns), in the order of ``items``; with
    ``manifest_path``, a summary dict.
    """

    declaration = DECLARATION


__all__ = ["DECLARATION", "TextToImageBatchOperator", "TextToImageOperator"]
