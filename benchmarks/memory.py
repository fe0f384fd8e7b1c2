"""
Memory per image size: peak RSS growth of one ``InpaintOperator`` run (local file to local file).

For an 8, 32 and 64 MiB input (PNG noise, stored uncompressed so the file has the size asked
for; its mask is of the same size in pixels, with a small hole so that the emulator's work stays
small), a fresh child process imports everything and runs a 64x64 image through the operator
first, so that imports and first-use caches are in its baseline; then it takes the peak RSS,
runs ``InpaintOperator(...).execute({})`` on the big image and takes the peak RSS again. Growth /
input size is the figure: the operator streams the upload from the file and the answer to the
file, so it should stay far below the image's size. The emulator runs in its own process, so its
memory is not counted.

The peak is Linux's ``VmHWM``, reset to the current RSS just before the run (``echo 5 >
/proc/self/clear_refs``), rather than ``ru_maxrss`` alone: a process's ``ru_maxrss`` starts at the
RSS of the process that spawned it (Linux carries the high-water mark across ``exec``), so a
child of a parent bigger than itself would read no growth at all. ``ru_maxrss`` is still
reported, and used where ``clear_refs`` is not available.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_vyro.emulator import EmulatorProcess
from benchmarks._support import REPO, TOKEN, Figure, fmt_seconds, reset_peak, vm_hwm

if TYPE_CHECKING:
    from pathlib import Path

MIB = 1024 * 1024
SIZES_MIB = (8, 32, 64)
TARGET = 0.5
TARGET_AT_MIB = 64


@dataclass(frozen=True)
class MemoryRun:
    """What one child process measured, in bytes and seconds."""

    input_bytes: int
    width: int
    height: int
    rss_before: int
    peak_before: int
    peak_after: int
    maxrss_before: int
    maxrss_after: int
    method: str
    output_bytes: int
    elapsed: float

    @property
    def growth(self) -> int:
        """Peak RSS growth of the run: peak after - peak before (reset to the RSS before)."""
        return self.peak_after - self.peak_before

    @property
    def ratio(self) -> float:
        """Growth / input size."""
        return self.growth / self.input_bytes


def write_noise_png(path: Path, target_bytes: int) -> tuple[int, int]:
    """
    Write an RGB noise PNG of about ``target_bytes`` (stored, not compressed) and return its size.

    :param path: where to write it.
    :param target_bytes: the file size to aim at (3 bytes a pixel, plus a filter byte a row).
    """
    from PIL import Image

    side = int(math.sqrt(target_bytes / 3))
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    image.save(path, format="PNG", compress_level=0)
    return side, side


def write_mask(path: Path, size: tuple[int, int]) -> None:
    """Write a mask of ``size`` with a small white rectangle in the middle."""
    from PIL import Image, ImageDraw

    width, height = size
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(
        (width // 2 - 32, height // 2 - 32, width // 2 + 32, height // 2 + 32), fill=255
    )
    mask.save(path, format="PNG")


def _maxrss() -> int:
    """This process's peak RSS in bytes (Linux reports KiB)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(image: str, mask: str, warm_image: str, warm_mask: str, out_dir: str) -> MemoryRun:
    """In the child: warm up with a small image, then measure one operator run on the big one."""
    import gc
    import time

    from airflow_provider_vyro.operators.inpaint import InpaintOperator

    def inpaint(task_id: str, image: str, mask: str, prompt: str, output: str) -> InpaintOperator:
        return InpaintOperator(
            task_id=task_id,
            image_path=image,
            mask_path=mask,
            prompt=prompt,
            output_path=f"{out_dir}/{output}",
        )

    inpaint("warmup", warm_image, warm_mask, "warm-up", "warm.png").execute({})
    operator = inpaint("measure", image, mask, "a field of poppies", "out.png")
    gc.collect()
    rss_before, maxrss_before = _rss(), _maxrss()
    hwm = reset_peak()
    peak_before = vm_hwm() if hwm else maxrss_before
    started = time.perf_counter()
    result = operator.execute({})
    elapsed = time.perf_counter() - started
    maxrss_after = _maxrss()
    return MemoryRun(
        input_bytes=os.path.getsize(image),
        width=result["width"],
        height=result["height"],
        rss_before=rss_before,
        peak_before=peak_before,
        peak_after=vm_hwm() if hwm else maxrss_after,
        maxrss_before=maxrss_before,
        maxrss_after=maxrss_after,
        method="VmHWM" if hwm else "ru_maxrss",
        output_bytes=result["bytes"],
        elapsed=elapsed,
    )


