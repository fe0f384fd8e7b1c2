"""
What the soak and the benchmarks share: a scratch Airflow home, the emulator in its own process,
the ``vyro_default`` connection as an environment variable, and test images.

Nothing here imports Airflow at module level: an entry point calls
:func:`use_scratch_airflow_home` first, so Airflow never reads or writes the user's home.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-3b9d41c07e"
"""The API token the emulator accepts in the soak and the benchmarks."""

_LISTENING = re.compile(r"vyro-emulator listening on (\S+)")
_START_TIMEOUT = 30.0
_ADMIN_TIMEOUT = 10.0


def use_scratch_airflow_home(prefix: str = "vyro-bench-", *, log_level: str = "WARNING") -> Path:
    """
    Point ``AIRFLOW_HOME`` at a fresh temporary folder, turn the example DAGs off, set the log level.

    Call it before anything imports Airflow in this process; child processes inherit it.

    :param prefix: prefix of the temporary folder's name.
    :param log_level: Airflow's logging level in this process and its children (the hook logs
        one INFO line per request, and a WARNING per retry).
    :return: the scratch ``AIRFLOW_HOME`` (delete its parent when done).
    """
    home = Path(tempfile.mkdtemp(prefix=prefix)) / "airflow-home"
    home.mkdir()
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = log_level
    os.environ.setdefault("NO_PROXY", "*")
    os.environ.setdefault("no_proxy", "*")
    return home


def scene_png(size: tuple[int, int], seed: int = 0) -> tuple[bytes, bytes]:
    """
    Return an image (a gradient with a disc) and a mask over the disc, both PNG bytes.

    :param size: width and height in pixels.
    :param seed: varies the colours, so that images of one size differ.
    """
    from PIL import Image, ImageDraw

    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    tint = Image.new("RGB", size, ((37 * seed) % 256, (91 * seed + 60) % 256, 180))
    image = Image.blend(image, tint, 0.5)
    box = (width // 3, height // 3, 2 * width // 3, 2 * height // 3)
    ImageDraw.Draw(image).ellipse(box, fill=(220, 20, 30))
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=255)
    return _encode(image), _encode(mask)


def write_scenes(folder: Path, sizes: list[tuple[int, int]]) -> list[tuple[Path, Path, tuple[int, int]]]:
    """
    Write one image and mask per size into ``folder``.

    :param folder: where to write (created).
    :param sizes: the sizes of the images.
    :return: ``(image path, mask path, size)`` per image.
    """
    folder.mkdir(parents=True, exist_ok=True)
    scenes = []
    for index, size in enumerate(sizes):
        image, mask = scene_png(size, seed=index)
        image_path = folder / f"scene{index}.png"
        mask_path = folder / f"scene{index}_mask.png"
        image_path.write_bytes(image)
        mask_path.write_bytes(mask)
        scenes.append((image_path, mask_path, size))
    return scenes


def _encode(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def fmt_seconds(seconds: float) -> str:
    """Format a duration for the tables: ``812 µs``, ``12.3 ms`` or ``4.56 s``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


@dataclass(frozen=True)
class Figure:
    """
    One line of the final table: a ratio measured in this run, its target and the verdict.

    :param name: what was measured.
    :param measured: the measured ratio, formatted, with what it is made of.
    :param target: the target, formatted (``≤ 1.05×``); ``-`` for a figure shown for context.
    :param met: whether the target was met; ``None`` if it could not be measured or has none.
    """

    name: str
    measured: str
    target: str
    met: bool | None

    @property
    def verdict(self) -> str:
        """``met``, ``MISSED``, ``not measured``, or ``-`` without a target."""
        if self.target == "-":
            return "-"
        return "not measured" if self.met is None else "met" if self.met else "MISSED"


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Format rows of strings as a plain-text table; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
