"""
Test DAG: ``.partial().expand()`` over images, then a second mapped step fed by each output path.

Airflow refuses to map over an XCom with a custom key, so the second step maps over
``first.output.map(...)``; a plain downstream task takes ``first.output["output_path"]``, which
gathers the per-key XComs of every map index.
"""

# mypy: disable-error-code="index,arg-type"

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_vyro.operators.inpaint import InpaintOperator


def output_path(result: dict[str, Any]) -> str:
    """The output path of one inpaint result."""
    return str(result["output_path"])


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def vyro_mapped_chain() -> None:
    """First step: default outputs beside each image; second step paints over each first output."""

    @task
    def images(params: dict[str, Any] | None = None) -> list[str]:
        assert params is not None
        return list(params["images"])

    first = InpaintOperator.partial(
        task_id="first", mask_path="{{ params.mask }}", prompt="remove the ball"
    ).expand(image_path=images())
    InpaintOperator.partial(task_id="second", mask_path="{{ params.mask }}", prompt="add a shell").expand(
        image_path=first.output.map(output_path)
    )

    @task
    def gather(paths: list[str]) -> list[str]:
        return list(paths)

    gather(first.output["output_path"])


vyro_mapped_chain()
