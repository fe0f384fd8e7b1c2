"""
Soak: 1,000+ inpaint calls through the operator's code path against the emulator with ~10 % faults.

``python -m devtools.soak [--calls 1000] [--rate 0.1] [--concurrency 8]`` (``make soak``).

Every call goes through :func:`airflow_provider_vyro.item.resolve`, :func:`~airflow_provider_vyro.item.check`
and :func:`~airflow_provider_vyro.item.run` -- the item life of the operators -- with local input
files, a distinct output path per call, and one :class:`VyroHook` shared by a thread pool. The
emulator injects seeded random faults (dropped connections, 500, 429 and truncated bodies). The
invariants:

* every call ends in a correct PNG (it decodes, has the input's size, and its SHA-256 and size
  match the returned dict) or in a documented :class:`VyroError`;
* zero corrupt outputs: every file in the output folder is the complete PNG of a successful call;
  no temporary file is left behind, and nothing appears for a failed call;
* the emulator's counters agree: each success is exactly one complete ``200`` answer (no call
  was inpainted twice), and ``requests == successes + faults injected`` (each fault cost one retry);
* re-running the same items with ``overwrite=False`` sends zero requests and reports every output
  as ``skipped: True``, unchanged.

The process exits non-zero if any invariant fails.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_vyro.emulator import EmulatorProcess

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_vyro.emulator import EmulatorAdmin
    from airflow_provider_vyro.hooks.vyro import VyroHook
    from airflow_provider_vyro.item import CheckedItem, InpaintXCom

FAULT_KINDS: tuple[str | int, ...] = ("drop", 500, 429, "truncate")
"""The faults the emulator picks from, with equal chances."""

SCENE_SIZES: list[tuple[int, int]] = [(64, 48), (96, 64), (120, 80), (80, 80), (48, 96), (128, 72)]
"""Sizes of the input images; call ``i`` uses image ``i % len(SCENE_SIZES)``."""

CONN_ENV = "AIRFLOW_CONN_VYRO_DEFAULT"

TOKEN = "soak-token-8e2a61f4d3"
"""The API token of the emulator the soak starts itself."""


@dataclass
class SoakReport:
    """The figures of one soak, and every invariant that failed (``problems``)."""

    calls: int
    concurrency: int
    fault_rate: float
    succeeded: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    max_in_flight: int = 0
    corrupt_outputs: int = 0
    invalid_results: int = 0
    rerun_items: int = 0
    rerun_requests: int = 0
    rerun_skipped: int = 0
    prepare_elapsed: float = 0.0
    elapsed: float = 0.0
    rerun_elapsed: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def faults_injected(self) -> int:
        """Faults the emulator injected (from its stats)."""
        return sum(self.faults.values())

    @property
    def retries(self) -> int:
        """Requests beyond one per call."""
        return self.requests - self.calls

    @property
    def ok(self) -> bool:
        """Every invariant held."""
        return not self.problems

    def format(self) -> str:
        """Format the figures as a small table, then the problems if any."""
        failures = ", ".join(f"{name}: {n}" for name, n in sorted(self.failures.items())) or "none"
        faults = ", ".join(f"{kind}: {n}" for kind, n in sorted(self.faults.items())) or "none"
        rate = self.faults_injected / self.requests if self.requests else 0.0
        rows = [
            ("calls", f"{self.calls} (concurrency {self.concurrency}, one shared hook)"),
            ("succeeded (valid PNG)", str(self.succeeded)),
            ("failed (VyroError)", f"{sum(self.failures.values())} ({failures})"),
            ("requests seen by the emulator", f"{self.requests} (max {self.max_in_flight} in flight)"),
            ("faults injected", f"{self.faults_injected} = {rate:.1%} of requests ({faults})"),
            ("retries (requests - calls)", str(self.retries)),
            ("corrupt outputs", f"{self.corrupt_outputs} (must be 0)"),
            ("results not matching their PNG", f"{self.invalid_results} (must be 0)"),
            (
                "re-run with overwrite=False",
                f"{self.rerun_items} items, {self.rerun_skipped} skipped, "
                f"{self.rerun_requests} requests (must be 0)",
            ),
            (
                "elapsed",
                f"{self.elapsed:.2f} s ({self.calls / self.elapsed:.0f} calls/s; prepare "
                f"{self.prepare_elapsed:.2f} s), re-run {self.rerun_elapsed:.2f} s"
                if self.elapsed
                else "-",
            ),
            ("verdict", "PASS" if self.ok else f"FAIL ({len(self.problems)} problems)"),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"{name:<{width}}  {value}" for name, value in rows]
        lines += [f"  problem: {problem}" for problem in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"  ... and {len(self.problems) - 50} more problems")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Outcome:
    index: int
    result: InpaintXCom | None = None
    error: BaseException | None = None


def _prepare(spec: dict[str, str], *, overwrite: bool) -> CheckedItem:
    from airflow_provider_vyro import item
    from airflow_provider_vyro.catalogue import INPAINT

    return item.check(item.resolve(INPAINT, spec), overwrite=overwrite)


def run_soak(
    workdir: Path,
    *,
    calls: int = 1000,
    rate: float = 0.1,
    concurrency: int = 8,
    seed: int = 1,
    max_retries: int = 5,
    backoff_factor: float = 0.01,
    emulator: EmulatorAdmin | None = None,
) -> SoakReport:
    """
    Run the soak and check its invariants; the problems found are in ``report.problems``.

    Sets ``AIRFLOW_CONN_VYRO_DEFAULT`` for the duration of the run (restored afterwards); Airflow
    must be importable, with ``AIRFLOW_HOME`` already pointing at a scratch folder.

    :param workdir: an empty folder for the inputs (``in/``) and the outputs (``out/``).
    :param calls: inpaint calls to make.
    :param rate: probability of a random fault per request.
    :param concurrency: threads sharing the hook (and its connection pool).
    :param seed: seed of the emulator's random faults.
    :param max_retries: the connection's ``max_retries``.
    :param backoff_factor: the connection's ``backoff_factor`` (seconds).
    :param emulator: a running emulator to use (it is reset); ``None`` starts one in a child process.
    """
    if emulator is None:
        with EmulatorProcess(TOKEN) as own:
            return run_soak(
                workdir,
                calls=calls,
                rate=rate,
                concurrency=concurrency,
                seed=seed,
                max_retries=max_retries,
                backoff_factor=backoff_factor,
                emulator=own,
            )
    previous = os.environ.get(CONN_ENV)
    os.environ[CONN_ENV] = emulator.connection_json(
        max_retries=max_retries, backoff_factor=backoff_factor, timeout=30
    )
    try:
        return _soak(workdir, emulator, calls=calls, rate=rate, concurrency=concurrency, seed=seed)
    finally:
        if previous is None:
            os.environ.pop(CONN_ENV, None)
        else:
            os.environ[CONN_ENV] = previous


def _soak(
    workdir: Path, emulator: EmulatorAdmin, *, calls: int, rate: float, concurrency: int, seed: int
) -> SoakReport:
    from airflow_provider_vyro.hooks.vyro import VyroHook
    from devtools.scenes import write_scenes

    report = SoakReport(calls=calls, concurrency=concurrency, fault_rate=rate)
    scenes = write_scenes(workdir / "in", SCENE_SIZES)
    out = workdir / "out"
    outputs = [out / f"{i % 10}" / f"call{i:05d}.png" for i in range(calls)]
    sizes = [scenes[i % len(scenes)][2] for i in range(calls)]
    specs = [
        {
            "image_path": str(scenes[i % len(scenes)][0]),
            "mask_path": str(scenes[i % len(scenes)][1]),
            "prompt": f"soak call {i}: a bunch of flowers",
            "output_path": str(outputs[i]),
        }
        for i in range(calls)
    ]

    emulator.reset()
    random_faults = {"rate": rate, "kinds": list(FAULT_KINDS), "seed": seed}
    emulator.set_faults(random_faults=random_faults)
    hook = VyroHook(pool_maxsize=concurrency)
    try:
        started = time.perf_counter()
        prepared = [_prepare(spec, overwrite=True) for spec in specs]
        report.prepare_elapsed = time.perf_counter() - started
        outcomes = _run_all(prepared, hook, concurrency)
        report.elapsed = time.perf_counter() - started
    finally:
        hook.close()
    stats = emulator.stats()
    report.requests = int(stats["requests"])
    report.by_status = {str(k): int(v) for k, v in stats["by_status"].items()}
    report.faults = {str(k): int(v) for k, v in stats["faults"].items()}
    report.max_in_flight = int(stats.get("max_in_flight", 0))

    succeeded = _check_outcomes(report, outcomes, outputs, sizes)
    _check_output_folder(report, out, {outputs[i] for i in succeeded})
    _check_counters(report)
    _rerun(report, emulator, random_faults, specs, {i: outcomes[i] for i in succeeded}, concurrency)
    return report


def _run_all(prepared: list[CheckedItem], hook: VyroHook, concurrency: int) -> list[_Outcome]:
    from airflow_provider_vyro import item

    def one(index: int) -> _Outcome:
        outcome = item.run(prepared[index], hook)
        if outcome.record is not None:
            return _Outcome(index, result=cast("InpaintXCom", outcome.record))
        return _Outcome(index, error=outcome.error or RuntimeError(f"item {index} {outcome.status}"))

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="soak") as pool:
        return list(pool.map(one, range(len(prepared))))


def _check_outcomes(
    report: SoakReport, outcomes: list[_Outcome], outputs: list[Path], sizes: list[tuple[int, int]]
) -> list[int]:
    """Check each call's result against its file; return the indexes of the successful calls."""
    from airflow_provider_vyro.exceptions import VyroError

    succeeded = []
    for outcome in outcomes:
        path = outputs[outcome.index]
        if outcome.error is not None:
            if isinstance(outcome.error, VyroError):
                report.failures[type(outcome.error).__name__] += 1
            else:
                report.failures[f"undocumented {type(outcome.error).__name__}"] += 1
                report.problems.append(f"call {outcome.index}: undocumented error {outcome.error!r}")
            if path.exists():
                report.corrupt_outputs += 1
                report.problems.append(f"call {outcome.index} failed but {path} exists")
            continue
        assert outcome.result is not None
        problem = _result_problem(outcome.result, path, sizes[outcome.index])
        if problem:
            report.invalid_results += 1
            report.problems.append(f"call {outcome.index}: {problem}")
            continue
        report.succeeded += 1
        succeeded.append(outcome.index)
    return succeeded


