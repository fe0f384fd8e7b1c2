"""The emulator's command line in a child process, so its CPU and memory are not the caller's."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from typing import Self

from airflow_provider_vyro.emulator.admin import EmulatorAdmin

_LISTENING = re.compile(r"vyro-emulator listening on (\S+)")
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0


class EmulatorProcess(EmulatorAdmin):
    """
    ``python -m airflow_provider_vyro.emulator --port 0`` in a child process.

    ``with EmulatorProcess(token="t", latency=0.1) as emulator: ...`` returns once the process
    printed its ``listening on`` line; the admin calls of :class:`EmulatorAdmin` work as for the
    in-thread :class:`~airflow_provider_vyro.emulator.server.EmulatorServer`.

    :param token: the token it accepts.
    :param latency: seconds added before every answer.
    """

    def __init__(self, token: str = "test-token", *, latency: float = 0.0) -> None:
        super().__init__(token)
        self.latency = latency
        self._process: subprocess.Popen[str] | None = None
        self._output: list[str] = []

    @property
    def pid(self) -> int:
        """The emulator's process id."""
        if self._process is None:
            raise RuntimeError("the emulator is not running")
        return self._process.pid

    def start(self) -> Self:
        """Start the process and return once it accepts requests."""
        command = [sys.executable, "-m", "airflow_provider_vyro.emulator", "--port", "0"]
        command += ["--token", self.token, "--latency", str(self.latency)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(_STOP_TIMEOUT)
