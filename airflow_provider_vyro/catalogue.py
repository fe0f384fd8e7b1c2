"""
The endpoint catalogue: each supported API operation described once, as data.

Hook methods, operators, input checks and the emulator all read these entries, so a path, an
allowed value or a default lives in exactly one place. This module imports nothing from the
provider (nor from Airflow): it is safe to import anywhere, including at DAG-parse time.

Values are taken from Vyro's public API reference: the v1 inpaint page and the v2 image pages
(text to image, text to PNG, generative fill, AI backgrounds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Mapping

ApiVersion: TypeAlias = Literal["v1", "v2"]
FieldKind: TypeAlias = Literal["prompt", "choice", "seed", "digits", "text"]

IMAGE_INPUT_FORMATS: tuple[str, ...] = ("JPEG", "PNG")
"""Input formats, decided by content: the only ones any reference page names."""

ANSWER_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP")
"""Formats a v2 answer may come in (the reference does not say which: read from the bytes)."""

STYLES: tuple[str, ...] = (
    "realistic",
    "anime",
    "flux-schnell",
    "flux-dev",
    "flux-dev-fast",
    "sdxl-1.0",
    "imagine-turbo",
)
"""Styles of text to image."""

STYLE_TOKEN_COSTS: MappingProxyType[str, int] = MappingProxyType(
    {"imagine-turbo": 1, "anime": 5, "realistic": 5, "flux-schnell": 5, "flux-dev-fast": 5, "flux-dev": 15}
)
"""Documented cost in API tokens of one text-to-image call, by style (``sdxl-1.0`` is not listed)."""

ASPECT_RATIOS: tuple[str, ...] = ("1:1", "3:2", "4:3", "3:4", "16:9", "9:16")
"""Aspect ratios of text to image and text to PNG."""

AI_BACKGROUND_STYLES: tuple[str, ...] = ("product-shoot",)
"""Styles of AI backgrounds."""


@dataclass(frozen=True)
class TextField:
    """
    One text part of the multipart form.

    :param name: the form field's name.
    :param kind: how the value is checked: ``prompt`` (non-blank text, bounded), ``choice`` (one
        of ``choices``), ``seed`` (a whole number >= 1), ``digits`` (a string of digits) or
        ``text`` (a field of a generic call: any string, or a whole number sent as its digits).
    :param required: whether a value must be given.
    :param default: the value sent when none is given (``None``: the field is left out).
    :param choices: the allowed values of a ``choice`` field.
    """

    name: str
    kind: FieldKind
    required: bool = False
    default: str | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileField:
    """
    One file part of the multipart form.

    :param name: the form field's name.
    :param formats: the input formats accepted, decided by content.
    :param same_size_as: the file field whose width and height this one must have (a mask).
    :param needs_alpha: the image must have an alpha channel (a cut-out on a transparent background).
    """

    name: str
    formats: tuple[str, ...] = IMAGE_INPUT_FORMATS
    same_size_as: str | None = None
    needs_alpha: bool = False


@dataclass(frozen=True)
class Endpoint:
    """
    One API operation.

    :param operation: the name used in XCom (``operation``) and logs.
    :param path: the path after the base URL.
    :param api_version: ``v1`` or ``v2``; it decides the auth header (:func:`auth_header`).
    :param text_fields: the text parts, in the order they are sent.
    :param file_fields: the file parts, in the order they are sent.
    :param answer_formats: the image formats a complete answer may be in.
    :param answer_content_type: the ``Content-Type`` the API gives its answer (the emulator sends it;
        clients must not trust it).
    :param summary: one line saying what the operation does.
    """

    operation: str
    path: str
    api_version: ApiVersion
    text_fields: tuple[TextField, ...]
    file_fields: tuple[FileField, ...]
    answer_formats: tuple[str, ...]
    answer_content_type: str
    summary: str
    field_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = tuple(f.name for f in self.text_fields) + tuple(f.name for f in self.file_fields)
        object.__setattr__(self, "field_names", names)

    def text_field(self, name: str) -> TextField | None:
        """Return the text field called ``name``, or ``None``."""
        return next((f for f in self.text_fields if f.name == name), None)

    def file_field(self, name: str) -> FileField | None:
        """Return the file field called ``name``, or ``None``."""
        return next((f for f in self.file_fields if f.name == name), None)


_PROMPT = TextField("prompt", "prompt", required=True)
_SEED = TextField("seed", "seed")
_ASPECT_RATIO = TextField("aspect_ratio", "choice", default="1:1", choices=ASPECT_RATIOS)

INPAINT = Endpoint(
    operation="inpaint",
    path="/v1/imagine/api/edits/inpaint",
    api_version="v1",
    text_fields=(_PROMPT, TextField("model_version", "digits", default="1")),
    file_fields=(FileField("image"), FileField("mask", same_size_as="image")),
    answer_formats=("PNG",),
    answer_content_type="image/png",
    summary="Replace what the mask covers, guided by the prompt (v1).",
)

GENERATIVE_FILL = Endpoint(
    operation="generative_fill",
    path="/v2/image/edits/generative-fill",
    api_version="v2",
    text_fields=(_PROMPT,),
    file_fields=(FileField("image"), FileField("mask", same_size_as="image")),
    answer_formats=ANSWER_FORMATS,
    answer_content_type="application/octet-stream",
    summary="Fill what the mask covers, guided by the prompt (v2 successor of inpaint).",
)

TEXT_TO_IMAGE = Endpoint(
    operation="text_to_image",
    path="/v2/image/generations",
    api_version="v2",
    text_fields=(
        _PROMPT,
        TextField("style", "choice", default="imagine-turbo", choices=STYLES),
        _ASPECT_RATIO,
        _SEED,
    ),
    file_fields=(),
    answer_formats=ANSWER_FORMATS,
    answer_content_type="application/octet-stream",
    summary="Generate an image from the prompt.",
)

TEXT_TO_PNG = Endpoint(
    operation="text_to_png",
    path="/v2/image/generations/transparent",
    api_version="v2",
    text_fields=(_PROMPT, _ASPECT_RATIO, _SEED),
    file_fields=(),
    answer_formats=ANSWER_FORMATS,
    answer_content_type="application/octet-stream",
    summary="Generate an image with a transparent background from the prompt.",
)

AI_BACKGROUND = Endpoint(
    operation="ai_background",
    path="/v2/image/generations/ai-background",
    api_version="v2",
    text_fields=(
        _PROMPT,
        TextField("style", "choice", default="product-shoot", choices=AI_BACKGROUND_STYLES),
        _SEED,
    ),
    file_fields=(FileField("image", needs_alpha=True),),
    answer_formats=ANSWER_FORMATS,
    answer_content_type="application/octet-stream",
    summary="Put a generated background, described by the prompt, behind a cut-out product.",
)

ENDPOINTS: MappingProxyType[str, Endpoint] = MappingProxyType(
    {e.operation: e for e in (INPAINT, GENERATIVE_FILL, TEXT_TO_IMAGE, TEXT_TO_PNG, AI_BACKGROUND)}
)
"""Every supported operation, by name."""

GENERIC_OPERATION = "image"
"""The ``operation`` of a call made through the generic ``post_image`` (a path the user names)."""


def token_cost(endpoint: Endpoint, fields: Mapping[str, str]) -> int | None:
    """
    Return the documented cost in API tokens of one call, or ``None`` where the reference gives none.

    Only text to image documents a cost (by style, :data:`STYLE_TOKEN_COSTS`).

    :param endpoint: the operation.
    :param fields: the text fields sent (their ``style`` decides the cost).
    """
    if endpoint is not TEXT_TO_IMAGE:
        return None
    return STYLE_TOKEN_COSTS.get(fields.get("style") or "imagine-turbo")


def api_version_of(path: str) -> ApiVersion:
    """
    Tell the API version of a path from its prefix (``/v1/...`` or ``/v2/...``).

    :raises ValueError: if the path starts with neither.
    """
    for version in ("v1", "v2"):
        if path.startswith(f"/{version}/"):
            return version
    raise ValueError(f"{path!r} starts with neither /v1/ nor /v2/")


def auth_header(api_version: ApiVersion, token: str) -> tuple[str, str]:
    """
    Return the header that carries the token for an API version.

    v1 sends ``bearer: <token>`` as its reference shows; v2 sends ``Authorization: Bearer <token>``.
    """
    if api_version == "v1":
        return "bearer", token
    return "Authorization", f"Bearer {token}"


__all__ = [
    "AI_BACKGROUND",
    "AI_BACKGROUND_STYLES",
    "ANSWER_FORMATS",
    "ASPECT_RATIOS",
    "ENDPOINTS",
    "GENERATIVE_FILL",
    "GENERIC_OPERATION",
    "IMAGE_INPUT_FORMATS",
    "INPAINT",
    "STYLES",
    "STYLE_TOKEN_COSTS",
    "TEXT_TO_IMAGE",
    "TEXT_TO_PNG",
    "ApiVersion",
    "Endpoint",
    "FileField",
    "TextField",
    "api_version_of",
    "auth_header",
    "token_cost",
]


# --- asynchronous operations: jobs that run for minutes (video) ---------------------------------

VIDEO_ASPECT_RATIOS: tuple[str, ...] = ("16:9", "9:16", "1:1")
"""Aspect ratios of the video operations (the ones the reference names)."""

DEFAULT_VIDEO_STYLE = "kling-1.0-pro"
"""The model a video is made with when none is given (the reference's example; it publishes no list)."""

JOB_ANSWER_FORMATS: tuple[str, ...] = ("MP4",)
"""What the result of a video job is."""

JOB_STATUS_PATH = "/v2/video/{id}/status"
"""
Where a job's status is read (``{id}``: the job id); the connection extra ``job_status_path``
overrides it (the deprecated ``/v2/video/status/{id}`` and ``/v2/assets/{id}/status`` are in use too).
"""

_VIDEO_FIELDS = (
    _PROMPT,
    TextField("style", "text", default=DEFAULT_VIDEO_STYLE),
    TextField("aspect_ratio", "choice", default="16:9", choices=VIDEO_ASPECT_RATIOS),
)

TEXT_TO_VIDEO = Endpoint(
    operation="text_to_video",
    path="/v2/video/text-to-video",
    api_version="v2",
    text_fields=_VIDEO_FIELDS,
    file_fields=(),
    answer_formats=JOB_ANSWER_FORMATS,
    answer_content_type="application/json",
    summary="Start a job that makes a video from the prompt (answers a job id).",
)

IMAGE_TO_VIDEO = Endpoint(
    operation="image_to_video",
    path="/v2/video/image-to-video",
    api_version="v2",
    text_fields=_VIDEO_FIELDS,
    file_fields=(FileField("file"),),
    answer_formats=JOB_ANSWER_FORMATS,
    answer_content_type="application/json",
    summary="Start a job that makes a video from a first frame and the prompt (answers a job id).",
)

JOB_ENDPOINTS: MappingProxyType[str, Endpoint] = MappingProxyType(
    {e.operation: e for e in (TEXT_TO_VIDEO, IMAGE_TO_VIDEO)}
)
"""Every supported asynchronous operation (its answer is a job id, its result a file to fetch), by name."""

JOB_FILE_ARGUMENTS: MappingProxyType[str, str] = MappingProxyType({"file": "image_path"})
"""The argument that names each file field of a job operation (the first frame is ``image_path``)."""

__all__ += [
    "DEFAULT_VIDEO_STYLE",
    "IMAGE_TO_VIDEO",
    "JOB_ANSWER_FORMATS",
    "JOB_ENDPOINTS",
    "JOB_FILE_ARGUMENTS",
    "JOB_STATUS_PATH",
    "TEXT_TO_VIDEO",
    "VIDEO_ASPECT_RATIOS",
]
