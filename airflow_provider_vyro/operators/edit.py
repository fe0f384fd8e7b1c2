"""
Operators that edit a photo without a prompt: remove its background, upscale it (Vyro's v2 API).

The shape of both calls (one file part ``image``) is what Vyro's public clients send: the API
reference lists both operations, but their field pages could not be read. Every operator takes
``endpoint=`` to follow a change of path without waiting for a release.
"""

from __future__ import annotations

from airflow_provider_vyro.catalogue import REMOVE_BACKGROUND, UPSCALE
from airflow_provider_vyro.operators.declared import (
    Argument,
    Declaration,
    DeclaredBatchOperator,
    DeclaredItemOperator,
)

_PHOTO = Argument("image_path", "the photo: a local path, ``file://`` URI or object-storage URI.")
_ITEMS = "list of dicts with ``image_path`` and optionally ``output_path``."

REMOVE_BACKGROUND_DECLARATION = Declaration(
    endpoint=REMOVE_BACKGROUND,
    arguments=(
        _PHOTO,
        Argument(
            "output_path",
            "where to write the cut-out (``.png`` or ``.webp``); default beside the\nphoto as "
            "``<stem>_cutout.png``.",
            default=None,
        ),
    ),
    items_doc=_ITEMS,
    ui_colors=("#f4e8d8", "#ead8c0"),
)
"""The arguments of :class:`RemoveBackgroundOperator` and :class:`RemoveBackgroundBatchOperator`."""

UPSCALE_DECLARATION = Declaration(
    endpoint=UPSCALE,
    arguments=(
        _PHOTO,
        Argument(
            "output_path",
            "where to write the image; default beside the photo as\n``<stem>_upscaled.png``.",
            default=None,
        ),
    ),
    items_doc=_ITEMS,
    ui_colors=("#dce8f4", "#c8d8ea"),
)
"""The arguments of :class:`UpscaleOperator` and :class:`UpscaleBatchOperator`."""


class RemoveBackgroundOperator(DeclaredItemOperator):
    """
    Cut the subject out of one photo and write it on a transparent background.

    The photo must be a JPEG or PNG (by content). A cut-out is transparent, so a ``.jpg`` output is
    refused before any request; write ``.png`` or ``.webp``. If the answer has no alpha channel the
    log warns (with both sizes) and the paid answer is kept.

    The return value is a dict with ``output_path``, ``image_path``, ``prompt`` (``None``),
    ``width``, ``height``, ``bytes``, ``sha256``, ``skipped``, ``operation``
    (``remove_background``), ``api_version`` (``v2``), ``format`` and ``attempts``; each key is
    also pushed as its own XCom.
    """

    declaration = REMOVE_BACKGROUND_DECLARATION


class UpscaleOperator(DeclaredItemOperator):
    """
    Upscale one photo and write the larger image.

    The photo must be a JPEG or PNG (by content); a transparent PNG keeps its transparency, so
    for it a ``.jpg`` output is refused before any request. If the answer is not larger than the
    photo the log warns (with both sizes) and the paid answer is kept.

    The return value is a dict with ``output_path``, ``image_path``, ``prompt`` (``None``),
    ``width``, ``height``, ``bytes``, ``sha256``, ``skipped``, ``operation`` (``upscale``),
    ``api_version`` (``v2``), ``format`` and ``attempts``; each key is also pushed as its own XCom.
    """

    declaration = UPSCALE_DECLARATION


class RemoveBackgroundBatchOperator(DeclaredBatchOperator):
    """
    Cut the subject out of many photos in one task, keeping up to ``max_concurrency`` calls in flight.

    Each item is checked, called and written as :class:`RemoveBackgroundOperator` does it, through
    the same runner as every batch. The return value is the list of per-item dicts, in the order
    of ``items``; with ``manifest_path``, a summary dict.
    """

    declaration = REMOVE_BACKGROUND_DECLARATION


class UpscaleBatchOperator(DeclaredBatchOperator):
    """
    Upscale many photos in one task, keeping up to ``max_concurrency`` calls in flight.

    Each item is checked, called and written as :class:`UpscaleOperator` does it, through the same
    runner as every batch. The return value is the list of per-item dicts, in the order of
    ``items``; with ``manifest_path``, a summary dict.
    """

    declaration = UPSCALE_DECLARATION


__all__ = [
    "REMOVE_BACKGROUND_DECLARATION",
    "UPSCALE_DECLARATION",
    "RemoveBackgroundBatchOperator",
    "RemoveBackgroundOperator",
    "UpscaleBatchOperator",
    "UpscaleOperator",
]
