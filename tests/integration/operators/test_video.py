"""Video jobs against the emulator: submit once, wait, fetch without the token, check the MP4."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_vyro.emulator import EmulatorServer
from airflow_provider_vyro.exceptions import (
    VyroInputError,
    VyroJobFailedError,
    VyroJobTimeoutError,
    VyroResponseError,
)
from airflow_provider_vyro.hooks.vyro import VyroHook
from airflow_provider_vyro.mp4 import Mp4StreamChecker
from airflow_provider_vyro.operators.video import ImageToVideoOperator, TextToVideoOperator
from airflow_provider_vyro.triggers.vyro import VyroJobTrigger
from tests.conftest import TOKEN, conn_json

DATA = Path(__file__).resolve().parents[3] / "dags" / "examples" / "data"


def context(try_number: int = 1, task_id: str = "video") -> Any:
    ti = SimpleNamespace(dag_id="d", run_id="r1", task_id=task_id, map_index=-1, try_number=try_number)
    return {"ti": ti}


def submits(emulator: EmulatorServer) -> int:
    return sum(emulator.video_stats()["submits"].values())


def assert_complete_mp4(path: Path, result: dict[str, Any]) -> None:
    data = path.read_bytes()
    checker = Mp4StreamChecker()
    checker.feed(data)
    info = checker.result()
    assert (info.size, info.width, info.height) == (result["bytes"], result["width"], result["height"])


def waves(tmp_path: Path, **arguments: Any) -> TextToVideoOperator:
    """A text-to-video task writing ``w.mp4``, polling in the worker every second."""
    values: dict[str, Any] = {"task_id": "video", "prompt": "waves", "poll_interval": 1, "deferrable": False}
    return TextToVideoOperator(output_path=str(tmp_path / "w.mp4"), **{**values, **arguments})


def run_trigger(trigger: VyroJobTrigger) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


@pytest.fixture
def fast_video(vyro_conn: EmulatorServer) -> EmulatorServer:
    vyro_conn.set_video(duration=1.5)
    return vyro_conn


def test_image_to_video_writes_a_checked_mp4_and_thumbnail_fetched_without_the_token(
    fast_video: EmulatorServer, tmp_path: Path
) -> None:
    operator = ImageToVideoOperator(
        task_id="video",
        image_path=str(DATA / "product_mug.jpg"),
        prompt="steam rises from the mug",
        output_path=str(tmp_path / "mug.mp4"),
        thumbnail_path=str(tmp_path / "mug.jpg"),
        aspect_ratio="1:1",
        poll_interval=1,
        deferrable=False,
    )
    result = operator.execute(context())

    assert result["operation"] == "image_to_video"
    assert result["format"] == "MP4"
    assert result["job_id"]
    assert result["attempts"] == 1
    assert result["skipped"] is False
    assert (result["width"], result["height"]) == (320, 320)
    assert result["credits"] is None
    assert result["try_number"] == 1
    assert result["image_path"] == str(DATA / "product_mug.jpg")
    assert_complete_mp4(tmp_path / "mug.mp4", result)
    assert (tmp_path / "mug.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[1:] == ["mug.jpg", "mug.mp4"], "no temporary file left"
    assert names[0].startswith(".vyro-job."), "the job record notes what was written"

    video = fast_video.video_stats()
    assert video["submits"] == {"image_to_video": 1}
    storage = video["storage_requests"]
    assert [r["url"].rsplit("/", 1)[1] for r in storage] == ["video.mp4", "thumbnail.jpg"]
    assert all(r["url"].startswith("http://127.0.0.2:") for r in storage), "a host other than the API's"
    for request in storage:
        assert request["authorization"] is False
        assert request["token"] is False
        assert not {"authorization", "bearer"} & set(request["headers"])


def test_one_submit_across_a_timeout_and_the_retry(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    vyro_conn.set_video(duration=4)
    arguments: dict[str, Any] = {
        "task_id": "video",
        "prompt": "a lighthouse at dusk",
        "output_path": str(tmp_path / "clip.mp4"),
        "poll_interval": 1,
        "job_timeout": 1,
        "deferrable": False,
    }
    with pytest.raises(VyroJobTimeoutError) as timed_out:
        TextToVideoOperator(**arguments).execute(context(try_number=1))
    assert not isinstance(timed_out.value, AirflowFailException), "a timeout is retryable"
    assert not (tmp_path / "clip.mp4").exists()

    result = TextToVideoOperator(**{**arguments, "job_timeout": 60}).execute(context(try_number=2))
    assert result["job_id"] == timed_out.value.job_id, "the retry polled the recorded job"
    assert result["attempts"] == 0
    assert result["try_number"] == 2
    assert_complete_mp4(tmp_path / "clip.mp4", result)
    assert submits(vyro_conn) == 1


def test_a_retry_after_a_success_airflow_did_not_record_keeps_the_output_and_sends_nothing(
    fast_video: EmulatorServer, tmp_path: Path
) -> None:
    first = waves(tmp_path).execute(context(try_number=1))
    again = waves(tmp_path, overwrite=True).execute(context(try_number=2))
    assert again["skipped"] is True
    assert again["job_id"] == first["job_id"]
    assert again["sha256"] == first["sha256"]
    assert again["attempts"] == 0
    assert submits(fast_video) == 1
    downloads = [r for r in fast_video.video_stats()["storage_requests"] if r["url"].endswith(".mp4")]
    assert len(downloads) == 1, "nothing fetched again either"


def test_a_retry_whose_output_is_gone_fetches_the_recorded_job_again(
    fast_video: EmulatorServer, tmp_path: Path
) -> None:
    first = waves(tmp_path).execute(context(try_number=1))
    (tmp_path / "w.mp4").unlink()
    again = waves(tmp_path).execute(context(try_number=2))
    assert (again["job_id"], again["skipped"], again["attempts"]) == (first["job_id"], False, 0)
    assert_complete_mp4(tmp_path / "w.mp4", again)
    assert submits(fast_video) == 1


def test_a_failed_job_fails_the_task_without_retries_and_writes_nothing(
    fast_video: EmulatorServer, tmp_path: Path
) -> None:
    fast_video.set_video(fail_next=1)
    operator = waves(tmp_path)
    with pytest.raises(VyroJobFailedError, match="Emulated failure") as failed:
        operator.execute(context())
    assert isinstance(failed.value, AirflowFailException)
    assert list(tmp_path.iterdir()) == [], "no output and no job record: clearing the task submits anew"
    assert submits(fast_video) == 1


def test_a_truncated_download_is_retried_and_never_kept(fast_video: EmulatorServer, tmp_path: Path) -> None:
    fast_video.set_video(truncate_next=1)
    operator = waves(tmp_path)
    result = operator.execute(context())
    assert_complete_mp4(tmp_path / "w.mp4", result)
    downloads = [r for r in fast_video.video_stats()["storage_requests"] if r["url"].endswith(".mp4")]
    assert len(downloads) == 2


def test_a_download_still_truncated_after_the_retries_leaves_no_file(
    fast_video: EmulatorServer, tmp_path: Path
) -> None:
    fast_video.set_video(truncate_next=10)
    operator = waves(tmp_path)
    with pytest.raises(VyroResponseError, match=r"broke off|cut short"):
        operator.execute(context())
    leftovers = [p.name for p in tmp_path.iterdir() if not p.name.startswith(".vyro-job.")]
    assert leftovers == [], "no partial MP4, no temporary file"
    assert submits(fast_video) == 1


def test_deferred_the_trigger_polls_and_the_worker_fetches(
    fast_video: EmulatorServer, tmp_path: Path
) -> None:
    operator = TextToVideoOperator(
        task_id="video",
        prompt="a lighthouse at dusk",
        output_path=str(tmp_path / "clip.mp4"),
        poll_interval=1,
        deferrable=True,
    )
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, VyroJobTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_vyro.triggers.vyro.VyroJobTrigger"
    assert TOKEN not in repr(kwargs)

    restarted = VyroJobTrigger(**kwargs)  # a triggerer that restarted rebuilds it from its kwargs
    (event,) = run_trigger(restarted)
    assert event["state"] == "succeeded"
    assert event["job_id"] == kwargs["job_id"]
    assert event["url"].startswith("http://127.0.0.2:")
    assert TOKEN not in repr(event)

    result = TextToVideoOperator(
        task_id="video",
        prompt="a lighthouse at dusk",
        output_path=str(tmp_path / "clip.mp4"),
        deferrable=True,
    ).execute_complete(context(), event)
    assert result["job_id"] == kwargs["job_id"]
    assert result["attempts"] == 1
    assert_complete_mp4(tmp_path / "clip.mp4", result)
    assert submits(fast_video) == 1


def test_the_trigger_reports_a_timeout_and_a_failure(fast_video: EmulatorServer) -> None:
    import time

    hook = VyroHook()
    fast_video.set_video(duration=30)
    from airflow_provider_vyro.catalogue import TEXT_TO_VIDEO

    job = hook.submit_job(TEXT_TO_VIDEO, fields={"prompt": "slow"}, files={})

    def final_event(job_id: str, seconds: float) -> dict[str, Any]:
        trigger = VyroJobTrigger(
            vyro_conn_id="vyro_default",
            job_id=job_id,
            status_path=hook.job_status_path,
            poll_interval=1,
            deadline=time.time() + seconds,
        )
        (event,) = run_trigger(trigger)
        return event

    assert final_event(job, 1)["state"] == "timeout"

    fast_video.set_video(duration=0.1, fail_next=1)
    failed = hook.submit_job(TEXT_TO_VIDEO, fields={"prompt": "doomed"}, files={})
    time.sleep(0.2)
    event = final_event(failed, 30)
    assert event["state"] == "failed"
    assert "Emulated failure" in event["message"]
    with pytest.raises(VyroJobFailedError):
        TextToVideoOperator(task_id="v", prompt="doomed", output_path="/tmp/x.mp4").execute_complete(
            context(), event
        )


def test_status_backs_off_through_503_and_429_and_unknown_states(
    fast_video: EmulatorServer, tmp_path: Path
) -> None:
    fast_video.set_video(running_state="rendering")
    operator = waves(tmp_path)
    fast_video.set_faults(script=["ok", 503, 503, 503, 503, 429, "ok"])
    result = operator.execute(context())
    assert_complete_mp4(tmp_path / "w.mp4", result)
    assert submits(fast_video) == 1


def test_the_status_path_is_a_connection_setting(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url, job_status_path="/v2/assets/{id}/status")
    )
    emulator.set_video(duration=0.5)
    hook = VyroHook()
    assert hook.job_status_path == "/v2/assets/{id}/status"
    result = waves(tmp_path).execute(context())
    assert result["bytes"] > 0


def test_a_submit_answer_without_a_job_id_is_a_response_error_sent_once(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    vyro_conn.set_faults(script=["json200"])
    operator = TextToVideoOperator(
        task_id="video", prompt="waves", output_path=str(tmp_path / "w.mp4"), deferrable=False
    )
    with pytest.raises(VyroResponseError, match="no job id"):
        operator.execute(context())
    assert vyro_conn.stats()["operations"] == {"text_to_video": 1}, (
        "an answer that may be a job is not resent"
    )


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"prompt": None}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"image_path": str(Path(__file__))}, "image_path"),
        ({"output_path": "/tmp/clip.mov"}, "output_path"),
        ({"aspect_ratio": "4:3"}, "aspect_ratio"),
        ({"thumbnail_path": "/tmp/thumb.gif"}, "thumbnail_path"),
    ],
)
def test_bad_input_is_refused_before_any_submit(
    vyro_conn: EmulatorServer, tmp_path: Path, arguments: dict[str, Any], field: str
) -> None:
    values: dict[str, Any] = {
        "task_id": "video",
        "image_path": str(DATA / "product_mug.jpg"),
        "prompt": "steam",
        "output_path": str(tmp_path / "mug.mp4"),
        "deferrable": False,
        **arguments,
    }
    with pytest.raises(VyroInputError) as refused:
        ImageToVideoOperator(**values).execute(context())
    assert refused.value.field == field
    assert vyro_conn.stats()["requests"] == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"poll_interval": 0.5}, "poll_interval"),
        ({"job_timeout": 0}, "job_timeout"),
        ({"job_timeout": -5}, "job_timeout"),
    ],
)
def test_polling_settings_are_refused_when_the_operator_is_built(
    arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(VyroInputError) as refused:
        TextToVideoOperator(task_id="v", prompt="p", output_path="/tmp/v.mp4", **arguments)
    assert refused.value.field == field


def test_deferrable_defaults_to_airflows_setting() -> None:
    from airflow.providers.common.compat.sdk import conf

    default = conf.getboolean("operators", "default_deferrable", fallback=False)
    assert TextToVideoOperator(task_id="v", prompt="p", output_path="/tmp/v.mp4").deferrable is default


def test_a_submit_answered_503_is_sent_again_one_answered_500_is_not(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    from airflow_provider_vyro.catalogue import TEXT_TO_VIDEO
    from airflow_provider_vyro.exceptions import VyroServerError

    hook = VyroHook()
    vyro_conn.set_faults(script=[503, "ok"])
    assert hook.submit_job(TEXT_TO_VIDEO, fields={"prompt": "waves"}, files={})
    assert vyro_conn.stats()["operations"] == {"text_to_video": 2}
    assert submits(vyro_conn) == 1, "the 503 started no job: sending it again pays once"

    vyro_conn.reset()
    vyro_conn.set_faults(script=[500, "ok"])
    with pytest.raises(VyroServerError):
        hook.submit_job(TEXT_TO_VIDEO, fields={"prompt": "waves"}, files={})
    assert vyro_conn.stats()["operations"] == {"text_to_video": 1}, "a 500 may have started a job"


def test_a_result_larger_than_max_result_bytes_is_not_kept(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow_provider_vyro.exceptions import VyroUnexpectedResponseError

    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url, max_result_bytes=1000))
    emulator.set_video(duration=0.5)
    with pytest.raises(VyroUnexpectedResponseError, match="max_result_bytes"):
        waves(tmp_path).execute(context())
    assert not (tmp_path / "w.mp4").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".vyro-tmp")] == []


@pytest.mark.timeout(120)
def test_on_kill_ends_the_wait_in_the_worker_at_once(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    import threading

    from airflow_provider_vyro.exceptions import VyroCancelledError

    vyro_conn.set_video(duration=600)
    operator = waves(tmp_path, poll_interval=30)
    polled = threading.Event()

    def kill_after_the_first_poll() -> None:
        # Airflow runs execute in the task's main thread and calls on_kill from elsewhere (its
        # SIGTERM handler); the test does the same.
        while not polled.is_set() and vyro_conn.video_stats()["polls"] < 1:
            polled.wait(0.05)
        operator.on_kill()

    killer = threading.Thread(target=kill_after_the_first_poll, daemon=True)
    killer.start()
    try:
        with pytest.raises(VyroCancelledError):
            operator.execute(context())
    finally:
        polled.set()
        killer.join(60)
    assert submits(vyro_conn) == 1
    assert not (tmp_path / "w.mp4").exists()


def test_redirects_are_followed_without_the_token_but_not_to_plain_http_elsewhere(
    fast_video: EmulatorServer, tmp_path: Path
) -> None:
    import http.server
    import io
    import threading

    from airflow_provider_vyro.catalogue import TEXT_TO_VIDEO
    from airflow_provider_vyro.exceptions import VyroUnexpectedResponseError

    hook = VyroHook()
    job = hook.submit_job(TEXT_TO_VIDEO, fields={"prompt": "waves"}, files={})
    status = hook.job_status(job)
    while status.state != "succeeded":
        threading.Event().wait(0.2)
        status = hook.job_status(job)
    targets = {"/to-storage": status.urls[0], "/to-elsewhere": "http://storage.example.com/v.mp4"}
    seen: list[dict[str, str]] = []

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers))
            self.send_response(302)
            self.send_header("Location", targets[self.path])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    fetcher = hook.result_fetcher()
    try:
        fetched = fetcher.fetch(f"{base}/to-storage", io.BytesIO(), Mp4StreamChecker)
        assert fetched.size > 0
        with pytest.raises(VyroUnexpectedResponseError, match="not https"):
            fetcher.fetch(f"{base}/to-elsewhere", io.BytesIO(), Mp4StreamChecker)
    finally:
        fetcher.close()
        server.shutdown()
    assert all("Authorization" not in headers and TOKEN not in repr(headers) for headers in seen)
    assert not any(r["authorization"] or r["token"] for r in fast_video.video_stats()["storage_requests"])
