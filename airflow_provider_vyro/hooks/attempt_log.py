"""
The log line of one attempt: what was sent, what came back, how long it took.

It names the operation, the path, each file's format, size and bytes, a preview of the prompt,
the other text fields and, where the catalogue documents it, the call's cost in API tokens. It
never holds the token or a whole prompt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_vyro.catalogue import Endpoint
    from airflow_provider_vyro.hooks.answers import ImageResult
    from airflow_provider_vyro.hooks.uploads import Part

PROMPT_PREVIEW = 40
"""The most characters of a prompt a log line shows."""


def describe_attempt(
    endpoint: Endpoint,
    fields: Mapping[str, str],
    parts: Mapping[str, Part],
    attempt: int,
    status: int,
    result: ImageResult | None,
    seconds: float,
) -> str:
    """
    Give the log line of one attempt.

    :param endpoint: the operation called.
    :param fields: the text fields sent.
    :param parts: the files sent.
    :param attempt: the attempt's number, from 1.
    :param status: the HTTP status answered.
    :param result: the image received, if one was.
    :param seconds: how long the attempt took.
    """
    prompt = fields.get("prompt", "")
    files = ", ".join(
        f"{name} {part.info.format} {part.info.width}x{part.info.height} {part.info.size} B"
        for name, part in parts.items()
    )
    answer = f" {result.format} {result.width}x{result.height} {result.bytes} B" if result else ""
    return (
        f"{endpoint.operation}: POST {endpoint.path} attempt {attempt}: {files or 'no files'}, "
        f"prompt {preview(prompt)!r} ({len(prompt)} chars){describe_fields(endpoint, fields)} "
        f"-> {status}{answer} in {seconds:.2f} s"
    )


def preview(prompt: str) -> str:
    """
    Give the start of a prompt, at most :data:`PROMPT_PREVIEW` characters.

    :param prompt: the prompt sent.
    """
    return prompt if len(prompt) <= PROMPT_PREVIEW else prompt[: PROMPT_PREVIEW - 1] + "…"


def describe_fields(endpoint: Endpoint, fields: Mapping[str, str]) -> str:
    """
    Show the text fields other than the prompt (a field not logged by its name only) and the documented cost.

    :param endpoint: the operation called.
    :param fields: the text fields sent.
    """
    shown = "".join(
        f", {name} {value!r}" if _logged(endpoint, name) else f", {name} (not shown)"
        for name, value in fields.items()
        if name != "prompt"
    )
    cost = endpoint.cost(fields)
    by_field = endpoint.credit_cost.by_field
    if cost is not None:
        shown += f", documented cost {cost} token{'s' if cost != 1 else ''}"
    elif by_field is not None and by_field in fields:
        shown += f", cost not documented for this {by_field}"
    return shown


def _logged(endpoint: Endpoint, name: str) -> bool:
    spec = endpoint.text_field(name)
    return spec is None or spec.logged


__all__ = ["PROMPT_PREVIEW", "describe_attempt", "describe_fields", "preview"]
