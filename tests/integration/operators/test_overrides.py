"""
``endpoint=`` and ``extra_fields=`` on every operator and ``@task.vyro``: the path replaced (its
version decides the header), extra text parts sent unchecked, their values never logged, and bad
values refused before any request.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.operators.background import AIBackgroundBatchOperator, AIBackgroundOperator
from airflow_provider_vyro.operators.edit import RemoveBackgroundBatchOperator, RemoveBackgroundOperator
from airflow_provider_vyro.operators.generate import TextToImageOperator
from airflow_provider_vyro.operators.generic import VyroImageOperator
from airflow_provider_vyro.operators.inpaint import InpaintOperator
from airflow_provider_vyro.operators.video import ImageToVideoOperator, TextToVideoOperator
from tests.conftest import make_scene
from tests.integration.operators.test_edit import product_photo


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "mug.jpg"
    path.write_bytes(product_photo())
    return path


def test_endpoint_replaces_the_path_and_its_version_decides_the_header(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    image, mask = make_scene(fmt="JPEG")
    (tmp_path / "i.jpg").write_bytes(image)
    (tmp_path / "m.png").write_bytes(mask)
    result = InpaintOperator(
        task_id="fill",
        image_path=str(tmp_path / "i.jpg"),
        mask_path=str(tmp_path / "m.png"),
        prompt="sand",
        output_path=str(tmp_path / "out.png"),
        api_version="v2",
        endpoint="/v1/imagine/api/edits/inpaint",
    ).execute(context={})
    stats = vyro_conn.stats()
    assert stats["last_request"]["path"] == "/v1/imagine/api/edits/inpaint"
    assert stats["auth"] == {"bearer": 1, "authorization": 0}, "a /v1/ path sends the v1 header"
    assert (result["operation"], result["api_version"]) == ("generative_fill", "v1")


def test_endpoint_on_a_new_operation_and_through_the_decorator(
    vyro_conn: EmulatorServer, photo: Path, tmp_path: Path
) -> None:
    RemoveBackgroundOperator(
        task_id="cut",
        image_path=str(photo),
        output_path=str(tmp_path / "a.png"),
        endpoint="/v2/image/enhance",
    ).execute(context={})
    assert vyro_conn.stats()["last_request"]["path"] == "/v2/image/enhance"
    with DAG("overrides", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:

        @task.vyro(task_id="cut", operation="upscale", endpoint="/v2/image/background/remover")
        def cut() -> Any:
            return {"image_path": str(photo), "output_path": str(tmp_path / "b.png")}

        cut()
    dag.get_task("cut").execute({})  # type: ignore[union-attr]
    stats = vyro_conn.stats()
    assert stats["last_request"]["path"] == "/v2/image/background/remover"
    assert stats["operations"] == {"upscale": 1, "remove_background": 1}


def test_extra_fields_are_sent_as_text_parts_and_only_their_keys_are_logged(
    vyro_conn: EmulatorServer,
    photo: Path,
    tmp_path: Path,
    logged: Callable[[], str],
) -> None:
    items = [{"image_path": str(photo), "output_path": str(tmp_path / f"{i}.png")} for i in range(2)]
    results = RemoveBackgroundBatchOperator(
        task_id="cut", items=items, extra_fields={"crop": "secret-crop-value", "padding": 12}
    ).execute(context={})
    last = vyro_conn.stats()["last_request"]
    assert (last["crop"], last["padding"]) == ("secret-crop-value", "12")
    assert vyro_conn.stats()["operations"] == {"remove_background": 2}
    assert all("crop" not in r for r in results), "extra fields are not parameters of the dict"
    text = logged()
    assert "sending extra fields ['crop', 'padding']" in text
    assert "crop (not shown), padding (not shown)" in text, "each call's line names them"
    assert "secret-crop-value" not in text


def test_extra_fields_reach_the_generic_operator_and_the_decorator(
    vyro_conn: EmulatorServer, photo: Path, tmp_path: Path
) -> None:
    VyroImageOperator(
        task_id="generic",
        endpoint="/v2/image/enhance",
        files={"image": str(photo)},
        output_path=str(tmp_path / "g.png"),
        extra_fields={"mode": "fine"},
    ).execute(context={})
    assert vyro_conn.stats()["last_request"]["mode"] == "fine"
    with DAG("extras", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:

        @task.vyro(task_id="up", operation="upscale", extra_fields={"scale": 2})
        def up() -> Any:
            return [{"image_path": str(photo), "output_path": str(tmp_path / "u.png")}]

        up()
    dag.get_task("up").execute({})  # type: ignore[union-attr]
    assert vyro_conn.stats()["last_request"]["scale"] == "2"


def test_video_operators_call_the_endpoint_given(tmp_path: Path) -> None:
    text = TextToVideoOperator(
        task_id="t", prompt="waves", output_path=str(tmp_path / "w.mp4"), endpoint="/v2/video/generate"
    )
    assert text.call_endpoint().path == "/v2/video/generate"
    frame = ImageToVideoOperator(
        task_id="i", image_path="x.jpg", prompt="waves", output_path="w.mp4", extra_fields={"duration": 5}
    ).call_endpoint()
    assert (frame.path, frame.text_field("duration").default) == ("/v2/video/image-to-video", "5")  # type: ignore[union-attr]


# --- refused before any request, naming the argument ------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "/v3/image/enhance",
        "v2/image/enhance",
        "https://evil.example/v2/image/enhance",
        "//evil.example/v2/x",
        "/v2/../v1/x",
        "/v2/image/enhance?x=1",
        "/v2/image enhance",
        7,
    ],
)
def test_an_endpoint_outside_v1_and_v2_is_refused(
    vyro_conn: EmulatorServer, photo: Path, tmp_path: Path, endpoint: Any
) -> None:
    with pytest.raises(VyroInputError) as caught:
        RemoveBackgroundOperator(
            task_id="cut", image_path=str(photo), output_path=str(tmp_path / "a.png"), endpoint=endpoint
        ).execute(context={})
    assert caught.value.field == "endpoint"
    assert "/v1/ or /v2/" in caught.value.problem
    assert vyro_conn.stats()["requests"] == 0
    assert not (tmp_path / "a.png").exists()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["crop"], "expected a dict"),
        ({"crop": 1.5}, "string or a whole number"),
        ({"crop": None}, "string or a whole number"),
        ({"crop": True}, "string or a whole number"),
        ({1: "x"}, "field name"),
        ({"bad name": "x"}, "field name"),
        ({"mask_path": "x"}, "field name"),
        ({"prompt": "x"}, "'prompt' is a field ai_background sets itself"),
        ({"image": "x"}, "'image' is a field ai_background sets itself"),
        ({"seed": 3}, "'seed' is a field ai_background sets itself"),
    ],
)
def test_bad_extra_fields_are_refused(
    vyro_conn: EmulatorServer, tmp_path: Path, extra: Any, words: str
) -> None:
    cut = tmp_path / "cut.png"
    cut.write_bytes(product_photo(fmt="PNG"))
    common = {"task_id": "bg", "extra_fields": extra}
    for build in (
        lambda: AIBackgroundOperator(
            image_path=str(cut), prompt="a beach", output_path=str(tmp_path / "o.png"), **common
        ),
        lambda: AIBackgroundBatchOperator(
            items=[{"image_path": str(cut), "output_path": str(tmp_path / "o.png")}],
            prompt="a beach",
            **common,
        ),
    ):
        with pytest.raises(VyroInputError) as caught:
            build().execute(context={})
        assert caught.value.field == "extra_fields"
        assert words in caught.value.problem
    assert vyro_conn.stats()["requests"] == 0
    assert not (tmp_path / "o.png").exists()


def test_an_extra_field_the_operation_sets_is_refused_on_text_to_image(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    with pytest.raises(VyroInputError) as caught:
        TextToImageOperator(
            task_id="t",
            prompt="a fox",
            output_path=str(tmp_path / "f.png"),
            extra_fields={"output_path": "x"},
        ).execute(context={})
    assert caught.value.field == "extra_fields"
    assert vyro_conn.stats()["requests"] == 0
