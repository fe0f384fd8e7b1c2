"""The operators made from one declaration per operation: signatures, templated fields, complete docs."""

from __future__ import annotations

import inspect
import re

import pytest
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.operators.background import AIBackgroundBatchOperator, AIBackgroundOperator
from airflow_provider_vyro.operators.edit import (
    RemoveBackgroundBatchOperator,
    RemoveBackgroundOperator,
    UpscaleBatchOperator,
    UpscaleOperator,
)
from airflow_provider_vyro.operators.generate import TextToImageBatchOperator, TextToImageOperator
from airflow_provider_vyro.operators.generic import VyroImageOperator
from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator, InpaintOperator

PAIRS = [
    (InpaintOperator, InpaintBatchOperator),
    (TextToImageOperator, TextToImageBatchOperator),
    (AIBackgroundOperator, AIBackgroundBatchOperator),
    (RemoveBackgroundOperator, RemoveBackgroundBatchOperator),
    (UpscaleOperator, UpscaleBatchOperator),
]
SINGLE: list[type] = [single for single, _ in PAIRS]
BATCH: list[type] = [batch for _, batch in PAIRS]
COMMON = [
    "vyro_conn_id",
    "storage_conn_id",
    "overwrite",
    "asset_alias",
    "max_credits",
    "endpoint",
    "extra_fields",
]
BATCH_COMMON = ["max_concurrency", "max_calls", "manifest_path", "progress_interval"]


def documented(cls: type) -> list[str]:
    return re.findall(r"^:param (\w+):", inspect.getdoc(cls) or "", re.MULTILINE)


def own_parameters(cls: type) -> list[str]:
    return [
        name
        for name, p in inspect.signature(vars(cls)["__init__"]).parameters.items()
        if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    ]


@pytest.mark.parametrize(("single", "batch"), PAIRS, ids=[s.__name__ for s in SINGLE])
def test_single_and_batch_come_from_one_declaration(single: type, batch: type) -> None:
    assert single.declaration is batch.declaration  # type: ignore[attr-defined]
    assert single.declaration.endpoint is single.endpoint  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", SINGLE + BATCH, ids=lambda c: c.__name__)
def test_every_argument_is_documented_once_with_the_common_ones(cls: type) -> None:
    common = (BATCH_COMMON if cls in BATCH else []) + COMMON
    assert documented(cls) == own_parameters(cls) + common


@pytest.mark.parametrize("cls", SINGLE + BATCH, ids=lambda c: c.__name__)
def test_templated_arguments_say_so(cls: type) -> None:
    doc = inspect.getdoc(cls) or ""
    for name in cls.template_fields:  # type: ignore[attr-defined]
        line = re.search(rf"^:param {name}:.*?(?=^:param |\Z)", doc, re.MULTILINE | re.DOTALL)
        assert line is not None, name
        assert line.group(0).rstrip().endswith("(templated)"), name


TEMPLATED: dict[type, set[str]] = {
    InpaintOperator: {"image_path", "mask_path", "prompt", "output_path", "model_version", "storage_conn_id"},
    InpaintBatchOperator: {"items", "prompt", "model_version", "storage_conn_id", "manifest_path"},
    TextToImageOperator: {"prompt", "output_path", "style", "aspect_ratio", "seed", "storage_conn_id"},
    AIBackgroundOperator: {"image_path", "prompt", "output_path", "style", "seed", "storage_conn_id"},
    VyroImageOperator: {"endpoint_path", "fields", "files", "output_path", "storage_conn_id"},
}


@pytest.mark.parametrize("cls", list(TEMPLATED), ids=lambda c: c.__name__)
def test_which_arguments_are_templated(cls: type) -> None:
    assert set(cls.template_fields) == TEMPLATED[cls]  # type: ignore[attr-defined]


def test_inpaint_signature() -> None:
    parameters = inspect.signature(InpaintOperator.__init__).parameters
    assert [(n, p.default) for n, p in parameters.items() if n not in ("self", "kwargs")] == [
        ("image_path", inspect.Parameter.empty),
        ("mask_path", inspect.Parameter.empty),
        ("prompt", inspect.Parameter.empty),
        ("output_path", None),
        ("model_version", "1"),
        ("api_version", "v1"),
    ]


def test_a_missing_argument_is_named_when_the_task_is_built() -> None:
    with pytest.raises((TypeError, AirflowException), match="mask_path"):  # Airflow 2.11 raises the latter
        InpaintOperator(task_id="t", image_path="a.png", prompt="p")


@pytest.mark.parametrize(
    ("build", "field", "words"),
    [
        (lambda: InpaintOperator(task_id="t", image_path="a", mask_path="m", prompt="p", api_version="v3"),
         "api_version", "must be 'v1' (inpaint) or 'v2' (generative fill), got str 'v3'"),
        (lambda: TextToImageBatchOperator(task_id="t", items=[], transparent="yes"),
         "transparent", "must be True or False, got str 'yes'"),
        (lambda: TextToImageOperator(task_id="t", prompt="p", output_path="o.png", transparent=1),
         "transparent", "must be True or False, got int 1"),
    ],
)  # fmt: skip
def test_the_choosing_argument_is_checked_when_the_task_is_built(build, field: str, words: str) -> None:
    with pytest.raises(VyroInputError) as caught:
        build()
    assert (caught.value.field, caught.value.problem) == (field, words)


def test_a_key_the_chosen_endpoint_lacks_is_left_out_at_its_default_and_refused_otherwise() -> None:
    fill = InpaintOperator(task_id="t", image_path="a.png", mask_path="m.png", prompt="p", api_version="v2")
    assert fill.item() == {"image_path": "a.png", "mask_path": "m.png", "prompt": "p", "output_path": None}
    assert fill.operation_endpoint().operation == "generative_fill"

    refused = InpaintOperator(
        task_id="u", image_path="a.png", mask_path="m.png", prompt="p", model_version="2", api_version="v2"
    )
    with pytest.raises(VyroInputError) as caught:
        refused.item()
    assert caught.value.field == "model_version"
    assert "belongs to inpaint (v1)" in caught.value.problem
    assert "leave model_version at its default '1', got '2'" in caught.value.problem
