"""Operators that put generated backgrounds behind product cut-outs (Vyro's v2 AI backgrounds)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_vyro.catalogue import AI_BACKGROUND, Endpoint
from airflow_provider_vyro.operators.base import VyroBatchOperator, VyroItemOperator

if TYPE_CHECKING:
    from collections.abc import Sequence


class AIBackgroundOperator(VyroItemOperator):
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

    :param image_path: the cut-out, a PNG with transparency: a local path, ``file://`` URI or
        object-storage URI. (templated)
    :param prompt: the background to generate. (templated)
    :param output_path: where to write the image; default beside the cut-out as
        ``<stem>_background.png``. (templated)
    :param style: ``product-shoot``, the only style documented. (templated)
    :param seed: a whole number >= 1 for repeatable backgrounds, or ``None``. (templated)
    :param vyro_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param storage_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`. (templated)
    :param overwrite: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param asset_alias: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    """

    endpoint: ClassVar[Endpoint] = AI_BACKGROUND
    template_fields: Sequence[str] = (
        "image_path",
        "prompt",
        "output_path",
        "style",
        "seed",
        "storage_conn_id",
    )
    ui_color = "#e0f0d8"

    def __init__(
        self,
        *,
        image_path: str,
        prompt: str,
        output_path: str | None = None,
        style: str = "product-shoot",
        seed: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.image_path = image_path
        self.prompt = prompt
        self.output_path = output_path
        self.style = style
        self.seed = seed

    def item(self) -> dict[str, Any]:
        """Give the item's arguments."""
        return {
            "image_path": self.image_path,
            "prompt": self.prompt,
            "output_path": self.output_path,
            "style": self.style,
            "seed": self.seed,
        }


class AIBackgroundBatchOperator(VyroBatchOperator):
    """
    Put backgrounds behind many cut-outs in one task, keeping up to ``max_concurrency`` calls in flight.

    Each item is checked, called and written as :class:`AIBackgroundOperator` does it, through
    the same runner as every batch. The return value is the list of per-item dicts, in the order
    of ``items``; with ``manifest_path``, a summary dict.

    :param items: list of dicts with ``image_path`` and optionally ``prompt``, ``output_path``,
        ``style`` and ``seed``. (templated)
    :param prompt: the prompt of items that have none. (templated)
    :param style: the style of items that have none. (templated)
    :param seed: the seed of items that have none. (templated)
    :param max_concurrency: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`.
    :param max_calls: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`.
    :param manifest_path: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`. (templated)
    :param progress_interval: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`.
    :param vyro_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param storage_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`. (templated)
    :param overwrite: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param asset_alias: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    """

    endpoint: ClassVar[Endpoint] = AI_BACKGROUND
    template_fields: Sequence[str] = ("items", "prompt", "style", "seed", "storage_conn_id", "manifest_path")
    ui_color = "#d0e8c8"

    def __init__(
        self,
        *,
        items: list[dict[str, Any]],
        prompt: str | None = None,
        style: str | None = None,
        seed: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(items=items, **kwargs)
        self.prompt = prompt
        self.style = style
        self.seed = seed

    def defaults(self) -> dict[str, Any]:
        """Give the values of items that have none of their own."""
        return {"prompt": self.prompt, "style": self.style, "seed": self.seed}


__all__ = ["AIBackgroundBatchOperator", "AIBackgroundOperator"]
