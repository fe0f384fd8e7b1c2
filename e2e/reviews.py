"""Answering a case's human-in-the-loop tasks through the REST API, once each waits for its answer."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from e2e.stack import wait_until

if TYPE_CHECKING:
    from e2e.cases import Case
    from e2e.services import Context


def answer_all(ctx: Context, case: Case, run_id: str, timeout: float) -> list[str]:
    """
    Wait for each of ``case.answers``' tasks to wait for a person, then send its answer.

    :param ctx: the running stack.
    :param case: the case whose run is going.
    :param run_id: the run.
    :param timeout: seconds to wait for each task.
    :return: what was done, for the report.
    """
    client, done = ctx.client, []
    for answer in case.answers:

        def waits(task_id: str = answer.task_id) -> bool:
            return client.waits_for_answer(case.dag_id, run_id, task_id)

        wait_until(f"{answer.task_id} to wait for its answer", waits, timeout, services=ctx.stack.services)

        def deferred(task_id: str = answer.task_id) -> bool:
            states = {ti["task_id"]: ti["state"] for ti in client.task_instances(case.dag_id, run_id)}
            return states.get(task_id) in ("deferred", "awaiting_input")

        wait_until(f"{answer.task_id} to be waiting", deferred, timeout, services=ctx.stack.services)
        # A person takes a moment; an answer within the same second can resume the task before the
        # scheduler has heard that its deferring process ended, and Airflow then fails the task.
        time.sleep(3)
        client.answer(
            case.dag_id, run_id, answer.task_id, list(answer.chosen_options), dict(answer.params_input)
        )
        done.append(f"{answer.task_id} answered through the REST API: {dict(answer.params_input)}")
    return done
