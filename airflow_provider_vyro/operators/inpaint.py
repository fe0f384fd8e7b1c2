"""Operators that inpaint images with Vyro's Imagine API: v1 inpaint, or v2 generative fill."""

from __future__ import annotations

from types import MappingProxyType

from airflow_provider_vyro.catalogue import GENERATIVE_FILL, INPAINT
from airflow_provider_vyro.operators.declared import (
    Argument,
    Choice,
    Declaration,
    DeclaredBatchOperator,
    DeclaredItemOperator,
)

API_VERSIONS = MappingProxyType({"v1": INPAINT, "v2": GENERATIVE_FILL})
"""The operation each ``api_version`` calls."""

DECLARATION = Declaration(
    endpoint=INPAINT,
    arguments=(
        Argument(
            "image_path",
            "the image, JPEG or PNG: a local path, ``file://`` URI or an\nobject-storage URI such as "
            "``s3://bucket/key``.",
        ),
        Argument("mask_path", "the mask, of the image's size; white marks what to replace."),
        Argument(
            "prompt", "what to paint where the mask is.", batch_doc="the prompt of items that have none."
        ),
        Argument(
            "output_path",
            "where to write the image; default beside the image as\n``<stem>_inpainted.png`` (v1) or "
            "``<stem>_filled.png`` (v2).",
            default=None,
        ),
        Argument(
            "model_version",
            'the v1 API\'s model version; with ``api_version="v2"`` a value other\nthan the default '
            '``"1"`` is refused before any request.',
            default="1",
            batch_doc="the model version of items that have none (v1 only).",
        ),
    ),
    items_doc="list of dicts with ``image_path``, ``mask_path`` and optionally ``prompt``,\n"
    "``output_path`` and (v1) ``model_version`` (see :class:`InpaintOperator`).",
    ui_colors=("#f4d8f0", "#e6c8f0"),
    choice=Choice(
        "api_version",
        doc='``"v1"`` (inpaint) or ``"v2"`` (generative fill).',
        batch_doc='``"v1"`` (inpaint) or ``"v2"`` (generative fill), for every item.',
        default="v1",
        endpoints=API_VERSIONS,
        allowed="'v1' (inpaint) or 'v2' (generative fill)",
    ),
)
"""The arguments of :class:`InpaintOperator` and :class:`InpaintBatchOperator`."""


class InpaintOperator(DeclaredItemOperator):
    """
    Inpaint one image: replace what the mask covers, guided by a prompt, and write the result.

    ``api_version="v1"`` (the default) calls the v1 inpaint endpoint, which answers PNG, so the
    output must be a ``.png``. ``api_version="v2"`` calls its successor, v2 generative fill; the
    output may then be ``.png``, ``.jpg``/``.jpeg`` or ``.webp``, and an answer in another format
    is converted (a ``.jpg`` output is refused up front for an image with transparency).

    Every input is checked before the API is called, so a bad path, format, size or prompt fails
    the task with :class:`~airflow_provider_vyro.exceptions.VyroInputError` without spending
    credits. The PNG is written atomically: it appears complete, or not at all. ``on_kill`` and
    ``execution_timeout`` stop the call's retries at once and leave no temporary file.

    The return value (XCom ``return_value``) is a dict with ``output_path``, ``image_path``,
    ``mask_path``, ``prompt``, ``model_version``, ``width``, ``height``, ``bytes``, ``sha256``,
    ``skipped``, ``operation`` (``inpaint``), ``api_version`` (``v1``), ``format`` (``PNG``) and
    ``attempts`` (requests sent, retries included; 0 when kept); each key is also pushed as its
    own XCom, so ``task.output["output_path"]`` can feed a later task. With ``api_version="v2"``
    the dict has the same keys but ``model_version``, with ``operation`` ``generative_fill`` and
    ``format`` the output's (``PNG``, ``JPEG`` or ``WEBP``).

    .. seealso::
        For many images in one task, see :class:`InpaintBatchOperator`.
    """

    declaration = DECLARATION


class InpaintBatchOperator(DeclaredBatchOperator):
    """
    Inpaint many images in one task, keeping up to ``max_concurrency`` calls in flight.

    Airflow spends seconds per task instance, so for hundreds of images one batch task is far
    cheaper than one mapped :class:`InpaintOperator` per image. Each item is checked, called and
    written exactly as :class:`InpaintOperator` does it.

    Every item is checked before the first request: bad items fail the task with one
    :class:`~airflow_provider_vyro.exceptions.VyroInputError` naming each (``items[3].mask_path:
    ...``), and nothing is spent. The first call runs alone; then up to ``max_concurrency``. An
    error that would hit every item (a refused token, no credits, a wrong endpoint, a TLS
    failure) stops the run at once and fails the task without retries. Any other failed item
    does not stop the others; the task then fails with
    :class:`~airflow_provider_vyro.exceptions.VyroBatchError` listing each failed item and its
    class, and a task retry pays only for those. A 429 slows every worker down. A progress line
    is logged every ``progress_interval`` seconds and the log ends with the calls made, written,
    kept and failed.

    The return value is the list of per-item dicts (the shape :class:`InpaintOperator` returns),
    in the order of ``items``; with ``manifest_path``, a summary dict.
    """

    declaration = DECLARATION


__all__ = ["API_VERSIONS", "DECLARATION", "InpaintBatchOperator", "InpaintOperator"]
