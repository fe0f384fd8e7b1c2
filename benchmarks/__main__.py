"""
``python -m benchmarks [NAME ...]`` (``make bench``): print the performance ratios, one run each.

Every figure is a ratio measured in this run and printed with its target and a verdict; none is
asserted, so a missed target does not fail the command (a benchmark that cannot run does). The
benchmarks, in order: ``hook_overhead``, ``pace``, ``tracing``, ``batch``, ``scale``, ``memory``,
``import_time`` (give names to run only some). Timings depend on what else the machine is doing:
the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
import traceback
from typing import TYPE_CHECKING

from benchmarks._support import Figure, format_table
from devtools.airflow_runner import use_scratch_airflow_home

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

NAMES = ("hook_overhead", "pace", "tracing", "batch", "scale", "memory", "import_time")


def _runner(name: str, scratch: Path) -> Callable[[], list[Figure]]:
    if name == "hook_overhead":
        from benchmarks import hook_overhead

        return lambda: hook_overhead.run(scratch / "hook_overhead")
    if name == "pace":
        from benchmarks import pace

        return lambda: pace.run(scratch / "pace")
    if name == "tracing":
        from benchmarks import tracing

        return lambda: tracing.run(scratch / "tracing")
    if name == "batch":
        from benchmarks import batch

        return lambda: batch.run(scratch / "batch")
    if name == "scale":
        from benchmarks import scale

        return lambda: scale.run(scratch / "scale")
    if name == "memory":
        from benchmarks import memory

        return lambda: memory.run(scratch / "memory")
    from benchmarks import import_time

    return import_time.run


def _load() -> str:
    try:
        return " ".join(f"{load:.2f}" for load in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the final table; exit 1 only if a benchmark could not run."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[1])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"run only these: {', '.join(NAMES)}")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    names = args.names or list(NAMES)
    if unknown := sorted(set(names) - set(NAMES)):
        parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(NAMES)}")

    # ERROR: Airflow warns on every operator.execute() called outside a task runner.
    scratch = use_scratch_airflow_home("vyro-bench-", log_level="ERROR").parent
    print(
        f"benchmarks on {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {_load()}",
        flush=True,
    )
    started = time.perf_counter()
    figures: list[Figure] = []
    failed: list[str] = []
    try:
        for name in names:
            print(f"\n== {name}", flush=True)
            began = time.perf_counter()
            try:
                figures += _runner(name, scratch)()
            except Exception:
                traceback.print_exc()
                failed.append(name)
                figures.append(Figure(f"{name}: could not run", "-", "-", None))
            print(f"({name}: {time.perf_counter() - began:.0f} s)", flush=True)
    finally:
        if args.keep:
            print(f"scratch folder kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    print(f"\n== results ({time.perf_counter() - started:.0f} s in all; load average now {_load()})")
    rows = [("figure", "measured", "target", "verdict")]
    rows += [(f.name, f.measured, f.target, f.verdict) for f in figures]
    print(format_table(rows))
    missed = [f.name for f in figures if f.met is False]
    print(f"\n{len(missed)} target(s) missed; benchmarks are reported, never asserted.")
    if failed:
        print(f"could not run: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
