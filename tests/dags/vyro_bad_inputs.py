"""Test DAG: one mapped InpaintOperator per case given in the run's conf (``{"cases": [kwargs, ...]}``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_vyro.operators.inpaint import InpaintOperator


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def vyro_bad_inputs() -> None:
    """Each case fails on its own; ``retries=2`` shows that input errors are not retried."""

    @task
    def cases(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        assert params is not None
        return list(params["cases"])

    InpaintOperator.partial(task_id="inpaint", retries=2, retry_delay=timedelta(seconds=0)).expand_kwargs(
        cases()
    )


vyro_bad_inputs()
