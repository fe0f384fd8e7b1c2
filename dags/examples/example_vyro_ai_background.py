"""
Put a generated background behind a product cut-out (a PNG on a transparent background).

``AIBackgroundOperator`` refuses an input without transparency before any request: the API
needs to know what is product and what is background.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import Param, dag
from vyro_example_pairs import DATA, OUTPUT_DIR, START, TAGS

from airflow_provider_vyro.operators.background import AIBackgroundOperator

PARAMS = {
    "cutout": Param(str(DATA / "bottle_cutout.png"), type="string"),
    "output_dir": Param(OUTPUT_DIR, type="string"),
}


@dag(schedule=None, start_date=START, tags=TAGS, params=PARAMS)
def example_vyro_ai_background() -> None:
    """One cut-out, one background, written as JPEG (the answer is converted if need be)."""
    # [START howto_operator_vyro_ai_background]

    AIBackgroundOperator(
        task_id="background",
        image_path="{{ params.cutout }}",
        prompt="on a marble kitchen counter, morning light",
        output_path="{{ params.output_dir }}/bottle_on_marble.jpg",
        seed=7,
    )
    # [END howto_operator_vyro_ai_background]


example_vyro_ai_background()
