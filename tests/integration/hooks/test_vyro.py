"""VyroHook against the emulator as a real HTTP server on loopback."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.exceptions import (
    VyroAPIError,
    VyroAuthenticationError,
    VyroBadRequestError,
    VyroCancelledError,
    VyroConnectionError,
    VyroError,
    VyroInputError,
    VyroInsufficientCreditsError,
    VyroRateLimitError,
    VyroResponseError,
    VyroServerError,
)
from airflow_provider_vyro.hooks.vyro import VyroHook
from tests.conftest import TOKEN, conn_json, make_scene
from tests.loopback import Reply, ScriptedServer


def _png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size


@pytest.fixture
def scene() -> tuple[bytes, bytes]:
    return make_scene(size=(96, 64), fmt="JPEG")


def test_inpaint_returns_png_of_image_size(vyro_conn: EmulatorServer, scene: tuple[bytes, bytes]) -> None:
    image, mask = scene
    png = VyroHook().inpaint(image=image, mask=mask, prompt="a hand full of flower petals")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert _png_size(png) == (96, 64)
    assert vyro_conn.stats()["requests"] == 1


def test_request_shape_fields_files_and_bearer_header(
    vyro_conn: EmulatorServer, scene_files: tuple[Path, Path]
) -> None:
    image, mask = scene_files
    misnamed = image.with_name("looks_like.png")
    misnamed.write_bytes(image.read_bytes())

    VyroHook().inpaint(image=misnamed, mask=mask, prompt="petals", model_version="1")

    stats = vyro_conn.stats()
    last = stats["last_request"]
    assert last["prompt"] == "petals"
    assert last["model_version"] == "1"
    assert last["image_content_type"] == "image/jpeg", "content type is sniffed from the bytes"
    assert last["image_filename"] == "looks_like.jpg"
    assert last["mask_content_type"] == "image/png"
    assert last["mask_filename"] == "photo_mask.png"
    assert last["image_bytes"] == misnamed.stat().st_size
    assert last["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert last["headers"]["bearer"] == "***"
    assert "authorization" not in last["headers"]
    assert stats["auth"]["bearer"] == 1


@pytest.mark.parametrize("kind", ["path", "str", "bytes", "file"])
def test_accepts_path_bytes_and_file_objects(
    vyro_conn: EmulatorServer, scene_files: tuple[Path, Path], kind: str
) -> None:
    image_path, mask_path = scene_files
    with image_path.open("rb") as image_file, mask_path.open("rb") as mask_file:
        choices: dict[str, tuple[Any, Any]] = {
            "path": (image_path, mask_path),
            "str": (str(image_path), str(mask_path)),
            "bytes": (image_path.read_bytes(), mask_path.read_bytes()),
            "file": (image_file, mask_file),
        }
        sources = choices[kind]
        png = VyroHook().inpaint(image=sources[0], mask=sources[1], prompt="sand")
    assert _png_size(png) == (96, 64)


def test_wrong_token_raises_authentication_error_after_one_request(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, scene: tuple[bytes, bytes]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url, token="wrong-token"))
    with pytest.raises(VyroAuthenticationError) as caught:
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert caught.value.status_code == 401
    assert isinstance(caught.value, AirflowFailException)
    assert emulator.stats()["requests"] == 1


def test_500_then_503_then_success_returns_png_after_three_requests(
    vyro_conn: EmulatorServer, scene: tuple[bytes, bytes]
) -> None:
    vyro_conn.set_faults(script=[500, 503])
    png = VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert _png_size(png) == (96, 64)
    stats = vyro_conn.stats()
    assert stats["requests"] == 3
    assert stats["by_status"] == {"500": 1, "503": 1, "200": 1}


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, VyroBadRequestError),
        (422, VyroBadRequestError),
        (401, VyroAuthenticationError),
        (403, VyroAuthenticationError),
        (406, VyroAuthenticationError),
        (402, VyroInsufficientCreditsError),
        (424, VyroInsufficientCreditsError),
    ],
)
def test_non_retryable_status_fails_at_once_with_its_error(
    vyro_conn: EmulatorServer, scene: tuple[bytes, bytes], status: int, error: type[VyroAPIError]
) -> None:
    vyro_conn.set_faults(script=[status])
    with pytest.raises(error) as caught:
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert caught.value.status_code == status
    assert caught.value.message, "the server's message is kept"
    assert isinstance(caught.value, AirflowFailException)
    assert vyro_conn.stats()["requests"] == 1


def test_server_errors_longer_than_max_retries_raise_server_error(
    vyro_conn: EmulatorServer, scene: tuple[bytes, bytes]
) -> None:
    vyro_conn.set_faults(script=[500, 502, 503, 504, 500])
    with pytest.raises(VyroServerError) as caught:
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert caught.value.status_code == 504
    assert not isinstance(caught.value, AirflowFailException), "task-level retries may try again"
    assert vyro_conn.stats()["requests"] == 4


def test_max_retries_from_hook_argument_overrides_connection(
    vyro_conn: EmulatorServer, scene: tuple[bytes, bytes]
) -> None:
    vyro_conn.set_faults(script=[500, 500, 500])
    with pytest.raises(VyroServerError):
        VyroHook(max_retries=1).inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert vyro_conn.stats()["requests"] == 2


def test_429_honours_retry_after(vyro_conn: EmulatorServer, scene: tuple[bytes, bytes]) -> None:
    vyro_conn.set_faults(script=[{"status": 429, "retry_after": 0.6}])
    started = time.monotonic()
    png = VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert time.monotonic() - started >= 0.6
    assert _png_size(png) == (96, 64)
    assert vyro_conn.stats()["requests"] == 2


def test_429_without_retry_after_backs_off_and_exhausts_to_rate_limit_error(
    vyro_conn: EmulatorServer, scene: tuple[bytes, bytes]
) -> None:
    vyro_conn.set_faults(script=[429, 429, 429, 429])
    with pytest.raises(VyroRateLimitError) as caught:
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert caught.value.retry_after is None
    assert vyro_conn.stats()["requests"] == 4


@pytest.mark.parametrize("fault", ["drop", "truncate", "json200", "html200", "garbage200"])
def test_transient_fault_is_retried_then_succeeds(
    vyro_conn: EmulatorServer, scene: tuple[bytes, bytes], fault: str
) -> None:
    vyro_conn.set_faults(script=[fault])
    png = VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert _png_size(png) == (96, 64)
    assert vyro_conn.stats()["requests"] == 2


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("drop", VyroConnectionError),
        ("truncate", VyroResponseError),
        ("json200", VyroResponseError),
        ("html200", VyroResponseError),
        ("garbage200", VyroResponseError),
    ],
)
def test_persistent_fault_raises_its_error_after_all_retries(
    vyro_conn: EmulatorServer, scene: tuple[bytes, bytes], fault: str, error: type[VyroError]
) -> None:
    vyro_conn.set_faults(script=[fault] * 4)
    with pytest.raises(error):
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert vyro_conn.stats()["requests"] == 4


def test_read_timeout_raises_connection_error(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, scene: tuple[bytes, bytes]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url, timeout=0.3, max_retries=1))
    emulator.set_faults(script=[{"sleep": 2}, {"sleep": 2}])
    started = time.monotonic()
    with pytest.raises(VyroConnectionError, match=r"did not answer within 0\.3 s"):
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert time.monotonic() - started < 3, "two 0.3 s timeouts, not the server's 2 s sleeps"
    assert emulator.stats()["requests"] == 2


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_raises_connection_error(
    monkeypatch: pytest.MonkeyPatch, scene: tuple[bytes, bytes]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(url, max_retries=2))
    with pytest.raises(VyroConnectionError, match="cannot reach the Vyro API"):
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")


def test_test_connection_reports_unreachable_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_VYRO_DEFAULT", conn_json(f"http://127.0.0.1:{_closed_port()}", max_retries=0)
    )
    ok, message = VyroHook().test_connection()
    assert not ok
    assert "cannot reach" in message


@pytest.mark.parametrize(
    "scenario",
    ["success", "unauthorised", "server_errors_exhausted"],
)
def test_token_never_in_logs_errors_or_repr(
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    scene: tuple[bytes, bytes],
    scenario: str,
) -> None:
    token = TOKEN if scenario != "unauthorised" else "another-secret-token-77"
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url, token=token))
    if scenario == "server_errors_exhausted":
        emulator.set_faults(script=[500] * 4)
    caplog.set_level(logging.DEBUG)
    hook = VyroHook()
    error: BaseException | None = None
    try:
        hook.inpaint(image=scene[0], mask=scene[1], prompt="sand")
    except VyroError as caught:
        error = caught
    assert (error is None) == (scenario == "success")
    logged = _logged(caplog, capsys)
    assert "attempt 1" in logged, "the check must see the hook's log lines to mean anything"
    texts = [logged, repr(hook), repr(hook.settings)]
    if error is not None:
        texts += [str(error), repr(error), repr(error.__cause__), repr(error.__context__)]
    for text in texts:
        assert token not in text


def _logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """Everything logged: Airflow 3 routes hook logs through structlog to stdout, not to caplog."""
    out, err = capsys.readouterr()
    return "\n".join([caplog.text, out, err])


def test_attempts_are_logged_briefly(
    vyro_conn: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    scene: tuple[bytes, bytes],
) -> None:
    caplog.set_level(logging.INFO)
    long_prompt = "a very long prompt " * 20
    vyro_conn.set_faults(script=[503])
    VyroHook().inpaint(image=scene[0], mask=scene[1], prompt=long_prompt)
    attempts = [line for line in _logged(caplog, capsys).splitlines() if "attempt" in line]
    assert any("-> 503" in line for line in attempts)
    assert any("-> 200" in line for line in attempts)
    assert all(long_prompt not in line for line in attempts), "prompt is shown as a short preview"
    assert any("retrying in" in line for line in attempts)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prompt": "   "}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"mask": make_scene(size=(50, 50))[1]}, "mask"),
        ({"image": b"GIF89a" + b"\x00" * 64}, "image"),
        ({"image": b""}, "image"),
        ({"image": "/no/such/file.png"}, "image"),
        ({"model_version": "latest"}, "model_version"),
    ],
)
def test_bad_input_fails_before_any_request(
    vyro_conn: EmulatorServer, scene: tuple[bytes, bytes], kwargs: dict[str, object], field: str
) -> None:
    call: dict[str, object] = {"image": scene[0], "mask": scene[1], "prompt": "sand", **kwargs}
    with pytest.raises(VyroInputError) as caught:
        VyroHook().inpaint(**call)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert vyro_conn.stats()["requests"] == 0


@pytest.mark.parametrize(
    ("conn", "problem"),
    [
        (None, "no connection 'vyro_default'"),
        ({"conn_type": "vyro", "host": "http://127.0.0.1:1"}, "no API token"),
        ({"conn_type": "vyro", "password": "t", "extra": {"timeout": "soon"}}, "'timeout' must be a number"),
        ({"conn_type": "vyro", "password": "t", "extra": {"max_retries": -1}}, "must not be negative"),
        ({"conn_type": "vyro", "password": "t", "extra": {"backoff_factor": "x"}}, "must be a number"),
    ],
)
def test_bad_connection_is_an_input_error(
    monkeypatch: pytest.MonkeyPatch, scene: tuple[bytes, bytes], conn: dict[str, object] | None, problem: str
) -> None:
    if conn is None:
        monkeypatch.delenv("AIRFLOW_CONN_VYRO_DEFAULT", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", json.dumps(conn))
    with pytest.raises(VyroInputError, match=problem) as caught:
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert caught.value.field == "vyro_conn_id"


def test_connection_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", json.dumps({"conn_type": "vyro", "password": "t"}))
    settings = VyroHook().settings
    assert settings.base_url == "https://api.vyro.ai"
    assert (settings.timeout, settings.max_retries, settings.backoff_factor) == (180.0, 3, 1.0)
    assert VyroHook().inpaint_url == "https://api.vyro.ai/v1/imagine/api/edits/inpaint"


_PROMPTS = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=1,
    max_size=300,
).filter(lambda text: text.strip() != "")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prompt=st.one_of(_PROMPTS, st.sampled_from(['say "hi"\r\n--boundary\r\n', "é" * 10_000, "x\n" * 4_000]))
)
def test_any_valid_prompt_arrives_intact(
    emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, prompt: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator_server.url))
    image, mask = make_scene(size=(16, 16))
    VyroHook().inpaint(image=image, mask=mask, prompt=prompt)
    assert emulator_server.stats()["last_request"]["prompt"] == prompt


def test_file_objects_are_sent_whole_whatever_their_position(
    vyro_conn: EmulatorServer, scene_files: tuple[Path, Path]
) -> None:
    image_path, mask_path = scene_files
    with image_path.open("rb") as image, mask_path.open("rb") as mask:
        image.seek(100)
        mask.read()
        png = VyroHook().inpaint(image=image, mask=mask, prompt="sand")
    assert _png_size(png) == (96, 64)
    assert vyro_conn.stats()["last_request"]["image_bytes"] == image_path.stat().st_size


def test_large_upload_streams_from_the_file_and_arrives_whole(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    noise = Image.frombytes("RGB", (1024, 768), os.urandom(1024 * 768 * 3))
    noise.save(tmp_path / "noise.png")
    size = (tmp_path / "noise.png").stat().st_size
    assert size > 2 * 1024 * 1024, "above the in-memory upload limit, so the encoder streams"
    mask = Image.new("L", (1024, 768), 0)
    mask.paste(255, (100, 100, 200, 200))
    mask.save(tmp_path / "mask.png")

    png = VyroHook().inpaint(image=tmp_path / "noise.png", mask=tmp_path / "mask.png", prompt="sand")

    assert _png_size(png) == (1024, 768)
    assert vyro_conn.stats()["last_request"]["image_bytes"] == size


# --- the token check, and the cap on a wait a server asks for ---------------------------------------


@pytest.mark.parametrize(
    "password",
    ["tok en-5f1c9e", "tok\nen-5f1c9e", "tok\ten-5f1c9e", "tökén-5f1c9e", "tok\x00en-5f1c9e", "tok\u00a0en"],
    ids=["space", "line break", "tab", "not ASCII", "NUL", "no-break space"],
)
def test_a_token_that_cannot_be_sent_is_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, scene: tuple[bytes, bytes], password: str
) -> None:
    with ScriptedServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(server.url, token=password))
        with pytest.raises(VyroInputError, match="paste it again") as caught:
            VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert caught.value.field == "vyro_conn_id"
    assert "vyro_default" in str(caught.value)
    assert password not in str(caught.value)
    assert server.seen == []


@pytest.mark.parametrize("token", ["Q7+x/Zk=9f3e==", "a.b_c-d~e!f$g*h", "  padded-5f1c9e\n"])
def test_a_token_of_printable_ascii_is_sent_as_it_is(
    monkeypatch: pytest.MonkeyPatch, scene: tuple[bytes, bytes], token: str
) -> None:
    with ScriptedServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(server.url, token=token))
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert server.seen[0].headers["bearer"] == token.strip()


def test_a_retry_after_of_a_day_waits_at_most_five_minutes(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    scene: tuple[bytes, bytes],
) -> None:
    caplog.set_level(logging.INFO)
    slow_down = Reply(429, b'{"code": 1202, "message": "slow down"}', {"Retry-After": "86400"})
    raised: list[BaseException] = []
    logged = ""

    def call(hook: VyroHook) -> None:
        try:
            hook.inpaint(image=scene[0], mask=scene[1], prompt="sand")
        except BaseException as error:
            raised.append(error)

    with ScriptedServer(lambda _: slow_down) as server:
        monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(server.url, max_retries=1))
        hook = VyroHook()
        worker = threading.Thread(target=call, args=(hook,))
        worker.start()
        give_up = time.monotonic() + 60
        while worker.is_alive() and "retrying in" not in logged and time.monotonic() < give_up:
            logged += capsys.readouterr().out + caplog.text
            time.sleep(0.05)
        hook.cancel()
        worker.join(30)
    assert "(VyroRateLimitError: Vyro API answered 429 (code 1202): slow down); retrying in 300.0 s" in logged
    assert len(raised) == 1
    assert isinstance(raised[0], VyroCancelledError), "the wait was cut short by cancel, not waited out"
    assert len(server.seen) == 1


# --- errors say what to do, from the user's side ---------------------------------------------------


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_a_refused_token_names_the_connection_and_how_to_check_it(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, scene: tuple[bytes, bytes], api: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_SHOP", conn_json(emulator.url, token="wrong-token"))
    hook = VyroHook("vyro_shop")
    calls = {
        "v1": lambda: hook.inpaint(image=scene[0], mask=scene[1], prompt="sand"),
        "v2": lambda: hook.text_to_image("sand"),
    }
    with pytest.raises(VyroAuthenticationError) as caught:
        calls[api]()
    text = str(caught.value)
    own = "Missing or invalid token" if api == "v1" else "The bearer token is invalid."
    assert "connection 'vyro_shop'" in text
    assert "`airflow connections test vyro_shop`" in text
    assert own in text
    assert text.index("airflow connections test") < text.index(own), "the API's own message comes after"


@pytest.mark.parametrize(
    ("status", "own"),
    [(402, "Not enough tokens (credits) for this request."), (424, "Insufficient credits for this request.")],
)
def test_no_credits_names_the_connection_and_where_to_top_up(
    vyro_conn: EmulatorServer, scene: tuple[bytes, bytes], status: int, own: str
) -> None:
    vyro_conn.set_faults(script=[status])
    with pytest.raises(VyroInsufficientCreditsError) as caught:
        VyroHook().generative_fill(scene[0], scene[1], "sand")
    text = str(caught.value)
    assert "connection 'vyro_default'" in text
    assert "top up" in text
    assert "Vyro's dashboard" in text
    assert text.endswith(f"The API said: {own}")


def test_connection_settings_are_described_from_the_connections_side(
    monkeypatch: pytest.MonkeyPatch, scene: tuple[bytes, bytes]
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_VYRO_SHOP",
        json.dumps({"conn_type": "vyro", "password": "t", "extra": {"timeout": "soon"}}),
    )
    with pytest.raises(VyroInputError) as caught:
        VyroHook("vyro_shop").inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert caught.value.field == "vyro_conn_id"
    assert (
        str(caught.value) == "Vyro connection 'vyro_shop': its extra 'timeout' must be a number, got 'soon'"
    )
    ok, message = VyroHook("vyro_shop").test_connection()
    assert not ok
    assert message.startswith("Vyro connection 'vyro_shop': ")
    monkeypatch.delenv("AIRFLOW_CONN_VYRO_SHOP")
    with pytest.raises(VyroInputError) as missing:
        VyroHook("vyro_shop").validate()
    assert str(missing.value).startswith("Vyro connection 'vyro_shop' not found")
    assert "airflow connections add vyro_shop" in str(missing.value)
