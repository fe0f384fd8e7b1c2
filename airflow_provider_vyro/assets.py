"""
Asset events for the images a task wrote, so that downstream DAGs can be scheduled on them.

Output paths are known only when a task runs (templates, XCom), so an operator cannot list
``Asset(...)`` outlets when the DAG is parsed. Instead it declares an
:class:`~airflow.sdk.AssetAlias` among its outlets (:func:`declare_alias`) and, when it has
written its images, adds one asset event per image through that alias (:func:`emit`). A DAG
scheduled on the alias runs when the events are recorded, which Airflow does when the task
succeeds, and reads the images' URIs from its ``triggering_asset_events``.

Asset URIs name the object, never the connection that reached it: ``s3://bucket/key`` and
``file:///absolute/path``. Characters that a URI may not hold (a space, ``%``, ...) are
percent-encoded; :func:`path_of` turns such a URI back into the path.

On Airflow 2.11 ``Asset`` and ``AssetAlias`` are ``Dataset`` and ``DatasetAlias`` (imported
through ``airflow.providers.common.compat.sdk``). Announcing an image is never worth failing a
task that has paid for it: every problem here is logged and the task goes on.
"""

from __future__ import annotations

import logging
import posixpath
from typing import TYPE_CHECKING, Any

from airflow_provider_vyro.catalogue import UNNAMED_OPERATION
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.locations import asset_uri, path_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from airflow.providers.common.compat.sdk import Context

_log = logging.getLogger(__name__)

_FORMATS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "webp": "webp"}

EXTRA_KEYS: tuple[str, ...] = ("operation", "sha256", "bytes", "width", "height", "format")
"""The keys of every event's ``extra``, all JSON values."""


def output_uri(output_path: str, storage_conn_id: str | None = None) -> str:
    """
    Give the asset URI of an output path as a task returns it (a relative path is the worker's).

    :param output_path: the ``output_path`` of a result dict.
    :param storage_conn_id: the connection the task used for remote paths.
    """
    from airflow_provider_vyro import storage

    return asset_uri(storage.resolve(output_path, field="output_path", conn_id=storage_conn_id or None))


def declare_alias(asset_alias: str | None, outlets: Any = None) -> list[Any]:
    """
    Give the task's outlets with ``AssetAlias(asset_alias)`` among them, once (for a constructor).

    Call it before ``BaseOperator.__init__`` and pass the result as ``outlets``. A mapped task
    (``.partial(...).expand(...)``) runs its constructor only on the worker, so there the alias
    reaches Airflow when the task ends, which is enough for the events; to show the alias in the
    DAG's graph as well, also pass ``outlets=[AssetAlias(name)]`` to ``partial``.

    :param asset_alias: the alias name, or ``None`` for no alias.
    :param outlets: the ``outlets`` the user gave (one object, a list, or ``None``).
    :raises VyroInputError: if ``asset_alias`` is neither ``None`` nor a non-empty string.
    """
    if outlets is None:
        declared: list[Any] = []
    elif isinstance(outlets, list | tuple):
        declared = list(outlets)
    else:
        declared = [outlets]
    if asset_alias is None:
        return declared
    if not isinstance(asset_alias, str) or not asset_alias.strip():
        raise VyroInputError("asset_alias", f"expected a non-empty name or None, got {asset_alias!r}")
    from airflow.providers.common.compat.sdk import AssetAlias

    if not any(isinstance(o, AssetAlias) and o.name == asset_alias for o in declared):
        declared.append(AssetAlias(asset_alias))
    return declared


def was_written(result: Mapping[str, Any]) -> bool:
    """
    Tell whether a result dict is announced: its output was written by this DAG run.

    A result dict alone tells only ``skipped``: the operators know more (an output kept because
    an earlier try of the same DAG run wrote it is announced too) and pass their own choice.

    :param result: one result dict of the task.
    """
    return not result.get("skipped", False)


def event_extra(result: Mapping[str, Any]) -> dict[str, Any]:
    """
    Give the JSON ``extra`` of the asset event for one result dict.

    :param result: one result dict of the task.
    """
    output = str(result["output_path"])
    suffix = posixpath.splitext(output)[1].lstrip(".").lower()
    return {
        "operation": str(result.get("operation") or UNNAMED_OPERATION),
        "sha256": str(result["sha256"]),
        "bytes": int(result["bytes"]),
        "width": int(result["width"]),
        "height": int(result["height"]),
        "format": str(result.get("format") or _FORMATS.get(suffix, suffix)),
    }


def emit(
    context: Context,
    asset_alias: str | None,
    results: Iterable[Mapping[str, Any]],
    *,
    storage_conn_id: str | None = None,
    announced: Callable[[Mapping[str, Any]], bool] = was_written,
) -> int:
    """
    Add one asset event through ``asset_alias`` per announced result; never raise.

    :param context: the task's context (its ``outlet_events``).
    :param asset_alias: the alias the operator declared with :func:`declare_alias`; ``None``
        announces nothing.
    :param results: the task's result dicts.
    :param storage_conn_id: the connection the task used for remote paths.
    :param announced: which results to announce (default :func:`was_written`).
    :return: how many events were added.
    """
    if not asset_alias:
        return 0
    added = 0
    try:
        outlet_events = context.get("outlet_events")
        if outlet_events is None:
            _log.warning("This Airflow has no outlet events: nothing announced through %r", asset_alias)
            return 0
        from airflow.providers.common.compat.sdk import Asset, AssetAlias

        accessor = outlet_events[AssetAlias(asset_alias)]
        for result in results:
            if not announced(result):
                continue
            try:
                uri = output_uri(str(result["output_path"]), storage_conn_id)
                accessor.add(Asset(uri=uri), extra=event_extra(result))
            except Exception:
                _log.warning(
                    "Could not announce %s through %r", result.get("output_path"), asset_alias, exc_info=True
                )
                continue
            added += 1
    except Exception:
        _log.warning("Could not announce the outputs through %r", asset_alias, exc_info=True)
        return added
    _log.info("Announced %d output(s) as asset events through the alias %r", added, asset_alias)
    return added


__all__ = [
    "EXTRA_KEYS",
    "asset_uri",
    "declare_alias",
    "emit",
    "event_extra",
    "output_uri",
    "path_of",
    "was_written",
]
