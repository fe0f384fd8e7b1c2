"""
One item's life, from the values a user gave to the dict a task returns.

An item is one call of one catalogue operation (:mod:`airflow_provider_vyro.catalogue`):

1. :func:`resolve` runs the cheap checks, which need no storage: text fields against the
   catalogue, path strings, the output's format, and where each path points.
2. :func:`check` runs the storage checks: each input is found and its header inspected once
   (the result, a :class:`~airflow_provider_vyro.images.CheckedImage`, is what the hook later
   uploads, so nothing is parsed twice), files that must match in size are compared, and the
   output is examined to decide keep or call.
3. :func:`run` keeps the existing output, or makes the call and writes the answer atomically,
   and always ends in an :class:`Outcome`: ``written``, ``kept``, or ``failed`` with a class
   (:data:`FailureClass`). It never raises an ``Exception``.

:mod:`airflow_provider_vyro.runner` runs many items; every operator is a run of one or more.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import posixpath
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol, TypeAlias, TypedDict

from airflow_provider_vyro import checks, expectations, formats, images, locations, storage, streams
from airflow_provider_vyro.exceptions import VyroInputError, VyroOutputWriteError
from airflow_provider_vyro.failures import RETRYABLE_CLASSES, FailureClass, classify, meaning, stops_run

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_vyro.catalogue import Endpoint, TextField
    from airflow_provider_vyro.hooks.vyro import ImageResult, VyroHook

_log = logging.getLogger(__name__)

Status: TypeAlias = Literal["written", "kept", "failed", "not_run"]
"""How an item ended; ``not_run`` when the run stopped before its call."""

_HASH_CHUNK = 1024 * 1024
_SPOOL_IN_MEMORY = 32 * 1024 * 1024


class InpaintXCom(TypedDict):
    """What a v1 inpaint item returns (one dict per image)."""

    output_path: str
    image_path: str
    mask_path: str
    prompt: str
    model_version: str
    width: int
    height: int
    bytes: int
    sha256: str
    skipped: bool
    operation: str
    api_version: str
    format: str
    attempts: int
    credits: int | float | None
    try_number: int


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
class Resolved:
    """
    An item that passed the cheap checks: values checked, paths resolved, no storage touched.

    :param index: the item's position in its run (for messages).
    :param endpoint: the operation.
    :param given: the XCom's input keys: paths as given, text fields as they will be sent
        (``None`` for an optional field left out).
    :param fields: the text parts to send.
    :param inputs: each file field's resolved location.
    :param output_path: the output path as given, or its default.
    :param output: the resolved output location.
    :param output_format: the format the output's extension names (``PNG``, ``JPEG``, ``WEBP``).
    :param output_key: the output's location (see :func:`~airflow_provider_vyro.locations.location_key`).
    :param input_key_by_argument: each input's location, by the argument that named it.
    """

    index: int
    endpoint: Endpoint
    given: dict[str, Any]
    fields: dict[str, str]
    inputs: dict[str, ObjectStoragePath]
    output_path: str
    output: ObjectStoragePath
    output_format: str
    output_key: str
    input_key_by_argument: Mapping[str, str]

    def input_keys(self) -> dict[str, str]:
        """Each input's location, by the argument that named it."""
        return dict(self.input_key_by_argument)


@dataclass(frozen=True)
class Existing:
    """
    An output already in place that was read whole and found complete and intact.

    :param sha256: hex SHA-256 of the file.
    :param bytes: its size.
    :param width: its width in pixels.
    :param height: its height in pixels.
    :param format: its format (``PNG``, ``JPEG`` or ``WEBP``).
    """

    sha256: str
    bytes: int
    width: int
    height: int
    format: str


@dataclass(frozen=True)
class CheckedItem:
    """
    An item that passed every check: ready to be kept or called.

    :param resolved: what the cheap checks made of it.
    :param files: the inspected inputs, handed to the hook as they are.
    :param keep: the existing output to keep instead of calling, if any.
    :param keep_reason: why it is kept, for the log.
    :param redo_reason: why an existing output is not kept, for the log.
    :param by_this_run: the output kept was written by an earlier try of this DAG run.
    """

    resolved: Resolved
    files: dict[str, images.CheckedImage] = field(default_factory=dict)
    keep: Existing | None = None
    keep_reason: str = ""
    redo_reason: str = ""
    by_this_run: bool = False


