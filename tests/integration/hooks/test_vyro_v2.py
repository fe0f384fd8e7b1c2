"""VyroHook's v2 operations and generic call against the emulator as a real HTTP server on loopback."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException
from PIL import Image, ImageDraw

from airflow_provider_vyro.exceptions import (
    VyroAPIError,
    VyroAuthenticationError,
    VyroBadRequestError,
    VyroInputError,
    VyroInsufficientCreditsError,
    VyroRateLimitError,
    VyroResponseError,
    VyroServerError,
)
from airflow_provider_vyro.hooks.vyro import ImageResult, VyroHook
from tests.conftest import conn_json, encode, make_scene

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from airflow_provider_vyro.emulator.server import EmulatorServer


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def cutout_png(size: tuple[int, int] = (80, 60)) -> bytes:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((20, 10, 60, 50), fill=(200, 40, 40, 255))
    return encode(image, "PNG")


@pytest.fixture
def scene() -> tuple[bytes, bytes]:
    return make_scene(size=(96, 64), fmt="JPEG")


def last_request(emulator: EmulatorServer) -> dict[str, Any]:
    stats = emulator.stats()
    assert stats["auth"] == {"bearer": 0, "authorization": stats["requests"]}, (
        "v2 sends Authorization: Bearer"
    )
    last: dict[str, Any] = stats["last_request"]
    assert last["headers"]["authorization"] == "Bearer ***"
    assert "bearer" not in last["headers"]
    return last


# --- the request on the wire ------------------------------------------------------------------


def test_generative_fill_request_and_answer(vyro_conn: EmulatorServer, scene: tuple[bytes, bytes]) -> None:
    image = VyroHook().generative_fill(scene[0], scene[1], "a hand full of petals")
    assert opened(image).size == (96, 64)
    last = last_request(vyro_conn)
    assert (last["operation"], last["path"]) == ("generative_fill", "/v2/image/edits/generative-fill")
    assert last["prompt"] == "a hand full of petals"
    assert "model_version" not in last, "model_version belongs to v1"
    assert (last["image_content_type"], last["mask_content_type"]) == ("image/jpeg", "image/png")
    assert (last["image_bytes"], last["mask_bytes"]) == (len(scene[0]), len(scene[1]))


def test_text_to_image_request_and_answer(vyro_conn: EmulatorServer) -> None:
    image = VyroHook().text_to_image("a lighthouse", style="flux-dev", aspect_ratio="16:9", seed=12)
    assert opened(image).size == (512, 288)
    last = last_request(vyro_conn)
    assert (last["operation"], last["path"]) == ("text_to_image", "/v2/image/generations")
    assert (last["prompt"], last["style"], last["aspect_ratio"], last["seed"]) == (
        "a lighthouse",
        "flux-dev",
        "16:9",
        "12",
    )
    assert not [key for key in last if key.endswith("_filename")], "no files"


def test_text_to_image_sends_its_defaults_and_no_seed(vyro_conn: EmulatorServer) -> None:
    VyroHook().text_to_image("a lighthouse")
    last = last_request(vyro_conn)
    assert (last["style"], last["aspect_ratio"], last["seed"]) == ("imagine-turbo", "1:1", None)


def test_transparent_calls_the_transparent_endpoint_without_style(vyro_conn: EmulatorServer) -> None:
    image = opened(VyroHook().text_to_image("a red balloon", aspect_ratio="3:4", seed=2, transparent=True))
    assert image.mode == "RGBA"
    assert image.size == (384, 512)
    last = last_request(vyro_conn)
    assert (last["operation"], last["path"]) == ("text_to_png", "/v2/image/generations/transparent")
    assert "style" not in last
    assert (last["aspect_ratio"], last["seed"]) == ("3:4", "2")


def test_ai_background_request_and_answer(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    cut = tmp_path / "shoe.png"
    cut.write_bytes(cutout_png())
    image = VyroHook().ai_background(cut, "a marble table", seed=5)
    assert opened(image).size == (80, 60)
    last = last_request(vyro_conn)
    assert (last["operation"], last["path"]) == ("ai_background", "/v2/image/generations/ai-background")
    assert (last["prompt"], last["style"], last["seed"]) == ("a marble table", "product-shoot", "5")
    assert (last["image_filename"], last["image_content_type"]) == ("shoe.png", "image/png")


def test_streaming_twins_report_what_they_wrote(
    vyro_conn: EmulatorServer, scene: tuple[bytes, bytes]
) -> None:
    hook = VyroHook()
    vyro_conn.set_faults(answer_format="WEBP")
    for call in (
        lambda out: hook.generative_fill_to(out, scene[0], scene[1], "petals"),
        lambda out: hook.text_to_image_to(out, "a lighthouse", aspect_ratio="9:16"),
        lambda out: hook.ai_background_to(out, cutout_png(), "a beach"),
    ):
        out = io.BytesIO()
        result = call(out)
        data = out.getvalue()
        image = opened(data)
        assert isinstance(result, ImageResult)
        assert (result.format, result.width, result.height) == ("WEBP", *image.size)
        assert (result.bytes, result.attempts) == (len(data), 1)


# --- refused before sending --------------------------------------------------------------------


def _bad_calls(scene: tuple[bytes, bytes]) -> list[tuple[str, Callable[[VyroHook], object], str]]:
    image, mask = scene
    flat_png = encode(Image.new("RGB", (40, 30)), "PNG")
    return [
        ("style", lambda h: h.text_to_image("p", style="Anime"), "must be one of"),
        ("style", lambda h: h.text_to_image("p", style="product-shoot"), "'flux-dev'"),
        ("aspect_ratio", lambda h: h.text_to_image("p", aspect_ratio="2:1"), "'16:9'"),
        ("aspect_ratio", lambda h: h.text_to_image("p", aspect_ratio="2:1", transparent=True), "'9:16'"),
        ("seed", lambda h: h.text_to_image("p", seed=0), ">= 1"),
        ("seed", lambda h: h.text_to_image("p", seed=1.5), ">= 1"),
        ("seed", lambda h: h.text_to_image("p", seed="1.5"), ">= 1"),
        ("seed", lambda h: h.text_to_image("p", seed=True), ">= 1"),
        ("prompt", lambda h: h.text_to_image(" "), "only whitespace"),
        ("style", lambda h: h.text_to_image("p", style="anime", transparent=True), "no style"),
        ("style", lambda h: h.ai_background(cutout_png(), "p", style="realistic"), "'product-shoot'"),
        ("seed", lambda h: h.ai_background(cutout_png(), "p", seed=-4), ">= 1"),
        ("image", lambda h: h.ai_background(image, "p"), "JPEG image, which cannot be transparent"),
        ("image", lambda h: h.ai_background(flat_png, "p"), "no transparency"),
        ("prompt", lambda h: h.ai_background(cutout_png(), ""), "the background"),
        ("mask", lambda h: h.generative_fill(image, make_scene(size=(50, 50))[1], "p"), "same size"),
        ("image", lambda h: h.generative_fill(b"GIF89a" + b"\x00" * 64, mask, "p"), "not a JPEG or PNG"),
        ("prompt", lambda h: h.generative_fill(image, mask, ""), "masked area"),
        ("path", lambda h: h.post_image("/v3/image/enhance"), "/v1/ or /v2/"),
        ("path", lambda h: h.post_image("/v2/../admin"), "plain segments"),
        ("scale", lambda h: h.post_image("/v2/image/enhance", fields={"scale": 1.5}), "string"),
    ]


@pytest.mark.parametrize("case", range(21))
def test_bad_input_is_refused_before_any_request(
    vyro_conn: EmulatorServer, scene: tuple[bytes, bytes], case: int
) -> None:
    field, call, words = _bad_calls(scene)[case]
    with pytest.raises(VyroInputError) as caught:
        call(VyroHook())
    assert caught.value.field == field
    assert words in caught.value.problem
    assert isinstance(caught.value, AirflowFailException)
    assert vyro_conn.stats()["requests"] == 0


def test_every_bad_call_is_tested(scene: tuple[bytes, bytes]) -> None:
    assert len(_bad_calls(scene)) == 21


# --- answers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
def test_answers_in_any_format_are_read_from_the_bytes(vyro_conn: EmulatorServer, fmt: str) -> None:
    vyro_conn.set_faults(answer_format=fmt)
    out = io.BytesIO()
    result = VyroHook().text_to_image_to(out, "a lighthouse")
    assert result.format == fmt
    assert opened(out.getvalue()).format == fmt


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
def test_a_truncated_answer_is_retried(vyro_conn: EmulatorServer, fmt: str) -> None:
    vyro_conn.set_faults(answer_format=fmt, script=["truncate"])
    out = io.BytesIO()
    result = VyroHook().text_to_image_to(out, "a lighthouse", seed=3)
    assert (result.format, result.attempts) == (fmt, 2)
    assert opened(out.getvalue()).size == (512, 512)
    assert len(out.getvalue()) == result.bytes, "the broken first answer was discarded"


@pytest.mark.parametrize("fault", ["json200", "html200", "garbage200", "truncate"])
def test_a_200_that_is_not_a_complete_image_is_a_response_error(
    vyro_conn: EmulatorServer, fault: str
) -> None:
    vyro_conn.set_faults(answer_format="JPEG", script=[fault] * 4)
    with pytest.raises(VyroResponseError, match=r"not a complete image|the answer broke off"):
        VyroHook().text_to_image("a lighthouse")
    assert vyro_conn.stats()["requests"] == 4


def test_the_v1_inpaint_answer_must_be_png(vyro_conn: EmulatorServer, scene: tuple[bytes, bytes]) -> None:
    vyro_conn.set_faults(answer_format={"inpaint": "JPEG"})
    with pytest.raises(VyroResponseError, match="the body is a JPEG image, not a PNG image"):
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert vyro_conn.stats()["requests"] == 4


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "status", "code"),
    [
        ({"status": 400, "code": 1000}, VyroAuthenticationError, 400, 1000),
        (400, VyroBadRequestError, 400, 1100),
        (406, VyroAuthenticationError, 406, 1002),
        (402, VyroInsufficientCreditsError, 402, 1101),
    ],
)
def test_v2_error_codes_are_mapped_and_not_retried(
    vyro_conn: EmulatorServer, fault: object, error: type[VyroAPIError], status: int, code: int
) -> None:
    vyro_conn.set_faults(script=[fault])
    with pytest.raises(error) as caught:
        VyroHook().text_to_image("a lighthouse")
    assert (caught.value.status_code, caught.value.code) == (status, code)
    assert f"(code {code})" in str(caught.value)
    assert isinstance(caught.value, AirflowFailException)
    assert vyro_conn.stats()["requests"] == 1


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [({"status": 429, "retry_after": 0}, VyroRateLimitError, 1202), (503, VyroServerError, 1200)],
)
def test_v2_retryable_codes_are_retried(
    vyro_conn: EmulatorServer, fault: object, error: type[VyroAPIError], code: int
) -> None:
    vyro_conn.set_faults(script=[fault] * 4)
    with pytest.raises(error) as caught:
        VyroHook().text_to_image("a lighthouse")
    assert caught.value.code == code
    assert vyro_conn.stats()["requests"] == 4


def test_a_wrong_token_is_401_with_code_1001(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url, token="wrong-token"))
    with pytest.raises(VyroAuthenticationError) as caught:
        VyroHook().text_to_image("a lighthouse")
    assert (caught.value.status_code, caught.value.code) == (401, 1001)


def test_an_unknown_value_the_server_refuses_is_a_bad_request(vyro_conn: EmulatorServer) -> None:
    with pytest.raises(VyroBadRequestError) as caught:
        VyroHook().post_image("/v2/image/generations", fields={"prompt": "p", "style": "unknown-style"})
    assert (caught.value.status_code, caught.value.code) == (400, 1100)
    assert "Invalid style" in caught.value.message


# --- the generic call --------------------------------------------------------------------------


def test_post_image_reaches_a_v2_path_with_the_v2_header(vyro_conn: EmulatorServer) -> None:
    image = VyroHook().post_image(
        "/v2/image/generations", fields={"prompt": "a lighthouse", "style": "anime", "seed": 4}
    )
    assert opened(image).size == (512, 512)
    last = last_request(vyro_conn)
    assert (last["path"], last["style"], last["seed"]) == ("/v2/image/generations", "anime", "4")


def test_post_image_with_files_and_destination(vyro_conn: EmulatorServer) -> None:
    out = io.BytesIO()
    result = VyroHook().post_image(
        "/v2/image/generations/ai-background",
        fields={"prompt": "a beach"},
        files={"image": cutout_png()},
        destination=out,
    )
    assert isinstance(result, ImageResult)
    assert (result.width, result.height, result.bytes) == (80, 60, len(out.getvalue()))
    assert last_request(vyro_conn)["image_content_type"] == "image/png"


def test_post_image_on_a_v1_path_sends_the_v1_header(
    vyro_conn: EmulatorServer, scene: tuple[bytes, bytes]
) -> None:
    png = VyroHook().post_image(
        "/v1/imagine/api/edits/inpaint",
        fields={"prompt": "sand", "model_version": "1"},
        files={"image": scene[0], "mask": scene[1]},
    )
    assert opened(png).format == "PNG"
    stats = vyro_conn.stats()
    assert stats["auth"] == {"bearer": 1, "authorization": 0}
    assert stats["last_request"]["headers"]["bearer"] == "***"


def test_post_image_to_a_path_the_server_does_not_have(vyro_conn: EmulatorServer) -> None:
    with pytest.raises(VyroAPIError) as caught:
        VyroHook().post_image("/v2/image/edits/retouch", files={"image": cutout_png()})
    assert caught.value.status_code == 404
    assert vyro_conn.stats()["requests"] == 0, "not an API endpoint of the emulator"


# --- the log line ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "cost"),
    [
        ("flux-dev", "documented cost 15 tokens"),
        ("imagine-turbo", "documented cost 1 token"),
        ("anime", "documented cost 5 tokens"),
        ("sdxl-1.0", "cost not documented"),
    ],
)
def test_the_log_line_names_the_operation_and_the_cost(
    vyro_conn: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    style: str,
    cost: str,
) -> None:
    caplog.set_level(logging.INFO)
    VyroHook().text_to_image("a lighthouse", style=style)
    out, err = capsys.readouterr()
    lines = [line for line in "\n".join([caplog.text, out, err]).splitlines() if "attempt 1" in line]
    assert len(lines) == 1
    assert "text_to_image: POST /v2/image/generations attempt 1" in lines[0]
    assert f"style '{style}'" in lines[0]
    assert cost in lines[0]
    assert "-> 200 PNG 512x512" in lines[0]


def test_other_operations_name_themselves_without_a_cost(
    vyro_conn: EmulatorServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    VyroHook().ai_background(cutout_png(), "a beach")
    out, err = capsys.readouterr()
    line = next(line for line in "\n".join([caplog.text, out, err]).splitlines() if "attempt 1" in line)
    assert "ai_background: POST /v2/image/generations/ai-background attempt 1" in line
    assert "cost" not in line
