"""
Errors raised by the Vyro provider.

Every error is a :class:`VyroError`, itself an ``AirflowException``. Errors that a retry cannot
fix (bad input, a rejected request, a bad token, no credits) are also ``AirflowFailException``,
so Airflow fails the task at once instead of spending task-level retries, and credits, on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from collections.abc import Mapping


class VyroError(AirflowException):
    """Base class of every error raised by this provider."""


class VyroInputError(VyroError, AirflowFailException):
    """
    An input was rejected by our own checks, before any request was sent.

    :param field: the argument that was wrong (``image``, ``mask``, ``prompt``, ``output_path``, ...).
    :param problem: what was wrong with it, in words a user can act on.
    :param message: the whole message, when ``field: problem`` does not read well (a connection's
        settings are described from the connection's side: ``Vyro connection 'x': ...``).
    """

    def __init__(self, field: str, problem: str, *, message: str | None = None) -> None:
        self.field = field
        self.problem = problem
        super().__init__(message or f"{field}: {problem}")


class VyroConnectionError(VyroError):
    """The API could not be reached (connection refused or dropped, timeout) after all retries."""


class VyroTLSError(VyroConnectionError, AirflowFailException):
    """
    The server's TLS certificate could not be verified.

    A configuration problem, not a passing one: neither the hook nor Airflow retries it. Set the
    connection extra ``verify`` to the CA bundle that signed the server's certificate (for
    example a corporate proxy's), or fix the connection's host.
    """


class VyroAPIError(VyroError):
    """
    The API answered with something other than a complete image.

    :param status_code: the HTTP status of the answer.
    :param message: the server's own message, taken from a JSON error body or its text.
    :param code: the API's own error code from a JSON error body (e.g. ``1101``: not enough
        credits), when it gave one.
    """

    status_code: int  # type: ignore[assignment]  # AirflowException declares an HTTPStatus

    def __init__(self, status_code: int, message: str, *, code: int | str | None = None) -> None:
        self.status_code = status_code
        self.message = message
        self.code = code
        shown = f" (code {code})" if code is not None and code != status_code else ""
        super().__init__(f"Vyro API answered {status_code}{shown}: {message}")


class VyroUnexpectedResponseError(VyroAPIError, AirflowFailException):
    """
    The API answered with a redirect (never followed) or a status it does not document.

    A redirect usually means the connection's host is not the API (a login page, a proxy, an
    ``http://`` address redirected to ``https://``); the token is never sent after it.

    :param status_code: the HTTP status of the answer.
    :param message: what was wrong, with the ``Location`` of a redirect (any token redacted).
    :param code: the API's numeric error code, when the body gave one.
    :param location: the ``Location`` header of a redirect (any token redacted), else ``None``.
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        code: int | str | None = None,
        location: str | None = None,
    ) -> None:
        super().__init__(status_code, message, code=code)
        self.location = location


class VyroBadRequestError(VyroAPIError, AirflowFailException):
    """The API rejected the request as wrong: 400 (not about the token), 404, 405, 413, 415, 422."""


class VyroAuthenticationError(VyroAPIError, AirflowFailException):
    """The API rejected the token (401, 403, 406), or said it is missing (400 with code 1000)."""


class VyroInsufficientCreditsError(VyroAPIError, AirflowFailException):
    """The account has no credits left for the call (402, 424)."""


