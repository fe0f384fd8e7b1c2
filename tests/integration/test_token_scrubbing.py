"""
The token in hostile answers: a loopback server echoes the auth header it received into an error
body, a ``Location`` header or a broken status line (which requests reports as a connection
error). The token must be in no exception text, no exception chain and no log line, for the v1
(``bearer``) and v2 (``Authorization: Bearer``) headers alike.
"""

from __future__ import annotations

import io
import json
import logging
import traceback
import uuid
from urllib.parse import quote

import pytest
from airflow.providers.common.compat.sdk import BaseHook, redact

from airflow_provider_vyro.catalogue import TEXT_TO_IMAGE
from airflow_provider_vyro.exceptions import (
    VyroConnectionError,
    VyroError,
    VyroResponseError,
    VyroServerError,
    VyroUnexpectedResponseError,
)
from airflow_provider_vyro.hooks.vyro import VyroHook
from tests.conftest import TOKEN, conn_json, make_scene
from tests.loopback import Answer, Raw, Reply, ScriptedServer, Seen


def _sent(seen: Seen) -> str:
    """The auth header value as it arrived: ``<token>`` (v1) or ``Bearer <token>`` (v2)."""
    return seen.headers.get("bearer") or seen.headers.get("authorization", "")


def _echo_in_body(seen: Seen) -> Reply:
    body = {"status": "error", "code": "1200", "message": f"upstream said: your header {_sent(seen)} failed"}
    return Reply(500, json.dumps(body).encode(), {"Content-Type": "application/json"})


def _echo_in_location(seen: Seen) -> Reply:
    location = f"http://127.0.0.2:9/login?token={TOKEN}&header={quote(_sent(seen))}"
    return Reply(302, b"", {"Location": location})


def _echo_in_status_line(seen: Seen) -> Raw:
    return Raw(f"HTTP/1.1 {_sent(seen)} OK\r\n\r\n".encode())


def _echo_in_content_type(seen: Seen) -> Reply:
    return Reply(200, b"<html>not an image</html>", {"Content-Type": f"text/html; note={_sent(seen)}"})


ECHOES: dict[str, tuple[Answer, type[VyroError]]] = {
    "error body": (_echo_in_body, VyroServerError),
    "content type of a 200": (_echo_in_content_type, VyroResponseError),
    "Location header": (_echo_in_location, VyroUnexpectedResponseError),
    "connection error text": (_echo_in_status_line, VyroConnectionError),
}


def _chain(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    todo: list[BaseException] = [error]
    while todo:
        current = todo.pop()
        if any(current is seen for seen in found):
            continue
        found.append(current)
        todo += [
            e for e in (current.__cause__, current.__context__, *current.args) if isinstance(e, BaseException)
        ]
    return found


def _call(hook: VyroHook, api: str) -> None:
    if api == "v1":
        image, mask = make_scene(size=(16, 16))
        hook.inpaint(image=image, mask=mask, prompt="sand")
    else:
        hook.call_to(TEXT_TO_IMAGE, io.BytesIO(), fields={"prompt": "sand"}, files={})


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize("echo", list(ECHOES))
def test_an_echoed_token_is_nowhere(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    echo: str,
    api: str,
) -> None:
    answer, expected = ECHOES[echo]
    caplog.set_level(logging.DEBUG)
    with ScriptedServer(answer) as server:
        monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(server.url, max_retries=1))
        with pytest.raises(VyroError) as caught:
            _call(VyroHook(), api)
    error = caught.value
    assert type(error) is expected
    assert TOKEN in _sent(server.seen[0]), "the server did receive the token, and echoed it"
    assert "***" in str(error), "the echo reached the error, redacted"

    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    for linked in _chain(error):
        texts += [str(linked), repr(linked)]
    if isinstance(error, VyroUnexpectedResponseError):
        texts.append(str(error.location))
    out, err = capsys.readouterr()
    logged = "\n".join([caplog.text, out, err])
    assert "attempt 1" in logged, "the hook's log lines are in what is searched"
    for text in [*texts, logged]:
        assert TOKEN not in text
        assert quote(TOKEN) not in text


def test_the_token_is_registered_with_the_secrets_masker_as_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    token = f"scrub-{uuid.uuid4().hex}"
    password = f"  {token}\n"
    monkeypatch.setenv(
        "AIRFLOW_CONN_VYRO_DEFAULT",
        json.dumps({"conn_type": "vyro", "host": "http://127.0.0.1:1", "password": password}),
    )
    BaseHook.get_connection("vyro_default")
    assert token in redact(f"Bearer {token}"), "Airflow masks the password as stored, spaces included"
    assert VyroHook().settings.token == token, "stripped"
    assert redact(token) == "***"
    assert token not in redact(f"Authorization: Bearer {token}")
