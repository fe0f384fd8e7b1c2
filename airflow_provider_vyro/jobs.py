"""
Asynchronous operations (video): check, submit once, record the job, wait for it, fetch the result.

A video task's life:

1. :func:`prepare` runs every check before any request: the text fields against the catalogue,
   the first frame (JPEG or PNG by content), an output ending in ``.mp4``, the polling settings.
2. :meth:`VideoJob.submit_once` re-attaches to the job an earlier try of the same DAG run
   recorded (:class:`~airflow_provider_vyro.job_record.JobRecord`), or submits and records the
   new job durably before anything waits on it: a retry, a resumed deferral or a restarted
   triggerer polls that job; it never submits again.
3. The wait polls the status (:class:`Poller`): in the worker (:meth:`VideoJob.wait`), or in the
   triggerer (:class:`~airflow_provider_vyro.triggers.vyro.VyroJobTrigger`). Rate limits and
   passing failures of the API back off and go on polling until the job's deadline.
4. :meth:`VideoJob.finish` fetches the result without the token
   (:mod:`airflow_provider_vyro.hooks.results`), checks it is a complete MP4 while it streams,
   writes it atomically, saves the thumbnail if asked, and gives the task's dict.
"""

from __future__ import annotations

import hashlib
import io
import logging
import posixpath
import random
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_vyro import checks, images, metrics, storage, streams
from airflow_provider_vyro.catalogue import JOB_FILE_ARGUMENTS
from airflow_provider_vyro.exceptions import (
    VyroAPIError,
    VyroBadRequestError,
    VyroCancelledError,
    VyroError,
    VyroInputError,
    VyroJobFailedError,
    VyroJobTimeoutError,
)
from airflow_provider_vyro.failures import is_retryable
from airflow_provider_vyro.job_record import JobRecord
from airflow_provider_vyro.mp4 import MP4_FORMAT, Mp4StreamChecker

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_vyro.catalogue import Endpoint
    from airflow_provider_vyro.hooks.job_status import JobStatus
    from airflow_provider_vyro.hooks.vyro import VyroHook
    from airflow_provider_vyro.ledger import RunKey

_log = logging.getLogger(__name__)

MAX_POLL_BACKOFF = 300.0
"""The longest wait between two status calls after passing failures (429, 503, the network)."""

THUMBNAIL_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
"""Extensions a ``thumbnail_path`` may have (the thumbnail is saved as the API gives it)."""

_FIRST_FRAME_LIMIT = 64 * 1024 * 1024


