"""
``make demo``: run the example DAG through Airflow and print where the inpainted PNG is.

Without ``VYRO_API_TOKEN`` it starts the local emulator on loopback and points the
``vyro_default`` connection at it, runs the v1 inpaint example, then the v2 examples that need
no S3 (generate then edit, AI background, a batch of prompts, the product-photo pipeline on a
local folder, with a side-by-side picture of its steps), one line each. With
``VYRO_API_TOKEN`` set, only the v1 inpaint DAG runs, against the real API (real credits).
Everything lives in ``.scratch/demo`` (a scratch AIRFLOW_HOME with SQLite, and the output).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from airflow_provider_vyro.emulator import EmulatorProcess  # noqa: E402
from devtools.airflow_runner import AirflowSandbox, migrate_template  # noqa: E402
from scripts.side_by_side import side_by_side, strip  # noqa: E402

SCRATCH = REPO / ".scratch" / "demo"
DAG_ID = "example_vyro_inpaint"
EXTRA_EXAMPLES = {
    # dag_id: (the task whose XCom to show, conf)
    "example_vyro_generate_then_edit": ("add_cabin", None),
    "example_vyro_ai_background": ("background", {"output_dir": str(SCRATCH / "output")}),
    "example_vyro_text_to_image_batch": ("generate", {"output_dir": str(SCRATCH / "output" / "generated")}),
}


def main() -> int:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)
    real_token = os.environ.get("VYRO_API_TOKEN")
    with contextlib.ExitStack() as stack:
        if real_token:
            connection = json.dumps({"conn_type": "vyro", "password": real_token})
            print("VYRO_API_TOKEN is set: calling the real Vyro API (this spends credits).")
        else:
            emulator = stack.enter_context(EmulatorProcess(token="demo-token"))
            connection = emulator.connection_json()
            print(f"Started the local Vyro emulator at {emulator.url}")
        print("Preparing a scratch Airflow home (SQLite) ...")
        template = migrate_template(SCRATCH / "template")
        sandbox = AirflowSandbox(SCRATCH / "airflow", template, env={"AIRFLOW_CONN_VYRO_DEFAULT": connection})
        print(f"Running `airflow dags test {DAG_ID}` ...")
        result = sandbox.dags_test(DAG_ID, conf={"output_dir": str(SCRATCH / "output")})
        if result.state != "success":
            print(result.describe(), file=sys.stderr)
            print(f"The DAG run failed ({result.state}).", file=sys.stderr)
            return 1
        show_inpaint(result.xcom("inpaint"))
        if real_token:
            return 0
        print("The v2 examples, against the emulator:")
        failed = run_extra_examples(sandbox)
        failed += run_product_photos(sandbox)
        return 1 if failed else 0


def show_inpaint(xcom: dict[str, Any]) -> None:
    """Print the v1 inpaint's result, and its input, mask and result side by side."""
    png = Path(xcom["output_path"]).resolve()
    picture = side_by_side(
        Path(xcom["image_path"]), Path(xcom["mask_path"]), png, SCRATCH / "side_by_side.png"
    )
    print(f"Prompt: {xcom['prompt']!r}; {xcom['width']}x{xcom['height']} PNG, {xcom['bytes']} bytes")
    print(f"Input, mask and result side by side: {picture}")
    print(f"Inpainted PNG: {png}")


def run_extra_examples(sandbox: AirflowSandbox) -> int:
    """Run the v2 examples against the emulator, one line each; give how many failed."""
    sandbox.env["VYRO_EXAMPLES_OUTPUT_DIR"] = str(SCRATCH / "output")
    failed = 0
    for dag_id, (task_id, conf) in EXTRA_EXAMPLES.items():
        run = sandbox.dags_test(dag_id, conf=conf)
        if run.state != "success":
            failed += 1
            print(run.describe(), file=sys.stderr)
            print(f"  {dag_id}: FAILED ({run.state})")
            continue
        value = run.xcom(task_id)
        results = value if isinstance(value, list) else [value]
        first = results[0]
        if len(results) == 1:
            shown = f"{first['operation']} -> {first['output_path']} ({first['format']})"
        else:
            folder = os.path.dirname(first["output_path"])
            shown = f"{len(results)} x {first['operation']} -> {folder}/ ({first['format']})"
        print(f"  {dag_id}: {shown}")
    return failed


def run_product_photos(sandbox: AirflowSandbox) -> int:
    """Run the product-photo pipeline on the example photos; print one line with its side-by-side picture."""
    dag_id = "example_vyro_product_photos"
    conf = {
        "raw_dir": str(REPO / "dags" / "examples" / "data" / "shop" / "raw"),
        "output_dir": str(SCRATCH / "output" / "shop"),
        "storage_conn_id": None,
    }
    run = sandbox.dags_test(dag_id, conf=conf)
    if run.state != "success":
        print(run.describe(), file=sys.stderr)
        print(f"  {dag_id}: FAILED ({run.state})")
        return 1
    raw, cut, made, published = (
        run.xcom("cut_out")[0]["image_path"],
        run.xcom("cut_out")[0]["output_path"],
        run.xcom("new_background")[0]["output_path"],
        run.xcom("publish")[0]["output_path"],
    )
    panels = [("raw", raw), ("cut-out", cut), ("with background", made), ("upscaled", published)]
    picture = strip([(title, Path(path)) for title, path in panels], SCRATCH / "product_photos.png")
    count = len(run.xcom("publish"))
    print(
        f"  {dag_id}: {count} photos published under {os.path.dirname(published)}/; side by side: {picture}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
