"""
Scale: the same batch at 200 and at 10,000 local items, each in a fresh process.

Each size runs ``InpaintBatchOperator(...).execute`` (through :func:`run_batch`, the one place that
knows the batch's entry point) in a child process, against :mod:`benchmarks.fast_server` in its
own process answering after a fixed latency, with a warm-up batch of 16 first. The inputs are 8
local 32x32 scenes shared by the items; every item has its own output file. Per size:

- time per item (elapsed / items), and its ratio at 10,000 to 200: linear is 1.0 (the 200-item
  batch runs 5 times in its process and the median counts), and the same for client CPU;
- time to first call: from ``execute`` to the first request the server sees;
- elapsed against the ideal ``items x latency / max_concurrency``;
- peak RSS growth of the run (Linux ``VmHWM``, reset before it);
- the XCom size: bytes of the return value as JSON.

The latency is short (25 ms, 16 in flight), so the ideal is below the client's own CPU time per
item: the run is bound by the client, and a cost that grows faster than the items shows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks._support import REPO, TOKEN, Figure, fmt_seconds, reset_peak, vm_hwm
from benchmarks.fast_server import FastServerProcess

SIZES = (200, 10_000)
LATENCY = 0.025
CONCURRENCY = 16
WARMUP = 16
SCENE = (32, 32)
TARGET_LINEAR = 1.1
TARGET_FIRST_CALL = 1.0
MIN_MEASURED = 1000
MAX_REPEATS = 5
MIB = 1024 * 1024


@dataclass(frozen=True)
class ScaleRun:
    """What one child process measured."""

    items: int
    elapsed: float
    cpu: float
    first_call: float
    requests: int
    max_in_flight: int
    peak_growth: int
    xcom_bytes: int
    manifest: bool

    @property
    def per_item(self) -> float:
        """Elapsed seconds per item."""
        return self.elapsed / self.items

    def ideal(self, latency: float, concurrency: int) -> float:
        """Seconds if only the server's latency counted."""
        return self.items * latency / concurrency


def run_batch(items: list[dict[str, Any]], *, max_concurrency: int, manifest_path: str | None) -> Any:
    """
    Run one batch through the operator's ``execute``, as a task would; return its XCom value.

    A batch of more than 1,000 items needs ``manifest_path``.
    """
    from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator

    operator = InpaintBatchOperator(
        task_id="scale",
        items=items,
        max_concurrency=max_concurrency,
        progress_interval=3600,
        manifest_path=manifest_path,
    )
    return operator.execute(context={})


def make_items(
    folder: Path, count: int, scenes: list[tuple[Path, Path, tuple[int, int]]]
) -> list[dict[str, Any]]:
    """``count`` items over the shared ``scenes``, each with its own output under ``folder``."""
    return [
        {
            "image_path": str(scenes[i % len(scenes)][0]),
            "mask_path": str(scenes[i % len(scenes)][1]),
            "prompt": f"scale item {i}",
            "output_path": str(folder / f"image{i:05d}.png"),
        }
        for i in range(count)
    ]


