"""The benchmark harness runs end to end on tiny sizes: the fast server, one call, the scale runs."""

from __future__ import annotations

import http.client
import json
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from airflow_provider_vyro.streams import PngStreamChecker
from benchmarks import hook_overhead, scale, steps
from benchmarks._support import TOKEN
from benchmarks.fast_server import FastServerProcess

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

INPAINT = "/v1/imagine/api/edits/inpaint"


@pytest.fixture(scope="module")
def fast_server() -> Iterator[FastServerProcess]:
    with FastServerProcess(TOKEN, answer_size=(32, 24)) as server:
        yield server


def post(
    server: FastServerProcess, path: str, headers: dict[str, str], body: bytes, *, chunked: bool = False
):
    url = urlsplit(server.url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        connection.request("POST", path, body=iter([body]) if chunked else body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


class TestFastServer:
    def test_answers_the_fixed_png_to_a_v1_call_with_the_token(self, fast_server: FastServerProcess) -> None:
        fast_server.reset()
        status, kind, body = post(
            fast_server, "/v1/imagine/api/edits/inpaint", {"bearer": TOKEN}, b"x" * 5000
        )
        assert (status, kind) == (200, "image/png")
        checker = PngStreamChecker()
        checker.feed(body)
        assert checker.result() == (32, 24)
        assert fast_server.stats()["requests"] == 1

    def test_v2_calls_need_the_authorization_header(self, fast_server: FastServerProcess) -> None:
        path = "/v2/image/generations"
        assert post(fast_server, path, {"Authorization": f"Bearer {TOKEN}"}, b"")[0] == 200
        assert post(fast_server, path, {"bearer": TOKEN}, b"")[0] == 401

    def test_a_wrong_token_is_refused_and_not_counted(self, fast_server: FastServerProcess) -> None:
        fast_server.reset()
        status, _, body = post(fast_server, "/v1/imagine/api/edits/inpaint", {"bearer": "wrong"}, b"abc")
        assert status == 401
        assert json.loads(body)["message"]
        assert fast_server.stats()["requests"] == 0

    def test_a_chunked_body_is_read_and_the_connection_kept(self, fast_server: FastServerProcess) -> None:
        status, _, body = post(
            fast_server, "/v1/imagine/api/edits/inpaint", {"bearer": TOKEN}, b"y" * 70000, chunked=True
        )
        assert status == 200
        assert body.startswith(b"\x89PNG")


def test_one_call_measures_the_hook_the_sdk_and_the_bare_call(tmp_path: Path) -> None:
    result = hook_overhead.measure(tmp_path, calls=3, warmup=1)
    assert result.sdk_error is None
    assert set(result.clients) == {hook_overhead.HOOK, hook_overhead.SDK, hook_overhead.BARE}
    assert all(len(times.wall) == len(times.cpu) == 3 for times in result.clients.values())
    names = [figure.name for figure in hook_overhead.report(result)]
    assert "one call: wall (median), VyroHook.inpaint / imaginesdk" in names


def test_scale_runs_each_size_in_a_child_and_reports_linearity(tmp_path: Path) -> None:
    runs = scale.measure(tmp_path, (3, 6), latency=0.0, concurrency=2)
    assert all(isinstance(run, scale.ScaleRun) for run in runs.values()), runs
    assert [run.requests for run in runs.values() if isinstance(run, scale.ScaleRun)] == [3, 6]
    assert len(list((tmp_path / "6" / "out0").glob("*.png"))) == 6
    figures = scale.report(runs, latency=0.0, concurrency=2)
    assert figures[0].name == "scale: time per item at 6 / at 3"


def test_the_pace_benchmark_gives_its_ratio(tmp_path: Path) -> None:
    from benchmarks import pace

    assert pace.gate_seconds(threads=2, cycles=50) > 0
    assert pace.bare_call_seconds(calls=2) > 0


def test_the_steps_profile_times_each_step_of_a_batch_item(capsys: pytest.CaptureFixture[str]) -> None:
    assert steps.main(["--items", "12"]) == 0
    printed = capsys.readouterr().out
    assert "12 local items" in printed
    for step in ("item:run", "Session.request", "storage:atomic_writer (exit)", "writes:flush_folder"):
        assert step in printed, step
    assert "not timed" not in printed, "every step named is there to time"
