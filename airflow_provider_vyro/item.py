"""
One item's life, from the values a user gave to the dict a task returns.

An item is one call of one catalogue operation (:mod:`airflow_provider_vyro.catalogue`):

1. :func:`resolve` (:mod:`airflow_provider_vyro.resolving`) runs the cheap checks, which need
   no storage: text fields against the catalogue, path strings, the output's format, and where
   each path points.
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
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol, TypeAlias, TypedDict

from airflow_provider_vyro import checks, expectations, formats, images, locations, storage, streams
from airflow_provider_vyro.exceptions import VyroInputError, VyroOutputWriteError
from airflow_provider_vyro.failures import RETRYABLE_CLASSES, FailureClass, classify, meaning, stops_run
from airflow_provider_vyro.resolving import Places, Resolved, arguments, check_text, path_argument, resolve

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow.providers.common.compat.sdk import ObjectStoragePath

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


Inspections: TypeAlias = "dict[tuple[str, str, str], images.CheckedImage]"
"""The inputs one run inspected, by argument, location and path as given (see :func:`check`)."""


def _inspected(resolved: Resolved, name: str, inspections: Inspections | None) -> images.CheckedImage:
    argument = path_argument(name)
    shown = resolved.given[argument]
    key = (argument, resolved.input_key_by_argument[argument], shown)
    found = inspections.get(key) if inspections is not None else None
    if found is None:
        found = _inspect(resolved.places[name].location(), argument, shown)
        if inspections is not None:
            inspections[key] = found
    return found


def check(
    resolved: Resolved,
    *,
    overwrite: bool,
    earlier_sha256: str | None = None,
    inspections: Inspections | None = None,
) -> CheckedItem:
    """
    Run the storage checks of one item and decide keep or call; nothing is sent.

    :param resolved: what :func:`resolve` made of the item.
    :param overwrite: replace an existing output; if off, a complete and intact one is kept.
    :param earlier_sha256: the SHA-256 an earlier try of the same DAG run wrote to this output,
        if any: an output that still has it is kept whatever ``overwrite`` says.
    :param inspections: the inputs the run inspected so far (:data:`Inspections`): an input that
        many items give (one mask for every item) is inspected once, and its size is checked
        again when each call reopens it to upload.
    :raises VyroInputError: naming the argument at fault.
    """
    endpoint = resolved.endpoint
    files = {name: _inspected(resolved, name, inspections) for name in resolved.places}
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
    real_path = resolved.output_key.removeprefix("file://") if resolved.local_output else None
    if endpoint.answer_formats == (target,):
        with storage.atomic_writer(resolved.output, temps, real_path=real_path) as destination:
            return hook.call_to(endpoint, destination, fields=resolved.fields, files=item.files)
    with tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY, dir=storage.temp_folder()) as answer:
        result = hook.call_to(endpoint, answer, fields=resolved.fields, files=item.files)
        with storage.atomic_writer(resolved.output, temps, real_path=real_path) as destination:
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
    "Inspections",
    "Outcome",
    "Places",
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
