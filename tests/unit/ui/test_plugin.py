"""
The "Vyro images" plugin and extra link as Airflow discovers them: present on 3.1+, absent before.

These run on every Airflow of the matrix: on 2.11 and 3.0 nothing of the view may appear.
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import BaseOperator

import airflow_provider_vyro
from airflow_provider_vyro.ui.links import VyroImagesLink, view_path
from airflow_provider_vyro.version_compat import AIRFLOW_V_3_1_PLUS

DIST = "airflow-provider-vyro"


def vyro_operator_classes() -> list[Any]:
    info = airflow_provider_vyro.get_provider_info()
    modules = [name for group in info["operators"] for name in group["python-modules"]]
    modules += [d["class-name"].rpartition(".")[0] for d in info.get("task-decorators", [])]
    found: list[Any] = []
    for name in modules:
        module = importlib.import_module(name)
        found += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, BaseOperator) and cls.__module__.startswith("airflow_provider_vyro.")
        ]
    return found


def test_the_plugin_entry_point_names_the_plugin_only_on_airflow_3_1_plus() -> None:
    (entry,) = [ep for ep in entry_points(group="airflow.plugins") if ep.dist and ep.dist.name == DIST]
    loaded = entry.load()
    if AIRFLOW_V_3_1_PLUS:
        from airflow_provider_vyro.ui.plugin import VyroImagesPlugin

        assert loaded is VyroImagesPlugin
        assert loaded.name == "vyro"
        (view,) = loaded.external_views
        assert view["destination"] == "task_instance"
        assert view["url_route"] == "vyro-images"
        assert loaded.fastapi_apps[0]["url_prefix"] == "/vyro"
    else:
        assert loaded is None


def test_provider_info_lists_the_plugin_and_the_link_only_on_airflow_3_1_plus() -> None:
    info = airflow_provider_vyro.get_provider_info()
    if AIRFLOW_V_3_1_PLUS:
        assert info["plugins"] == [
            {"name": "vyro", "plugin-class": "airflow_provider_vyro.ui.plugin.VyroImagesPlugin"}
        ]
        assert info["extra-links"] == ["airflow_provider_vyro.ui.links.VyroImagesLink"]
    else:
        assert "plugins" not in info
        assert "extra-links" not in info


def test_airflow_loads_the_plugin_only_on_airflow_3_1_plus() -> None:
    from airflow import plugins_manager

    names = {plugin["name"] for plugin in plugins_manager.get_plugin_info()}
    assert ("vyro" in names) is AIRFLOW_V_3_1_PLUS


def test_every_operator_has_the_link_only_on_airflow_3_1_plus() -> None:
    operators = vyro_operator_classes()
    assert len(operators) >= 8
    assert "VyroDecoratedOperator" in {cls.__name__ for cls in operators}
    for cls in operators:
        links = [type(link) for link in cls.operator_extra_links]
        assert links == ([VyroImagesLink] if AIRFLOW_V_3_1_PLUS else []), cls.__name__


@pytest.mark.parametrize(
    ("map_index", "expected"),
    [
        (-1, "/dags/my_dag/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00/tasks/my_task/plugin/vyro-images"),
        (
            2,
            "/dags/my_dag/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00/tasks/my_task/mapped/2/plugin/vyro-images",
        ),
    ],
)
def test_the_view_path_names_the_task_instance(map_index: int, expected: str) -> None:
    assert view_path("my_dag", "manual__2026-01-01T00:00:00+00:00", "my_task", map_index) == expected


@pytest.mark.airflow_versions(">=3.1")
def test_the_link_opens_the_view_under_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.common.compat.sdk import TaskInstanceKey

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/team/")
    key = TaskInstanceKey(dag_id="d", task_id="t", run_id="r", try_number=1, map_index=-1)
    url = VyroImagesLink().get_link(None, ti_key=key)
    assert url == "https://airflow.example.com/team/dags/d/runs/r/tasks/t/plugin/vyro-images"
    assert VyroImagesLink().name == "Vyro images"
