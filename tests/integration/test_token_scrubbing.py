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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from airflow.providers.common.compat.sdk import BaseHook, redact

from airflow_provider_vyro.catalogue import TEXT_TO_IMAGE
from airflow_provider_vyro.exceptions import (
    VyroBadRequestError,
    VyroBatchError,
    VyroConnectionError,
    VyroError,
    VyroResponseError,
    VyroServerError,
    VyroUnexpectedResponseError,
)
from airflow_provider_vyro.hooks.answers import MESSAGE_LIMIT, REASON_LIMIT
from airflow_provider_vyro.hooks.vyro import VyroHook
from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator
from tests.conftest import TOKEN, conn_json, make_scene
from tests.integration.test_batch import make_items
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


def _texts(error: VyroError) -> list[str]:
    """What an error shows: its text, repr and traceback, and the text and repr of each linked error."""
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    for linked in _chain(error):
        texts += [str(linked), repr(linked)]
    return texts


@pytest.fixture(params=["v1", "v2"])
def api(request: pytest.FixtureRequest) -> str:
    """The API of the call: ``v1`` (inpaint, ``bearer``) or ``v2`` (text to image, ``Authorization``)."""
    return str(request.param)


def _call(hook: VyroHook, api: str) -> None:
    if api == "v1":
        image, mask = make_scene(size=(16, 16))
        hook.inpaint(image=image, mask=mask, prompt="sand")
    else:
        hook.call_to(TEXT_TO_IMAGE, io.BytesIO(), fields={"prompt": "sand"}, files={})


@dataclass
class Echoed:
    """A call whose server echoed the token: the error raised, what the server saw, what was logged."""

    error: VyroError
    seen: Seen
    logged: str


Echo = Callable[[Answer, str], Echoed]


@pytest.fixture
def echo_call(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    api: str,
) -> Echo:
    """Call through a hook with ``token`` whose server answers with ``answer``, logging everything."""

    def call(answer: Answer, token: str) -> Echoed:
        caplog.set_level(logging.DEBUG)
        with ScriptedServer(answer) as server:
            monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(server.url, token=token, max_retries=1))
            with pytest.raises(VyroError) as caught:
                _call(VyroHook(), api)
        out, err = capsys.readouterr()
        return Echoed(caught.value, server.seen[0], "\n".join([caplog.text, out, err]))

    return call


@pytest.mark.parametrize("echo", list(ECHOES))
def test_an_echoed_token_is_nowhere(echo_call: Echo, echo: str) -> None:
    answer, expected = ECHOES[echo]
    echoed = echo_call(answer, TOKEN)
    error, logged = echoed.error, echoed.logged
    assert type(error) is expected
    assert TOKEN in _sent(echoed.seen), "the server did receive the token, and echoed it"
    assert "***" in str(error), "the echo reached the error, redacted"

    texts = _texts(error)
    if isinstance(error, VyroUnexpectedResponseError):
        texts.append(str(error.location))
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


# --- a token with the characters URL encoding changes, echoed in every field and across every cut ---

HOSTILE = "Q7+x/Zk=9f3e+c1a7/b2d4=e6f8w=="
"""A token with ``+``, ``/`` and ``=``: its URL-encoded forms differ from it (and from each other)."""


def _lower_hex(text: str) -> str:
    """Percent-encode every character, with lowercase hex digits (``%2b`` where ``quote`` writes ``%2B``)."""
    return "".join(f"%{ord(char):02x}" for char in text)


def _forms(token: str) -> list[str]:
    """The token as sent, and every encoded form a server might echo it in."""
    return [token, quote(token), quote(token, safe=""), _lower_hex(token)]


def _leaks(text: str, token: str = HOSTILE) -> list[str]:
    """Every form of the token, or prefix of at least six characters of it, found in ``text``."""
    found = [form for form in _forms(token) if form in text]
    found += [token[:n] for n in range(6, len(token)) if token[:n] in text]
    return found


