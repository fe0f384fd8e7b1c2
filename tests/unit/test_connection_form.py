"""The connection form is defined once; provider info and the hook's methods are derived from it."""

from __future__ import annotations

import re
import sys
import types
from typing import Any

import pytest

import airflow_provider_vyro
from airflow_provider_vyro import connection_form
from airflow_provider_vyro.connection_form import EXTRA_FIELDS, ExtraField
from airflow_provider_vyro.hooks.vyro import VyroHook
from airflow_provider_vyro.version_compat import AIRFLOW_V_3_2_PLUS

DOCUMENTED_EXTRAS = {
    "timeout",
    "max_retries",
    "backoff_factor",
    "verify",
    "cert",
    "proxies",
    "allow_insecure_http",
    "job_status_path",
    "max_result_bytes",
    "credit_costs",
    "requests_per_minute",
}


def vyro_connection_type() -> dict[str, Any]:
    (conn,) = airflow_provider_vyro.get_provider_info()["connection-types"]
    assert isinstance(conn, dict)
    return conn


def test_every_documented_extra_is_in_the_form() -> None:
    assert set(EXTRA_FIELDS) == DOCUMENTED_EXTRAS


def test_provider_info_carries_the_derived_form() -> None:
    conn = vyro_connection_type()
    assert conn["connection-type"] == "vyro"
    form = connection_form.provider_info_form()
    assert conn["ui-field-behaviour"] == form["ui-field-behaviour"]
    assert conn["conn-fields"] == form["conn-fields"]


def test_provider_info_standard_fields() -> None:
    behaviour = connection_form.provider_info_form()["ui-field-behaviour"]
    assert behaviour["hidden-fields"] == ["schema", "port", "login"]
    assert behaviour["relabeling"] == {"host": "Base URL", "password": "API token"}
    assert behaviour["placeholders"]["proxies"] == '{"https": "http://proxy:3128"}'
    assert behaviour["placeholders"]["host"].startswith("https://api.vyro.ai")


def test_provider_info_conn_fields_are_json_schemas() -> None:
    fields = connection_form.provider_info_form()["conn-fields"]
    assert list(fields) == list(EXTRA_FIELDS), "form order is kept"
    assert fields["timeout"] == {
        "label": "Read timeout (seconds)",
        "description": "How long one call may wait for the answer. Default 180.",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    }
    assert fields["max_retries"]["schema"] == {"type": ["integer", "null"], "minimum": 0}
    assert fields["backoff_factor"]["schema"] == {"type": ["number", "null"], "minimum": 0}
    assert fields["allow_insecure_http"]["schema"] == {"type": ["boolean", "null"]}
    for name in ("verify", "cert"):
        assert fields[name]["schema"] == {"type": ["string", "null"]}, name
    for name in ("proxies", "credit_costs"):
        assert fields[name]["schema"] == {"type": ["string", "null"], "pattern": connection_form.JSON_OBJECT}
    assert fields["requests_per_minute"]["schema"] == {"type": ["number", "null"], "exclusiveMinimum": 0}
    assert "408, 429, 500, 502, 503 and 504" in fields["max_retries"]["description"]


@pytest.mark.parametrize(
    ("value", "matches"),
    [('{"inpaint": 2}', True), (' {\n"a": 1}\n', True), ("[1]", False), ("inpaint=2", False)],
)
def test_a_json_object_field_declares_what_it_must_look_like(value: str, matches: bool) -> None:
    assert bool(re.search(connection_form.JSON_OBJECT, value)) is matches


def test_hook_behaviour_is_the_provider_info_behaviour_in_python_spelling() -> None:
    info = connection_form.provider_info_form()["ui-field-behaviour"]
    assert connection_form.hook_field_behaviour() == {
        "hidden_fields": info["hidden-fields"],
        "relabeling": info["relabeling"],
        "placeholders": info["placeholders"],
    }


class FakeField:
    """Stands in for a WTForms field class, recording how it was built."""

    def __init__(self, label: str, **kwargs: Any) -> None:
        self.field_class = type(self)
        self.label = label
        self.kwargs = kwargs


class FakeStringField(FakeField):
    pass


class FakeIntegerField(FakeField):
    pass


class FakeBooleanField(FakeField):
    pass


class FakeOptional:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


class FakeValidationError(Exception):
    pass


class FakeWidget:
    pass


