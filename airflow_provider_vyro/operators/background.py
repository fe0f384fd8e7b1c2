"""Operators that put generated backgrounds behind product cut-outs (Vyro's v2 AI backgrounds)."""

from __future__ import annotations

from airflow_provider_vyro.catalogue import AI_BACKGROUND
from airflow_provider_vyro.operators.declared import (
    Argument,
    Declaration,
    DeclaredBatchOperator,
    DeclaredItemOperator,
    seed_argument,
    style_argument,
)

DECLARATION = Declaration(
    endpoint=AI_BACKGROUND,
    arguments=(
        Argument(
            "image_path",
            "the cut-out, a PNG with transparency: a local path, ``file://`` URI or\nobject-storage URI.",
        ),
        Argument("prompt", "the background to generate.", batch_doc="the prompt of items that have none."),
        Argument(
            "output_path",
            "where to write the image; default beside the cut-out as\n``<stem>_background.png``.",
            default=None,
        ),
        style_argument(AI_BACKGROUND, "``product-shoot``, the only style documented."),
        seed_argument("backgrounds"),
    ),
    items_doc="list of dicts with ``image_path`` and optionally ``prompt``, ``output_path``,\n"
    "``style`` and ``seed``.",
    ui_colors=("#e0f0d8", "#d0e8c8"),
)
"""The arguments of :class:`AIBackgroundOperator` and :class:`AIBackgroundBatchOperator`."""


class AIBackgroundOperator(DeclaredItemOperator):
    """
    Put a generated background, described by a prompt, behind one cut-out and write the result.

    The cut-out must be a PNG whose background is transparent (an alpha channel, or a
    transparent palette colour): a JPEG, or a PNG without transparency, is refused before any
    request with a message that says why. The file is written atomically, in the format its
    extension names (``.png``, ``.jpg``/``.jpeg`` or ``.webp``); an answer in another format is
    converted and the log says so.

    The return value is a dict with ``output_path``, ``image_path``, ``prompt``, ``style``,
    ``seed`` (``None`` when not given), ``width``, ``height``, ``bytes``, ``sha256``,
    ``skipped``, ``operation`` (``ai_background``), ``api_version`` (``v2``), ``format`` and
    ``attempts``; each key is also pushed as its own XCom.
    """

    declaration = DECLARATION


class AIBackgroundBatchOperator(DeclaredBatchOperator):
    """
    Put backgrounds behind many cut-outs in one task, keeping up to ``max_concurrency`` calls in flight.

    Each item is checked, called and written as :class:`AIBackgroundOperator` does it, through
    the same runner as every batch. The return value is the list of per-item dicts, in the order
    of ``items``; with ``manifest_path``, a summary dict.
    """

    declaration = DECLARATION


__all__ = ["DECLARATION", "AIBackgroundBatchOperator", "AIBackgroundOperator"]
