"""
What every Vyro operator shares: the common arguments, and running items through the runner.

An operation's operators are thin: :class:`VyroItemOperator` (one image: a run of one item)
and :class:`VyroBatchOperator` (many images in one task), each told its catalogue entry and the
item it builds from its own arguments. Checking, keeping, calling, writing, cancelling and
reporting happen in :mod:`airflow_provider_vyro.runner` and :mod:`airflow_provider_vyro.item`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperator, XComArg

from airflow_provider_vyro import assets
from airflow_provider_vyro.credits import check_max_credits
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.run_limits import MAX_ITEMS_WITHOUT_MANIFEST, check_run_arguments
from airflow_provider_vyro.ui.links import EXTRA_LINKS
from airflow_provider_vyro.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from airflow.providers.common.compat.sdk import Context
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_vyro.catalogue import Endpoint
    from airflow_provider_vyro.runner import Runner, RunReport


def refuse_xcomargs(operator: str, **values: Any) -> None:
    """
    Refuse an XComArg given for an argument that is not templated (it would be used as is).

    :param operator: the operator's class name, for the message.
    :param values: the arguments to look at, by name.
    :raises ValueError: naming the first such argument.
    """
    for name, value in values.items():
        if isinstance(value, XComArg):
            raise ValueError(
                f"{operator}: {name} is not templated, so it cannot take an XComArg (the output of "
                "another task); pass a plain value"
            )


NONE_XCOM_REFUSED = AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS
"""
Airflow 3.0's execution API refuses an XCom whose value is ``None`` (``multiple_outputs`` would
fail the task on e.g. ``credits``): there the operators push each key that has a value themselves.
"""


def keys_as_xcoms(kwargs: dict[str, Any]) -> bool:
    """
    Default ``multiple_outputs`` to on; tell whether the operator must push the keys itself instead.

    :param kwargs: the operator's keyword arguments, updated in place.
    """
    push_keys = NONE_XCOM_REFUSED and "multiple_outputs" not in kwargs
    kwargs.setdefault("multiple_outputs", not push_keys)
    return push_keys


def push_each_key(context: Context, result: dict[str, Any]) -> None:
    """
    Push each key of a result that has a value as its own XCom.

    :param context: the task's context.
    :param result: the dict the task returns.
    """
    push = getattr(context.get("ti"), "xcom_push", None)
    if push is not None:
        for key, value in result.items():
            if value is not None:
                push(key=key, value=value)


class VyroBaseOperator(BaseOperator):
    """
    Base of every Vyro operator: the common arguments and the run.

    :param vyro_conn_id: the :ref:`Vyro connection <howto/connection:vyro>` holding the token.
    :param storage_conn_id: connection for remote paths (e.g. an ``aws`` connection), handed to
        ``ObjectStoragePath``; ``None`` or empty uses the scheme's default connection. (templated)
    :param overwrite: replace existing outputs. If ``False``, an output that exists as a complete
        image whose checksums are right is kept, no call is made, and it is reported with
        ``skipped: True``. Whatever this says, a task retry never pays again for an output an
        earlier try of the same DAG run wrote.
    :param asset_alias: a name: each output the task writes is announced as an asset event
        through ``AssetAlias(asset_alias)``, which the task declares among its outlets, so a
        DAG scheduled on the alias runs on the new images (see :doc:`/data-aware`).
    :param max_credits: the most credits the task may spend, retries included (a positive number;
        ``None``: no limit). The planned calls are priced before any request and the task fails
        with ``VyroBudgetError`` if they cost more; the run stops sending when the next request
        would pass it. Every call's cost must be known: the catalogue's, or the connection extra
        ``credit_costs`` (see :doc:`/cost`).
    :param endpoint: a path after the base URL that replaces the operation's, starting with
        ``/v1/`` or ``/v2/`` (it decides the auth header), e.g. to follow a change of the API
        without waiting for a release; the network policy is the same. ``None``: the operation's.
    :param extra_fields: text fields to send with every call besides the operation's own, by name
        (strings, or whole numbers sent as their digits), unchecked; a name the operation sets
        itself is refused. The log names the keys, never the values. ``None``: none.
    """

    endpoint: ClassVar[Endpoint]
    """The catalogue entry of the operation (see :meth:`operation_endpoint`)."""

    item_limit: ClassVar[int] = MAX_ITEMS_WITHOUT_MANIFEST
    """The most items returned through XCom; a larger batch needs ``manifest_path``."""

    operator_extra_links = EXTRA_LINKS

    def __init__(
        self,
        *,
        vyro_conn_id: str = "vyro_default",
        storage_conn_id: str | None = None,
        overwrite: bool = True,
        asset_alias: str | None = None,
        max_credits: float | None = None,
        endpoint: str | None = None,
        extra_fields: dict[str, str | int] | None = None,
        **kwargs: Any,
    ) -> None:
        refuse_xcomargs(
            type(self).__name__,
            vyro_conn_id=vyro_conn_id,
            overwrite=overwrite,
            asset_alias=asset_alias,
            max_credits=max_credits,
            endpoint=endpoint,
            extra_fields=extra_fields,
        )
        kwargs["outlets"] = assets.declare_alias(asset_alias, kwargs.get("outlets"))
        super().__init__(**kwargs)
        if not isinstance(vyro_conn_id, str) or not vyro_conn_id:
            raise ValueError(f"vyro_conn_id must be a connection id, got {vyro_conn_id!r}")
        self.vyro_conn_id = vyro_conn_id
        self.storage_conn_id = storage_conn_id
        self.overwrite = bool(overwrite)
        self.asset_alias = asset_alias
        self.max_credits = check_max_credits(max_credits)
        self.endpoint_path = endpoint
        self.extra_fields = extra_fields
        self._runner: Runner | None = None
        self._vyro_results: list[dict[str, Any]] = []

    def operation_endpoint(self) -> Endpoint:
        """Give the catalogue entry this task calls (an operator whose arguments choose it overrides this)."""
        return self.endpoint

    def call_endpoint(self) -> Endpoint:
        """
        Give the endpoint this task calls: the operation's, with ``endpoint`` and ``extra_fields`` applied.

        :raises VyroInputError: naming ``endpoint`` or ``extra_fields``.
        """
        from airflow_provider_vyro.checks import endpoint_overrides

        operation = self.operation_endpoint()
        called = endpoint_overrides(operation, self.endpoint_path, self.extra_fields)
        if called.path != operation.path:
            self.log.info(
                "%s: calling %s instead of %s (endpoint)", operation.operation, called.path, operation.path
            )
        if self.extra_fields:
            self.log.info(
                "%s: sending extra fields %s, unchecked", operation.operation, sorted(self.extra_fields)
            )
        return called

    def run_items(
        self,
        context: Context,
        entries: Sequence[Mapping[str, Any]],
        *,
        batch: bool,
        max_concurrency: int = 1,
        progress_interval: float = 5.0,
        max_calls: int | None = None,
        manifest_path: str | None = None,
    ) -> RunReport:
        """
        Run ``entries`` through the runner with this operator's arguments; raise as the runner does.

        :param context: the task's context (its DAG run and task instance name the ledger).
        :param entries: the items' arguments.
        :param batch: report by item and end with ``VyroBatchError`` (else raise the item's error).
        :param max_concurrency: calls in flight at once.
        :param progress_interval: seconds between progress lines.
        :param max_calls: the most requests, retries included.
        :param manifest_path: where to write one JSON line per item.
        """
        from airflow_provider_vyro.hooks.vyro import VyroHook
        from airflow_provider_vyro.ledger import RunKey
        from airflow_provider_vyro.runner import Runner, RunOptions

        if manifest_path is not None and (not isinstance(manifest_path, str) or not manifest_path.strip()):
            if manifest_path == "":
                manifest_path = None
            else:
                raise VyroInputError("manifest_path", f"expected a path or URI string, got {manifest_path!r}")
        try_number = getattr(context.get("ti"), "try_number", None)
        options = RunOptions(
            storage_conn_id=self.storage_conn_id or None,
            overwrite=self.overwrite,
            max_concurrency=max_concurrency,
            progress_interval=progress_interval,
            max_calls=max_calls,
            max_credits=self.max_credits,
            try_number=try_number if isinstance(try_number, int) else 1,
            manifest_path=manifest_path,
            run_key=RunKey.from_context(context),
            item_limit=self.item_limit,
            batch=batch,
        )
        conn_id = self.vyro_conn_id

        def connect(before_request: Callable[[], None]) -> VyroHook:
            return VyroHook(vyro_conn_id=conn_id, pool_maxsize=max_concurrency, before_request=before_request)

        self._runner = Runner(self.call_endpoint(), connect, options, self.log)
        report = self._runner.run(entries)
        self._vyro_results = report.announced()
        assets.emit(
            context,
            self.asset_alias,
            self._vyro_results,
            storage_conn_id=self.storage_conn_id,
            announced=_all,
        )
        return report

    def run_one(self, context: Context, values: Mapping[str, Any]) -> dict[str, Any]:
        """
        Run one item (its own errors raised as they are) and give its dict.

        :param context: the task's context.
        :param values: the item's arguments.
        """
        report = self.run_items(context, [values], batch=False)
        (record,) = report.records()
        if record["skipped"]:
            self.log.info("Kept %s (no call)", record["output_path"])
        else:
            self.log.info(
                "Wrote %s (%dx%d, %d bytes, sha256 %s, %d attempt(s))",
                record["output_path"],
                record["width"],
                record["height"],
                record["bytes"],
                record["sha256"][:12],
                record["attempts"],
            )
        return record

    def run_many(
        self,
        context: Context,
        entries: Sequence[Mapping[str, Any]],
        *,
        max_concurrency: int,
        progress_interval: float,
        max_calls: int | None,
        manifest_path: str | None,
    ) -> list[dict[str, Any]] | dict[str, Any]:
        """
        Run many items as a batch; give their dicts in input order (or the summary, with a manifest).

        :param context: the task's context.
        :param entries: the items' arguments.
        :param max_concurrency: calls in flight at once.
        :param progress_interval: seconds between progress lines.
        :param max_calls: the most requests, retries included.
        :param manifest_path: where to write one JSON line per item.
        """
        report = self.run_items(
            context,
            entries,
            batch=True,
            max_concurrency=max_concurrency,
            progress_interval=progress_interval,
            max_calls=max_calls,
            manifest_path=manifest_path,
        )
        if report.manifest_path is not None:
            return report.summary()
        return report.records()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any]:
        """
        Report the inputs read and the outputs written, as OpenLineage datasets.

        Called by the OpenLineage listener only when it is installed.

        :param task_instance: the finished task instance (unused: the operator kept its results).
        """
        from airflow_provider_vyro.openlineage import operator_lineage

        return operator_lineage(self._vyro_results, storage_conn_id=self.storage_conn_id, announced=_all)

    def on_kill(self) -> None:
        """Stop the run: no new call, retry waits end, hung calls are abandoned, temporary files removed."""
        if self._runner is not None:
            self._runner.cancel()


class VyroItemOperator(VyroBaseOperator):
    """
    One image: a run of one item. Subclasses build the item from their arguments (:meth:`item`).

    The return value is the item's dict; each key is also pushed as its own XCom, so
    ``task.output["output_path"]`` can feed a later task.
    """

    def __init__(self, **kwargs: Any) -> None:
        push_keys = keys_as_xcoms(kwargs)
        super().__init__(**kwargs)
        self.push_keys = push_keys

    def item(self) -> dict[str, Any]:
        """Give the item's arguments, from the operator's (rendered) arguments."""
        raise NotImplementedError

    def execute(self, context: Context) -> dict[str, Any]:
        """Check the inputs, make the call unless the output is kept, and return the item's dict."""
        result = self.run_one(context, self.item())
        if self.push_keys:
            push_each_key(context, result)
        return result


class VyroBatchOperator(VyroBaseOperator):
    """
    Many images of one operation in one task, ``max_concurrency`` calls in flight.

    :param items: list of dicts, one per image, with the keys the single-image operator takes as
        arguments. (templated)
    :param max_concurrency: calls in flight at once, 1 to 64.
    :param max_calls: the most requests the task may send, retries included; the task fails with
        ``VyroBudgetError`` before any request if the items need more, and stops sending when
        the calls made reach it. ``None``: no limit.
    :param manifest_path: write one JSON line per item there (local path or object-storage URI)
        and return a small summary instead of the list; required above ``item_limit`` items
        (1000). Written also when the run fails. (templated)
    :param progress_interval: seconds between progress lines in the task log (> 0).
    """

    def __init__(
        self,
        *,
        items: Any,
        max_concurrency: int = 8,
        max_calls: int | None = None,
        manifest_path: str | None = None,
        progress_interval: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        refuse_xcomargs(
            type(self).__name__,
            max_concurrency=max_concurrency,
            max_calls=max_calls,
            progress_interval=progress_interval,
        )
        check_run_arguments(
            max_concurrency=max_concurrency, progress_interval=progress_interval, max_calls=max_calls
        )
        self.items = items
        self.max_concurrency = max_concurrency
        self.max_calls = max_calls
        self.manifest_path = manifest_path
        self.progress_interval = progress_interval

    def defaults(self) -> dict[str, Any]:
        """Give the values an item takes when it has no value of its own (the operator-level ones)."""
        return {}

    def entry(self, index: int, values: Any) -> Any:
        """
        Give an item's arguments as the runner takes them (after :meth:`defaults` were merged in).

        :param index: the item's position.
        :param values: the item as given, with the defaults merged in when it is a dict.
        """
        return values

    def execute(self, context: Context) -> list[dict[str, Any]] | dict[str, Any]:
        """Check every item, make the calls, and return the dicts in input order (or a summary)."""
        entries = self.items
        if not isinstance(entries, list | tuple):
            raise VyroInputError("items", f"expected a list of dicts, got {type(entries).__name__}")
        defaults = {k: v for k, v in self.defaults().items() if v is not None}
        merged = [
            self.entry(i, {**defaults, **e} if isinstance(e, dict) else e) for i, e in enumerate(entries)
        ]
        return self.run_many(
            context,
            merged,
            max_concurrency=self.max_concurrency,
            progress_interval=self.progress_interval,
            max_calls=self.max_calls,
            manifest_path=self.manifest_path,
        )


__all__ = ["VyroBaseOperator", "VyroBatchOperator", "VyroItemOperator", "refuse_xcomargs"]


def _all(result: Mapping[str, Any]) -> bool:
    """Announce every result handed over: the runner already kept only those this DAG run wrote."""
    return True
