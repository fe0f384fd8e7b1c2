"""
Many items of one operation in one task: checks, a bounded pool of calls, and what a failure means.

A run goes through these steps:

1. the cheap checks of every item (no storage touched) and the locations across items (no two
   write one place, none writes another's input); nothing is sent unless all pass;
2. the storage checks of every item (stat and header reads; reused by the calls), on a pool
   that starts with the first item alone. The first call starts, alone, once the items before
   it are kept and no check failed: a dead account costs one request, and a storage check that
   fails meanwhile follows at most that call, whose output is kept (the refusal says so);
3. the plan: calls to make and outputs kept, against ``max_calls`` and ``max_credits`` (a run
   whose items could pass them makes its first call only after this);
4. the other calls, ``max_concurrency`` at a time in daemon threads sharing one hook.

An error that would hit every item (see :func:`~airflow_provider_vyro.failures.stops_run`) stops
the run at once: no request starts after it, the calls already in flight finish and are kept,
and the task fails with that error. Any other failure is its item's alone: the rest go on, and
the run ends with :class:`~airflow_provider_vyro.exceptions.VyroBatchError`.

Cancellation (:meth:`Runner.cancel`, called by ``on_kill``; or an exception such as Airflow's
timeout reaching the waiting thread) stops new calls, ends retry and rate-limit waits,
abandons calls still hanging (their threads are daemons: the task does not wait for them) and
deletes their temporary files.

Threads rather than asyncio: the work is blocking file and object-storage I/O plus ``requests``
calls that stream, the hook's retry policy is shared as is, and the GIL is released while
waiting on sockets.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from airflow_provider_vyro import credits as pricing
from airflow_provider_vyro import heap, metrics, storage
from airflow_provider_vyro import item as items
from airflow_provider_vyro import ledger as ledgers
from airflow_provider_vyro.exceptions import (
    VyroBatchError,
    VyroCancelledError,
    VyroInputError,
    VyroPermanentBatchError,
)
from airflow_provider_vyro.failures import any_task_retry, stops_run
from airflow_provider_vyro.pool import Pool
from airflow_provider_vyro.run_limits import MAX_CONCURRENCY as MAX_CONCURRENCY
from airflow_provider_vyro.run_limits import MAX_ITEMS_WITHOUT_MANIFEST as MAX_ITEMS_WITHOUT_MANIFEST
from airflow_provider_vyro.run_limits import check_run_arguments as check_run_arguments
from airflow_provider_vyro.run_report import RunReport

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_vyro.catalogue import Endpoint
    from airflow_provider_vyro.hooks.vyro import VyroHook
    from airflow_provider_vyro.item import CheckedItem, Outcome, Resolved

_log = logging.getLogger(__name__)

HookFactory: TypeAlias = "Callable[[Callable[[], None]], VyroHook]"
"""Makes a run's hook, given the ``before_request`` it calls before every request (see :class:`Runner`)."""

MAX_CHECK_THREADS = 32
"""The most items whose storage checks run at once."""

_POLL = 0.5


@dataclass(frozen=True)
class RunOptions:
    """
    How a run goes.

    :param storage_conn_id: connection for remote paths; empty means none.
    :param overwrite: replace existing outputs; if off, complete and intact ones are kept.
    :param max_concurrency: calls in flight at once (1 to
        :data:`~airflow_provider_vyro.run_limits.MAX_CONCURRENCY`).
    :param progress_interval: seconds between progress lines (> 0).
    :param max_calls: the most requests the run may send, retries included; ``None``: no limit.
    :param max_credits: the most credits the run may spend, retries included; ``None``: no limit.
        Every call's cost must then be known (the catalogue's, or the connection's ``credit_costs``).
    :param try_number: the task instance's try, reported in every item's dict.
    :param manifest_path: where to write one JSON line per item; then the run returns a summary.
    :param run_key: the task instance and DAG run, so a retry never pays twice (``None`` outside
        a task: no ledger).
    :param item_limit: the most items without ``manifest_path``.
    :param batch: report problems by item (``items[3].image_path: ...``) and end with
        :class:`~airflow_provider_vyro.exceptions.VyroBatchError`; off for a run of one item,
        which raises its item's own error.
    """

    storage_conn_id: str | None = None
    overwrite: bool = True
    max_concurrency: int = 8
    progress_interval: float = 5.0
    max_calls: int | None = None
    max_credits: float | None = None
    try_number: int = 1
    manifest_path: str | None = None
    run_key: ledgers.RunKey | None = None
    item_limit: int = MAX_ITEMS_WITHOUT_MANIFEST
    batch: bool = True

    def __post_init__(self) -> None:
        check_run_arguments(
            max_concurrency=self.max_concurrency,
            progress_interval=self.progress_interval,
            max_calls=self.max_calls,
        )
        pricing.check_max_credits(self.max_credits)


