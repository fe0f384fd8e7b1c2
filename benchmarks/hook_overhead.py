"""
The hook's overhead: ``VyroHook.inpaint`` against a bare ``requests`` call doing the same request.

Both send the same multipart request (fields ``prompt`` and ``model_version``, files ``image``
and ``mask`` with file names and content types, header ``bearer``) over one kept-alive session
to the emulator, which runs in its own process with no latency, so its CPU does not compete
with the client for the GIL. Calls are interleaved (hook, bare, bare, hook, ...) so that drift
in the machine's speed touches both alike. The image is small (256x256), so that what is
measured is the client's work, not the emulator's.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

from airflow_provider_vyro.emulator import EmulatorProcess
from benchmarks._support import TOKEN, Figure, fmt_seconds
from devtools.scenes import scene_png

TARGET = 1.05
CALLS = 200
WARMUP = 10
SIZE = (256, 256)
PROMPT = "a hand full of flower petals"


@dataclass(frozen=True)
class HookOverhead:
    """Per-call times of the hook and of the bare call, in seconds."""

    hook: list[float]
    bare: list[float]
    hook_cpu: list[float]
    bare_cpu: list[float]
    image_bytes: int
    answer_bytes: int

    @property
    def ratio(self) -> float:
        """Median hook call / median bare call."""
        return statistics.median(self.hook) / statistics.median(self.bare)

    @property
    def cpu_ratio(self) -> float:
        """Mean client CPU of a hook call / of a bare call (the emulator's CPU is not in either)."""
        return statistics.fmean(self.hook_cpu) / statistics.fmean(self.bare_cpu)

    @property
    def mean_ratio(self) -> float:
        """Mean hook call / mean bare call."""
        return statistics.fmean(self.hook) / statistics.fmean(self.bare)

    def format(self) -> str:
        """A few lines with the medians, means and the ratios."""
        lines = [
            f"hook overhead: {len(self.hook)} calls each, interleaved; image {SIZE[0]}x{SIZE[1]} "
            f"PNG {self.image_bytes} B, answer {self.answer_bytes} B; emulator in its own process",
        ]
        for name, times in (("VyroHook.inpaint", self.hook), ("bare requests.post", self.bare)):
            lines.append(
                f"  {name:<19} median {fmt_seconds(statistics.median(times)):>9}  "
                f"mean {fmt_seconds(statistics.fmean(times)):>9}  "
                f"p90 {fmt_seconds(statistics.quantiles(times, n=10)[-1]):>9}"
            )
        extra = statistics.median(self.hook) - statistics.median(self.bare)
        lines.append(
            f"  ratio hook/bare: median {self.ratio:.3f}x, mean {self.mean_ratio:.3f}x "
            f"({fmt_seconds(extra)} more per call at the median)"
        )
        hook_cpu, bare_cpu = statistics.fmean(self.hook_cpu), statistics.fmean(self.bare_cpu)
        lines.append(
            f"  client CPU per call: hook {fmt_seconds(hook_cpu)}, bare {fmt_seconds(bare_cpu)} "
            f"(+{fmt_seconds(hook_cpu - bare_cpu)}, {self.cpu_ratio:.2f}x)"
        )
        return "\n".join(lines)


def measure(calls: int = CALLS, warmup: int = WARMUP) -> HookOverhead:
    """
    Time ``calls`` hook calls and ``calls`` bare calls, interleaved, after ``warmup`` of each.

    Sets ``AIRFLOW_CONN_VYRO_DEFAULT`` to the emulator it starts.
    """
    import requests

    from airflow_provider_vyro.hooks.vyro import INPAINT_ENDPOINT, VyroHook

    image, mask = scene_png(SIZE)
    with EmulatorProcess(TOKEN, latency=0.0) as emulator:
        os.environ["AIRFLOW_CONN_VYRO_DEFAULT"] = emulator.connection_json(timeout=30)
        url = emulator.url + INPAINT_ENDPOINT
        hook = VyroHook(pool_maxsize=1)
        session = requests.Session()
        session.headers.update({"bearer": TOKEN})

        def with_hook() -> bytes:
            return hook.inpaint(image=image, mask=mask, prompt=PROMPT, model_version="1")

        def bare() -> bytes:
            response = session.post(
                url,
                data={"prompt": PROMPT, "model_version": "1"},
                files={"image": ("image.png", image, "image/png"), "mask": ("mask.png", mask, "image/png")},
                headers={"Accept": "image/png"},
                timeout=(10, 30),
            )
            response.raise_for_status()
            return response.content

        try:
            for _ in range(warmup):
                answer = with_hook()
                if bare() != answer:
                    raise RuntimeError("the hook and the bare call got different answers")
            hook_times: list[float] = []
            bare_times: list[float] = []
            hook_cpu: list[float] = []
            bare_cpu: list[float] = []
            for i in range(calls):
                order = ((with_hook, hook_times, hook_cpu), (bare, bare_times, bare_cpu))
                for call, times, cpu in order if i % 2 == 0 else reversed(order):
                    started, cpu_started = time.perf_counter(), time.process_time()
                    call()
                    times.append(time.perf_counter() - started)
                    cpu.append(time.process_time() - cpu_started)
        finally:
            hook.close()
            session.close()
    return HookOverhead(hook_times, bare_times, hook_cpu, bare_cpu, len(image), len(answer))


def run() -> list[Figure]:
    """Measure, print the details and return the figure for the final table."""
    result = measure()
    print(result.format(), flush=True)
    extra_cpu = statistics.fmean(result.hook_cpu) - statistics.fmean(result.bare_cpu)
    return [
        Figure(
            "hook overhead: VyroHook.inpaint / bare requests.post (median per call)",
            f"{result.ratio:.3f}× (mean {result.mean_ratio:.3f}×)",
            f"≤ {TARGET:.2f}×",
            result.ratio <= TARGET,
        ),
        Figure(
            "hook overhead: client CPU per call, hook / bare (context)",
            f"{result.cpu_ratio:.2f}× (+{fmt_seconds(extra_cpu)})",
            "-",
            None,
        ),
    ]
