"""
Inpaint one image on local disk: a task lists the work, InpaintOperator takes it from XCom.

Run it: ``airflow dags test example_vyro_inpaint`` (``make demo`` does, against the emulator).
Params choose the scene (``name``, from ``data/``), and where the result goes (``output_dir``).
"""

# mypy: disable-error-code="index,arg-type"
# (TaskFlow hands an XComArg where mypy sees the task function's return type.)

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task
from vyro_example_pairs import DATA, OUTPUT_DIR, START, TAGS

from airflow_provider_vyro.operators.inpaint import InpaintOperator

PARAMS = {
    "input_dir": Param(str(DATA), type="string", description="Folder with NAME.jpg and NAME_mask.png"),
    "name": Param("beach", type="string", description="Which image of input_dir to inpaint"),
    "output_dir": Param(OUTPUT_DIR, type="string", description="Where the PNG is written"),
}


@dag(schedule=None, start_date=START, tags=TAGS, params=PARAMS)
def example_vyro_inpaint() -> None:
    """Inpaint one image and hand the result's path and prompt to a downstream task."""
    # [START howto_operator_vyro_inpaint]

    @task(multiple_outputs=True)
    def list_work(params: dict[str, Any] | None = None) -> dict[str, str]:
        assert params is not None
        folder = Path(params["input_dir"])
        name = params["name"]
        prompts = json.loads((folder / "prompts.json").read_text())
        return {
            "image_path": str(folder / f"{name}.jpg"),
            "mask_path": str(folder / f"{name}_mask.png"),
            "prompt": prompts[name],
            "output_path": str(Path(params["output_dir"]) / f"{name}_inpainted.png"),
        }

    work = list_work()
    inpaint = InpaintOperator(
        task_id="inpaint",
        image_path=work["image_path"],
        mask_path=work["mask_path"],
        prompt=work["prompt"],
        output_path=work["output_path"],
    )
    # [END howto_operator_vyro_inpaint]

    @task
    def report(result: dict[str, Any]) -> str:
        print(
            f"Inpainted {result['image_path']} with {result['prompt']!r}: "
            f"{result['output_path']} ({result['width']}x{result['height']}, {result['bytes']} bytes)"
        )
        return str(result["output_path"])

    report(inpaint.output)


example_vyro_inpaint()
