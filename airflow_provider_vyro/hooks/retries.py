"""
When the hook sends a request again, and how long it waits: backoff, ``Retry-After``, the rate gate.

A retryable failure (:func:`~airflow_provider_vyro.failures.is_retryable`) is retried up to the
connection's ``max_retries`` with exponential backoff and jitter, at most :data:`MAX_BACKOFF`
seconds; a 429 waits what its ``Retry-After`` says, at most :data:`MAX_RETRY_AFTER` seconds, and
holds every call of the hook for as long (the :class:`RateGate`). The gate also paces the hook's
requests when answers carry ``x-ratelimit-*`` headers, and caps them at ``requests_per_minute``
(see :meth:`RateGate.admit`). Every wait ends at once when
the hook is cancelled. Tenacity runs the retries; it is imported only once a first attempt
failed in a way worth retrying.
"""

from __future__ import annotations

import random
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from airflow_provider_vyro.exceptions import VyroCancelledError, VyroRateLimitError
from airflow_provider_vyro.failures import is_retryable, maybe_charged

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import tenacity

_T = TypeVar("_T")


class Warns(Protocol):
    """Where a retry is announced: any logger."""

    def warning(self, msg: Any, /, *args: Any) -> Any:
        """Log ``msg % args`` as a warning."""


MAX_BACKOFF = 60.0
"""The longest exponential backoff between two attempts, in seconds (before jitter)."""
MAX_RETRY_AFTER = 300.0
"""The longest wait a ``Retry-After`` header may ask for, in seconds."""


def pause(stop: threading.Event, seconds: float) -> None:
    """
    Sleep, unless ``stop`` is set first.

    :param stop: the hook's cancel event.
    :param seconds: how long to sleep.
    :raises VyroCancelledError: if ``stop`` is set before the time is up.
    """
    if stop.wait(seconds):
        raise VyroCancelledError("the run was stopped; no further request is sent")


UNIX_TIME = 10**9
"""An ``x-ratelimit-reset`` above this is a Unix time, not seconds from now."""


def allowance(headers: Mapping[str, str]) -> tuple[int, float] | None:
    """
    Read ``x-ratelimit-remaining`` and ``x-ratelimit-reset`` (seconds from now) from an answer's headers.

    :param headers: the answer's headers (case-insensitive, as ``requests`` gives them).
    :return: the requests left in the window and the seconds until it resets; ``None`` without them.
    """
    remaining, reset = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-reset")
    if remaining is None or reset is None:
        return None
    try:
        left, seconds = int(float(remaining)), float(reset)
    except ValueError:
        return None
    if seconds > UNIX_TIME:
        seconds -= time.time()
    return max(left, 0), min(max(seconds, 0.0), MAX_RETRY_AFTER)


class RateGate:
    """
    When a hook's next request may be sent; shared by every call (and thread) of the hook.

    A 429 seen by one thread slows all of them down (:meth:`hold_until`). Requests sent through
    :meth:`admit` and :meth:`done` are also paced: until an answer has come, one is in flight;
    when answers carry ``x-ratelimit-remaining``/``-reset``, no request is sent that would run the
    window's allowance below zero (the requests in flight counted), and the next waits for the
    window to reset; answers without them leave the pace free. ``requests_per_minute`` spaces
    requests evenly.

    :param stop: the hook's cancel event: a wait ends at once when it is set.
    """

    def __init__(self, stop: threading.Event) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._not_before = 0.0
        self._stop = stop
        self._in_flight = 0
        self._answered = False
        self._remaining: int | None = None
        self._resets_at = 0.0
        self._next_slot = 0.0

    def admit(self, per_minute: float = 0.0) -> None:
        """
        Wait until one more request may be sent, and count it in flight (pair with :meth:`done`).

        :param per_minute: the most requests a minute (``0``: no cap).
        :raises VyroCancelledError: if the hook is cancelled meanwhile.
        """
        self.wait()
        with self._changed:
            while (hold := self._hold(time.monotonic())) > 0:
                if self._stop.is_set():
                    raise VyroCancelledError("the run was stopped; no further request is sent")
                self._changed.wait(min(hold, 0.25))
            self._in_flight += 1
            now = time.monotonic()
            slot = max(self._next_slot, now)
            if per_minute > 0:
                self._next_slot = slot + 60.0 / per_minute
        if slot > now:
            try:
                pause(self._stop, slot - now)
            except VyroCancelledError:
                self.done(None)
                raise

    def _hold(self, now: float) -> float:
        if self._answered and self._remaining is not None and now >= self._resets_at:
            self._answered, self._remaining = False, None  # a new window: unknown until answered
        if not self._answered:
            return 0.0 if self._in_flight == 0 else 0.25
        if self._remaining is None or self._remaining - self._in_flight >= 1:
            return 0.0
        return max(self._resets_at - now, 0.01)

    def done(self, headers: Mapping[str, str] | None) -> None:
        """
        Count a request admitted by :meth:`admit` as finished, and learn the allowance its answer shows.

        :param headers: the answer's headers; ``None`` when no answer came.
        """
        with self._changed:
            self._in_flight -= 1
            shown = None if headers is None else allowance(headers)
            now = time.monotonic()
            if shown is not None:
                left, seconds = shown
                if self._remaining is None or now >= self._resets_at:
                    self._remaining, self._resets_at = left, now + seconds
                else:
                    self._remaining = min(self._remaining, left)
                    self._resets_at = max(self._resets_at, now + seconds)
                self._answered = True
            elif headers is not None and not self._answered:
                self._answered = True
            self._changed.notify_all()

    def hold_until(self, seconds_from_now: float) -> None:
        """Send no request for ``seconds_from_now`` seconds (a later hold wins)."""
        with self._lock:
            self._not_before = max(self._not_before, time.monotonic() + seconds_from_now)

    def wait(self) -> None:
        """Wait until requests may be sent again (raises if the hook is cancelled meanwhile)."""
        while (delay := self._not_before - time.monotonic()) > 0:
            pause(self._stop, delay)


