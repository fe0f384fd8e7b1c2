"""Asset URIs, the alias among the outlets, and the events a task adds through it."""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import attrs
import pytest
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_provider_vyro import assets, storage
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator, InpaintOperator


def result(output_path: str, *, skipped: bool = False, **more: Any) -> dict[str, Any]:
    return {
        "output_path": output_path,
        "image_path": "/in/a.jpg",
        "mask_path": "/in/a_mask.png",
        "prompt": "p",
        "model_version": "1",
        "width": 384,
        "height": 256,
        "bytes": 1234,
        "sha256": "ab" * 32,
        "skipped": skipped,
        **more,
    }


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("/data/out/a.png", "file:///data/out/a.png"),
        ("file:///data/out/a.png", "file:///data/out/a.png"),
        ("file://localhost/data/a.png", "file:///data/a.png"),
        ("/data/a b%.png", "file:///data/a%20b%25.png"),
        ("s3://bucket/out/a.png", "s3://bucket/out/a.png"),
        ("s3://aws_other@bucket/out/a.png", "s3://bucket/out/a.png"),
        ("s3a://bucket/out/a b.png", "s3://bucket/out/a%20b.png"),
    ],
)
def test_asset_uri_names_the_object_not_the_connection(path: str, uri: str) -> None:
    resolved = storage.resolve(path, field="output_path", conn_id="aws_default")
    assert assets.asset_uri(resolved) == uri
    assert assets.output_uri(path, "aws_default") == uri
    assert Asset(uri=uri).uri == uri, "Airflow accepts it unchanged"


def test_a_relative_output_is_the_workers_absolute_file(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert assets.output_uri("out/a.png") == f"file://{tmp_path}/out/a.png"


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("file:///data/a%20b%25.png", "/data/a b%.png"),
        ("s3://bucket/out/a%20b.png", "s3://bucket/out/a b.png"),
        ("s3://bucket/out/a.png", "s3://bucket/out/a.png"),
    ],
)
def test_path_of_undoes_the_uri(uri: str, path: str) -> None:
    assert assets.path_of(uri) == path
    assert assets.output_uri(path) == uri


def test_declare_alias() -> None:
    assert assets.declare_alias(None) == []
    assert assets.declare_alias(None, Asset(uri="s3://b/k")) == [Asset(uri="s3://b/k")]
    assert assets.declare_alias("new-images") == [AssetAlias("new-images")]
    given = [Asset(uri="s3://b/k"), AssetAlias("new-images")]
    assert assets.declare_alias("new-images", given) == given, "declared once, also via partial(outlets=)"
    assert assets.declare_alias("other", (AssetAlias("new-images"),)) == [
        AssetAlias("new-images"),
        AssetAlias("other"),
    ]


@pytest.mark.parametrize("bad", ["", "  ", 3, ["a"]])
def test_a_bad_alias_is_refused_when_the_dag_is_parsed(bad: Any) -> None:
    with pytest.raises(VyroInputError, match="asset_alias"):
        assets.declare_alias(bad)
    with pytest.raises(VyroInputError, match="asset_alias"):
        InpaintOperator(task_id="t", image_path="a.png", mask_path="m.png", prompt="p", asset_alias=bad)


def test_operators_declare_the_alias_among_their_outlets() -> None:
    single = InpaintOperator(
        task_id="one", image_path="a.png", mask_path="m.png", prompt="p", asset_alias="new-images"
    )
    batch = InpaintBatchOperator(
        task_id="many", items=[], asset_alias="new-images", outlets=[Asset(uri="s3://b/k")]
    )
    plain = InpaintOperator(task_id="plain", image_path="a.png", mask_path="m.png", prompt="p")
    assert single.outlets == [AssetAlias("new-images")]
    assert batch.outlets == [Asset(uri="s3://b/k"), AssetAlias("new-images")]
    assert plain.outlets == []


