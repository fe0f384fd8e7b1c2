"""
Batch throughput: one ``InpaintBatchOperator`` task against the ideal, and against mapped tasks.

1. **Efficiency.** 200, then 1,000 small images through
   ``InpaintBatchOperator(max_concurrency=16).execute`` in this process,
   :mod:`benchmarks.fast_server` (in its own process) answering each request with a fixed PNG
   after 100 ms. The ideal is ``images x 0.1 s / 16``; efficiency = ideal / elapsed (the checks
   of all items included). A 16-item batch runs first so that lazy imports and first-use costs
   are not counted; the median of 3 runs is taken. The same requests made by a bare
   ``requests`` thread pool (no checks, no files) in the same run give the ceiling of this
   machine and server; the batch's efficiency is also shown as a share of it (the targets), and
   the client CPU per batch item (all of the process's threads) is compared with 1 ms.
2. **Batch vs mapped.** The same work as one mapped ``InpaintOperator`` task instance per image,
   run by ``airflow dags test`` (``benchmarks/dags/bench_vyro_mapped.py``). Mapping 200 images
   would take minutes, so 20 are mapped, and the time per mapped image is the span of the mapped
   task instances (first start to last end, as Airflow recorded them) / 20: what one more image
   costs, without Airflow's fixed cost per run (interpreter, imports, parsing, the first task).
   It is compared with the in-process batch's time per image.
3. **Both through Airflow.** For fairness, the batch of 200 also runs through ``airflow dags
   test`` (``bench_vyro_batch.py``): its task's duration / 200 against the mapped time per image.
   For context, the whole command for 200 images, fixed costs included: the batch's measured, the
   mapped one projected as its run of 20's fixed part (whole run - span) + 200 x time per image.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks._support import REPO, TOKEN, Figure, fmt_seconds
from benchmarks.fast_server import FastServerProcess
from devtools.scenes import write_scenes

TARGET_EFFICIENCY = 0.8
TARGET_SHARE_OF_BARE = {200: 0.85, 1000: 0.95}
"""The batch's efficiency / the bare pool's, by batch size."""
TARGET_CPU_PER_ITEM = 1e-3
TARGET_SPEEDUP = 20.0
IMAGES = 200
SIZES = tuple(TARGET_SHARE_OF_BARE)
LATENCY = 0.1
CONCURRENCY = 16
MAPPED = 20
WARMUP = 16
REPEATS = 3
SIZE = (32, 32)
DAGS = REPO / "benchmarks" / "dags"
CONN_ENV = "AIRFLOW_CONN_VYRO_DEFAULT"


@dataclass(frozen=True)
class DagRunTiming:
    """One ``airflow dags test`` run: the whole command, and its task instances as Airflow recorded them."""

    elapsed: float
    tasks: dict[tuple[str, int], tuple[datetime, datetime]]

    def span(self, task_id: str) -> float:
        """Seconds from the first start to the last end of ``task_id``'s instances."""
        spans = [times for (task, _), times in self.tasks.items() if task == task_id]
        return (max(end for _, end in spans) - min(start for start, _ in spans)).total_seconds()


@dataclass
class SizeRuns:
    """The in-process batch of one size and the bare pool's same requests, measured in one run."""

    images: int
    batch_runs: list[float] = field(default_factory=list)
    bare_runs: list[float] = field(default_factory=list)
    batch_cpu: list[float] = field(default_factory=list)
    bare_cpu: list[float] = field(default_factory=list)
    batch_max_in_flight: int = 0

    @property
    def ideal(self) -> float:
        """The batch's elapsed time if only the server's latency counted."""
        return self.images * LATENCY / CONCURRENCY

    @property
    def batch_elapsed(self) -> float | None:
        """Median elapsed time of the in-process batch."""
        return statistics.median(self.batch_runs) if self.batch_runs else None

    @property
    def efficiency(self) -> float | None:
        """Ideal / elapsed of the in-process batch."""
        return None if self.batch_elapsed is None else self.ideal / self.batch_elapsed

    @property
    def bare_efficiency(self) -> float | None:
        """Ideal / elapsed of the same requests from a bare ``requests`` thread pool."""
        return self.ideal / statistics.median(self.bare_runs) if self.bare_runs else None

    @property
    def share_of_bare(self) -> float | None:
        """The batch's efficiency / the bare pool's."""
        if self.efficiency is None or self.bare_efficiency is None:
            return None
        return self.efficiency / self.bare_efficiency

    @property
    def cpu_per_item(self) -> float | None:
        """Median client CPU of the batch / images."""
        return statistics.median(self.batch_cpu) / self.images if self.batch_cpu else None


