"""
Probe for the end-to-end runs: a batch whose task is killed halfway, then retried by Airflow.

One task inpaints ``count`` items (the example scenes over and over, each to its own output),
two calls in flight, ``overwrite=True`` so that only the retry ledger can spare the retry a
second payment. The driver kills the task's process (SIGKILL or SIGTERM) once about ten outputs
are there; Airflow retries it once.
"""

# mypy: disable-error-code="arg-type"
# (TaskFlow hands an XComArg where mypy sees the task function's return type.)

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import Param, dag, task

from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator

DATA = Path(__file__).resolve().parents[2] / "dags" / "examples" / "data"
SCENES = ("beach", "lake", "meadow")


PARAMS = {
    "input_dir": Param(str(DATA), type="string"),
    "output_dir": Param("/tmp/vyro-e2e/kill", type="string"),
    "storage_conn_id": Param(None, type=["null", "string"]),
    "count": Param(30, type="integer", minimum=1),
}


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), tags=["e2e", "vyro"], params=PARAMS)
def e2e_vyro_kill() -> None:
    """Build the items, then inpaint them in one batch task that is killed and retried."""

    @task
    def items(params: dict[str, Any] | None = None) -> list[dict[str, str]]:
        assert params is not None
        source, target = params["input_dir"], params["output_dir"]
        return [
            {
                "image_path": f"{source}/{scene}.jpg",
                "mask_path": f"{source}/{scene}_mask.png",
                "output_path": f"{target}/{index:02d}_{scene}.png",
                "prompt": f"a calm {scene}, take {index}",
            }
            for index in range(int(params["count"]))
            for scene in (SCENES[index % len(SCENES)],)
        ]

    InpaintBatchOperator(
        task_id="batch",
        items=items(),
        max_concurrency=2,
        storage_conn_id="{{ params.storage_conn_id or '' }}",
        retries=1,
        retry_delay=timedelta(seconds=1),
    )


e2e_vyro_kill()
