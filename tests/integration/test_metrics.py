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
    )
    emulator.set_faults(script=[500])
    emulator.set_video(duration=1.5)
    conf = {"items": items, "video": str(tmp_path / "w" / "waves.mp4")}
    run = sandbox.dags_test("vyro_batch_then_video", conf=conf)
    assert run.state == "success", run.describe()
    assert sum(emulator.video_stats()["submits"].values()) == 1
    listener.close()
    vyro = [d for d in listener.datagrams if ".vyro." in f".{d}"]
    sent = {d.split(":", 1)[0].rsplit("vyro.", 1)[1] for d in vyro}
    assert {f"vyro.{name}" for name in sent} >= set(NAMES), vyro
    counted = sorted(d.rsplit("vyro.", 1)[1] for d in vyro if ".items:" in d or ".credits:" in d)
    assert counted == [
        "credits:5|c",  # the video's submit
        "credits:8|c",  # 3 items at 2 credits, and a retry
        "items:1|c",  # the video written
        "items:3|c",  # the batch's items written
    ], vyro
    requests_sent = [d for d in vyro if "vyro.requests" in d]
    assert len(requests_sent) == emulator.stats()["requests"] == 5, "4 image requests and the submit"
    private = [TOKEN, str(tmp_path), "prompt number"]
    assert not [d for d in listener.datagrams if any(p in d for p in private)]
