"""
The ``vyro`` connection form, defined once for every Airflow version the provider supports.

Airflow builds a connection type's form in the UI from one of two sources, depending on its version:

* from Airflow 3.2 on, ProvidersManager reads the provider info (``ui-field-behaviour`` and
  ``conn-fields``, see :func:`provider_info_form`) without importing the hook;
* before, the webserver (2.11) or the api-server (3.0, 3.1) calls the hook's
  ``get_ui_field_behaviour()`` and ``get_connection_form_widgets()`` (see
  :func:`hook_field_behaviour` and :func:`hook_form_widgets`).

Both are derived from :data:`EXTRA_FIELDS` and the standard-field settings below. This module is
pure data and imports nothing from Airflow at import time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

FieldKind = Literal["string", "integer", "number", "boolean"]


@dataclass(frozen=True)
class ExtraField:
    """
    One field of the connection's ``extra``, as the form shows it.

    :param label: the field's label in the form.
    :param description: help text under the field.
    :param kind: the JSON type of the value; numbers are entered as text on forms that have no
        number field (the hook reads them as numbers either way).
    :param minimum: the smallest value allowed, for numbers.
    :param exclusive_minimum: whether ``minimum`` itself is excluded.
    :param placeholder: an example value shown in the empty field.
    :param pattern: a regular expression the text must match (for strings).
    """

    label: str
    description: str
    kind: FieldKind
    minimum: float | None = None
    exclusive_minimum: bool = False
    placeholder: str | None = None
    pattern: str | None = None

    def problem(self, value: Any) -> str | None:
        """
        Say what is wrong with a value entered in the form, by the constraints :meth:`json_schema` declares.

        :param value: the value entered (text, a whole number, or a yes/no).
        :return: the problem in a user's words, or ``None`` if the value is allowed (or empty).
        """
        if value is None or value == "" or self.kind == "boolean":
            return None
        if self.kind in ("number", "integer"):
            return self._number_problem(value)
        if self.pattern == JSON_OBJECT:
            try:
                parsed = json.loads(str(value))
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                return f"must be a JSON object, e.g. {self.placeholder}"
        elif self.pattern is not None and not re.search(self.pattern, str(value)):
            return f"must look like {self.placeholder}"
        return None

    def _number_problem(self, value: Any) -> str | None:
        whole = "a whole number" if self.kind == "integer" else "a number"
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return f"must be {whole}"
        if number != number or (self.kind == "integer" and not number.is_integer()):
            return f"must be {whole}"
        if self.minimum is None:
            return None
        if self.exclusive_minimum and number <= self.minimum:
            return f"must be {whole} more than {self.minimum:g}"
        if number < self.minimum:
            return f"must be {whole} of at least {self.minimum:g}"
        return None

    def json_schema(self) -> dict[str, Any]:
        """Return the field's JSON schema, as ``conn-fields`` declares it (``null`` means unset)."""
        schema: dict[str, Any] = {"type": [self.kind, "null"]}
        if self.minimum is not None:
            schema["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        return schema


JSON_OBJECT = r"^\s*\{[\s\S]*\}\s*$"
"""What a field holding a JSON object must look like (the hook checks the rest)."""

HIDDEN_FIELDS: tuple[str, ...] = ("schema", "port", "login")
"""Standard fields the vyro connection does not use."""

RELABELING: dict[str, str] = {"host": "Base URL", "password": "API token"}
"""Standard fields shown under another label."""

STANDARD_PLACEHOLDERS: dict[str, str] = {
    "host": "https://api.vyro.ai (leave empty for the public API)",
    "password": "your Vyro API token",
}
"""Example values shown in the empty standard fields."""

EXTRA_FIELDS: dict[str, ExtraField] = {
    "timeout": ExtraField(
        label="Read timeout (seconds)",
        description="How long one call may wait for the answer. Default 180.",
        kind="number",
        minimum=0,
        exclusive_minimum=True,
    ),
    "max_retries": ExtraField(
        label="Max retries",
        description="Retries of a call after connection errors, timeouts, 408, 429, 500, 502, 503 "
        "and 504. Default 3.",
        kind="integer",
        minimum=0,
    ),
    "backoff_factor": ExtraField(
        label="Backoff factor (seconds)",
        description="Base of the exponential backoff between retries. Default 1.0.",
        kind="number",
        minimum=0,
    ),
    "verify": ExtraField(
        label="TLS verification",
        description="true (default), false, or the path of a CA bundle on the workers.",
        kind="string",
        placeholder="true",
    ),
    "cert": ExtraField(
        label="Client certificate",
        description='Path of a client certificate for mutual TLS, or a JSON pair ["cert.pem", "key.pem"].',
        kind="string",
        placeholder="/etc/ssl/vyro/client.pem",
    ),
    "proxies": ExtraField(
        label="Proxies",
        description="A JSON object of proxy URLs by scheme; HTTPS_PROXY and friends also work. "
        "Airflow shows this field as *** once saved (it masks fields named like proxies).",
        kind="string",
        placeholder='{"https": "http://proxy:3128"}',
        pattern=JSON_OBJECT,
    ),
    "allow_insecure_http": ExtraField(
        label="Allow insecure http://",
        description="Allow an http:// base URL that is not loopback (the token would travel in clear).",
        kind="boolean",
    ),
    "job_status_path": ExtraField(
        label="Video job status path",
        description="Where a video job's status is read, with {id}. Default /v2/video/{id}/status.",
        kind="string",
        placeholder="/v2/video/{id}/status",
        pattern=r"^/v2/.*\{id\}",
    ),
    "max_result_bytes": ExtraField(
        label="Largest video result (bytes)",
        description="A video result larger than this is not fetched. Default 2147483648 (2 GiB).",
        kind="integer",
        minimum=1,
    ),
    "credit_costs": ExtraField(
        label="Credit costs",
        description="Costs of calls in credits for your plan, by operation or operation:style, e.g. "
        '{"inpaint": 2, "text_to_image:flux-dev": 15}. Needed for max_credits where no cost is documented.',
        kind="string",
        placeholder='{"inpaint": 2}',
        pattern=JSON_OBJECT,
    ),
    "requests_per_minute": ExtraField(
        label="Requests per minute",
        description="The most requests a minute one task sends (empty: as the API's rate limits allow).",
        kind="number",
        minimum=0,
        exclusive_minimum=True,
    ),
}
"""The connection's extra fields, in form order."""


def _placeholders() -> dict[str, str]:
    extras = {name: f.placeholder for name, f in EXTRA_FIELDS.items() if f.placeholder is not None}
    return {**STANDARD_PLACEHOLDERS, **extras}


def provider_info_form() -> dict[str, Any]:
    """
    Return the form as provider info declares it: ``ui-field-behaviour`` and ``conn-fields``.

    Read by ProvidersManager from Airflow 3.2 on, which then does not import the hook for it.
    """
    return {
        "ui-field-behaviour": {
            "hidden-fields": list(HIDDEN_FIELDS),
            "relabeling": dict(RELABELING),
            "placeholders": _placeholders(),
        },
        "conn-fields": {
            name: {"label": f.label, "description": f.description, "schema": f.json_schema()}
            for name, f in EXTRA_FIELDS.items()
        },
    }


def hook_field_behaviour() -> dict[str, Any]:
    """Return the standard fields' settings, for the hook's ``get_ui_field_behaviour()`` (Airflow < 3.2)."""
    return {
        "hidden_fields": list(HIDDEN_FIELDS),
        "relabeling": dict(RELABELING),
        "placeholders": _placeholders(),
    }


class FieldCheck:
    """
    A WTForms validator of one extra field: its constraints (:meth:`ExtraField.problem`), in the form.

    :param field: the field's definition.
    :param read: the hook's own reader of the value, where the constraints say less than it checks
        (it raises :class:`~airflow_provider_vyro.exceptions.VyroInputError` naming the extra).
    """

    def __init__(self, field: ExtraField, read: Callable[[Any], object] | None = None) -> None:
        self.field = field
        self.read = read

    def __call__(self, form: Any, field: Any) -> None:
        """Refuse the field's value if it breaks a constraint (WTForms' validator protocol)."""
        from airflow_provider_vyro.exceptions import VyroInputError

        problem = self.field.problem(field.data)
        if problem is None and self.read is not None and field.data not in (None, ""):
            try:
                self.read(field.data)
            except VyroInputError as err:
                problem = re.sub(r"^its extra '[^']*' ", "", err.problem)
        if problem is not None:
            from wtforms.validators import ValidationError

            raise ValidationError(f"{self.field.label} {problem}")


class BaseUrlCheck:
    """
    A WTForms validator that checks the form's Base URL (host) as the hook does, for a ``vyro`` connection.

    A scheme and host only (a path such as ``/v2`` is refused), and ``http://`` only for this machine
    unless the field it validates, ``allow_insecure_http``, is ticked; see
    :func:`airflow_provider_vyro.network.base_url`. Standard fields take no validators of a
    provider's, so the error shows beside ``allow_insecure_http``.
    """

    def __call__(self, form: Any, field: Any) -> None:
        """Refuse a Base URL the hook would refuse (WTForms' validator protocol)."""
        if getattr(getattr(form, "conn_type", None), "data", None) != "vyro":
            return
        from wtforms.validators import ValidationError

        from airflow_provider_vyro.exceptions import VyroInputError
        from airflow_provider_vyro.network import base_url

        host = getattr(getattr(form, "host", None), "data", None)
        try:
            base_url(host, None, allow_insecure_http=bool(field.data))
        except VyroInputError as err:
            raise ValidationError(f"Base URL: {err.problem.removeprefix('its host ')}") from None


def hook_form_widgets() -> dict[str, Any]:
    """
    Return the extra fields as WTForms fields, for the hook's ``get_connection_form_widgets()`` (< 3.2).

    WTForms fields, imported here and not at module level: the 2.11 webserver has WTForms and
    Flask-AppBuilder; the 3.0 and 3.1 api-server substitutes stand-ins for them when it calls this.
    Only the field classes and the ``Optional`` validator both accept are used; numbers that may be
    fractional are text fields. On 2.11 the form refuses what the hook would refuse: each field's
    constraints (:class:`FieldCheck`) and the Base URL (:class:`BaseUrlCheck`); 3.0 and 3.1 keep only
    each field's type.
    """
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, StringField
    from wtforms.validators import Optional

    from airflow_provider_vyro.credits import read_credit_costs

    classes = {"string": StringField, "number": StringField, "integer": IntegerField, "boolean": BooleanField}
    readers: dict[str, Callable[[Any], object]] = {"credit_costs": read_credit_costs}
    widgets: dict[str, Any] = {}
    for name, f in EXTRA_FIELDS.items():
        validators = [Optional(), FieldCheck(f, readers.get(name))]
        kwargs: dict[str, Any] = {"description": f.description, "validators": validators}
        if f.kind != "boolean":
            kwargs["widget"] = BS3TextFieldWidget()
        if name == "allow_insecure_http":
            kwargs["validators"] = [BaseUrlCheck()]  # Optional() would stop it when the box is not ticked
        widgets[name] = classes[f.kind](lazy_gettext(f.label), **kwargs)
    return widgets
