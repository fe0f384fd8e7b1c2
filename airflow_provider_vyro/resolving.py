"""
The cheap checks of one item: its values and paths, with no storage touched and nothing sent.

:func:`resolve` checks the text fields against the catalogue, the path strings, the output's
format, and where each path points (its location key, so a run can tell two items that write
one place apart). A local path stays a string until storage is touched: its
:class:`~airflow.sdk.ObjectStoragePath` is built on first use of :attr:`Resolved.inputs` or
:attr:`Resolved.output` (building one costs tens of microseconds, which a 10,000-item run would
spend before its first call). A remote path is resolved at once, so every error it can raise is
raised here.

:mod:`airflow_provider_vyro.item` runs the rest of an item's life (storage checks, the call).
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_vyro import checks, formats, locations, storage
from airflow_provider_vyro.exceptions import VyroInputError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_vyro.catalogue import Endpoint, TextField


def path_argument(file_field: str) -> str:
    """
    Give the argument (and XCom key) that names the file of a file field: ``image`` -> ``image_path``.

    :param file_field: the form field's name in the catalogue.
    """
    return f"{file_field}_path"


def arguments(endpoint: Endpoint) -> frozenset[str]:
    """
    Give the keys an item of ``endpoint`` may have: a path per file field, each text field, ``output_path``.

    :param endpoint: the operation.
    """
    return frozenset(
        [path_argument(f.name) for f in endpoint.file_fields]
        + [f.name for f in endpoint.text_fields]
        + ["output_path"]
    )


@dataclass(frozen=True)
class Place:
    """
    Where one path of an item points, as far as the cheap checks know.

    :param local: the absolute local path, or ``None`` for remote storage.
    :param remote: the resolved remote location (``None`` for a local path).
    """

    local: str | None
    remote: ObjectStoragePath | None = None

    def location(self) -> ObjectStoragePath:
        """Give the path as an :class:`~airflow.sdk.ObjectStoragePath` (built on first use if local)."""
        return self.remote if self.remote is not None else self._local_location

    @functools.cached_property
    def _local_location(self) -> ObjectStoragePath:
        return storage.local_location(self.local or "")


class Places:
    """
    Where the paths of one run's items point, each local path resolved once.

    A local path that many items give (one mask for every item) is one :class:`Place`: its
    location key is computed and its :class:`~airflow.sdk.ObjectStoragePath` built once. Each
    folder's symlinks are resolved once (:class:`~airflow_provider_vyro.locations.LocalKeys`).
    """

    def __init__(self) -> None:
        self._keys = locations.LocalKeys()
        self._local: dict[str, tuple[Place, str]] = {}

    def local(self, path: str) -> tuple[Place, str]:
        """
        Give the place of an absolute local path and its location key.

        :param path: the path, as :func:`~airflow_provider_vyro.storage.local_path` gives it.
        """
        found = self._local.get(path)
        if found is None:
            found = self._local[path] = (Place(path), self._keys.key(path))
        return found


@dataclass(frozen=True)
class Resolved:
    """
    An item that passed the cheap checks: values checked, paths resolved, no storage touched.

    :param index: the item's position in its run (for messages).
    :param endpoint: the operation.
    :param given: the XCom's input keys: paths as given, text fields as they will be sent
        (``None`` for an optional field left out).
    :param fields: the text parts to send.
    :param places: where each file field's path points.
    :param output_path: the output path as given, or its default.
    :param output_place: where the output path points.
    :param output_format: the format the output's extension names (``PNG``, ``JPEG``, ``WEBP``).
    :param output_key: the output's location (see :func:`~airflow_provider_vyro.locations.location_key`).
    :param input_key_by_argument: each input's location, by the argument that named it.
    """

    index: int
    endpoint: Endpoint
    given: dict[str, Any]
    fields: dict[str, str]
    places: dict[str, Place]
    output_path: str
    output_place: Place
    output_format: str
    output_key: str
    input_key_by_argument: Mapping[str, str]

    def input_keys(self) -> dict[str, str]:
        """Each input's location, by the argument that named it."""
        return dict(self.input_key_by_argument)

    @functools.cached_property
    def inputs(self) -> dict[str, ObjectStoragePath]:
        """Each file field's resolved location (built on first use)."""
        return {n: p.location() for n, p in self.places.items()}

    @property
    def output(self) -> ObjectStoragePath:
        """The resolved output location (built on first use)."""
        return self.output_place.location()

    @property
    def local_output(self) -> str | None:
        """The output's absolute local path, or ``None`` if it is remote."""
        return self.output_place.local


