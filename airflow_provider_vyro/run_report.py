"""What a run did: each item's outcome, and the calls, retries and credits it spent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_vyro.credits import show

if TYPE_CHECKING:
    from airflow_provider_vyro.item import Outcome


@dataclass
class RunReport:
    """
    What a run did.

    :param outcomes: one per item, in input order.
    :param calls: requests sent, retries included.
    :param retries: of those, the ones that repeated an item's call.
    :param credits: the known cost of the requests sent.
    :param manifest_path: where the manifest was written, if it was.
    """

    outcomes: list[Outcome]
    calls: int = 0
    retries: int = 0
    credits: float = 0
    manifest_path: str | None = None

    def count(self, status: str) -> int:
        """How many items ended with ``status``."""
        return sum(o.status == status for o in self.outcomes)

    def records(self) -> list[dict[str, Any]]:
        """Give the per-item dicts of written and kept items, in input order."""
        return [o.record for o in self.outcomes if o.record is not None]

    def announced(self) -> list[dict[str, Any]]:
        """Give the dicts of outputs this DAG run wrote (now, or by an earlier try), in input order."""
        return [o.record for o in self.outcomes if o.record is not None and o.by_this_run]

    def summary(self) -> dict[str, Any]:
        """Give the small dict a run with a manifest returns."""
        return {
            "manifest_path": self.manifest_path,
            "items": len(self.outcomes),
            "written": self.count("written"),
            "kept": self.count("kept"),
            "failed": self.count("failed"),
            "not_run": self.count("not_run"),
            "calls": self.calls,
        }

    def summary_line(self) -> str:
        """Give the last line of a run's log."""
        line = (
            f"Vyro run: {self.calls} calls made ({self.retries} retries), {show(self.credits)} "
            f"credits (known costs), {self.count('written')} written, {self.count('kept')} kept, "
            f"{self.count('failed')} failed"
        )
        if not_run := self.count("not_run"):
            line += f", {not_run} not run"
        return line


__all__ = ["RunReport"]
