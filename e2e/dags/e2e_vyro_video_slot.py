"""
Probe for the end-to-end runs: a deferred video task frees the only slot its DAG run may use.

The run may have one task running at a time (``max_active_tasks=1``). ``video`` goes first
(higher priority), submits its job and defers to the triggerer; ``hold_slot`` then takes the
only slot for ``hold_seconds`` while the job runs. A deferred task holds no slot, so both make
progress: the driver sees ``video`` deferred while ``hold_slot`` runs, and the video still
succeeds with one submit. With ``hold_seconds`` 0 the same DAG serves the case that kills the
triggerer while ``video`` waits.
"""

from __future__ import annotations

import time

import pendulum
from airflow.providers.common.compat.sdk import Param, dag, task

from airflow_provider_vyro.operators.video import TextToVideoOperator


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=1,
    tags=["e2e", "vyro"],
    params={
        "output_dir": Param("/tmp/vyro-e2e", type="string"),
        "hold_seconds": Param(20, type="integer", minimum=0),
    },
)
def e2e_vyro_video_slot() -> None:
    """One deferred video, and one task that holds the run's only slot meanwhile."""
    TextToVideoOperator(
        task_id="video",
        prompt="a lighthouse at dusk, waves below",
        output_path="{{ params.output_dir }}/slot.mp4",
        deferrable=True,
        poll_interval=1,
        job_timeout=600,
        priority_weight=10,
    )

    @task(priority_weight=1)
    def hold_slot(params: dict[str, int] | None = None) -> int:
        seconds = int((params or {}).get("hold_seconds", 20))
        time.sleep(seconds)
        return seconds

    hold_slot()


e2e_vyro_video_slot()
