"""
Checks of a call's inputs against the endpoint catalogue, made before any request.

Every operation's text fields and files are described once in
:mod:`airflow_provider_vyro.catalogue`; this module checks values against those descriptions, so
the hook, the per-item code of the operators and anything else that prepares a call refuse the
same values with the same messages. Each refusal is a
:class:`~airflow_provider_vyro.exceptions.VyroInputError` naming the field and, for a field with
a fixed set of values, the values allowed.

The functions:

* :func:`check_fields`: the text fields of one call (defaults filled in, unknown fields refused),
  as the strings to send;
* :func:`text_to_image_call`: the text-to-image arguments of the hook and operators, including
  ``transparent`` (which picks the transparent endpoint, where ``style`` does not exist);
* :func:`check_files`: the inspected image files of one call (formats by content, a mask of
  its image's size, an alpha channel where the operation needs a cut-out);
* :func:`check_prompt`, :func:`check_model_version`, :func:`check_seed`, :func:`check_choice`:
  the values of one field.

Files are judged on what :func:`~airflow_provider_vyro.images.inspect_image` learned from their
headers; this module imports nothing heavy: it is safe to import at DAG-parse time.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING

from airflow_provider_vyro.catalogue import (
    Endpoint,
    FileField,
    TextField,
    generic_endpoint,
    text_to_image_endpoint,
    with_overrides,
)
from airflow_provider_vyro.exceptions import VyroInputError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_vyro.images import ImageInfo

_DIGITS = re.compile(r"[0-9]+")
_PATH = re.compile(r"/v[12](/[A-Za-z0-9._~-]+)+")
_FIELD_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_FORMAT_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}

MAX_PROMPT_CHARS = 10_000
"""Longest prompt accepted, in characters (not bytes)."""

MASK_MODES: tuple[str, ...] = ("1", "L", "LA", "P", "RGB", "RGBA")
"""Pillow modes accepted for a mask: black and white, grayscale (with alpha), palette, RGB(A)."""


def _shown(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in values)


def check_mask_matches(image: ImageInfo, mask: ImageInfo, *, field: str = "mask", name: str) -> None:
    """
    Check that a mask fits its image: the same width and height, and a mode usable as a mask.

    Accepted modes are :data:`MASK_MODES`: black and white (``1``), grayscale (``L``, ``LA``),
    palette (``P``), ``RGB`` and ``RGBA``. CMYK, 16-bit (``I;16``), 32-bit (``I``, ``F``) and
    other modes are rejected.

    :param image: the image's :class:`ImageInfo`.
    :param mask: the mask's :class:`ImageInfo`.
    :param field: the argument the mask was given as.
    :param name: how to show the mask in messages, usually its path.
    :raises VyroInputError: if the sizes differ or the mode is not accepted.
    """
    if (mask.width, mask.height) != (image.width, image.height):
        raise VyroInputError(
            field,
            f"'{name}' is {mask.width}x{mask.height} pixels but the image is "
            f"{image.width}x{image.height}; the mask must have the same size as the image",
        )
    if mask.mode not in MASK_MODES:
        raise VyroInputError(
            field,
            f"'{name}' has the pixel mode {mask.mode!r}; a mask must be black and white ('1'), "
            "grayscale ('L', 'LA'), palette ('P'), 'RGB' or 'RGBA'",
        )


def check_prompt(
    prompt: object, *, field: str = "prompt", purpose: str = "what should fill the masked area"
) -> str:
    """
    Check a prompt: a string, not blank, at most :data:`MAX_PROMPT_CHARS` characters.

    A value pulled from XCom or rendered from a template may not be a string: anything else is
    rejected, naming its type. The prompt is returned unchanged (whitespace is kept and sent).

    :param prompt: the prompt to check.
    :param field: the argument the prompt was given as.
    :param purpose: what the prompt describes, for the message about an empty prompt.
    :return: the prompt.
    :raises VyroInputError: if it is not a string, is empty or whitespace only, is too long,
        contains a NUL character, or cannot be encoded as UTF-8.
    """
    if not isinstance(prompt, str):
        raise VyroInputError(field, f"must be a string, got {_shown(prompt)}")
    if not prompt:
        raise VyroInputError(field, f"is empty; describe {purpose}")
    if prompt.isspace():
        raise VyroInputError(field, f"is only whitespace; describe {purpose}")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise VyroInputError(
            field, f"is {len(prompt)} characters long; the limit is {MAX_PROMPT_CHARS} characters"
        )
    nul = prompt.find("\x00")
    if nul >= 0:
        raise VyroInputError(field, f"contains a NUL character (\\x00) at position {nul}")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise VyroInputError(
            field,
            f"contains a character that cannot be encoded as UTF-8 at position {exc.start} "
            f"({prompt[exc.start]!r}, a lone surrogate)",
        ) from None
    return prompt


def check_model_version(value: object, *, field: str = "model_version") -> str:
    """
    Check a model version: a string of ASCII digits such as ``"1"``.

    A non-negative ``int`` (as XCom or a template may produce) is accepted and converted to a
    string. Anything else (``"latest"``, ``""``, ``" 1"``, ``None``, ``1.5``, ``True``) is rejected.

    :param value: the model version to check.
    :param field: the argument it was given as.
    :return: the model version as a string.
    :raises VyroInputError: if it is not a string of digits or a non-negative int.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return value
    raise VyroInputError(field, f"must be a string of digits such as '1', got {_shown(value)}")


