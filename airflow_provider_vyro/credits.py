"""
What a call costs in credits, and the budget of a run: its calls and its credits.

The catalogue holds the documented cost of each operation
(:attr:`~airflow_provider_vyro.catalogue.Endpoint.credit_cost`); the connection extra
``credit_costs`` adds or overrides costs for a user's plan, keyed ``operation`` or
``operation:value`` (the value of the field the cost depends on, the style for text to image).
:class:`Budget` keeps ``max_calls`` and ``max_credits`` of one run: every request, retries
included, is counted and charged before it is sent.

This module imports nothing heavy: operators check ``max_credits`` with it at DAG-parse time.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from airflow_provider_vyro.catalogue import ENDPOINTS, GENERIC_OPERATION, JOB_ENDPOINTS
from airflow_provider_vyro.exceptions import VyroBudgetError, VyroInputError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_vyro.catalogue import Endpoint

NO_COSTS: Mapping[str, float] = MappingProxyType({})
"""No configured costs: the catalogue's alone."""


def check_max_credits(value: Any) -> float | None:
    """
    Check ``max_credits``: ``None`` or a positive number.

    :param value: the argument given.
    :raises VyroInputError: on ``max_credits`` otherwise.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise VyroInputError("max_credits", f"must be None or a positive number of credits, got {value!r}")
    return float(value) if isinstance(value, float) else value


def read_credit_costs(raw: Any, *, conn_id: str | None = None) -> Mapping[str, float]:
    """
    Read the connection extra ``credit_costs``: a JSON object of non-negative numbers by operation.

    :param raw: the extra's value (a dict, its JSON text, or ``None``/empty for none).
    :param conn_id: the connection, for the message.
    :raises VyroInputError: on ``vyro_conn_id`` naming ``credit_costs`` if it is malformed.
    """
    from airflow_provider_vyro.network import connection_problem

    if raw is None or raw == "":
        return NO_COSTS
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise connection_problem(
                conn_id, f"its extra 'credit_costs' must be a JSON object, got {raw!r}"
            ) from None
    if not isinstance(raw, dict):
        raise connection_problem(
            conn_id, f"its extra 'credit_costs' must be an object such as {{'inpaint': 2}}, got {raw!r}"
        )
    known = {*ENDPOINTS, *JOB_ENDPOINTS, GENERIC_OPERATION}
    costs: dict[str, float] = {}
    for key, cost in raw.items():
        operation = str(key).split(":", 1)[0]
        if operation not in known:
            raise connection_problem(
                conn_id,
                f"its extra 'credit_costs' names an unknown operation {key!r}; "
                f"known: {', '.join(sorted(known))}",
            )
        if isinstance(cost, bool) or not isinstance(cost, int | float) or cost < 0:
            raise connection_problem(
                conn_id, f"its extra 'credit_costs' must give a non-negative number for {key!r}, got {cost!r}"
            )
        costs[str(key)] = cost
    return MappingProxyType(costs)


def price(
    endpoint: Endpoint, fields: Mapping[str, str], costs: Mapping[str, float] = NO_COSTS
) -> float | None:
    """
    Give the cost of one call in credits, or ``None`` when neither the connection nor the catalogue knows it.

    :param endpoint: the operation.
    :param fields: the text fields sent.
    :param costs: the connection's ``credit_costs`` (:func:`read_credit_costs`).
    """
    operation = endpoint.operation
    by_field = endpoint.credit_cost.by_field
    if by_field is not None:
        spec = endpoint.text_field(by_field)
        value = fields.get(by_field) or (spec.default if spec is not None else None)
        if value and f"{operation}:{value}" in costs:
            return costs[f"{operation}:{value}"]
    if operation in costs:
        return costs[operation]
    return endpoint.cost(fields)


def unknown_cost(endpoint: Endpoint, fields: Mapping[str, str]) -> VyroInputError:
    """
    Give the error of a call whose cost is unknown under ``max_credits``.

    :param endpoint: the operation.
    :param fields: the text fields sent.
    """
    by_field = endpoint.credit_cost.by_field
    key = endpoint.operation
    if by_field is not None and fields.get(by_field):
        key += f":{fields[by_field]}"
    return VyroInputError(
        "max_credits",
        f"the cost of {endpoint.operation!r} is not known, so it cannot run under max_credits: set it "
        f"in the connection extra 'credit_costs', e.g. {{{json.dumps(key)}: 2}} (nothing was sent)",
    )


def price_within(
    max_credits: float | None, endpoint: Endpoint, fields: Mapping[str, str], costs: Mapping[str, float]
) -> float | None:
    """
    Give the cost of one call (:func:`price`); under ``max_credits`` it must be known and within it.

    :param max_credits: the budget, or ``None``.
    :param endpoint: the operation.
    :param fields: the text fields sent.
    :param costs: the connection's ``credit_costs``.
    :raises VyroInputError: if the cost is unknown under ``max_credits`` (:func:`unknown_cost`).
    :raises VyroBudgetError: if the call alone costs more than ``max_credits``.
    """
    cost = price(endpoint, fields, costs)
    if max_credits is not None:
        if cost is None:
            raise unknown_cost(endpoint, fields)
        Budget(max_credits=max_credits).plan(1, cost)
    return cost


def show(credits: float) -> str:
    """Give a number of credits as a person reads it (``4``, ``2.5``)."""
    return f"{credits:g}"


@dataclass
class Spent:
    """
    What a run has sent so far.

    :param calls: requests sent, retries included.
    :param retries: of those, the ones that repeated an item's call.
    :param credits: the known cost of the requests sent.
    """

    calls: int = 0
    retries: int = 0
    credits: float = 0


class Budget:
    """
    The calls and credits one run may spend, charged before every request (retries included).

    :param max_calls: the most requests; ``None``: no limit.
    :param max_credits: the most credits (a ceiling: a run whose cost equals it runs); ``None``: no limit.
    """

    def __init__(self, max_calls: int | None = None, max_credits: float | None = None) -> None:
        self.max_calls = max_calls
        self.max_credits = max_credits
        self.spent = Spent()
        self._lock = threading.Lock()

    def plan(self, calls: int, credits: float) -> None:
        """
        Refuse a plan of ``calls`` requests costing ``credits`` (known part) over the budget.

        :raises VyroBudgetError: if it needs more than ``max_calls`` or ``max_credits``.
        """
        if self.max_calls is not None and calls > self.max_calls:
            raise VyroBudgetError(
                f"the run needs {calls} calls and max_calls is {self.max_calls}; nothing was sent"
            )
        if self.max_credits is not None and credits > self.max_credits:
            raise VyroBudgetError(
                f"the run's {calls} calls cost {show(credits)} credits and max_credits is "
                f"{show(self.max_credits)}; nothing was sent"
            )

    def fits(self, calls: int, credits: float) -> bool:
        """Tell whether a plan of ``calls`` costing ``credits`` is within the budget."""
        over_calls = self.max_calls is not None and calls > self.max_calls
        return not over_calls and (self.max_credits is None or credits <= self.max_credits)

    def charge(self, cost: float | None, *, retry: bool) -> None:
        """
        Count one request about to be sent, or refuse it when the budget is spent.

        :param cost: its cost in credits (``None``: unknown, counted as nothing).
        :param retry: it repeats a call of the same item.
        :raises VyroBudgetError: if sending it would pass ``max_calls`` or ``max_credits``.
        """
        with self._lock:
            spent = self.spent
            if self.max_calls is not None and spent.calls >= self.max_calls:
                raise VyroBudgetError(
                    f"max_calls={self.max_calls} reached: {spent.calls} calls made (retries included); "
                    "the run stops sending"
                )
            if self.max_credits is not None and spent.credits + (cost or 0) > self.max_credits:
                raise VyroBudgetError(
                    f"max_credits={show(self.max_credits)} reached: {show(spent.credits)} credits spent "
                    f"by {spent.calls} calls (retries included); the run stops sending"
                )
            spent.calls += 1
            spent.retries += retry
            spent.credits += cost or 0


__all__ = [
    "NO_COSTS",
    "Budget",
    "Spent",
    "check_max_credits",
    "price",
    "price_within",
    "read_credit_costs",
    "show",
    "unknown_cost",
]
