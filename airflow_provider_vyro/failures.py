"""
What a failure means: the one policy the hook, an item and a run read.

For any error raised while making or storing a call, :func:`meaning` says

* its class (:data:`FailureClass`): ``input``, ``account``, ``transient``, ``storage`` or ``config``;
* whether it **stops the run**: it would hit every item the same way (account errors, a redirect
  or an undocumented status, a wrong endpoint, a TLS verification failure, a refused or missing
  connection, an API host that does not resolve, a paid answer that could not be stored, a spent
  budget), so no further request is sent;
* whether **the hook retries** it (a network failure, 408/429/5xx, an incomplete 200);
* whether the failed attempt **may have been charged** (the request reached the API: a read
  timeout, a broken or incomplete answer);
* whether **a task retry** may fix it (classes ``transient`` and ``storage``);
* whether the item was **not run** at all (the run was cancelled or its budget spent first).

The errors are those of :mod:`airflow_provider_vyro.exceptions`; anything else (an ``OSError``
of the storage, say) is a ``storage`` failure. This module imports no HTTP library at import
time.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_vyro.exceptions import (
    VyroAPIError,
    VyroAuthenticationError,
    VyroBadRequestError,
    VyroBudgetError,
    VyroCancelledError,
    VyroConnectionError,
    VyroError,
    VyroInputError,
    VyroInsufficientCreditsError,
    VyroOutputWriteError,
    VyroRateLimitError,
    VyroResponseError,
    VyroServerError,
    VyroTLSError,
    VyroUnexpectedResponseError,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

FailureClass: TypeAlias = Literal["input", "account", "transient", "storage", "config"]
"""
Why an item failed:

