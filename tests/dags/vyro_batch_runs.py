"""
Test DAGs: one InpaintBatchOperator over the items in the run's conf (``{"items": [...]}``).

* ``vyro_batch_retry``: one task retry, no delay (a retry must not pay twice);
* ``vyro_batch_then_video``: a batch without task retries, then a text-to-video task polling in
  the worker (writing ``conf["video"]``);
* ``vyro_batch_post_execute_fails``: the same, failing in ``post_execute`` on its first try;
* ``vyro_batch_timeout``: ``execution_timeout`` of 4 s, two calls in flight;
* ``vyro_batch_manifest``: per-item dicts go to ``conf["manifest"]``; at most 3 items without it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import pendulum
from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator
from airflow_provider_vyro.operators.video import TextToVideoOperator


class SmallInpaintBatchOperator(InpaintBatchOperator):
    """An inpaint batch that returns at most 3 items through XCom."""

    item_limit: ClassVar[int] = 3


class FailingAfterExecuteBatch(InpaintBatchOperator):
    """An inpaint batch whose first try fails after ``execute`` returned."""

    def post_execute(self, context: Any, result: Any = None) -> None:
        if context["ti"].try_number == 1:
            raise RuntimeError("post_execute fails on the first try")


def _items() -> Any:
    @task
    def items(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        assert params is not None
        return list(params["items"])

    return items()


def _retried(operator: type[InpaintBatchOperator]) -> None:
    operator(
        task_id="batch",
        items=_items(),
        max_concurrency=2,
        progress_interval=0.2,
        retries=1,
        retry_delay=timedelta(seconds=0),
    )


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def vyro_batch_retry() -> None:
    """A batch with one task retry and ``overwrite=True``."""
    _retried(InpaintBatchOperator)


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def vyro_batch_then_video() -> None:
    """A batch, then a video."""
    batch = InpaintBatchOperator(task_id="batch", items=_items(), max_concurrency=2, progress_interval=0.2)
    batch >> TextToVideoOperator(
        task_id="video",
        prompt="waves roll onto the beach",
        output_path="{{ dag_run.conf['video'] }}",
        poll_interval=1,
        deferrable=False,
    )


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def vyro_batch_post_execute_fails() -> None:
    """A batch with one task retry whose first try fails in ``post_execute``."""
    _retried(FailingAfterExecuteBatch)


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def vyro_batch_timeout() -> None:
    """A batch whose calls may hang, stopped by ``execution_timeout``."""
    InpaintBatchOperator(
        task_id="batch",
        items=_items(),
        max_concurrency=2,
        progress_interval=0.5,
        execution_timeout=timedelta(seconds=4),
    )


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def vyro_batch_manifest() -> None:
    """A batch writing a manifest (``conf["manifest"]``, empty for none), at most 3 items without it."""
    SmallInpaintBatchOperator(
        task_id="batch",
        items=_items(),
        manifest_path="{{ params.manifest or '' }}",
        max_concurrency=2,
        progress_interval=0.2,
    )


vyro_batch_retry()
vyro_batch_then_video()
vyro_batch_post_execute_fails()
vyro_batch_timeout()
vyro_batch_manifest()