@pytest.fixture
def fake_wtforms(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-ins for WTForms, Flask-Babel and Flask-AppBuilder, as Airflow 3.0 and 3.1 substitute them."""
    modules: dict[str, dict[str, Any]] = {
        "wtforms": {
            "StringField": FakeStringField,
            "IntegerField": FakeIntegerField,
            "BooleanField": FakeBooleanField,
        },
        "wtforms.validators": {"Optional": FakeOptional, "ValidationError": FakeValidationError},
        "flask_babel": {"lazy_gettext": lambda text: f"gettext:{text}"},
        "flask_appbuilder": {},
        "flask_appbuilder.fieldwidgets": {"BS3TextFieldWidget": FakeWidget},
    }
    for name, attributes in modules.items():
        module = types.ModuleType(name)
        for attribute, value in attributes.items():
            setattr(module, attribute, value)
        monkeypatch.setitem(sys.modules, name, module)


@pytest.mark.usefixtures("fake_wtforms")
def test_hook_widgets_are_derived_from_the_same_fields() -> None:
    widgets = connection_form.hook_form_widgets()
    assert list(widgets) == list(EXTRA_FIELDS)
    expected_class = {
        "string": FakeStringField,
        "number": FakeStringField,
        "integer": FakeIntegerField,
        "boolean": FakeBooleanField,
    }
    for name, field in EXTRA_FIELDS.items():
        widget = widgets[name]
        assert widget.field_class is expected_class[field.kind], name
        assert widget.label == f"gettext:{field.label}"
        assert widget.kwargs["description"] == field.description
        checks = [type(v) for v in widget.kwargs["validators"]]
        if name == "allow_insecure_http":
            assert checks == [connection_form.BaseUrlCheck]
        else:
            assert checks == [FakeOptional, connection_form.FieldCheck], "every field may be empty"
        assert isinstance(widget.kwargs.get("widget"), FakeWidget) == (field.kind != "boolean")


@pytest.mark.usefixtures("fake_wtforms")
@pytest.mark.parametrize(
    ("name", "value", "refused"),
    [
        ("timeout", "0", True),
        ("timeout", "   ", True),
        ("timeout", "2.5", False),
        pytest.param("max_retries", 10**400, True, id="max_retries-400-digits"),
        ("max_result_bytes", 1024, False),
        ("credit_costs", "[2]", True),
        ("credit_costs", '{"inpaint": -3}', True),
        ("credit_costs", '{"nope": 2}', True),
        ("credit_costs", '{"inpaint": 2, "text_to_image:realistic": 8}', False),
        ("requests_per_minute", "0", True),
    ],
)
def test_the_form_refuses_an_extra_the_hook_would(name: str, value: object, refused: bool) -> None:
    check = connection_form.hook_form_widgets()[name].kwargs["validators"][-1]
    validate(check, None, value, refused=f"^{re.escape(EXTRA_FIELDS[name].label)} " if refused else None)


@pytest.mark.usefixtures("fake_wtforms")
@pytest.mark.parametrize(
    ("conn_type", "host", "insecure", "refused"),
    [
        ("vyro", "https://api.vyro.ai/v2", False, True),
        ("vyro", "http://vyro.example.com", False, True),
        ("vyro", "http://vyro.example.com", True, False),
        ("vyro", "http://127.0.0.1:8765", False, False),
        ("vyro", "", False, False),
        ("http", "http://example.com/api", False, False),
    ],
)
def test_the_form_refuses_a_base_url_the_hook_would(
    conn_type: str, host: str, insecure: bool, refused: bool
) -> None:
    (check,) = connection_form.hook_form_widgets()["allow_insecure_http"].kwargs["validators"]
    form = types.SimpleNamespace(
        conn_type=types.SimpleNamespace(data=conn_type), host=types.SimpleNamespace(data=host)
    )
    validate(check, form, insecure, refused=r"^Base URL" if refused else None)


def validate(check: Any, form: Any, value: object, *, refused: str | None) -> None:
    """Run a validator as WTForms does; ``refused``: the message it must raise, else none."""
    field = types.SimpleNamespace(data=value)
    if refused is None:
        check(form, field)
        return
    with pytest.raises(FakeValidationError, match=refused):
        check(form, field)


def test_json_schema_of_a_field() -> None:
    assert ExtraField("L", "D", "number", minimum=1).json_schema() == {
        "type": ["number", "null"],
        "minimum": 1,
    }
    assert ExtraField("L", "D", "string").json_schema() == {"type": ["string", "null"]}


def test_hook_form_methods_exist_only_where_airflow_calls_them() -> None:
    """From 3.2 Airflow warns about hooks that define them (it reads provider info instead)."""
    for method in ("get_ui_field_behaviour", "get_connection_form_widgets"):
        assert (method in VyroHook.__dict__) is not AIRFLOW_V_3_2_PLUS, method
    if not AIRFLOW_V_3_2_PLUS:
        assert VyroHook.get_ui_field_behaviour() == connection_form.hook_field_behaviour()


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("timeout", "0", "must be a number more than 0"),
        ("timeout", "-2", "must be a number more than 0"),
        ("timeout", "soon", "must be a number"),
        ("timeout", "0.5", None),
        ("max_retries", "1.5", "must be a whole number"),
        ("max_retries", -1, "must be a whole number of at least 0"),
        ("max_retries", 0, None),
        ("backoff_factor", "0", None),
        ("requests_per_minute", "0", "must be a number more than 0"),
        ("requests_per_minute", "-10", "must be a number more than 0"),
        ("requests_per_minute", "0.5", None),
        ("max_result_bytes", 0, "must be a whole number of at least 1"),
        (
            "proxies",
            '{"https": "http://proxy:3128"',
            'must be a JSON object, e.g. {"https": "http://proxy:3128"}',
        ),
        ("proxies", '["http://proxy:3128"]', 'must be a JSON object, e.g. {"https": "http://proxy:3128"}'),
        ("proxies", '{"https": "http://proxy:3128"}', None),
        ("credit_costs", "inpaint=2", 'must be a JSON object, e.g. {"inpaint": 2}'),
        ("credit_costs", '{"inpaint": 2}', None),
        ("job_status_path", "/v1/video/status", "must look like /v2/video/{id}/status"),
        ("job_status_path", "/v2/jobs/{id}", None),
        ("timeout", "", None),
        ("allow_insecure_http", True, None),
    ],
)
def test_a_field_names_the_problem_of_a_value_its_constraints_refuse(
    name: str, value: object, problem: str | None
) -> None:
    assert EXTRA_FIELDS[name].problem(value) == problem
