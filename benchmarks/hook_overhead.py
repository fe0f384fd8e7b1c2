"""
Cost of one call: ``VyroHook.inpaint``, Vyro's own SDK (``imaginesdk``) and a bare ``requests.post``.

All three start from the same two files (a 256x256 PNG scene and its mask) and end with the
answer's bytes in memory, against :mod:`benchmarks.fast_server` in its own process (a fixed PNG,
no latency, next to no CPU), so what differs is the client's work:

- ``VyroHook.inpaint(image=path, mask=path, ...)``: the provider's hook (checks, retries policy,
  streaming, answer check and hash, a log line per attempt), one kept-alive session;
- ``Imagine(token).in_painting(image_path, mask_path, prompt)``: the SDK reads both files and
  calls module-level ``requests.post`` (a new session, so a new connection, per call: that is
  how the SDK works); its base URL is a private class attribute, overridden here only;
- bare: read both files, ``session.post`` of the same multipart form on one kept-alive session.

Calls are interleaved, cycling through the six orders of the three clients, so drift in the
machine's speed touches all alike. Figures: median wall time per call, and client CPU per call
(``time.process_time``, the process's CPU over all threads; the server's is not in it).
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmarks._support import TOKEN, Figure, fmt_seconds
from benchmarks.fast_server import FastServerProcess
from devtools.scenes import write_scenes

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

TARGET_CPU = 1.10
TARGET_WALL = 1.05
CALLS = 400
WARMUP = 20
SIZE = (256, 256)
PROMPT = "a hand full of flower petals"
SDK_BASE_ATTRIBUTE = "_RequestClient__base_url"
HOOK, SDK, BARE = "VyroHook.inpaint", "imaginesdk in_painting", "bare requests.post"


@dataclass(frozen=True)
class ClientTimes:
    """Per-call wall and CPU seconds of one client."""

    wall: list[float]
    cpu: list[float]

    @property
    def median_wall(self) -> float:
        """Median wall seconds per call."""
        return statistics.median(self.wall)

    @property
    def mean_cpu(self) -> float:
        """Mean client CPU seconds per call."""
        return statistics.fmean(self.cpu)


@dataclass(frozen=True)
class HookOverhead:
    """What one interleaved run measured, per client name; ``sdk_error`` if the SDK could not run."""

    clients: dict[str, ClientTimes]
    image_bytes: int
    answer_bytes: int
    sdk_error: str | None = None

    def wall_ratio(self, a: str, b: str) -> float | None:
        """Median wall per call of ``a`` / of ``b``; ``None`` if either was not measured."""
        if a not in self.clients or b not in self.clients:
            return None
        return self.clients[a].median_wall / self.clients[b].median_wall

    def cpu_ratio(self, a: str, b: str) -> float | None:
        """Mean CPU per call of ``a`` / of ``b``; ``None`` if either was not measured."""
        if a not in self.clients or b not in self.clients:
            return None
        return self.clients[a].mean_cpu / self.clients[b].mean_cpu

    def format(self) -> str:
        """A few lines: per client wall (median, p90) and CPU, then the ratios."""
        calls = len(next(iter(self.clients.values())).wall)
        lines = [
            f"one call: {calls} calls per client, interleaved; image {SIZE[0]}x{SIZE[1]} PNG "
            f"{self.image_bytes} B, answer {self.answer_bytes} B; fast server in its own process",
        ]
        for name, times in self.clients.items():
            lines.append(
                f"  {name:<23} wall median {fmt_seconds(times.median_wall):>9}  "
                f"p90 {fmt_seconds(statistics.quantiles(times.wall, n=10)[-1]):>9}  "
                f"CPU mean {fmt_seconds(times.mean_cpu):>9}"
            )
        if self.sdk_error:
            lines.append(f"  imaginesdk not measured: {self.sdk_error}")
        for a, b in ((HOOK, BARE), (HOOK, SDK), (SDK, BARE)):
            wall, cpu = self.wall_ratio(a, b), self.cpu_ratio(a, b)
            if wall is None or cpu is None:
                continue
            extra = self.clients[a].mean_cpu - self.clients[b].mean_cpu
            lines.append(
                f"  {a} / {b}: wall {wall:.3f}x, CPU {cpu:.2f}x ({'+' if extra >= 0 else '-'}"
                f"{fmt_seconds(abs(extra))} CPU per call)"
            )
        return "\n".join(lines)


def _sdk_client(url: str) -> tuple[Callable[[str, str], bytes] | None, str | None]:
    """The SDK's inpaint call pointed at ``url``, or why it cannot be made."""
    try:
        from imagine import Imagine
        from imagine.remote._imagine.http_client import RequestClient
    except ImportError as err:
        return None, f"cannot import imaginesdk ({err}); `make install` installs the bench group"
    if not hasattr(RequestClient, SDK_BASE_ATTRIBUTE):
        return None, f"imaginesdk's RequestClient has no {SDK_BASE_ATTRIBUTE} to point at the server"
    setattr(RequestClient, SDK_BASE_ATTRIBUTE, url + "/v1/imagine/api")
    client = Imagine(TOKEN)

    def call(image: str, mask: str) -> bytes:
        answer: bytes = client.in_painting(image, mask, PROMPT).get_or_throw().bytes
        return answer

    return call, None


