"""
A person approves each generated image before it is published (Airflow 3.1+).

``generate`` makes a few images in one batch task; ``review`` (the standard provider's
``HITLEntryOperator``) waits for a person: its form has an approve/reject choice per image, and
its text shows each image's thumbnail and links to the full image and to the task's
"Vyro images" view; ``publish`` copies only the approved images to ``published/``.

Answer the review in the UI (the run's "Required actions"), or through the REST API:
``PATCH /api/v2/dags/example_vyro_review/dagRuns/{run_id}/taskInstances/review/-1/hitlDetails``
with ``{"chosen_options": ["OK"], "params_input": {"image_0": "approve", ...}}``.

On Airflow before 3.1 (no human-in-the-loop operators, no view) this file defines no DAG.
"""

# mypy: disable-error-code="arg-type"
# (TaskFlow hands an XComArg where mypy sees the task function's return type.)

from __future__ import annotations

import os
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task
from vyro_example_pairs import OUTPUT_DIR, START, TAGS

from airflow_provider_vyro.version_compat import AIRFLOW_V_3_1_PLUS

PROMPTS = [
    "a ceramic mug on a wooden table, morning light",
    "a ceramic mug on a marble counter, studio light",
    "a ceramic mug in the snow",
]
CHOICES = ["approve", "reject"]
PARAMS = {"output_dir": Param(os.path.join(OUTPUT_DIR, "review"), type="string")}


def review_text(generated: list[dict[str, Any]], dag_id: str, run_id: str) -> str:
    """Write the review's text: each image's thumbnail, its prompt and links to it (Markdown)."""
    from airflow_provider_vyro.ui.links import view_path
    from airflow_provider_vyro.ui.records import TaskKey
    from airflow_provider_vyro.ui.urls import file_url

    key = TaskKey(dag_id, run_id, "generate")
    lines = ["Approve or reject each image, then submit. Only approved images are published.", ""]
    for index, item in enumerate(generated):
        full = file_url("/vyro", key, index, "output")
        thumb = file_url("/vyro", key, index, "output", thumb=True)
        lines += [
            f"**image_{index}**: {item['prompt']} ([full size]({full}))",
            "",
            f"![image_{index}]({thumb})",
            "",
        ]
    lines.append(f"[All of them in the Vyro images view]({view_path(dag_id, run_id, 'generate')})")
    return "\n".join(lines)


if AIRFLOW_V_3_1_PLUS:
    from airflow.providers.standard.operators.hitl import HITLEntryOperator

    from airflow_provider_vyro.operators.generate import TextToImageBatchOperator

    @dag(schedule=None, start_date=START, tags=TAGS, params=PARAMS)
    def example_vyro_review() -> None:
        """Generate, let a person approve each image, publish the approved ones."""

        @task
        def items(params: dict[str, Any] | None = None) -> list[dict[str, str]]:
            assert params is not None
            return [
                {"prompt": prompt, "output_path": f"{params['output_dir']}/{number:03d}.png"}
                for number, prompt in enumerate(PROMPTS)
            ]

        generate = TextToImageBatchOperator(
            task_id="generate", items=items(), aspect_ratio="1:1", max_concurrency=3
        )

        @task
        def describe(generated: list[dict[str, Any]], dag_run: Any = None) -> str:
            return review_text(generated, dag_run.dag_id, dag_run.run_id)

        # [START howto_operator_vyro_review]
        review = HITLEntryOperator(
            task_id="review",
            subject="Publish these images?",
            body=describe(generate.output),
            params={
                f"image_{index}": Param("approve", enum=CHOICES, title=f"image_{index}: {prompt}")
                for index, prompt in enumerate(PROMPTS)
            },
        )

        @task
        def publish(
            generated: list[dict[str, Any]], answer: dict[str, Any], params: dict[str, Any] | None = None
        ) -> list[str]:
            from airflow_provider_vyro.storage import resolve

            assert params is not None
            decisions = answer["params_input"]
            published = []
            for index, item in enumerate(generated):
                if decisions.get(f"image_{index}") != "approve":
                    continue
                source = resolve(item["output_path"], field="output_path")
                path = f"{params['output_dir']}/published/{source.name}"
                target = resolve(path, field="output_dir")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read_bytes())
                published.append(path)
            return published

        publish(generate.output, review.output)
        # [END howto_operator_vyro_review]

    example_vyro_review()
