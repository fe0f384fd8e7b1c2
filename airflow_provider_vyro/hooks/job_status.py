"""
What the API answers about a job: the submit's job id, and the status call's state and URLs.

The submit of an asynchronous operation answers JSON such as ``{"id": "<job id>", "status":
"processing"}``. The status call answers ``{"status": ..., "video": {"id", "status", "url":
{"generation": <signed URL, or a list of them>, "thumbnail": <URL>}}}``. States seen: queued,
pending, processing (running), finished, completed, success (done), failed. A state this module
does not know is taken as "still running": the job's timeout ends the wait if it never changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from airflow_provider_vyro.exceptions import (
    VyroConnectionError,
    VyroRateLimitError,
    VyroResponseError,
    VyroServerError,
)
from airflow_provider_vyro.failures import is_retryable, maybe_charged

JobState: TypeAlias = Literal["running", "succeeded", "failed"]
"""Where a job is: still running (or queued), done with a result, or failed."""

DONE_STATES = frozenset({"finished", "completed", "complete", "success", "succeeded", "done", "ready"})
"""The API's words for a job that made its result."""

FAILED_STATES = frozenset({"failed", "failure", "error", "errored", "cancelled", "canceled", "rejected"})
"""The API's words for a job that ended without a result."""

RUNNING_STATES = frozenset({"queued", "pending", "processing", "running", "in_progress", "starting"})
"""The API's words for a job still on its way (any other word counts as running too)."""

_TEXT_LIMIT = 500


@dataclass(frozen=True)
class JobStatus:
    """
    One answer of the status call.

    :param job_id: the job.
    :param state: ``running``, ``succeeded`` or ``failed``.
    :param raw_state: the API's own word for it.
    :param urls: the result's signed URLs (when succeeded).
    :param thumbnail_url: the thumbnail's URL, when the API gave one.
    :param message: the API's message (a failed job's reason), if any.
    """

    job_id: str
    state: JobState
    raw_state: str
    urls: tuple[str, ...] = ()
    thumbnail_url: str | None = None
    message: str = field(default="")

    @property
    def known_state(self) -> bool:
        """Whether the API's word is one this module knows (an unknown one is taken as running)."""
        return self.raw_state in DONE_STATES | FAILED_STATES | RUNNING_STATES


def _decode(text: str, what: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        shown = " ".join(text.split())[:80] or "an empty body"
        raise VyroResponseError(200, f"the {what} answer is not JSON: {shown!r}") from None
    if not isinstance(body, dict):
        raise VyroResponseError(200, f"the {what} answer is not a JSON object")
    return body


def parse_job_id(text: str) -> str:
    """
    Read the job id from a submit's answer.

    :param text: the answer's body.
    :raises VyroResponseError: if it is not JSON with an ``id`` (the API may have been reached by
        something else than the API, or changed its answer).
    """
    body = _decode(text, "submit")
    job = body.get("id")
    if job is None and isinstance(body.get("data"), dict):
        job = body["data"].get("id")
    if isinstance(job, int) and not isinstance(job, bool):
        job = str(job)
    if not isinstance(job, str) or not job.strip() or len(job) > 200:
        raise VyroResponseError(200, "the submit answer has no job id")
    return job.strip()


def _text(value: Any) -> str:
    return value.strip()[:_TEXT_LIMIT] if isinstance(value, str) else ""


def parse_job_status(job_id: str, text: str) -> JobStatus:
    """
    Read a status answer.

    :param job_id: the job asked about.
    :param text: the answer's body.
    :raises VyroResponseError: if it is not JSON, or says done without a result URL.
    """
    body = _decode(text, "status")
    video: dict[str, Any] = body["video"] if isinstance(body.get("video"), dict) else {}
    raw = _text(video.get("status")) or _text(body.get("status"))
    word = raw.lower().replace("-", "_").replace(" ", "_")
    message = _text(body.get("message")) or _text(video.get("message")) or _text(video.get("error"))
    if word in FAILED_STATES:
        return JobStatus(job_id, "failed", word, message=message or f"the job ended {raw!r}")
    if word not in DONE_STATES:
        return JobStatus(job_id, "running", word or "unknown", message=message)
    urls_block: dict[str, Any] = video["url"] if isinstance(video.get("url"), dict) else {}
    generation = urls_block.get("generation", video.get("url") if isinstance(video.get("url"), str) else None)
    urls = generation if isinstance(generation, list) else [generation]
    found = tuple(u.strip() for u in urls if isinstance(u, str) and u.strip())
    if not found:
        raise VyroResponseError(200, f"the job {job_id} is {raw!r} but the status answer gives no result URL")
    thumbnail = urls_block.get("thumbnail")
    if isinstance(thumbnail, list):
        thumbnail = next((t for t in thumbnail if isinstance(t, str)), None)
    return JobStatus(
        job_id,
        "succeeded",
        word,
        urls=found,
        thumbnail_url=thumbnail.strip() if isinstance(thumbnail, str) and thumbnail.strip() else None,
        message=message,
    )


def status_path(template: str, job_id: str) -> str:
    """
    Give the status path of a job: ``template`` with ``{id}`` replaced by the quoted job id.

    :param template: e.g. ``/v2/video/{id}/status``.
    :param job_id: the job.
    """
    from urllib.parse import quote

    return template.replace("{id}", quote(job_id, safe=""))


def submit_may_be_resent(error: BaseException) -> bool:
    """
    Tell whether a failed submit surely started no job, so sending it again cannot pay twice.

    Only a 429, a 503, or a connection that never reached the API: a job the API may have
    accepted (a read timeout, a 500, a 200 without a job id) is never submitted again.

    :param error: what the submit raised.
    """
    if not is_retryable(error):
        return False
    if isinstance(error, VyroRateLimitError):
        return True
    if isinstance(error, VyroServerError):
        return error.status_code == 503
    return isinstance(error, VyroConnectionError) and not maybe_charged(error)


__all__ = [
    "DONE_STATES",
    "FAILED_STATES",
    "RUNNING_STATES",
    "JobState",
    "JobStatus",
    "parse_job_id",
    "parse_job_status",
    "status_path",
    "submit_may_be_resent",
]
