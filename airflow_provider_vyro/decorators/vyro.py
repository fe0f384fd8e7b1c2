"""
``@task.vyro``: a TaskFlow function returns an operation's arguments, the task runs them.

The decorated function returns a dict (one item, as the operation's single-image operator takes
its arguments) or a list of dicts (a batch, run as the batch operators run theirs). Either goes
through the same runner as every operator: the checks before any request, keeping outputs,
retries, the ledger, asset events and lineage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import (
    DecoratedOperator,
    conf,
    context_merge,
    determine_kwargs,
    task_decorator_factory,
)

from airflow_provider_vyro.catalogue import ENDPOINTS, JOB_ENDPOINTS
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.operators.base import refuse_xcomargs
from airflow_provider_vyro.operators.video import DEFAULT_JOB_TIMEOUT, DEFAULT_POLL_INTERVAL, VideoRun
from airflow_provider_vyro.run_limits import check_run_arguments

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence

    from airflow.providers.common.compat.sdk import Context, TaskDecorator

    from airflow_provider_vyro.catalogue import Endpoint


def operation_endpoint(operation: Any) -> Endpoint:
    """
    Give the catalogue entry of an operation named by ``@task.vyro(operation=...)``.

    :param operation: an operation's name, as the catalogue has it (``inpaint``, ``text_to_image``, ...).
    :raises VyroInputError: naming ``operation`` and listing the known ones.
    """
    known = {**ENDPOINTS, **JOB_ENDPOINTS}
    if isinstance(operation, str) and operation in known:
        return known[operation]
    raise VyroInputError(
        "operation", f"unknown operation {operation!r}; the known ones are {', '.join(sorted(known))}"
    )


def returned_items(returned: Any) -> list[dict[str, Any]] | dict[str, Any]:
    """
    Check what a ``@task.vyro`` function returned: a dict (one item) or a list of dicts (a batch).

    :param returned: the function's return value.
    :raises VyroInputError: naming ``return_value`` (or the list's entry at fault).
    """
    if isinstance(returned, Mapping):
        return dict(returned)
    if isinstance(returned, list | tuple):
        for index, entry in enumerate(returned):
            if not isinstance(entry, Mapping):
                raise VyroInputError(
                    f"return_value[{index}]",
                    f"expected a dict of the operation's arguments, got {type(entry).__name__}",
                )
        return [dict(entry) for entry in returned]
    raise VyroInputError(
        "return_value",
        "a @task.vyro function returns a dict (one item) or a list of dicts (a batch), "
        f"got {type(returned).__name__}",
    )


class VyroDecoratedOperator(DecoratedOperator, VideoRun):
    """
    The operator behind ``@task.vyro``: calls the function, then runs the items it returned.

    A dict runs as one item, as the operation's single-image operator does, and the task returns
    its dict; with a return annotation of ``dict`` (TaskFlow's rule for ``multiple_outputs``)
    each key is also pushed as its own XCom. A list of dicts runs as a batch and the task returns
    the list (or, with ``manifest_path``, a summary). The values returned are rendered as
    templates before the checks, like the operators' templated arguments.

    :param python_callable: the decorated function.
    :param operation: the operation to run, as the catalogue names it (its ``operation`` key in
        XCom), e.g. ``inpaint`` or ``text_to_image``; any other name is refused when the DAG is
        parsed, with the list of known ones.
    :param op_args: positional arguments of the function. (templated)
    :param op_kwargs: keyword arguments of the function. (templated)
    :param max_concurrency: calls in flight at once when the function returns a list, 1 to 64.
    :param max_calls: the most requests the task may send, retries included; ``None``: no limit.
    :param manifest_path: with a list, write one JSON line per item there and return a summary;
        required above 1000 items. (templated)
    :param progress_interval: seconds between progress lines of a batch (> 0).
    :param deferrable: a video operation waits for its job in the triggerer (default: Airflow's
        ``[operators] default_deferrable``); see :doc:`/video`.
    :param poll_interval: a video operation's seconds between status calls (at least 1).
    :param job_timeout: a video operation's seconds one try waits for its job (more than 0).
    :param vyro_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param storage_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`. (templated)
    :param overwrite: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param asset_alias: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param max_credits: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param endpoint: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param extra_fields: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    """

    template_fields: Sequence[str] = (
        *DecoratedOperator.template_fields,
        "arguments",
        "storage_conn_id",
        "manifest_path",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **DecoratedOperator.template_fields_renderers,
        "arguments": "json",
    }
    custom_operator_name: str = "@task.vyro"
    overwrite_rtif_after_execution: bool = True
    ui_color = "#e8e0f4"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        operation: str,
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        max_concurrency: int = 8,
        max_calls: int | None = None,
        manifest_path: str | None = None,
        progress_interval: float = 5.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        job_timeout: float = DEFAULT_JOB_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        from airflow_provider_vyro.jobs import check_polling

        refuse_xcomargs(
            "@task.vyro",
            operation=operation,
            deferrable=deferrable,
            poll_interval=poll_interval,
            job_timeout=job_timeout,
            max_concurrency=max_concurrency,
            max_calls=max_calls,
            progress_interval=progress_interval,
        )
        operation_endpoint(operation)
        check_run_arguments(
            max_concurrency=max_concurrency, progress_interval=progress_interval, max_calls=max_calls
        )
        super().__init__(python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, **kwargs)
        self.operation = operation
        self.max_concurrency = max_concurrency
        self.max_calls = max_calls
        self.manifest_path = manifest_path
        self.progress_interval = progress_interval
        self.deferrable = bool(deferrable)
        self.poll_interval, self.job_timeout = check_polling(poll_interval, job_timeout)
        self.arguments: list[dict[str, Any]] | dict[str, Any] | None = None

    def operation_endpoint(self) -> Endpoint:
        """Give the catalogue entry of ``operation``."""
        return operation_endpoint(self.operation)

    def execute(self, context: Context) -> Any:
        """Call the function, check and render what it returned, and run it: one item, a batch, or a job."""
        items = self._call(context)
        if self.operation_endpoint().answer_kind == "job":
            if not isinstance(items, dict):
                raise VyroInputError(
                    "return_value",
                    f"{self.operation} runs one job per task: return one dict, and map the task "
                    "(.expand()) for many videos; nothing was sent",
                )
            self.arguments = self.render_template(items, context)
            return self.start_video(context)
        if isinstance(items, list):
            if self.multiple_outputs:
                raise VyroInputError(
                    "multiple_outputs",
                    "the function returned a list (a batch), which cannot be pushed key by key: annotate "
                    "its return as list[dict] (or leave multiple_outputs unset); nothing was sent",
                )
        elif self.manifest_path:
            raise VyroInputError(
                "manifest_path", "applies to a batch, but the function returned one dict; nothing was sent"
            )
        self.arguments = self.render_template(items, context)
        if isinstance(self.arguments, dict):
            return self.run_one(context, self.arguments)
        return self.run_many(
            context,
            self.arguments or [],
            max_concurrency=self.max_concurrency,
            progress_interval=self.progress_interval,
            max_calls=self.max_calls,
            manifest_path=self.manifest_path or None,
        )

    def _call(self, context: Context) -> list[dict[str, Any]] | dict[str, Any]:
        context_merge(context, self.op_kwargs)
        kwargs = determine_kwargs(self.python_callable, self.op_args, context)
        return returned_items(self.python_callable(*self.op_args, **kwargs))

    def video_arguments(self, context: Context) -> tuple[dict[str, Any], str | None]:
        """Give the arguments the function returned (called again after a deferral) and the thumbnail path."""
        if not isinstance(self.arguments, dict):
            items = self._call(context)
            self.arguments = self.render_template(items, context) if isinstance(items, dict) else {}
        values = dict(self.arguments or {})
        return values, values.pop("thumbnail_path", None)


def vyro_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """
    Make a TaskFlow function a Vyro task: ``@task.vyro(operation=..., **common arguments)``.

    The function returns the operation's arguments as a dict (one image) or a list of dicts (many
    in one task); see :class:`VyroDecoratedOperator` for the arguments the decorator takes.

    :param python_callable: the function (when used as ``@task.vyro`` without arguments).
    :param kwargs: the arguments of :class:`VyroDecoratedOperator` and of any operator.
    """
    return task_decorator_factory(
        python_callable=python_callable, decorated_operator_class=VyroDecoratedOperator, **kwargs
    )


__all__ = ["VyroDecoratedOperator", "operation_endpoint", "returned_items", "vyro_task"]
