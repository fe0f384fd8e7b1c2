"""
What the end-to-end run triggers and what it expects: one :class:`Case` per DAG run.

Adding a DAG to the run is one entry of :data:`CASES`. String values in ``conf``, ``outputs``
and ``xcoms`` may use these placeholders, filled in per run:

``{out}``
    a local folder of the scratch directory (``VYRO_EXAMPLES_OUTPUT_DIR`` points there too);
``{bucket}``
    the S3 bucket seeded with every file of ``dags/examples/data`` under ``in/``;
``{worker_disk}``
    a folder that each Celery worker sees as its own private disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_type_hints

from airflow_provider_vyro.item import InpaintXCom

if TYPE_CHECKING:
    from collections.abc import Mapping

Executor = Literal["local", "celery"]
BOTH: frozenset[Executor] = frozenset({"local", "celery"})
LOCAL: frozenset[Executor] = frozenset({"local"})
CELERY: frozenset[Executor] = frozenset({"celery"})

XCOM_SHAPE: dict[str, type] = get_type_hints(InpaintXCom)
"""The keys and types of an inpaint result dict (:class:`~airflow_provider_vyro.item.InpaintXCom`)."""


@dataclass(frozen=True)
class Results:
    """
    Where a case's inpaint result dicts are: the ``return_value`` XCom of ``task_id``.

    :param task_id: the task.
    :param kind: ``single`` (one dict), ``mapped`` (one dict per map index) or ``list`` (one
        XCom holding a list of dicts, as a batch task returns).
    :param count: how many dicts in all.
    """

    task_id: str
    kind: Literal["single", "mapped", "list"] = "single"
    count: int = 1


@dataclass(frozen=True)
class Triggered:
    """
    A DAG that a case's run must start by itself: scheduled on the asset events the run adds.

    Exactly one new run of it must appear after the case's run (``run_type`` ``asset_triggered``)
    and succeed. Its ``task_id`` returns one dict per image it was told about, with the asset
    ``uri``, the ``path`` and the event's ``extra``; the URIs must be ``uris`` exactly, and each
    extra must match the case's result dict of that ``path`` (sha256, bytes, width, height).

    :param dag_id: the DAG scheduled on the assets.
    :param task_id: its task that returns what the triggering events said.
    :param uris: the asset URIs it must have received (placeholders allowed).
    """

    dag_id: str
    task_id: str
    uris: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """
    A person's answer to a human-in-the-loop task, sent through the REST API once the task waits.

    :param task_id: the waiting task.
    :param chosen_options: the options chosen.
    :param params_input: the form's values.
    """

    task_id: str
    chosen_options: tuple[str, ...]
    params_input: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """
    One DAG run of the end-to-end check, and everything asserted about it.

    :param name: a unique label (also part of the run id).
    :param dag_id: the DAG to unpause and trigger.
    :param calls: inpaint requests the emulator must receive during the run, exactly (the least
        of them when ``calls_at_most`` is set).
    :param calls_at_most: the most inpaint requests the run may make (a run whose task is killed
        re-pays what was in flight); ``None``: exactly ``calls``.
    :param executors: the ``--executor`` values that run this case.
    :param conf: the run's ``conf`` (placeholders allowed in string values).
    :param logical_date: the run's logical date (ISO 8601, UTC), or ``None``.
    :param results: the tasks whose ``return_value`` holds inpaint result dicts. Each dict must
        have the keys and types of ``XCOM_SHAPE``, and its ``output_path`` must hold a PNG of that
        width, height, size and sha256 (read from local disk or from S3).
    :param outputs: the ``output_path`` values expected across all ``results``, exactly.
    :param xcoms: other tasks' expected ``return_value``, exactly.
    :param state: the run's expected final state.
    :param task_states: expected final state of some tasks (any map index).
    :param log_contains: per task id, text its log must contain (first try).
    :param dag_file: for a DAG another change adds: the case runs only if this file exists
        under ``dags/examples/``.
    :param triggers: DAGs this run must start through asset events. Such cases run after all
        others, once the driver has paused every DAG and let the scheduler create runs by itself.
    :param videos: the task whose ``return_value`` holds video result dicts and how many (one per
        map index): each must be ``MP4``, submitted once, and name a complete MP4 of that sha256.
    :param video_duration: seconds the emulator's video jobs of this run take.
    :param watch: what the driver does while the run goes (a key of :data:`e2e.videos.WATCHERS`).
    :param answers: answers to the run's human-in-the-loop tasks, given while the run waits.
    """

    name: str
    dag_id: str
    calls: int
    calls_at_most: int | None = None
    executors: frozenset[Executor] = BOTH
    conf: Mapping[str, Any] = field(default_factory=dict)
    logical_date: str | None = None
    results: tuple[Results, ...] = ()
    outputs: tuple[str, ...] = ()
    xcoms: Mapping[str, Any] = field(default_factory=dict)
    state: str = "success"
    task_states: Mapping[str, str] = field(default_factory=dict)
    log_contains: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    dag_file: str | None = None
    triggers: tuple[Triggered, ...] = ()
    videos: tuple[str, int] | None = None
    video_duration: float | None = None
    watch: str | None = None
    answers: tuple[Answer, ...] = ()


S3_CONF = {"input_dir": "s3://{bucket}/in", "storage_conn_id": "aws_default"}
SCENES = ("beach", "lake", "meadow")

KILL_ITEMS = 30
"""Items of the batch whose task is killed halfway (two calls in flight)."""


def kill_case(how: str, executors: frozenset[Executor], conf: Mapping[str, Any]) -> Case:
    """
    Give the case of a batch of :data:`KILL_ITEMS` whose task is killed halfway and retried.

    The killing and its own checks are in :mod:`e2e.kills`.

    :param how: ``sigkill`` or ``sigterm``.
    :param executors: where it runs.
    :param conf: where the inputs and outputs are.
    """
    suffix = "-s3" if str(conf.get("output_dir", "")).startswith("s3://") else ""
    return Case(
        name=f"kill-{how}{suffix}",
        dag_id="e2e_vyro_kill",
        executors=executors,
        conf={"count": KILL_ITEMS, **conf},
        results=(Results("batch", "list", KILL_ITEMS),),
        calls=KILL_ITEMS,
        calls_at_most=KILL_ITEMS + 2,
        watch=f"{how}-halfway",
    )


def scenes_case(dag: Literal["mapped", "batch"], s3: bool) -> Case:
    """
    ``example_vyro_inpaint_<dag>`` over the three scenes, on local disk or in S3.

    On local disk under the local executor; from and to S3 under both (named ``<dag>-s3``).

    :param dag: ``mapped`` (one task instance per scene) or ``batch`` (one task for all of them).
    :param s3: read the inputs from and write the outputs to the bucket.
    """
    out = f"s3://{{bucket}}/out/{dag}" if s3 else f"{{out}}/{dag}"
    return Case(
        name=f"{dag}-s3" if s3 else dag,
        dag_id=f"example_vyro_inpaint_{dag}",
        dag_file="example_vyro_inpaint_batch.py" if dag == "batch" else None,
        executors=BOTH if s3 else LOCAL,
        conf={**S3_CONF, "output_dir": out} if s3 else {"output_dir": out},
        results=(Results("inpaint", "mapped" if dag == "mapped" else "list", 3),),
        outputs=tuple(f"{out}/{scene}.png" for scene in SCENES),
        xcoms={"summarise": {"images": 3, "inpainted": 3, "kept": 0}},
        calls=3,
    )


CASES: tuple[Case, ...] = (
    Case(
        name="inpaint",
        dag_id="example_vyro_inpaint",
        executors=LOCAL,
        conf={"output_dir": "{out}/inpaint"},
        results=(Results("inpaint"),),
        outputs=("{out}/inpaint/beach_inpainted.png",),
        xcoms={"report": "{out}/inpaint/beach_inpainted.png"},
        calls=1,
    ),
    Case(
        name="chain",
        dag_id="example_vyro_inpaint_chain",
        executors=LOCAL,
        results=(Results("remove_ball"), Results("add_shell")),
        outputs=("{out}/chain/step1.png", "{out}/chain/step2.png"),
        calls=2,
    ),
    Case(
        name="s3",
        dag_id="example_vyro_inpaint_s3",
        logical_date="2026-11-20T00:00:00Z",
        results=(Results("inpaint"),),
        outputs=("s3://{bucket}/out/2026-11-20/beach.png",),
        calls=1,
    ),
    *(scenes_case(dag, s3) for dag in ("mapped", "batch") for s3 in (False, True)),
    Case(
        name="generative-fill-s3",
        dag_id="example_vyro_generative_fill_s3",
        executors=LOCAL,
        logical_date="2026-11-21T00:00:00Z",
        conf={"bucket": "{bucket}"},
        task_states={"fill": "success"},
        calls=1,
    ),
    Case(
        name="generate-then-edit",
        dag_id="example_vyro_generate_then_edit",
        executors=LOCAL,
        task_states={"generate": "success", "add_cabin": "success"},
        calls=2,
    ),
    Case(
        name="ai-background",
        dag_id="example_vyro_ai_background",
        executors=LOCAL,
        conf={"output_dir": "{out}/ai-background"},
        task_states={"background": "success"},
        calls=1,
    ),
    Case(
        name="text-to-image-batch",
        dag_id="example_vyro_text_to_image_batch",
        executors=LOCAL,
        conf={"output_dir": "{out}/generated"},
        task_states={"generate": "success"},
        calls=3,
    ),
    Case(
        name="taskflow",
        dag_id="example_vyro_taskflow",
        executors=LOCAL,
        conf={"output_dir": "{out}/taskflow"},
        results=(Results("inpaint_beach"),),
        task_states={"generate": "success"},
        xcoms={
            "report": {
                "inpainted": "{out}/taskflow/beach_inpainted.png",
                "generated": ["{out}/taskflow/000.png", "{out}/taskflow/001.png"],
            }
        },
        calls=3,
    ),
    Case(
        name="video",
        dag_id="example_vyro_video",
        executors=LOCAL,
        conf={"output_dir": "{out}/video"},
        task_states={"video": "success", "summarise": "success"},
        videos=("video", 3),
        video_duration=10,
        calls=3,
    ),
    Case(
        name="video-slot",
        dag_id="e2e_vyro_video_slot",
        conf={"output_dir": "{out}/video-slot", "hold_seconds": 20},
        task_states={"video": "success", "hold_slot": "success"},
        videos=("video", 1),
        video_duration=8,
        watch="deferred-while-slot-taken",
        calls=1,
    ),
    Case(
        name="video-triggerer-restart",
        dag_id="e2e_vyro_video_slot",
        conf={"output_dir": "{out}/video-restart", "hold_seconds": 0},
        task_states={"video": "success", "hold_slot": "success"},
        videos=("video", 1),
        video_duration=30,
        watch="triggerer-restarted",
        calls=1,
    ),
    Case(
        name="review",
        dag_id="example_vyro_review",
        dag_file="example_vyro_review.py",
        executors=LOCAL,
        conf={"output_dir": "{out}/review"},
        answers=(
            Answer("review", ("OK",), {"image_0": "approve", "image_1": "reject", "image_2": "approve"}),
        ),
        task_states={"generate": "success", "review": "success", "publish": "success"},
        xcoms={"publish": ["{out}/review/published/000.png", "{out}/review/published/002.png"]},
        calls=3,
    ),
    *(
        Case(
            name=name,
            dag_id="example_vyro_product_photos",
            dag_file="example_vyro_product_photos.py",
            conf={
                "raw_dir": "s3://{bucket}/in/shop/raw",
                "output_dir": "s3://{bucket}/out/shop",
                "storage_conn_id": "aws_default",
            },
            task_states={"cut_out": "success", "new_background": "success", "publish": "success"},
            calls=calls,
        )
        # three photos, three calls each; the re-run keeps every output (overwrite=False) and pays nothing
        for name, calls in (("product-photos", 9), ("product-photos-rerun", 0))
    ),
    Case(
        name="assets",
        dag_id="example_vyro_asset_producer",
        dag_file="example_vyro_assets.py",
        conf={"output_dir": "s3://{bucket}/out/assets", "storage_conn_id": "aws_default"},
        results=(Results("inpaint", "list", 2),),
        outputs=("s3://{bucket}/out/assets/beach.png", "s3://{bucket}/out/assets/lake.png"),
        triggers=(
            Triggered(
                "example_vyro_asset_consumer",
                "new_images",
                ("s3://{bucket}/out/assets/beach.png", "s3://{bucket}/out/assets/lake.png"),
            ),
        ),
        calls=2,
    ),
    Case(
        name="local-path-across-workers",
        dag_id="e2e_vyro_local_path_across_workers",
        executors=CELERY,
        conf={"local_dir": "{worker_disk}"},
        state="failed",
        task_states={"on_worker_a": "success", "on_worker_b": "failed"},
        log_contains={"on_worker_b": ("VyroInputError", "image_path", "does not exist")},
        calls=1,
    ),
    kill_case("sigkill", LOCAL, {"output_dir": "{out}/kill-sigkill"}),
    kill_case("sigterm", LOCAL, {"output_dir": "{out}/kill-sigterm"}),
    kill_case("sigkill", CELERY, {**S3_CONF, "output_dir": "s3://{bucket}/out/kill-sigkill"}),
    kill_case("sigterm", CELERY, {**S3_CONF, "output_dir": "s3://{bucket}/out/kill-sigterm"}),
)
