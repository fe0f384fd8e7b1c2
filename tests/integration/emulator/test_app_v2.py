"""The emulator's v2 endpoints, exercised as a real HTTP server on loopback.

Paths, field names and allowed values are written out here as Vyro's reference gives them, not
read from the catalogue the emulator serves: a typo in the catalogue fails these tests.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
import requests
from PIL import Image, ImageChops, ImageDraw, ImageStat

from airflow_provider_vyro.emulator import EmulatorServer
from tests.conftest import TOKEN, encode

TEXT_TO_IMAGE = "/v2/image/generations"
TEXT_TO_PNG = "/v2/image/generations/transparent"
GENERATIVE_FILL = "/v2/image/edits/generative-fill"
AI_BACKGROUND = "/v2/image/generations/ai-background"
STYLES = ["realistic", "anime", "flux-schnell", "flux-dev", "flux-dev-fast", "sdxl-1.0", "imagine-turbo"]
ASPECT_RATIOS = {"1:1": (1, 1), "3:2": (3, 2), "4:3": (4, 3), "3:4": (3, 4), "16:9": (16, 9), "9:16": (9, 16)}
ERROR_KEYS = {"status", "code", "error", "message"}

pytestmark = pytest.mark.timeout(60)


def cutout(size: tuple[int, int] = (120, 90)) -> Image.Image:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((40, 20, 80, 70), fill=(220, 30, 30, 255))
    return image


def scene_and_mask(size: tuple[int, int] = (64, 48)) -> tuple[Image.Image, Image.Image]:
    image = Image.new("RGB", size, (30, 90, 200))
    ImageDraw.Draw(image).ellipse((20, 10, 40, 30), fill=(255, 0, 0))
    mask = Image.new("L", size)
    ImageDraw.Draw(mask).ellipse((18, 8, 42, 32), fill=255)
    return image, mask


def post(
    emulator: EmulatorServer,
    path: str,
    data: dict[str, str],
    upload: dict[str, tuple[str, bytes, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    return requests.post(
        emulator.url + path,
        headers={"Authorization": f"Bearer {TOKEN}"} if headers is None else headers,
        data=data,
        files=upload or {},
        timeout=10,
    )


def image_of(response: requests.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def assert_v2_error(response: requests.Response, status: int, code: int | str, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_KEYS
    assert (body["status"], body["code"]) == ("error", code)
    assert body["error"]
    for word in words:
        assert word in body["message"]
    return body


# --- the operations and their documented values --------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_text_to_image_takes_every_documented_style(emulator: EmulatorServer, style: str) -> None:
    image = image_of(post(emulator, TEXT_TO_IMAGE, {"prompt": "a lighthouse", "style": style}))
    assert image.size == (512, 512), "aspect_ratio defaults to 1:1"


@pytest.mark.parametrize("ratio", list(ASPECT_RATIOS))
@pytest.mark.parametrize("path", [TEXT_TO_IMAGE, TEXT_TO_PNG])
def test_every_documented_aspect_ratio_sizes_the_picture(
    emulator: EmulatorServer, path: str, ratio: str
) -> None:
    image = image_of(post(emulator, path, {"prompt": "a lighthouse", "aspect_ratio": ratio}))
    width_part, height_part = ASPECT_RATIOS[ratio]
    assert max(image.size) == 512
    assert abs(image.width / image.height - width_part / height_part) < 0.01


def test_style_defaults_to_imagine_turbo(emulator: EmulatorServer) -> None:
    post(emulator, TEXT_TO_IMAGE, {"prompt": "a lighthouse"})
    assert emulator.stats()["last_request"]["style"] is None, "nothing was sent"
    default = image_of(post(emulator, TEXT_TO_IMAGE, {"prompt": "a lighthouse"}))
    turbo = image_of(post(emulator, TEXT_TO_IMAGE, {"prompt": "a lighthouse", "style": "imagine-turbo"}))
    assert ImageChops.difference(default.convert("RGB"), turbo.convert("RGB")).getbbox() is None


@pytest.mark.parametrize(
    ("path", "data", "words"),
    [
        (TEXT_TO_IMAGE, {"prompt": "p", "style": "Anime"}, ["Invalid style", "imagine-turbo"]),
        (TEXT_TO_IMAGE, {"prompt": "p", "style": "product-shoot"}, ["Invalid style"]),
        (TEXT_TO_IMAGE, {"prompt": "p", "aspect_ratio": "2:1"}, ["Invalid aspect_ratio", "9:16"]),
        (TEXT_TO_IMAGE, {"prompt": "p", "seed": "0"}, ["'seed'", ">= 1"]),
        (TEXT_TO_IMAGE, {"prompt": "p", "seed": "1.5"}, ["'seed'"]),
        (TEXT_TO_IMAGE, {"style": "anime"}, ["Missing required field 'prompt'"]),
        (TEXT_TO_IMAGE, {"prompt": "   "}, ["'prompt'"]),
        (TEXT_TO_IMAGE, {"prompt": "p", "model_version": "1"}, ["Unknown field 'model_version'"]),
        (TEXT_TO_PNG, {"prompt": "p", "style": "anime"}, ["Unknown field 'style'"]),
        (TEXT_TO_PNG, {"prompt": "p", "aspect_ratio": "5:4"}, ["Invalid aspect_ratio"]),
        (AI_BACKGROUND, {"prompt": "p", "style": "imagine-turbo"}, ["Invalid style", "product-shoot"]),
        (AI_BACKGROUND, {"prompt": "p"}, ["Missing required file 'image'"]),
        (GENERATIVE_FILL, {"prompt": "p"}, ["Missing required file 'image'"]),
    ],
)
def test_invalid_requests_are_400_with_code_1100(
    emulator: EmulatorServer, path: str, data: dict[str, str], words: list[str]
) -> None:
    assert_v2_error(post(emulator, path, data), 400, 1100, *words)


def test_transparent_answers_rgba_with_transparent_pixels(emulator: EmulatorServer) -> None:
    image = image_of(post(emulator, TEXT_TO_PNG, {"prompt": "a red balloon", "seed": "5"}))
    assert image.mode == "RGBA"
    low, high = image.getchannel("A").getextrema()
    assert (low, high) == (0, 255), "a subject on a transparent background"


def test_text_to_image_draws_a_scene_that_follows_prompt_and_seed(emulator: EmulatorServer) -> None:
    def picture(prompt: str, seed: str) -> Image.Image:
        return image_of(post(emulator, TEXT_TO_IMAGE, {"prompt": prompt, "seed": seed})).convert("RGB")

    first = picture("a valley at dawn", "7")
    assert ImageChops.difference(first, picture("a valley at dawn", "7")).getbbox() is None
    assert ImageChops.difference(first, picture("a valley at dawn", "8")).getbbox() is not None
    assert ImageChops.difference(first, picture("a city at night", "7")).getbbox() is not None
    spread = ImageStat.Stat(first).stddev
    assert min(spread) > 10, "not a flat colour: a sky, a sun and hills"
    top, bottom = first.crop((0, 0, 512, 40)), first.crop((0, 472, 512, 512))
    sky, ground = ImageStat.Stat(top).mean, ImageStat.Stat(bottom).mean
    assert sum(sky) > sum(ground), "a bright sky over darker hills"


def test_ai_background_keeps_the_cutout_and_fills_behind_it(emulator: EmulatorServer) -> None:
    product = cutout()
    response = post(
        emulator,
        AI_BACKGROUND,
        {"prompt": "a marble table", "style": "product-shoot", "seed": "3"},
        {"image": ("shoe.png", encode(product), "image/png")},
    )
    image = image_of(response).convert("RGB")
    assert image.size == product.size
    opaque = product.getchannel("A")
    inside = ImageStat.Stat(ImageChops.difference(image, product.convert("RGB")), mask=opaque)
    assert max(high for _, high in inside.extrema) == 0, "the cut-out is kept exactly"
    behind = ImageStat.Stat(image, mask=ImageChops.invert(opaque))
    assert min(behind.stddev) > 5, "a generated backdrop, not a flat fill"


def test_ai_background_refuses_an_image_without_transparency(emulator: EmulatorServer) -> None:
    flat = encode(Image.new("RGB", (40, 30), (9, 9, 9)), "JPEG")
    response = post(emulator, AI_BACKGROUND, {"prompt": "p"}, {"image": ("x.jpg", flat, "image/jpeg")})
    assert_v2_error(response, 400, 1100, "transparent background")


def test_generative_fill_fills_the_masked_region_only(emulator: EmulatorServer) -> None:
    image, mask = scene_and_mask()
    response = post(
        emulator,
        GENERATIVE_FILL,
        {"prompt": "sky"},
        {
            "image": ("a.jpg", encode(image, "JPEG"), "image/jpeg"),
            "mask": ("m.png", encode(mask), "image/png"),
        },
    )
    result = image_of(response).convert("RGB")
    assert result.size == image.size
    red, _, blue = ImageStat.Stat(result, mask=mask).mean
    assert red < 150, "the red disc is gone"
    assert blue > 120, "filled from the blue around it"


def test_generative_fill_mask_must_match_the_image(emulator: EmulatorServer) -> None:
    image, _ = scene_and_mask()
    _, small = scene_and_mask((32, 24))
    response = post(
        emulator,
        GENERATIVE_FILL,
        {"prompt": "sky"},
        {"image": ("a.png", encode(image), "image/png"), "mask": ("m.png", encode(small), "image/png")},
    )
    assert_v2_error(response, 400, 1100, "same size")


# --- auth and errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 400, 1000),
        ({"bearer": TOKEN}, 400, 1000),
        ({"Authorization": TOKEN}, 400, 1000),
        ({"Authorization": "Bearer wrong"}, 401, 1001),
    ],
)
def test_v2_takes_the_token_as_authorization_bearer_only(
    emulator: EmulatorServer, headers: dict[str, str], status: int, code: int
) -> None:
    assert_v2_error(post(emulator, TEXT_TO_IMAGE, {"prompt": "p"}, headers=headers), status, code)
    assert emulator.stats()["by_status"] == {str(status): 1}


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (402, 402, 1101),
        (406, 406, 1002),
        (429, 429, 1202),
        (503, 503, 1200),
        (400, 400, 1100),
        ({"status": 400, "code": 1000}, 400, 1000),
        ({"status": 503, "code": "1201"}, 503, "1201"),
    ],
)
def test_scripted_statuses_carry_the_v2_codes(
    emulator: EmulatorServer, fault: object, status: int, code: int | str
) -> None:
    emulator.set_faults(script=[fault])
    assert_v2_error(post(emulator, TEXT_TO_IMAGE, {"prompt": "p"}), status, code)


def test_v1_keeps_the_status_as_its_code(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=[402])
    response = requests.post(emulator.inpaint_url, headers={"bearer": TOKEN}, timeout=10)
    assert response.json()["code"] == 402


# --- answer formats and stats ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
def test_answer_format_knob(emulator: EmulatorServer, fmt: str) -> None:
    emulator.set_faults(answer_format=fmt)
    image = image_of(post(emulator, TEXT_TO_IMAGE, {"prompt": "p"}))
    assert image.format == fmt


def test_answer_format_per_operation(emulator: EmulatorServer) -> None:
    emulator.set_faults(answer_format={"text_to_png": "WEBP"})
    assert image_of(post(emulator, TEXT_TO_PNG, {"prompt": "p"})).format == "WEBP"
    assert image_of(post(emulator, TEXT_TO_IMAGE, {"prompt": "p"})).format == "PNG"
    with pytest.raises(ValueError, match="answer_format must be one of PNG, JPEG, WEBP"):
        emulator.set_faults(answer_format="GIF")


def test_stats_describe_each_operation(emulator: EmulatorServer) -> None:
    post(emulator, TEXT_TO_IMAGE, {"prompt": "p", "style": "anime", "seed": "4"})
    post(emulator, AI_BACKGROUND, {"prompt": "q"}, {"image": ("cut.png", encode(cutout()), "image/png")})
    stats = emulator.stats()
    assert stats["operations"] == {"text_to_image": 1, "ai_background": 1}
    assert stats["auth"] == {"bearer": 0, "authorization": 2}
    last = stats["last_request"]
    assert (last["operation"], last["path"]) == ("ai_background", AI_BACKGROUND)
    assert (last["prompt"], last["style"], last["seed"]) == ("q", None, None)
    assert (last["image_filename"], last["image_content_type"]) == ("cut.png", "image/png")
    assert last["headers"]["authorization"] == "Bearer ***"


def test_truncate_cuts_a_v2_answer(emulator: EmulatorServer) -> None:
    emulator.set_faults(script=["truncate"])
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        post(emulator, TEXT_TO_IMAGE, {"prompt": "p"})


def test_openapi_lists_every_operation_with_its_enums(emulator: EmulatorServer) -> None:
    schema = requests.get(emulator.url + "/openapi.json", timeout=10).json()
    assert {
        TEXT_TO_IMAGE,
        TEXT_TO_PNG,
        GENERATIVE_FILL,
        AI_BACKGROUND,
        "/v1/imagine/api/edits/inpaint",
    } <= set(schema["paths"])
    form = schema["paths"][TEXT_TO_IMAGE]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["style"]["enum"] == STYLES
    assert form["properties"]["aspect_ratio"]["enum"] == list(ASPECT_RATIOS)


def test_cli_answer_format_option_becomes_the_knob() -> None:
    from airflow_provider_vyro.emulator.__main__ import build_parser
    from airflow_provider_vyro.emulator.faults import FaultConfig

    args = build_parser().parse_args(["--answer-format", "webp"])
    assert FaultConfig.from_dict({"answer_format": args.answer_format}).answer_format_of("inpaint") == "WEBP"
    assert build_parser().parse_args([]).answer_format == "PNG"
