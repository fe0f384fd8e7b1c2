"""Operators that inpaint images with Vyro's Imagine API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_vyro import assets

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.providers.common.compat.sdk import Context
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_vyro.items import InpaintXCom, PreparedItem


class InpaintOperator(BaseOperator):
    """
    Inpaint one image: replace what the mask covers, guided by a prompt, and write a PNG.

    Every input is checked before the API is called, so a bad path, format, size or prompt fails
    the task with :class:`~airflow_provider_vyro.exceptions.VyroInputError` without spending
    credits. The PNG is written atomically: it appears complete, or not at all.

    The return value (XCom ``return_value``) is a dict with ``output_path``, ``image_path``,
    ``mask_path``, ``prompt``, ``model_version``, ``width``, ``height``, ``bytes``, ``sha256``
    and ``skipped``; each key is also pushed as its own XCom, so
    ``task.output["output_path"]`` can feed a later task.

    .. seealso::
        For many images in one task, see :class:`InpaintBatchOperator`.

    :param image_path: the image, JPEG or PNG: a local path, ``file://`` URI or an
        object-storage URI such as ``s3://bucket/key``. (templated)
    :param mask_path: the mask, of the image's size; white marks what to replace. (templated)
    :param prompt: what to paint where the mask is. (templated)
    :param output_path: where to write the PNG; default beside the image as
        ``<stem>_inpainted.png``. (templated)
    :param model_version: the API's model version. (templated)
    :param vyro_conn_id: the :ref:`Vyro connection <howto/connection:vyro>` holding the token.
    :param storage_conn_id: connection for remote paths (e.g. an ``aws`` connection), handed to
        ``ObjectStoragePath``; ``None`` or empty uses the scheme's default connection. (templated)
    :param overwrite: replace an existing output. If ``False`` and the output already exists as a
        complete PNG, no call is made and the existing file is reported with ``skipped: True``.
    :param asset_alias: a name: each output the task writes is announced as an asset event
        through ``AssetAlias(asset_alias)``, which the task declares among its outlets, so a
        DAG scheduled on the alias runs on the new images (see :doc:`/data-aware`).
    """

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
        vyro_conn_id: str = "vyro_default",
        storage_conn_id: str | None = None,
        overwrite: bool = True,
        asset_alias: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("multiple_outputs", True)
        # data-aware wiring (1/3): declare the alias among the outlets
        kwargs["outlets"] = assets.declare_alias(asset_alias, kwargs.get("outlets"))
        super().__init__(**kwargs)
        self.asset_alias = asset_alias
        self._vyro_results: list[Mapping[str, Any]] = []
        self.image_path = image_path
        self.mask_path = mask_path
        self.prompt = prompt
        self.output_path = output_path
        self.model_version = model_version
        self.vyro_conn_id = vyro_conn_id
        self.storage_conn_id = storage_conn_id
        self.overwrite = overwrite

    def execute(self, context: Context) -> InpaintXCom:
        """Check the inputs, make the call unless the output is kept, and return the XCom dict."""
        from airflow_provider_vyro import items

        item = items.prepare(
            image_path=self.image_path,
            mask_path=self.mask_path,
            prompt=self.prompt,
            output_path=self.output_path,
            model_version=self.model_version,
            storage_conn_id=self.storage_conn_id,
            overwrite=self.overwrite,
        )
        if item.keep_existing:
            self.log.info("%s exists and overwrite is off: kept, no API call", item.output_path)
            result = items.describe_existing(item)
        else:
            result = self._inpaint(item)
        # data-aware wiring (2/3): keep the results for lineage, announce the written outputs
        self._vyro_results = [result]
        assets.emit(context, self.asset_alias, self._vyro_results, storage_conn_id=self.storage_conn_id)
        return result

    def _inpaint(self, item: PreparedItem) -> InpaintXCom:
        from airflow_provider_vyro import items
        from airflow_provider_vyro.hooks.vyro import VyroHook

        hook = VyroHook(vyro_conn_id=self.vyro_conn_id)
        self.log.info("Inpainting %s with %s (%r)", item.image_path, hook.inpaint_url, item.prompt[:40])
        try:
            result = items.run(item, hook)
        finally:
            hook.close()
        self.log.info(
            "Wrote %s (%dx%d, %d bytes, sha256 %s)",
            result["output_path"],
            result["width"],
            result["height"],
            result["bytes"],
            result["sha256"][:12],
        )
        return result

    # data-aware wiring (3/3): OpenLineage, called by its listener only when it is installed
    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any]:
        """
        Report the image and mask read and the output written, as OpenLineage datasets.

        :param task_instance: the finished task instance (unused: the operator kept its results).
        """
        from airflow_provider_vyro.openlineage import operator_lineage

        return operator_lineage(self._vyro_results, storage_conn_id=self.storage_conn_id)


class InpaintBatchOperator(BaseOperator):
    """
    Inpaint many images in one task, keeping up to ``max_concurrency`` calls in flight.

    Airflow spends seconds per task instance, so for hundreds of images one batch task is far
    cheaper than one mapped :class:`InpaintOperator` per image. Each item is checked, called and
    written exactly as :class:`InpaintOperator` does it.

    Every item is checked before the first request: one bad item fails the task with
    :class:`~airflow_provider_vyro.exceptions.VyroInputError` naming it, and nothing is spent. An
    item that fails at the API after the hook's retries does not stop the others; the task then
    fails with :class:`~airflow_provider_vyro.exceptions.VyroBatchError` listing the failed
    items, and a task retry with ``overwrite=False`` redoes only those. A 429 slows every worker
    down, not just the one that saw it. A progress line is logged every ``progress_interval``
    seconds.

    The return value is the list of per-item dicts (the shape :class:`InpaintOperator` returns),
    in the order of ``items``.

    :param items: list of dicts with ``image_path``, ``mask_path`` and optionally ``prompt``,
        ``output_path`` and ``model_version`` (see :class:`InpaintOperator`). (templated)
    :param prompt: the prompt of items that have none. (templated)
    :param model_version: the model version of items that have none. (templated)
    :param max_concurrency: calls in flight at once.
    :param vyro_conn_id: the :ref:`Vyro connection <howto/connection:vyro>` holding the token.
    :param storage_conn_id: connection for remote paths, handed to ``ObjectStoragePath``. (templated)
    :param overwrite: replace existing outputs; if ``False``, complete outputs are kept and not paid for.
    :param progress_interval: seconds between progress lines in the task log.
    :param asset_alias: a name: each output the task writes is announced as an asset event
        through ``AssetAlias(asset_alias)``, which the task declares among its outlets, so a
        DAG scheduled on the alias runs on the new images (see :doc:`/data-aware`).
    """

    template_fields: Sequence[str] = ("items", "prompt", "model_version", "storage_conn_id")
    ui_color = "#e6c8f0"

    def __init__(
        self,
        *,
        items: list[dict[str, Any]],
        prompt: str | None = None,
        model_version: str = "1",
        max_concurrency: int = 8,
        vyro_conn_id: str = "vyro_default",
        storage_conn_id: str | None = None,
        overwrite: bool = True,
        progress_interval: float = 5.0,
        asset_alias: str | None = None,
        **kwargs: Any,
    ) -> None:
        # data-aware wiring (1/3): declare the alias among the outlets
        kwargs["outlets"] = assets.declare_alias(asset_alias, kwargs.get("outlets"))
        super().__init__(**kwargs)
        self.asset_alias = asset_alias
        self._vyro_results: list[Mapping[str, Any]] = []
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"max_concurrency must be a positive whole number, got {max_concurrency!r}")
        self.items = items
        self.prompt = prompt
        self.model_version = model_version
        self.max_concurrency = max_concurrency
        self.vyro_conn_id = vyro_conn_id
        self.storage_conn_id = storage_conn_id
        self.overwrite = overwrite
        self.progress_interval = progress_interval

    def execute(self, context: Context) -> list[InpaintXCom]:
        """Check every item, then run the calls concurrently and return the dicts in input order."""
        from airflow_provider_vyro.batch import prepare_all, run_all
        from airflow_provider_vyro.hooks.vyro import VyroHook

        prepared = prepare_all(
            self.items,
            prompt=self.prompt,
            model_version=self.model_version,
            storage_conn_id=self.storage_conn_id,
            overwrite=self.overwrite,
            max_concurrency=self.max_concurrency,
        )
        hook = VyroHook(vyro_conn_id=self.vyro_conn_id, pool_maxsize=self.max_concurrency)
        self.log.info(
            "Inpainting %d items with %s, %d at a time (%d kept)",
            len(prepared),
            hook.inpaint_url,
            self.max_concurrency,
            sum(item.keep_existing for item in prepared),
        )
        try:
            results = run_all(
                prepared,
                hook,
                max_concurrency=self.max_concurrency,
                progress_interval=self.progress_interval,
                log=self.log,
            )
        finally:
            hook.close()
        # data-aware wiring (2/3): keep the results for lineage, announce the written outputs
        self._vyro_results = list(results)
        assets.emit(context, self.asset_alias, self._vyro_results, storage_conn_id=self.storage_conn_id)
        return results

    # data-aware wiring (3/3): OpenLineage, called by its listener only when it is installed
    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any]:
        """
        Report every item's image and mask and every output written, as OpenLineage datasets.

        Past Airflow's ``[lineage] max_assets_per_collector`` datasets per side they are
        summarised as their folders.

        :param task_instance: the finished task instance (unused: the operator kept its results).
        """
        from airflow_provider_vyro.openlineage import operator_lineage

        return operator_lineage(self._vyro_results, storage_conn_id=self.storage_conn_id)
