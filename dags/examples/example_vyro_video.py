"""
Product photos to short videos: one deferred image-to-video task per product, mapped.

A video job runs for minutes. ``deferrable=True`` hands the wait to the triggerer, so the
products' tasks hold no worker slot while their jobs run; each task submits its job once (a
retry polls the same job) and the worker fetches the MP4 when the job is done.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task
from vyro_example_pairs import DATA, OUTPUT_DIR, START, TAGS

from airflow_provider_vyro.operators.video import ImageToVideoOperator

POLL_INTERVAL = float(os.environ.get("VYRO_EXAMPLES_POLL_INTERVAL", "30"))
PRODUCTS = {
    "bottle": "the bottle turns slowly on the counter, soft morning light",
    "mug": "steam rises from the mug, the camera circles it",
    "lamp": "the lamp switches on and lights up the room",
}


@dag(schedule=None, start_date=START, tags=TAGS, params={"output_dir": Param(OUTPUT_DIR, type="string")})
def example_vyro_video() -> None:
    """Three product photos, three videos, waited for in the triggerer."""

    @task
    def products(params: dict[str, Any] | None = None) -> list[dict[str, str]]:
        output_dir = (params or {}).get("output_dir", OUTPUT_DIR)
        return [
            {
                "image_path": str(DATA / f"product_{name}.jpg"),
                "prompt": prompt,
                "output_path": f"{output_dir}/video/{name}.mp4",
                "thumbnail_path": f"{output_dir}/video/{name}.jpg",
            }
            for name, prompt in PRODUCTS.items()
        ]

    # [START howto_operator_vyro_image_to_video]
    videos = ImageToVideoOperator.partial(
        task_id="video",
        aspect_ratio="1:1",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        job_timeout=3600,
        retries=2,  # a retry polls the recorded job: it never submits again
        retry_delay=timedelta(minutes=1),
    ).expand_kwargs(products())
    # [END howto_operator_vyro_image_to_video]

    @task
    def summarise(results: Any) -> dict[str, Any]:
        return {
            "videos": len(results),
            "bytes": sum(r["bytes"] for r in results),
            "jobs": sorted(r["job_id"] for r in results if r["job_id"]),
        }

    summarise(videos.output)


example_vyro_video()