def measure(folder: Path, sizes_mib: tuple[int, ...] = SIZES_MIB) -> dict[int, MemoryRun | str]:
    """Write the images, then measure each size in a fresh child process; errors are kept as text."""
    from devtools.scenes import write_scenes

    folder.mkdir(parents=True, exist_ok=True)
    (warm_image, warm_mask, _), *_ = write_scenes(folder / "warm", [(64, 64)])
    runs: dict[int, MemoryRun | str] = {}
    with EmulatorProcess(TOKEN) as emulator:
        env = {
            **os.environ,
            "AIRFLOW_CONN_VYRO_DEFAULT": emulator.connection_json(
                timeout=300, max_retries=1, backoff_factor=0.01
            ),
        }
        for mib in sizes_mib:
            image, mask = folder / f"noise_{mib}mib.png", folder / f"noise_{mib}mib_mask.png"
            write_mask(mask, write_noise_png(image, mib * MIB))
            out = folder / f"out_{mib}"
            out.mkdir(exist_ok=True)
            command = [
                sys.executable,
                "-m",
                "benchmarks.memory",
                "--child",
                str(image),
                str(mask),
                str(warm_image),
                str(warm_mask),
                str(out),
            ]
            done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, check=False)
            lines = done.stdout.strip().splitlines()
            if done.returncode != 0 or not lines:
                runs[mib] = f"child failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}"
            else:
                runs[mib] = MemoryRun(**json.loads(lines[-1]))
            image.unlink()
            for produced in out.iterdir():
                produced.unlink()
    return runs


def report(runs: dict[int, MemoryRun | str]) -> list[Figure]:
    """Print one line per size and return the figure at 64 MiB."""
    print("memory: peak RSS growth of one InpaintOperator run (local -> local), each size in a fresh process")
    for mib, run in runs.items():
        if isinstance(run, str):
            print(f"  {mib:>3} MiB: ERROR {run}")
            continue
        print(
            f"  {mib:>3} MiB input ({run.width}x{run.height}, {run.input_bytes / MIB:.1f} MiB): "
            f"RSS {run.rss_before / MIB:.0f} MiB before, {run.method} peak {run.peak_after / MIB:.0f} MiB "
            f"-> growth {run.growth / MIB:.1f} MiB = {run.ratio:.2f}x input "
            f"(ru_maxrss {run.maxrss_before / MIB:.0f} -> {run.maxrss_after / MIB:.0f} MiB); "
            f"output {run.output_bytes / MIB:.1f} MiB in {fmt_seconds(run.elapsed)}"
        )
    figures = []
    for mib, run in runs.items():
        has_target = mib == TARGET_AT_MIB
        figures.append(
            Figure(
                f"memory: peak RSS growth / input size, {mib} MiB image",
                f"{run.ratio:.2f}× ({run.growth / MIB:.1f} MiB)" if isinstance(run, MemoryRun) else "-",
                f"≤ {TARGET:.1f}×" if has_target else "-",
                run.ratio <= TARGET if isinstance(run, MemoryRun) and has_target else None,
            )
        )
    return figures


def run(folder: Path) -> list[Figure]:
    """Measure in ``folder`` (scratch), print the details, return the figures."""
    return report(measure(folder))


def main(argv: list[str] | None = None) -> int:
    """``--child IMAGE MASK WARM_IMAGE WARM_MASK OUT_DIR``: measure one run and print it as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    parser.add_argument("--child", nargs=5, metavar="PATH", required=True)
    args = parser.parse_args(argv)
    run = child(*args.child)
    print(json.dumps(run.__dict__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
