"""
Shared by the example DAGs: their sample data, output folder, start date and tags.

``storage_path`` reads a local folder or a URI alike; ``list_pairs`` lists the image/mask pairs
under one for the mapped and batch examples; ``tally`` counts what a run made and kept.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.providers.common.compat.sdk import ObjectStoragePath

if TYPE_CHECKING:
    from collections.abc import Iterable

DATA = Path(__file__).resolve().parent / "data"
"""The sample images, masks and ``prompts.json`` the examples read."""
OUTPUT_DIR = os.environ.get("VYRO_EXAMPLES_OUTPUT_DIR", os.path.join(tempfile.gettempdir(), "vyro-examples"))
"""Where the examples write: ``$VYRO_EXAMPLES_OUTPUT_DIR``, by default ``vyro-examples`` in the temp dir."""
START = pendulum.datetime(2026, 1, 1, tz="UTC")
"""The examples' ``start_date``."""
TAGS = ["example", "vyro"]
EXTENSIONS = (".jpg", ".jpeg", ".png")


def _join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


def storage_path(location: str, conn_id: str | None) -> ObjectStoragePath:
    """``location``, a local folder or a URI such as ``s3://bucket/in``, read through ``conn_id``."""
    return ObjectStoragePath(
        location if "://" in location else Path(location).resolve().as_uri(), conn_id=conn_id
    )


def list_pairs(input_dir: str, output_dir: str, conn_id: str | None) -> list[dict[str, str]]:
    """
    Pair every ``NAME_mask.png`` under ``input_dir`` with ``NAME.jpg`` (or ``.jpeg``/``.png``).

    Each pair gets its prompt from ``prompts.json`` beside the images and its output at
    ``output_dir/NAME.png``. Paths keep the form of ``input_dir`` (a local folder or a URI).
    """
    folder = storage_path(input_dir, conn_id)
    prompts = json.loads((folder / "prompts.json").read_text())
    names = {p.name for p in folder.iterdir()}
    work = []
    for mask in sorted(n for n in names if n.endswith("_mask.png")):
        stem = mask.removesuffix("_mask.png")
        image = next((stem + ext for ext in EXTENSIONS if stem + ext in names), None)
        if image is not None:
            work.append(
                {
                    "image_path": _join(input_dir, image),
                    "mask_path": _join(input_dir, mask),
                    "prompt": prompts[stem],
                    "output_path": _join(output_dir, f"{stem}.png"),
                }
            )
    return work


def tally(results: Iterable[dict[str, Any]], made: str) -> dict[str, int]:
    """Count a run's result dicts: ``images`` in all, those a call made (as ``made``), those ``kept``."""
    results = list(results)
    count = sum(not result["skipped"] for result in results)
    return {"images": len(results), made: count, "kept": len(results) - count}
