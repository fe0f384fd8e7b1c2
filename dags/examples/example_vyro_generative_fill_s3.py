"""
Generative fill (the v2 successor of inpaint) on an image kept in S3, written back to S3 as WebP.

``InpaintOperator(api_version="v2")`` calls the v2 generative-fill endpoint. The output's
extension names its format: an answer in another format is converted before it is written.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import Param, dag
from vyro_example_pairs import START, TAGS

from airflow_provider_vyro.operators.inpaint import InpaintOperator


@dag(
    schedule="@daily",
    start_date=START,
    catchup=False,
    tags=TAGS,
    params={"bucket": Param("vyro-examples", type="string")},
)
def example_vyro_generative_fill_s3() -> None:
    """Read the image and mask from S3; write the filled image to a key of the run's date."""
    # [START howto_operator_vyro_generative_fill]

    InpaintOperator(
        task_id="fill",
        api_version="v2",
        image_path="s3://{{ params.bucket }}/in/beach.jpg",
        mask_path="s3://{{ params.bucket }}/in/beach_mask.png",
        prompt="a sandcastle with a small flag",
        output_path="s3://{{ params.bucket }}/out/{{ ds }}/beach_filled.webp",
        storage_conn_id="aws_default",
    )
    # [END howto_operator_vyro_generative_fill]


example_vyro_generative_fill_s3()
