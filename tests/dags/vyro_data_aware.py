"""
Test DAG: asset events from a batch task and from a mapped task whose ``partial`` has no outlets.

Params: ``data`` (a folder with ``beach``/``lake`` images and masks) and ``out`` (where the PNGs
go). Both tasks keep existing outputs (``overwrite=False``), so a second run announces nothing.
"""

# mypy: disable-error-code="index,arg-type"

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator, InpaintOperator

SCENES = ("beach", "lake")


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def vyro_data_aware() -> None:
    """A batch of two images through one alias, one mapped image through another."""
    InpaintBatchOperator(
        task_id="batch",
        items=[
            {
                "image_path": f"{{{{ params.data }}}}/{name}.jpg",
                "mask_path": f"{{{{ params.data }}}}/{name}_mask.png",
                "output_path": f"{{{{ params.out }}}}/batch/{name}.png",
            }
            for name in SCENES
        ],
        prompt="a calm scene",
        overwrite=False,
        asset_alias="vyro-test-batch",
    )
    InpaintOperator.partial(
        task_id="mapped",
        mask_path="{{ params.data }}/beach_mask.png",
        prompt="a calm scene",
        output_path="{{ params.out }}/mapped/beach.png",
        overwrite=False,
        asset_alias="vyro-test-mapped",
    ).expand(image_path=["{{ params.data }}/beach.jpg"])


vyro_data_aware()
