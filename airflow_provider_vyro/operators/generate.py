"""Operators that generate images from text with Vyro's Imagine API (v2 text to image)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_vyro.catalogue import TEXT_TO_IMAGE, TEXT_TO_PNG, Endpoint
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.operators.base import VyroBatchOperator, VyroItemOperator, refuse_xcomargs

if TYPE_CHECKING:
    from collections.abc import Sequence

_DEFAULT_STYLE = "imagine-turbo"


def _check_transparent(transparent: Any) -> bool:
    if not isinstance(transparent, bool):
        raise VyroInputError("transparent", f"must be True or False, got {type(transparent).__name__}")
    return transparent


def _endpoint(transparent: bool) -> Endpoint:
    return TEXT_TO_PNG if transparent else TEXT_TO_IMAGE


def _without_style(values: dict[str, Any], *, field: str = "style") -> dict[str, Any]:
    """Take ``style`` out of a transparent item: the transparent endpoint has none."""
    values = dict(values)
    style = values.pop("style", None)
    if style not in (None, "", _DEFAULT_STYLE):
        raise VyroInputError(
            field,
            f"the transparent endpoint has no style; with transparent=True leave style at its default "
            f"{_DEFAULT_STYLE!r}, got {style!r} (nothing was sent)",
        )
    return values


class TextToImageOperator(VyroItemOperator):
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

    :param prompt: the image to generate. (templated)
    :param output_path: where to write the image (required: there is no input to put it beside);
        a local path, ``file://`` URI or object-storage URI. (templated)
    :param style: one of ``realistic``, ``anime``, ``flux-schnell``, ``flux-dev``,
        ``flux-dev-fast``, ``sdxl-1.0``, ``imagine-turbo``. (templated)
    :param aspect_ratio: one of ``1:1``, ``3:2``, ``4:3``, ``3:4``, ``16:9``, ``9:16``. (templated)
    :param seed: a whole number >= 1 for repeatable images, or ``None``. (templated)
    :param transparent: ``True`` for an image on a transparent background.
    :param vyro_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param storage_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`. (templated)
    :param overwrite: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param asset_alias: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    """

    endpoint: ClassVar[Endpoint] = TEXT_TO_IMAGE
    template_fields: Sequence[str] = (
        "prompt",
        "output_path",
        "style",
        "aspect_ratio",
        "seed",
        "storage_conn_id",
    )
    ui_color = "#d8e8f4"

    def __init__(
        self,
        *,
        prompt: str,
        output_path: str,
        style: str = _DEFAULT_STYLE,
        aspect_ratio: str = "1:1",
        seed: int | str | None = None,
        transparent: bool = False,
        **kwargs: Any,
    ) -> None:
        refuse_xcomargs(type(self).__name__, transparent=transparent)
        _check_transparent(transparent)
        super().__init__(**kwargs)
        self.prompt = prompt
        self.output_path = output_path
        self.style = style
        self.aspect_ratio = aspect_ratio
        self.seed = seed
        self.transparent = transparent

    def operation_endpoint(self) -> Endpoint:
        """Give text to image, or text to PNG when ``transparent``."""
        return _endpoint(self.transparent)

    def item(self) -> dict[str, Any]:
        """Give the item's arguments (no ``style`` when transparent)."""
        values = {
            "prompt": self.prompt,
            "output_path": self.output_path,
            "style": self.style,
            "aspect_ratio": self.aspect_ratio,
            "seed": self.seed,
        }
        return _without_style(values) if self.transparent else values


class TextToImageBatchOperator(VyroBatchOperator):
    """
    Generate many images in one task, keeping up to ``max_concurrency`` calls in flight.

    Each item is checked, called and written as :class:`TextToImageOperator` does it, through
    the same runner as every batch: every item is checked before the first request,
    ``max_calls`` caps the requests, an error that would hit every item stops the run, and
    outputs already written are kept on a retry. The return value is the list of per-item dicts
    (the shape :class:`TextToImageOperator` returns), in the order of ``items``; with
    ``manifest_path``, a summary dict.

    :param items: list of dicts with ``prompt`` (unless given below) and ``output_path``, and
        optionally ``style``, ``aspect_ratio`` and ``seed``. (templated)
    :param prompt: the prompt of items that have none. (templated)
    :param style: the style of items that have none. (templated)
    :param aspect_ratio: the aspect ratio of items that have none. (templated)
    :param seed: the seed of items that have none. (templated)
    :param transparent: ``True``: every item calls the transparent endpoint (no style).
    :param max_concurrency: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`.
    :param max_calls: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`.
    :param manifest_path: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`. (templated)
    :param progress_interval: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`.
    :param vyro_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param storage_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`. (templated)
    :param overwrite: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param asset_alias: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    """

    endpoint: ClassVar[Endpoint] = TEXT_TO_IMAGE
    template_fields: Sequence[str] = (
        "items",
        "prompt",
        "style",
        "aspect_ratio",
        "seed",
        "storage_conn_id",
        "manifest_path",
    )
    ui_color = "#c8dcf0"

    def __init__(
        self,
        *,
        items: list[dict[str, Any]],
        prompt: str | None = None,
        style: str | None = None,
        aspect_ratio: str | None = None,
        seed: int | str | None = None,
        transparent: bool = False,
        **kwargs: Any,
    ) -> None:
        refuse_xcomargs(type(self).__name__, transparent=transparent)
        _check_transparent(transparent)
        super().__init__(items=items, **kwargs)
        self.prompt = prompt
        self.style = style
        self.aspect_ratio = aspect_ratio
        self.seed = seed
        self.transparent = transparent

    def operation_endpoint(self) -> Endpoint:
        """Give text to image, or text to PNG when ``transparent``."""
        return _endpoint(self.transparent)

    def defaults(self) -> dict[str, Any]:
        """Give the values of items that have none of their own."""
        return {
            "prompt": self.prompt,
            "style": self.style,
            "aspect_ratio": self.aspect_ratio,
            "seed": self.seed,
        }

    def entry(self, index: int, values: Any) -> Any:
        """With ``transparent``, take out an item's ``style`` if it is the default (refuse it otherwise)."""
        if self.transparent and isinstance(values, dict):
            return _without_style(values, field=f"items[{index}].style")
        return values


__all__ = ["TextToImageBatchOperator", "TextToImageOperator"]