@dataclass
class BatchFigures:
    """What was measured; ``None`` where a step could not run (see ``errors``)."""

    sizes: dict[int, SizeRuns] = field(default_factory=dict)
    mapped: DagRunTiming | None = None
    batch_dag: DagRunTiming | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def base(self) -> SizeRuns:
        """The :data:`IMAGES`-item runs, against which the mapped tasks are compared."""
        return self.sizes.get(IMAGES) or SizeRuns(IMAGES)

    @property
    def batch_elapsed(self) -> float | None:
        """Median elapsed time of the in-process batch of :data:`IMAGES`."""
        return self.base.batch_elapsed

    @property
    def batch_per_image(self) -> float | None:
        """In-process batch time per image."""
        return None if self.batch_elapsed is None else self.batch_elapsed / IMAGES

    @property
    def mapped_per_image(self) -> float | None:
        """Span of the mapped task instances / images: what one more mapped image costs."""
        return None if self.mapped is None else self.mapped.span("inpaint") / MAPPED

    @property
    def batch_dag_per_image(self) -> float | None:
        """Duration of the batch task under ``airflow dags test`` / images."""
        return None if self.batch_dag is None else self.batch_dag.span("inpaint") / IMAGES

    @property
    def speedup(self) -> float | None:
        """Mapped time per image / in-process batch time per image."""
        if self.mapped_per_image is None or self.batch_per_image is None:
            return None
        return self.mapped_per_image / self.batch_per_image

    @property
    def dag_task_speedup(self) -> float | None:
        """Mapped time per image / batch task time per image, both under ``airflow dags test``."""
        if self.mapped_per_image is None or self.batch_dag_per_image is None:
            return None
        return self.mapped_per_image / self.batch_dag_per_image

    @property
    def mapped_projected(self) -> float | None:
        """A whole mapped ``dags test`` run of 200 images: its fixed cost plus 200 x time per image."""
        if self.mapped is None or self.mapped_per_image is None:
            return None
        fixed = self.mapped.elapsed - self.mapped.span("inpaint")
        return fixed + IMAGES * self.mapped_per_image

    @property
    def dag_run_speedup(self) -> float | None:
        """Whole ``dags test`` commands for 200 images: mapped (projected) / batch (measured)."""
        if self.mapped_projected is None or self.batch_dag is None:
            return None
        return self.mapped_projected / self.batch_dag.elapsed


def make_items(folder: Path, count: int) -> list[dict[str, Any]]:
    """Write 8 small scenes under ``folder/in`` and return ``count`` items with distinct outputs."""
    scenes = write_scenes(folder / "in", [SIZE] * 8)
    return [
        {
            "image_path": str(scenes[i % len(scenes)][0]),
            "mask_path": str(scenes[i % len(scenes)][1]),
            "prompt": f"benchmark image {i}",
            "output_path": str(folder / "out" / f"image{i:04d}.png"),
        }
        for i in range(count)
    ]


def measure_in_process(folder: Path, server: FastServerProcess, figures: BatchFigures) -> None:
    """Each size's batch in this process (median of 3, after a warm-up), and its bare ceiling."""
    from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator

    os.environ[CONN_ENV] = server.connection_json(timeout=30, max_retries=3, backoff_factor=0.01)
    warmup = InpaintBatchOperator(
        task_id="warmup", items=make_items(folder / "warmup", WARMUP), max_concurrency=CONCURRENCY
    )
    warmup.execute(context={})
    for images in SIZES:
        runs = figures.sizes[images] = SizeRuns(images)
        items = make_items(folder / f"batch{images}", images)
        for _ in range(REPEATS):
            operator = InpaintBatchOperator(task_id="batch", items=items, max_concurrency=CONCURRENCY)
            server.reset()
            started, cpu_started = time.perf_counter(), time.process_time()
            results = operator.execute(context={})
            elapsed = time.perf_counter() - started
            assert isinstance(results, list)
            runs.batch_cpu.append(time.process_time() - cpu_started)
            stats = server.stats()
            if len(results) != images or any(r["skipped"] for r in results) or stats["requests"] != images:
                figures.errors.append(
                    f"batch of {images}: {len(results)} results, {stats['requests']} requests"
                )
                return
            runs.batch_runs.append(elapsed)
            runs.batch_max_in_flight = max(runs.batch_max_in_flight, int(stats["max_in_flight"]))
        runs.bare_runs, runs.bare_cpu = _bare_ceiling(server, items)


