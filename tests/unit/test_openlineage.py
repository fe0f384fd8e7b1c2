"""OpenLineage dataset names, the summary past the lineage limit, and hook lineage of written files."""

from __future__ import annotations

from pathlib import Path

import airflow.sdk.lineage
import pytest
from airflow.providers.common.compat.openlineage.facet import Dataset
from airflow.sdk.lineage import HookLineageCollector

from airflow_provider_vyro import openlineage, storage


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/data/in/a.jpg", ("file", "/data/in/a.jpg")),
        ("file:///data/in/a b.jpg", ("file", "/data/in/a b.jpg")),
        ("s3://bucket/in/a.jpg", ("s3://bucket", "in/a.jpg")),
        ("s3://aws_other@bucket/in/a.jpg", ("s3://bucket", "in/a.jpg")),
        ("s3a://bucket/in/a.jpg", ("s3://bucket", "in/a.jpg")),
    ],
)
def test_dataset_names_follow_the_openlineage_naming_spec(path: str, name: tuple[str, str]) -> None:
    assert openlineage.dataset_name(path, "aws_default") == name


def test_summarise_keeps_files_then_folders_then_buckets() -> None:
    files = [("s3://b", f"out/{d}/{i}.png") for d in ("x", "y") for i in range(3)]
    assert openlineage.summarise(files, 6) == files
    assert openlineage.summarise(files, 5) == [("s3://b", "out/x"), ("s3://b", "out/y")]
    assert openlineage.summarise([*files, ("file", "/tmp/a.png")], 2) == [("s3://b", "/"), ("file", "/")]


def result_of(i: int, *, skipped: bool = False) -> dict[str, object]:
    return {
        "image_path": f"s3://b/in/{i}.jpg",
        "mask_path": f"s3://b/in/{i}_mask.png",
        "output_path": f"s3://b/out/{i}.png",
        "skipped": skipped,
    }


def test_operator_lineage_reports_every_item_and_only_written_outputs() -> None:
    lineage = openlineage.operator_lineage([result_of(1), result_of(2, skipped=True)])
    assert lineage.inputs == [
        Dataset(namespace="s3://b", name="in/1.jpg"),
        Dataset(namespace="s3://b", name="in/1_mask.png"),
        Dataset(namespace="s3://b", name="in/2.jpg"),
        Dataset(namespace="s3://b", name="in/2_mask.png"),
    ]
    assert lineage.outputs == [Dataset(namespace="s3://b", name="out/1.png")]
    empty = openlineage.operator_lineage(None)
    assert (empty.inputs, empty.outputs) == ([], [])


def test_past_the_lineage_limit_a_batch_is_summarised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW__LINEAGE__MAX_ASSETS_PER_COLLECTOR", "5")
    assert openlineage.max_datasets() == 5
    caplog.set_level("INFO", logger="airflow_provider_vyro.openlineage")
    lineage = openlineage.operator_lineage([result_of(i) for i in range(5)])
    assert lineage.inputs == [Dataset(namespace="s3://b", name="in")]
    assert lineage.outputs == [Dataset(namespace="s3://b", name="out/0.png")] + [
        Dataset(namespace="s3://b", name=f"out/{i}.png") for i in range(1, 5)
    ]
    assert "10 inputs summarised as 1 datasets (limit 5)" in caplog.text


def test_hook_lineage_of_a_written_local_file_is_a_file_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collector = HookLineageCollector()
    monkeypatch.setattr(airflow.sdk.lineage, "get_hook_lineage_collector", lambda: collector)
    target = storage.resolve(str(tmp_path / "a b.png"), field="output_path")
    with storage.atomic_writer(target) as f:
        f.write(b"x")
    assert [a.asset.uri for a in collector.collected_assets.outputs] == [f"file://{tmp_path}/a%20b.png"]


def test_lineage_reads_the_files_of_a_generic_call() -> None:
    result = {
        "files": {"image": "s3://b/in/shoe.jpg"},
        "output_path": "s3://b/out/shoe.png",
        "skipped": False,
    }
    inputs, outputs = openlineage.lineage_names([result], storage_conn_id="aws_default")
    assert inputs == [("s3://b", "in/shoe.jpg")]
    assert outputs == [("s3://b", "out/shoe.png")]
