"""The Vyro API emulator, exercised as a real HTTP server on loopback."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image, ImageChops, ImageDraw, ImageStat

from airflow_provider_vyro.emulator import EmulatorServer, Fault, FaultConfig
from airflow_provider_vyro.emulator.__main__ import fault_list
from airflow_provider_vyro.emulator.inpainting import hole_mask, inpaint
from tests.conftest import TOKEN, encode

SIZE = (64, 48)
DISC = (20, 10, 40, 30)
ERROR_KEYS = {"status", "code", "error", "message"}

pytestmark = pytest.mark.timeout(60)


def gradient_with_disc() -> Image.Image:
    width, height = SIZE
    image = Image.new("RGB", SIZE)
    image.putdata([(x * 255 // width, y * 255 // height, 160) for y in range(height) for x in range(width)])
    ImageDraw.Draw(image).ellipse(DISC, fill=(255, 0, 0))
    return image


def disc_mask(size: tuple[int, int] = SIZE) -> Image.Image:
    mask = Image.new("L", size)
    left, top, right, bottom = DISC
    ImageDraw.Draw(mask).ellipse((left - 2, top - 2, right + 2, bottom + 2), fill=255)
    return mask


IMAGE = gradient_with_disc()
IMAGE_PNG = encode(IMAGE)
MASK_PNG = encode(disc_mask())


def files(
    image: bytes = IMAGE_PNG,
    mask: bytes = MASK_PNG,
    image_name: str = "photo.png",
    image_type: str = "image/png",
) -> dict[str, tuple[str, bytes, str]]:
    return {"image": (image_name, image, image_type), "mask": ("mask.png", mask, "image/png")}


def post(
    emulator: EmulatorServer,
    *,
    headers: dict[str, str] | None = None,
    data: dict[str, str] | None = None,
    upload: dict[str, tuple[str, bytes, str]] | None = None,
    timeout: float | tuple[float, float] = 10,
    session: requests.Session | None = None,
) -> requests.Response:
    sender: Any = session or requests
    return sender.post(  # type: ignore[no-any-return]
        emulator.inpaint_url,
        headers={"bearer": TOKEN} if headers is None else headers,
        data={"prompt": "a field of flowers", "model_version": "1"} if data is None else data,
        files=files() if upload is None else upload,
        timeout=timeout,
    )


def assert_error(response: requests.Response, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_KEYS
    assert body["status"] == "error"
    assert body["code"] == status
    assert body["error"]
    for word in words:
        assert word in body["message"]
    return body


def assert_unchanged_outside_the_mask(result: Image.Image, original: Image.Image) -> Image.Image:
    difference = ImageChops.difference(result, original.convert("RGB"))
    outside = ImageStat.Stat(difference, mask=ImageChops.invert(hole_mask(disc_mask(original.size))))
    assert all(high == 0 for _, high in outside.extrema)
    return difference


def assert_inpainted(response: requests.Response, original: Image.Image) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    result = Image.open(io.BytesIO(response.content))
    assert result.format == "PNG"
    assert result.size == original.size
    assert result.mode == "RGB"
    difference = assert_unchanged_outside_the_mask(result, original)
    hole = hole_mask(disc_mask(original.size))
    inside = ImageStat.Stat(difference, mask=hole)
    assert sum(inside.mean) / 3 > 40
    red, _, blue = ImageStat.Stat(result, mask=hole).mean
    assert red < 200
    assert blue > 100
    return result


# --- success -----------------------------------------------------------------------------------


def test_inpaint_answers_a_png_that_only_changes_the_masked_pixels(emulator: EmulatorServer) -> None:
    assert_inpainted(post(emulator), IMAGE)


def test_jpeg_image_and_mask_are_accepted(emulator: EmulatorServer) -> None:
    jpeg = encode(IMAGE, "JPEG")
    response = post(emulator, upload=files(jpeg, encode(disc_mask(), "JPEG"), "photo.jpg", "image/jpeg"))
    assert_inpainted(response, Image.open(io.BytesIO(jpeg)))


def test_formats_are_sniffed_by_content_not_by_declared_type(emulator: EmulatorServer) -> None:
    response = post(emulator, upload=files(image_name="photo.gif", image_type="application/octet-stream"))
    assert_inpainted(response, IMAGE)


def test_model_version_defaults_to_1(emulator: EmulatorServer) -> None:
    assert post(emulator, data={"prompt": "flowers"}).status_code == 200


def test_rgba_palette_and_grey_images_are_answered_in_rgb(emulator: EmulatorServer) -> None:
    for mode in ("RGBA", "P"):
        original = IMAGE.convert(mode)
        assert_inpainted(post(emulator, upload=files(encode(original))), original)
    grey = IMAGE.convert("L")
    response = post(emulator, upload=files(encode(grey)))
    assert response.status_code == 200
    result = Image.open(io.BytesIO(response.content))
    assert result.mode == "RGB"
    assert_unchanged_outside_the_mask(result, grey)


def test_empty_mask_returns_the_image_unchanged(emulator: EmulatorServer) -> None:
    response = post(emulator, upload=files(mask=encode(Image.new("L", SIZE))))
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).tobytes() == IMAGE.tobytes()


# --- authentication ------------------------------------------------------------------------------


def test_bearer_header_is_accepted(emulator: EmulatorServer) -> None:
    assert post(emulator, headers={"bearer": TOKEN}).status_code == 200
    assert emulator.stats()["auth"] == {"bearer": 1, "authorization": 0}


def test_authorization_bearer_header_is_accepted(emulator: EmulatorServer) -> None:
    assert post(emulator, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert emulator.stats()["auth"] == {"bearer": 0, "authorization": 1}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"bearer": "wrong"},
        {"bearer": ""},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
    ],
)
def test_missing_or_wrong_token_is_401(emulator: EmulatorServer, headers: dict[str, str]) -> None:
    assert_error(post(emulator, headers=headers), 401, "token")


def test_token_is_checked_before_the_fields(emulator: EmulatorServer) -> None:
    assert_error(post(emulator, headers={"bearer": "wrong"}, data={}, upload={}), 401)
    assert_error(post(emulator, data={}, upload={}), 400)


# --- validation ----------------------------------------------------------------------------------

GIF = encode(IMAGE, "GIF")
TEXT = b"just some text, not an image\n"


@pytest.mark.parametrize(
    ("data", "upload", "field"),
    [
        pytest.param({}, None, "prompt", id="missing-prompt"),
        pytest.param({"prompt": "   "}, None, "prompt", id="blank-prompt"),
        pytest.param({"prompt": "x", "model_version": "2"}, None, "model_version", id="bad-model-version"),
        pytest.param(None, {"mask": files()["mask"]}, "image", id="missing-image"),
        pytest.param(None, {"image": files()["image"]}, "mask", id="missing-mask"),
        pytest.param(None, files(GIF, image_name="photo.png"), "image", id="gif-disguised-as-png"),
        pytest.param(None, files(TEXT, image_name="notes.png"), "image", id="text-as-image"),
        pytest.param(None, files(mask=TEXT), "mask", id="text-as-mask"),
        pytest.param(None, files(mask=encode(disc_mask((32, 24)))), "mask", id="mask-size-mismatch"),
        pytest.param(None, files(IMAGE_PNG[: len(IMAGE_PNG) // 2]), "image", id="truncated-png"),
        pytest.param(None, files(b""), "image", id="empty-image"),
    ],
)
def test_bad_requests_are_400_naming_the_field(
    emulator: EmulatorServer,
    data: dict[str, str] | None,
    upload: dict[str, tuple[str, bytes, str]] | None,
    field: str,
) -> None:
    assert_error(post(emulator, data=data, upload=upload), 400, field)


def test_gif_message_names_the_detected_format(emulator: EmulatorServer) -> None:
    assert_error(post(emulator, upload=files(GIF)), 400, "image", "GIF")


def test_non_multipart_body_is_400(emulator: EmulatorServer) -> None:
    response = requests.post(
        emulator.inpaint_url, headers={"bearer": TOKEN}, json={"prompt": "x"}, timeout=10
    )
    assert_error(response, 400, "multipart/form-data")


def test_unknown_route_uses_the_error_body(emulator: EmulatorServer) -> None:
    assert_error(requests.get(emulator.url + "/v1/nope", timeout=10), 404)
    assert_error(requests.get(emulator.inpaint_url, timeout=10), 405)


# --- faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 402, 403, 406, 422, 424, 500, 502, 503])
def test_scripted_status_is_answered_with_the_error_body(emulator: EmulatorServer, status: int) -> None:
    emulator.set_faults(script=[status])
    response = post(emulator)
    assert_error(response, status)
    assert "retry-after" not in response.headers


def test_429_without_retry_after(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=[429])
    response = post(emulator)
    assert_error(response, 429)
    assert "retry-after" not in response.headers


def test_429_with_retry_after(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=[{"status": 429, "retry_after": 1.5}])
    assert post(emulator).headers["Retry-After"] == "1.5"


def test_default_retry_after_knob_applies_to_plain_429(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=[429, {"status": 429, "retry_after": 3}], retry_after=1)
    assert post(emulator).headers["Retry-After"] == "1"
    assert post(emulator).headers["Retry-After"] == "3"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_fault_answers_that_status_and_location(emulator: EmulatorServer, status: int) -> None:
    emulator.set_faults(
        script=[{"redirect": status, "location": "http://127.0.0.2:9/x"}, {"redirect": status}]
    )
    for location in ("http://127.0.0.2:9/x", "https://moved.invalid/"):
        response = requests.post(emulator.inpaint_url, allow_redirects=False, timeout=10)
        assert response.status_code == status
        assert response.headers["location"] == location
    assert emulator.stats()["faults"] == {str(status): 2}


@pytest.mark.parametrize("code", [1000, "1101"])
def test_scripted_status_carries_the_given_code(emulator: EmulatorServer, code: int | str) -> None:
    emulator.set_faults(script=[{"status": 400, "code": code}])
    response = post(emulator)
    assert response.status_code == 400
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    "fault",
    [{"redirect": 200}, {"redirect": 404}, {"redirect": 301, "location": ""}],
)
def test_invalid_redirect_faults_are_rejected(emulator: EmulatorServer, fault: object) -> None:
    with pytest.raises(ValueError, match="emulator rejected"):
        emulator.set_faults(script=[fault])


def test_drop_closes_the_connection_without_a_response(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=["drop"])
    with requests.Session() as session:
        with pytest.raises(requests.exceptions.ConnectionError):
            post(emulator, session=session)
        assert post(emulator, session=session).status_code == 200
    stats = emulator.stats()
    assert stats["faults"] == {"drop": 1}
    assert stats["by_status"] == {"200": 1}


def test_truncate_sends_less_than_the_announced_length(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=["truncate"])
    try:
        response = post(emulator)
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
        pass
    else:
        assert response.headers["content-type"] == "image/png"
        assert len(response.content) < int(response.headers["content-length"])
    assert emulator.stats()["faults"] == {"truncate": 1}


def test_truncated_body_is_a_prefix_of_a_png(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=["truncate"])
    response = requests.post(
        emulator.inpaint_url,
        headers={"bearer": TOKEN},
        data={"prompt": "x"},
        files=files(),
        stream=True,
        timeout=10,
    )
    assert response.status_code == 200
    announced = int(response.headers["content-length"])
    chunks: list[bytes] = []
    with contextlib.suppress(requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
        chunks.extend(response.iter_content(8))
    received = b"".join(chunks)
    assert received.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(received) < announced


def test_json200_html200_and_garbage200(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=["json200", "html200", "garbage200"])
    as_json = post(emulator)
    assert (as_json.status_code, as_json.headers["content-type"]) == (200, "application/json")
    assert isinstance(as_json.json(), dict)
    as_html = post(emulator)
    assert as_html.status_code == 200
    assert as_html.headers["content-type"].startswith("text/html")
    garbage = post(emulator)
    assert (garbage.status_code, garbage.headers["content-type"]) == (200, "image/png")
    assert not garbage.content.startswith(b"\x89PNG")


def test_sleep_makes_a_short_read_timeout_expire(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=[{"sleep": 3}])
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(emulator, timeout=(5, 0.3))
    assert time.monotonic() - started < 2
    assert post(emulator).status_code == 200


def test_script_is_consumed_in_order_then_behaviour_is_normal(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=[503, "ok", 500, 429])
    assert emulator.faults()["script"] == [503, "ok", 500, 429]
    statuses = [post(emulator).status_code for _ in range(6)]
    assert statuses == [503, 200, 500, 429, 200, 200]
    assert emulator.faults()["script"] == []


def test_faults_come_before_the_token_check(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=[503])
    assert post(emulator, headers={"bearer": "wrong"}).status_code == 503
    assert post(emulator, headers={"bearer": "wrong"}).status_code == 401


def test_random_faults_are_deterministic_with_a_seed(emulator: EmulatorServer) -> None:
    knobs = {"random_faults": {"rate": 0.5, "kinds": [500, 503, "json200"], "seed": 7}}

    def run() -> list[int]:
        emulator.set_faults(**knobs)
        return [post(emulator, data={"prompt": "x"}, upload={}).status_code for _ in range(16)]

    first = run()
    assert first == run()
    faulted = [status for status in first if status != 400]
    assert 0 < len(faulted) < len(first)


def test_latency_is_added_without_serialising_requests(emulator: EmulatorServer) -> None:
    emulator.set_faults(latency=0.4)
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: post(emulator).status_code, range(4)))
    elapsed = time.monotonic() - started
    assert statuses == [200] * 4
    assert 0.4 <= elapsed < 1.5
    assert emulator.stats()["max_in_flight"] >= 2


def test_invalid_fault_knobs_are_rejected(emulator: EmulatorServer) -> None:
    for knobs in ({"script": ["explode"]}, {"script": [200]}, {"latency": -1}, {"bogus": 1}):
        with pytest.raises(ValueError, match="emulator rejected"):
            emulator.set_faults(**knobs)


def test_fault_grammar_round_trips() -> None:
    items: list[object] = [
        500,
        "drop",
        {"status": 429, "retry_after": 1.5},
        {"status": 400, "code": "1000"},
        {"redirect": 307, "location": "https://elsewhere.example/"},
        {"sleep": 2.0},
        "ok",
    ]
    config = FaultConfig.from_dict(
        {"script": items, "random_faults": {"rate": 0.1, "kinds": [500], "seed": 1}}
    )
    assert FaultConfig.from_dict(config.to_json()) == config
    assert [fault.to_json() for fault in config.script] == items
    assert Fault.parse("503").label == "503"
    assert fault_list("500,drop,429:1.5,sleep:5") == [
        500,
        "drop",
        {"status": 429, "retry_after": 1.5},
        {"sleep": 5},
    ]


# --- stats and reset -----------------------------------------------------------------------------


def test_stats_count_every_request_and_redact_the_token(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=["drop", 500])
    with pytest.raises(requests.exceptions.ConnectionError):
        post(emulator)
    post(emulator)
    post(emulator, headers={"bearer": "wrong"})
    post(emulator, data={})
    post(
        emulator,
        headers={"Authorization": f"Bearer {TOKEN}"},
        data={"prompt": "tulips", "model_version": "1"},
    )

    stats = emulator.stats()
    assert stats["requests"] == 5
    assert stats["by_status"] == {"500": 1, "401": 1, "400": 1, "200": 1}
    assert stats["faults"] == {"drop": 1, "500": 1}
    assert stats["auth"] == {"bearer": 1, "authorization": 1}
    last = stats["last_request"]
    assert last["prompt"] == "tulips"
    assert last["model_version"] == "1"
    assert (last["image_filename"], last["image_content_type"]) == ("photo.png", "image/png")
    assert (last["mask_filename"], last["mask_content_type"]) == ("mask.png", "image/png")
    assert (last["image_bytes"], last["mask_bytes"]) == (len(IMAGE_PNG), len(MASK_PNG))
    assert last["headers"]["authorization"] == "Bearer ***"
    assert last["headers"]["content-type"].startswith("multipart/form-data")
    assert TOKEN not in json.dumps(stats)


def test_reset_ends_calls_still_in_flight_so_the_next_user_starts_clean(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=[{"sleep": 120}, {"sleep": 120}])
    with ThreadPoolExecutor(2) as pool:
        abandoned = [pool.submit(post, emulator, timeout=(5, 60)) for _ in range(2)]
        deadline = time.monotonic() + 30
        while emulator.stats()["in_flight"] < 2:
            assert time.monotonic() < deadline, "the calls never arrived"
            time.sleep(0.02)

        emulator.reset()
        after = emulator.stats()
        for call in abandoned:
            with pytest.raises(requests.ConnectionError):
                call.result(timeout=30)
    assert (after["in_flight"], after["max_in_flight"], after["timeline"]) == (0, 0, [])
    assert emulator.stats()["timeline"] == [], "nothing of the ended calls is recorded after the reset"


def test_reset_clears_stats_and_faults(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=[500, 500], latency=0.1, random_faults={"rate": 1, "kinds": [503]})
    post(emulator)
    emulator.reset()
    assert emulator.stats() == {
        "requests": 0,
        "by_status": {},
        "faults": {},
        "auth": {"bearer": 0, "authorization": 0},
        "operations": {},
        "in_flight": 0,
        "max_in_flight": 0,
        "last_request": None,
        "timeline": [],
    }
    assert emulator.faults() == {
        "latency": 0.0,
        "script": [],
        "random_faults": None,
        "retry_after": None,
        "answer_format": "PNG",
        "quota": None,
    }
    assert post(emulator).status_code == 200


def test_initial_fault_knobs_and_a_second_server() -> None:
    with EmulatorServer(token="other", script=[502]) as other:
        assert other.port > 0
        assert other.url == f"http://127.0.0.1:{other.port}"
        response = requests.post(other.inpaint_url, headers={"bearer": "other"}, timeout=10)
        assert response.status_code == 502
        assert other.stats()["requests"] == 1


# --- inpainting ----------------------------------------------------------------------------------


def test_inpainting_leaves_unmasked_pixels_alone_whatever_the_mask_mode() -> None:
    for mode in ("1", "L", "RGB", "RGBA"):
        assert_unchanged_outside_the_mask(inpaint(IMAGE, disc_mask().convert(mode)), IMAGE)


def test_large_regions_are_filled_at_a_reduced_scale() -> None:
    result = inpaint(IMAGE, disc_mask(), backend="pillow", max_work_pixels=400)
    assert_unchanged_outside_the_mask(result, IMAGE)
    red, _, _ = ImageStat.Stat(result, mask=hole_mask(disc_mask())).mean
    assert red < 200


def test_a_mask_covering_everything_still_answers() -> None:
    result = inpaint(IMAGE, Image.new("L", SIZE, 255))
    assert result.size == SIZE


# --- command line --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        [str(Path(sys.executable).with_name("vyro-emulator"))],
        [sys.executable, "-m", "airflow_provider_vyro.emulator"],
    ],
    ids=["console script", "python -m"],
)
def test_cli_serves_until_sigterm_then_exits_0(command: list[str]) -> None:
    environment = dict(os.environ, VYRO_EMULATOR_TOKEN="cli-token")
    process = subprocess.Popen(
        [*command, "--port", "0", "--script", "503"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"vyro-emulator listening on (http://127\.0\.0\.1:(\d+))\n", line)
        assert match, line + (process.stderr.read() if process.poll() is not None and process.stderr else "")
        assert int(match.group(2)) > 0
        url = match.group(1) + "/v1/imagine/api/edits/inpaint"
        ok_files = files()
        assert requests.post(
            url, headers={"bearer": "cli-token"}, files=ok_files, data={"prompt": "x"}
        ).status_code == (503)
        response = requests.post(
            url, headers={"bearer": "cli-token"}, files=ok_files, data={"prompt": "x"}, timeout=10
        )
        assert response.status_code == 200
        assert response.content.startswith(b"\x89PNG")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_timeline_records_arrival_answer_and_outcome(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=[503, "drop"], latency=0.05)
    for _ in range(3):
        with contextlib.suppress(requests.ConnectionError):
            post(emulator)
    timeline = emulator.stats()["timeline"]
    assert [(e["status"], e["fault"]) for e in timeline] == [(503, "503"), (None, "drop"), (200, None)]
    assert all(e["answered"] - e["arrived"] >= 0.05 for e in timeline)
    assert [e["arrived"] for e in timeline] == sorted(e["arrived"] for e in timeline)


def test_accepted_connections_have_tcp_nodelay() -> None:
    """Without TCP_NODELAY every kept-alive answer waits ~40 ms for the client's delayed ACK."""
    import asyncio
    import socket

    from airflow_provider_vyro.emulator.server import bind_socket

    async def nodelay_of_accepted_connection() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        listening = bind_socket("127.0.0.1", 0)
        server = await asyncio.start_server(on_connection, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection(*listening.getsockname()[:2])
            flag = await asyncio.wait_for(accepted, timeout=5)
            writer.close()
            return flag

    assert asyncio.run(nodelay_of_accepted_connection()) != 0


def test_emulator_process_serves_from_a_child_process_with_the_same_admin_calls() -> None:
    from airflow_provider_vyro.emulator import EmulatorProcess

    with EmulatorProcess(token="child-token") as child:
        assert child.pid != os.getpid()
        child.set_faults(script=[503])
        answers = [
            requests.post(
                child.inpaint_url, headers={"bearer": "child-token"}, files=files(), data={"prompt": "x"}
            )
            for _ in range(2)
        ]
        assert [a.status_code for a in answers] == [503, 200]
        assert child.stats()["by_status"] == {"503": 1, "200": 1}
        assert json.loads(child.connection_json(timeout=5)) == {
            "conn_type": "vyro",
            "host": child.url,
            "password": "child-token",
            "extra": {"timeout": 5},
        }
        process_id = child.pid
    with pytest.raises(ProcessLookupError):
        os.kill(process_id, 0)


def test_the_quota_knob_sends_rate_limit_headers_and_answers_429_past_the_allowance(
    emulator: EmulatorServer,
) -> None:
    emulator.set_faults(quota={"limit": 1, "window": 60})
    url = emulator.url_for("generative_fill")
    first = requests.post(url, headers={"Authorization": f"Bearer {emulator.token}"}, timeout=10)
    assert (first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-remaining"]) == ("1", "0")
    assert 1 <= int(first.headers["x-ratelimit-reset"]) <= 60
    second = requests.post(url, headers={"Authorization": f"Bearer {emulator.token}"}, timeout=10)
    assert second.status_code == 429
    assert second.json()["code"] == 1202
    assert second.headers["x-ratelimit-remaining"] == "0"
    assert emulator.stats()["faults"] == {"quota": 1}