def _bare_ceiling(server: FastServerProcess, items: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """The same requests from a bare ``requests`` pool of 16 threads: bytes in memory, no checks."""
    import requests
    from requests.adapters import HTTPAdapter

    from airflow_provider_vyro.hooks.vyro import INPAINT_ENDPOINT

    url = server.url + INPAINT_ENDPOINT
    bodies = [(Path(i["image_path"]).read_bytes(), Path(i["mask_path"]).read_bytes()) for i in items]
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=CONCURRENCY))
    session.headers["bearer"] = TOKEN

    def post(index: int) -> bytes:
        image, mask = bodies[index]
        response = session.post(
            url,
            data={"prompt": items[index]["prompt"], "model_version": "1"},
            files={"image": ("image.png", image, "image/png"), "mask": ("mask.png", mask, "image/png")},
            timeout=30,
        )
        response.raise_for_status()
        return response.content

    runs, cpu = [], []
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(post, range(CONCURRENCY)))
        for _ in range(REPEATS):
            started, cpu_started = time.perf_counter(), time.process_time()
            list(pool.map(post, range(len(items))))
            runs.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
    session.close()
    return runs, cpu


def measure_dags(folder: Path, server: FastServerProcess, figures: BatchFigures) -> None:
    """20 mapped images, and the batch of 200, through ``airflow dags test``."""
    from devtools.airflow_runner import AirflowSandbox, migrate_template

    template = migrate_template(folder / "template")
    env = {CONN_ENV: server.connection_json(timeout=30, max_retries=3, backoff_factor=0.01)}
    for dag_id, count in (("bench_vyro_mapped", MAPPED), ("bench_vyro_batch", IMAGES)):
        items = make_items(folder / dag_id, count)
        sandbox = AirflowSandbox(folder / dag_id / "airflow", template, DAGS, env=env)
        server.reset()
        started = time.perf_counter()
        result = sandbox.dags_test(dag_id, conf={"items": items}, timeout=600)
        elapsed = time.perf_counter() - started
        requests = server.stats()["requests"]
        failed = {key: state for key, state in result.task_states.items() if state != "success"}
        if result.state != "success" or failed or requests != count:
            figures.errors.append(
                f"{dag_id}: run {result.state}, {requests} requests for {count} images; {result.describe()}"
            )
            continue
        timing = DagRunTiming(elapsed, _task_times(sandbox.home / "airflow.db", dag_id))
        if dag_id == "bench_vyro_batch":
            figures.batch_dag = timing
        else:
            figures.mapped = timing


def _task_times(database: Path, dag_id: str) -> dict[tuple[str, int], tuple[datetime, datetime]]:
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT task_id, map_index, start_date, end_date FROM task_instance WHERE dag_id = ?", (dag_id,)
        ).fetchall()
    return {
        (task, index): (datetime.fromisoformat(start), datetime.fromisoformat(end))
        for task, index, start, end in rows
        if start and end
    }


def measure(folder: Path, *, with_dags: bool = True) -> BatchFigures:
    """Run every measurement of this module with one fast server; errors are collected, not raised."""
    figures = BatchFigures()
    with FastServerProcess(TOKEN, answer_size=SIZE, latency=LATENCY) as server:
        try:
            measure_in_process(folder, server, figures)
        except Exception as err:
            figures.errors.append(f"batch in process: {type(err).__name__}: {err}")
        if with_dags:
            try:
                measure_dags(folder, server, figures)
            except Exception as err:
                figures.errors.append(f"airflow dags test: {type(err).__name__}: {err}")
    return figures


