"""
The runner against a stand-in hook, through its public seams: the hook it is handed by a factory,
the ``before_request`` it hands that hook, ``run`` and ``cancel``.

No HTTP here: the stand-in writes a real PNG for each call (the runner's behaviour against the
real hook and the emulator is in ``tests/integration/test_runs.py`` and ``test_batch.py``).
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import pytest
from PIL import Image

from airflow_provider_vyro.catalogue import TEXT_TO_IMAGE, Endpoint
from airflow_provider_vyro.exceptions import (
    VyroAuthenticationError,
    VyroBatchError,
    VyroBudgetError,
    VyroServerError,
)
from airflow_provider_vyro.hooks.settings import Settings
from airflow_provider_vyro.hooks.vyro import ImageResult
from airflow_provider_vyro.runner import Runner, RunOptions

PNG = io.BytesIO()
Image.new("RGB", (32, 24), (200, 120, 40)).save(PNG, format="PNG")
ANSWER = PNG.getvalue()


class StandInHook:
    """What the runner uses of a hook; each call asks ``before_request`` first, as the real one does."""

    settings = Settings("http://127.0.0.1", "token", 1.0, 0, 0.0)

    def __init__(
        self, before_request: Callable[[], None], failures: Mapping[str, BaseException] = {}
    ) -> None:
        self.before_request = before_request
        self.failures = dict(failures)
        self.prompts: list[str] = []
        self.validated = self.closed = self.cancelled = 0
        self.lock = threading.Lock()

    def validate(self) -> None:
        self.validated += 1

    def cancel(self) -> None:
        self.cancelled += 1

    def close(self) -> None:
        self.closed += 1

    def call_to(
        self,
        endpoint: Endpoint,
        destination: IO[bytes],
        *,
        fields: Mapping[str, str],
        files: Mapping[str, Any],
    ) -> ImageResult:
        self.before_request()
        with self.lock:
            self.prompts.append(fields["prompt"])
        if fields["prompt"] in self.failures:
            raise self.failures[fields["prompt"]]
        destination.write(ANSWER)
        return ImageResult(len(ANSWER), hashlib.sha256(ANSWER).hexdigest(), 32, 24, attempts=1)


def items(tmp_path: Path, count: int) -> list[dict[str, Any]]:
    return [{"prompt": f"p{n}", "output_path": str(tmp_path / f"{n}.png")} for n in range(count)]


def runner(
    options: RunOptions, failures: Mapping[str, BaseException] = {}
) -> tuple[Runner, list[StandInHook]]:
    made: list[StandInHook] = []

    def connect(before_request: Callable[[], None]) -> Any:
        made.append(StandInHook(before_request, failures))
        return made[-1]

    return Runner(TEXT_TO_IMAGE, connect, options), made


def test_the_hook_comes_from_the_factory_once_is_validated_before_the_calls_and_closed_after(
    tmp_path: Path,
) -> None:
    run, (hook,) = runner(RunOptions(max_concurrency=3))
    report = run.run(items(tmp_path, 5))
    assert [r["prompt"] for r in report.records()] == ["p0", "p1", "p2", "p3", "p4"], "input order"
    assert sorted(hook.prompts) == ["p0", "p1", "p2", "p3", "p4"]
    assert (hook.validated >= 1, hook.closed) == (True, 1)
    assert report.calls == 5, "counted through before_request"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.png", "1.png", "2.png", "3.png", "4.png"]
    assert (tmp_path / "3.png").read_bytes() == ANSWER


def test_before_request_keeps_max_calls_and_the_plan_is_refused_before_any_call(tmp_path: Path) -> None:
    run, (hook,) = runner(RunOptions(max_calls=2))
    with pytest.raises(VyroBudgetError, match="needs 3 calls and max_calls is 2"):
        run.run(items(tmp_path, 3))
    assert hook.prompts == []
    assert hook.closed == 1, "closed also when the run fails"


def test_a_run_stopping_error_sends_no_further_request(tmp_path: Path) -> None:
    refused = VyroAuthenticationError(401, "the token was refused")
    run, (hook,) = runner(RunOptions(max_concurrency=4), failures={"p0": refused})
    with pytest.raises(VyroAuthenticationError):
        run.run(items(tmp_path, 6))
    assert hook.prompts == ["p0"], "the first call runs alone, and its account error stops the run"
    assert list(tmp_path.iterdir()) == []


def test_another_failure_is_its_items_alone(tmp_path: Path) -> None:
    run, (hook,) = runner(RunOptions(max_concurrency=2), failures={"p1": VyroServerError(503, "busy")})
    with pytest.raises(VyroBatchError, match=r"items\[1\]"):
        run.run(items(tmp_path, 4))
    assert sorted(hook.prompts) == ["p0", "p1", "p2", "p3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.png", "2.png", "3.png"]


def test_cancel_cancels_the_hook(tmp_path: Path) -> None:
    run, (hook,) = runner(RunOptions())
    run.cancel()
    assert hook.cancelled == 1
