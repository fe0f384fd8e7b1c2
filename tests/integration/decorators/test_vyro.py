"""
``@task.vyro`` in-process against the emulator: bad input is refused before any request, a dict
runs one item and a list a batch, and the values returned are rendered as templates.
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
from tests.conftest import conn_json

KNOWN = (
    "ai_background, generative_fill, image_to_video, inpaint, remove_background, text_to_image, text_to_png, "
    "text_to_video, upscale"
)


@pytest.fixture
def vyro_conn(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """``vyro_default`` pointing at the emulator, in this process's environment."""
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url))
    return emulator


def build(function: Callable[..., Any], **decorator_kwargs: Any) -> Any:
    """The operator ``@task.vyro(**decorator_kwargs)`` makes of ``function``, in a DAG of its own."""
    with DAG("taskflow_test", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        task.vyro(task_id="vyro", **decorator_kwargs)(function)()
    return dag.get_task("vyro")


def run(function: Callable[..., Any], **decorator_kwargs: Any) -> Any:
    """Build the operator and run its ``execute`` with a context of no task instance."""
    return build(function, **decorator_kwargs).execute({"params": {"folder": "rendered"}})


def test_an_unknown_operation_is_refused_when_the_dag_is_parsed_listing_the_known_ones() -> None:
    with pytest.raises(VyroInputError) as caught:
        build(lambda: {}, operation="paint_by_numbers")
    assert caught.value.field == "operation"
    assert "'paint_by_numbers'" in caught.value.problem
    assert caught.value.problem.endswith(f"the known ones are {KNOWN}")


@pytest.mark.parametrize(
    ("returned", "field", "words"),
    [
        ("a prompt", "return_value", "got str"),
        (None, "return_value", "got NoneType"),
        ([{"prompt": "a fox", "output_path": "/tmp/x.png"}, "oops"], "return_value[1]", "got str"),
    ],
)
def test_a_result_neither_a_dict_nor_a_list_of_dicts_is_refused_before_any_request(
    vyro_conn: EmulatorServer, returned: Any, field: str, words: str
) -> None:
    with pytest.raises(VyroInputError) as caught:
        run(lambda: returned, operation="text_to_image")
    assert caught.value.field == field
    assert words in caught.value.problem
    assert vyro_conn.stats()["requests"] == 0


def test_a_list_cannot_be_pushed_key_by_key(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    def listed() -> dict[str, Any]:  # the annotation turns multiple_outputs on
        return [{"prompt": "a fox", "output_path": str(tmp_path / "fox.png")}]  # type: ignore[return-value]

    with pytest.raises(VyroInputError) as caught:
        run(listed, operation="text_to_image")
    assert caught.value.field == "multiple_outputs"
    assert vyro_conn.stats()["requests"] == 0
    assert list(tmp_path.iterdir()) == []


def test_a_dict_runs_one_item_with_its_values_rendered(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    def one() -> dict[str, Any]:
        return {"prompt": "a red fox", "seed": 7, "output_path": str(tmp_path / "{{ params.folder }}.png")}

    result = run(one, operation="text_to_image", overwrite=False)
    assert result["output_path"] == str(tmp_path / "rendered.png")
    assert (result["operation"], result["seed"], result["skipped"]) == ("text_to_image", "7", False)
    assert (tmp_path / "rendered.png").stat().st_size == result["bytes"]
    assert vyro_conn.stats()["operations"] == {"text_to_image": 1}


def test_a_list_of_dicts_runs_a_batch_in_order(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    prompts = ["a red fox", "a blue whale", "a green frog"]

    def many() -> list[dict[str, Any]]:
        return [{"prompt": p, "output_path": str(tmp_path / f"{n}.png")} for n, p in enumerate(prompts)]

    results = run(many, operation="text_to_png", max_concurrency=2)
    assert [r["prompt"] for r in results] == prompts
    assert {r["operation"] for r in results} == {"text_to_png"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.png", "1.png", "2.png"]
    assert vyro_conn.stats()["operations"] == {"text_to_png": 3}


def test_an_item_key_the_operation_does_not_take_is_refused_before_any_request(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    def wrong() -> list[dict[str, Any]]:
        return [{"prompt": "a fox", "style": "anime", "output_path": str(tmp_path / "fox.png")}]

    with pytest.raises(VyroInputError) as caught:
        run(wrong, operation="text_to_png")
    assert "items[0].item: unknown key(s) ['style']" in str(caught.value)
    assert vyro_conn.stats()["requests"] == 0


def test_provider_info_registers_the_decorator_airflow_resolves_as_task_vyro() -> None:
    from airflow_provider_vyro import get_provider_info
    from airflow_provider_vyro.decorators.vyro import vyro_task

    assert get_provider_info()["task-decorators"] == [
        {"name": "vyro", "class-name": "airflow_provider_vyro.decorators.vyro.vyro_task"}
    ]
    assert task.vyro is vyro_task
