"""
Test DAGs whose results the "Vyro images" view shows (Airflow 3.1+).

* ``vyro_ui_images``: one generated image (``single``), a batch of three inpainted images
  (``batch``, a list in XCom) and a batch of ``conf["manifest_items"]`` generated images whose
  results go to a manifest (``manifest``); everything under ``conf["out"]``;
* ``vyro_ui_open``: one generated image and one video made from a photo (with its thumbnail), in
  a DAG every test user may read.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_vyro.operators.generate import TextToImageBatchOperator, TextToImageOperator
from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator
from airflow_provider_vyro.operators.video import ImageToVideoOperator
from devtools.airflow_runner import EXAMPLES

DATA = EXAMPLES / "data"
SCENES = ("beach", "lake", "meadow")
OUT = "{{ dag_run.conf['out'] }}"


def generated(prompt: str, name: str, **arguments: Any) -> TextToImageOperator:
    """The task ``single``: one image generated from ``prompt`` into ``<out>/<name>``."""
    return TextToImageOperator(task_id="single", prompt=prompt, output_path=f"{OUT}/{name}", **arguments)


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def vyro_ui_images() -> None:
    """A single image, a batch returned through XCom, and a batch with a manifest."""
    generated("a red fox in fresh snow", "single.png", aspect_ratio="4:3")
    InpaintBatchOperator(
        task_id="batch",
        items=[
            {
                "image_path": str(DATA / f"{scene}.jpg"),
                "mask_path": str(DATA / f"{scene}_mask.png"),
                "output_path": "{{ dag_run.conf['out'] }}/batch/" + scene + ".png",
            }
            for scene in SCENES
        ],
        prompt="a hand full of flower petals",
        max_concurrency=3,
    )

    @task
    def manifest_items(params: dict[str, Any] | None = None, dag_run: Any = None) -> list[dict[str, str]]:
        conf = dag_run.conf
        return [
            {"prompt": f"a lighthouse, study {n}", "output_path": f"{conf['out']}/manifest/{n:03d}.jpg"}
            for n in range(int(conf["manifest_items"]))
        ]

    TextToImageBatchOperator(
        task_id="manifest",
        items=manifest_items(),
        aspect_ratio="1:1",
        max_concurrency=4,
        manifest_path="{{ dag_run.conf['out'] }}/manifest/results.jsonl",
    )


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def vyro_ui_open() -> None:
    """One generated image, one video."""
    generated("a bowl of ramen, top view", "open.png")
    ImageToVideoOperator(
        task_id="video",
        image_path=str(DATA / "product_bottle.jpg"),
        prompt="the bottle turns slowly on the counter",
        output_path="{{ dag_run.conf['out'] }}/video/bottle.mp4",
        thumbnail_path="{{ dag_run.conf['out'] }}/video/bottle.jpg",
        deferrable=False,
        poll_interval=1,
    )


vyro_ui_images()
vyro_ui_open()
