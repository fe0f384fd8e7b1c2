"""
Generate one image per prompt of a list, in ONE task with several calls in flight.

``TextToImageBatchOperator`` runs its items through the same runner as every batch: each item is
checked before the first request, ``max_calls`` caps the spend, and outputs already written are
kept (``overwrite=False``), so a retry pays only for what is missing.
"""

# mypy: disable-error-code="arg-type"
# (TaskFlow hands an XComArg where mypy sees the task function's return type.)

from __future__ import annotations

import os
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task
from vyro_example_pairs import OUTPUT_DIR, START, TAGS, tally

from airflow_provider_vyro.operators.generate import TextToImageBatchOperator

PROMPTS = [
    "a red fox in fresh snow",
    "a lighthouse on a cliff at dusk",
    "a bowl of ramen, top view",
]
PARAMS = {
    "prompts": Param(PROMPTS, type="array", items={"type": "string"}),
    "output_dir": Param(os.path.join(OUTPUT_DIR, "generated"), type="string"),
}


@dag(schedule=None, start_date=START, tags=TAGS, params=PARAMS)
def example_vyro_text_to_image_batch() -> None:
    """Turn the prompts into items, generate them all in one task, then summarise."""
    # [START howto_operator_vyro_text_to_image_batch]

    @task
    def items(params: dict[str, Any] | None = None) -> list[dict[str, str]]:
        """One dict per image: prompt and output path (style, aspect_ratio, seed override the task's)."""
        assert params is not None
        return [
            {"prompt": prompt, "output_path": f"{params['output_dir']}/{number:03d}.webp"}
            for number, prompt in enumerate(params["prompts"])
        ]

    generate = TextToImageBatchOperator(
        task_id="generate",
        items=items(),
        style="flux-schnell",
        aspect_ratio="4:3",
        max_concurrency=4,
        max_calls=20,
        overwrite=False,
    )
    # [END howto_operator_vyro_text_to_image_batch]

    @task
    def summarise(results: list[dict[str, Any]]) -> dict[str, int]:
        return tally(results, "generated")

    summarise(generate.output)


example_vyro_text_to_image_batch()
