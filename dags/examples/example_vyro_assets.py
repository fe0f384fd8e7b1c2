"""
Data-aware scheduling: one DAG inpaints images, another runs because they were written.

``example_vyro_asset_producer`` inpaints two images in one batch task and announces each PNG it
writes as an asset event through the alias ``vyro-inpainted``. ``example_vyro_asset_consumer`` is
scheduled on that alias: Airflow runs it when the producer's task succeeds (one run for the events
of one task), and its task reads the new images' URIs and details from the triggering asset
events. Outputs already there are kept (``overwrite=False``) and not announced again.

Run it: unpause both DAGs and trigger the producer (``airflow dags trigger
example_vyro_asset_producer``); the scheduler starts the consumer.
"""

# mypy: disable-error-code="index,arg-type"
# (TaskFlow hands an XComArg where mypy sees the task function's return type.)

from __future__ import annotations

import json
import os
from typing import Any

from airflow.providers.common.compat.sdk import AssetAlias, Param, dag, task
from vyro_example_pairs import DATA, OUTPUT_DIR, START, TAGS

from airflow_provider_vyro.assets import path_of
from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator

ALIAS = "vyro-inpainted"


# [START producer]
PARAMS = {
    "names": Param(["beach", "lake"], type="array", description="Images of data/ to inpaint"),
    "output_dir": Param(
        os.path.join(OUTPUT_DIR, "assets"), type="string", description="Folder or s3:// prefix"
    ),
    "storage_conn_id": Param(None, type=["null", "string"]),
}


@dag(schedule=None, start_date=START, tags=TAGS, params=PARAMS)
def example_vyro_asset_producer() -> None:
    """Inpaint the chosen images in one task; each PNG it writes becomes an asset event through the alias."""

    @task
    def list_work(params: dict[str, Any] | None = None) -> list[dict[str, str]]:
        assert params is not None
        prompts = json.loads((DATA / "prompts.json").read_text())
        return [
            {
                "image_path": str(DATA / f"{name}.jpg"),
                "mask_path": str(DATA / f"{name}_mask.png"),
                "prompt": prompts[name],
                "output_path": f"{params['output_dir'].rstrip('/')}/{name}.png",
            }
            for name in params["names"]
        ]

    InpaintBatchOperator(
        task_id="inpaint",
        items=list_work(),
        overwrite=False,
        storage_conn_id="{{ params.storage_conn_id or '' }}",
        asset_alias=ALIAS,
    )


# [END producer]


# [START consumer]


@dag(schedule=AssetAlias(ALIAS), start_date=START, catchup=False, tags=TAGS)
def example_vyro_asset_consumer() -> None:
    """List the images announced through the alias (the events that started this run)."""

    @task
    def new_images(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        events = triggering_asset_events.get(AssetAlias(ALIAS), []) if triggering_asset_events else []
        images = []
        for event in events:
            path = path_of(event.asset.uri)  # s3://bucket/key or a local path, for the next operator
            print(f"{path}: {event.extra['width']}x{event.extra['height']} from {event.source_dag_id}")
            images.append({"uri": event.asset.uri, "path": path, **event.extra})
        return sorted(images, key=lambda image: str(image["uri"]))

    new_images()


# [END consumer]

example_vyro_asset_producer()
example_vyro_asset_consumer()
