"""
The emulator's video jobs: submit, status, and the result on a storage host of its own.

A submit creates a job that runs for ``duration`` seconds (a knob; short in tests): ``queued``
for its first fifth, then ``processing``, then ``success`` (or ``failed`` when the failure knob
says so). The status answer is the documented one: ``{"status", "video": {"id", "created_at",
"status", "settings", "url": {"generation": [<signed URL>], "thumbnail": <URL>}}}``.

The signed URLs point at the storage host: a second loopback address (``127.0.0.2``), served by
the same process, which answers only there and only with a valid signature. It records what
every request to it carried, so tests can see that no token and no ``Authorization`` or
``bearer`` header ever reach it.

Knobs (``POST /_emulator/video``): ``duration`` (seconds), ``fail_next`` (how many next jobs
fail), ``truncate_next`` (how many next downloads break off halfway), ``thumbnail`` (whether
status answers give one), ``running_state`` (the word for a running job, e.g. an unknown one).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_vyro.emulator import clips

if TYPE_CHECKING:
    from collections.abc import Mapping

    from PIL import Image

STORAGE_HOST = "127.0.0.2"
"""The loopback address the storage host listens on (not the API's)."""

_KNOB_DEFAULTS: dict[str, Any] = {
    "duration": 2.0,
    "fail_next": 0,
    "truncate_next": 0,
    "thumbnail": True,
    "running_state": "processing",
}


@dataclass
class Job:
    """One video job."""

    id: str
    operation: str
    fields: dict[str, str]
    frame: Image.Image | None
    created: float
    created_at: str
    duration: float
    fails: bool
    video: bytes | None = None
    thumbnail: bytes | None = None


@dataclass
class VideoBoard:
    """The jobs, the knobs, the storage host's address and what reached it."""

    token: str
    storage_url: str = ""
    knobs: dict[str, Any] = field(default_factory=lambda: dict(_KNOB_DEFAULTS))
    jobs: dict[str, Job] = field(default_factory=dict)
    submits: dict[str, int] = field(default_factory=dict)
    polls: int = 0
    storage_requests: list[dict[str, Any]] = field(default_factory=list)
    _secret: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def configure(self, knobs: Mapping[str, Any]) -> dict[str, Any]:
        """Set the knobs given; give them all."""
        unknown = sorted(set(knobs) - set(_KNOB_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown video knob(s) {unknown}; known: {sorted(_KNOB_DEFAULTS)}")
        with self._lock:
            self.knobs.update(knobs)
            return dict(self.knobs)

    def reset(self) -> None:
        """Forget the jobs, the counters and the knobs."""
        with self._lock:
            self.knobs = dict(_KNOB_DEFAULTS)
            self.jobs.clear()
            self.submits.clear()
            self.polls = 0
            self.storage_requests.clear()

    def submit(self, operation: str, fields: Mapping[str, str], frame: Image.Image | None) -> Job:
        """Start a job."""
        with self._lock:
            fails = self.knobs["fail_next"] > 0
            if fails:
                self.knobs["fail_next"] -= 1
            job = Job(
                id=f"vid-{next(self._ids):05d}-{secrets.token_hex(4)}",
                operation=operation,
                fields=dict(fields),
                frame=frame,
                created=time.monotonic(),
                created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                duration=float(self.knobs["duration"]),
                fails=fails,
            )
            self.jobs[job.id] = job
            self.submits[operation] = self.submits.get(operation, 0) + 1
            return job

    def status(self, job_id: str) -> dict[str, Any] | None:
        """Give the documented status answer of a job, or ``None`` if there is no such job."""
        with self._lock:
            self.polls += 1
            job = self.jobs.get(job_id)
            running_state = str(self.knobs["running_state"])
            with_thumbnail = bool(self.knobs["thumbnail"])
        if job is None:
            return None
        elapsed = time.monotonic() - job.created
        if elapsed < job.duration / 5:
            state = "queued"
        elif elapsed < job.duration:
            state = running_state
        else:
            state = "failed" if job.fails else "success"
        video: dict[str, Any] = {
            "id": job.id,
            "created_at": job.created_at,
            "status": state,
            "settings": dict(job.fields),
        }
        answer: dict[str, Any] = {"status": state, "video": video}
        if state == "success":
            urls: dict[str, Any] = {"generation": [self._signed(job.id, "video.mp4")]}
            if with_thumbnail:
                urls["thumbnail"] = self._signed(job.id, "thumbnail.jpg")
            video["url"] = urls
        if state == "failed":
            answer["message"] = "Emulated failure: the video could not be generated."
        return answer

    def _signed(self, job_id: str, name: str) -> str:
        path = f"/storage/{job_id}/{name}"
        return f"{self.storage_url}{path}?signature={self.signature(path)}"

    def signature(self, path: str) -> str:
        """Give the signature of a storage path."""
        return hmac.new(self._secret, path.encode(), hashlib.sha256).hexdigest()[:32]

    def note_storage_request(self, url: str, headers: Mapping[str, str]) -> None:
        """Record what a request to the storage host carried."""
        token = self.token
        carried = " ".join(f"{k}: {v}" for k, v in headers.items())
        with self._lock:
            self.storage_requests.append(
                {
                    "url": url.split("?", 1)[0],
                    "headers": sorted(k.lower() for k in headers),
                    "authorization": any(k.lower() in ("authorization", "bearer") for k in headers),
                    "token": token in carried or token in url,
                }
            )

    def download(self, job_id: str, name: str) -> tuple[bytes, bool] | None:
        """Give a finished job's video or thumbnail, and whether to cut it short; ``None`` if none."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or name not in ("video.mp4", "thumbnail.jpg"):
                return None
            truncate = name == "video.mp4" and self.knobs["truncate_next"] > 0
            if truncate:
                self.knobs["truncate_next"] -= 1
        if time.monotonic() - job.created < job.duration or job.fails:
            return None
        style, ratio, prompt = (
            job.fields.get("style", ""),
            job.fields.get("aspect_ratio", "16:9"),
            job.fields.get("prompt", ""),
        )
        if name == "thumbnail.jpg":
            if job.thumbnail is None:
                job.thumbnail = clips.thumbnail(job.frame, prompt, style, ratio)
            return job.thumbnail, False
        if job.video is None:
            job.video = clips.render(job.frame, prompt, style, ratio)
        return job.video, truncate

    def to_json(self) -> dict[str, Any]:
        """Give the counters (served with the stats)."""
        with self._lock:
            return {
                "submits": dict(self.submits),
                "jobs": len(self.jobs),
                "polls": self.polls,
                "storage_requests": list(self.storage_requests),
                "knobs": dict(self.knobs),
            }


__all__ = ["STORAGE_HOST", "Job", "VideoBoard"]