def check_seed(value: object, *, field: str = "seed") -> str:
    """
    Check a seed: a whole number >= 1, as an ``int`` or a string of digits (``"42"``).

    Booleans, floats (even ``3.0``), ``"1.5"``, ``"0"``, negative numbers and strings with
    spaces or signs are refused.

    :param value: the seed.
    :param field: the argument it was given as.
    :return: the seed as the string to send.
    :raises VyroInputError: if it is not a whole number >= 1.
    """
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    if number is None or number < 1:
        raise VyroInputError(field, f"must be a whole number >= 1 such as 42, got {_shown(value)}")
    return str(number)


def check_choice(value: object, choices: tuple[str, ...], *, field: str) -> str:
    """
    Check that a value is one of a field's allowed values (exactly: case and spaces count).

    :param value: the value.
    :param choices: the allowed values, from the catalogue.
    :param field: the argument it was given as.
    :return: the value.
    :raises VyroInputError: if it is not one of ``choices``; the message lists them (and the
        closest one, when the value looks like a misspelling).
    """
    if isinstance(value, str) and value in choices:
        return value
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value.strip().lower(), choices, n=1)
        if close:
            hint = f" (did you mean {close[0]!r}?)"
    raise VyroInputError(field, f"must be one of {_listed(choices)}; got {_shown(value)}{hint}")


def check_value(endpoint: Endpoint, spec: TextField, value: object) -> str | None:
    """
    Check one text field's value, filling in its default when it is ``None``.

    :param endpoint: the operation the field belongs to (for messages).
    :param spec: the field, from the catalogue.
    :param value: the value given, or ``None`` for none.
    :return: the string to send, or ``None`` when the field is to be left out.
    :raises VyroInputError: if the value is refused, or a required field has none.
    """
    if value is None:
        if spec.required:
            raise VyroInputError(spec.name, f"is required by {endpoint.operation}")
        return spec.default
    if spec.kind == "prompt":
        return check_prompt(value, field=spec.name, purpose=endpoint.prompt_purpose)
    if spec.kind == "choice":
        return check_choice(value, spec.choices, field=spec.name)
    if spec.kind == "seed":
        return check_seed(value, field=spec.name)
    if spec.kind == "text":
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str):
            return value
        raise VyroInputError(spec.name, f"must be a string or a whole number, got {_shown(value)}")
    return check_model_version(value, field=spec.name)


def check_fields(endpoint: Endpoint, values: Mapping[str, object]) -> dict[str, str]:
    """
    Check the text fields of one call and return the form fields to send.

    A value of ``None`` means "not given": the field's default is sent if it has one, otherwise
    the field is left out (a required field without a value is refused).

    :param endpoint: the operation, from :mod:`airflow_provider_vyro.catalogue`.
    :param values: the values given, by form field name (e.g. ``{"prompt": "...", "seed": 7}``).
    :return: the fields to send, as strings, in the catalogue's order.
    :raises VyroInputError: naming the first field refused; a name the operation does not have
        is refused too (a file field given here is refused with a pointer to the files).
    """
    for name in values:
        if endpoint.text_field(name) is not None:
            continue
        if endpoint.file_field(name) is not None:
            raise VyroInputError(name, f"is a file of {endpoint.operation}, not a text field")
        known = ", ".join(f.name for f in endpoint.text_fields)
        raise VyroInputError(name, f"is not a field of {endpoint.operation}; its text fields are {known}")
    fields: dict[str, str] = {}
    for spec in endpoint.text_fields:
        value = check_value(endpoint, spec, values.get(spec.name))
        if value is not None:
            fields[spec.name] = value
    return fields