def retry_after(value: str | None) -> float | None:
    """
    Read a ``Retry-After`` header: seconds, or an HTTP date; ``None`` when absent or unreadable.

    :param value: the header's value.
    :return: seconds from now (never negative), not yet capped (see :func:`delay`).
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds)


def backoff(attempt: int, factor: float, *, jitter: float | None = None) -> float:
    """
    Give the exponential backoff after failed attempt number ``attempt``.

    ``factor * 2 ** (attempt - 1)``, at most :data:`MAX_BACKOFF`, plus a random jitter of up to
    ``factor`` seconds.

    :param attempt: the failed attempt's number, from 1.
    :param factor: the connection's ``backoff_factor``.
    :param jitter: the jitter's fraction of ``factor`` (0 to 1); random when ``None``.
    """
    try:
        exponential = min(factor * float(2 ** (attempt - 1)), MAX_BACKOFF)
    except OverflowError:
        exponential = MAX_BACKOFF
    return max(0.0, exponential) + factor * (random.random() if jitter is None else jitter)


def delay(error: BaseException | None, attempt: int, factor: float, *, jitter: float | None = None) -> float:
    """
    Give the wait before the attempt after failed attempt number ``attempt``.

    A 429 with ``Retry-After`` waits what it asks, at most :data:`MAX_RETRY_AFTER`; any other
    failure waits the :func:`backoff`.

    :param error: what the failed attempt raised.
    :param attempt: the failed attempt's number, from 1.
    :param factor: the connection's ``backoff_factor``.
    :param jitter: see :func:`backoff`.
    """
    if isinstance(error, VyroRateLimitError) and error.retry_after is not None:
        return min(error.retry_after, MAX_RETRY_AFTER)
    return backoff(attempt, factor, jitter=jitter)


class RetryPolicy:
    """
    Run one call's attempts: the first directly, the rest, if any, under tenacity.

    :param max_retries: retries after the first attempt.
    :param backoff_factor: base seconds of the backoff.
    :param gate: the hook's rate gate; a 429's wait holds it.
    :param stop: the hook's cancel event; every wait ends when it is set.
    :param log: where a retry is announced.
    """

    def __init__(
        self,
        max_retries: int,
        backoff_factor: float,
        gate: RateGate,
        stop: threading.Event,
        log: Warns,
    ) -> None:
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self._gate = gate
        self._stop = stop
        self._log = log

    def run(self, call: Callable[[], _T], retry_if: Callable[[BaseException], bool] = is_retryable) -> _T:
        """
        Make the first attempt; on a retryable failure, hand it and the rest to tenacity.

        The retry policy is built only when a first attempt failed in a way worth retrying, and
        tenacity then sees exactly what it would have seen from the start: attempt 1 failing
        with that error (logged, waited for, counted against the stop), then further attempts.

        :param call: one attempt.
        :param retry_if: which failures are retried (default:
            :func:`~airflow_provider_vyro.failures.is_retryable`).
        :return: what the first successful attempt returned.
        """
        try:
            return call()
        except Exception as error:
            if self.max_retries < 1 or not retry_if(error):
                raise
            first: BaseException | None = error
            del error

        def again() -> _T:
            nonlocal first
            if first is not None:
                failed, first = first, None
                raise failed
            return call()

        return self._retrying(retry_if)(again)

    def _retrying(self, retry_if: Callable[[BaseException], bool]) -> tenacity.Retrying:
        import tenacity

        return tenacity.Retrying(
            retry=tenacity.retry_if_exception(retry_if),
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            before_sleep=self._announce,
            sleep=lambda seconds: pause(self._stop, seconds),
            reraise=True,
        )

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        seconds = delay(error, state.attempt_number, self.backoff_factor)
        if isinstance(error, VyroRateLimitError):
            self._gate.hold_until(seconds)
        return seconds

    def _announce(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        seconds = state.next_action.sleep if state.next_action else 0.0
        self._log.warning(
            "Vyro call attempt %d failed (%s: %s); retrying in %.1f s%s",
            state.attempt_number,
            type(error).__name__,
            error,
            seconds,
            " (the failed attempt may have been charged: a call may be paid twice)"
            if maybe_charged(error)
            else "",
        )


__all__ = [
    "MAX_BACKOFF",
    "MAX_RETRY_AFTER",
    "UNIX_TIME",
    "RateGate",
    "RetryPolicy",
    "Warns",
    "allowance",
    "backoff",
    "delay",
    "pause",
    "retry_after",
]
