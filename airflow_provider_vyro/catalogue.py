"""
The endpoint catalogue: each supported API operation described once, as data.

Hook methods, operators, input checks and the emulator all read these entries, so a path, an
allowed value or a default lives in exactly one place. This module imports nothing from the
provider (nor from Airflow): it is safe to import anywhere, including at DAG-parse time.

Values are taken from Vyro's public API reference: the v1 inpaint page and the v2 image pages
(text to image, text to PNG, generative fill, AI backgrounds). Background removal and upscaling
are listed in the reference, but their field pages could not be read: their shape is what Vyro's
public clients send (``shape_source="public clients"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Mapping

ApiVersion: TypeAlias = Literal["v1", "v2"]
FieldKind: TypeAlias = Literal["prompt", "choice", "seed", "digits", "text"]
AnswerKind: TypeAlias = Literal["image", "job"]
"""What a call answers: the image's bytes, or a job to poll (asynchronous operations)."""
AnswerAlpha: TypeAlias = Literal["opaque", "transparent", "input"]
"""
What the answer's transparency means for the output's format:

* ``transparent``: the answer is transparent by purpose (never written as JPEG);
* ``input``: the answer keeps the input image's transparency (no JPEG output for such an input);
* ``opaque``: anything else (transparency written as JPEG is laid on white, and the log says so).
"""
ShapeSource: TypeAlias = Literal["reference", "public clients"]
"""Where an operation's path and fields come from: Vyro's API reference, or what its public clients send."""
XComStyle: TypeAlias = Literal["parameters", "call"]
"""
How the dict a task returns describes the call: each parameter under its own key (``parameters``),
or the path, files and fields sent (``call``, the generic call).
"""

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
    :param logged: the log line of a call shows the value (``False``: its name only, as for a
        task's ``extra_fields``).
    """

    name: str
    kind: FieldKind
    required: bool = False
    default: str | None = None
    choices: tuple[str, ...] = ()
    logged: bool = True


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
class CreditCost:
    """
    The documented cost of one call, in credits (the API's tokens).

    :param per_call: the cost of every call, if the reference gives one.
    :param by_field: the text field whose value decides the cost (``style`` for text to image).
    :param by_value: the cost for each value of ``by_field``; a value not listed costs an
        unknown amount.
    """

    per_call: int | None = None
    by_field: str | None = None
    by_value: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def of(self, fields: Mapping[str, str], default: str | None = None) -> int | None:
        """
        Give the cost of one call with these fields, or ``None`` where it is not documented.

        :param fields: the text fields sent.
        :param default: the value of ``by_field`` when it is not among ``fields``.
        """
        if self.by_field is None:
            return self.per_call
        return self.by_value.get(fields.get(self.by_field) or default or "")


@dataclass(frozen=True)
class Endpoint:
    """
    One API operation.

    :param operation: the name used in XCom (``operation``) and logs.
    :param path: the path after the base URL.
    :param api_version: ``v1`` or ``v2``; it decides the auth header (:func:`auth_header`).
    :param summary: one line saying what the operation does.
    :param text_fields: the text parts, in the order they are sent.
    :param file_fields: the file parts, in the order they are sent.
    :param answer_formats: the image formats a complete answer may be in (default: any of
        :data:`ANSWER_FORMATS`).
    :param answer_content_type: the ``Content-Type`` the API gives its answer (the emulator sends it;
        clients must not trust it).
    :param answer_kind: ``image`` (the answer is the image's bytes) or ``job`` (an asynchronous
        operation answers a job to poll).
    :param answer_alpha: what the answer's transparency means for the output (see :data:`AnswerAlpha`).
    :param answer_larger: the answer is larger than the input image (an upscale); an answer that is
        not is kept, and the log warns with both sizes.
    :param output_suffix: what a default output path puts after the first input's stem
        (``None``: the operation has no default output; ``output_path`` is required).
    :param prompt_purpose: what the prompt describes, for the message about an empty prompt.
    :param credit_cost: the documented cost of one call (:class:`CreditCost`).
    :param shape_source: where the path and fields come from (see :data:`ShapeSource`).
    :param xcom_style: how the task's dict describes the call (see :data:`XComStyle`).
    :param xcom_parameters: the parameter keys of the task's dict besides the paths and the
        prompt, in order (``None``: every text field but the prompt).
    :param xcom_values: the values of parameter keys that are not text fields.
    """

    operation: str
    path: str
    api_version: ApiVersion
    summary: str
    text_fields: tuple[TextField, ...] = ()
    file_fields: tuple[FileField, ...] = ()
    answer_formats: tuple[str, ...] = ANSWER_FORMATS
    answer_content_type: str = "application/octet-stream"
    answer_kind: AnswerKind = "image"
    answer_alpha: AnswerAlpha = "opaque"
    answer_larger: bool = False
    output_suffix: str | None = None
    prompt_purpose: str = "the image you want"
    credit_cost: CreditCost = CreditCost()
    shape_source: ShapeSource = "reference"
    xcom_style: XComStyle = "parameters"
    xcom_parameters: tuple[str, ...] | None = None
    xcom_values: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    field_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = tuple(f.name for f in self.text_fields) + tuple(f.name for f in self.file_fields)
        object.__setattr__(self, "field_names", names)
        if self.xcom_parameters is None:
            parameters = tuple(f.name for f in self.text_fields if f.kind != "prompt")
            object.__setattr__(self, "xcom_parameters", parameters + tuple(self.xcom_values))

    def xcom_parameter_values(self, given: Mapping[str, object]) -> dict[str, object]:
        """
        Give the parameter keys of the task's dict and their values.

        :param given: the text fields as sent (``None`` for an optional field left out).
        """
        return {
            key: given[key] if key in given else self.xcom_values.get(key)
            for key in self.xcom_parameters or ()
        }

    def cost(self, fields: Mapping[str, str]) -> int | None:
        """
        Give the documented cost of one call in credits, or ``None`` where the reference gives none.

        :param fields: the text fields sent.
        """
        by_field = self.credit_cost.by_field
        spec = self.text_field(by_field) if by_field is not None else None
        return self.credit_cost.of(fields, spec.default if spec is not None else None)

    def text_field(self, name: str) -> TextField | None:
        """Return the text field called ``name``, or ``None``."""
        return next((f for f in self.text_fields if f.name == name), None)

    def file_field(self, name: str) -> FileField | None:
        """Return the file field called ``name``, or ``None``."""
        return next((f for f in self.file_fields if f.name == name), None)


_PROMPT = TextField("prompt", "prompt", required=True)
_IMAGE_AND_MASK = (FileField("image"), FileField("mask", same_size_as="image"))
_FILL_PURPOSE = "what should fill the masked area"
_SEED = TextField("seed", "seed")
_ASPECT_RATIO = TextField("aspect_ratio", "choice", default="1:1", choices=ASPECT_RATIOS)

INPAINT = Endpoint(
    operation="inpaint",
    path="/v1/imagine/api/edits/inpaint",
    api_version="v1",
    text_fields=(_PROMPT, TextField("model_version", "digits", default="1")),
    file_fields=_IMAGE_AND_MASK,
    answer_formats=("PNG",),
    answer_content_type="image/png",
    summary="Replace what the mask covers, guided by the prompt (v1).",
    output_suffix="_inpainted.png",
    prompt_purpose=_FILL_PURPOSE,
)

GENERATIVE_FILL = Endpoint(
    operation="generative_fill",
    path="/v2/image/edits/generative-fill",
    api_version="v2",
    text_fields=(_PROMPT,),
    file_fields=_IMAGE_AND_MASK,
    summary="Fill what the mask covers, guided by the prompt (v2 successor of inpaint).",
    answer_alpha="input",
    output_suffix="_filled.png",
    prompt_purpose=_FILL_PURPOSE,
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
    summary="Generate an image from the prompt.",
    prompt_purpose="the image to generate",
    credit_cost=CreditCost(by_field="style", by_value=STYLE_TOKEN_COSTS),
    xcom_parameters=("style", "aspect_ratio", "seed", "transparent"),
    xcom_values=MappingProxyType({"transparent": False}),
)

TEXT_TO_PNG = Endpoint(
    operation="text_to_png",
    path="/v2/image/generations/transparent",
    api_version="v2",
    text_fields=(_PROMPT, _ASPECT_RATIO, _SEED),
    summary="Generate an image with a transparent background from the prompt.",
    answer_alpha="transparent",
    prompt_purpose="the image to generate",
    xcom_parameters=("style", "aspect_ratio", "seed", "transparent"),
    xcom_values=MappingProxyType({"style": None, "transparent": True}),
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
    summary="Put a generated background, described by the prompt, behind a cut-out product.",
    output_suffix="_background.png",
    prompt_purpose="the background to put behind the product",
)

REMOVE_BACKGROUND = Endpoint(
    operation="remove_background",
    path="/v2/image/background/remover",
    api_version="v2",
    file_fields=(FileField("image"),),
    summary="Cut the subject out of a photo: the answer is the subject on a transparent background.",
    answer_alpha="transparent",
    output_suffix="_cutout.png",
    shape_source="public clients",
)

UPSCALE = Endpoint(
    operation="upscale",
    path="/v2/image/enhance",
    api_version="v2",
    file_fields=(FileField("image"),),
    summary="Upscale a photo: the answer is larger than the input (no scale field is sent).",
    answer_alpha="input",
    answer_larger=True,
    output_suffix="_upscaled.png",
    shape_source="public clients",
)

ENDPOINTS: MappingProxyType[str, Endpoint] = MappingProxyType(
    {
        e.operation: e
        for e in (
            INPAINT,
            GENERATIVE_FILL,
            TEXT_TO_IMAGE,
            TEXT_TO_PNG,
            AI_BACKGROUND,
            REMOVE_BACKGROUND,
            UPSCALE,
        )
    }
)
"""Every supported operation, by name."""

GENERIC_OPERATION = "image"
"""The ``operation`` of a call made through the generic ``post_image`` (a path the user names)."""

UNNAMED_OPERATION = INPAINT.operation
"""The operation of a task's dict that names none (the first releases made only inpaint dicts)."""

GENERIC = Endpoint(
    operation=GENERIC_OPERATION,
    path="/v2/image",
    api_version="v2",
    summary="POST a path the task names (a generic call)",
    output_suffix="_result.png",
    shape_source="public clients",
    xcom_style="call",
)
"""The generic call before its path and files are known (see :func:`generic_endpoint`)."""


def generic_endpoint(path: str, file_names: tuple[str, ...]) -> Endpoint:
    """
    Describe a generic call (a path the user names) as an endpoint.

    On a catalogue path the answer must be in that operation's answer formats.

    :param path: the path after the base URL, starting with ``/v1/`` or ``/v2/`` (checked by the caller).
    :param file_names: the names of the file fields sent.
    """
    known = next((e for e in ENDPOINTS.values() if e.path == path), None)
    return replace(
        GENERIC,
        path=path,
        api_version=api_version_of(path),
        file_fields=tuple(FileField(name) for name in file_names),
        answer_formats=known.answer_formats if known is not None else ANSWER_FORMATS,
        summary=f"POST {path} (a generic call)",
    )


def with_overrides(
    endpoint: Endpoint, *, path: str | None = None, extra_fields: Mapping[str, str] | None = None
) -> Endpoint:
    """
    Give ``endpoint`` at another path, or with more text fields (a task's ``endpoint``, ``extra_fields``).

    The path's prefix decides the API version (and so the auth header). Each extra field is a
    ``text`` field whose default is its value, so every call of the operation sends it; the
    task's dict does not report it.

    :param endpoint: the operation.
    :param path: the path that replaces the operation's (checked by the caller), or ``None``.
    :param extra_fields: the text fields to add, by name, as the strings to send (checked by the caller).
    """
    if path is None and not extra_fields:
        return endpoint
    extra = tuple(
        TextField(name, "text", default=value, logged=False) for name, value in (extra_fields or {}).items()
    )
    return replace(
        endpoint,
        path=path or endpoint.path,
        api_version=api_version_of(path) if path else endpoint.api_version,
        text_fields=endpoint.text_fields + extra,
    )


def text_to_image_endpoint(transparent: bool) -> Endpoint:
    """
    Give the endpoint of text to image: the transparent one (text to PNG) when asked.

    :param transparent: ``True`` for an image with a transparent background.
    """
    return TEXT_TO_PNG if transparent else TEXT_TO_IMAGE


def token_cost(endpoint: Endpoint, fields: Mapping[str, str]) -> int | None:
    """
    Return the documented cost in API tokens of one call, or ``None`` where the reference gives none.

    Each entry holds its own (:attr:`Endpoint.credit_cost`); only text to image documents one,
    by style (:data:`STYLE_TOKEN_COSTS`).

    :param endpoint: the operation.
    :param fields: the text fields sent.
    """
    return endpoint.cost(fields)


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
    answer_kind="job",
    prompt_purpose="the video you want",
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
    answer_kind="job",
    prompt_purpose="the video you want",
)

JOB_ENDPOINTS: MappingProxyType[str, Endpoint] = MappingProxyType(
    {e.operation: e for e in (TEXT_TO_VIDEO, IMAGE_TO_VIDEO)}
)
"""Every supported asynchronous operation (its answer is a job id, its result a file to fetch), by name."""

JOB_FILE_ARGUMENTS: MappingProxyType[str, str] = MappingProxyType({"file": "image_path"})
"""The argument that names each file field of a job operation (the first frame is ``image_path``)."""


__all__ = [
    "AI_BACKGROUND",
    "AI_BACKGROUND_STYLES",
    "ANSWER_FORMATS",
    "ASPECT_RATIOS",
    "DEFAULT_VIDEO_STYLE",
    "ENDPOINTS",
    "GENERATIVE_FILL",
    "GENERIC",
    "GENERIC_OPERATION",
    "IMAGE_INPUT_FORMATS",
    "IMAGE_TO_VIDEO",
    "INPAINT",
    "JOB_ANSWER_FORMATS",
    "JOB_ENDPOINTS",
    "JOB_FILE_ARGUMENTS",
    "JOB_STATUS_PATH",
    "REMOVE_BACKGROUND",
    "STYLES",
    "STYLE_TOKEN_COSTS",
    "TEXT_TO_IMAGE",
    "TEXT_TO_PNG",
    "TEXT_TO_VIDEO",
    "UNNAMED_OPERATION",
    "UPSCALE",
    "VIDEO_ASPECT_RATIOS",
    "AnswerAlpha",
    "AnswerKind",
    "ApiVersion",
    "CreditCost",
    "Endpoint",
    "FileField",
    "ShapeSource",
    "TextField",
    "XComStyle",
    "api_version_of",
    "auth_header",
    "generic_endpoint",
    "text_to_image_endpoint",
    "token_cost",
    "with_overrides",
]