def text_to_image_call(
    *,
    prompt: object,
    style: object = None,
    aspect_ratio: object = None,
    seed: object = None,
    transparent: object = False,
) -> tuple[Endpoint, dict[str, str]]:
    """
    Check the arguments of text to image and choose its endpoint.

    ``transparent=True`` calls the transparent endpoint (text to PNG), which has no ``style``:
    there a style other than text to image's default is refused rather than silently dropped.

    :param prompt: the image to generate.
    :param style: one of the text-to-image styles; ``None`` for the default.
    :param aspect_ratio: one of the aspect ratios; ``None`` for the default.
    :param seed: a whole number >= 1, or ``None``.
    :param transparent: ``True`` for an image with a transparent background.
    :return: the endpoint (:data:`~airflow_provider_vyro.catalogue.TEXT_TO_IMAGE` or
        :data:`~airflow_provider_vyro.catalogue.TEXT_TO_PNG`) and the fields to send.
    :raises VyroInputError: naming the first argument refused.
    """
    if not isinstance(transparent, bool):
        raise VyroInputError("transparent", f"must be True or False, got {_shown(transparent)}")
    values: dict[str, object] = {"prompt": prompt, "aspect_ratio": aspect_ratio, "seed": seed}
    endpoint = text_to_image_endpoint(transparent)
    if endpoint.text_field("style") is not None:
        return endpoint, check_fields(endpoint, {**values, "style": style})
    style_spec = text_to_image_endpoint(False).text_field("style")
    default = style_spec.default if style_spec is not None else None
    if style is not None and style != default:
        raise VyroInputError(
            "style",
            f"the transparent endpoint has no style; with transparent=True leave style at its "
            f"default {default!r}, got {_shown(style)}",
        )
    return endpoint, check_fields(endpoint, values)


def check_file(
    endpoint: Endpoint, spec: FileField, info: ImageInfo, *, name: str, argument: str | None = None
) -> None:
    """
    Check one inspected file against its field.

    Its format (by content) must be one the field takes, and where the operation needs a
    cut-out, the image must have an alpha channel.

    :param endpoint: the operation (for messages).
    :param spec: the file field, from the catalogue.
    :param info: what :func:`~airflow_provider_vyro.images.inspect_image` learned from the file.
    :param name: how to show the file in messages, usually its path.
    :param argument: the argument the file was given as (default: the field's name).
    :raises VyroInputError: if the file is refused.
    """
    field = argument or spec.name
    if info.format not in spec.formats:
        allowed = " or ".join(_FORMAT_NAMES.get(f, f) for f in spec.formats)
        raise VyroInputError(
            field, f"'{name}' is a {info.format} image; {endpoint.operation} takes {allowed}"
        )
    if spec.needs_alpha and not info.has_alpha:
        what = (
            "a JPEG image, which cannot be transparent"
            if info.format == "JPEG"
            else (f"a {info.format} image with no transparency (mode {info.mode!r})")
        )
        raise VyroInputError(
            field,
            f"'{name}' is {what}; {endpoint.operation} puts a new background behind a cut-out, so the "
            "image must be a PNG whose background is transparent (an alpha channel). Cut the subject "
            "out first, e.g. with Vyro's background remover through VyroHook.post_image",
        )


def check_files(
    endpoint: Endpoint,
    files: Mapping[str, ImageInfo],
    *,
    names: Mapping[str, str] | None = None,
    arguments: Mapping[str, str] | None = None,
) -> None:
    """
    Check the inspected files of one call.

    Every file field must be given and no other; each file must pass :func:`check_file`; a file
    that must match another's size (a mask) is checked against it.

    :param endpoint: the operation, from :mod:`airflow_provider_vyro.catalogue`.
    :param files: what :func:`~airflow_provider_vyro.images.inspect_image` learned from each
        file, by form field name.
    :param names: how to show each file in messages, by form field name (default: the name).
    :param arguments: the argument each file was given as, by form field name, when it differs
        (e.g. ``{"image": "image_path"}``); messages name it.
    :raises VyroInputError: naming the first file refused.
    """
    names = names or {}
    arguments = arguments or {}
    for given in files:
        if endpoint.file_field(given) is None:
            known = ", ".join(f.name for f in endpoint.file_fields) or "none"
            raise VyroInputError(
                arguments.get(given, given), f"is not a file of {endpoint.operation}; its files are {known}"
            )
    for spec in endpoint.file_fields:
        info = files.get(spec.name)
        argument = arguments.get(spec.name, spec.name)
        if info is None:
            raise VyroInputError(argument, f"is required by {endpoint.operation}")
        name = names.get(spec.name, spec.name)
        check_file(endpoint, spec, info, name=name, argument=argument)
        if spec.same_size_as is not None and spec.same_size_as in files:
            check_mask_matches(files[spec.same_size_as], info, field=argument, name=name)


