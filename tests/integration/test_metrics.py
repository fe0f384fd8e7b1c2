"""Metrics through StatsD: a batch and a video through `airflow dags test` send the names, nothing private."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_vyro.emulator.server import EmulatorServer
from devtools.airflow_runner import REPO, AirflowSandbox
from tests.conftest import TOKEN, conn_json
from tests.integration.test_batch import make_items

NAMES = ("vyro.requests", "vyro.retries", "vyro.credits", "vyro.items", "vyro.request_duration")


class Listener:
    """A StatsD server on loopback that keeps every datagram it receives."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.datagrams: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        while not self.stop.is_set():
            try:
                data = self.socket.recv(65536)
            except TimeoutError:
                continue
            self.datagrams.extend(data.decode("utf-8", "replace").splitlines())

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.socket.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def test_a_dag_run_sends_the_provider_metrics_and_nothing_private(
    airflow_sandbox: AirflowSandbox,
    airflow_template_db: Path,
    emulator: EmulatorServer,
    listener: Listener,
    tmp_path: Path,
) -> None:
    sandbox = AirflowSandbox(
        tmp_path / "airflow-runs", airflow_template_db, REPO / "tests" / "dags", airflow_sandbox.env
    )
    items = make_items(tmp_path / "w", 3)
    costs = {"inpaint": 2, "text_to_video": 5}
    sandbox.env.update(
        AIRFLOW_CONN_VYRO_DEFAULT=conn_json(emulator.url, credit_costs=costs),
        AIRFLOW__METRICS__STATSD_ON="True",
        AIRFLOW__METRICS__STATSD_HOST="127.0.0.1",
        AIRFLOW__METRICS__STATSD_PORT=str(listener.port),
        AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED="True",  # tags in the datagrams, so they are checked too
    )
    emulator.set_faults(script=[500])
    emulator.set_video(duration=1.5)
    conf = {"items": items, "video": str(tmp_path / "w" / "waves.mp4")}
    run = sandbox.dags_test("vyro_batch_then_video", conf=conf)
    assert run.state == "success", run.describe()
    assert sum(emulator.video_stats()["submits"].values()) == 1
    listener.close()
    vyro = [parse(d) for d in listener.datagrams if ".vyro." in f".{d}"]
    assert {name for name, _, _ in vyro} >= set(NAMES), vyro
    assert {key for _, tags, _ in vyro for key in tags} <= {"operation", "outcome"}, vyro

    def total(metric: str) -> dict[tuple[str, ...], float]:
        sums: dict[tuple[str, ...], float] = {}
        for name, tags, value in vyro:
            if name == metric:
                key = tuple(tags[k] for k in sorted(tags))
                sums[key] = sums.get(key, 0) + value
        return sums

    assert total("vyro.credits") == {("inpaint",): 8, ("text_to_video",): 5}, "3 items at 2 and a retry"
    assert total("vyro.items") == {("inpaint", "written"): 3, ("text_to_video", "written"): 1}
    assert total("vyro.requests") == {
        ("inpaint", "server_error"): 1,
        ("inpaint", "ok"): 3,
        ("text_to_video", "ok"): 1,
    }
    assert emulator.stats()["requests"] == 5, "4 image requests and the submit"
    assert total("vyro.retries") == {("inpaint",): 1}
    private = [TOKEN, str(tmp_path), "prompt number", "waves roll onto the beach"]
    assert not [d for d in listener.datagrams if any(p in d for p in private)]


def parse(datagram: str) -> tuple[str, dict[str, str], float]:
    """Read ``airflow.vyro.items,operation=inpaint,outcome=written:3|c`` (InfluxDB-style tags)."""
    stat, rest = datagram.split(":", 1)
    name, *pairs = stat.split(",")
    tags = dict(pair.split("=", 1) for pair in pairs)
    return name.removeprefix("airflow."), tags, float(rest.split("|", 1)[0])
