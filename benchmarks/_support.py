"""
What the benchmarks share: the emulator's token, the figures and their table, the peak RSS.

Scratch Airflow homes and test images come from :mod:`devtools` (shared with the tests and the
soak). Nothing here imports Airflow at module level: an entry point calls
:func:`devtools.airflow_runner.use_scratch_airflow_home` first, so Airflow never reads or writes
the user's home.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-3b9d41c07e"
"""The API token the emulator accepts in the benchmarks."""

_LISTENING = re.compile(r"vyro-emulator listening on (\S+)")
_START_TIMEOUT = 30.0
_ADMIN_TIMEOUT = 10.0


def fmt_seconds(seconds: float) -> str:
    """Format a duration for the tables: ``812 µs``, ``12.3 ms`` or ``4.56 s``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


@dataclass(frozen=True)
class Figure:
    """
    One line of the final table: a ratio measured in this run, its target and the verdict.

    :param name: what was measured.
    :param measured: the measured ratio, formatted, with what it is made of.
    :param target: the target, formatted (``≤ 1.05×``); ``-`` for a figure shown for context.
    :param met: whether the target was met; ``None`` if it could not be measured or has none.
    """

    name: str
    measured: str
    target: str
    met: bool | None

    @property
    def verdict(self) -> str:
        """``met``, ``MISSED``, ``not measured``, or ``-`` without a target."""
        if self.target == "-":
            return "-"
        return "not measured" if self.met is None else "met" if self.met else "MISSED"


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Format rows of strings as a plain-text table; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def reset_peak() -> bool:
    """Reset Linux's ``VmHWM`` (the peak RSS) to the current RSS; ``False`` where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def vm_hwm() -> int:
    """The peak RSS in bytes since the last :func:`reset_peak` (Linux's ``VmHWM``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