def measure(folder: Path, calls: int = CALLS, warmup: int = WARMUP) -> HookOverhead:
    """
    Time ``calls`` calls of each client, interleaved, after ``warmup`` of each.

    Sets ``AIRFLOW_CONN_VYRO_DEFAULT`` to the fast server it starts.

    :param folder: where to write the image and mask (scratch).
    :param calls: calls per client.
    :param warmup: calls per client before timing.
    """
    import requests

    from airflow_provider_vyro.hooks.vyro import INPAINT_ENDPOINT, VyroHook

    ((image_path, mask_path, _),) = write_scenes(folder, [SIZE])
    image, mask = str(image_path), str(mask_path)
    with FastServerProcess(TOKEN, answer_size=SIZE) as server:
        os.environ["AIRFLOW_CONN_VYRO_DEFAULT"] = server.connection_json(timeout=30)
        url = server.url + INPAINT_ENDPOINT
        hook = VyroHook(pool_maxsize=1)
        session = requests.Session()
        session.headers.update({"bearer": TOKEN})

        def with_hook() -> bytes:
            return hook.inpaint(image=image, mask=mask, prompt=PROMPT, model_version="1")

        def bare() -> bytes:
            with open(image, "rb") as image_file, open(mask, "rb") as mask_file:
                image_bytes, mask_bytes = image_file.read(), mask_file.read()
            response = session.post(
                url,
                data={"prompt": PROMPT, "model_version": "1"},
                files={
                    "image": ("image.png", image_bytes, "image/png"),
                    "mask": ("mask.png", mask_bytes, "image/png"),
                },
                headers={"Accept": "image/png"},
                timeout=(10, 30),
            )
            response.raise_for_status()
            return response.content

        sdk_call, sdk_error = _sdk_client(server.url)
        clients: dict[str, Callable[[], bytes]] = {HOOK: with_hook, BARE: bare}
        if sdk_call is not None:
            clients[SDK] = lambda: sdk_call(image, mask)
        try:
            for _ in range(warmup):
                answers = {name: call() for name, call in clients.items()}
                if len(set(answers.values())) != 1:
                    sizes = {name: len(answer) for name, answer in answers.items()}
                    raise RuntimeError(f"the clients got different answers: {sizes}")
            wall: dict[str, list[float]] = {name: [] for name in clients}
            cpu: dict[str, list[float]] = {name: [] for name in clients}
            orders = itertools.cycle(itertools.permutations(clients))
            for _ in range(calls):
                for name in next(orders):
                    call = clients[name]
                    started, cpu_started = time.perf_counter(), time.process_time()
                    call()
                    wall[name].append(time.perf_counter() - started)
                    cpu[name].append(time.process_time() - cpu_started)
        finally:
            hook.close()
            session.close()
    return HookOverhead(
        {name: ClientTimes(wall[name], cpu[name]) for name in (HOOK, SDK, BARE) if name in clients},
        image_bytes=os.path.getsize(image),
        answer_bytes=len(answers[HOOK]),
        sdk_error=sdk_error,
    )


def _ratio_figure(name: str, ratio: float | None, target: float | None, detail: str = "") -> Figure:
    return Figure(
        name,
        "-" if ratio is None else f"{ratio:.3f}×{detail}",
        "-" if target is None else f"≤ {target:.2f}×" if target != 1.0 else "< 1.00×",
        None if ratio is None or target is None else ratio <= target if target != 1.0 else ratio < 1.0,
    )


def report(result: HookOverhead) -> list[Figure]:
    """Print the details and return the figures for the final table."""
    print(result.format(), flush=True)
    extra = result.clients[HOOK].mean_cpu - result.clients[BARE].mean_cpu
    return [
        _ratio_figure(
            "one call: client CPU, VyroHook.inpaint / bare requests.post",
            result.cpu_ratio(HOOK, BARE),
            TARGET_CPU,
            f" (+{fmt_seconds(extra)})",
        ),
        _ratio_figure(
            "one call: wall (median), VyroHook.inpaint / bare requests.post",
            result.wall_ratio(HOOK, BARE),
            TARGET_WALL,
        ),
        _ratio_figure(
            "one call: wall (median), VyroHook.inpaint / imaginesdk", result.wall_ratio(HOOK, SDK), 1.0
        ),
        _ratio_figure(
            "one call: wall (median), imaginesdk / bare (context)", result.wall_ratio(SDK, BARE), None
        ),
        _ratio_figure("one call: client CPU, imaginesdk / bare (context)", result.cpu_ratio(SDK, BARE), None),
    ]


def run(folder: Path) -> list[Figure]:
    """Measure in ``folder`` (scratch), print the details, return the figures."""
    return report(measure(folder))
