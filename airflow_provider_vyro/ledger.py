"""
Paying once across task retries: what one task instance wrote in one DAG run.

Every output a run writes is put on record (its location and SHA-256) before its outcome is
reported, in a ledger beside the first item's output named after the DAG id, task id, map index
and run id. A later try of the same task instance in the same DAG run reads it, and an output
that still has the recorded SHA-256 is kept instead of being paid for again, whatever
``overwrite`` says. Another DAG run, or another task, has another ledger and never sees it.

* **Local folders**: one file, ``.vyro-ledger.<task>.<run>.jsonl`` (two 16-hex-digit digests),
  one JSON line appended per written output and ``fsync``-ed before the outcome is reported. A
  line cut by a kill is ignored when read.
* **Object storage**: an object store cannot append, so each record is one small object,
  ``.vyro-ledger/<task>/<run>/<location digest>.<sha256>`` (one ``PutObject`` of about 200
  bytes per written output). A try reads the ledger with one listing of
  ``.vyro-ledger/<task>/`` (one ``ListObjectsV2`` per 1,000 records); the records' names say
  everything, so no object is read.

A kill at any moment (SIGKILL included) therefore re-pays at most the calls in flight: an output
committed but not yet on record when the process died.

The ledger outlives the try that wrote it, also a successful one: a failure after ``execute``
returned (``post_execute``, the XCom push, the worker dying before the state is saved) is
retried by Airflow, and that retry finds every output on record. A ledger goes when it is
stale, :data:`LEDGER_MAX_AGE` after its last record: a later run whose outputs share its local
folder removes it (a scan of the folder the run makes anyway for stale temporary files), and on
object storage a later try of the same task removes its other DAG runs' stale records (found by
the same listing; one ``DeleteObjects`` per 1,000 records). Reading or writing the ledger never
fails a task: a problem is logged and the run goes on (a retry may then pay again).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_vyro import storage

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

_log = logging.getLogger(__name__)

LEDGER_PATTERN = re.compile(r"^\.vyro-ledger\.[0-9a-f]{16}(\.[0-9a-f]{16})?\.jsonl?$")
"""The name of a ledger file beside local outputs."""

REMOTE_FOLDER = ".vyro-ledger"
"""The folder, beside remote outputs, holding one object per record."""

LEDGER_MAX_AGE = 30 * 24 * 3600.0
"""Seconds after its last record at which a ledger is stale and removed."""

_RECORD_NAME = re.compile(r"^(?P<location>[0-9a-f]{32})\.(?P<sha256>[0-9a-f]{64})$")


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


@dataclass(frozen=True)
class RunKey:
    """
    Which task instance of which DAG run a run belongs to.

    :param dag_id: the DAG.
    :param run_id: the DAG run.
    :param task_id: the task.
    :param map_index: the map index (``-1`` when not mapped).
    """

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    @classmethod
    def from_context(cls, context: Any) -> RunKey | None:
        """Read the key from an Airflow task context; ``None`` outside a task instance."""
        ti = context.get("ti") if hasattr(context, "get") else None
        dag_id, run_id, task_id = (getattr(ti, name, None) for name in ("dag_id", "run_id", "task_id"))
        if not (isinstance(dag_id, str) and isinstance(run_id, str) and isinstance(task_id, str)):
            return None
        map_index = getattr(ti, "map_index", -1)
        return cls(dag_id, run_id, task_id, map_index if isinstance(map_index, int) else -1)

    def as_dict(self) -> dict[str, Any]:
        """Give the key as JSON-friendly values."""
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "map_index": self.map_index,
        }

    @property
    def digest(self) -> str:
        """Sixteen hex digits naming the key."""
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:16]

    @property
    def task_digest(self) -> str:
        """Sixteen hex digits naming the task instance across its DAG runs (DAG, task, map index)."""
        return _digest(self.dag_id, self.task_id, self.map_index)[:16]


def location_digest(output_key: str) -> str:
    """
    Give the 32 hex digits that name an output's location in a remote ledger.

    :param output_key: the output's location (see :func:`airflow_provider_vyro.storage.location_key`).
    """
    return hashlib.sha256(output_key.encode()).hexdigest()[:32]


class Ledger:
    """
    The outputs one task instance wrote in one DAG run (see the module docstring).

    :param folder: the folder of the first item's output, where the ledger is kept.
    :param key: the task instance and DAG run it belongs to.
    :param log: where problems are reported (the task's log).
    """

    def __init__(self, folder: ObjectStoragePath, key: RunKey, log: logging.Logger | Any = None) -> None:
        self.folder = folder
        self.key = key
        self.log = log or _log
        self.local = (folder.protocol or "") in storage.LOCAL_SCHEMES
        self._lock = threading.Lock()
        self._records: dict[str, str] = {}
        self._fd: int | None = None
        self._broken = False
        name = f"{key.task_digest}.{key.digest}"
        if self.local:
            self.location = folder / f".vyro-ledger.{name}.jsonl"
        else:
            self.location = folder / REMOTE_FOLDER / key.task_digest / key.digest

    @classmethod
    def beside(cls, output: ObjectStoragePath, key: RunKey, log: logging.Logger | Any = None) -> Ledger:
        """
        Give the ledger of ``key``, in the folder of ``output``.

        :param output: the first item's resolved output.
        :param key: the task instance and DAG run.
        :param log: where problems are reported.
        """
        return cls(output.parent, key, log)

    @property
    def shown(self) -> str:
        """The ledger's location, for logs."""
        return self.location.path if self.local else f"{self.location.protocol}://{self.location.path}"

    # --- reading ---------------------------------------------------------------------------

    def load(self) -> dict[str, str]:
        """
        Read what earlier tries recorded; remove stale remote records of other DAG runs.

        :return: SHA-256 by location digest (:func:`location_digest`); empty if nothing, or unreadable.
        """
        try:
            records = self._read_local() if self.local else self._read_remote()
        except Exception as exc:
            self.log.warning(
                "Cannot read the ledger %s (%s); earlier tries are not taken into account", self.shown, exc
            )
            return {}
        with self._lock:
            self._records.update(records)
            return dict(self._records)

    def earlier(self, output_key: str) -> str | None:
        """
        Give the SHA-256 an earlier try of this DAG run recorded for an output, if any.

        :param output_key: the output's location.
        """
        with self._lock:
            return self._records.get(location_digest(output_key))

    def _read_local(self) -> dict[str, str]:
        records: dict[str, str] = {}
        try:
            with open(self.location.path, "rb") as f:
                lines = f.read().split(b"\n")
        except FileNotFoundError:
            return records
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # empty, or a line a kill cut short
            if isinstance(entry, dict) and isinstance(entry.get("location"), str):
                records[entry["location"]] = str(entry.get("sha256"))
        return records

    def _read_remote(self) -> dict[str, str]:
        fs = self.folder.fs
        task_folder = self.location.parent.path
        try:
            listing: dict[str, dict[str, Any]] = fs.find(task_folder, detail=True)
        except FileNotFoundError:
            return {}
        mine = self.location.path.rstrip("/") + "/"
        records: dict[str, str] = {}
        others: dict[str, list[tuple[str, float]]] = {}
        for path, info in listing.items():
            name = path.rsplit("/", 1)[-1]
            match = _RECORD_NAME.match(name)
            if match is None:
                continue
            if path.startswith(mine):
                records[match["location"]] = match["sha256"]
            else:
                run_folder = path.rsplit("/", 1)[0]
                others.setdefault(run_folder, []).append((path, _modified(info)))
        self._remove_stale_remote(others)
        return records

    def _remove_stale_remote(self, runs: dict[str, list[tuple[str, float]]]) -> None:
        cutoff = time.time() - LEDGER_MAX_AGE
        stale = [p for objects in runs.values() if max(t for _, t in objects) < cutoff for p, _ in objects]
        if not stale:
            return
        try:
            self.folder.fs.rm(stale)
            self.log.info("Removed %d stale ledger record(s) of earlier DAG runs", len(stale))
        except Exception as exc:
            self.log.warning("Cannot remove stale ledger records beside %s (%s)", self.shown, exc)

    # --- writing ---------------------------------------------------------------------------

    def record(self, output_key: str, sha256: str) -> None:
        """
        Put an output this try wrote on record, durably, before returning; never raises.

        :param output_key: the output's location.
        :param sha256: hex SHA-256 of what was written.
        """
        digest = location_digest(output_key)
        with self._lock:
            self._records[digest] = sha256
            if self._broken:
                return
            try:
                if self.local:
                    self._append(digest, output_key, sha256)
            except Exception as exc:
                self._broken = True
                self.log.warning("Cannot write the ledger %s (%s); a retry may pay again", self.shown, exc)
                return
        if not self.local:
            self._put(digest, output_key, sha256)

    def _append(self, digest: str, output_key: str, sha256: str) -> None:
        if self._fd is None:
            path = self.location.path
            os.makedirs(os.path.dirname(path), exist_ok=True)
            created = not os.path.exists(path)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
            self._fd = os.open(path, flags, 0o666)
            if created:
                storage.fsync_directory(os.path.dirname(path))
        line = {"location": digest, "output": output_key, "sha256": sha256, "key": self.key.as_dict()}
        # one write of one line: appends from other processes never interleave inside it
        os.write(self._fd, b"\n" + json.dumps(line, sort_keys=True).encode() + b"\n")
        os.fsync(self._fd)

    def _put(self, digest: str, output_key: str, sha256: str) -> None:
        body = json.dumps({"output": output_key, "sha256": sha256, "key": self.key.as_dict()}).encode()
        try:
            self.folder.fs.pipe_file((self.location / f"{digest}.{sha256}").path, body)
        except Exception as exc:
            self.log.warning("Cannot write the ledger %s (%s); a retry may pay again", self.shown, exc)

    def close(self) -> None:
        """Close the ledger's file (the records are already on disk)."""
        with self._lock:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = None


def _modified(info: dict[str, Any]) -> float:
    value = info.get("LastModified") or info.get("mtime") or info.get("last_modified")
    if isinstance(value, int | float):
        return float(value)
    timestamp = getattr(value, "timestamp", None)
    return float(timestamp()) if callable(timestamp) else time.time()


def remove_stale_ledgers(directories: list[str], *, keep: Ledger | None = None) -> int:
    """
    Delete ledgers whose last record is older than :data:`LEDGER_MAX_AGE` in local folders.

    :param directories: the folders of a run's local outputs.
    :param keep: the run's own ledger, which is never stale while its DAG run retries.
    :return: how many were deleted.
    """
    if keep is not None and keep.local:
        with contextlib.suppress(OSError):
            os.utime(keep.location.path)
    return storage.remove_stale_temp_files(directories, max_age=LEDGER_MAX_AGE, pattern=LEDGER_PATTERN)


__all__ = [
    "LEDGER_MAX_AGE",
    "LEDGER_PATTERN",
    "REMOTE_FOLDER",
    "Ledger",
    "RunKey",
    "location_digest",
    "remove_stale_ledgers",
]
