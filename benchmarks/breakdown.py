"""
``python -m benchmarks.breakdown`` (``make profile``): where the client's CPU goes, per call and item.

Two child processes are sampled by py-spy (``--gil``: only the thread holding the GIL, so the
samples are the process's Python CPU time, threads included) against
:mod:`benchmarks.fast_server` in its own process:

- ``calls``: ``VyroHook.inpaint`` on a 256x256 PNG scene and its mask, given as paths, one after
  another, with the hook's log line on (INFO, as in a task);
- ``batch``: ``InpaintBatchOperator.execute`` on 2,000 local 32x32 items, 16 in flight, no latency.

Each stack is put in one component: the frame nearest the leaf that matches one of
:data:`RULES` decides. A component's share of the samples
times the CPU the child measured per call (or per item) gives microseconds. Sampling does not
slow small functions down as ``cProfile`` does, so the shares stay honest; they are still
estimates (a few per cent).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._support import REPO, TOKEN, fmt_seconds
from benchmarks.fast_server import FastServerProcess
from devtools.airflow_runner import use_scratch_airflow_home
from devtools.scenes import write_scenes

CALLS = 2000
ITEMS = 2000
CONCURRENCY = 16
RATE = 400

RULES: tuple[tuple[str, str], ...] = (
    (
        "runner: pool threads and the completion queue",
        r"(^|\.)(_Pool\.\w+|Runner\._call_all|Runner\._check_all) \(",
    ),
    ("atomic write: temp file, fsync, rename", r"(_local_atomic_writer|atomic_writer|_fsync_directory) \("),
    ("lineage record", r"_record_lineage \(|\(airflow/sdk/lineage"),
    ("answer: PNG check + sha256", r"PngStreamChecker\.|_receive_png \("),
    ("multipart encoding (requests-toolbelt)", r"\(requests_toolbelt/"),
    ("retries wrapper (tenacity)", r"\(tenacity/"),
    ("log line (structlog/logging)", r"\((structlog|logging)/|\(airflow/sdk/log"),
    (
        "HTTP: requests, urllib3, http.client, socket",
        r"\((requests|urllib3)/|http/client|socket\.py|selectors",
    ),
    ("paths and files: ObjectStoragePath, upath, fsspec", r"\((upath|fsspec)/|\(airflow/sdk/io/"),
    ("image headers: Pillow", r"\(PIL/"),
    ("image headers: own checks", r"\(airflow_provider_vyro/images\.py"),
    ("checks of paths (storage.py)", r"\(airflow_provider_vyro/storage\.py"),
    ("XCom value (json)", r"\(json/"),
    ("provider code, the rest", r"\(airflow_provider_vyro/"),
)
_COMPILED = tuple((label, re.compile(pattern)) for label, pattern in RULES)
_OTHER = "other (interpreter, stdlib)"
_POOL_WORKER = "_Pool._work ("


def classify(raw: str) -> collections.Counter[str]:
    """
    Count the samples of a py-spy ``--format raw`` file by component.

    Only stacks in the measured part count: under ``_measured`` (the main thread's loop) or in a
    worker of the runner's pool, and not importing a module (a one-off cost).
    """
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        frames = stack.split(";")
        if not any("_measured (" in f or _POOL_WORKER in f for f in frames):
            continue
        if any(("<module> (" in f and "benchmarks/" not in f) or "importlib._bootstrap" in f for f in frames):
            continue
        label = ""
        for frame in reversed(frames):
            label = next((name for name, rule in _COMPILED if rule.search(frame)), "")
            if label:
                break
        counts[label or _OTHER] += int(number)
    return counts


def _measured(work: Any) -> Any:
    return work()


def child_calls(folder: Path, calls: int) -> dict[str, float]:
    """In the child: ``calls`` hook calls after a warm-up; CPU seconds per call."""
    from airflow_provider_vyro.hooks.vyro import VyroHook

    ((image, mask, _),) = write_scenes(folder, [(256, 256)])
    hook = VyroHook(pool_maxsize=1)

    def work() -> None:
        for _ in range(calls):
            hook.inpaint(image=str(image), mask=str(mask), prompt="a hand full of flower petals")

    for _ in range(20):
        hook.inpaint(image=str(image), mask=str(mask), prompt="warm-up")
    started = time.process_time()
    _measured(work)
    return {"cpu_per_unit": (time.process_time() - started) / calls}


def child_batch(folder: Path, items: int) -> dict[str, float]:
    """In the child: one batch of ``items`` after a warm-up batch; CPU seconds per item."""
    from benchmarks import scale

    scenes = write_scenes(folder / "in", [(32, 32)] * 8)
    scale.run_batch(
        scale.make_items(folder / "warmup", 16, scenes), max_concurrency=CONCURRENCY, manifest_path=None
    )
    batch = scale.make_items(folder / "out", items, scenes)
    manifest = str(folder / "manifest.jsonl")
    started = time.process_time()
    _measured(lambda: scale.run_batch(batch, max_concurrency=CONCURRENCY, manifest_path=manifest))
    return {"cpu_per_unit": (time.process_time() - started) / items}


def profile(kind: str, count: int, folder: Path, server: FastServerProcess, py_spy: str) -> tuple[float, Any]:
    """Run one child under py-spy; return its CPU per unit and the component counts."""
    raw = folder / f"{kind}.raw"
    env = {**os.environ, "AIRFLOW_CONN_VYRO_DEFAULT": server.connection_json(timeout=30)}
    if kind == "calls":
        env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
    command = [py_spy, "record", "--gil", "--format", "raw", "--rate", str(RATE), "--output", str(raw), "--"]
    command += [sys.executable, "-m", "benchmarks.breakdown", "--child", kind, str(folder / kind), str(count)]
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines or not raw.exists():
        raise RuntimeError(f"py-spy on the {kind} child failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1])["cpu_per_unit"], classify(raw.read_text())


def format_breakdown(title: str, cpu_per_unit: float, counts: collections.Counter[str]) -> str:
    """A table of components: share of the samples and microseconds per unit."""
    total = sum(counts.values())
    lines = [f"{title}: {fmt_seconds(cpu_per_unit)} CPU, {total} samples"]
    for label, number in counts.most_common():
        share = number / total
        lines.append(f"  {share * 100:5.1f}%  {share * cpu_per_unit * 1e6:7.0f} µs  {label}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Profile the calls and the batch, print the breakdowns; ``--child`` is the measured process."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.breakdown")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "FOLDER", "COUNT"))
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--items", type=int, default=ITEMS)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (py-spy's raw stacks)")
    args = parser.parse_args(argv)
    if args.child:
        kind, folder, count = args.child
        work = child_calls if kind == "calls" else child_batch
        print(json.dumps(work(Path(folder), int(count))), flush=True)
        return 0
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy is not installed: `make install` installs the bench group", file=sys.stderr)
        return 1
    scratch = use_scratch_airflow_home("vyro-profile-", log_level="ERROR").parent
    try:
        with FastServerProcess(TOKEN, answer_size=(256, 256)) as server:
            cpu, counts = profile("calls", args.calls, scratch, server, py_spy)
        print(format_breakdown(f"VyroHook.inpaint, one call ({args.calls} calls, log at INFO)", cpu, counts))
        with FastServerProcess(TOKEN, answer_size=(32, 32)) as server:
            cpu, counts = profile("batch", args.items, scratch, server, py_spy)
        print(format_breakdown(f"InpaintBatchOperator, one item of {args.items:,}", cpu, counts))
    finally:
        if args.keep:
            print(f"scratch folder kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
