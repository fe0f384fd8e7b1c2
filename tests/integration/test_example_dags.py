"""Every example DAG, run through Airflow itself (``airflow dags test``) against the emulator."""

from __future__ import annotations

import csv
import hashlib
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from PIL import Image

from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.item import InpaintXCom
from airflow_provider_vyro.operators.base import NONE_XCOM_REFUSED
from devtools.airflow_runner import EXAMPLES, AirflowSandbox
from tests.moto_server import MotoS3Server, aws_conn_env

DATA = EXAMPLES / "data"
XCOM_KEYS = get_type_hints(InpaintXCom)
COVERED = {
    "example_vyro_inpaint.py",
    "example_vyro_inpaint_s3.py",
    "example_vyro_inpaint_mapped.py",
    "example_vyro_inpaint_chain.py",
    "example_vyro_inpaint_batch.py",
    "example_vyro_assets.py",
    "example_vyro_generative_fill_s3.py",
    "example_vyro_generate_then_edit.py",
    "example_vyro_ai_background.py",
    "example_vyro_text_to_image_batch.py",
    "example_vyro_video.py",
    "example_vyro_taskflow.py",
    "example_vyro_review.py",
    "example_vyro_product_photos.py",
}
PILLOW_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WEBP"}


def assert_xcom_shape(result: dict[str, Any]) -> None:
    assert set(result) == set(XCOM_KEYS)
    for key, kind in XCOM_KEYS.items():
        assert isinstance(result[key], kind), key


def assert_png_matches(data: bytes, result: dict[str, Any]) -> None:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.size == (result["width"], result["height"])
    assert len(data) == result["bytes"]
    assert hashlib.sha256(data).hexdigest() == result["sha256"]


def assert_image_matches(data: bytes, result: dict[str, Any]) -> None:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == PILLOW_FORMATS[result["format"]]
        assert image.size == (result["width"], result["height"])
    assert len(data) == result["bytes"]
    assert hashlib.sha256(data).hexdigest() == result["sha256"]


def test_every_example_dag_is_run_by_this_module() -> None:
    assert {p.name for p in EXAMPLES.glob("example_*.py")} == COVERED
    assert {p.name for p in EXAMPLES.glob("*.py")} - COVERED == {"vyro_example_pairs.py"}, (
        "a helper, not a DAG"
    )


