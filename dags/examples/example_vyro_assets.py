"""
Data-aware scheduling: one DAG inpaints images, another runs because they were written.

``example_vyro_asset_producer`` inpaints two images (one mapped task each) and announces each
written PNG as an asset event through the alias ``vyro-inpainted``. ``example_vyro_asset_consumer``
is scheduled on that alias: Airflow runs it when the producer's task succeeds, and its task reads
the new images' URIs and details from the triggering asset events.

Run it: unpause both DAGs and trigger the producer (``airflow dags trigger
example_vyro_asset_producer``); the scheduler starts the consumer.
"""

# mypy: disable-error-code="index,arg-type"
# (TaskFlow hands an XComArg where mypy sees the task function's return type.)

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import AssetAlias, Param, dag, task

from airflow_provider_vyro.assets import path_of
from airflow_provider_vyro.operators.inpaint import InpaintOperator

DATA = Path(__file__).resolve().parent / "data"
OUTPUT_DIR = os.environ.get("VYRO_EXAMPLES_OUTPUT_DIR", os.path.join(tempfile.gettempdir(), "vyro-examples"))
ALIAS = "vyro-inpainted"


# [START producer]
@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "vyro"],
    params={
        "names": Param(["beach", "lake"], type="array", description="Images of data/ to inpaint"),
        "output_dir": Param(os.path.join(OUTPUT_DIR, "assets"), type="string"),
    },
)
def example_vyro_asset_producer() -> None:
    """Inpaint the chosen images; each written PNG becomes an asset event through the alias."""

    @task
    def list_work(params: dict[str, Any] | None = None) -> list[dict[str, str]]:
        assert params is not None
        prompts = json.loads((DATA / "prompts.json").read_text())
        return [
            {
                "image_path": str(DATA / f"{name}.jpg"),
                "mask_path": str(DATA / f"{name}_mask.png"),
                "prompt": prompts[name],
                "output_path": str(Path(params["output_dir"]) / f"{name}.png"),
            }
            for name in params["names"]
        ]

    # A mapped task runs its constructor on the worker: outlets= shows the alias in the graph too.
    InpaintOperator.partial(task_id="inpaint", asset_alias=ALIAS, outlets=[AssetAlias(ALIAS)]).expand_kwargs(
        list_work()
    )


# [END producer]


# [START consumer]
@dag(
    schedule=AssetAlias(ALIAS),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "vyro"],
)
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
