"""The catalogue holds the reference's literal values: a typo in the table must fail here."""

from __future__ import annotations

import pytest

from airflow_provider_vyro import catalogue


def test_paths_and_versions_are_the_references():
    assert {name: (e.path, e.api_version) for name, e in catalogue.ENDPOINTS.items()} == {
        "inpaint": ("/v1/imagine/api/edits/inpaint", "v1"),
        "generative_fill": ("/v2/image/edits/generative-fill", "v2"),
        "text_to_image": ("/v2/image/generations", "v2"),
        "text_to_png": ("/v2/image/generations/transparent", "v2"),
        "ai_background": ("/v2/image/generations/ai-background", "v2"),
        "remove_background": ("/v2/image/background/remover", "v2"),
        "upscale": ("/v2/image/enhance", "v2"),
    }


def test_fields_are_the_references():
    fields = {name: e.field_names for name, e in catalogue.ENDPOINTS.items()}
    assert fields == {
        "inpaint": ("prompt", "model_version", "image", "mask"),
        "generative_fill": ("prompt", "image", "mask"),
        "text_to_image": ("prompt", "style", "aspect_ratio", "seed"),
        "text_to_png": ("prompt", "aspect_ratio", "seed"),
        "ai_background": ("prompt", "style", "seed", "image"),
        "remove_background": ("image",),
        "upscale": ("image",),
    }


def test_enums_and_defaults_are_the_references():
    tti = catalogue.TEXT_TO_IMAGE
    style, ratio = tti.text_field("style"), tti.text_field("aspect_ratio")
    assert style is not None
    assert ratio is not None
    assert set(style.choices) == {
        "realistic",
        "anime",
        "flux-schnell",
        "flux-dev",
        "flux-dev-fast",
        "sdxl-1.0",
        "imagine-turbo",
    }
    assert style.default == "imagine-turbo"
    assert ratio.choices == ("1:1", "3:2", "4:3", "3:4", "16:9", "9:16")
    assert ratio.default == "1:1"
    assert catalogue.TEXT_TO_PNG.text_field("style") is None
    bg_style = catalogue.AI_BACKGROUND.text_field("style")
    assert bg_style is not None
    assert bg_style.choices == ("product-shoot",)
    assert catalogue.INPAINT.text_field("model_version").default == "1"  # type: ignore[union-attr]
    mask = catalogue.GENERATIVE_FILL.file_field("mask")
    assert mask is not None
    assert mask.same_size_as == "image"
    bg_image = catalogue.AI_BACKGROUND.file_field("image")
    assert bg_image is not None
    assert bg_image.needs_alpha
    assert dict(catalogue.STYLE_TOKEN_COSTS) == {
        "imagine-turbo": 1,
        "anime": 5,
        "realistic": 5,
        "flux-schnell": 5,
        "flux-dev-fast": 5,
        "flux-dev": 15,
    }


def test_answer_types():
    assert catalogue.INPAINT.answer_formats == ("PNG",)
    assert catalogue.INPAINT.answer_content_type == "image/png"
    for name in (
        "generative_fill",
        "text_to_image",
        "text_to_png",
        "ai_background",
        "remove_background",
        "upscale",
    ):
        assert catalogue.ENDPOINTS[name].answer_content_type == "application/octet-stream"
        assert set(catalogue.ENDPOINTS[name].answer_formats) == {"PNG", "JPEG", "WEBP"}


@pytest.mark.parametrize(
    ("version", "expected"),
    [("v1", ("bearer", "tok")), ("v2", ("Authorization", "Bearer tok"))],
)
def test_auth_header(version, expected):
    assert catalogue.auth_header(version, "tok") == expected


def test_api_version_of_path():
    assert catalogue.api_version_of("/v2/image/background/remover") == "v2"
    assert catalogue.api_version_of("/v1/imagine/api/edits/inpaint") == "v1"
    with pytest.raises(ValueError, match="neither"):
        catalogue.api_version_of("/image/enhance")


def test_catalogue_imports_nothing_from_the_provider_or_airflow():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(catalogue))
    modules = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {m for m in modules if m and (m.startswith("airflow") or m.startswith("airflow_provider"))}


def test_default_output_suffixes():
    suffixes = {name: e.output_suffix for name, e in catalogue.ENDPOINTS.items()}
    assert suffixes == {
        "inpaint": "_inpainted.png",
        "generative_fill": "_filled.png",
        "text_to_image": None,
        "text_to_png": None,
        "ai_background": "_background.png",
        "remove_background": "_cutout.png",
        "upscale": "_upscaled.png",
    }
    assert catalogue.GENERIC.output_suffix == "_result.png"