def check_polling(poll_interval: object, job_timeout: object) -> tuple[float, float]:
    """
    Check the polling settings.

    :param poll_interval: seconds between status calls, at least 1.
    :param job_timeout: seconds a try waits for the job, more than 0.
    :raises VyroInputError: naming the setting refused.
    """
    for name, value, low, strict in (
        ("poll_interval", poll_interval, 1.0, False),
        ("job_timeout", job_timeout, 0.0, True),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise VyroInputError(name, f"must be a number of seconds, got {value!r}")
        if value < low or (strict and value == low):
            raise VyroInputError(
                name, f"must be {'more than' if strict else 'at least'} {low:g} s, got {value!r}"
            )
    return float(poll_interval), float(job_timeout)  # type: ignore[arg-type]


def _path(value: object, argument: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise VyroInputError(argument, f"expected a non-empty path or URI string, got {value!r}")
    return value.strip()


def _suffix(path: str) -> str:
    return posixpath.splitext(posixpath.basename(path.split("://", 1)[-1].rstrip("/")))[1].lower()


@dataclass(frozen=True)
class VideoRequest:
    """
    A video task's checked arguments.

    :param endpoint: the operation.
    :param given: the dict's input keys: paths as given, text fields as they will be sent.
    :param fields: the text parts to send.
    :param inputs: each file field's resolved location.
    :param output_path: the output as given.
    :param output: the resolved output.
    :param thumbnail_path: where to save the thumbnail, as given (``None``: not saved).
    :param thumbnail: the resolved thumbnail location.
    """

    endpoint: Endpoint
    given: dict[str, Any]
    fields: dict[str, str]
    inputs: dict[str, ObjectStoragePath]
    output_path: str
    output: ObjectStoragePath
    thumbnail_path: str | None = None
    thumbnail: ObjectStoragePath | None = None


def prepare(
    endpoint: Endpoint,
    values: Mapping[str, Any],
    *,
    storage_conn_id: str | None = None,
    thumbnail_path: str | None = None,
) -> VideoRequest:
    """
    Run the cheap checks of a video task: nothing is read from storage and nothing is sent.

    :param endpoint: the operation (a job operation of the catalogue).
    :param values: the text fields, each file field's ``*_path`` argument, and ``output_path``.
    :param storage_conn_id: connection for remote paths.
    :param thumbnail_path: where to save the thumbnail, if anywhere.
    :raises VyroInputError: naming the argument refused.
    """
    known = {s.name for s in endpoint.text_fields} | {"output_path"}
    known |= {JOB_FILE_ARGUMENTS.get(f.name, f"{f.name}_path") for f in endpoint.file_fields}
    if unknown := sorted(set(values) - known):
        raise VyroInputError("item", f"unknown key(s) {unknown}; {endpoint.operation} takes {sorted(known)}")
    fields = checks.check_fields(endpoint, {s.name: values.get(s.name) for s in endpoint.text_fields})
    style = fields.get("style")
    if style is not None and not style.strip():
        raise VyroInputError("style", "is empty; leave it unset for the default model")
    conn_id = storage_conn_id or None
    paths = {
        spec.name: _path(values.get(JOB_FILE_ARGUMENTS.get(spec.name, f"{spec.name}_path")), argument)
        for spec in endpoint.file_fields
        for argument in [JOB_FILE_ARGUMENTS.get(spec.name, f"{spec.name}_path")]
    }
    output_path = _path(values.get("output_path"), "output_path")
    if _suffix(output_path) != ".mp4":
        raise VyroInputError("output_path", f"'{output_path}' must end in .mp4: the result is an MP4 video")
    inputs = {
        name: storage.resolve(path, field=JOB_FILE_ARGUMENTS.get(name, f"{name}_path"), conn_id=conn_id)
        for name, path in paths.items()
    }
    output = storage.resolve(output_path, field="output_path", conn_id=conn_id)
    thumbnail = None
    if thumbnail_path is not None and thumbnail_path != "":
        thumbnail_path = _path(thumbnail_path, "thumbnail_path")
        if _suffix(thumbnail_path) not in THUMBNAIL_SUFFIXES:
            raise VyroInputError(
                "thumbnail_path", f"'{thumbnail_path}' must end in {', '.join(THUMBNAIL_SUFFIXES)}"
            )
        thumbnail = storage.resolve(thumbnail_path, field="thumbnail_path", conn_id=conn_id)
    else:
        thumbnail_path = None
    given: dict[str, Any] = {JOB_FILE_ARGUMENTS.get(n, f"{n}_path"): p for n, p in paths.items()}
    given.update({spec.name: fields.get(spec.name) for spec in endpoint.text_fields})
    return VideoRequest(endpoint, given, fields, inputs, output_path, output, thumbnail_path, thumbnail)


def load_inputs(request: VideoRequest) -> dict[str, images.CheckedImage]:
    """
    Read and inspect each input file (the first frame); check that the outputs can be written.

    An input must be a complete JPEG or PNG, by content. The output (and the thumbnail) must be
    writable where they are asked for, before anything is sent.

    :raises VyroInputError: naming the argument whose file is missing or refused, or whose path
        cannot be written (a parent that is a regular file, a folder that may not be written).
    """
    loaded: dict[str, images.CheckedImage] = {}
    for name, location in request.inputs.items():
        argument = JOB_FILE_ARGUMENTS.get(name, f"{name}_path")
        shown = str(request.given[argument])
        size = storage.stat_input(location, field=argument)
        if size > _FIRST_FRAME_LIMIT:
            raise VyroInputError(argument, f"'{shown}' is {size} bytes; a first frame must be under 64 MiB")
        with storage.open_for_read(location, field=argument) as f:
            data = f.read()
        info = images.inspect_image(io.BytesIO(data), field=argument, name=shown, size=len(data))
        loaded[name] = images.CheckedImage(open=_opener(data), info=info, name=shown)
    checks.check_files(
        request.endpoint,
        {name: image.info for name, image in loaded.items()},
        names={name: image.name for name, image in loaded.items()},
        arguments={name: JOB_FILE_ARGUMENTS.get(name, f"{name}_path") for name in loaded},
    )
    storage.check_writable_destination(request.output, field="output_path")
    if request.thumbnail is not None:
        storage.check_writable_destination(request.thumbnail, field="thumbnail_path")
    return loaded


def _opener(data: bytes) -> Any:
    def reopen() -> io.BytesIO:
        return io.BytesIO(data)

    return reopen


class Poller:
    """
    One job's polling, shared by the worker's loop and the trigger's: when to ask, what came back.

    :param hook: the hook whose network policy, masking and retries the status calls use.
    :param job_id: the job.
    :param status_path: the status path with ``{id}``.
    :param poll_interval: seconds between status calls.
    :param deadline: the Unix time after which the wait ends (``job_timeout`` of this try).
    :param log: where each change of state is logged.
    """

    def __init__(
        self,
        hook: VyroHook,
        job_id: str,
        *,
        status_path: str,
        poll_interval: float,
        deadline: float,
        log: logging.Logger | Any = None,
    ) -> None:
        self.hook = hook
        self.job_id = job_id
        self.status_path = status_path
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.log = log or _log
        self.polls = 0
        self.started = time.time()
        self._failures = 0
        self._last_state = ""

    def step(self) -> tuple[JobStatus | None, float]:
        """
        Ask once; give the final status (``None`` while it runs) and the seconds to wait until the next ask.

        A passing failure (429, 5xx, the network, after the hook's own retries) is logged and
        backs off exponentially up to :data:`MAX_POLL_BACKOFF`.

        :raises VyroJobTimeoutError: once the deadline has passed.
        :raises VyroError: for a failure no wait can fix (the token refused, no such job, ...).
        """
        self.polls += 1
        try:
            status = self.hook.job_status(self.job_id, path=self.status_path)
        except VyroError as error:
            if not is_retryable(error):
                raise
            self._failures += 1
            delay = min(MAX_POLL_BACKOFF, self.poll_interval * 2**self._failures) * random.uniform(0.8, 1.2)
            self.log.warning(
                "Status of job %s not read (%s: %s); asking again in %.0f s",
                self.job_id,
                type(error).__name__,
                error,
                delay,
            )
            return None, self._bounded(delay)
        self._failures = 0
        if status.raw_state != self._last_state:
            self._last_state = status.raw_state
            unknown = "" if status.known_state else " (a state this provider does not know: still waiting)"
            self.log.info("Job %s is %s%s", self.job_id, status.raw_state, unknown)
        if status.state != "running":
            return status, 0.0
        return None, self._bounded(self.poll_interval)

    def _bounded(self, delay: float) -> float:
        remaining = self.deadline - time.time()
        if remaining <= 0:
            raise VyroJobTimeoutError(self.job_id, self.waited())
        return min(delay, remaining)

    def waited(self) -> float:
        """Seconds of the wait so far, as the job's timeout counts them."""
        return round(time.time() - self.started, 1)


class VideoJob:
    """
    One video task's job: submit once, wait, fetch (see the module docstring).

    :param request: the checked arguments.
    :param hook: the hook that submits and polls.
    :param key: the task instance and DAG run (the job record's name); ``None`` outside one.
    :param log: the task's log.
    :param try_number: the task instance's try.
    :param cost: the job's cost in credits (``None``: unknown), reported in its dict.
    """

    def __init__(
        self,
        request: VideoRequest,
        hook: VyroHook,
        key: RunKey | None,
        log: logging.Logger | Any = None,
        *,
        try_number: int = 1,
        cost: float | None = None,
    ) -> None:
        self.request = request
        self.cost = cost
        self.hook = hook
        self.try_number = try_number
        self.log = log or _log
        self.record = JobRecord.beside(request.output, key, request.endpoint.operation, self.log)
        self.submits = 0
        self.submitted_by = try_number
        self.stop = threading.Event()

    def existing(self) -> dict[str, Any] | None:
        """Give the dict of an output already in place as a complete MP4 (kept, no call), or ``None``."""
        if storage.probe_file(self.request.output) is None:
            return None
        checker = Mp4StreamChecker()
        digest = hashlib.sha256()
        try:
            with storage.open_for_read(self.request.output, field="output_path") as f:
                while chunk := f.read(1024 * 1024):
                    checker.feed(chunk)
                    digest.update(chunk)
            info = checker.result()
        except (ValueError, OSError, VyroInputError) as exc:
            self.log.info("The existing %s is not kept: %s", self.request.output_path, exc)
            return None
        return self.result_dict(None, info.size, digest.hexdigest(), info.width, info.height, skipped=True)

    def submit_once(self, files: Mapping[str, images.CheckedImage]) -> str:
        """
        Give the job an earlier try of this DAG run recorded, or submit one and record it durably.

        :param files: the inspected inputs (from :func:`load_inputs`).
        """
        recorded = self.resume()
        if recorded is not None:
            self.log.info(
                "Polling job %s, submitted by an earlier try of this DAG run (no new submit)", recorded
            )
            return recorded
        job_id = self.hook.submit_job(self.request.endpoint, fields=self.request.fields, files=files)
        self.submits, self.submitted_by = 1, self.try_number
        self.record.save(job_id, self.try_number)
        metrics.run_done(self.request.endpoint.operation, self.cost or 0, {})  # after the record: may block
        return job_id

    def resume(self) -> str | None:
        """Give the recorded job, if any, counting it as this try's submit when this try sent it."""
        recorded = self.record.load()
        if recorded is None:
            return None
        self.submitted_by = recorded.try_number
        self.submits = 1 if recorded.try_number == self.try_number else 0
        return recorded.job_id

    def written_earlier(self) -> dict[str, Any] | None:
        """
        Give the dict of the output an earlier try of this DAG run wrote from its job, if it is intact.

        Airflow may retry a task whose success it failed to record: that try keeps the output
        and sends nothing, whatever ``overwrite`` says.
        """
        recorded = self.record.load()
        if recorded is None or recorded.written is None:
            return None
        kept = self.existing()
        if kept is None or kept["sha256"] != recorded.written:
            return None
        self.log.info(
            "Kept %s: written from job %s by an earlier try of this DAG run (no call)",
            self.request.output_path,
            recorded.job_id,
        )
        return {**kept, "job_id": recorded.job_id}

    def wait(self, job_id: str, *, poll_interval: float, deadline: float) -> JobStatus:
        """
        Poll in this process until the job ends, the deadline passes, or :attr:`stop` is set.

        :raises VyroJobTimeoutError: past the deadline.
        :raises VyroCancelledError: when stopped (``on_kill``).
        """
        poller = Poller(
            self.hook,
            job_id,
            status_path=self.hook.job_status_path,
            poll_interval=poll_interval,
            deadline=deadline,
            log=self.log,
        )
        while True:
            status, delay = poller.step()
            if status is not None:
                return status
            if self.stop.wait(delay):
                raise VyroCancelledError(f"the task was stopped while job {job_id} ran; a retry polls it")

    def cancel(self) -> None:
        """Stop the wait and every request of the hook at once."""
        self.stop.set()
        self.hook.cancel()

    def finish(self, status: JobStatus) -> dict[str, Any]:
        """
        End the task from the job's final status: fetch and write the result, or raise.

        :raises VyroJobFailedError: the job failed (its record is removed: clearing the task submits anew).
        """
        if status.state == "failed":
            self.record.remove()
            raise VyroJobFailedError(status.job_id, status.message or "no reason given")
        info, size, sha256 = self._fetch_video(status)
        self.record.save(status.job_id, self.submitted_by, written=sha256)
        self._save_thumbnail(status)
        return self.result_dict(status.job_id, size, sha256, info[0], info[1], skipped=False)

    def _fetch_video(self, status: JobStatus) -> tuple[tuple[int | None, int | None], int, str]:
        fetcher = self.hook.result_fetcher()
        try:
            for attempt in (1, 2):
                try:
                    with storage.atomic_writer(self.request.output) as destination:
                        fetched = fetcher.fetch(status.urls[0], destination, Mp4StreamChecker)
                    break
                except VyroBadRequestError as error:
                    if attempt == 2 or error.status_code not in (401, 403, 410):
                        raise
                    self.log.info("The result URL was refused (%s); asking for fresh URLs", error.status_code)
                    status = self.hook.job_status(status.job_id)
                    if status.state != "succeeded":
                        raise
        finally:
            fetcher.close()
        self.log.info(
            "Wrote %s (job %s, MP4 %sx%s, %d bytes, %d download(s))",
            self.request.output_path,
            status.job_id,
            fetched.checked.width,
            fetched.checked.height,
            fetched.size,
            fetched.attempts,
        )
        return (fetched.checked.width, fetched.checked.height), fetched.size, fetched.sha256

    def _save_thumbnail(self, status: JobStatus) -> None:
        thumbnail = self.request.thumbnail
        if thumbnail is None:
            return
        if status.thumbnail_url is None:
            self.log.info(
                "The API gave no thumbnail for job %s; %s not written",
                status.job_id,
                self.request.thumbnail_path,
            )
            return
        fetcher = self.hook.result_fetcher()
        try:
            with storage.atomic_writer(thumbnail) as destination:
                fetched = fetcher.fetch(status.thumbnail_url, destination, streams.ImageStreamChecker)
            self.log.info("Wrote the thumbnail %s (%d bytes)", self.request.thumbnail_path, fetched.size)
        except (VyroAPIError, VyroError) as error:
            if isinstance(error, VyroCancelledError):
                raise
            self.log.warning("The thumbnail of job %s was not saved: %s", status.job_id, error)
        finally:
            fetcher.close()

    def result_dict(
        self,
        job_id: str | None,
        size: int,
        sha256: str,
        width: int | None,
        height: int | None,
        *,
        skipped: bool,
    ) -> dict[str, Any]:
        """Give the task's dict (see :doc:`/video`)."""
        endpoint = self.request.endpoint
        given = self.request.given
        result: dict[str, Any] = {"output_path": self.request.output_path}
        result.update({k: v for k, v in given.items() if k.endswith("_path")})
        result["prompt"] = given.get("prompt")
        result.update(endpoint.xcom_parameter_values(given))
        result.update(thumbnail_path=self.request.thumbnail_path, job_id=job_id, width=width, height=height)
        result.update(bytes=size, sha256=sha256, skipped=skipped, operation=endpoint.operation)
        result.update(api_version=endpoint.api_version, format=MP4_FORMAT, attempts=self.submits)
        result.update(credits=0 if skipped else self.cost, try_number=self.try_number)
        return result


def raise_from_event(event: Mapping[str, Any]) -> None:
    """
    Raise the error a trigger's final event reports (``state`` other than ``succeeded``).

    :param event: the event's payload.
    """
    from airflow_provider_vyro import exceptions

    state = event.get("state")
    job_id = str(event.get("job_id"))
    message = str(event.get("message") or "")
    if state == "failed":
        raise VyroJobFailedError(job_id, message or "no reason given")
    if state == "timeout":
        raise VyroJobTimeoutError(job_id, float(event.get("waited") or 0.0))
    cls = getattr(exceptions, str(event.get("error") or ""), None)
    if isinstance(cls, type) and issubclass(cls, VyroAPIError):
        raise cls(int(event.get("status_code") or 0), message)
    if isinstance(cls, type) and issubclass(cls, VyroInputError):
        raise cls("vyro_conn_id", message)
    if isinstance(cls, type) and issubclass(cls, VyroError):
        raise cls(message)
    from airflow.providers.common.compat.sdk import AirflowFailException

    raise AirflowFailException(f"job {job_id}: unexpected event from the trigger: {state!r} {message}")


__all__ = [
    "MAX_POLL_BACKOFF",
    "THUMBNAIL_SUFFIXES",
    "Poller",
    "VideoJob",
    "VideoRequest",
    "check_polling",
    "load_inputs",
    "prepare",
    "raise_from_event",
]