def _path_string(value: Any, argument: str) -> str:
    if not isinstance(value, str) or not value.strip():
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise VyroInputError(argument, f"expected a non-empty path or URI string, got {shown}")
    return value.strip()


def check_text(endpoint: Endpoint, spec: TextField, value: Any) -> str | None:
    """
    Check one text field against the catalogue; give the value to send, or ``None`` to leave it out.

    An empty string for an optional field (a template that rendered nothing) counts as not given.

    :param endpoint: the operation.
    :param spec: the field's catalogue entry.
    :param value: the value given; ``None`` takes the default.
    :raises VyroInputError: naming the field.
    """
    if value == "" and not spec.required:
        value = None
    return checks.check_value(endpoint, spec, value)


def _check_output_format(endpoint: Endpoint, path: str) -> str:
    name = posixpath.basename(path.rstrip("/")) if not path.endswith("/") else ""
    if endpoint.answer_formats == ("PNG",):
        storage.check_output_path(path, field="output_path")
        return "PNG"
    if not name:
        raise VyroInputError("output_path", f"'{path}' names a folder; give the full path of a file")
    return formats.check_output_format(endpoint, path)


def _place(path: str, argument: str, conn_id: str | None, shared: Places) -> tuple[Place, str]:
    """Where a path points, and its location key."""
    local = storage.local_path(path, field=argument)
    if local is not None:
        return shared.local(local)
    remote = storage.resolve(path, field=argument, conn_id=conn_id)
    return Place(None, remote), locations.location_key(remote)


def resolve(
    endpoint: Endpoint,
    values: Mapping[str, Any],
    *,
    storage_conn_id: str | None = None,
    index: int = 0,
    shared: Places | None = None,
) -> Resolved:
    """
    Run the cheap checks of one item: no storage is touched and nothing is sent.

    :param endpoint: the operation.
    :param values: the item's arguments (see :func:`arguments`); a missing one takes its default.
    :param storage_conn_id: connection for remote paths; empty means none.
    :param index: the item's position in its run.
    :param shared: the run's places (a local path many items give is resolved once); default: new.
    :raises VyroInputError: naming the argument at fault.
    """
    if not isinstance(values, Mapping):
        raise VyroInputError("item", f"expected a dict, got {type(values).__name__}")
    if unknown := sorted(set(values) - arguments(endpoint)):
        raise VyroInputError(
            "item", f"unknown key(s) {unknown}; an item may have {sorted(arguments(endpoint))}"
        )
    given: dict[str, Any] = {}
    fields: dict[str, str] = {}
    for spec in endpoint.text_fields:
        checked = check_text(endpoint, spec, values.get(spec.name))
        given[spec.name] = checked
        if checked is not None:
            fields[spec.name] = checked
    paths = {
        spec.name: _path_string(values.get(path_argument(spec.name)), path_argument(spec.name))
        for spec in endpoint.file_fields
    }
    output_value = values.get("output_path")
    if output_value is None or output_value == "":
        if not paths or endpoint.output_suffix is None:
            raise VyroInputError(
                "output_path", "is required: this operation has no input file to put it beside"
            )
        first = next(iter(paths))
        output_path = storage.default_output_path(
            paths[first], field=path_argument(first), suffix=endpoint.output_suffix
        )
    else:
        output_path = _path_string(output_value, "output_path")
    output_format = _check_output_format(endpoint, output_path)

    conn_id = storage_conn_id or None
    shared = shared or Places()
    places: dict[str, Place] = {}
    input_keys: dict[str, str] = {}
    for name, path in paths.items():
        places[name], input_keys[name] = _place(path, path_argument(name), conn_id, shared)
    output_place, output_key = _place(output_path, "output_path", conn_id, shared)
    for name, place in places.items():
        if input_keys[name] == output_key or (
            place.local is not None
            and output_place.local is not None
            and locations.same_local_file(output_place.local, place.local)
        ):
            raise VyroInputError(
                "output_path", f"{output_path!r} is the {path_argument(name)}; it would be overwritten"
            )
    given = {**{path_argument(n): p for n, p in paths.items()}, **given}
    return Resolved(
        index,
        endpoint,
        given,
        fields,
        places,
        output_path,
        output_place,
        output_format,
        output_key,
        {path_argument(n): k for n, k in input_keys.items()},
    )


__all__ = ["Place", "Places", "Resolved", "arguments", "check_text", "path_argument", "resolve"]