def child(folder: Path, count: int, concurrency: int, server_url: str) -> ScaleRun:
    """
    In the child: warm up, then run ``count`` items and measure.

    A batch shorter than :data:`MIN_MEASURED` items runs again until that many items are done,
    at most :data:`MAX_REPEATS` times (each run with fresh outputs), and the median run counts:
    a short run alone is at the mercy of whatever else the machine does for a second.
    """
    import gc
    import statistics
    import urllib.request

    from devtools.scenes import write_scenes

    scenes = write_scenes(folder / "in", [SCENE] * 8)
    run_batch(make_items(folder / "warmup", WARMUP, scenes), max_concurrency=concurrency, manifest_path=None)
    manifest = str(folder / "manifest.jsonl")
    runs: list[tuple[float, float]] = []
    for repeat in range(min(MAX_REPEATS, max(1, -(-MIN_MEASURED // count)))):
        items = make_items(folder / f"out{repeat}", count, scenes)
        reset = urllib.request.Request(server_url + "/__reset", data=b"", method="POST")
        with urllib.request.urlopen(reset, timeout=10):
            pass
        gc.collect()
        if repeat == 0:
            if not reset_peak():
                raise RuntimeError("the peak RSS cannot be reset: /proc/self/clear_refs is not writable")
            peak_before = vm_hwm()
        started_wall, started, cpu_started = time.time(), time.perf_counter(), time.process_time()
        result = run_batch(items, max_concurrency=concurrency, manifest_path=manifest)
        runs.append((time.perf_counter() - started, time.process_time() - cpu_started))
        if repeat == 0:
            peak_growth = vm_hwm() - peak_before
            with urllib.request.urlopen(server_url + "/__stats", timeout=10) as answer:
                stats = json.loads(answer.read())
            first_call = (stats["first"] or float("nan")) - started_wall
    return ScaleRun(
        items=count,
        elapsed=statistics.median(elapsed for elapsed, _ in runs),
        cpu=statistics.median(cpu for _, cpu in runs),
        first_call=first_call,
        requests=stats["requests"],
        max_in_flight=stats["max_in_flight"],
        peak_growth=peak_growth,
        xcom_bytes=len(json.dumps(result)),
        manifest=os.path.exists(manifest),
    )


def measure(
    folder: Path,
    sizes: tuple[int, ...] = SIZES,
    *,
    latency: float = LATENCY,
    concurrency: int = CONCURRENCY,
) -> dict[int, ScaleRun | str]:
    """Run each size in a fresh child process against one fast server; errors are kept as text."""
    runs: dict[int, ScaleRun | str] = {}
    with FastServerProcess(TOKEN, answer_size=SCENE, latency=latency) as server:
        env = {
            **os.environ,
            "AIRFLOW_CONN_VYRO_DEFAULT": server.connection_json(
                timeout=30, max_retries=3, backoff_factor=0.01
            ),
        }
        for count in sizes:
            command = [sys.executable, "-m", "benchmarks.scale", "--child", str(folder / str(count))]
            command += [str(count), str(concurrency), server.url]
            done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, check=False)
            lines = done.stdout.strip().splitlines()
            if done.returncode != 0 or not lines:
                runs[count] = f"child failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}"
                continue
            run = ScaleRun(**json.loads(lines[-1]))
            runs[count] = run if run.requests == count else f"{run.requests} requests for {count} items"
    return runs


def report(
    runs: dict[int, ScaleRun | str], *, latency: float = LATENCY, concurrency: int = CONCURRENCY
) -> list[Figure]:
    """Print one line per size and return the figures."""
    print(
        f"scale: InpaintBatchOperator.execute, local 32x32 items, server latency {latency * 1000:.0f} ms, "
        f"max_concurrency {concurrency}; each size in a fresh process"
    )
    done: list[ScaleRun] = []
    for count, run in runs.items():
        if isinstance(run, str):
            print(f"  {count:>6} items: ERROR {run}")
            continue
        done.append(run)
        ideal = run.ideal(latency, concurrency)
        print(
            f"  {count:>6} items: {run.elapsed:.2f} s ({fmt_seconds(run.per_item)} per item, "
            f"CPU {fmt_seconds(run.cpu / count)} per item), ideal {ideal:.2f} s; first call after "
            f"{fmt_seconds(run.first_call)}; peak RSS +{run.peak_growth / MIB:.1f} MiB; XCom "
            f"{run.xcom_bytes / 1024:.0f} KiB{' (manifest written)' if run.manifest else ''}; "
            f"max {run.max_in_flight} in flight"
        )
    figures: list[Figure] = []
    if len(done) >= 2:
        small, large = done[0], done[-1]
        linear = large.per_item / small.per_item
        figures.append(
            Figure(
                f"scale: time per item at {large.items:,} / at {small.items:,}",
                f"{linear:.2f}× ({fmt_seconds(large.per_item)} / {fmt_seconds(small.per_item)})",
                f"≤ {TARGET_LINEAR:.1f}×",
                linear <= TARGET_LINEAR,
            )
        )
        cpu_linear = (large.cpu / large.items) / (small.cpu / small.items)
        figures.append(
            Figure(
                f"scale: client CPU per item at {large.items:,} / at {small.items:,} (context)",
                f"{cpu_linear:.2f}× ({fmt_seconds(large.cpu / large.items)} / "
                f"{fmt_seconds(small.cpu / small.items)})",
                "-",
                None,
            )
        )
    for run in done[-1:]:
        figures += [
            Figure(
                f"scale: {run.items:,} items, ideal / elapsed "
                f"({latency * 1000:.0f} ms, {concurrency} in flight)",
                f"{run.ideal(latency, concurrency) / run.elapsed:.2f} ({run.elapsed:.1f} s)",
                "-",
                None,
            ),
            Figure(
                f"scale: {run.items:,} items, time to first call",
                fmt_seconds(run.first_call),
                f"≤ {fmt_seconds(TARGET_FIRST_CALL)}",
                run.first_call <= TARGET_FIRST_CALL,
            ),
            Figure(
                f"scale: {run.items:,} items, peak RSS growth", f"{run.peak_growth / MIB:.1f} MiB", "-", None
            ),
            Figure(
                f"scale: {run.items:,} items, XCom (JSON bytes)", f"{run.xcom_bytes / MIB:.2f} MiB", "-", None
            ),
        ]
    if not done:
        figures.append(Figure("scale: could not run", "-", f"≤ {TARGET_LINEAR:.1f}×", None))
    return figures


def run(folder: Path) -> list[Figure]:
    """Measure in ``folder`` (scratch), print the details, return the figures."""
    return report(measure(folder))


def main(argv: list[str] | None = None) -> int:
    """``--child FOLDER ITEMS CONCURRENCY SERVER_URL``: measure one run and print it as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale")
    parser.add_argument("--child", nargs=4, metavar=("FOLDER", "ITEMS", "CONCURRENCY", "URL"), required=True)
    args = parser.parse_args(argv)
    folder, count, concurrency, url = args.child
    result = child(Path(folder), int(count), int(concurrency), url)
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