def test_example_vyro_inpaint(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    run = airflow_sandbox.dags_test("example_vyro_inpaint", conf={"output_dir": str(tmp_path / "o")})
    assert run.state == "success", run.describe()

    result = run.xcom("inpaint")
    assert_xcom_shape(result)
    assert result["output_path"] == str(tmp_path / "o" / "beach_inpainted.png")
    assert result["image_path"] == str(DATA / "beach.jpg")
    assert result["prompt"] == "smooth sand where the ball was"
    assert (result["width"], result["height"], result["skipped"]) == (384, 256, False)
    assert_png_matches(Path(result["output_path"]).read_bytes(), result)
    for key, value in result.items():
        if value is None and NONE_XCOM_REFUSED:
            continue  # Airflow 3.0 stores no XCom whose value is None
        assert run.xcom("inpaint", key) == value, f"each key is its own XCom too: {key}"
    assert run.xcom("report") == result["output_path"], "the downstream task got the dict"
    assert emulator.stats()["requests"] == 1


def test_example_vyro_inpaint_chain(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    run = airflow_sandbox.dags_test("example_vyro_inpaint_chain")
    assert run.state == "success", run.describe()

    first, second = run.xcom("remove_ball"), run.xcom("add_shell")
    assert second["image_path"] == first["output_path"] == str(tmp_path / "out" / "chain" / "step1.png")
    assert second["output_path"] == str(tmp_path / "out" / "chain" / "step2.png")
    for result in (first, second):
        assert_xcom_shape(result)
        assert_png_matches(Path(result["output_path"]).read_bytes(), result)
    assert emulator.stats()["requests"] == 2


def test_example_vyro_inpaint_mapped_and_rerun_pays_nothing(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    conf = {"output_dir": str(tmp_path / "mapped")}
    run = airflow_sandbox.dags_test("example_vyro_inpaint_mapped", conf=conf)
    assert run.state == "success", run.describe()

    results = run.mapped_xcoms("inpaint")
    assert [Path(r["image_path"]).name for r in results] == ["beach.jpg", "lake.jpg", "meadow.jpg"]
    assert len({r["prompt"] for r in results}) == 3, "one prompt per image"
    for result in results:
        assert_xcom_shape(result)
        assert_png_matches(Path(result["output_path"]).read_bytes(), result)
    assert run.xcom("summarise") == {"images": 3, "inpainted": 3, "kept": 0}
    assert emulator.stats()["requests"] == 3

    rerun = airflow_sandbox.dags_test("example_vyro_inpaint_mapped", conf=conf)
    assert rerun.state == "success", rerun.describe()
    assert rerun.xcom("summarise") == {"images": 3, "inpainted": 0, "kept": 3}
    kept = rerun.mapped_xcoms("inpaint")
    assert all(r["skipped"] for r in kept)
    assert [r["sha256"] for r in kept] == [r["sha256"] for r in results]
    assert emulator.stats()["requests"] == 3, "overwrite=False: the re-run made no request"


@pytest.fixture
def s3() -> Iterator[MotoS3Server]:
    with MotoS3Server(conn_id="aws_default") as server:
        client = server.client()
        client.create_bucket(Bucket="vyro-examples")
        for name in ("beach.jpg", "beach_mask.png", "lake.jpg", "lake_mask.png", "prompts.json"):
            client.upload_file(str(DATA / name), "vyro-examples", f"in/{name}")
        yield server


def _s3_sandbox(sandbox: AirflowSandbox, s3: MotoS3Server) -> AirflowSandbox:
    sandbox.env["AIRFLOW_CONN_AWS_DEFAULT"] = aws_conn_env(s3.endpoint_url)
    return sandbox


def test_example_vyro_inpaint_s3(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, s3: MotoS3Server
) -> None:
    run = _s3_sandbox(airflow_sandbox, s3).dags_test("example_vyro_inpaint_s3", logical_date="2026-11-20")
    assert run.state == "success", run.describe()

    result = run.xcom("inpaint")
    assert_xcom_shape(result)
    assert result["output_path"] == "s3://vyro-examples/out/2026-11-20/beach.png", "{{ ds }} rendered"
    assert result["image_path"] == "s3://vyro-examples/in/beach.jpg"
    body = s3.client().get_object(Bucket="vyro-examples", Key="out/2026-11-20/beach.png")["Body"].read()
    assert_png_matches(body, result)
    assert emulator.stats()["requests"] == 1


def test_example_vyro_inpaint_mapped_over_an_s3_prefix(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, s3: MotoS3Server
) -> None:
    conf = {
        "input_dir": "s3://vyro-examples/in",
        "output_dir": "s3://vyro-examples/out/mapped",
        "storage_conn_id": "aws_default",
    }
    run = _s3_sandbox(airflow_sandbox, s3).dags_test("example_vyro_inpaint_mapped", conf=conf)
    assert run.state == "success", run.describe()

    results = run.mapped_xcoms("inpaint")
    assert [r["output_path"] for r in results] == [
        "s3://vyro-examples/out/mapped/beach.png",
        "s3://vyro-examples/out/mapped/lake.png",
    ]
    client = s3.client()
    for result in results:
        key = result["output_path"].removeprefix("s3://vyro-examples/")
        assert_png_matches(client.get_object(Bucket="vyro-examples", Key=key)["Body"].read(), result)
    assert emulator.stats()["requests"] == 2


def _asset_extra(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("sha256", "bytes", "width", "height")
    return {"operation": "inpaint", "format": "PNG", **{key: result[key] for key in keys}}


def queued_dags(sandbox: AirflowSandbox) -> set[str]:
    with sqlite3.connect(sandbox.home / "airflow.db") as db:
        return {row[0] for row in db.execute("SELECT target_dag_id FROM asset_dag_run_queue")}


def test_producer_announces_each_written_image_and_queues_the_consumer(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    out = tmp_path / "assets"
    run = airflow_sandbox.dags_test("example_vyro_asset_producer", conf={"output_dir": str(out)})
    assert run.state == "success", run.describe()

    results = run.xcom("inpaint")
    assert [r["output_path"] for r in results] == [str(out / "beach.png"), str(out / "lake.png")]
    assert run.asset_events == [
        {
            "uri": f"file://{r['output_path']}",
            "name": f"file://{r['output_path']}",
            "extra": _asset_extra(r),
            "task_id": "inpaint",
            "map_index": -1,
            "aliases": ["vyro-inpainted"],
        }
        for r in results
    ]
    assert queued_dags(airflow_sandbox) == {"example_vyro_asset_consumer"}, "the consumer is due"
    assert emulator.stats()["requests"] == 2


def test_example_vyro_generative_fill_s3(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, s3: MotoS3Server
) -> None:
    run = _s3_sandbox(airflow_sandbox, s3).dags_test(
        "example_vyro_generative_fill_s3", logical_date="2026-11-21"
    )
    assert run.state == "success", run.describe()

    result = run.xcom("fill")
    assert (result["operation"], result["api_version"], result["format"]) == ("generative_fill", "v2", "WEBP")
    assert "model_version" not in result
    assert result["output_path"] == "s3://vyro-examples/out/2026-11-21/beach_filled.webp"
    body = (
        s3.client().get_object(Bucket="vyro-examples", Key="out/2026-11-21/beach_filled.webp")["Body"].read()
    )
    assert_image_matches(body, result)
    assert emulator.stats()["operations"] == {"generative_fill": 1}


def test_example_vyro_generate_then_edit(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    run = airflow_sandbox.dags_test("example_vyro_generate_then_edit")
    assert run.state == "success", run.describe()

    generated, edited = run.xcom("generate"), run.xcom("add_cabin")
    folder = tmp_path / "out" / "generate_then_edit"
    assert generated["output_path"] == str(folder / "lake.png")
    assert (generated["operation"], generated["style"], generated["seed"]) == (
        "text_to_image",
        "realistic",
        "42",
    )
    assert edited["image_path"] == generated["output_path"], "the edit took the generated image from XCom"
    assert edited["mask_path"] == str(folder / "lake_mask.png")
    assert (edited["width"], edited["height"]) == (generated["width"], generated["height"])
    for result in (generated, edited):
        assert_image_matches(Path(result["output_path"]).read_bytes(), result)
    assert emulator.stats()["operations"] == {"text_to_image": 1, "generative_fill": 1}


def test_example_vyro_ai_background(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    run = airflow_sandbox.dags_test("example_vyro_ai_background", conf={"output_dir": str(tmp_path / "bg")})
    assert run.state == "success", run.describe()

    result = run.xcom("background")
    assert result["output_path"] == str(tmp_path / "bg" / "bottle_on_marble.jpg")
    assert result["image_path"] == str(DATA / "bottle_cutout.png")
    assert (result["operation"], result["style"], result["seed"], result["format"]) == (
        "ai_background",
        "product-shoot",
        "7",
        "JPEG",
    )
    assert_image_matches(Path(result["output_path"]).read_bytes(), result)
    assert "converted to JPEG" in run.output, "the emulator answers PNG: the log says it was converted"
    assert emulator.stats()["operations"] == {"ai_background": 1}


def test_example_vyro_text_to_image_batch_and_rerun_pays_nothing(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    conf = {"prompts": ["a red fox", "a blue whale"], "output_dir": str(tmp_path / "gen")}
    run = airflow_sandbox.dags_test("example_vyro_text_to_image_batch", conf=conf)
    assert run.state == "success", run.describe()

    results = run.xcom("generate")
    assert [r["prompt"] for r in results] == conf["prompts"]
    assert [r["output_path"] for r in results] == [str(tmp_path / "gen" / f"{n:03d}.webp") for n in (0, 1)]
    for result in results:
        assert (result["style"], result["aspect_ratio"], result["format"]) == ("flux-schnell", "4:3", "WEBP")
        assert_image_matches(Path(result["output_path"]).read_bytes(), result)
    assert run.xcom("summarise") == {"images": 2, "generated": 2, "kept": 0}

    rerun = airflow_sandbox.dags_test("example_vyro_text_to_image_batch", conf=conf)
    assert rerun.state == "success", rerun.describe()
    assert rerun.xcom("summarise") == {"images": 2, "generated": 0, "kept": 2}
    assert emulator.stats()["operations"] == {"text_to_image": 2}, "the re-run kept both WebP files"


def test_example_vyro_video_defers_each_product_and_submits_once(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    from airflow_provider_vyro.mp4 import Mp4StreamChecker

    emulator.set_video(duration=2)
    airflow_sandbox.env["VYRO_EXAMPLES_POLL_INTERVAL"] = "1"
    run = airflow_sandbox.dags_test("example_vyro_video", conf={"output_dir": str(tmp_path / "v")})
    assert run.state == "success", run.describe()

    results = run.mapped_xcoms("video")
    assert [Path(r["image_path"]).name for r in results] == [
        "product_bottle.jpg",
        "product_mug.jpg",
        "product_lamp.jpg",
    ]
    for result in results:
        assert (result["operation"], result["format"], result["attempts"]) == ("image_to_video", "MP4", 1)
        data = Path(result["output_path"]).read_bytes()
        checker = Mp4StreamChecker()
        checker.feed(data)
        assert checker.result().size == result["bytes"] == len(data)
        assert hashlib.sha256(data).hexdigest() == result["sha256"]
        assert Path(result["thumbnail_path"]).is_file()
    assert "Deferring" in run.output, "each task waited in the triggerer"
    assert run.xcom("summarise")["videos"] == 3
    assert emulator.video_stats()["submits"] == {"image_to_video": 3}, "one submit per product"


def test_example_vyro_taskflow_one_item_and_a_list(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, tmp_path: Path
) -> None:
    out = tmp_path / "taskflow"
    conf = {"prompts": ["a red fox", "a blue whale", "a green frog"], "output_dir": str(out)}
    run = airflow_sandbox.dags_test("example_vyro_taskflow", conf=conf)
    assert run.state == "success", run.describe()

    inpainted = run.xcom("inpaint_beach")
    assert_xcom_shape(inpainted)
    assert inpainted["output_path"] == str(out / "beach_inpainted.png"), "{{ params.output_dir }} rendered"
    assert inpainted["image_path"] == str(DATA / "beach.jpg")
    assert (inpainted["width"], inpainted["height"], inpainted["skipped"]) == (384, 256, False)
    assert_png_matches(Path(inpainted["output_path"]).read_bytes(), inpainted)
    assert run.xcom("inpaint_beach", "output_path") == inpainted["output_path"], "each key is its own XCom"

    generated = run.xcom("generate")
    assert [r["prompt"] for r in generated] == conf["prompts"], "one item per dict, in order"
    assert [r["output_path"] for r in generated] == [str(out / f"{n:03d}.png") for n in range(3)]
    for result in generated:
        assert (result["operation"], result["style"]) == ("text_to_image", "flux-schnell")
        assert_image_matches(Path(result["output_path"]).read_bytes(), result)
    assert run.xcom("report") == {
        "inpainted": inpainted["output_path"],
        "generated": [r["output_path"] for r in generated],
    }
    assert emulator.stats()["operations"] == {"inpaint": 1, "text_to_image": 3}

    rerun = airflow_sandbox.dags_test("example_vyro_taskflow", conf=conf)
    assert rerun.state == "success", rerun.describe()
    assert rerun.xcom("inpaint_beach")["skipped"] is True
    assert [r["skipped"] for r in rerun.xcom("generate")] == [True, True, True]
    assert emulator.stats()["operations"] == {"inpaint": 1, "text_to_image": 3}, "overwrite=False: all kept"


def test_example_vyro_review_defines_its_dag_only_on_airflow_3_1_plus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The review waits for a person, so it runs in e2e (case ``review``); here: its shape and text."""
    import importlib.util

    from airflow_provider_vyro.version_compat import AIRFLOW_V_3_1_PLUS

    monkeypatch.syspath_prepend(str(EXAMPLES))  # as Airflow puts the DAGs folder on sys.path

    spec = importlib.util.spec_from_file_location("example_vyro_review", EXAMPLES / "example_vyro_review.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not AIRFLOW_V_3_1_PLUS:
        assert not hasattr(module, "example_vyro_review")
        return
    dag = module.example_vyro_review()
    assert {t.task_id for t in dag.tasks} >= {"items", "generate", "describe", "review", "publish"}
    review = dag.get_task("review")
    # Airflow 3.1 also merges the DAG's own params into the task's; the review asks one choice per image.
    assert set(review.params) - set(dag.params) == {"image_0", "image_1", "image_2"}
    text = module.review_text(
        [{"prompt": "a mug"}, {"prompt": "a cup"}], "example_vyro_review", "manual__2026-01-01T00:00:00+00:00"
    )
    run = "manual__2026-01-01T00%3A00%3A00%2B00%3A00"
    assert f"(/vyro/images/example_vyro_review/{run}/generate/1/output?map_index=-1&size=thumb)" in text
    assert f"(/dags/example_vyro_review/runs/{run}/tasks/generate/plugin/vyro-images)" in text


PRODUCTS = (("drinks", "bottle"), ("kitchen", "mug"), ("lighting", "lamp"))


def test_example_vyro_product_photos_over_an_s3_prefix_and_rerun_pays_nothing(
    airflow_sandbox: AirflowSandbox, emulator: EmulatorServer, s3: MotoS3Server
) -> None:
    client = s3.client()
    for category, name in PRODUCTS:
        client.upload_file(
            str(DATA / f"product_{name}.jpg"), "vyro-examples", f"shop/raw/{category}/{name}.jpg"
        )
    sandbox = _s3_sandbox(airflow_sandbox, s3)
    run = sandbox.dags_test("example_vyro_product_photos")
    assert run.state == "success", run.describe()

    skus = [name for _, name in PRODUCTS]
    cutouts, backgrounds, published = (run.xcom(t) for t in ("cut_out", "new_background", "publish"))
    assert [r["operation"] for r in cutouts + backgrounds + published] == (
        ["remove_background"] * 3 + ["ai_background"] * 3 + ["upscale"] * 3
    )
    assert [r["image_path"] for r in cutouts] == [
        f"s3://vyro-examples/shop/raw/{c}/{n}.jpg" for c, n in PRODUCTS
    ]
    with (EXAMPLES / "product_backgrounds.csv").open() as table:
        prompts = {row["category"]: row["prompt"] for row in csv.DictReader(table)}
    assert [r["prompt"] for r in backgrounds] == [prompts[c] for c, _ in PRODUCTS], "one prompt per category"
    assert [r["output_path"] for r in published] == [
        f"s3://vyro-examples/shop/published/{s}.png" for s in skus
    ]
    for cut, made in zip(cutouts, published, strict=True):
        body = client.get_object(
            Bucket="vyro-examples", Key=cut["output_path"].removeprefix("s3://vyro-examples/")
        )
        with Image.open(io.BytesIO(body["Body"].read())) as image:
            assert image.mode == "RGBA"
            assert image.getchannel("A").getextrema() == (0, 255), "a cut-out: transparent around the product"
        assert (made["width"], made["height"]) == (2 * cut["width"], 2 * cut["height"]), "upscaled 2x"
    assert [e["aliases"] for e in run.asset_events] == [["vyro_published_product_photos"]] * 3
    assert emulator.stats()["operations"] == {"remove_background": 3, "ai_background": 3, "upscale": 3}

    rerun = sandbox.dags_test("example_vyro_product_photos")
    assert rerun.state == "success", rerun.describe()
    assert all(r["skipped"] for t in ("cut_out", "new_background", "publish") for r in rerun.xcom(t))
    assert emulator.stats()["requests"] == 9, "overwrite=False: the re-run made no request"