class Runner:
    """
    Run the items of one operation (see the module docstring).

    :param endpoint: the operation, from :mod:`airflow_provider_vyro.catalogue`.
    :param connect: makes the hook the calls share (:data:`HookFactory`), handed the runner's
        ``before_request`` (counting calls, keeping the budget); cancelled by :meth:`cancel`, closed after.
    :param options: how the run goes.
    :param log: where progress and the summary go (an operator passes its ``self.log``).
    """

    def __init__(
        self, endpoint: Endpoint, connect: HookFactory, options: RunOptions, log: logging.Logger | Any = None
    ) -> None:
        self.endpoint = endpoint
        self.options = options
        self.log = log or _log
        self._budget = pricing.Budget(options.max_calls, options.max_credits)
        self._prices: dict[int, float | None] = {}
        self._local = threading.local()
        self._temps = storage.TempFiles()
        self._killed = threading.Event()
        self._pool: Pool | None = None
        self._output_keys: dict[int, str] = {}
        self._ledger: ledgers.Ledger | None = None
        self.hook = connect(self._before_request)

    # --- control -------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop the run now (``on_kill``): no new call, waits end, hung calls are abandoned, temp files go."""
        self._killed.set()
        self._halt()
        removed = self._temps.abandon()
        if removed:
            self.log.info("Removed %d temporary file(s) of abandoned calls", removed)

    def _halt(self) -> None:
        if self._pool is not None:
            self._pool.stop()
        self.hook.cancel()

    def _before_request(self) -> None:
        attempts = getattr(self._local, "attempts", 0)
        self._budget.charge(getattr(self._local, "price", None), retry=attempts > 0)
        self._local.attempts = attempts + 1

    def _price_all(self, resolved: list[Resolved]) -> float:
        """Price every item's call (under ``max_credits`` each must be known); give the known total."""
        costs, budget = self.hook.validate().credit_costs, self.options.max_credits
        for r in resolved:
            self._prices[r.index] = pricing.price_within(budget, self.endpoint, r.fields, costs)
        return sum(c or 0 for c in self._prices.values())

    # --- the run -------------------------------------------------------------------------

    def run(self, entries: Sequence[Mapping[str, Any]]) -> RunReport:
        """
        Check every item, then make the calls; return what happened, or raise. The hook is closed after.

        :param entries: the items' arguments (see :func:`airflow_provider_vyro.item.arguments`).
        :raises VyroInputError: if an item failed a check (nothing was sent, or at most the first
            call, see the module docstring); in a batch, one error lists every item at fault.
        :raises VyroBudgetError: if the plan needs more calls than ``max_calls`` or more credits
            than ``max_credits``, or the calls made reached either.
        :raises VyroBatchError: if some items failed (a batch); :class:`VyroPermanentBatchError`
            when none of them could succeed on a retry.
        :raises VyroError: the error that stopped the run, or a single item's own error.
        """
        with heap.frozen():
            try:
                return self._run(entries)
            finally:
                self.hook.close()

    def _run(self, entries: Sequence[Mapping[str, Any]]) -> RunReport:
        options = self.options
        total = len(entries)
        if total == 0:
            raise VyroInputError("items", f"is empty; there is nothing to {self.endpoint.operation}")
        if options.manifest_path is None and total > options.item_limit:
            raise VyroInputError(
                "manifest_path",
                f"{total} items are more than the {options.item_limit} a task returns through XCom; "
                "set manifest_path to write the per-item results there (nothing was sent)",
            )
        resolved = self._resolve_all(entries)
        self._output_keys = {r.index: r.output_key for r in resolved}
        if options.max_credits is not None:
            self._price_all(resolved)
        manifest = self._resolve_manifest(resolved)
        key = options.run_key
        ledger = self._ledger = (
            ledgers.Ledger.for_outputs([r.output for r in resolved if r.local_output is None], key, self.log)
            if key is not None
            else None
        )
        if ledger is not None:
            ledger.load(self._output_keys.values())
        self._tidy(resolved, ledger)
        report = RunReport([])
        checked, first, stop_error = self._check_all(resolved, ledger, report)
        to_call = [c for c in checked if c.keep is None and c.resolved.index != first]
        self._budget.plan(len(to_call), sum(self._prices.get(c.resolved.index) or 0 for c in to_call))
        for c in checked:
            if c.keep is not None:
                self.log.info("%s kept, no call: %s", c.resolved.output_path, c.keep_reason)
            elif c.redo_reason:
                self.log.info("%s exists but is redone: %s", c.resolved.output_path, c.redo_reason)
        if to_call:
            self.hook.validate()  # the connection is resolved once, before the first request
        self.log.info(
            "%s: %d item(s), %d call(s) to make, %d kept, up to %d at a time",
            self.endpoint.operation,
            total,
            len(to_call) + (first is not None),
            total - len(to_call) - (first is not None),
            options.max_concurrency,
        )
        report.outcomes += [items.run(c, self.hook) for c in checked if c.keep is not None]
        try:
            if stop_error is None:
                stop_error = self._call_all(to_call, report, first is not None)
        finally:
            self._finish(report, checked, ledger, manifest)
        return self._conclude(report, stop_error)

    def _resolve_all(self, entries: Sequence[Mapping[str, Any]]) -> list[Resolved]:
        resolved: list[Resolved] = []
        problems: list[tuple[int, VyroInputError]] = []
        at, conn_id = items.Places(), self.options.storage_conn_id
        for index, entry in enumerate(entries):
            try:
                item = items.resolve(self.endpoint, entry, storage_conn_id=conn_id, index=index, shared=at)
                resolved.append(item)
            except VyroInputError as error:
                problems.append((index, error))
        if problems:
            self._refuse(problems, total=len(entries))
        self._refuse(_clashes(resolved), total=len(entries))
        return resolved

    def _resolve_manifest(self, resolved: list[Resolved]) -> ObjectStoragePath | None:
        path = self.options.manifest_path
        if path is None:
            return None
        location = storage.resolve(path, field="manifest_path", conn_id=self.options.storage_conn_id or None)
        key = storage.location_key(location)
        for r in resolved:
            if key == r.output_key or key in r.input_keys().values():
                raise VyroInputError("manifest_path", f"{path!r} is also a path of items[{r.index}]")
        return location

    def _refuse(
        self, problems: list[tuple[int, VyroInputError]], *, total: int, sent: str = "nothing was sent"
    ) -> None:
        if not problems:
            return
        if not self.options.batch:
            raise problems[0][1]
        lines = [
            f"items[{index}].{error.field}: {error.problem}"
            for index, error in sorted(problems, key=lambda problem: problem[0])
        ]
        raise VyroInputError(
            "items", f"{len(lines)} problem(s) in {total} items; {sent}:\n  " + "\n  ".join(lines)
        )

    def _check_all(
        self, resolved: list[Resolved], ledger: ledgers.Ledger | None, report: RunReport
    ) -> tuple[list[CheckedItem], int | None, BaseException | None]:
        """Storage checks, and the first call; give the items, the one called and the error it stopped on."""
        overwrite = self.options.overwrite
        total = len(resolved)
        seen: items.Inspections = {}

        def job(r: Resolved) -> Callable[[], CheckedItem]:
            earlier = ledger.earlier(r.output_key) if ledger is not None else None
            return lambda: items.check(r, overwrite=overwrite, earlier_sha256=earlier, inspections=seen)

        workers = min(MAX_CHECK_THREADS, max(4, 2 * self.options.max_concurrency))
        pool = Pool([job(r) for r in resolved], workers, "vyro-check", slow_start=True)
        results: list[Any] = [None] * total
        finished, ready, failed = 0, 0, False
        may_call = self._budget.fits(total, sum(c or 0 for c in self._prices.values()))
        first: int | None = None
        first_outcome: Any = None
        try:
            while not pool.finished_all(finished) or (first is not None and first_outcome is None):
                self._raise_if_killed()
                try:
                    index, result = pool.results.get(timeout=_POLL)
                except queue.Empty:
                    continue
                if index == total:
                    first_outcome = result
                    continue
                results[index] = result
                finished += 1
                failed = failed or isinstance(result, BaseException)
                if not failed and first is None and may_call:
                    while ready < total and results[ready] is not None and results[ready].keep is not None:
                        ready += 1  # checked and kept: the first call is the first item to call
                    if ready < total and results[ready] is not None:
                        first = ready
                        self._call_first(results[ready], pool.results, total)
                pool.open()  # the first item is checked alone, so its call starts without waiting
        except BaseException:
            pool.stop()
            if first is not None:
                self.cancel()
            raise
        stop_error = None if first is None else self._take(first_outcome, report, None)
        done = report.outcomes[0].record if report.outcomes else None
        kept = f"its output {done['output_path']!r} is kept" if done else "it failed"
        sent = "nothing was sent" if first is None else f"only items[{first}] was called meanwhile: {kept}"
        problems = [(i, r) for i, r in enumerate(results) if isinstance(r, VyroInputError)]
        self._refuse(problems, total=total, sent=sent)
        broken = {i: r for i, r in enumerate(results) if isinstance(r, BaseException)}
        if broken:
            if not self.options.batch:
                raise next(iter(broken.values()))
            raise VyroBatchError(broken, total, dict.fromkeys(broken, "storage"))
        return results, first, stop_error

    def _call_first(self, checked: CheckedItem, results: queue.Queue[tuple[int, Any]], index: int) -> None:
        """Start the run's first call, alone; its outcome arrives on ``results`` as ``index``."""
        self.hook.validate()  # the connection is resolved once, before the first request
        job = functools.partial(self._call, checked)
        self._pool = Pool([job], 1, "vyro", slow_start=False, results=results, first_index=index)

    def _tidy(self, resolved: list[Resolved], ledger: ledgers.Ledger | None) -> None:
        folders = storage.existing_folders({os.path.dirname(p) for r in resolved if (p := r.local_output)})
        removed = storage.remove_stale_temp_files([*folders, storage.temp_folder()])
        removed_ledgers = ledgers.remove_stale_ledgers(folders, keep=ledger)
        if removed or removed_ledgers:
            self.log.info("Removed %d stale temporary file(s) and %d old ledger(s)", removed, removed_ledgers)

    def _raise_if_killed(self) -> None:
        if self._killed.is_set():
            raise VyroCancelledError("the task was killed; the run stopped")

    def _call(self, checked: CheckedItem) -> Outcome:
        self._local.attempts = 0
        index = checked.resolved.index
        if index not in self._prices:  # the hook has read its connection: a call follows
            self._prices[index] = pricing.price(
                self.endpoint, checked.resolved.fields, self.hook.settings.credit_costs
            )
        self._local.price = self._prices[index]
        outcome = items.run(checked, self.hook, temps=self._temps)
        if outcome.status == "written" and outcome.record is not None and self._ledger is not None:
            # on record before the outcome is reported: a kill from here on re-pays nothing
            self._ledger.record(self._output_keys[outcome.index], outcome.record["sha256"])
        return items.with_attempts(outcome, self._local.attempts)

    def _call_all(
        self, to_call: list[CheckedItem], report: RunReport, first_done: bool
    ) -> BaseException | None:
        if not to_call:
            return None
        options = self.options
        pool = self._pool = Pool(
            [functools.partial(self._call, c) for c in to_call],
            options.max_concurrency,
            "vyro",
            slow_start=not first_done,
            stops=_stops_run,
        )
        stop_error: BaseException | None = None
        finished = int(first_done)
        started_at = next_tick = time.monotonic()
        next_tick += options.progress_interval
        try:
            while not pool.finished_all(finished - first_done):
                self._raise_if_killed()
                try:
                    _, outcome = pool.results.get(timeout=max(0.0, min(_POLL, next_tick - time.monotonic())))
                except queue.Empty:
                    outcome = None
                if outcome is not None:
                    finished += 1
                    stop_error = self._take(outcome, report, stop_error) or stop_error
                    if stop_error is None:
                        pool.open()
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + options.progress_interval
                    self._progress(report, len(to_call) + first_done, finished, started_at)
        except BaseException:
            self.cancel()
            raise
        if options.batch:
            self._progress(report, len(to_call) + first_done, finished, started_at)
        return stop_error

    def _take(
        self, outcome: Outcome | BaseException, report: RunReport, stopped: BaseException | None
    ) -> BaseException | None:
        if isinstance(outcome, BaseException):  # a bug in the item's code; it is the run's
            self._halt()
            return outcome
        report.outcomes.append(outcome)
        error = outcome.error
        if outcome.status == "failed" and error is not None:
            self.log.warning(
                "items[%d] failed (%s) after %d attempt(s): %s: %s",
                outcome.index,
                outcome.failure,
                outcome.attempts,
                type(error).__name__,
                error,
            )
        if stopped is None and error is not None and stops_run(error):
            self.log.error(
                "Stopping the run: %s: %s would fail every item; no new request is sent",
                type(error).__name__,
                error,
            )
            self._halt()
            return error
        return None

    def _progress(self, report: RunReport, total: int, finished: int, started_at: float) -> None:
        if not self.options.batch:
            return
        elapsed = max(time.monotonic() - started_at, 1e-9)
        self.log.info(
            "Progress: %d/%d done, %d failed, %.1f items/s, %d calls made",
            finished,
            total,
            report.count("failed"),
            finished / elapsed,
            self._budget.spent.calls,
        )

    def _finish(
        self,
        report: RunReport,
        checked: list[CheckedItem],
        ledger: ledgers.Ledger | None,
        manifest: ObjectStoragePath | None,
    ) -> None:
        spent = self._budget.spent
        report.calls, report.retries, report.credits = spent.calls, spent.retries, spent.credits
        counts = {status: report.count(status) for status in ("written", "kept", "failed")}
        metrics.run_done(self.endpoint.operation, spent.credits, counts)
        done = {o.index for o in report.outcomes}
        report.outcomes.extend(
            items.Outcome(c.resolved.index, "not_run", given=c.resolved.given)
            for c in checked
            if c.resolved.index not in done
        )
        report.outcomes.sort(key=lambda o: o.index)
        for o in report.outcomes:
            if o.record is not None:
                o.record.update(
                    credits=0 if o.record["skipped"] else self._prices.get(o.index),
                    try_number=self.options.try_number,
                )
        if manifest is not None:
            report.manifest_path = self.options.manifest_path
            self._write_manifest(manifest, report)
        self.log.info("%s", report.summary_line())

    def _write_manifest(self, location: ObjectStoragePath, report: RunReport) -> None:
        try:
            with storage.atomic_writer(location, lineage=False) as f:
                for outcome in report.outcomes:
                    f.write(json.dumps(outcome.manifest_line(), default=str).encode() + b"\n")
            self.log.info(
                "Wrote the manifest %s (%d lines)", self.options.manifest_path, len(report.outcomes)
            )
        except Exception:
            self.log.exception("Could not write the manifest %s", self.options.manifest_path)

    def _conclude(self, report: RunReport, stop_error: BaseException | None) -> RunReport:
        if stop_error is not None:
            raise stop_error
        self._raise_if_killed()
        failed = [o for o in report.outcomes if o.status == "failed" and o.error is not None]
        if not failed:
            return report
        if not self.options.batch:
            raise failed[0].error  # type: ignore[misc]
        failures: dict[int, BaseException] = {o.index: o.error for o in failed if o.error is not None}
        classes = {o.index: o.failure or "transient" for o in failed}
        retryable = any_task_retry(classes.values())
        error_class = VyroBatchError if retryable else VyroPermanentBatchError
        raise error_class(failures, len(report.outcomes), classes)


