"""A local emulator of Vyro's Imagine API (v1 inpaint, v2 image endpoints), for tests, demos and benchmarks.

It is a standalone fake of the HTTP API (it imports nothing from the hook or the operators; it
reads the endpoint catalogue, pure data, for paths, fields and allowed values):
``vyro-emulator --port 8765 --token TOKEN`` on the command line, or
``with EmulatorServer(token="t") as emulator: ...`` in Python (a thread), or
``with EmulatorProcess(token="t") as emulator: ...`` (a child process).
"""

from __future__ import annotations

from airflow_provider_vyro.emulator.admin import EmulatorAdmin, connection_json
from airflow_provider_vyro.emulator.app import INPAINT_PATH, create_app
from airflow_provider_vyro.emulator.faults import Fault, FaultConfig, FaultInjector, RandomFaults
from airflow_provider_vyro.emulator.process import EmulatorProcess
from airflow_provider_vyro.emulator.server import EmulatorServer

__all__ = [
    "INPAINT_PATH",
    "EmulatorAdmin",
    "EmulatorProcess",
    "EmulatorServer",
    "Fault",
    "FaultConfig",
    "FaultInjector",
    "RandomFaults",
    "connection_json",
    "create_app",
]