@dataclass(frozen=True)
class Outcome:
    """
    How one item ended.

    :param index: the item's position in its run.
    :param status: ``written``, ``kept``, ``failed`` or ``not_run``.
    :param record: the dict the task returns for it (``written`` and ``kept``).
    :param error: what went wrong (``failed``, and ``not_run`` when a stop prevented the call).
    :param failure: the class of a failure.
    :param attempts: requests sent for it, retries included.
    :param given: the item's inputs as given (for the manifest of a failed item).
    :param by_this_run: its output was written by this DAG run: now, or by an earlier try (it is
        announced as an asset event and reported to lineage).
    """

    index: int
    status: Status
    record: dict[str, Any] | None = None
    error: BaseException | None = None
    failure: FailureClass | None = None
    attempts: int = 0
    given: dict[str, Any] = field(default_factory=dict)
    by_this_run: bool = False

    def manifest_line(self) -> dict[str, Any]:
        """Give the item as one manifest line: its dict, or what is known of it and why it failed."""
        line: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.record is not None:
            line.update(self.record)
        else:
            line.update(self.given)
            line["attempts"] = self.attempts
        if self.error is not None:
            line["error"] = f"{type(self.error).__name__}: {self.error}"
        if self.failure is not None:
            line["class"] = self.failure
        return line


# --- cheap checks ---------------------------------------------------------------------------


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


