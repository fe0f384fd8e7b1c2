"""
One unit of inpaint work, from the paths a user gave to the XCom dict a task returns.

:func:`prepare` runs every check that can fail without the API (paths, formats, sizes, prompt,
destination) and sends nothing; :func:`run` makes the call and writes the PNG atomically;
:func:`describe_existing` reports an output that is kept instead. Both operators use these, so
the single and the batch path check, call and write in exactly one way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from airflow_provider_vyro import images, storage
from airflow_provider_vyro.exceptions import VyroInputError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_vyro.hooks.vyro import VyroHook

_HASH_CHUNK = 1024 * 1024


class InpaintXCom(TypedDict):
    """What an inpaint task returns per image: its XCom ``return_value`` (a list of them for a batch)."""

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


@dataclass(frozen=True)
class PreparedItem:
    """
    An inpaint request that passed every check and is ready to be sent.

    :param image_path: the image path as given.
    :param mask_path: the mask path as given.
    :param output_path: the output path as given, or its default beside the image.
    :param prompt: the prompt to send.
    :param model_version: the model version to send.
    :param image: the resolved image location.
    :param mask: the resolved mask location.
    :param output: the resolved output location.
    :param keep_existing: the output exists and ``overwrite`` is off: no call is to be made.
    """

    image_path: str
    mask_path: str
    output_path: str
    prompt: str
    model_version: str
    image: ObjectStoragePath
    mask: ObjectStoragePath
    output: ObjectStoragePath
    keep_existing: bool


def _path_string(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise VyroInputError(field, f"expected a non-empty path or URI string, got {shown}")
    return value.strip()


def _inspect(location: ObjectStoragePath, *, field: str, name: str) -> images.ImageInfo:
    size = storage.stat_input(location, field=field)
    with storage.open_for_read(location, field=field, block_size=storage.HEADER_BLOCK_SIZE) as fileobj:
        return images.inspect_image(fileobj, field=field, name=name, size=size)


def prepare(
    *,
    image_path: Any,
    mask_path: Any,
    prompt: Any,
    output_path: Any = None,
    model_version: Any = "1",
    storage_conn_id: str | None = None,
    overwrite: bool = True,
) -> PreparedItem:
    """
    Check one request completely without calling the API; raise :class:`VyroInputError` if bad.

    :param image_path: local path, ``file://`` or object-storage URI of the image (JPEG or PNG).
    :param mask_path: the same for the mask, which must have the image's size.
    :param prompt: what to paint where the mask is.
    :param output_path: where the PNG goes; default beside the image as ``<stem>_inpainted.png``.
    :param model_version: the API's model version.
    :param storage_conn_id: connection for remote paths, handed to ``ObjectStoragePath``; empty
        means none (a template that rendered nothing).
    :param overwrite: replace an existing output; if off, an existing output is kept.
    """
    storage_conn_id = storage_conn_id or None
    image_str = _path_string(image_path, "image_path")
    mask_str = _path_string(mask_path, "mask_path")
    prompt = images.check_prompt(prompt)
    model_version = images.check_model_version(model_version)
    output_str = (
        storage.default_output_path(image_str)
        if output_path is None or output_path == ""
        else _path_string(output_path, "output_path")
    )
    storage.check_output_path(output_str, field="output_path")

    image = storage.resolve(image_str, field="image_path", conn_id=storage_conn_id)
    mask = storage.resolve(mask_str, field="mask_path", conn_id=storage_conn_id)
    output = storage.resolve(output_str, field="output_path", conn_id=storage_conn_id)
    for other, name in ((image, "image_path"), (mask, "mask_path")):
        if storage.same_location(output, other):
            raise VyroInputError("output_path", f"{output_str!r} is the {name}; it would be overwritten")

    image_info = _inspect(image, field="image_path", name=image_str)
    mask_info = _inspect(mask, field="mask_path", name=mask_str)
    images.check_mask_matches(image_info, mask_info, field="mask_path", name=mask_str)

    keep_existing = not overwrite and _is_complete_png(output)
    if not keep_existing:
        storage.check_writable_destination(output, field="output_path")
    return PreparedItem(
        image_path=image_str,
        mask_path=mask_str,
        output_path=output_str,
        prompt=prompt,
        model_version=model_version,
        image=image,
        mask=mask,
        output=output,
        keep_existing=keep_existing,
    )


def run(item: PreparedItem, hook: VyroHook) -> InpaintXCom:
    """
    Inpaint one prepared item and write the PNG; nothing appears at the output if the call fails.

    :param item: the checked request.
    :param hook: the hook that makes the call (shared between threads in a batch).
    """
    if item.keep_existing:
        return describe_existing(item)
    with (
        storage.open_for_read(item.image, field="image_path") as image,
        storage.open_for_read(item.mask, field="mask_path") as mask,
        storage.atomic_writer(item.output) as destination,
    ):
        result = hook.inpaint_to(
            destination,
            image=image,
            mask=mask,
            prompt=item.prompt,
            model_version=item.model_version,
        )
    return _xcom(item, width=result.width, height=result.height, size=result.bytes, sha256=result.sha256)


def describe_existing(item: PreparedItem) -> InpaintXCom:
    """Report the existing output of an item that is kept (``skipped: True``), reading it once."""
    checker = images.PngStreamChecker()
    digest = hashlib.sha256()
    size = 0
    with storage.open_for_read(item.output, field="output_path") as existing:
        while chunk := existing.read(_HASH_CHUNK):
            checker.feed(chunk)
            digest.update(chunk)
            size += len(chunk)
    width, height = checker.result()
    return _xcom(item, width=width, height=height, size=size, sha256=digest.hexdigest(), skipped=True)


def _is_complete_png(location: ObjectStoragePath) -> bool:
    if not storage.exists(location):
        return False
    try:
        with storage.open_for_read(
            location, field="output_path", block_size=storage.HEADER_BLOCK_SIZE
        ) as existing:
            images.png_dimensions(existing.read(64))
            existing.seek(-12, 2)
            return images.is_complete_png_tail(existing.read())
    except (OSError, ValueError, VyroInputError):
        return False


def _xcom(
    item: PreparedItem, *, width: int, height: int, size: int, sha256: str, skipped: bool = False
) -> InpaintXCom:
    return InpaintXCom(
        output_path=item.output_path,
        image_path=item.image_path,
        mask_path=item.mask_path,
        prompt=item.prompt,
        model_version=item.model_version,
        width=width,
        height=height,
        bytes=size,
        sha256=sha256,
        skipped=skipped,
    )