def _result_problem(result: InpaintXCom, path: Path, size: tuple[int, int]) -> str | None:
    if result["output_path"] != str(path):
        return f"output_path {result['output_path']!r} is not {str(path)!r}"
    if result["skipped"]:
        return "skipped although overwrite=True"
    data = path.read_bytes() if path.is_file() else None
    if data is None:
        return f"{path} is missing"
    problem = png_problem(data, size)
    if problem:
        return f"{path}: {problem}"
    if hashlib.sha256(data).hexdigest() != result["sha256"]:
        return f"{path}: sha256 differs from the returned dict"
    if len(data) != result["bytes"] or (result["width"], result["height"]) != size:
        return f"{path}: bytes/width/height differ from the returned dict"
    return None


def png_problem(data: bytes, size: tuple[int, int] | None = None) -> str | None:
    """
    Tell what is wrong with ``data`` as a complete PNG image, or ``None`` if nothing is.

    :param data: the file's bytes.
    :param size: the expected width and height, if known.
    """
    import io

    from PIL import Image

    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "does not start with the PNG signature"
    if not data.endswith(b"IEND\xaeB`\x82"):
        return "does not end with the IEND chunk"
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.load()
            actual = image.size
    except Exception as err:
        return f"does not decode: {err}"
    if size is not None and actual != size:
        return f"is {actual[0]}x{actual[1]}, expected {size[0]}x{size[1]}"
    return None