def resolve(
    endpoint: Endpoint, values: Mapping[str, Any], *, storage_conn_id: str | None = None, index: int = 0
) -> Resolved:
    """
    Run the cheap checks of one item: no storage is touched and nothing is sent.

    :param endpoint: the operation.
    :param values: the item's arguments (see :func:`arguments`); a missing one takes its default.
    :param storage_conn_id: connection for remote paths; empty means none.
    :param index: the item's position in its run.
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
    inputs = {
        name: storage.resolve(path, field=path_argument(name), conn_id=conn_id)
        for name, path in paths.items()
    }
    output = storage.resolve(output_path, field="output_path", conn_id=conn_id)
    output_key = locations.location_key(output)
    input_keys = {name: locations.location_key(location) for name, location in inputs.items()}
    for name, location in inputs.items():
        if input_keys[name] == output_key or locations.same_file(output, location):
            raise VyroInputError(
                "output_path", f"{output_path!r} is the {path_argument(name)}; it would be overwritten"
            )
    given = {**{path_argument(n): p for n, p in paths.items()}, **given}
    return Resolved(
        index,
        endpoint,
        given,
        fields,
        inputs,
        output_path,
        output,
        output_format,
        output_key,
        {path_argument(n): k for n, k in input_keys.items()},
    )


# --- storage checks -------------------------------------------------------------------------


def _reopener(
    location: ObjectStoragePath, argument: str, name: str, size: int
) -> Any:  # a () -> context manager of BinaryIO
    @contextlib.contextmanager
    def reopen() -> Iterator[BinaryIO]:
        with storage.open_for_read(location, field=argument) as fileobj:
            now = fileobj.seek(0, 2)
            fileobj.seek(0)
            if now != size:
                raise VyroInputError(
                    argument, f"'{name}' changed since it was checked ({size} bytes then, {now} now)"
                )
            yield fileobj

    return reopen


def _inspect(location: ObjectStoragePath, argument: str, name: str) -> images.CheckedImage:
    size = storage.stat_input(location, field=argument)
    with storage.open_for_read(location, field=argument, block_size=storage.HEADER_BLOCK_SIZE) as fileobj:
        info = images.inspect_image(fileobj, field=argument, name=name, size=size)
    return images.CheckedImage(open=_reopener(location, argument, name, size), info=info, name=name)


def examine_output(location: ObjectStoragePath) -> tuple[Existing | None, str]:
    """
    Read an existing output whole; give it if it is complete and intact, else why not.

    The file must be in the format its extension names, and complete: a PNG has every chunk's
    CRC checked (:class:`~airflow_provider_vyro.streams.PngChunkValidator`), a JPEG must reach its
    end-of-image marker (:class:`~airflow_provider_vyro.streams.JpegStreamChecker`), a WebP must be
    as long as its header states (:class:`~airflow_provider_vyro.streams.WebpStreamChecker`). A
    probe that is denied counts as no output.

    :param location: the resolved output path.
    :return: the existing output, or ``None`` and the reason (empty when there is no file).
    """
    size = storage.probe_file(location)
    if size is None:
        return None, ""
    fmt = formats.format_of_path(location.path)
    if fmt is None:
        return None, "its extension names no image format this provider writes"
    validator = streams.file_validator(fmt)
    digest = hashlib.sha256()
    try:
        with storage.open_for_read(location, field="output_path") as existing:
            while chunk := existing.read(_HASH_CHUNK):
                validator.feed(chunk)
                digest.update(chunk)
        width, height = validator.result()
    except (ValueError, OSError, VyroInputError) as exc:
        return None, str(exc)
    return Existing(digest.hexdigest(), validator.size, width, height, fmt), ""


def check(resolved: Resolved, *, overwrite: bool, earlier_sha256: str | None = None) -> CheckedItem:
    """
    Run the storage checks of one item and decide keep or call; nothing is sent.

    :param resolved: what :func:`resolve` made of the item.
    :param overwrite: replace an existing output; if off, a complete and intact one is kept.
    :param earlier_sha256: the SHA-256 an earlier try of the same DAG run wrote to this output,
        if any: an output that still has it is kept whatever ``overwrite`` says.
    :raises VyroInputError: naming the argument at fault.
    """
    endpoint = resolved.endpoint
    files = {
        name: _inspect(location, path_argument(name), resolved.given[path_argument(name)])
        for name, location in resolved.inputs.items()
    }
    checks.check_files(
        endpoint,
        {name: f.info for name, f in files.items()},
        names={name: f.name for name, f in files.items()},
        arguments={name: path_argument(name) for name in files},
    )
    image = files.get(endpoint.file_fields[0].name) if endpoint.file_fields else None
    if image is not None and image.info.has_alpha and resolved.output_format == "JPEG":
        formats.check_output_format(endpoint, resolved.output_path, input_has_alpha=True)
    if not overwrite or earlier_sha256:
        existing, why_not = examine_output(resolved.output)
        if existing is not None and earlier_sha256 == existing.sha256:
            return CheckedItem(
                resolved, files, existing, "written by an earlier try of this DAG run", by_this_run=True
            )
        if existing is not None and not overwrite:
            return CheckedItem(resolved, files, existing, "it exists and overwrite is off")
    else:
        why_not = ""
    storage.check_writable_destination(resolved.output, field="output_path")
    return CheckedItem(resolved, files, redo_reason=why_not)


# --- keep or call ---------------------------------------------------------------------------


class _Written(Protocol):
    @property
    def format(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def sha256(self) -> str: ...


def _record(resolved: Resolved, image: _Written, *, skipped: bool, attempts: int) -> dict[str, Any]:
    given = resolved.given
    endpoint = resolved.endpoint
    record: dict[str, Any] = {"output_path": resolved.output_path}
    paths = {k: v for k, v in given.items() if k.endswith("_path")}
    if endpoint.xcom_style == "call":
        sent = {k: v for k, v in given.items() if not k.endswith("_path")}
        files = {k.removesuffix("_path"): v for k, v in paths.items()}
        record.update(endpoint=endpoint.path, files=files, fields=sent, prompt=given.get("prompt"))
    else:
        record.update(paths)
        record["prompt"] = given.get("prompt")
        record.update(endpoint.xcom_parameter_values(given))
    record.update(
        width=image.width,
        height=image.height,
        bytes=image.bytes,
        sha256=image.sha256,
        skipped=skipped,
        operation=endpoint.operation,
        api_version=endpoint.api_version,
        format=image.format,
        attempts=attempts,
    )
    return record


ANSWER_EXTENSIONS: dict[str, str] = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}
"""The extension a paid answer kept as it came is given, by its format."""


def keep_answer(resolved: Resolved, answer: BinaryIO, fmt: str, problem: str) -> VyroOutputWriteError:
    """
    Keep a paid answer that cannot be stored in the output's format; give the error naming where.

    The answer goes beside the output as ``<stem>.answer<its extension>`` (``fox.jpg`` keeps a
    WebP answer as ``fox.answer.webp``), or, if that cannot be written, into a local temporary
    file. The error is an ``AirflowFailException``: a task retry would pay again.

    :param resolved: the item.
    :param answer: the answer, complete.
    :param fmt: the answer's format.
    :param problem: why it cannot be stored as asked.
    """
    extension = ANSWER_EXTENSIONS[fmt]
    output = resolved.output
    beside = output.parent / f"{posixpath.splitext(output.name)[0]}.answer{extension}"
    try:
        with storage.atomic_writer(beside, lineage=False) as kept:
            formats.copy(answer, kept)
        kept_at = locations.display(beside)
    except Exception:
        with tempfile.NamedTemporaryFile(
            prefix="vyro-answer.", suffix=extension, dir=storage.temp_folder(), delete=False
        ) as local:
            formats.copy(answer, local)  # type: ignore[arg-type]
        kept_at = local.name
    _log.error("%s: the paid %s answer is kept at %s", resolved.output_path, fmt, kept_at)
    return VyroOutputWriteError(locations.display(output), f"the {fmt} answer: {problem}", kept_at=kept_at)


def _call_and_write(item: CheckedItem, hook: VyroHook, temps: storage.TempFiles | None) -> ImageResult:
    """Make the call; write the answer in the output's format; give what was written."""
    resolved = item.resolved
    endpoint = resolved.endpoint
    target = resolved.output_format
    if endpoint.answer_formats == (target,):
        with storage.atomic_writer(resolved.output, temps) as destination:
            return hook.call_to(endpoint, destination, fields=resolved.fields, files=item.files)
    with tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY, dir=storage.temp_folder()) as answer:
        result = hook.call_to(endpoint, answer, fields=resolved.fields, files=item.files)
        with storage.atomic_writer(resolved.output, temps) as destination:
            if result.format == target:
                formats.copy(answer, destination)  # type: ignore[arg-type]
                return result
            try:
                written = formats.write_as(answer, target, destination)  # type: ignore[arg-type]
            except ValueError as exc:
                problem = f"it cannot be converted to {target}: {exc}"
                raise keep_answer(resolved, answer, result.format, problem) from None  # type: ignore[arg-type]
    _log.info(
        "%s: the answer was a %s (%d bytes); converted to %s for %s (%d bytes)%s",
        endpoint.operation,
        result.format,
        result.bytes,
        target,
        resolved.output_path,
        written.size,
        written.note,
    )
    return replace(
        result,
        format=target,
        width=written.width,
        height=written.height,
        bytes=written.size,
        sha256=written.sha256,
    )


