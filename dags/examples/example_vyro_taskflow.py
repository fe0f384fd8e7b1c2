"""
TaskFlow: ``@task.vyro`` functions return an operation's arguments, the task runs them.

One function returns a dict (one image inpainted); another returns a list of dicts (a batch of
images generated from text in one task, several calls in flight). The values may be templates:
``{{ params.output_dir }}`` is rendered before any check. A last task reads both results from XCom.
"""

# mypy: disable-error-code="index,arg-type"
# (TaskFlow hands an XComArg where mypy sees the task function's return type.)

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task
from vyro_example_pairs import DATA, OUTPUT_DIR, START, TAGS

PROMPTS = ["a red fox in fresh snow", "a lighthouse on a cliff at dusk"]
PARAMS = {
    "input_dir": Param(str(DATA), type="string", description="Folder with beach.jpg and beach_mask.png"),
    "prompts": Param(PROMPTS, type="array", items={"type": "string"}),
    "output_dir": Param(os.path.join(OUTPUT_DIR, "taskflow"), type="string"),
}


@dag(schedule=None, start_date=START, tags=TAGS, params=PARAMS)
def example_vyro_taskflow() -> None:
    """Inpaint one image and generate a list of images, each from a TaskFlow function; then report."""
    # [START howto_decorator_vyro_one_item]

    @task.vyro(operation="inpaint", overwrite=False)
    def inpaint_beach(params: dict[str, Any] | None = None) -> dict[str, str]:
        assert params is not None
        folder = Path(params["input_dir"])
        return {
            "image_path": str(folder / "beach.jpg"),
            "mask_path": str(folder / "beach_mask.png"),
            "prompt": json.loads((folder / "prompts.json").read_text())["beach"],
            "output_path": "{{ params.output_dir }}/beach_inpainted.png",
        }

    # [END howto_decorator_vyro_one_item]

    # [START howto_decorator_vyro_batch]

    @task.vyro(operation="text_to_image", max_concurrency=4, max_calls=10, overwrite=False)
    def generate(params: dict[str, Any] | None = None) -> list[dict[str, str]]:
        assert params is not None
        return [
            {
                "prompt": prompt,
                "style": "flux-schnell",
                "output_path": f"{{{{ params.output_dir }}}}/{n:03d}.png",
            }
            for n, prompt in enumerate(params["prompts"])
        ]

    # [END howto_decorator_vyro_batch]

    @task
    def report(inpainted: str, generated: list[dict[str, Any]]) -> dict[str, Any]:
        return {"inpainted": inpainted, "generated": [r["output_path"] for r in generated]}

    report(inpaint_beach()["output_path"], generate())


example_vyro_taskflow()