def _json_error(status: int, **fields: object) -> Reply:
    return Reply(
        status, json.dumps({"status": "error", **fields}).encode(), {"Content-Type": "application/json"}
    )


def _token(seen: Seen) -> str:
    return _sent(seen).removeprefix("Bearer ")


HOSTILE_ECHOES: dict[str, tuple[Answer, type[VyroError]]] = {
    "body code": (lambda s: _json_error(500, code=_token(s), message="m"), VyroServerError),
    "body code, cut": (lambda s: _json_error(500, code="c" * 30 + _token(s), message="m"), VyroServerError),
    "body error": (lambda s: _json_error(500, code=1200, error=f"bad {_token(s)}"), VyroServerError),
    "body message": (lambda s: _json_error(400, code=1100, message=f"bad {_token(s)}"), VyroBadRequestError),
    "body message, cut": (
        lambda s: _json_error(500, message="m" * (MESSAGE_LIMIT - 10) + _token(s)),
        VyroServerError,
    ),
    "body message, URL-encoded": (
        lambda s: _json_error(500, message=f"a={quote(_token(s))} b={_lower_hex(_token(s))}"),
        VyroServerError,
    ),
    "body that is not JSON, cut": (
        lambda s: Reply(
            503, ("x" * (MESSAGE_LIMIT - 10) + _token(s)).encode(), {"Content-Type": "text/plain"}
        ),
        VyroServerError,
    ),
    "Location header, cut": (
        lambda s: Reply(
            302, b"", {"Location": "http://127.0.0.2:9/" + "l" * (MESSAGE_LIMIT - 30) + _token(s)}
        ),
        VyroUnexpectedResponseError,
    ),
    "Location header, path-encoded": (
        lambda s: Reply(302, b"", {"Location": f"http://127.0.0.2:9/login/{quote(_token(s))}"}),
        VyroUnexpectedResponseError,
    ),
    "Content-Type header, cut": (
        lambda s: Reply(200, b"<html></html>", {"Content-Type": "text/html; n=" + "t" * 77 + _token(s)}),
        VyroResponseError,
    ),
    "status line, cut": (
        lambda s: Raw(f"HTTP/1.1 {'9' * (REASON_LIMIT - 20)}{_token(s)} OK\r\n\r\n".encode()),
        VyroConnectionError,
    ),
}


@pytest.mark.parametrize("echo", list(HOSTILE_ECHOES))
def test_a_hostile_echo_leaks_not_even_a_prefix_of_the_token(echo_call: Echo, echo: str) -> None:
    answer, expected = HOSTILE_ECHOES[echo]
    echoed = echo_call(answer, HOSTILE)
    error = echoed.error
    assert type(error) is expected
    assert _token(echoed.seen) == HOSTILE, "the server received the token as it is"
    texts = _texts(error) + [str(getattr(error, name, "")) for name in ("message", "code", "location")]
    for text in [*texts, echoed.logged]:
        assert _leaks(text) == []


def test_a_hostile_echo_reaches_no_manifest_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    items = make_items(tmp_path / "in", 2)
    manifest = tmp_path / "manifest.jsonl"

    def refuse(seen: Seen) -> Reply:
        return _json_error(400, code="c" * 30 + _token(seen), message=f"refused {quote(_token(seen))}")

    with ScriptedServer(refuse) as server:
        monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(server.url, token=HOSTILE, max_retries=0))
        with pytest.raises(VyroBatchError) as caught:
            InpaintBatchOperator(task_id="b", items=items, manifest_path=str(manifest)).execute(context={})
    lines = manifest.read_text().splitlines()
    assert len(lines) == 2
    assert all('"status": "failed"' in line for line in lines)
    assert all("***" in line for line in lines), "the echo reached the manifest, redacted"
    for text in [*lines, str(caught.value), caplog.text]:
        assert _leaks(text) == []
