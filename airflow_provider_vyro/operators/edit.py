"""
Operators that edit a photo without a prompt: remove its background, upscale it (Vyro's v2 API).

The shape of both calls (one file part ``image``) is what Vyro's public clients send: the API
reference lists both operations, but their field pages could not be read. Every operator takes
``endpoint=`` to follow a change of path without waiting for a release.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_vyro.catalogue import REMOVE_BACKGROUND, UPSCALE, Endpoint
from airflow_provider_vyro.operators.base import VyroBatchOperator, VyroItemOperator

if TYPE_CHECKING:
    from collections.abc import Sequence


class _OneImage(VyroItemOperator):
    """One photo in, one image out: the arguments both single-image operators of this module take."""

    template_fields: Sequence[str] = ("image_path", "output_path", "storage_conn_id")

    def __init__(self, *, image_path: str, output_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_path = image_path
        self.output_path = output_path

    def item(self) -> dict[str, Any]:
        """Give the item's arguments."""
        return {"image_path": self.image_path, "output_path": self.output_path}


class RemoveBackgroundOperator(_OneImage):
    """
    Cut the subject out of one photo and write it on a transparent background.

    The photo must be a JPEG or PNG (by content). A cut-out is transparent, so a ``.jpg`` output is
    refused before any request; write ``.png`` or ``.webp``. If the answer has no alpha channel the
    log warns (with both sizes) and the paid answer is kept.

    The return value is a dict with ``output_path``, ``image_path``, ``prompt`` (``None``),
    ``width``, ``height``, ``bytes``, ``sha256``, ``skipped``, ``operation``
    (``remove_background``), ``api_version`` (``v2``), ``format`` and ``attempts``; each key is
    also pushed as its own XCom.

    :param image_path: the photo: a local path, ``file://`` URI or object-storage URI. (templated)
    :param output_path: where to write the cut-out (``.png`` or ``.webp``); default beside the
        photo as ``<stem>_cutout.png``. (templated)
    :param vyro_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param storage_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`. (templated)
    :param overwrite: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param asset_alias: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    """

    endpoint: ClassVar[Endpoint] = REMOVE_BACKGROUND
    ui_color = "#f4e8d8"


class UpscaleOperator(_OneImage):
    """
    Upscale one photo and write the larger image.

    The photo must be a JPEG or PNG (by content); a transparent PNG keeps its transparency, so
    for it a ``.jpg`` output is refused before any request. If the answer is not larger than the
    photo the log warns (with both sizes) and the paid answer is kept.

    The return value is a dict with ``output_path``, ``image_path``, ``prompt`` (``None``),
    ``width``, ``height``, ``bytes``, ``sha256``, ``skipped``, ``operation`` (``upscale``),
    ``api_version`` (``v2``), ``format`` and ``attempts``; each key is also pushed as its own XCom.

    :param image_path: the photo: a local path, ``file://`` URI or object-storage URI. (templated)
    :param output_path: where to write the image; default beside the photo as
        ``<stem>_upscaled.png``. (templated)
    :param vyro_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param storage_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`. (templated)
    :param overwrite: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param asset_alias: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    """

    endpoint: ClassVar[Endpoint] = UPSCALE
    ui_color = "#dce8f4"


class RemoveBackgroundBatchOperator(VyroBatchOperator):
    """
    Cut the subject out of many photos in one task, keeping up to ``max_concurrency`` calls in flight.

    Each item is checked, called and written as :class:`RemoveBackgroundOperator` does it, through
    the same runner as every batch. The return value is the list of per-item dicts, in the order
    of ``items``; with ``manifest_path``, a summary dict.

    :param items: list of dicts with ``image_path`` and optionally ``output_path``. (templated)
    :param max_concurrency: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`.
    :param max_calls: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`.
    :param manifest_path: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`. (templated)
    :param progress_interval: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`.
    :param vyro_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param storage_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`. (templated)
    :param overwrite: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param asset_alias: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    """

    endpoint: ClassVar[Endpoint] = REMOVE_BACKGROUND
    template_fields: Sequence[str] = ("items", "storage_conn_id", "manifest_path")
    ui_color = "#ead8c0"


class UpscaleBatchOperator(VyroBatchOperator):
    """
    Upscale many photos in one task, keeping up to ``max_concurrency`` calls in flight.

    Each item is checked, called and written as :class:`UpscaleOperator` does it, through the same
    runner as every batch. The return value is the list of per-item dicts, in the order of
    ``items``; with ``manifest_path``, a summary dict.

    :param items: list of dicts with ``image_path`` and optionally ``output_path``. (templated)
    :param max_concurrency: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`.
    :param max_calls: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`.
    :param manifest_path: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`. (templated)
    :param progress_interval: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`.
    :param vyro_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param storage_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`. (templated)
    :param overwrite: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param asset_alias: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    """

    endpoint: ClassVar[Endpoint] = UPSCALE
    template_fields: Sequence[str] = ("items", "storage_conn_id", "manifest_path")
    ui_color = "#c8d8ea"


__all__ = [
    "RemoveBackgroundBatchOperator",
    "RemoveBackgroundOperator",
    "UpscaleBatchOperator",
    "UpscaleOperator",
]