def _check_output_folder(report: SoakReport, out: Path, expected: set[Path]) -> None:
    """Every file under ``out`` must be the complete PNG of a successful call; anything else is corrupt."""
    found = {path for path in out.rglob("*") if path.is_file()} if out.exists() else set()
    for path in sorted(found - expected):
        report.corrupt_outputs += 1
        kind = "temporary file" if path.name.startswith(".") or path.suffix == ".tmp" else "stray file"
        report.problems.append(f"{kind} left in the output folder: {path}")
    for path in sorted(found & expected):
        problem = png_problem(path.read_bytes())
        if problem:
            report.corrupt_outputs += 1
            report.problems.append(f"corrupt output {path}: {problem}")
    for path in sorted(expected - found):
        report.problems.append(f"output of a successful call is missing: {path}")


def _check_counters(report: SoakReport) -> None:
    """Check that the emulator's counters agree with what the client saw."""
    complete_200s = report.by_status.get("200", 0) - report.faults.get("truncate", 0)
    if complete_200s != report.succeeded:
        report.problems.append(
            f"the emulator sent {complete_200s} complete PNGs for {report.succeeded} successful calls "
            "(a call was inpainted twice, or a PNG was lost)"
        )
    expected_requests = report.succeeded + report.faults_injected
    if report.requests != expected_requests:
        report.problems.append(
            f"{report.requests} requests, expected successes + faults = {expected_requests} "
            "(each fault should cost exactly one retry)"
        )
    for status in ("500", "429"):
        if report.by_status.get(status, 0) != report.faults.get(status, 0):
            answered, injected = report.by_status.get(status, 0), report.faults.get(status, 0)
            report.problems.append(f"{answered} answers {status} but {injected} injected")
    unexpected = set(report.by_status) - {"200", "500", "429"}
    if unexpected:
        report.problems.append(f"unexpected statuses from the emulator: {sorted(unexpected)}")
    if report.failures.total() != report.calls - report.succeeded - report.invalid_results:
        report.problems.append("calls, successes and failures do not add up")


