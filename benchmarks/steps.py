"""
``python -m benchmarks.steps`` (part of ``make profile``): a batch item's CPU, step by step.

One child process runs ``InpaintBatchOperator.execute`` on local 32x32 items (16 in flight, no
latency) against :mod:`benchmarks.fast_server`, with each step of :data:`STEPS` wrapped to add
up the CPU time of the thread that runs it (``time.thread_time``: user and system time, waiting
for the GIL or the disk not included). A step's time includes the steps it calls; a context
manager's is split into its entry and its exit (the ``with`` block's body not counted). The
run's phases (cheap checks, storage checks, calls) are timed the same way around the runner's
methods, with ``time.process_time`` (every thread of the process).

Sampling profilers (py-spy ``--gil``, :mod:`benchmarks.breakdown`) lose many samples of a
process whose sixteen threads take turns on the GIL, and ``cProfile`` slows small functions
down several times; wrapping a few dozen named steps costs about a microsecond each and keeps
the figures honest.
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._support import REPO, TOKEN
from benchmarks.fast_server import FastServerProcess
from devtools.airflow_runner import use_scratch_airflow_home

ITEMS = 1000
CONCURRENCY = 16

PHASES = ("_resolve_all", "_check_all", "_call_all", "_finish")
"""The runner's phases, timed with ``process_time``."""

STEPS = (
    "airflow_provider_vyro.item:resolve",
    "airflow_provider_vyro.storage:local_path",
    "airflow_provider_vyro.locations:LocalKeys.key",
    "airflow_provider_vyro.item:check",
    "airflow_provider_vyro.item:_inspect",
    "airflow_provider_vyro.storage:check_writable_destination",
    "airflow_provider_vyro.storage:local_location",
    "airflow_provider_vyro.item:run",
    "airflow_provider_vyro.storage:atomic_writer",
    "airflow_provider_vyro.writes:_create_temp",
    "airflow_provider_vyro.writes:flush_folder",
    "airflow_provider_vyro.writes:fsync_directory",
    "airflow_provider_vyro.writes:record_lineage",
    "os:fsync",
    "os:replace",
    "airflow_provider_vyro.hooks.vyro:VyroHook.call_to",
    "airflow_provider_vyro.hooks.vyro:_checked_parts",
    "airflow_provider_vyro.hooks.vyro:VyroHook._attempt",
    "airflow_provider_vyro.multipart:encode",
    "requests.sessions:Session.request",
    "requests.sessions:Session.prepare_request",
    "requests.sessions:Session.send",
    "airflow_provider_vyro.hooks.answers:receive",
    "airflow_provider_vyro.metrics:request",
    "airflow_provider_vyro.item:_record",
)
"""The steps wrapped, as ``module:attribute``; a module function is wrapped where it is defined."""

_cpu: collections.defaultdict[str, float] = collections.defaultdict(float)
_calls: collections.Counter[str] = collections.Counter()


class _TimedContext:
    """A context manager whose entry and exit are timed (not the body of its ``with`` block)."""

    def __init__(self, inner: Any, name: str) -> None:
        self.inner, self.name = inner, name

    def __enter__(self) -> Any:
        started = time.thread_time()
        try:
            return self.inner.__enter__()
        finally:
            _cpu[f"{self.name} (entry)"] += time.thread_time() - started

    def __exit__(self, *exc: Any) -> Any:
        started = time.thread_time()
        try:
            return self.inner.__exit__(*exc)
        finally:
            _cpu[f"{self.name} (exit)"] += time.thread_time() - started


def _wrap(spec: str) -> None:
    module_name, _, path = spec.partition(":")
    owner: Any = importlib.import_module(module_name)
    *parents, attribute = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    inner = getattr(owner, attribute, None)
    if inner is None:  # a step another version of the provider does not have
        print(f"(not timed: {spec} is not there)")
        return
    name = spec.replace("airflow_provider_vyro.", "")
    contextual = spec.endswith(":atomic_writer")

    @functools.wraps(inner)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            result = inner(*args, **kwargs)
        finally:
            _cpu[name] += time.thread_time() - started
            _calls[name] += 1
        return _TimedContext(result, name) if contextual else result

    setattr(owner, attribute, timed)
    for module in list(sys.modules.values()):  # also where it was imported by name
        ours = getattr(module, "__name__", "").startswith("airflow_provider_vyro")
        if ours and module is not owner and getattr(module, attribute, None) is inner:
            setattr(module, attribute, timed)


def child(folder: Path, count: int) -> dict[str, Any]:
    """In the child: a warm-up batch, then ``count`` items with every step timed; CPU per item."""
    from airflow_provider_vyro import runner
    from benchmarks import scale
    from devtools.scenes import write_scenes

    scenes = write_scenes(folder / "in", [(32, 32)] * 8)
    scale.run_batch(
        scale.make_items(folder / "warmup", 16, scenes), max_concurrency=CONCURRENCY, manifest_path=None
    )
    phases: dict[str, float] = {}
    for phase in PHASES:
        method = getattr(runner.Runner, phase)

        def timed(self: Any, *args: Any, _method: Any = method, _phase: str = phase, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return _method(self, *args, **kwargs)
            finally:
                phases[_phase] = time.process_time() - started

        setattr(runner.Runner, phase, timed)
    for spec in STEPS:
        _wrap(spec)
    items = scale.make_items(folder / "out", count, scenes)
    started = time.process_time()
    scale.run_batch(items, max_concurrency=CONCURRENCY, manifest_path=str(folder / "manifest.jsonl"))
    return {
        "cpu_per_item": (time.process_time() - started) / count,
        "phases": {name: cpu / count for name, cpu in phases.items()},
        "steps": {name: (cpu / count, _calls.get(name, 0) / count) for name, cpu in _cpu.items()},
    }


def report(figures: dict[str, Any], count: int) -> str:
    """The phases and the steps, most costly first, in microseconds per item."""
    lines = [
        f"InpaintBatchOperator, {count:,} local items, {CONCURRENCY} in flight, no latency: "
        f"{figures['cpu_per_item'] * 1e6:.0f} µs CPU per item (with the wrappers' own cost)",
        "  phases (process CPU per item):",
    ]
    lines += [f"    {cpu * 1e6:7.0f} µs  {name}" for name, cpu in figures["phases"].items()]
    lines.append("  steps (CPU of the thread running them, per item; a step includes those it calls):")
    ranked = sorted(figures["steps"].items(), key=lambda step: -step[1][0])
    lines += [f"    {cpu * 1e6:7.0f} µs  {calls:4.1f}x  {name}" for name, (cpu, calls) in ranked]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Time the steps in a child process and print them; ``--child`` is the measured process."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.steps")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "COUNT"))
    parser.add_argument("--items", type=int, default=ITEMS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(Path(args.child[0]), int(args.child[1]))), flush=True)
        return 0
    scratch = use_scratch_airflow_home("vyro-steps-", log_level="ERROR").parent
    try:
        with FastServerProcess(TOKEN, answer_size=(32, 32)) as server:
            env = {**os.environ, "AIRFLOW_CONN_VYRO_DEFAULT": server.connection_json(timeout=30)}
            command = [sys.executable, "-m", "benchmarks.steps", "--child", str(scratch), str(args.items)]
            done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            print(f"the child failed ({done.returncode}): {done.stderr[-2000:]}", file=sys.stderr)
            return 1
        print(report(json.loads(lines[-1]), args.items))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
