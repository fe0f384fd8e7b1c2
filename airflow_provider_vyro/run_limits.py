"""
The limits of a run and the checks of its arguments, apart from the runner so operators import them cheaply.

An operator checks ``max_concurrency``, ``progress_interval`` and ``max_calls`` when it is built,
at DAG-parse time: this module imports nothing, where the runner brings the item, storage and
image modules with it.
"""

from __future__ import annotations

from typing import Any

MAX_ITEMS_WITHOUT_MANIFEST = 1000
"""
The most items a run returns through XCom. A larger run needs ``manifest_path`` (the per-item
dicts go there, and XCom gets a small summary); without it the task fails before any request.
"""

MAX_CONCURRENCY = 64
"""The most calls a run keeps in flight."""


def check_run_arguments(*, max_concurrency: Any, progress_interval: Any, max_calls: Any) -> None:
    """
    Check the arguments of a run that are not templated, so operators refuse them when built.

    :param max_concurrency: a whole number from 1 to :data:`MAX_CONCURRENCY`.
    :param progress_interval: a number of seconds > 0.
    :param max_calls: ``None`` or a whole number >= 1.
    :raises ValueError: naming the argument.
    """
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
        raise ValueError(f"max_concurrency must be a whole number, got {max_concurrency!r}")
    if not 1 <= max_concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"max_concurrency must be from 1 to {MAX_CONCURRENCY}, got {max_concurrency}")
    if isinstance(progress_interval, bool) or not isinstance(progress_interval, int | float):
        raise ValueError(f"progress_interval must be a number of seconds, got {progress_interval!r}")
    if not progress_interval > 0:
        raise ValueError(f"progress_interval must be more than 0 seconds, got {progress_interval!r}")
    if max_calls is not None and (
        isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 1
    ):
        raise ValueError(f"max_calls must be None or a whole number >= 1, got {max_calls!r}")


__all__ = ["MAX_CONCURRENCY", "MAX_ITEMS_WITHOUT_MANIFEST", "check_run_arguments"]