def test_event_extra_is_json_with_the_documented_keys() -> None:
    extra = assets.event_extra(result("/o/a.png"))
    assert tuple(sorted(extra)) == tuple(sorted(assets.EXTRA_KEYS))
    assert extra == {
        "operation": "inpaint",
        "sha256": "ab" * 32,
        "bytes": 1234,
        "width": 384,
        "height": 256,
        "format": "png",
    }
    assert json.loads(json.dumps(extra)) == extra
    later = assets.event_extra(result("/o/a.jpg", operation="text_to_image", format="jpeg"))
    assert (later["operation"], later["format"]) == ("text_to_image", "jpeg")


def sent_events(events: OutletEventAccessors) -> list[dict[str, Any]]:
    """The asset events a worker would send for ``events``, as the dicts it serialises."""
    return [attrs.asdict(event) for key in events for event in events[key].asset_alias_events]


def test_emit_adds_one_event_per_written_output() -> None:
    events = OutletEventAccessors()
    results = [
        result("/o/a.png"),
        result("s3://aws_default@bucket/o/b.png", width=10),
        result("/o/kept.png", skipped=True),
    ]
    added = assets.emit({"outlet_events": events}, "new-images", results)
    assert added == 2
    sent: list[Any] = sent_events(events)
    assert json.loads(json.dumps(sent)) == sent, "what the worker sends is JSON"
    assert [(e["source_alias_name"], e["dest_asset_key"]["uri"], e["extra"]["width"]) for e in sent] == [
        ("new-images", "file:///o/a.png", 384),
        ("new-images", "s3://bucket/o/b.png", 10),
    ]


def test_emit_without_an_alias_adds_nothing() -> None:
    events = OutletEventAccessors()
    assert assets.emit({"outlet_events": events}, None, [result("/o/a.png")]) == 0
    assert sent_events(events) == []


def test_emit_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="airflow_provider_vyro.assets")
    assert assets.emit({}, "new-images", [result("/o/a.png")]) == 0
    assert "no outlet events" in caplog.text

    events = OutletEventAccessors()
    broken = [result("/o/a.png"), {"output_path": "/o/b.png"}, result("/o/c.png")]
    assert assets.emit({"outlet_events": events}, "new-images", broken) == 2
    assert "Could not announce /o/b.png" in caplog.text

    class Refusing:
        def __getitem__(self, key: Any) -> Any:
            raise RuntimeError("no alias here")

    assert assets.emit({"outlet_events": cast("Any", Refusing())}, "new-images", [result("/o/a.png")]) == 0
    assert "no alias here" in caplog.text


class FakeTaskInstance:
    dag_id = "assets_dag"
    run_id = "manual__1"
    task_id = "batch"
    map_index = -1


def test_outputs_an_earlier_try_of_the_run_wrote_are_announced_by_the_try_that_succeeds(
    vyro_conn: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_vyro.exceptions import VyroBatchError
    from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator
    from tests.conftest import conn_json
    from tests.integration.test_batch import make_items

    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(vyro_conn.url, max_retries=0))
    items = make_items(tmp_path, 3)
    vyro_conn.set_faults(script=["ok", "ok", 503])

    def attempt(events: OutletEventAccessors) -> Any:
        operator = InpaintBatchOperator(task_id="batch", items=items, asset_alias="new-images")
        return operator.execute(context=cast("Any", {"ti": FakeTaskInstance(), "outlet_events": events}))

    with pytest.raises(VyroBatchError):
        attempt(OutletEventAccessors())
    events = OutletEventAccessors()
    results = attempt(events)

    assert vyro_conn.stats()["requests"] == 4, "the retry paid only for the failed item"
    assert sorted(r["skipped"] for r in results) == [False, True, True]
    sent: list[Any] = sent_events(events)
    announced = sorted(e["dest_asset_key"]["uri"] for e in sent)
    assert announced == sorted(f"file://{r['output_path']}" for r in results), (
        "Airflow dropped the failed try's events: the try that succeeds announces all three"
    )


def test_importing_an_operator_leaves_storage_and_writes_for_execute_time() -> None:
    import subprocess
    import sys

    code = (
        "import sys, airflow_provider_vyro.operators.inpaint; "
        "print(sorted(m for m in ('airflow_provider_vyro.storage', 'airflow_provider_vyro.writes') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
