"""
Probe for the Celery end-to-end run: a local path handed from one worker to another.

``on_worker_a`` (queue ``e2e_worker_a``) writes its PNG to ``local_dir``, a folder that exists on
every worker but holds each worker's own files (``e2e/services.py`` mounts a private tmpfs there per
worker, as separate machines would have separate disks). ``on_worker_b`` (queue
``e2e_worker_b``) gets that path through XCom and must fail with ``VyroInputError`` before it
calls the API: the file is not on its disk. This is what happens in production when a DAG
passes local paths between tasks under Celery or Kubernetes; object-storage URIs avoid it.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.providers.common.compat.sdk import Param, dag

from airflow_provider_vyro.operators.inpaint import InpaintOperator

DATA = Path(__file__).resolve().parents[2] / "dags" / "examples" / "data"


PARAMS = {
    "local_dir": Param("/tmp", type="string", description="A folder private to each worker"),
    "data_dir": Param(str(DATA), type="string", description="Inputs every worker has"),
}


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), tags=["e2e", "vyro"], params=PARAMS)
def e2e_vyro_local_path_across_workers() -> None:
    """Write a local file on worker A, then ask worker B to read it."""
    first = InpaintOperator(
        task_id="on_worker_a",
        queue="e2e_worker_a",
        image_path="{{ params.data_dir }}/beach.jpg",
        mask_path="{{ params.data_dir }}/beach_mask.png",
        prompt="smooth sand where the ball was",
        output_path="{{ params.local_dir }}/step1.png",
    )
    InpaintOperator(
        task_id="on_worker_b",
        queue="e2e_worker_b",
        image_path=first.output["output_path"],  # type: ignore[index]
        mask_path="{{ params.data_dir }}/beach_mask.png",
        prompt="a large sea shell on the sand",
        output_path="{{ params.local_dir }}/step2.png",
        retries=0,
    )


e2e_vyro_local_path_across_workers()