def check_path(path: object, *, field: str = "path") -> str:
    """
    Check a path after the base URL: it starts with ``/v1/`` or ``/v2/`` and holds only plain segments.

    No scheme, host, query, ``..`` or spaces, so a call can only go to the configured base URL.

    :param path: the path, e.g. ``/v2/image/background/remover``.
    :param field: the argument it was given as.
    :return: the path.
    :raises VyroInputError: naming ``field``.
    """
    if not isinstance(path, str) or not _PATH.fullmatch(path) or "/../" in f"{path}/" or "/./" in f"{path}/":
        raise VyroInputError(
            field,
            "must be a path after the base URL starting with /v1/ or /v2/, made of plain segments "
            "(letters, digits, '.', '_', '-', '~'), such as '/v2/image/background/remover'; "
            f"got {_shown(path)}",
        )
    return path


def endpoint_overrides(endpoint: Endpoint, path: object, extra_fields: object) -> Endpoint:
    """
    Check a task's ``endpoint`` and ``extra_fields`` and give the endpoint it calls.

    The path replaces the operation's (its prefix decides the API version and so the auth
    header); each extra field is sent as a text part, unchecked, after the operation's own.

    :param endpoint: the operation's catalogue entry.
    :param path: the path that replaces the operation's, or ``None``.
    :param extra_fields: text fields to add, by name (strings, or whole numbers sent as their
        digits), or ``None``.
    :raises VyroInputError: naming ``endpoint`` or ``extra_fields``.
    """
    checked_path = None if path is None else check_path(path, field="endpoint")
    extra: dict[str, str] = {}
    if extra_fields is not None:
        if not isinstance(extra_fields, dict):
            raise VyroInputError(
                "extra_fields", f"expected a dict of text fields by name, got {_shown(extra_fields)}"
            )
        taken = set(endpoint.field_names) | {f"{f.name}_path" for f in endpoint.file_fields} | {"output_path"}
        for name, value in extra_fields.items():
            if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name) or name.endswith("_path"):
                raise VyroInputError(
                    "extra_fields",
                    "a field name must be letters, digits or '_.-' (not ending in '_path'), "
                    f"got {_shown(name)}",
                )
            if name in taken:
                raise VyroInputError(
                    "extra_fields",
                    f"{name!r} is a field {endpoint.operation} sets itself; give it as the operation's "
                    "own argument (nothing was sent)",
                )
            if isinstance(value, int) and not isinstance(value, bool):
                extra[name] = str(value)
            elif isinstance(value, str):
                extra[name] = value
            else:
                raise VyroInputError(
                    "extra_fields",
                    f"the value of {name!r} must be a string or a whole number, got {type(value).__name__}",
                )
    return with_overrides(endpoint, path=checked_path, extra_fields=extra)


def generic_call(
    path: object, fields: Mapping[str, object], file_names: tuple[str, ...]
) -> tuple[Endpoint, dict[str, str]]:
    """
    Check the arguments of a generic call (a path the user names) and describe it as an endpoint.

    The path must start with ``/v1/`` or ``/v2/`` (it decides the auth header) and hold only
    plain path segments: no scheme, host, query, ``..`` or spaces, so the call can only go to the
    configured base URL. Text values are sent as given: strings, or whole numbers (sent as their
    digits). Files are checked like any input (JPEG or PNG by content). The answer must be a
    complete image; on a catalogue path it must be in that operation's answer formats.

    :param path: the path after the base URL, e.g. ``/v2/image/background/remover``.
    :param fields: the text fields to send.
    :param file_names: the names of the file fields to send.
    :return: the endpoint (operation ``image``) and the fields to send.
    :raises VyroInputError: naming the path or the field refused.
    """
    path = check_path(path)
    sent: dict[str, str] = {}
    for name, value in fields.items():
        if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
            raise VyroInputError(
                "fields", f"a field name must be letters, digits or '_.-', got {_shown(name)}"
            )
        if isinstance(value, int) and not isinstance(value, bool):
            sent[name] = str(value)
        elif isinstance(value, str):
            sent[name] = value
        else:
            raise VyroInputError(name, f"must be a string or a whole number, got {_shown(value)}")
    for name in file_names:
        if not _FIELD_NAME.fullmatch(name) or name in sent:
            raise VyroInputError(
                "files",
                f"a file field name must be letters, digits or '_.-' and not also a text field, got {name!r}",
            )
    return generic_endpoint(path, tuple(file_names)), sent


__all__ = [
    "MASK_MODES",
    "MAX_PROMPT_CHARS",
    "check_choice",
    "check_fields",
    "check_file",
    "check_files",
    "check_mask_matches",
    "check_model_version",
    "check_path",
    "check_prompt",
    "check_seed",
    "check_value",
    "endpoint_overrides",
    "generic_call",
    "text_to_image_call",
]