def test_what_each_answer_is():
    assert {name: e.answer_kind for name, e in catalogue.ENDPOINTS.items()} == dict.fromkeys(
        catalogue.ENDPOINTS, "image"
    )
    alpha = {name: e.answer_alpha for name, e in catalogue.ENDPOINTS.items()}
    assert alpha == {
        "inpaint": "opaque",
        "generative_fill": "input",
        "text_to_image": "opaque",
        "text_to_png": "transparent",
        "ai_background": "opaque",
        "remove_background": "transparent",
        "upscale": "input",
    }
    assert [name for name, e in catalogue.ENDPOINTS.items() if e.answer_larger] == ["upscale"]


def test_what_each_prompt_describes():
    assert {name: e.prompt_purpose for name, e in catalogue.ENDPOINTS.items()} == {
        "inpaint": "what should fill the masked area",
        "generative_fill": "what should fill the masked area",
        "text_to_image": "the image to generate",
        "text_to_png": "the image to generate",
        "ai_background": "the background to put behind the product",
        "remove_background": "the image you want",
        "upscale": "the image you want",
    }


def test_documented_costs_are_the_references():
    tti = catalogue.TEXT_TO_IMAGE
    assert tti.cost({"style": "flux-dev"}) == 15
    assert tti.cost({"style": "anime"}) == 5
    assert tti.cost({}) == 1, "the style's default, imagine-turbo"
    assert tti.cost({"style": "sdxl-1.0"}) is None, "not listed"
    for name in (
        "inpaint",
        "generative_fill",
        "text_to_png",
        "ai_background",
        "remove_background",
        "upscale",
    ):
        assert catalogue.ENDPOINTS[name].cost({"style": "flux-dev"}) is None
    assert catalogue.token_cost(tti, {"style": "flux-dev"}) == 15
    flat = catalogue.CreditCost(per_call=2)
    assert flat.of({}) == 2


def test_where_each_shape_comes_from():
    sources = {name: e.shape_source for name, e in catalogue.ENDPOINTS.items()}
    assert sources == {
        **dict.fromkeys(
            ("inpaint", "generative_fill", "text_to_image", "text_to_png", "ai_background"), "reference"
        ),
        "remove_background": "public clients",
        "upscale": "public clients",
    }
    assert catalogue.GENERIC.shape_source == "public clients"


def test_xcom_parameters():
    params = {name: e.xcom_parameters for name, e in catalogue.ENDPOINTS.items()}
    assert params == {
        "inpaint": ("model_version",),
        "generative_fill": (),
        "text_to_image": ("style", "aspect_ratio", "seed", "transparent"),
        "text_to_png": ("style", "aspect_ratio", "seed", "transparent"),
        "ai_background": ("style", "seed"),
        "remove_background": (),
        "upscale": (),
    }
    png = catalogue.TEXT_TO_PNG.xcom_parameter_values({"aspect_ratio": "1:1", "seed": None})
    assert png == {"style": None, "aspect_ratio": "1:1", "seed": None, "transparent": True}
    assert catalogue.TEXT_TO_IMAGE.xcom_parameter_values({"style": "anime"})["transparent"] is False
    assert {e.xcom_style for e in catalogue.ENDPOINTS.values()} == {"parameters"}
    assert catalogue.GENERIC.xcom_style == "call"


def test_generic_endpoint_takes_a_known_paths_answer_formats():
    inpaint = catalogue.generic_endpoint("/v1/imagine/api/edits/inpaint", ("image", "mask"))
    assert inpaint.operation == "image"
    assert inpaint.api_version == "v1"
    assert inpaint.answer_formats == ("PNG",)
    assert inpaint.field_names == ("image", "mask")
    other = catalogue.generic_endpoint("/v2/image/enhance", ("image",))
    assert other.answer_formats == ("PNG", "JPEG", "WEBP")
    assert other.output_suffix == "_result.png"


def test_text_to_image_endpoint():
    assert catalogue.text_to_image_endpoint(False) is catalogue.TEXT_TO_IMAGE
    assert catalogue.text_to_image_endpoint(True) is catalogue.TEXT_TO_PNG


def test_entries_are_hashable():
    assert len({*catalogue.ENDPOINTS.values(), catalogue.GENERIC}) == len(catalogue.ENDPOINTS) + 1
