"""Credits against the emulator: what each dict reports, the budget before and during a run, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_vyro.catalogue import STYLE_TOKEN_COSTS
from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.exceptions import VyroBudgetError, VyroInputError
from airflow_provider_vyro.operators.generate import TextToImageOperator
from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator, InpaintOperator
from tests.conftest import conn_json
from tests.integration.test_batch import make_items


@pytest.fixture
def priced(vyro_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """``vyro_default`` at the emulator, with inpaint priced at 2 credits by ``credit_costs``."""
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(vyro_conn.url, credit_costs={"inpaint": 2}))
    return vyro_conn


def run_batch(items: list[dict[str, Any]], **kwargs: Any) -> Any:
    return InpaintBatchOperator(task_id="batch", items=items, progress_interval=0.2, **kwargs).execute(
        context={}
    )


def test_each_dict_carries_the_cost_of_its_call_and_the_try(priced: EmulatorServer, tmp_path: Path) -> None:
    results = run_batch(make_items(tmp_path, 3), max_credits=6)
    assert [(r["credits"], r["try_number"]) for r in results] == [(2, 1)] * 3
    assert priced.stats()["requests"] == 3, "a run whose known cost equals max_credits runs"


def test_a_kept_output_costs_nothing(priced: EmulatorServer, tmp_path: Path) -> None:
    items = make_items(tmp_path, 2)
    run_batch(items)
    assert [r["credits"] for r in run_batch(items, overwrite=False)] == [0, 0]


def test_an_unknown_cost_is_null_without_a_budget(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    assert [r["credits"] for r in run_batch(make_items(tmp_path, 2))] == [None, None]


def test_text_to_image_carries_the_documented_cost_of_its_style(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    result = TextToImageOperator(
        task_id="generate", prompt="a lighthouse", output_path=str(tmp_path / "a.png"), style="flux-dev"
    ).execute(context={})
    assert result["credits"] == STYLE_TOKEN_COSTS["flux-dev"]


def test_credit_costs_override_a_style(
    vyro_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    costs = {"text_to_image": 3, "text_to_image:flux-dev": 11}
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(vyro_conn.url, credit_costs=costs))
    results = [
        TextToImageOperator(
            task_id="generate", prompt="a lighthouse", output_path=str(tmp_path / f"{style}.png"), style=style
        ).execute(context={})["credits"]
        for style in ("flux-dev", "anime")
    ]
    assert results == [11, 3]


def test_a_batch_over_budget_sends_nothing(priced: EmulatorServer, tmp_path: Path) -> None:
    with pytest.raises(VyroBudgetError, match="cost 10 credits and max_credits is 9") as caught:
        run_batch(make_items(tmp_path, 5), max_credits=9, max_concurrency=4)
    assert isinstance(caught.value, AirflowFailException)
    assert priced.stats()["requests"] == 0
    assert not (tmp_path / "out").exists()


def test_kept_outputs_are_not_priced(priced: EmulatorServer, tmp_path: Path) -> None:
    items = make_items(tmp_path, 4)
    run_batch(items[:2])
    results = run_batch(items, max_credits=4, overwrite=False)
    assert [r["credits"] for r in results] == [0, 0, 2, 2]
    assert priced.stats()["requests"] == 4


def test_a_budget_reached_by_retries_stops_the_run(priced: EmulatorServer, tmp_path: Path) -> None:
    priced.set_faults(script=[500])
    with pytest.raises(VyroBudgetError, match="max_credits=6 reached: 6 credits spent by 3 calls"):
        run_batch(make_items(tmp_path, 3), max_credits=6, max_concurrency=1)
    assert priced.stats()["requests"] == 3, "the retry paid for a call: the third item is never sent"


def test_an_unknown_cost_cannot_run_under_a_budget(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    with pytest.raises(VyroInputError, match="max_credits") as caught:
        run_batch(make_items(tmp_path, 2), max_credits=100)
    assert "'inpaint'" in str(caught.value)
    assert "credit_costs" in str(caught.value)
    assert vyro_conn.stats()["requests"] == 0


def test_the_closing_line_says_calls_retries_credits_and_kept(
    priced: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = make_items(tmp_path, 3)
    run_batch(items[:1])
    priced.set_faults(script=[500])
    run_batch(items, overwrite=False, max_concurrency=1)
    assert (
        "Vyro run: 3 calls made (1 retries), 6 credits (known costs), 2 written, 1 kept, 0 failed"
        in capsys.readouterr().out
    )


@pytest.mark.parametrize("value", [0, -1, "5", True, float("nan")])
def test_max_credits_must_be_a_positive_number(value: Any, tmp_path: Path) -> None:
    with pytest.raises(VyroInputError, match="max_credits"):
        InpaintOperator(task_id="t", image_path="a.png", mask_path="m.png", prompt="p", max_credits=value)


@pytest.mark.parametrize(
    "costs",
    [[1], {"inpaint": -1}, {"inpaint": "2"}, {"inpaint": True}, {"paint": 2}, "not json"],
    ids=["list", "negative", "string", "bool", "unknown operation", "not json"],
)
def test_credit_costs_must_be_an_object_of_numbers_by_operation(
    vyro_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, costs: Any
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(vyro_conn.url, credit_costs=costs))
    with pytest.raises(VyroInputError, match="credit_costs"):
        run_batch(make_items(tmp_path, 2), max_credits=10)
    assert vyro_conn.stats()["requests"] == 0


def test_a_video_of_unknown_cost_cannot_run_under_a_budget(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    from airflow_provider_vyro.operators.video import TextToVideoOperator

    video = TextToVideoOperator(
        task_id="video", prompt="waves", output_path=str(tmp_path / "w.mp4"), deferrable=False, max_credits=50
    )
    with pytest.raises(VyroInputError, match="credit_costs"):
        video.execute({})
    assert sum(vyro_conn.video_stats()["submits"].values()) == 0


def test_a_video_over_budget_is_refused_and_within_it_reports_its_cost(
    vyro_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow_provider_vyro.operators.video import TextToVideoOperator

    monkeypatch.setenv(
        "AIRFLOW_CONN_VYRO_DEFAULT", conn_json(vyro_conn.url, credit_costs={"text_to_video": 40})
    )
    vyro_conn.set_video(duration=0.5)
    arguments: dict[str, Any] = {
        "task_id": "video",
        "prompt": "waves",
        "deferrable": False,
        "poll_interval": 1,
    }
    with pytest.raises(VyroBudgetError):
        TextToVideoOperator(output_path=str(tmp_path / "a.mp4"), max_credits=39, **arguments).execute({})
    assert sum(vyro_conn.video_stats()["submits"].values()) == 0
    result = TextToVideoOperator(output_path=str(tmp_path / "b.mp4"), max_credits=40, **arguments).execute({})
    assert (result["credits"], result["try_number"]) == (40, 1)


def test_the_decorator_refuses_a_bad_max_credits_when_the_dag_is_parsed() -> None:
    from airflow.providers.common.compat.sdk import task

    @task.vyro(operation="upscale", max_credits=-3)
    def enlarge() -> dict[str, Any]:
        return {}

    with pytest.raises(VyroInputError, match="max_credits"):
        enlarge()
