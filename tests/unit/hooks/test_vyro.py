"""
The hook's seams, narrowly: ``before_request`` given to the constructor, ``validate()``, one call.

``requests`` is answered by a transport adapter mounted on the hook's own session (the public
``get_conn()``), so nothing leaves the process; the hook against a real server is in
``tests/integration/hooks/test_vyro.py``.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import requests
from PIL import Image

from airflow_provider_vyro.catalogue import TEXT_TO_IMAGE
from airflow_provider_vyro.exceptions import VyroBudgetError, VyroInputError, VyroServerError
from airflow_provider_vyro.hooks.vyro import VyroHook

BASE_URL = "https://api.vyro.test"
PNG = io.BytesIO()
Image.new("RGB", (16, 12), (10, 200, 30)).save(PNG, format="PNG")


class Answers(requests.adapters.BaseAdapter):
    """Answer each request with the next status (200: a PNG), recording what was sent."""

    def __init__(self, statuses: list[int]) -> None:
        super().__init__()
        self.statuses = statuses
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent.append(request)
        response = requests.Response()
        response.status_code = self.statuses.pop(0)
        response.request, response.url = request, request.url or ""
        if response.status_code == 200:
            response.headers["Content-Type"] = "application/octet-stream"
            response.raw = io.BytesIO(PNG.getvalue())
        else:
            response.headers["Content-Type"] = "application/json"
            response.raw = io.BytesIO(json.dumps({"status": "error", "message": "busy"}).encode())
        return response

    def close(self) -> None:
        pass


@pytest.fixture
def conn(monkeypatch: pytest.MonkeyPatch) -> str:
    extra = {"backoff_factor": 0.001, "max_retries": 2}
    value = {"conn_type": "vyro", "host": BASE_URL, "password": "unit-token", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_UNIT", json.dumps(value))
    return "vyro_unit"


def hook_answering(conn_id: str, statuses: list[int], **kwargs: Any) -> tuple[VyroHook, Answers]:
    hook = VyroHook(conn_id, **kwargs)
    answers = Answers(statuses)
    hook.get_conn().mount(BASE_URL, answers)
    return hook, answers


def test_before_request_given_to_the_constructor_runs_before_each_request_retries_included(conn: str) -> None:
    seen: list[int] = []
    sent: list[requests.PreparedRequest] = []
    hook, answers = hook_answering(conn, [503, 200], before_request=lambda: seen.append(len(sent)))
    answers.sent = sent
    image = hook.call(TEXT_TO_IMAGE, fields={"prompt": "a fox"}, files={})
    assert image.startswith(b"\x89PNG")
    assert seen == [0, 1], "called twice, each time before the request went out"
    assert len(answers.sent) == 2


def test_before_request_may_prevent_the_request(conn: str) -> None:
    def budget_spent() -> None:
        raise VyroBudgetError("max_calls=0 reached")

    hook, answers = hook_answering(conn, [200], before_request=budget_spent)
    with pytest.raises(VyroBudgetError):
        hook.call(TEXT_TO_IMAGE, fields={"prompt": "a fox"}, files={})
    assert answers.sent == []


def test_retries_end_with_the_last_error(conn: str) -> None:
    hook, answers = hook_answering(conn, [503, 503, 503])
    with pytest.raises(VyroServerError):
        hook.call(TEXT_TO_IMAGE, fields={"prompt": "a fox"}, files={})
    assert len(answers.sent) == 3, "the first attempt and the connection's 2 retries"


def test_validate_reads_the_connection_once_and_refuses_a_missing_one(conn: str) -> None:
    settings = VyroHook(conn).validate()
    assert (settings.base_url, settings.max_retries) == (BASE_URL, 2)
    with pytest.raises(VyroInputError) as caught:
        VyroHook("vyro_missing").validate()
    assert caught.value.field == "vyro_conn_id"
