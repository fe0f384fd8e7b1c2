"""
Paying once across task retries: what one task instance wrote in one DAG run.

Every output a run writes is put on record (its location and SHA-256) before its outcome is
reported, in a ledger named after the DAG id, task id, map index and run id. A later try of the
same task instance in the same DAG run reads it, and an output that still has the recorded
SHA-256 is kept instead of being paid for again, whatever ``overwrite`` says. Another DAG run,
or another task, has another ledger and never sees it.

* **Local outputs**: in the output's own folder (which exists once the output is written, so
  the ledger never creates a folder), one file ``.vyro-ledger.<task>.<run>.jsonl`` (two
  16-hex-digit digests), one JSON line appended per written output and ``fsync``-ed before the
  outcome is reported. A line cut by a kill is ignored when read.
* **Object storage**: an object store cannot append, so each record is one small object beside
  the first remote output, ``.vyro-ledger/<task>/<run>/<location digest>.<sha256>`` (one
  ``PutObject`` of about 300 bytes per written output). A try reads the ledger with one listing of
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
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_vyro import storage

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

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
        return asdict(self)

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

    :param key: the task instance and DAG run it belongs to.
    :param remote_folder: the folder of the first remote output, where remote records are kept
        (``None`` when every output is local).
    :param log: where problems are reported (the task's log).
    """

    def __init__(
        self, key: RunKey, remote_folder: ObjectStoragePath | None = None, log: logging.Logger | Any = None
    ) -> None:
        self.key = key
        self.log = log or _log
        self.name = f".vyro-ledger.{key.task_digest}.{key.digest}.jsonl"
        self.remote = (
            remote_folder / REMOTE_FOLDER / key.task_digest / key.digest
            if remote_folder is not None
            else None
        )
        self._lock = threading.Lock()
        self._records: dict[str, str] = {}
        self._warned = False

    @classmethod
    def for_outputs(
        cls, outputs: Sequence[ObjectStoragePath], key: RunKey, log: logging.Logger | Any = None
    ) -> Ledger:
        """
        Give the ledger of ``key`` for a run writing ``outputs``.

        :param outputs: the items' resolved outputs.
        :param key: the task instance and DAG run.
        :param log: where problems are reported.
        """
        remote = next((o.parent for o in outputs if storage.local_folder(o) is None), None)
        return cls(key, remote, log)

    def local_file(self, folder: str) -> str:
        """
        Give the path of this ledger's file in a local folder.

        :param folder: the folder of local outputs.
        """
        return os.path.join(folder, self.name)

    # --- reading ---------------------------------------------------------------------------

    def load(self, output_keys: Iterable[str]) -> int:
        """
        Read what earlier tries recorded for these outputs; remove stale remote records of other runs.

        :param output_keys: the run's outputs' locations.
        :return: how many records were found.
        """
        folders = sorted({f for k in output_keys if (f := _local_folder(k)) is not None})
        records: dict[str, str] = {}
        for folder in folders:
            records.update(self._read_local(self.local_file(folder)))
        if self.remote is not None:
            try:
                records.update(self._read_remote(self.remote))
            except Exception as exc:
                self.log.warning(
                    "Cannot read the ledger %s (%s); earlier tries are not taken into account",
                    _shown(self.remote),
                    exc,
                )
        with self._lock:
            self._records.update(records)
            return len(self._records)

    def earlier(self, output_key: str) -> str | None:
        """
        Give the SHA-256 an earlier try of this DAG run recorded for an output, if any.

        :param output_key: the output's location.
        """
        with self._lock:
            return self._records.get(location_digest(output_key))

    def _read_local(self, path: str) -> dict[str, str]:
        records: dict[str, str] = {}
        try:
            with open(path, "rb") as f:
                lines = f.read().split(b"\n")
        except FileNotFoundError:
            return records
        except OSError as exc:
            self.log.warning("Cannot read the ledger %s (%s); a retry may pay again", path, exc)
            return records
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # empty, or a line a kill cut short
            if isinstance(entry, dict) and isinstance(entry.get("location"), str):
                records[entry["location"]] = str(entry.get("sha256"))
        return records

    def _read_remote(self, location: ObjectStoragePath) -> dict[str, str]:
        fs = location.fs
        try:
            listing: dict[str, dict[str, Any]] = fs.find(location.parent.path, detail=True)
        except FileNotFoundError:
            return {}
        mine = location.path.rstrip("/") + "/"
        records: dict[str, str] = {}
        others: dict[str, list[tuple[str, float]]] = {}
        for path, info in listing.items():
            match = _RECORD_NAME.match(path.rsplit("/", 1)[-1])
            if match is None:
                continue
            if path.startswith(mine):
                records[match["location"]] = match["sha256"]
            else:
                others.setdefault(path.rsplit("/", 1)[0], []).append((path, _modified(info)))
        cutoff = time.time() - LEDGER_MAX_AGE
        stale = [p for objects in others.values() if max(t for _, t in objects) < cutoff for p, _ in objects]
        if stale:
            try:
                fs.rm(stale)
                self.log.info("Removed %d stale ledger record(s) of other DAG runs", len(stale))
            except Exception as exc:
                self.log.warning(
                    "Cannot remove stale ledger records in %s (%s)", _shown(location.parent), exc
                )
        return records

    # --- writing ---------------------------------------------------------------------------

    def record(self, output_key: str, sha256: str) -> None:
        """
        Put an output this try wrote on record, durably, before returning; never raises.

        A local output is recorded in its own folder (which exists: the output was just written
        there), a remote one beside the first remote output.

        :param output_key: the output's location.
        :param sha256: hex SHA-256 of what was written.
        """
        digest = location_digest(output_key)
        entry = {"location": digest, "output": output_key, "sha256": sha256, "key": self.key.as_dict()}
        body = json.dumps(entry, sort_keys=True).encode()
        folder = _local_folder(output_key)
        try:
            if folder is not None:
                self._append(self.local_file(folder), body)
            elif self.remote is not None:
                self.remote.fs.pipe_file((self.remote / f"{digest}.{sha256}").path, body)
        except Exception as exc:
            with self._lock:
                warned, self._warned = self._warned, True
            if not warned:
                self.log.warning("Cannot write the ledger (%s); a retry may pay again", exc)
        with self._lock:
            self._records[digest] = sha256

    def _append(self, path: str, body: bytes) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        created = not os.path.exists(path)
        fd = os.open(path, flags, 0o666)
        try:
            # one write of one line, after a newline that ends any line a kill cut short
            os.write(fd, b"\n" + body + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            storage.fsync_directory(os.path.dirname(path))

    def keep_fresh(self, folders: Iterable[str]) -> None:
        """
        Mark this run's local ledger files as used now, so no stale-ledger removal takes them.

        :param folders: the folders of the run's local outputs.
        """
        for folder in folders:
            with contextlib.suppress(OSError):
                os.utime(self.local_file(folder))


def _local_folder(output_key: str) -> str | None:
    """Give the folder of a local output, from its location; ``None`` for a remote one."""
    return os.path.dirname(output_key[len("file://") :]) if output_key.startswith("file://") else None


def _shown(p: ObjectStoragePath) -> str:
    return f"{p.protocol}://{p.path}"


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
    if keep is not None:
        keep.keep_fresh(directories)
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
