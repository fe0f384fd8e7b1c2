"""
Inpaint an image kept in S3 and write the result back to S3 under the run's date.

Inputs are read from ``s3://{bucket}/in/``; the output key is templated on ``{{ ds }}``. Remote
paths go through Airflow's ObjectStoragePath with the ``aws_default`` connection.
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
def example_vyro_inpaint_s3() -> None:
    """Read the image and mask from S3; write the PNG to a key of the run's date."""
    InpaintOperator(
        task_id="inpaint",
        image_path="s3://{{ params.bucket }}/in/beach.jpg",
        mask_path="s3://{{ params.bucket }}/in/beach_mask.png",
        prompt="smooth sand where the ball was",
        output_path="s3://{{ params.bucket }}/out/{{ ds }}/beach.png",
        storage_conn_id="aws_default",
    )


example_vyro_inpaint_s3()
