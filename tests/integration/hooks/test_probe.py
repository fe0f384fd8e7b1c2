"""
``VyroHook.test_connection`` against loopback servers that answer its probes as the API would:
the v2 probe first (a text-to-image request without a prompt), the v1 probe when v2 is absent.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_vyro.catalogue import INPAINT, TEXT_TO_IMAGE
from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.hooks.vyro import VyroHook
from tests.conftest import TOKEN, conn_json
from tests.loopback import Reply, ScriptedServer, Seen


def _error(status: int, code: int | str | None = None) -> Reply:
    body = {"status": "error", "code": code, "error": "Error", "message": f"emulated {status}"}
    return Reply(status, json.dumps(body).encode(), {"Content-Type": "application/json"})


def _by_path(v2: Reply, v1: Reply | None = None) -> ScriptedServer:
    def answer(seen: Seen) -> Reply:
        if seen.target == TEXT_TO_IMAGE.path:
            return v2
        if seen.target == INPAINT.path and v1 is not None:
            return v1
        return _error(404)

    return ScriptedServer(answer)


@pytest.mark.parametrize(
    ("v2", "v1", "ok", "words", "paths"),
    [
        (_error(400, 1100), None, True, "Token accepted", ["v2"]),
        (_error(400, "1003"), None, True, "Token accepted", ["v2"]),
        (_error(401, 1001), None, False, "Token refused", ["v2"]),
        (_error(406, 1002), None, False, "Token refused", ["v2"]),
        (_error(400, 1000), None, False, "did not receive the token", ["v2"]),
        (_error(404), _error(400), True, "v1 API", ["v2", "v1"]),
        (_error(404), _error(401), False, "Token refused", ["v2", "v1"]),
        (_error(404), _error(404), False, "Neither the v2 nor the v1 API", ["v2", "v1"]),
        (Reply(302, b"", {"Location": "https://login.example/sso"}), None, False, "login.example", ["v2"]),
        (_error(503, 1200), None, False, "could not check the token now", ["v2"]),
        (_error(429, 1202), None, False, "try again later", ["v2"]),
        (_error(501), None, False, "does not document", ["v2"]),
        (Reply(200, b"\x89PNG"), None, False, "does not behave as the Vyro API", ["v2"]),
    ],
)
def test_test_connection_reads_each_answer(
    monkeypatch: pytest.MonkeyPatch, v2: Reply, v1: Reply | None, ok: bool, words: str, paths: list[str]
) -> None:
    with _by_path(v2, v1) as server:
        monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(server.url))
        result, message = VyroHook().test_connection()
    assert (result, words in message) == (ok, True), message
    expected = {"v2": TEXT_TO_IMAGE.path, "v1": INPAINT.path}
    assert [seen.target for seen in server.seen] == [expected[p] for p in paths], "one probe each, no retry"
    assert all("prompt" not in seen.body.decode(errors="replace") for seen in server.seen), "no prompt sent"
    assert server.seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in message


def test_test_connection_against_the_emulator_spends_nothing(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url))
    ok, message = VyroHook().test_connection()
    assert ok, message
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url, token="bad"))
    ok, message = VyroHook().test_connection()
    assert not ok
    assert "refused" in message
    assert "200" not in emulator.stats()["by_status"], "nothing was generated"


def test_test_connection_refuses_cleartext_off_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json("http://vyro-api.invalid"))
    ok, message = VyroHook().test_connection()
    assert not ok
    assert "use https ('https://vyro-api.invalid')" in message
