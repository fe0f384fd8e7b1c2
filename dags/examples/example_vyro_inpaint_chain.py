"""
Two inpaint steps in sequence: the second paints over the first one's output.

The second task's ``image_path`` is ``first.output["output_path"]``, the XCom the first pushes.
"""

# mypy: disable-error-code="index,arg-type"
# (TaskFlow hands an XComArg where mypy sees the task function's return type.)

from __future__ import annotations

import os

from airflow.providers.common.compat.sdk import dag
from vyro_example_pairs import DATA, OUTPUT_DIR, START, TAGS

from airflow_provider_vyro.operators.inpaint import InpaintOperator


@dag(schedule=None, start_date=START, tags=TAGS)
def example_vyro_inpaint_chain() -> None:
    """Remove the ball, then paint the same area again with another prompt."""
    first = InpaintOperator(
        task_id="remove_ball",
        image_path=str(DATA / "beach.jpg"),
        mask_path=str(DATA / "beach_mask.png"),
        prompt="smooth sand where the ball was",
        output_path=os.path.join(OUTPUT_DIR, "chain", "step1.png"),
    )
    InpaintOperator(
        task_id="add_shell",
        image_path=first.output["output_path"],
        mask_path=str(DATA / "beach_mask.png"),
        prompt="a large sea shell on the sand",
        output_path=os.path.join(OUTPUT_DIR, "chain", "step2.png"),
    )


example_vyro_inpaint_chain()
