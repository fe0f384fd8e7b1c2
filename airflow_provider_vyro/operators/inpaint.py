"""Operators that inpaint images with Vyro's Imagine API: v1 inpaint, or v2 generative fill."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_vyro.catalogue import GENERATIVE_FILL, INPAINT, Endpoint
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.operators.base import VyroBatchOperator, VyroItemOperator

if TYPE_CHECKING:
    from collections.abc import Sequence

API_VERSIONS: dict[str, Endpoint] = {"v1": INPAINT, "v2": GENERATIVE_FILL}
"""The operation each ``api_version`` calls."""

_MODEL_VERSION_DEFAULT = "1"


def _endpoint_of(api_version: Any) -> Endpoint:
    if not isinstance(api_version, str) or api_version not in API_VERSIONS:
        raise VyroInputError(
            "api_version",
            "must be 'v1' (inpaint) or 'v2' (generative fill), "
            f"got {type(api_version).__name__} {api_version!r}",
        )
    return API_VERSIONS[api_version]


def _model_version_for(api_version: str, model_version: Any, *, field: str = "model_version") -> Any:
    """Give the model version to send (``None`` for v2, which has none), refusing one v2 cannot take."""
    if api_version == "v1":
        return model_version
    if model_version not in (None, "", _MODEL_VERSION_DEFAULT):
        raise VyroInputError(
            field,
            f"belongs to the v1 inpaint call; with api_version='v2' (generative fill) leave it at its "
            f"default {_MODEL_VERSION_DEFAULT!r}, got {model_version!r} (nothing was sent)",
        )
    return None


class InpaintOperator(VyroItemOperator):
    """
    Inpaint one image: replace what the mask covers, guided by a prompt, and write the result.

    ``api_version="v1"`` (the default) calls the v1 inpaint endpoint, which answers PNG, so the
    output must be a ``.png``. ``api_version="v2"`` calls its successor, v2 generative fill; the
    output may then be ``.png``, ``.jpg``/``.jpeg`` or ``.webp``, and an answer in another format
    is converted (a ``.jpg`` output is refused up front for an image with transparency).

    Every input is checked before the API is called, so a bad path, format, size or prompt fails
    the task with :class:`~airflow_provider_vyro.exceptions.VyroInputError` without spending
    credits. The PNG is written atomically: it appears complete, or not at all. ``on_kill`` and
    ``execution_timeout`` stop the call's retries at once and leave no temporary file.

    The return value (XCom ``return_value``) is a dict with ``output_path``, ``image_path``,
    ``mask_path``, ``prompt``, ``model_version``, ``width``, ``height``, ``bytes``, ``sha256``,
    ``skipped``, ``operation`` (``inpaint``), ``api_version`` (``v1``), ``format`` (``PNG``) and
    ``attempts`` (requests sent, retries included; 0 when kept); each key is also pushed as its
    own XCom, so ``task.output["output_path"]`` can feed a later task. With ``api_version="v2"``
    the dict has the same keys but ``model_version``, with ``operation`` ``generative_fill`` and
    ``format`` the output's (``PNG``, ``JPEG`` or ``WEBP``).

    .. seealso::
        For many images in one task, see :class:`InpaintBatchOperator`.

    :param image_path: the image, JPEG or PNG: a local path, ``file://`` URI or an
        object-storage URI such as ``s3://bucket/key``. (templated)
    :param mask_path: the mask, of the image's size; white marks what to replace. (templated)
    :param prompt: what to paint where the mask is. (templated)
    :param output_path: where to write the image; default beside the image as
        ``<stem>_inpainted.png`` (v1) or ``<stem>_filled.png`` (v2). (templated)
    :param model_version: the v1 API's model version; with ``api_version="v2"`` a value other
        than the default ``"1"`` is refused before any request. (templated)
    :param api_version: ``"v1"`` (inpaint) or ``"v2"`` (generative fill).
    :param vyro_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param storage_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`. (templated)
    :param overwrite: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param asset_alias: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    """

    endpoint: ClassVar[Endpoint] = INPAINT
    template_fields: Sequence[str] = (
        "image_path",
        "mask_path",
        "prompt",
        "output_path",
        "model_version",
        "storage_conn_id",
    )
    ui_color = "#f4d8f0"

    def __init__(
        self,
        *,
        image_path: str,
        mask_path: str,
        prompt: str,
        output_path: str | None = None,
        model_version: str = "1",
        api_version: str = "v1",
        **kwargs: Any,
    ) -> None:
        _endpoint_of(api_version)
        super().__init__(**kwargs)
        self.image_path = image_path
        self.mask_path = mask_path
        self.prompt = prompt
        self.output_path = output_path
        self.model_version = model_version
        self.api_version = api_version

    def operation_endpoint(self) -> Endpoint:
        """Give inpaint (v1) or generative fill (v2), as ``api_version`` says."""
        return _endpoint_of(self.api_version)

    def item(self) -> dict[str, Any]:
        """Give the item's arguments (``model_version`` only for v1)."""
        values = {
            "image_path": self.image_path,
            "mask_path": self.mask_path,
            "prompt": self.prompt,
            "output_path": self.output_path,
        }
        model_version = _model_version_for(self.api_version, self.model_version)
        if model_version is not None:
            values["model_version"] = model_version
        return values


class InpaintBatchOperator(VyroBatchOperator):
    """
    Inpaint many images in one task, keeping up to ``max_concurrency`` calls in flight.

    Airflow spends seconds per task instance, so for hundreds of images one batch task is far
    cheaper than one mapped :class:`InpaintOperator` per image. Each item is checked, called and
    written exactly as :class:`InpaintOperator` does it.

    Every item is checked before the first request: bad items fail the task with one
    :class:`~airflow_provider_vyro.exceptions.VyroInputError` naming each (``items[3].mask_path:
    ...``), and nothing is spent. The first call runs alone; then up to ``max_concurrency``. An
    error that would hit every item (a refused token, no credits, a wrong endpoint, a TLS
    failure) stops the run at once and fails the task without retries. Any other failed item
    does not stop the others; the task then fails with
    :class:`~airflow_provider_vyro.exceptions.VyroBatchError` listing each failed item and its
    class, and a task retry pays only for those. A 429 slows every worker down. A progress line
    is logged every ``progress_interval`` seconds and the log ends with the calls made, written,
    kept and failed.

    The return value is the list of per-item dicts (the shape :class:`InpaintOperator` returns),
    in the order of ``items``; with ``manifest_path``, a summary dict.

    :param items: list of dicts with ``image_path``, ``mask_path`` and optionally ``prompt``,
        ``output_path`` and (v1) ``model_version`` (see :class:`InpaintOperator`). (templated)
    :param prompt: the prompt of items that have none. (templated)
    :param model_version: the model version of items that have none (v1 only). (templated)
    :param api_version: ``"v1"`` (inpaint) or ``"v2"`` (generative fill), for every item.
    :param max_concurrency: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`.
    :param max_calls: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`.
    :param manifest_path: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`. (templated)
    :param progress_interval: see :class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`.
    :param vyro_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param storage_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`. (templated)
    :param overwrite: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    """

    endpoint: ClassVar[Endpoint] = INPAINT
    template_fields: Sequence[str] = ("items", "prompt", "model_version", "storage_conn_id", "manifest_path")
    ui_color = "#e6c8f0"

    def __init__(
        self,
        *,
        items: list[dict[str, Any]],
        prompt: str | None = None,
        model_version: str = "1",
        api_version: str = "v1",
        **kwargs: Any,
    ) -> None:
        _endpoint_of(api_version)
        super().__init__(items=items, **kwargs)
        self.prompt = prompt
        self.model_version = model_version
        self.api_version = api_version

    def operation_endpoint(self) -> Endpoint:
        """Give inpaint (v1) or generative fill (v2), as ``api_version`` says."""
        return _endpoint_of(self.api_version)

    def defaults(self) -> dict[str, Any]:
        """Give the prompt and (v1) model version of items that have none."""
        return {
            "prompt": self.prompt,
            "model_version": _model_version_for(self.api_version, self.model_version),
        }

    def entry(self, index: int, values: Any) -> Any:
        """With v2, take out an item's ``model_version`` if it is the default (refuse it otherwise)."""
        if self.api_version == "v2" and isinstance(values, dict) and "model_version" in values:
            values = dict(values)
            _model_version_for("v2", values.pop("model_version"), field=f"items[{index}].model_version")
        return values
