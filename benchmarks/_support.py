"""
What the soak and the benchmarks share: a scratch Airflow home, the emulator in its own process,
the ``vyro_default`` connection as an environment variable, and test images.

Nothing here imports Airflow at module level: an entry point calls
:func:`use_scratch_airflow_home` first, so Airflow never reads or writes the user's home.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

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


def conn_json(url: str, token: str = TOKEN, **extra: Any) -> str:
    """
    Return an ``AIRFLOW_CONN_*`` value for a vyro connection to ``url``.

    :param url: base URL of the API (the emulator's).
    :param token: the API token.
    :param extra: connection extras (``timeout``, ``max_retries``, ``backoff_factor``).
    """
    return json.dumps({"conn_type": "vyro", "host": url, "password": token, "extra": extra})


class EmulatorProcess:
    """
    The emulator CLI in a child process, so that its CPU and memory are not the client's.

    ``with EmulatorProcess(latency=0.1) as emulator: ...`` starts ``python -m
    airflow_provider_vyro.emulator --port 0`` and waits for its ``listening on`` line;
    :meth:`stats`, :meth:`set_faults` and :meth:`reset` use its admin endpoints.

    :param token: the token it accepts.
    :param latency: seconds added before every answer.
    """

    def __init__(self, token: str = TOKEN, *, latency: float = 0.0) -> None:
        self.token = token
        self.latency = latency
        self._process: subprocess.Popen[str] | None = None
        self._url: str | None = None
        self._output: list[str] = []

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._url is None:
            raise RuntimeError("the emulator is not running")
        return self._url

    @property
    def pid(self) -> int:
        """The emulator's process id."""
        if self._process is None:
            raise RuntimeError("the emulator is not running")
        return self._process.pid

    def start(self) -> EmulatorProcess:
        """Start the process and return once it accepts requests."""
        command = [
            sys.executable,
            "-m",
            "airflow_provider_vyro.emulator",
            "--port",
            "0",
            "--token",
            self.token,
            "--latency",
            str(self.latency),
        ]
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
        )
        self._process = process
        found: list[str] = []

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                self._output.append(line)
                match = _LISTENING.search(line)
                if match and not found:
                    found.append(match.group(1))

        threading.Thread(target=read, name="emulator-output", daemon=True).start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not found:
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator did not start:\n" + "".join(self._output))
            time.sleep(0.02)
        self._url = found[0]
        return self

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and wait for it (idempotent)."""
        process, self._process, self._url = self._process, None, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        """Return ``GET /_emulator/stats``."""
        return self._admin("GET", "/_emulator/stats")

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        """Replace the given fault knobs (``latency``, ``script``, ``random_faults``, ``retry_after``)."""
        return self._admin("POST", "/_emulator/faults", knobs)

    def reset(self) -> None:
        """Clear the stats and every fault (latency included)."""
        self._admin("POST", "/_emulator/reset", {})

    def _admin(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=_ADMIN_TIMEOUT) as response:
                answer: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as exc:
            raise ValueError(
                f"emulator rejected {method} {path}: {exc.read().decode(errors='replace')}"
            ) from None
        return answer


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