* ``input``: the request was wrong (our checks, or the API's 400/413/415/422); a retry cannot help;
* ``account``: the token was refused or the credits ran out (stops the whole run);
* ``transient``: the network, a rate limit, the API's own failure, or an incomplete answer,
  still failing after the hook's retries; a task retry may succeed;
* ``storage``: reading an input or writing the output failed (a full disk, an S3 error);
* ``config``: the connection or endpoint is wrong: a redirect, an unexpected status, 404/405,
  a TLS verification failure, a refused or missing connection (stops the whole run).
"""

RETRYABLE_CLASSES: frozenset[str] = frozenset({"transient", "storage"})
"""Failure classes a task retry may fix."""

RETRYABLE_ERRORS: tuple[type[VyroError], ...] = (
    VyroConnectionError,
    VyroRateLimitError,
    VyroServerError,
    VyroResponseError,
)
"""The errors the hook retries, except their ``AirflowFailException`` subclasses (:func:`is_retryable`)."""

_CLASSES: dict[type[BaseException], tuple[FailureClass, bool]] = {
    VyroAuthenticationError: ("account", True),
    VyroInsufficientCreditsError: ("account", True),
    VyroOutputWriteError: ("storage", True),
    VyroBudgetError: ("config", True),
    VyroUnexpectedResponseError: ("config", True),
    VyroTLSError: ("config", True),
    VyroAPIError: ("config", True),
    VyroBadRequestError: ("input", False),
    VyroInputError: ("input", False),
    VyroRateLimitError: ("transient", False),
    VyroServerError: ("transient", False),
    VyroResponseError: ("transient", False),
    VyroConnectionError: ("transient", False),
    VyroError: ("transient", False),
}
"""Class and run-stopping of each error, found through the error's type hierarchy (nearest first)."""

_NOT_RUN = (VyroCancelledError, VyroBudgetError)
_WRONG_ENDPOINT = frozenset({404, 405})


@dataclass(frozen=True)
class Meaning:
    """
    What one failure means.

    :param kind: its class (:data:`FailureClass`).
    :param stops_run: it would hit every item alike: no further request is sent.
    :param hook_retries: the hook sends the request again.
    :param maybe_charged: the failed attempt reached the API and may have been charged.
    :param task_retry: a task retry may fix it.
    :param not_run: the item's call was never made (the run was stopped or its budget spent).
    """

    kind: FailureClass
    stops_run: bool
    hook_retries: bool
    maybe_charged: bool
    task_retry: bool
    not_run: bool


def meaning(error: BaseException) -> Meaning:
    """
    Say what ``error`` means (see the module's description).

    :param error: what a call, an item or a run raised.
    """
    kind, stops = _class_of(error)
    return Meaning(
        kind=kind,
        stops_run=stops,
        hook_retries=is_retryable(error),
        maybe_charged=maybe_charged(error),
        task_retry=kind in RETRYABLE_CLASSES,
        not_run=isinstance(error, _NOT_RUN),
    )


def _class_of(error: BaseException) -> tuple[FailureClass, bool]:
    found = next((_CLASSES[t] for t in type(error).__mro__ if t in _CLASSES), None)
    if found is None:
        return "storage", False
    kind, stops = found
    if isinstance(error, VyroInputError) and error.field == "vyro_conn_id":
        return "config", True
    if isinstance(error, VyroAPIError) and kind != "account" and not stops:
        status = error.status_code
        if 300 <= status < 400 or status in _WRONG_ENDPOINT:
            return "config", True
    if isinstance(error, VyroConnectionError) and not stops and (_tls_failure(error) or _unreachable(error)):
        return "config", True
    return kind, stops


def stops_run(error: BaseException) -> bool:
    """
    Tell whether an error would hit every item the same way, so the run must stop at once.

    :param error: what an item raised.
    """
    return _class_of(error)[1]


def classify(error: BaseException) -> FailureClass:
    """
    Give the class of an item's failure (see :data:`FailureClass`).

    :param error: what the item raised.
    """
    return _class_of(error)[0]


def is_retryable(error: BaseException) -> bool:
    """
    Tell whether the hook retries ``error``.

    It does for the :data:`RETRYABLE_ERRORS`, except those a retry cannot fix (the
    ``AirflowFailException`` ones, such as :class:`~airflow_provider_vyro.exceptions.VyroTLSError`).

    :param error: the error a call raised.
    """
    return isinstance(error, RETRYABLE_ERRORS) and not isinstance(error, AirflowFailException)


def maybe_charged(error: BaseException | None) -> bool:
    """
    Tell whether a failed attempt reached the API far enough that it may have been charged.

    An incomplete answer, a read timeout or an answer that broke off: the API may have done the
    work. A refused connection or an error answer was not charged.

    :param error: what the attempt raised.
    """
    if isinstance(error, VyroResponseError):
        return True
    if isinstance(error, VyroConnectionError):
        import requests

        return isinstance(error.__cause__, requests.ReadTimeout | requests.exceptions.ChunkedEncodingError)
    return False


def any_task_retry(classes: Iterable[str]) -> bool:
    """
    Tell whether a task retry may fix any of a run's failures, given their classes.

    :param classes: the failed items' classes (:data:`FailureClass`).
    """
    return any(c in RETRYABLE_CLASSES for c in classes)


def causes(error: BaseException) -> Iterator[BaseException]:
    """
    Give ``error`` and every exception reachable from it, each once.

    Its causes and contexts, a ``reason`` attribute (as ``urllib3`` keeps one) and exceptions
    among its arguments (as ``requests`` wraps them).

    :param error: the exception to start from.
    """
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
        todo.extend(a for a in current.args if isinstance(a, BaseException))


def is_certificate_failure(error: BaseException) -> bool:
    """
    Tell whether a failure is the server's TLS certificate failing verification.

    :param error: a network failure (as ``requests`` raises it).
    """
    import requests

    return isinstance(error, requests.exceptions.SSLError) and any(
        isinstance(e, ssl.SSLCertVerificationError) for e in causes(error)
    )


def _tls_failure(error: BaseException) -> bool:
    import requests

    return any(
        isinstance(e, VyroTLSError | ssl.SSLCertVerificationError | requests.exceptions.SSLError)
        for e in causes(error)
    )


def _unreachable(error: BaseException) -> bool:
    """Tell whether the API is unreachable for every item alike (refused, or its host does not resolve)."""
    return any(isinstance(e, ConnectionRefusedError | socket.gaierror) for e in causes(error))


__all__ = [
    "RETRYABLE_CLASSES",
    "RETRYABLE_ERRORS",
    "FailureClass",
    "Meaning",
    "any_task_retry",
    "causes",
    "classify",
    "is_certificate_failure",
    "is_retryable",
    "maybe_charged",
    "meaning",
    "stops_run",
]
