"""What a failure means: one policy for the hook (retries), the item (its class) and the run (stop, retry)."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_vyro import failures
from airflow_provider_vyro.exceptions import (
    VyroAuthenticationError,
    VyroBadRequestError,
    VyroBudgetError,
    VyroCancelledError,
    VyroConnectionError,
    VyroInputError,
    VyroInsufficientCreditsError,
    VyroOutputWriteError,
    VyroRateLimitError,
    VyroResponseError,
    VyroServerError,
    VyroTLSError,
    VyroUnexpectedResponseError,
)


def _caused_by(cause: BaseException) -> VyroConnectionError:
    error = VyroConnectionError("the API could not be reached")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "kind", "stops", "hook_retries", "charged", "task_retry"),
    [
        (VyroAuthenticationError(401, "no"), "account", True, False, False, False),
        (VyroInsufficientCreditsError(402, "no"), "account", True, False, False, False),
        (VyroUnexpectedResponseError(302, "redirect"), "config", True, False, False, False),
        (VyroBadRequestError(405, "no POST"), "config", True, False, False, False),
        (VyroBadRequestError(422, "bad seed"), "input", False, False, False, False),
        (VyroInputError("prompt", "blank"), "input", False, False, False, False),
        (VyroInputError("vyro_conn_id", "no token"), "config", True, False, False, False),
        (VyroTLSError("certificate verify failed"), "config", True, False, False, False),
        (VyroOutputWriteError("/out.png", "disk full"), "storage", True, False, False, True),
        (VyroRateLimitError(429, "slow down", 3.0), "transient", False, True, False, True),
        (VyroServerError(503, "busy"), "transient", False, True, False, True),
        (VyroResponseError(200, "truncated"), "transient", False, True, True, True),
        (_caused_by(requests.ReadTimeout("slow")), "transient", False, True, True, True),
        (_caused_by(requests.exceptions.ChunkedEncodingError("cut")), "transient", False, True, True, True),
        (_caused_by(requests.ConnectionError("reset by peer")), "transient", False, True, False, True),
        (_caused_by(ConnectionRefusedError(111, "refused")), "config", True, True, False, False),
        (OSError(28, "No space left on device"), "storage", False, False, False, True),
    ],
)
def test_one_policy_says_everything_a_failure_means(
    error: BaseException, kind: str, stops: bool, hook_retries: bool, charged: bool, task_retry: bool
) -> None:
    meaning = failures.meaning(error)
    assert (meaning.kind, meaning.stops_run, meaning.hook_retries) == (kind, stops, hook_retries)
    assert (meaning.maybe_charged, meaning.task_retry, meaning.not_run) == (charged, task_retry, False)
    assert failures.stops_run(error) is stops
    assert failures.classify(error) == kind
    assert failures.is_retryable(error) is hook_retries


@pytest.mark.parametrize("error", [VyroCancelledError("stopped"), VyroBudgetError("spent")])
def test_a_stopped_run_or_a_spent_budget_leaves_the_item_not_run(error: BaseException) -> None:
    assert failures.meaning(error).not_run


def test_a_run_may_be_retried_when_any_failure_may_be_fixed_by_a_retry() -> None:
    assert failures.any_task_retry(["input", "transient"])
    assert failures.any_task_retry(["storage"])
    assert not failures.any_task_retry(["input", "account", "config"])
    assert not failures.any_task_retry([])