def _stops_run(outcome: Outcome | BaseException) -> bool:
    """Tell whether an item's outcome stops the run (a bug in the item's code does, too)."""
    if isinstance(outcome, BaseException):
        return True
    return outcome.error is not None and stops_run(outcome.error)


def _clashes(resolved: list[Resolved]) -> list[tuple[int, VyroInputError]]:
    """Items that write one place, or write another item's input."""
    problems: list[tuple[int, VyroInputError]] = []
    outputs: dict[str, int] = {}
    for r in resolved:
        first = outputs.setdefault(r.output_key, r.index)
        if first != r.index:
            problems.append(
                (
                    r.index,
                    VyroInputError("output_path", f"{r.output_path!r} is also the output of items[{first}]"),
                )
            )
    for r in resolved:
        for argument, key in r.input_keys().items():
            writer = outputs.get(key)
            if writer is not None and writer != r.index:
                problems.append(
                    (
                        writer,
                        VyroInputError(
                            "output_path",
                            f"{resolved[writer].output_path!r} is the {argument} of items[{r.index}]",
                        ),
                    )
                )
    return problems


def run_items(
    endpoint: Endpoint,
    entries: Sequence[Mapping[str, Any]],
    *,
    connect: HookFactory,
    options: RunOptions | None = None,
    log: logging.Logger | Any = None,
) -> RunReport:
    """Run many items of one operation: a :class:`Runner` made of these arguments (default options)."""
    return Runner(endpoint, connect, options or RunOptions(), log).run(entries)


__all__ = [
    "HookFactory",
    "RunOptions",
    "RunReport",
    "Runner",
    "run_items",
]
