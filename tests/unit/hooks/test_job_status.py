"""Reading the API's job answers: the submit's id, the status's state, URLs and message."""

from __future__ import annotations

import json

import pytest

from airflow_provider_vyro.exceptions import VyroResponseError
from airflow_provider_vyro.hooks.job_status import parse_job_id, parse_job_status, status_path


def test_the_submit_answer_gives_the_job_id() -> None:
    assert parse_job_id('{"id": "abc-1", "status": "processing"}') == "abc-1"
    assert parse_job_id('{"id": 42}') == "42"


@pytest.mark.parametrize("body", ["<html>busy</html>", "", "[1]", '{"status": "ok"}', '{"id": ""}'])
def test_a_submit_answer_without_a_job_id_is_a_response_error(body: str) -> None:
    with pytest.raises(VyroResponseError):
        parse_job_id(body)


def documented(state: str, **url: object) -> str:
    video: dict[str, object] = {"id": "j", "created_at": "2026-01-01", "status": state, "settings": {}}
    if url:
        video["url"] = url
    return json.dumps({"status": state, "video": video})


@pytest.mark.parametrize("state", ["queued", "pending", "processing", "rendering", ""])
def test_running_and_unknown_states_are_still_running(state: str) -> None:
    status = parse_job_status("j", documented(state))
    assert status.state == "running"
    assert status.known_state == (state in ("queued", "pending", "processing"))


@pytest.mark.parametrize("state", ["success", "finished", "completed", "Completed"])
def test_done_states_give_the_urls(state: str) -> None:
    status = parse_job_status(
        "j",
        documented(state, generation=["https://s.example/v.mp4?sig=1"], thumbnail="https://s.example/t.jpg"),
    )
    assert (status.state, status.urls, status.thumbnail_url) == (
        "succeeded",
        ("https://s.example/v.mp4?sig=1",),
        "https://s.example/t.jpg",
    )
    assert parse_job_status("j", documented(state, generation="https://s.example/one.mp4")).urls == (
        "https://s.example/one.mp4",
    )


def test_done_without_a_url_is_a_response_error() -> None:
    with pytest.raises(VyroResponseError, match="no result URL"):
        parse_job_status("j", documented("success"))


def test_a_failed_job_carries_the_api_message() -> None:
    body = json.dumps({"status": "failed", "message": "content policy", "video": {"status": "failed"}})
    status = parse_job_status("j", body)
    assert (status.state, status.message) == ("failed", "content policy")


def test_the_status_path_is_one_setting_with_the_id_quoted() -> None:
    assert status_path("/v2/video/{id}/status", "a b/c") == "/v2/video/a%20b%2Fc/status"
    assert status_path("/v2/assets/{id}/status", "x") == "/v2/assets/x/status"
