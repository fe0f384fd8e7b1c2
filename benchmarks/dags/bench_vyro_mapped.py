"""
Benchmark DAG: one mapped InpaintOperator task instance per item of ``conf["items"]``.

Run by :mod:`benchmarks.batch` through ``airflow dags test --conf '{"items": [...]}'``; each item
is a dict of InpaintOperator arguments (``image_path``, ``mask_path``, ``prompt``, ``output_path``).
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import dag
from bench_items import list_items

from airflow_provider_vyro.operators.inpaint import InpaintOperator


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["benchmark"])
def bench_vyro_mapped() -> None:
    """List the items from the run's conf, then inpaint each in its own mapped task instance."""

    InpaintOperator.partial(task_id="inpaint").expand_kwargs(list_items())


bench_vyro_mapped()
