"""How long the hook waits before sending again: the backoff, ``Retry-After``, and the caps on both."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from airflow_provider_vyro.exceptions import VyroRateLimitError, VyroServerError
from airflow_provider_vyro.hooks.retries import (
    MAX_BACKOFF,
    MAX_RETRY_AFTER,
    allowance,
    backoff,
    delay,
    retry_after,
)


@pytest.mark.parametrize(
    ("attempt", "factor", "jitter", "seconds"),
    [
        (1, 1.0, 0.0, 1.0),
        (2, 1.0, 0.0, 2.0),
        (4, 0.5, 0.0, 4.0),
        (3, 2.0, 0.5, 8.0 + 1.0),
        (7, 1.0, 0.0, 60.0),
        (30, 1.0, 0.0, 60.0),
        (5000, 1.0, 0.0, 60.0),
        (30, 1.0, 1.0, 61.0),
        (3, 0.0, 1.0, 0.0),
    ],
)
def test_the_backoff_doubles_up_to_its_cap_then_adds_jitter(
    attempt: int, factor: float, jitter: float, seconds: float
) -> None:
    assert MAX_BACKOFF == 60.0
    assert backoff(attempt, factor, jitter=jitter) == seconds


def test_the_jitter_is_at_most_the_factor() -> None:
    waits = [backoff(40, 3.0) for _ in range(200)]
    assert all(MAX_BACKOFF <= wait <= MAX_BACKOFF + 3.0 for wait in waits)
    assert len(set(waits)) > 1


@pytest.mark.parametrize(
    ("asked", "seconds"),
    [(2.5, 2.5), (0.0, 0.0), (299.0, 299.0), (301.0, 300.0), (86_400.0, 300.0), (float("inf"), 300.0)],
)
def test_a_429_waits_what_retry_after_asks_up_to_its_cap(asked: float, seconds: float) -> None:
    assert MAX_RETRY_AFTER == 300.0
    assert delay(VyroRateLimitError(429, "slow down", asked), 1, 1.0, jitter=0.0) == seconds


def test_a_429_without_retry_after_and_other_failures_back_off() -> None:
    assert delay(VyroRateLimitError(429, "slow down", None), 3, 1.0, jitter=0.0) == 4.0
    assert delay(VyroServerError(503, "busy"), 30, 1.0, jitter=0.0) == MAX_BACKOFF


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), ("0", 0.0), ("-5", 0.0), ("1.5", 1.5), (None, None), ("", None), ("soon", None)],
)
def test_retry_after_is_read_as_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after(header) == seconds


def test_retry_after_may_be_an_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    seconds = retry_after(when)
    assert seconds is not None
    assert 7_000 < seconds <= 7_200
    assert delay(VyroRateLimitError(429, "m", seconds), 1, 1.0) == MAX_RETRY_AFTER


def test_a_reset_above_10_to_the_9_is_a_unix_time() -> None:
    shown = allowance({"x-ratelimit-remaining": "3", "x-ratelimit-reset": str(int(time.time()) + 30)})
    assert shown is not None
    left, seconds = shown
    assert left == 3
    assert 28 <= seconds <= 31
    assert allowance({"x-ratelimit-remaining": "3", "x-ratelimit-reset": "12"}) == (3, 12.0)
    assert allowance({}) is None
