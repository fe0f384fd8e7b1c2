"""
OpenLineage for the operators: which images and masks produced which outputs.

Datasets are named as the OpenLineage naming spec says: an object in S3 is namespace
``s3://bucket`` and name ``key``; a local file is namespace ``file`` and name its absolute path.
``apache-airflow-providers-openlineage`` is optional (the ``openlineage`` extra): its names are
imported only when the OpenLineage listener asks an operator for its lineage, as Airflow's own
``FileTransferOperator`` does, so nothing here is imported without it.

A batch reports every item, up to Airflow's ``[lineage] max_assets_per_collector`` datasets
(100 by default) of inputs and of outputs; past that the files are summarised as their folders
(and, if those are still too many, as their buckets), and the log says so.
"""

from __future__ import annotations

import logging
import posixpath
from typing import TYPE_CHECKING, Any

from airflow_provider_vyro import storage
from airflow_provider_vyro.assets import was_written
from airflow_provider_vyro.locations import Location

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from airflow.providers.openlineage.extractors import OperatorLineage

_log = logging.getLogger(__name__)

DEFAULT_MAX_DATASETS = 100
"""Datasets per side when ``[lineage] max_assets_per_collector`` is not set."""

INPUT_KEYS: tuple[str, ...] = ("image_path", "mask_path")
"""The keys of a result dict that name an input file (when present and not empty)."""

DatasetName = tuple[str, str]


def dataset_name(path: str, storage_conn_id: str | None = None) -> DatasetName:
    """
    Give the OpenLineage namespace and name of a path as a task got it.

    :param path: a local path, ``file://`` URI or object-storage URI.
    :param storage_conn_id: the connection the task used for remote paths (not part of the name).
    """
    return Location.of(storage.resolve(path, field="path", conn_id=storage_conn_id or None)).dataset


def max_datasets() -> int:
    """Give the most datasets reported per side: ``[lineage] max_assets_per_collector``, or 100."""
    try:
        from airflow.configuration import conf

        return max(1, conf.getint("lineage", "max_assets_per_collector", fallback=DEFAULT_MAX_DATASETS))
    except Exception:
        return DEFAULT_MAX_DATASETS


def summarise(names: Sequence[DatasetName], limit: int) -> list[DatasetName]:
    """
    Keep ``names`` if there are at most ``limit``; else name their folders, or else their buckets.

    :param names: the datasets, in order, without repeats.
    :param limit: the most datasets to give.
    """
    if len(names) <= limit:
        return list(names)
    folders = list(dict.fromkeys((ns, posixpath.dirname(name) or "/") for ns, name in names))
    if len(folders) <= limit:
        return folders
    roots = list(dict.fromkeys((ns, "/") for ns, _ in names))
    return roots[:limit]


def lineage_names(
    results: Iterable[Mapping[str, Any]],
    *,
    storage_conn_id: str | None = None,
    announced: Callable[[Mapping[str, Any]], bool] = was_written,
    limit: int | None = None,
) -> tuple[list[DatasetName], list[DatasetName]]:
    """
    Give the input and output datasets of a task's result dicts, summarised past ``limit``.

    Inputs are every item's image and mask, or a generic call's ``files`` (every item was
    checked by reading them); outputs
    are the files the task wrote (``announced``), not the ones it kept from earlier runs.

    :param results: the task's result dicts.
    :param storage_conn_id: the connection the task used for remote paths.
    :param announced: which results count as written.
    :param limit: the most datasets per side; default :func:`max_datasets`.
    """
    inputs: dict[DatasetName, None] = {}
    outputs: dict[DatasetName, None] = {}
    for result in results:
        paths = [result.get(key) for key in INPUT_KEYS]
        files = result.get("files")
        if isinstance(files, dict):
            paths.extend(files.values())
        for path in paths:
            if path:
                inputs[dataset_name(str(path), storage_conn_id)] = None
        if announced(result):
            outputs[dataset_name(str(result["output_path"]), storage_conn_id)] = None
    limit = max_datasets() if limit is None else limit
    summarised = summarise(list(inputs), limit), summarise(list(outputs), limit)
    for side, full, kept in (("inputs", inputs, summarised[0]), ("outputs", outputs, summarised[1])):
        if len(kept) < len(full):
            _log.info(
                "OpenLineage: %d %s summarised as %d datasets (limit %d)", len(full), side, len(kept), limit
            )
    return summarised


def operator_lineage(
    results: Iterable[Mapping[str, Any]] | None,
    *,
    storage_conn_id: str | None = None,
    announced: Callable[[Mapping[str, Any]], bool] = was_written,
) -> OperatorLineage[Any, Any]:
    """
    Build the ``OperatorLineage`` of a task from its result dicts (empty if it has none).

    Needs ``apache-airflow-providers-openlineage``; the OpenLineage listener calls this through
    the operators' ``get_openlineage_facets_on_complete`` only when it is installed.

    :param results: the task's result dicts, or ``None`` if it returned none.
    :param storage_conn_id: the connection the task used for remote paths.
    :param announced: which results count as written.
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage

    if not results:
        return OperatorLineage()
    inputs, outputs = lineage_names(results, storage_conn_id=storage_conn_id, announced=announced)
    return OperatorLineage(
        inputs=[Dataset(namespace=ns, name=name) for ns, name in inputs],
        outputs=[Dataset(namespace=ns, name=name) for ns, name in outputs],
    )


__all__ = [
    "DEFAULT_MAX_DATASETS",
    "INPUT_KEYS",
    "dataset_name",
    "lineage_names",
    "max_datasets",
    "operator_lineage",
    "summarise",
]
