"""
Inpaint every image in a folder or bucket prefix in ONE task, many calls in flight.

Same work as ``example_vyro_inpaint_mapped``, without one task instance per image: for hundreds
of images a night, Airflow's per-task overhead would dominate. Outputs already there are kept
(``overwrite=False``), so a retry after a partial failure pays only for what is missing.
"""

# mypy: disable-error-code="arg-type"
# (TaskFlow hands an XComArg where mypy sees the task function's return type.)

from __future__ import annotations

import os
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task
from vyro_example_pairs import DATA, OUTPUT_DIR, START, TAGS, list_pairs, tally

from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator

PARAMS = {
    "input_dir": Param(str(DATA), type="string"),
    "output_dir": Param(os.path.join(OUTPUT_DIR, "batch"), type="string"),
    "storage_conn_id": Param(None, type=["null", "string"]),
    "max_concurrency": Param(8, type="integer", minimum=1),
}


@dag(schedule=None, start_date=START, tags=TAGS, params=PARAMS)
def example_vyro_inpaint_batch() -> None:
    """List the pairs, inpaint them all in one task, then summarise."""

    @task
    def find_pairs(params: dict[str, Any] | None = None) -> list[dict[str, str]]:
        assert params is not None
        return list_pairs(params["input_dir"], params["output_dir"], params["storage_conn_id"])

    inpaint = InpaintBatchOperator(
        task_id="inpaint",
        items=find_pairs(),
        max_concurrency=8,
        overwrite=False,
        storage_conn_id="{{ params.storage_conn_id or '' }}",
    )

    @task
    def summarise(results: list[dict[str, Any]]) -> dict[str, int]:
        return tally(results, "inpainted")

    summarise(inpaint.output)


example_vyro_inpaint_batch()