class VyroRateLimitError(VyroAPIError):
    """
    The API asked us to slow down (429).

    :param retry_after: seconds the server asked us to wait (``Retry-After``), if it said.
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        retry_after: float | None = None,
        *,
        code: int | str | None = None,
    ) -> None:
        super().__init__(status_code, message, code=code)
        self.retry_after = retry_after


class VyroServerError(VyroAPIError):
    """The API failed on its side or timed out (408, 500, 502, 503, 504)."""


class VyroResponseError(VyroAPIError):
    """The API answered 200 but the body is not a complete image (truncated, JSON, HTML, ...)."""


class VyroBatchError(VyroError):
    """
    Some items of a run failed; the others were written or kept.

    Not an ``AirflowFailException``: a task retry calls again only for the failed items (an item
    written by an earlier try of the same DAG run is never paid for twice). When no failed item
    could succeed on a retry, the run raises :class:`VyroPermanentBatchError` instead.

    :param failures: the failed items' positions in ``items``, with their errors.
    :param total: how many items the run had.
    :param classes: each failed item's class (``input``, ``account``, ``transient``, ``storage``,
        ``config``), by position; shown in the message.
    """

    def __init__(
        self, failures: dict[int, BaseException], total: int, classes: Mapping[int, str] | None = None
    ) -> None:
        self.failures = failures
        self.total = total
        self.classes = dict(classes or {})
        lines = [
            f"  items[{index}]"
            + (f" ({self.classes[index]})" if index in self.classes else "")
            + f": {type(error).__name__}: {error}"
            for index, error in sorted(failures.items())
        ]
        super().__init__(f"{len(failures)} of {total} items failed:\n" + "\n".join(lines))


class VyroPermanentBatchError(VyroBatchError, AirflowFailException):
    """Some items of a run failed, each for a reason a retry cannot fix: no task retries."""


class VyroBudgetError(VyroError, AirflowFailException):
    """
    A run would make, or has made, as many calls as its ``max_calls`` allows.

    Raised before any request when the planned calls exceed the budget, and as soon as the calls
    made (retries included) reach it. Not retried: a task retry would start with a fresh budget.
    """


class VyroCancelledError(VyroError):
    """
    The run was stopped before this call.

    By ``on_kill``, ``execution_timeout``, or an error that would hit every item.
    """


class VyroOutputWriteError(VyroError, AirflowFailException):
    """
    An answer arrived complete but could not be stored at its output.

    The permission was refused, the disk was full, or the upload was refused. It stops the run:
    every other item would pay for an answer and then fail the same way. It is not retried by
    Airflow either, because a retry would pay again. A remote output's answer is left in the
    local temporary file that the message names, so it can be recovered.

    :param output: the output as shown to the user.
    :param problem: what went wrong.
    :param kept_at: where the paid answer was left, if anywhere.
    """

    def __init__(self, output: str, problem: str, kept_at: str | None = None) -> None:
        self.output = output
        self.kept_at = kept_at
        where = f"; the answer is kept at {kept_at}" if kept_at else ""
        super().__init__(f"the answer was paid for but could not be stored at {output}: {problem}{where}")


__all__ = [
    "VyroAPIError",
    "VyroAuthenticationError",
    "VyroBadRequestError",
    "VyroBatchError",
    "VyroBudgetError",
    "VyroCancelledError",
    "VyroConnectionError",
    "VyroError",
    "VyroInputError",
    "VyroInsufficientCreditsError",
    "VyroOutputWriteError",
    "VyroPermanentBatchError",
    "VyroRateLimitError",
    "VyroResponseError",
    "VyroServerError",
    "VyroTLSError",
    "VyroUnexpectedResponseError",
]


class VyroJobFailedError(VyroError, AirflowFailException):
    """
    An asynchronous job (a video) ended failed.

    Not retried by Airflow: a retry would submit, and pay, again. Clearing the task submits anew.

    :param job_id: the job.
    :param message: the API's message about it.
    """

    def __init__(self, job_id: str, message: str) -> None:
        self.job_id = job_id
        self.message = message
        super().__init__(f"job {job_id} failed: {message}")


class VyroJobTimeoutError(VyroError):
    """
    An asynchronous job (a video) was still unfinished after ``job_timeout`` seconds of this try.

    Retryable: the task's retry polls the same job (it never submits again) and waits anew.

    :param job_id: the job.
    :param waited: the seconds this try waited.
    """

    def __init__(self, job_id: str, waited: float) -> None:
        self.job_id = job_id
        self.waited = waited
        super().__init__(
            f"job {job_id} was still unfinished after {waited:g} s (job_timeout); a retry of the task "
            "polls the same job"
        )


__all__ += ["VyroJobFailedError", "VyroJobTimeoutError"]
