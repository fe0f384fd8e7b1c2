"""
Inpaint every image in a folder or bucket prefix, one mapped task per image.

Pairs are ``NAME.jpg`` (or ``.png``) with ``NAME_mask.png``; ``prompts.json`` beside them gives
each image its prompt. ``input_dir`` may be a local folder or a URI such as ``s3://bucket/in``.
Outputs already there are kept (``overwrite=False``), so a re-run pays only for what is missing.
"""

# mypy: disable-error-code="index,arg-type"
# (TaskFlow hands an XComArg where mypy sees the task function's return type.)

from __future__ import annotations

import os
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task
from vyro_example_pairs import DATA, OUTPUT_DIR, START, TAGS, list_pairs, tally

from airflow_provider_vyro.operators.inpaint import InpaintOperator

PARAMS = {
    "input_dir": Param(str(DATA), type="string"),
    "output_dir": Param(os.path.join(OUTPUT_DIR, "mapped"), type="string"),
    "storage_conn_id": Param(None, type=["null", "string"]),
}


@dag(schedule=None, start_date=START, tags=TAGS, params=PARAMS)
def example_vyro_inpaint_mapped() -> None:
    """List the pairs, inpaint each in its own mapped task instance, then summarise."""

    @task
    def find_pairs(params: dict[str, Any] | None = None) -> list[dict[str, str | None]]:
        assert params is not None
        conn_id = params["storage_conn_id"]
        pairs = list_pairs(params["input_dir"], params["output_dir"], conn_id)
        return [{**pair, "storage_conn_id": conn_id} for pair in pairs]

    inpaint = InpaintOperator.partial(task_id="inpaint", overwrite=False).expand_kwargs(find_pairs())

    @task
    def summarise(results: list[dict[str, Any]]) -> dict[str, int]:
        for r in results:
            print(f"{r['output_path']}: {r['width']}x{r['height']}, skipped={r['skipped']}")
        return tally(results, "inpainted")

    summarise(inpaint.output)


example_vyro_inpaint_mapped()
