"""
The video cases of an end-to-end run: what the driver does while a video waits, and what it checks.

Watchers run while a case's DAG run is going (:data:`WATCHERS`, named by ``Case.watch``): one
sees a video task ``deferred`` while another task holds the run's only slot; one kills the
triggerer while a video task waits in it and starts a new one. :func:`check_videos` checks the
video result dicts read back through the REST API and the MP4 each names.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from typing import TYPE_CHECKING, Any

from airflow_provider_vyro.mp4 import Mp4StreamChecker
from e2e.services import airflow_argv, emulator_admin, say
from e2e.stack import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from e2e.cases import Case
    from e2e.checks import CaseReport
    from e2e.services import Context

POLL = 0.5


class VideoCheckFailed(AssertionError):
    """A video check failed; the message says which."""


def set_video_duration(emulator_url: str, seconds: float) -> None:
    """Make the emulator's next video jobs run ``seconds`` (``POST /_emulator/video``)."""
    emulator_admin(emulator_url, "/_emulator/video", {"duration": seconds})


def video_stats(emulator_url: str) -> dict[str, Any]:
    """``GET /_emulator/video``: submits by operation, polls, what reached the storage host."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{emulator_url}/_emulator/video", timeout=10) as answer:
        stats: dict[str, Any] = json.load(answer)
        return stats


def _states(ctx: Context, case: Case, run_id: str) -> dict[str, str]:
    instances = ctx.client.task_instances(case.dag_id, run_id)
    return {ti["task_id"]: str(ti["state"]) for ti in instances}


def _until(
    ctx: Context, case: Case, run_id: str, what: str, timeout: float, wanted: Callable[[dict[str, str]], bool]
) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        states = _states(ctx, case, run_id)
        if wanted(states):
            return states
        if ctx.client.dag_run(case.dag_id, run_id)["state"] in ("success", "failed"):
            raise VideoCheckFailed(f"the run ended before {what}; tasks {states}")
        if time.monotonic() > deadline:
            raise VideoCheckFailed(f"no {what} within {timeout:.0f}s; tasks {states}")
        time.sleep(POLL)


def deferred_while_slot_taken(ctx: Context, case: Case, run_id: str, timeout: float) -> list[str]:
    """See ``video`` deferred while ``hold_slot`` runs on the run's only slot."""
    states = _until(
        ctx,
        case,
        run_id,
        "moment with video deferred and hold_slot running",
        timeout,
        lambda s: s.get("video") == "deferred" and s.get("hold_slot") == "running",
    )
    return [f"seen through the REST API: video {states['video']} while hold_slot {states['hold_slot']}"]


def triggerer_restarted(ctx: Context, case: Case, run_id: str, timeout: float) -> list[str]:
    """Once ``video`` is deferred, kill the triggerer (SIGKILL) and start a new one."""
    _until(ctx, case, run_id, "deferred video", timeout, lambda s: s.get("video") == "deferred")
    time.sleep(2)
    polls_before = video_stats(ctx.emulator_url)["polls"]
    notes = ctx.stack.stop("triggerer", grace=0)
    say(f"{case.name}: triggerer killed while video was deferred ({'; '.join(notes) or 'exited'})")
    restarted = ctx.stack.start(
        "triggerer-restarted", airflow_argv("triggerer", "--skip-serve-logs"), ctx.env
    )
    still = _states(ctx, case, run_id).get("video")

    def polled_again() -> bool:
        restarted.check_alive()
        return bool(video_stats(ctx.emulator_url)["polls"] > polls_before + 1)

    wait_until("the new triggerer polling the recorded job", polled_again, timeout, services=[restarted])
    return [f"triggerer killed with video {still}; a new triggerer polled the same job"]


WATCHERS: dict[str, Callable[[Context, Case, str, float], list[str]]] = {
    "deferred-while-slot-taken": deferred_while_slot_taken,
    "triggerer-restarted": triggerer_restarted,
}
"""What the driver does while a case's run is going, by ``Case.watch``."""


def check_videos(ctx: Context, case: Case, report: CaseReport, instances: list[dict[str, Any]]) -> None:
    """Check each video result dict (one per map index of ``case.videos``) and the MP4 it names."""
    from pathlib import Path

    if case.videos is None:
        return
    task_id, count = case.videos
    indexes = sorted(ti["map_index"] for ti in instances if ti["task_id"] == task_id)
    if len(indexes) != count:
        raise VideoCheckFailed(f"{task_id}: {len(indexes)} task instance(s), expected {count}")
    for index in indexes:
        result = ctx.client.xcom(case.dag_id, report.run_id, task_id, map_index=index)
        where = f"{task_id}[{index}]" if index >= 0 else task_id
        if result.get("format") != "MP4" or not result.get("job_id") or result.get("attempts") not in (0, 1):
            raise VideoCheckFailed(f"{where}: {result!r} is not a video of one job")
        data = Path(result["output_path"]).read_bytes()
        checker = Mp4StreamChecker()
        checker.feed(data)
        info = checker.result()
        if len(data) != result["bytes"] or hashlib.sha256(data).hexdigest() != result["sha256"]:
            raise VideoCheckFailed(f"{where}: bytes/sha256 in XCom do not match {result['output_path']}")
        report.checked.append(
            f"{where}: job {result['job_id']}, {result['output_path']} (MP4 {info.width}x{info.height}, "
            f"{info.size} B, boxes {'/'.join(info.boxes)}, sha256 ok)"
        )
    storage = video_stats(ctx.emulator_url)["storage_requests"]
    if any(r["authorization"] or r["token"] for r in storage):
        raise VideoCheckFailed(f"the storage host received a token or an Authorization header: {storage}")
    report.checked.append(f"storage host: {len(storage)} request(s) so far, none with a token or auth header")


__all__ = ["WATCHERS", "VideoCheckFailed", "check_videos", "set_video_duration", "video_stats"]
