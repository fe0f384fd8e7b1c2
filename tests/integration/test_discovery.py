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


@pytest.mark.airflow_versions("<3.0")
@pytest.mark.parametrize(
    ("entered", "refused"),
    [
        ({"extra__vyro__timeout": "0"}, "extra__vyro__timeout"),
        ({"extra__vyro__max_retries": "1.5"}, "extra__vyro__max_retries"),
        ({"extra__vyro__max_retries": "-1"}, "extra__vyro__max_retries"),
        ({"extra__vyro__proxies": '{"https": '}, "extra__vyro__proxies"),
        ({"extra__vyro__credit_costs": "[2]"}, "extra__vyro__credit_costs"),
        ({"extra__vyro__credit_costs": '{"inpaint": -3}'}, "extra__vyro__credit_costs"),
        ({"extra__vyro__credit_costs": '{"nope": 2}'}, "extra__vyro__credit_costs"),
        ({"extra__vyro__timeout": "   "}, None),  # the form strips it: the extra is not saved
        ({"extra__vyro__requests_per_minute": "0"}, "extra__vyro__requests_per_minute"),
        ({"extra__vyro__job_status_path": "/v1/{id}"}, "extra__vyro__job_status_path"),
        ({"host": "https://api.vyro.ai/v2"}, "extra__vyro__allow_insecure_http"),
        ({"host": "http://vyro.example.com"}, "extra__vyro__allow_insecure_http"),
        ({"host": "http://127.0.0.1:8765", "extra__vyro__timeout": "0.5"}, None),
        ({"host": "http://vyro.example.com", "extra__vyro__allow_insecure_http": "y"}, None),
        (
            {
                "extra__vyro__max_retries": "2",
                "extra__vyro__proxies": '{"https": "http://proxy:3128"}',
                "extra__vyro__credit_costs": '{"inpaint": 2}',
                "extra__vyro__requests_per_minute": "30",
            },
            None,
        ),
    ],
)
def test_webserver_form_refuses_what_the_hook_would(entered: dict[str, str], refused: str | None) -> None:
    """Airflow 2.11's connection form (WTForms), built and validated as the webserver does on save."""
    from airflow.www.forms import create_connection_form_class
    from flask import Flask
    from werkzeug.datastructures import MultiDict

    form_class = create_connection_form_class()
    app = Flask(__name__)
    app.config["WTF_CSRF_ENABLED"] = False
    with app.test_request_context(method="POST"):
        data = MultiDict({"conn_id": "vyro_default", "conn_type": "vyro", "password": "t", **entered})
        form = form_class(formdata=data, meta={"csrf": False})
        valid = form.validate()
    assert valid is (refused is None), form.errors
    if refused is not None:
        assert list(form.errors) == [refused], form.errors


@pytest.mark.airflow_versions("<3.0")
def test_webserver_form_checks_only_vyro_connections() -> None:
    from airflow.www.forms import create_connection_form_class
    from flask import Flask
    from werkzeug.datastructures import MultiDict

    app = Flask(__name__)
    with app.test_request_context(method="POST"):
        data = MultiDict({"conn_id": "web", "conn_type": "http", "host": "http://example.com/api"})
        form = create_connection_form_class()(formdata=data, meta={"csrf": False})
        assert form.validate(), form.errors


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
        if not AIRFLOW_V_3_2_PLUS:
            # 3.0 and 3.1 keep only the type: the form cannot refuse a value (the hook does).
            assert not {"minimum", "exclusiveMinimum", "pattern"} & set(schema), (name, schema)


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
