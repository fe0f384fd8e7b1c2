"""Input checks read from the endpoint catalogue."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from airflow_provider_vyro import catalogue, checks
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.images import ImageInfo, inspect_image


def info(fmt: str = "PNG", size: tuple[int, int] = (64, 48), mode: str = "RGB", **kw: bool) -> ImageInfo:
    return ImageInfo(format=fmt, width=size[0], height=size[1], mode=mode, size=1000, **kw)


def refused(call: object, *args: object, **kwargs: object) -> VyroInputError:
    with pytest.raises(VyroInputError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


# --- text fields -------------------------------------------------------------------------------


def test_defaults_are_filled_and_none_means_not_given() -> None:
    assert checks.check_fields(catalogue.TEXT_TO_IMAGE, {"prompt": "a fox"}) == {
        "prompt": "a fox",
        "style": "imagine-turbo",
        "aspect_ratio": "1:1",
    }
    assert checks.check_fields(catalogue.AI_BACKGROUND, {"prompt": "a beach", "seed": None}) == {
        "prompt": "a beach",
        "style": "product-shoot",
    }
    assert checks.check_fields(catalogue.INPAINT, {"prompt": "sand"}) == {
        "prompt": "sand",
        "model_version": "1",
    }


def test_fields_come_out_in_the_catalogue_order_as_strings() -> None:
    fields = checks.check_fields(
        catalogue.TEXT_TO_IMAGE, {"seed": 9, "aspect_ratio": "16:9", "style": "anime", "prompt": "p"}
    )
    assert list(fields.items()) == [
        ("prompt", "p"),
        ("style", "anime"),
        ("aspect_ratio", "16:9"),
        ("seed", "9"),
    ]


@pytest.mark.parametrize(
    "style", ["realistic", "anime", "flux-schnell", "flux-dev", "flux-dev-fast", "sdxl-1.0"]
)
def test_every_documented_style_is_accepted(style: str) -> None:
    assert checks.check_fields(catalogue.TEXT_TO_IMAGE, {"prompt": "p", "style": style})["style"] == style


@pytest.mark.parametrize("ratio", ["1:1", "3:2", "4:3", "3:4", "16:9", "9:16"])
def test_every_documented_aspect_ratio_is_accepted(ratio: str) -> None:
    for endpoint in (catalogue.TEXT_TO_IMAGE, catalogue.TEXT_TO_PNG):
        assert checks.check_fields(endpoint, {"prompt": "p", "aspect_ratio": ratio})["aspect_ratio"] == ratio


@pytest.mark.parametrize(
    ("endpoint", "name", "value", "listed"),
    [
        (catalogue.TEXT_TO_IMAGE, "style", "Anime", "'realistic', 'anime', 'flux-schnell'"),
        (catalogue.TEXT_TO_IMAGE, "style", "product-shoot", "'imagine-turbo'"),
        (catalogue.TEXT_TO_IMAGE, "aspect_ratio", "2:1", "'1:1', '3:2', '4:3', '3:4', '16:9', '9:16'"),
        (catalogue.TEXT_TO_PNG, "aspect_ratio", "16/9", "'16:9'"),
        (catalogue.AI_BACKGROUND, "style", "imagine-turbo", "'product-shoot'"),
        (catalogue.TEXT_TO_IMAGE, "style", 3, "'flux-dev'"),
    ],
)
def test_a_value_outside_an_enum_is_refused_listing_the_allowed_values(
    endpoint: catalogue.Endpoint, name: str, value: object, listed: str
) -> None:
    error = refused(checks.check_fields, endpoint, {"prompt": "p", name: value})
    assert error.field == name
    assert "must be one of" in error.problem
    assert listed in error.problem


def test_a_near_miss_gets_a_suggestion() -> None:
    assert (
        "did you mean 'anime'?"
        in refused(checks.check_choice, "Anime ", catalogue.STYLES, field="style").problem
    )


@pytest.mark.parametrize("seed", [1, 42, "7", "2147483647", 10**12])
def test_whole_seeds_from_one_up_are_accepted(seed: object) -> None:
    assert checks.check_seed(seed) == str(int(seed))  # type: ignore[call-overload]


@pytest.mark.parametrize(
    "seed", [0, -1, "0", True, False, 1.0, 1.5, "1.5", " 1", "+1", "-3", "", "seven", [1]]
)
def test_seed_must_be_a_whole_number_of_at_least_one(seed: object) -> None:
    error = refused(checks.check_fields, catalogue.TEXT_TO_IMAGE, {"prompt": "p", "seed": seed})
    assert error.field == "seed"
    assert "whole number >= 1" in error.problem


@pytest.mark.parametrize(
    ("prompt", "problem"),
    [
        (None, "is required by text_to_image"),
        ("", "is empty; describe the image to generate"),
        ("  \n", "is only whitespace; describe the image to generate"),
        ("x" * 10_001, "the limit is 10000 characters"),
        (12, "must be a string"),
    ],
)
def test_prompt_must_be_bounded_non_blank_text(prompt: object, problem: str) -> None:
    error = refused(checks.check_fields, catalogue.TEXT_TO_IMAGE, {"prompt": prompt})
    assert error.field == "prompt"
    assert problem in error.problem


def test_prompt_message_says_what_the_prompt_describes() -> None:
    assert "the background" in refused(checks.check_fields, catalogue.AI_BACKGROUND, {"prompt": ""}).problem
    assert "masked area" in refused(checks.check_fields, catalogue.GENERATIVE_FILL, {"prompt": ""}).problem


def test_unknown_fields_are_refused() -> None:
    error = refused(checks.check_fields, catalogue.TEXT_TO_PNG, {"prompt": "p", "style": "anime"})
    assert error.field == "style"
    assert "not a field of text_to_png" in error.problem
    assert "prompt, aspect_ratio, seed" in error.problem
    error = refused(checks.check_fields, catalogue.GENERATIVE_FILL, {"prompt": "p", "mask": "m.png"})
    assert (error.field, error.problem) == ("mask", "is a file of generative_fill, not a text field")


def test_model_version_is_checked_as_digits() -> None:
    assert refused(
        checks.check_fields, catalogue.INPAINT, {"prompt": "p", "model_version": "latest"}
    ).field == ("model_version")


# --- text to image and transparent ---------------------------------------------------------------


def test_text_to_image_call_picks_the_endpoint() -> None:
    endpoint, fields = checks.text_to_image_call(prompt="p", style="flux-dev", aspect_ratio="9:16", seed=3)
    assert endpoint is catalogue.TEXT_TO_IMAGE
    assert fields == {"prompt": "p", "style": "flux-dev", "aspect_ratio": "9:16", "seed": "3"}
    endpoint, fields = checks.text_to_image_call(prompt="p", style="imagine-turbo", transparent=True)
    assert endpoint is catalogue.TEXT_TO_PNG
    assert fields == {"prompt": "p", "aspect_ratio": "1:1"}


def test_transparent_refuses_a_style_other_than_the_default() -> None:
    error = refused(checks.text_to_image_call, prompt="p", style="anime", transparent=True)
    assert error.field == "style"
    assert "transparent endpoint has no style" in error.problem
    assert "'imagine-turbo'" in error.problem


@pytest.mark.parametrize("transparent", ["yes", 1, None])
def test_transparent_must_be_a_bool(transparent: object) -> None:
    assert refused(checks.text_to_image_call, prompt="p", transparent=transparent).field == "transparent"


def test_transparent_still_checks_its_other_fields() -> None:
    assert refused(checks.text_to_image_call, prompt="p", aspect_ratio="5:4", transparent=True).field == (
        "aspect_ratio"
    )


# --- files -------------------------------------------------------------------------------------


def test_mask_must_have_the_image_size() -> None:
    error = refused(
        checks.check_files,
        catalogue.GENERATIVE_FILL,
        {"image": info("JPEG"), "mask": info(size=(32, 48), mode="L")},
        names={"mask": "in/mask.png"},
        arguments={"mask": "mask_path"},
    )
    assert error.field == "mask_path"
    assert "'in/mask.png' is 32x48 pixels but the image is 64x48" in error.problem


def test_missing_and_unknown_files_are_refused() -> None:
    assert refused(checks.check_files, catalogue.GENERATIVE_FILL, {"image": info()}).problem == (
        "is required by generative_fill"
    )
    error = refused(checks.check_files, catalogue.AI_BACKGROUND, {"image": info(mode="RGBA"), "mask": info()})
    assert (error.field, error.problem) == ("mask", "is not a file of ai_background; its files are image")


def test_formats_are_the_catalogue_ones() -> None:
    error = refused(checks.check_files, catalogue.GENERATIVE_FILL, {"image": info("GIF"), "mask": info()})
    assert error.field == "image"
    assert "generative_fill takes JPEG or PNG" in error.problem


@pytest.mark.parametrize(
    ("image", "why"),
    [
        (info("JPEG"), "a JPEG image, which cannot be transparent"),
        (info("PNG", mode="RGB"), "a PNG image with no transparency (mode 'RGB')"),
        (info("PNG", mode="L"), "a PNG image with no transparency (mode 'L')"),
    ],
)
def test_ai_background_needs_an_alpha_channel_and_says_why(image: ImageInfo, why: str) -> None:
    error = refused(
        checks.check_files, catalogue.AI_BACKGROUND, {"image": image}, names={"image": "shoe.png"}
    )
    assert error.field == "image"
    assert f"'shoe.png' is {why}" in error.problem
    assert "puts a new background behind a cut-out" in error.problem
    assert "transparent (an alpha channel)" in error.problem


@pytest.mark.parametrize(
    ("mode", "transparency"), [("RGBA", False), ("LA", False), ("P", True), ("RGB", True)]
)
def test_alpha_band_or_transparent_colour_is_accepted(mode: str, transparency: bool) -> None:
    cut_out = info(mode=mode, transparency=transparency)
    checks.check_files(catalogue.AI_BACKGROUND, {"image": cut_out})
    with pytest.raises(VyroInputError, match="transparent"):
        checks.check_files(catalogue.AI_BACKGROUND, {"image": info(mode="RGB", transparency=False)})


def _png(mode: str, **save: object) -> ImageInfo:
    buffer = io.BytesIO()
    Image.new(mode, (16, 16)).save(buffer, format="PNG", **save)
    buffer.seek(0)
    return inspect_image(buffer, field="image", name="x.png")


def test_inspect_image_tells_transparency_from_the_file() -> None:
    assert _png("RGBA").has_alpha
    assert _png("P", transparency=0).has_alpha
    assert not _png("P").has_alpha
    assert not _png("RGB").has_alpha


# --- generic call ----------------------------------------------------------------------------


def test_generic_call_describes_the_path() -> None:
    endpoint, fields = checks.generic_call("/v2/image/background/remover", {"n": 2, "mode": "x"}, ("image",))
    assert (endpoint.operation, endpoint.path, endpoint.api_version) == (
        "image",
        "/v2/image/background/remover",
        "v2",
    )
    assert [f.name for f in endpoint.file_fields] == ["image"]
    assert endpoint.answer_formats == ("PNG", "JPEG", "WEBP")
    assert fields == {"n": "2", "mode": "x"}
    assert checks.generic_call("/v1/imagine/api/edits/inpaint", {}, ())[0].answer_formats == ("PNG",)


@pytest.mark.parametrize(
    "path",
    [
        "/v3/image",
        "v2/image",
        "/v2/",
        "/v2/../admin",
        "/v2/image?x=1",
        "/v2/image#x",
        "https://evil.example/v2/image",
        "//evil.example/v2/x",
        "/v2/a b",
        "/v2/./x",
        None,
    ],
)
def test_generic_call_refuses_paths_that_are_not_plain(path: object) -> None:
    assert refused(checks.generic_call, path, {}, ()).field == "path"


@pytest.mark.parametrize("value", [True, 1.5, None, b"x"])
def test_generic_call_refuses_values_that_are_not_text(value: object) -> None:
    assert refused(checks.generic_call, "/v2/image/enhance", {"scale": value}, ()).field == "scale"
