"""
Submitting once across task retries: the job a task instance started in one DAG run, on record.

Before a video task waits for its job, it records the job id in a small JSON file beside the
output, ``.vyro-job.<16 hex digits>.json``, named after the DAG id, run id, task id and map index
(as the ledger is, :mod:`airflow_provider_vyro.ledger`). The write is atomic and, for a local
output, flushed to disk with ``fsync`` (the file and its folder) before the task goes on: a
worker killed the next moment leaves the record. A later try of the same task instance in the
same DAG run, a resumed deferral or a restarted triggerer finds it and polls that job; another
DAG run, or another task, has another name. When the result is written, the record notes its
SHA-256: a later try of the same DAG run (Airflow may retry a task whose success it failed to
record) keeps that output and sends nothing. When the job failed the record is removed, so
clearing the task submits anew, with the local folders its write made when they are empty, so
a failed job leaves no folder behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_vyro import storage

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_vyro.ledger import RunKey

_log = logging.getLogger(__name__)

RECORD_PREFIX = ".vyro-job."
"""How a job record's name starts."""


@dataclass(frozen=True)
class RecordedJob:
    """
    What a record holds.

    :param job_id: the job.
    :param try_number: the try that submitted it.
    :param written: the SHA-256 of the result written from it, if one was.
    """

    job_id: str
    try_number: int
    written: str | None = None


class JobRecord:
    """
    The job of one task instance in one DAG run (see the module docstring).

    :param location: where the record is.
    :param key: the task instance and DAG run, as JSON-friendly values.
    :param operation: the operation the job runs.
    :param log: where problems are reported.
    """

    def __init__(
        self,
        location: ObjectStoragePath,
        key: dict[str, Any],
        operation: str,
        log: logging.Logger | Any = None,
    ) -> None:
        self.location = location
        self.key = key
        self.operation = operation
        self.log = log or _log

    @classmethod
    def beside(
        cls, output: ObjectStoragePath, key: RunKey | None, operation: str, log: logging.Logger | Any = None
    ) -> JobRecord:
        """
        Give the record of ``key`` in the folder of ``output``.

        :param output: the resolved output.
        :param key: the task instance and DAG run; ``None`` outside a task instance (then the
            output's location names the record).
        :param operation: the operation the job runs.
        :param log: where problems are reported.
        """
        as_dict = key.as_dict() if key is not None else {"output": storage.location_key(output)}
        digest = hashlib.sha256(json.dumps(as_dict, sort_keys=True).encode()).hexdigest()[:16]
        return cls(output.parent / f"{RECORD_PREFIX}{digest}.json", as_dict, operation, log)

    @property
    def shown(self) -> str:
        """The record's location, for logs."""
        return (
            str(self.location) if self.location.protocol not in storage.LOCAL_SCHEMES else self.location.path
        )

    def load(self) -> RecordedJob | None:
        """Give what an earlier try recorded, or ``None`` (no record, or not ours)."""
        if storage.probe_file(self.location) is None:
            return None
        try:
            with storage.open_for_read(self.location, field="job record") as f:
                data = json.loads(f.read())
        except Exception as exc:
            self.log.warning("Cannot read the job record %s (%s); a new job is submitted", self.shown, exc)
            return None
        if (
            not isinstance(data, dict)
            or data.get("key") != self.key
            or data.get("operation") != self.operation
        ):
            return None
        job_id, try_number, written = data.get("job_id"), data.get("try_number"), data.get("written")
        if not isinstance(job_id, str) or not job_id:
            return None
        return RecordedJob(
            job_id,
            try_number if isinstance(try_number, int) else 0,
            written if isinstance(written, str) else None,
        )

    def save(self, job_id: str, try_number: int, *, written: str | None = None) -> None:
        """
        Record the job durably, before anything waits on it.

        :param job_id: the job.
        :param try_number: the try that submitted it.
        :param written: the SHA-256 of the result written from it, once it is.

        A record that cannot be written is logged, not raised: the job runs and is paid for
        already; only a retry of this task would then submit again.
        """
        body = json.dumps(
            {
                "key": self.key,
                "operation": self.operation,
                "job_id": job_id,
                "try_number": try_number,
                "written": written,
                "recorded_at": time.time(),
                "made_folders": storage.missing_folders(self.location),
            },
            sort_keys=True,
        ).encode()
        try:
            with storage.atomic_writer(self.location, lineage=False) as f:
                f.write(body)
        except Exception as exc:
            self.log.warning(
                "Cannot record job %s in %s (%s); a retry of this task would submit again",
                job_id,
                self.shown,
                exc,
            )
            return
        if written is None:
            self.log.info("Recorded job %s in %s", job_id, self.shown)

    def remove(self) -> None:
        """Delete the record, and the local folders its write made if they are empty; never raises."""
        made: list[str] = []
        try:
            with storage.open_for_read(self.location, field="job record") as f:
                made = [str(folder) for folder in json.loads(f.read()).get("made_folders") or []]
        except Exception:
            made = []
        try:
            self.location.unlink(missing_ok=True)
        except Exception as exc:
            self.log.warning("Cannot remove the job record %s (%s)", self.shown, exc)
            return
        storage.remove_empty_folders(made)


__all__ = ["RECORD_PREFIX", "JobRecord", "RecordedJob"]