def run(item: CheckedItem, hook: VyroHook, *, temps: storage.TempFiles | None = None) -> Outcome:
    """
    Keep the item's output, or make its call and write the answer atomically.

    Nothing appears at the output unless the call succeeded and the whole answer was written.
    An answer in another format than the output's extension names is converted
    (:mod:`airflow_provider_vyro.formats`) and the log says so.

    :param item: the checked item.
    :param hook: the hook that makes the call (shared between the threads of a run).
    :param temps: the run's registry of temporary files.
    :return: ``kept``, ``written``, ``failed`` (with the error and its class) or ``not_run``
        (the run was stopped or its budget spent before the call).
    """
    resolved = item.resolved
    if item.keep is not None:
        record = _record(resolved, item.keep, skipped=True, attempts=0)
        return Outcome(
            resolved.index, "kept", record=record, given=resolved.given, by_this_run=item.by_this_run
        )
    try:
        result = _call_and_write(item, hook, temps)
    except Exception as error:
        failure = meaning(error)
        if failure.not_run:
            return Outcome(resolved.index, "not_run", error=error, given=resolved.given)
        return Outcome(resolved.index, "failed", error=error, failure=failure.kind, given=resolved.given)
    inputs, answer = {n: f.info for n, f in item.files.items()}, (result.format, result.width, result.height)
    read_alpha = lambda: _inspect(resolved.output, "output_path", resolved.output_path).info.has_alpha  # noqa: E731
    expectations.warn_of_surprises(resolved.endpoint, inputs, answer, read_alpha, resolved.output_path)
    record = _record(resolved, result, skipped=False, attempts=result.attempts)
    return Outcome(
        resolved.index,
        "written",
        record=record,
        attempts=result.attempts,
        given=resolved.given,
        by_this_run=True,
    )


def with_attempts(outcome: Outcome, attempts: int) -> Outcome:
    """Give ``outcome`` with its attempts counted by the caller (for failures, which carry none)."""
    if outcome.record is not None or outcome.attempts == attempts:
        return outcome
    return replace(outcome, attempts=attempts)


__all__ = [
    "ANSWER_EXTENSIONS",
    "RETRYABLE_CLASSES",
    "CheckedItem",
    "Existing",
    "FailureClass",
    "InpaintXCom",
    "Outcome",
    "Resolved",
    "Status",
    "arguments",
    "check",
    "check_text",
    "classify",
    "examine_output",
    "keep_answer",
    "path_argument",
    "resolve",
    "run",
    "stops_run",
    "with_attempts",
]
