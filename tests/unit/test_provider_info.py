"""The provider as Airflow discovers it: entry point, package name, connection type and form."""

from __future__ import annotations

from importlib.metadata import distribution, entry_points

import pytest
from airflow.providers_manager import ProvidersManager

import airflow_provider_vyro

DIST = "airflow-provider-vyro"


def test_entry_point_returns_provider_info() -> None:
    (entry,) = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.dist and ep.dist.name == DIST
    ]
    info = entry.load()()
    assert info["package-name"] == DIST
    assert info["versions"] == [airflow_provider_vyro.__version__]


def test_package_name_equals_distribution_name() -> None:
    assert distribution(DIST).metadata["Name"] == airflow_provider_vyro.get_provider_info()["package-name"]
    assert distribution(DIST).version == airflow_provider_vyro.__version__


@pytest.mark.airflow_versions(">=3.2")
def test_providers_manager_finds_vyro_connection_type_and_form() -> None:
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    assert DIST in manager.providers
    hook = ProvidersManagerTaskRuntime().hooks["vyro"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_vyro.hooks.vyro.VyroHook"
    assert hook.connection_id_attribute_name == "vyro_conn_id"
    assert hook.connection_testable

    behaviour = manager.field_behaviours["vyro"]
    assert set(behaviour["hidden_fields"]) == {"schema", "port", "login"}
    assert behaviour["relabeling"]["password"] == "API token"
    assert "host" in behaviour["placeholders"]

    widgets = manager.connection_form_widgets
    for extra in ("timeout", "max_retries", "backoff_factor"):
        widget = widgets[f"extra__vyro__{extra}"]
        assert widget.package_name == DIST
        assert widget.field["schema"]["title"]
