"""An operator for any image endpoint of the API, by its path: the generic call."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_vyro import checks
from airflow_provider_vyro.catalogue import GENERIC, Endpoint, TextField
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.operators.base import VyroItemOperator

if TYPE_CHECKING:
    from collections.abc import Sequence


class VyroImageOperator(VyroItemOperator):
    """
    Call any image endpoint of the API by its path and write the image it answers.

    The way to reach endpoints that have no operator of their own, such as
    ``/v2/image/background/remover``. The call gets what every operation gets (see
    :meth:`~airflow_provider_vyro.hooks.vyro.VyroHook.post_image`): the network policy, the
    auth header of the path's API version, retries, and the answer check (a complete PNG, JPEG
    or WebP image). Text fields are sent as given; files must be JPEG or PNG by content. The
    output is written atomically in the format its extension names (an answer in another
    format is converted; a ``.jpg`` output lays transparency on white, and the log says so).

    The return value is a dict with ``output_path``, ``endpoint`` (the path), ``files`` (each
    file field's path, as given), ``fields`` (the text fields sent), ``prompt`` (the ``prompt``
    field, or ``None``), ``width``, ``height``, ``bytes``, ``sha256``, ``skipped``,
    ``operation`` (``image``), ``api_version``, ``format`` and ``attempts``; each key is also
    pushed as its own XCom.

    :param endpoint: the path after the base URL, starting with ``/v1/`` or ``/v2/``, e.g.
        ``/v2/image/background/remover``. (templated)
    :param fields: the text fields, by name: strings, or whole numbers sent as their digits. (templated)
    :param files: the files, by field name: local paths, ``file://`` or object-storage URIs. (templated)
    :param output_path: where to write the image; default beside the first file as
        ``<stem>_result.png`` (required when there is no file). (templated)
    :param vyro_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param storage_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`. (templated)
    :param overwrite: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param asset_alias: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param extra_fields: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    """

    endpoint: ClassVar[Endpoint] = GENERIC
    template_fields: Sequence[str] = ("endpoint_path", "fields", "files", "output_path", "storage_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"fields": "json", "files": "json"}
    ui_color = "#eeeeee"

    def __init__(
        self,
        *,
        endpoint: str,
        fields: dict[str, Any] | None = None,
        files: dict[str, str] | None = None,
        output_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint_path = endpoint
        self.fields = fields
        self.files = files
        self.output_path = output_path

    def _parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        fields = self.fields if self.fields is not None else {}
        files = self.files if self.files is not None else {}
        for name, value in (("fields", fields), ("files", files)):
            if not isinstance(value, dict):
                raise VyroInputError(name, f"expected a dict by field name, got {type(value).__name__}")
        for name in fields:
            if isinstance(name, str) and name.endswith("_path"):
                raise VyroInputError("fields", f"a text field name may not end in '_path', got {name!r}")
        return fields, files

    def operation_endpoint(self) -> Endpoint:
        """Describe the path and fields as an endpoint (checked by ``checks.generic_call``)."""
        fields, files = self._parts()
        endpoint, sent = checks.generic_call(self.endpoint_path, fields, tuple(files))
        return dataclasses.replace(
            endpoint, text_fields=tuple(TextField(name, "text", required=True) for name in sent)
        )

    def item(self) -> dict[str, Any]:
        """Give the item's arguments: each field, a path per file, the output."""
        fields, files = self._parts()
        self.operation_endpoint()
        return {
            **fields,
            **{f"{name}_path": path for name, path in files.items()},
            "output_path": self.output_path,
        }


__all__ = ["VyroImageOperator"]
