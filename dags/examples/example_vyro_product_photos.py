"""
A shop's product photos: cut each product out, put a new background behind it, upscale, publish.

Raw photos lie under ``<raw_dir>/<category>/<sku>.jpg`` (an S3 prefix, or a local folder). Each
category's background prompt comes from ``product_backgrounds.csv`` beside this DAG. Every step
is one ``@task.vyro`` task that runs all photos as a batch (one pool of calls, one budget), and
keeps what is already there (``overwrite=False``), so a re-run pays nothing. The upscaled images
are published under ``<output_dir>/published/`` and announced through the asset alias
``vyro_published_product_photos``.
"""

# mypy: disable-error-code="arg-type"
# (TaskFlow hands an XComArg where mypy sees the task function's return type.)

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task
from vyro_example_pairs import START, TAGS, storage_path

PROMPTS = Path(__file__).resolve().parent / "product_backgrounds.csv"
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png")


PARAMS = {
    "raw_dir": Param("s3://vyro-examples/shop/raw", type="string"),
    "output_dir": Param("s3://vyro-examples/shop", type="string"),
    "storage_conn_id": Param("aws_default", type=["null", "string"]),
}


@dag(schedule="@daily", start_date=START, catchup=False, tags=TAGS, params=PARAMS)
def example_vyro_product_photos() -> None:
    """List the raw photos, then remove background -> AI background -> upscale into published/."""

    @task
    def list_photos(params: dict[str, Any] | None = None) -> list[dict[str, str]]:
        """One entry per raw photo: its SKU, category, and the path of each step's output."""
        assert params is not None
        given, out = params["raw_dir"].rstrip("/"), params["output_dir"].rstrip("/")
        raw = storage_path(given, params["storage_conn_id"])
        with PROMPTS.open(newline="") as table:
            prompts = {row["category"]: row["prompt"] for row in csv.DictReader(table)}
        photos = []
        for folder in sorted(raw.iterdir(), key=lambda p: p.name):
            for photo in sorted(folder.iterdir(), key=lambda p: p.name) if folder.is_dir() else []:
                sku, extension = photo.stem, photo.suffix.lower()
                if extension in PHOTO_EXTENSIONS and folder.name in prompts:
                    photos.append(
                        {
                            "sku": sku,
                            "prompt": prompts[folder.name],
                            "raw": f"{given}/{folder.name}/{photo.name}",
                            "cutout": f"{out}/cutout/{sku}.png",
                            "background": f"{out}/background/{sku}.png",
                            "published": f"{out}/published/{sku}.png",
                        }
                    )
        return photos

    # [START howto_operator_vyro_product_photos]
    @task.vyro(
        operation="remove_background", storage_conn_id="{{ params.storage_conn_id or '' }}", overwrite=False
    )
    def cut_out(photos: list[dict[str, str]]) -> list[dict[str, Any]]:
        return [{"image_path": p["raw"], "output_path": p["cutout"]} for p in photos]

    @task.vyro(
        operation="ai_background", storage_conn_id="{{ params.storage_conn_id or '' }}", overwrite=False
    )
    def new_background(photos: list[dict[str, str]], cutouts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"image_path": cut["output_path"], "prompt": p["prompt"], "output_path": p["background"]}
            for p, cut in zip(photos, cutouts, strict=True)
        ]

    @task.vyro(
        operation="upscale",
        storage_conn_id="{{ params.storage_conn_id or '' }}",
        overwrite=False,
        asset_alias="vyro_published_product_photos",
    )
    def publish(photos: list[dict[str, str]], backgrounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"image_path": made["output_path"], "output_path": p["published"]}
            for p, made in zip(photos, backgrounds, strict=True)
        ]

    # [END howto_operator_vyro_product_photos]

    photos = list_photos()
    publish(photos, new_background(photos, cut_out(photos)))


example_vyro_product_photos()
