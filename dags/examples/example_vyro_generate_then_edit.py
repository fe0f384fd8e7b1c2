"""
Generate an image from text, then edit it: text to image feeds generative fill through XCom.

The first task's ``output_path``, ``width`` and ``height`` are XComs of their own: a small task
draws a mask of the generated image's size, and ``InpaintOperator`` fills what it covers.
"""

# mypy: disable-error-code="index,arg-type"
# (TaskFlow hands an XComArg where mypy sees the task function's return type.)

from __future__ import annotations

import os

from airflow.providers.common.compat.sdk import dag, task
from vyro_example_pairs import OUTPUT_DIR, START, TAGS

from airflow_provider_vyro.operators.generate import TextToImageOperator
from airflow_provider_vyro.operators.inpaint import InpaintOperator


@dag(schedule=None, start_date=START, tags=TAGS)
def example_vyro_generate_then_edit() -> None:
    """Generate a landscape, mask its lower middle, and fill the mask with a cabin."""
    # [START howto_operator_vyro_text_to_image]

    generate = TextToImageOperator(
        task_id="generate",
        prompt="a quiet mountain lake at dawn",
        output_path=os.path.join(OUTPUT_DIR, "generate_then_edit", "lake.png"),
        style="realistic",
        aspect_ratio="3:2",
        seed=42,
    )

    @task
    def draw_mask(width: int, height: int) -> str:
        from PIL import Image, ImageDraw

        mask = Image.new("L", (width, height), 0)
        ImageDraw.Draw(mask).ellipse((width * 3 // 8, height // 2, width * 5 // 8, height * 7 // 8), fill=255)
        path = os.path.join(OUTPUT_DIR, "generate_then_edit", "lake_mask.png")
        mask.save(path)
        return path

    InpaintOperator(
        task_id="add_cabin",
        api_version="v2",
        image_path=generate.output["output_path"],
        mask_path=draw_mask(generate.output["width"], generate.output["height"]),
        prompt="a small wooden cabin by the shore",
        output_path=os.path.join(OUTPUT_DIR, "generate_then_edit", "lake_with_cabin.png"),
    )
    # [END howto_operator_vyro_text_to_image]


example_vyro_generate_then_edit()
