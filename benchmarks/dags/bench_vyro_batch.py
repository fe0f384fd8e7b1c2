"""
Benchmark DAG: one InpaintBatchOperator task for all items of ``conf["items"]``.

Run by :mod:`benchmarks.batch` through ``airflow dags test --conf '{"items": [...]}'``, with items
shaped as for :mod:`bench_vyro_mapped`; 16 calls in flight, as in the in-process figure.
"""

from __future__ import annotations

from typing import Any, cast

import pendulum
from airflow.providers.common.compat.sdk import dag
from bench_items import list_items

from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["benchmark"])
def bench_vyro_batch() -> None:
    """List the items from the run's conf, then inpaint them all in one batch task."""

    # The items are an XComArg, resolved when the task runs; the operator's annotation says list.
    items = cast("list[dict[str, Any]]", list_items())
    InpaintBatchOperator(task_id="inpaint", items=items, max_concurrency=16)


bench_vyro_batch()
