"""
Many inpaint items in one task: check them all up front, then run them concurrently.

Threads share one :class:`~airflow_provider_vyro.hooks.vyro.VyroHook` (a session whose pool is
sized to the concurrency, and one rate gate, so a 429 slows every thread). Threads rather than
asyncio: the work is blocking file and object-storage I/O plus ``requests`` calls that already
stream, the hook's retry policy is shared as is, and the GIL is released while waiting on sockets.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from airflow_provider_vyro import items
from airflow_provider_vyro.exceptions import VyroBatchError, VyroError, VyroInputError

if TYPE_CHECKING:
    import logging

    from airflow_provider_vyro.hooks.vyro import VyroHook
    from airflow_provider_vyro.items import InpaintXCom, PreparedItem

ITEM_KEYS = frozenset({"image_path", "mask_path", "prompt", "output_path", "model_version"})
"""The keys an item of a batch may have."""


def prepare_all(
    entries: Any,
    *,
    prompt: str | None,
    model_version: str,
    storage_conn_id: str | None,
    overwrite: bool,
    max_concurrency: int = 1,
) -> list[PreparedItem]:
    """
    Check every item without calling the API; raise one :class:`VyroInputError` listing all bad ones.

    The checks of different items run ``max_concurrency`` at a time (on object storage each one
    waits on a few requests); all of them finish before this returns.

    :param entries: the ``items`` argument, a list of dicts.
    :param prompt: the prompt of items without one.
    :param model_version: the model version of items without one.
    :param storage_conn_id: connection for remote paths.
    :param overwrite: whether existing outputs are replaced.
    :param max_concurrency: items checked at once.
    """
    if not isinstance(entries, list | tuple):
        raise VyroInputError("items", f"expected a list of dicts, got {type(entries).__name__}")
    if not entries:
        raise VyroInputError("items", "is empty; there is nothing to inpaint")

    def check(entry: Any) -> PreparedItem | VyroInputError:
        try:
            return _prepare_one(entry, prompt, model_version, storage_conn_id, overwrite)
        except VyroInputError as error:
            return error

    with ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="vyro-check") as pool:
        checked = list(pool.map(check, entries))
    prepared = [outcome for outcome in checked if not isinstance(outcome, VyroInputError)]
    problems = [
        f"items[{index}].{outcome.field}: {outcome.problem}"
        for index, outcome in enumerate(checked)
        if isinstance(outcome, VyroInputError)
    ]
    outputs: dict[str, int] = {}
    for index, item in enumerate(prepared):
        if (first := outputs.setdefault(item.output_path, index)) != index:
            problems.append(
                f"items[{index}].output_path: {item.output_path!r} is also the output of items[{first}]"
            )
    if problems:
        raise VyroInputError(
            "items",
            f"{len(problems)} problem(s) in {len(entries)} items; nothing was sent:\n  "
            + "\n  ".join(problems),
        )
    return prepared


def _prepare_one(
    entry: Any, prompt: str | None, model_version: str, storage_conn_id: str | None, overwrite: bool
) -> PreparedItem:
    if not isinstance(entry, dict):
        raise VyroInputError("item", f"expected a dict, got {type(entry).__name__}")
    if unknown := sorted(set(entry) - ITEM_KEYS):
        raise VyroInputError("item", f"unknown key(s) {unknown}; an item may have {sorted(ITEM_KEYS)}")
    return items.prepare(
        image_path=entry.get("image_path"),
        mask_path=entry.get("mask_path"),
        prompt=entry.get("prompt", prompt),
        output_path=entry.get("output_path"),
        model_version=entry.get("model_version", model_version),
        storage_conn_id=storage_conn_id,
        overwrite=overwrite,
    )


def run_all(
    prepared: list[PreparedItem],
    hook: VyroHook,
    *,
    max_concurrency: int,
    progress_interval: float,
    log: logging.Logger | Any,
) -> list[InpaintXCom]:
    """
    Run every item, ``max_concurrency`` at a time; return the dicts in input order.

    :raises VyroBatchError: if any item failed at the API; the others are written.
    """
    results: list[InpaintXCom | None] = [None] * len(prepared)
    failures: dict[int, VyroError] = {}
    with ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="vyro") as pool:
        pending: dict[Future[InpaintXCom], int] = {
            pool.submit(items.run, item, hook): index for index, item in enumerate(prepared)
        }
        try:
            _collect(pending, results, failures, len(prepared), progress_interval, log)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    if failures:
        raise VyroBatchError(failures, len(prepared))
    return [result for result in results if result is not None]


def _collect(
    pending: dict[Future[InpaintXCom], int],
    results: list[InpaintXCom | None],
    failures: dict[int, VyroError],
    total: int,
    progress_interval: float,
    log: logging.Logger | Any,
) -> None:
    started = last_report = time.monotonic()
    while pending:
        done, _ = wait(pending, timeout=progress_interval, return_when=FIRST_COMPLETED)
        for future in done:
            index = pending.pop(future)
            try:
                results[index] = future.result()
            except VyroError as error:
                failures[index] = error
                log.warning("items[%d] failed: %s: %s", index, type(error).__name__, error)
        now = time.monotonic()
        if now - last_report >= progress_interval or not pending:
            last_report = now
            finished = total - len(pending)
            log.info(
                "Progress: %d/%d done, %d failed, %.1f items/s",
                finished,
                total,
                len(failures),
                finished / max(now - started, 1e-9),
            )
