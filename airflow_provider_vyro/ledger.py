"""
Paying once across task retries: what one task instance wrote in one DAG run.

A run records each output it writes (its location and SHA-256) in a small JSON file beside the
first item's output, named ``.vyro-ledger.<16 hex digits>.json`` after the DAG id, run id, task
id and map index. A later try of the same task instance in the same DAG run reads it, and an
output that still has the recorded SHA-256 is kept instead of being paid for again, whatever
``overwrite`` says. Another DAG run, or another task, has another name and never sees it.

The ledger is written at each progress line and when a run ends without success (also when it
is cancelled); a run that succeeds deletes it. A worker killed without warning (SIGKILL) loses
at most the records since the last progress line. Ledgers older than :data:`LEDGER_MAX_AGE`
beside local outputs are removed by later runs. Reading or writing the ledger never fails a
task: a problem is logged and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_vyro import storage

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

_log = logging.getLogger(__name__)

LEDGER_PATTERN = re.compile(r"^\.vyro-ledger\.[0-9a-f]{16}\.json$")
"""The name of a ledger file."""

LEDGER_MAX_AGE = 30 * 24 * 3600.0
"""Seconds after which a ledger left by a run that never succeeded is removed."""


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


class Ledger:
    """
    The outputs one task instance wrote in one DAG run, by location (see the module docstring).

    :param location: where the ledger file is.
    :param key: the task instance and DAG run it belongs to.
    :param log: where problems are reported (the task's log).
    """

    def __init__(self, location: ObjectStoragePath, key: RunKey, log: logging.Logger | Any = None) -> None:
        self.location = location
        self.key = key
        self.log = log or _log
        self._lock = threading.Lock()
        self._outputs: dict[str, str] = {}
        self._dirty = False
        self._on_disk = False

    @classmethod
    def beside(cls, output: ObjectStoragePath, key: RunKey, log: logging.Logger | Any = None) -> Ledger:
        """
        Give the ledger of ``key``, in the folder of ``output``.

        :param output: the first item's resolved output.
        :param key: the task instance and DAG run.
        :param log: where problems are reported.
        """
        name = f".vyro-ledger.{key.digest}.json"
        return cls(output.parent / name, key, log)

    @property
    def shown(self) -> str:
        """The ledger's location, for logs."""
        return (
            str(self.location) if self.location.protocol not in storage.LOCAL_SCHEMES else self.location.path
        )

    def load(self) -> dict[str, str]:
        """Read what earlier tries recorded: SHA-256 by output location (empty if nothing, or unreadable)."""
        if storage.probe_file(self.location) is None:
            return {}
        try:
            with storage.open_for_read(self.location, field="ledger") as f:
                data = json.loads(f.read())
        except Exception as exc:
            self.log.warning(
                "Cannot read the ledger %s (%s); earlier tries are not taken into account", self.shown, exc
            )
            return {}
        if not isinstance(data, dict) or data.get("key") != self.key.as_dict():
            return {}
        outputs = data.get("outputs")
        if not isinstance(outputs, dict):
            return {}
        with self._lock:
            self._outputs.update((str(k), str(v)) for k, v in outputs.items())
            self._on_disk = True
            return dict(self._outputs)

    def record(self, output_key: str, sha256: str) -> None:
        """Note an output written by this try."""
        with self._lock:
            self._outputs[output_key] = sha256
            self._dirty = True

    def flush(self) -> None:
        """Write the ledger if something was recorded since the last write; never raises."""
        with self._lock:
            if not self._dirty:
                return
            body = json.dumps({"key": self.key.as_dict(), "outputs": self._outputs}, sort_keys=True).encode()
            self._dirty = False
        try:
            with storage.atomic_writer(self.location, lineage=False) as f:
                f.write(body)
            self._on_disk = True
        except Exception as exc:
            self.log.warning("Cannot write the ledger %s (%s); a retry may pay again", self.shown, exc)

    def remove(self) -> None:
        """Delete the ledger (the run succeeded: no retry of it will come); never raises."""
        if not self._on_disk:
            return
        try:
            self.location.unlink(missing_ok=True)
        except Exception as exc:
            self.log.warning("Cannot remove the ledger %s (%s)", self.shown, exc)


def remove_stale_ledgers(directories: list[str]) -> int:
    """
    Delete ledgers older than :data:`LEDGER_MAX_AGE` in local folders.

    :param directories: the folders of a run's local outputs.
    :return: how many were deleted.
    """
    return storage.remove_stale_temp_files(directories, max_age=LEDGER_MAX_AGE, pattern=LEDGER_PATTERN)


__all__ = ["LEDGER_MAX_AGE", "LEDGER_PATTERN", "Ledger", "RunKey", "remove_stale_ledgers"]