def _or_dash(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else format(value, spec) + suffix


def report(figures: BatchFigures) -> list[Figure]:
    """Print the details and return the figures for the final table."""
    print(
        f"batch: {' and '.join(map(str, SIZES))} images of {SIZE[0]}x{SIZE[1]}, server latency "
        f"{LATENCY * 1000:.0f} ms, max_concurrency {CONCURRENCY}"
    )
    for runs in figures.sizes.values():
        cpu_text = "-" if runs.cpu_per_item is None else fmt_seconds(runs.cpu_per_item)
        if runs.batch_runs:
            print(
                f"  {runs.images} images, ideal {runs.ideal:.2f} s; InpaintBatchOperator.execute in process: "
                f"{', '.join(f'{t:.2f}' for t in runs.batch_runs)} s (max {runs.batch_max_in_flight} in "
                f"flight); client CPU per image {cpu_text}"
            )
        if runs.bare_runs:
            print(
                f"  {runs.images} images, bare requests pool, same requests: "
                f"{', '.join(f'{t:.2f}' for t in runs.bare_runs)} s -> efficiency "
                f"{_or_dash(runs.bare_efficiency, '.2f')} (ceiling of this machine + server); client CPU "
                f"per image {fmt_seconds(statistics.median(runs.bare_cpu) / runs.images)}"
            )
    if figures.mapped is not None:
        print(
            f"  airflow dags test, {MAPPED} mapped InpaintOperator: {figures.mapped.elapsed:.1f} s in all; "
            f"mapped instances span {figures.mapped.span('inpaint'):.2f} s"
        )
    if figures.batch_dag is not None:
        print(
            f"  airflow dags test, InpaintBatchOperator x{IMAGES}: {figures.batch_dag.elapsed:.1f} s in all; "
            f"the task {figures.batch_dag.span('inpaint'):.2f} s"
        )
    print(
        "  per image: mapped "
        + _or_dash(figures.mapped_per_image, ".3f", " s")
        + ", batch in process "
        + ("-" if figures.batch_per_image is None else fmt_seconds(figures.batch_per_image))
        + ", batch task under dags test "
        + ("-" if figures.batch_dag_per_image is None else fmt_seconds(figures.batch_dag_per_image))
    )
    for error in figures.errors:
        print(f"  ERROR {error}")
    base, speedup = figures.base, figures.speedup
    dag_task, dag_run = figures.dag_task_speedup, figures.dag_run_speedup
    shares = [
        Figure(
            f"batch efficiency / bare requests pool's, same run ({runs.images} images)",
            _or_dash(runs.share_of_bare, ".2f")
            + ("" if runs.bare_efficiency is None else f" (bare {runs.bare_efficiency:.2f})"),
            f"≥ {TARGET_SHARE_OF_BARE[runs.images]:.2f}",
            None if runs.share_of_bare is None else runs.share_of_bare >= TARGET_SHARE_OF_BARE[runs.images],
        )
        for runs in (figures.sizes.get(n) or SizeRuns(n) for n in SIZES)
    ]
    cpu = max((c for r in figures.sizes.values() if (c := r.cpu_per_item) is not None), default=None)
    return [
        Figure(
            f"batch efficiency: ideal {base.ideal:.2f} s / elapsed ({IMAGES} images, 0.1 s, 16 in flight)",
            _or_dash(base.efficiency, ".2f")
            + ("" if base.batch_elapsed is None else f" ({base.batch_elapsed:.2f} s)"),
            f"≥ {TARGET_EFFICIENCY:.1f}",
            None if base.efficiency is None else base.efficiency >= TARGET_EFFICIENCY,
        ),
        *shares,
        Figure(
            "batch: client CPU per item (the larger of the sizes)",
            "-" if cpu is None else fmt_seconds(cpu),
            f"≤ {fmt_seconds(TARGET_CPU_PER_ITEM)}",
            None if cpu is None else cpu <= TARGET_CPU_PER_ITEM,
        ),
        Figure(
            f"per image: mapped task (dags test, x{MAPPED}) / batch (in process, x{IMAGES})",
            _or_dash(speedup, ".1f", "×"),
            f"≥ {TARGET_SPEEDUP:.0f}×",
            None if speedup is None else speedup >= TARGET_SPEEDUP,
        ),
        Figure(
            f"per image: mapped task / batch task, both under dags test (x{MAPPED}, x{IMAGES})",
            _or_dash(dag_task, ".1f", "×"),
            f"≥ {TARGET_SPEEDUP:.0f}×",
            None if dag_task is None else dag_task >= TARGET_SPEEDUP,
        ),
        Figure(
            f"whole dags test run of {IMAGES} images: mapped (projected) / batch (context)",
            _or_dash(dag_run, ".1f", "×")
            + (
                ""
                if figures.mapped_projected is None or figures.batch_dag is None
                else f" ({figures.mapped_projected:.0f} s / {figures.batch_dag.elapsed:.0f} s)"
            ),
            "-",
            None,
        ),
    ]


def run(folder: Path) -> list[Figure]:
    """Measure in ``folder`` (scratch), print the details, return the figures."""
    return report(measure(folder))
