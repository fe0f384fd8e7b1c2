"""
Airflow finds the provider and shows the ``vyro`` connection form, read the way each version's UI reads it.

* Airflow 2.11: the Flask webserver takes the form from ProvidersManager, which calls the hook's
  ``get_connection_form_widgets()`` and ``get_ui_field_behaviour()`` with the real WTForms.
* Airflow 3.0 and 3.1: the api-server's ``HookMetaService`` calls the same methods with stand-ins
  for WTForms (on 3.0 only where Flask-AppBuilder and WTForms are installed, e.g. by the FAB provider).
* Airflow 3.2+: the same ``HookMetaService`` reads ``conn-fields`` and ``ui-field-behaviour`` from
  provider info, without importing the hook.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import airflow_provider_vyro
from airflow_provider_vyro.connection_form import EXTRA_FIELDS, HIDDEN_FIELDS, RELABELING
from airflow_provider_vyro.version_compat import AIRFLOW_V_3_2_PLUS
from devtools.airflow_runner import airflow_env

DIST = "airflow-provider-vyro"


def test_airflow_providers_list_shows_the_provider(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        env=airflow_env(tmp_path / "home", tmp_path / "dags"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'"package_name": "{DIST}"' in result.stdout
    assert f'"version": "{airflow_provider_vyro.__version__}"' in result.stdout


@pytest.mark.airflow_versions("<3.0")
def test_webserver_form_from_the_hook_methods() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert manager.hooks["vyro"] is not None
    widgets = manager.connection_form_widgets
    behaviour = manager.field_behaviours["vyro"]

    assert behaviour["hidden_fields"] == list(HIDDEN_FIELDS)
    assert behaviour["relabeling"] == RELABELING
    assert behaviour["placeholders"]["extra__vyro__proxies"] == '{"https": "http://proxy:3128"}'
    for name, field in EXTRA_FIELDS.items():
        widget = widgets[f"extra__vyro__{name}"]
        assert widget.package_name == DIST
        assert widget.field_name == name
        assert str(widget.field.args[0]) == field.label


@pytest.mark.airflow_versions(">=3.0")
def test_api_server_form() -> None:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metas = HookMetaService.hook_meta_data()
    assert not [w for w in caught if "VyroHook" in str(w.message)], "no deprecation warning for our hook"
    (meta,) = [m for m in metas if m.connection_type == "vyro"]
    assert meta.hook_class_name == "airflow_provider_vyro.hooks.vyro.VyroHook"

    standard = meta.standard_fields
    assert standard is not None
    assert standard.host is not None
    assert standard.password is not None
    assert standard.host.title == "Base URL"
    assert standard.password.title == "API token"
    assert str(standard.host.placeholder).startswith("https://api.vyro.ai")
    for hidden in (standard.url_schema, standard.port, standard.login):
        assert hidden is not None
        assert hidden.hidden

    extras: Mapping[str, Any] = meta.extra_fields or {}
    assert list(extras) == list(EXTRA_FIELDS)
    for name, field in EXTRA_FIELDS.items():
        schema = extras[name]["schema"]
        assert schema["title"] == field.label, name
        assert extras[name]["description"] == field.description, name
        # Before 3.2 the hook's WTForms fields are the source: fractional numbers are text fields.
        kind = "string" if field.kind == "number" and not AIRFLOW_V_3_2_PLUS else field.kind
        assert schema["type"] == [kind, "null"], name


@pytest.mark.airflow_versions(">=3.2")
def test_providers_manager_reads_the_form_from_provider_info() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        widgets = manager.connection_form_widgets
        behaviour = manager.field_behaviours["vyro"]
    assert not [w for w in caught if "VyroHook" in str(w.message)]
    assert behaviour["relabeling"] == RELABELING
    for name, field in EXTRA_FIELDS.items():
        widget = widgets[f"extra__vyro__{name}"]
        assert widget.package_name == DIST
        assert widget.field["schema"] == {**field.json_schema(), "title": field.label}