def _rerun(
    report: SoakReport,
    emulator: EmulatorAdmin,
    random_faults: dict[str, Any],
    specs: list[dict[str, str]],
    first: dict[int, _Outcome],
    concurrency: int,
) -> None:
    """Re-run the successful calls with ``overwrite=False``: no request, every result skipped."""
    from airflow_provider_vyro.hooks.vyro import VyroHook

    indexes = sorted(first)
    report.rerun_items = len(indexes)
    stamps = {i: _stamp(specs[i]["output_path"]) for i in indexes}
    emulator.reset()
    emulator.set_faults(random_faults=random_faults)
    hook = VyroHook(pool_maxsize=concurrency)
    try:
        started = time.perf_counter()
        prepared = [_prepare(specs[i], overwrite=False) for i in indexes]
        outcomes = _run_all(prepared, hook, concurrency)
        report.rerun_elapsed = time.perf_counter() - started
    finally:
        hook.close()
    report.rerun_requests = int(emulator.stats()["requests"])
    if report.rerun_requests:
        report.problems.append(f"the overwrite=False re-run sent {report.rerun_requests} requests")
    for index, outcome in zip(indexes, outcomes, strict=True):
        if outcome.error is not None or outcome.result is None:
            report.problems.append(f"re-run of call {index} failed: {outcome.error!r}")
            continue
        again, before = outcome.result, first[index].result
        assert before is not None
        if not again["skipped"]:
            report.problems.append(f"re-run of call {index} not skipped")
            continue
        report.rerun_skipped += 1
        if {**again, "skipped": False, "attempts": before["attempts"]} != before:
            report.problems.append(f"re-run of call {index} reports {again}, first run {before}")
        if _stamp(specs[index]["output_path"]) != stamps[index]:
            report.problems.append(f"re-run of call {index} rewrote {specs[index]['output_path']}")


def _stamp(path: str) -> tuple[int, int, int]:
    status = os.stat(path)
    return status.st_ino, status.st_size, status.st_mtime_ns


def main(argv: list[str] | None = None) -> int:
    """Run the soak from the command line; exit status 1 if an invariant failed."""
    parser = argparse.ArgumentParser(prog="python -m devtools.soak", description=__doc__.split("\n")[1])
    parser.add_argument("--calls", type=int, default=1000, help="inpaint calls (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=0.1, help="fault probability (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=8, help="threads (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the faults (default: %(default)s)")
    parser.add_argument("--max-retries", type=int, default=5, help="hook retries (default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)

    from devtools.airflow_runner import use_scratch_airflow_home

    # ERROR: the hook's per-retry warnings (a hundred or so) would drown the figures.
    home = use_scratch_airflow_home("vyro-soak-", log_level="ERROR")
    scratch = home.parent
    print(
        f"soak: {args.calls} calls, concurrency {args.concurrency}, {args.rate:.0%} random faults "
        f"({', '.join(map(str, FAULT_KINDS))}; seed {args.seed}), max_retries {args.max_retries}, "
        "backoff_factor 0.01 s",
        flush=True,
    )
    try:
        report = run_soak(
            scratch / "work",
            calls=args.calls,
            rate=args.rate,
            concurrency=args.concurrency,
            seed=args.seed,
            max_retries=args.max_retries,
        )
    finally:
        if args.keep:
            print(f"work folder kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(report.format())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
