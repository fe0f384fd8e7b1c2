"""What every running emulator offers its caller: its URL, its admin endpoints, a connection to it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Self

from airflow_provider_vyro.catalogue import ENDPOINTS
from airflow_provider_vyro.emulator.app import INPAINT_PATH
from airflow_provider_vyro.emulator.faults import Fault, RandomFaults

_ADMIN_TIMEOUT = 10.0


def connection_json(url: str, token: str, **extra: Any) -> str:
    """
    Return an ``AIRFLOW_CONN_<ID>`` value for a vyro connection to ``url``.

    :param url: base URL of the API (an emulator's, or any other).
    :param token: the API token.
    :param extra: connection extras (``timeout``, ``max_retries``, ``backoff_factor``).
    """
    return json.dumps({"conn_type": "vyro", "host": url, "password": token, "extra": extra})


class EmulatorAdmin:
    """
    A running emulator, wherever it runs: its URL and token, and its admin endpoints.

    Subclasses start and stop it (:class:`~airflow_provider_vyro.emulator.server.EmulatorServer`
    in a thread, :class:`~airflow_provider_vyro.emulator.process.EmulatorProcess` in a child
    process) and set ``_url`` while it serves.

    :param token: the token it accepts.
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self._url: str | None = None

    def start(self) -> Self:
        """Start the emulator; return once it answers."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the emulator."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (available once started)."""
        if self._url is None:
            raise RuntimeError("the emulator is not running")
        return self._url

    @property
    def port(self) -> int:
        """The bound port (available once started)."""
        return int(self.url.rsplit(":", 1)[1])

    @property
    def inpaint_url(self) -> str:
        """Full URL of the inpaint endpoint."""
        return self.url + INPAINT_PATH

    def url_for(self, operation: str) -> str:
        """
        Return the full URL of an operation of the catalogue.

        :param operation: its name, e.g. ``"text_to_image"`` (see ``catalogue.ENDPOINTS``).
        """
        return self.url + ENDPOINTS[operation].path

    def connection_json(self, **extra: Any) -> str:
        """Return an ``AIRFLOW_CONN_<ID>`` value for a vyro connection to this emulator."""
        return connection_json(self.url, self.token, **extra)

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        """Replace the given fault knobs at run time; returns the knobs now in force."""
        return self._admin("POST", "/_emulator/faults", knobs_to_json(knobs))

    def faults(self) -> dict[str, Any]:
        """Return the fault knobs in force, with what is left of the script."""
        return self._admin("GET", "/_emulator/faults")

    def set_video(self, **knobs: Any) -> dict[str, Any]:
        """Set video knobs (see :mod:`airflow_provider_vyro.emulator.video`)."""
        return self._admin("POST", "/_emulator/video", knobs)

    def video_stats(self) -> dict[str, Any]:
        """Return the video counters: ``submits`` by operation, ``polls``, ``storage_requests``, ``knobs``."""
        return self._admin("GET", "/_emulator/video")

    def stats(self) -> dict[str, Any]:
        """Return the stats JSON (see ``GET /_emulator/stats``)."""
        return self._admin("GET", "/_emulator/stats")

    def reset(self) -> None:
        """Clear the stats and every fault."""
        self._admin("POST", "/_emulator/reset", {})

    def _admin(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        loopback = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with loopback.open(request, timeout=_ADMIN_TIMEOUT) as response:
                answer: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as exc:
            raise ValueError(
                f"emulator rejected {method} {path}: {exc.read().decode(errors='replace')}"
            ) from None
        return answer


def knobs_to_json(knobs: dict[str, Any]) -> dict[str, Any]:
    """Return fault knobs as JSON values (``Fault`` and ``RandomFaults`` objects included)."""

    def convert(value: Any) -> Any:
        if isinstance(value, Fault | RandomFaults):
            return value.to_json()
        if isinstance(value, list | tuple):
            return [convert(item) for item in value]
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        return value

    return {key: convert(value) for key, value in knobs.items()}
