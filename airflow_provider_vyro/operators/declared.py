"""
One declaration per operation makes its two operators: one image, and many in one task.

An operation's module states the item's arguments once (:class:`Declaration`). Its single-image
operator subclasses :class:`DeclaredItemOperator` and its batch operator
:class:`DeclaredBatchOperator`, each naming that declaration and giving its own description;
from the declaration each class gets its signature, its templated fields, its UI colour and the
``:param:`` lines of its docstring. Nothing here names an operation.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.operators.base import VyroBatchOperator, VyroItemOperator, refuse_xcomargs

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow_provider_vyro.catalogue import Endpoint

REQUIRED: Any = inspect.Parameter.empty
"""The default of an argument that must be given."""

_BASE = ":class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`"
_BATCH = ":class:`~airflow_provider_vyro.operators.base.VyroBatchOperator`"
_COMMON: tuple[tuple[str, bool], ...] = (
    ("vyro_conn_id", False),
    ("storage_conn_id", True),
    ("overwrite", False),
    ("asset_alias", False),
)
_BATCH_COMMON: tuple[tuple[str, bool], ...] = (
    ("max_concurrency", False),
    ("max_calls", False),
    ("manifest_path", True),
    ("progress_interval", False),
)


@dataclass(frozen=True)
class Argument:
    """
    One argument of an operation's operators: a key of its items, templated.

    :param name: the argument, as the item's key (``image_path``, ``prompt``, ...).
    :param doc: what it is, for the single-image operator's docstring.
    :param default: the single-image operator's default (:data:`REQUIRED`: none).
    :param batch_doc: the batch operator's argument of that name, the value of items that have
        none (its default is ``None``); ``None``: the batch operator has no such argument, each
        item gives its own.
    """

    name: str
    doc: str
    default: Any = REQUIRED
    batch_doc: str | None = None


@dataclass(frozen=True)
class Choice:
    """
    An argument that chooses the endpoint, neither sent nor templated (``api_version``, ``transparent``).

    It is checked when the task is built. An item key that the chosen endpoint has no field for
    (``model_version`` with v2, ``style`` when transparent) must be left at its default, and is
    not sent.

    :param name: the argument.
    :param doc: what it is, for the single-image operator's docstring.
    :param batch_doc: the same, for the batch operator's (it applies to every item).
    :param default: its default.
    :param endpoints: the endpoint of each allowed value.
    :param allowed: the allowed values in words, for the message when another is given.
    """

    name: str
    doc: str
    batch_doc: str
    default: Any
    endpoints: Mapping[Any, Endpoint]
    allowed: str

    def endpoint(self, value: Any) -> Endpoint:
        """
        Give the endpoint ``value`` chooses.

        :param value: the argument's value.
        :raises VyroInputError: naming the argument and the values allowed.
        """
        for allowed, endpoint in self.endpoints.items():
            if type(value) is type(allowed) and value == allowed:
                return endpoint
        raise VyroInputError(self.name, f"must be {self.allowed}, got {type(value).__name__} {value!r}")


@dataclass(frozen=True)
class Declaration:
    """
    An operation's two operators, declared once.

    :param endpoint: the catalogue entry (the default one, when a :class:`Choice` chooses).
    :param arguments: the item's keys, in the order of the signature.
    :param items_doc: what a batch item holds, for the batch operator's ``items``.
    :param ui_colors: the colours of the single-image and of the batch operator in the Airflow UI.
    :param choice: the argument that chooses the endpoint, if any.
    """

    endpoint: Endpoint
    arguments: tuple[Argument, ...]
    items_doc: str
    ui_colors: tuple[str, str]
    choice: Choice | None = None
    defaults: Mapping[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", {a.name: a.default for a in self.arguments})

    def batch_arguments(self) -> tuple[Argument, ...]:
        """Give the arguments the batch operator also takes, as the value of items that have none."""
        return tuple(a for a in self.arguments if a.batch_doc is not None)

    def chosen(self, value: Any) -> Endpoint:
        """
        Give the endpoint the :class:`Choice` value chooses (the only one, without a choice).

        :param value: the choice's value (ignored without a choice).
        """
        return self.endpoint if self.choice is None else self.choice.endpoint(value)

    def sendable(self, values: Mapping[str, Any], choice: Any, *, prefix: str = "") -> dict[str, Any]:
        """
        Give an item without the keys its chosen endpoint has no field for, refusing any not at its default.

        :param values: the item's arguments.
        :param choice: the choice's value.
        :param prefix: put before the key in a message (``items[3].``).
        :raises VyroInputError: naming the key.
        """
        if self.choice is None:
            return dict(values)
        endpoint = self.choice.endpoint(choice)
        kept = dict(values)
        for name in [n for n in kept if n in self.defaults and endpoint.text_field(n) is None]:
            owners = [e for e in self.choice.endpoints.values() if e.text_field(name) is not None]
            if not owners:
                continue
            value, default = kept.pop(name), self.defaults[name]
            if value not in (None, "", default):
                belongs = ", ".join(f"{e.operation} ({e.api_version})" for e in owners)
                raise VyroInputError(
                    f"{prefix}{name}",
                    f"the {endpoint.operation} endpoint has no {name} (it belongs to {belongs}); with "
                    f"{self.choice.name}={choice!r} leave {name} at its default {default!r}, got "
                    f"{value!r} (nothing was sent)",
                )
        return kept


def _param(name: str, doc: str, *, templated: bool) -> str:
    return f":param {name}: {doc}" + (" (templated)" if templated else "")


def _see(names: tuple[tuple[str, bool], ...], where: str) -> list[str]:
    return [_param(name, f"see {where}.", templated=templated) for name, templated in names]


def _finish(
    cls: type[Any],
    docs: list[str],
    parameters: list[inspect.Parameter],
    init: Callable[..., None],
) -> None:
    """Give a declared operator class its ``:param:`` lines, and an ``__init__`` with its signature."""
    cls.__doc__ = inspect.cleandoc(cls.__doc__ or "") + "\n\n" + "\n".join(docs) + "\n"

    def __init__(self: Any, **kwargs: Any) -> None:
        init(self, **kwargs)

    self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    rest = inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD, annotation=Any)
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__module__ = cls.__module__
    setattr(__init__, "__signature__", inspect.Signature([self_parameter, *parameters, rest]))  # noqa: B010
    setattr(cls, "__init__", __init__)  # noqa: B010


def _keyword(name: str, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)


def _lines(doc: str) -> str:
    """Indent the continuation lines of a doc for a ``:param:`` line."""
    return doc.replace("\n", "\n    ")


class DeclaredItemOperator(VyroItemOperator):
    """
    The single-image operator of a :class:`Declaration`: a subclass names it as ``declaration``.

    The subclass's docstring is its description; the ``:param:`` lines are added from the declaration.
    """

    declaration: ClassVar[Declaration]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declaration = cls.__dict__.get("declaration")
        if declaration is None:
            return
        cls.endpoint = declaration.endpoint
        cls.template_fields = (*(a.name for a in declaration.arguments), "storage_conn_id")
        cls.ui_color = declaration.ui_colors[0]
        docs = [_param(a.name, _lines(a.doc), templated=True) for a in declaration.arguments]
        parameters = [_keyword(a.name, a.default) for a in declaration.arguments]
        if declaration.choice is not None:
            docs.append(_param(declaration.choice.name, declaration.choice.doc, templated=False))
            parameters.append(_keyword(declaration.choice.name, declaration.choice.default))
        base_init = super(cls, cls).__init__
        _finish(cls, docs + _see(_COMMON, _BASE), parameters, lambda self, **kw: base_init(self, **kw))

    def __init__(self, **kwargs: Any) -> None:
        declaration = self.declaration
        values = {a.name: kwargs.pop(a.name, a.default) for a in declaration.arguments}
        if missing := sorted(name for name, value in values.items() if value is REQUIRED):
            raise TypeError(f"{type(self).__name__}: missing keyword argument(s) {missing}")
        choice = _take_choice(self, declaration, kwargs)
        super().__init__(**kwargs)
        for name, value in values.items():
            setattr(self, name, value)
        if declaration.choice is not None:
            setattr(self, declaration.choice.name, choice)

    def choice_value(self) -> Any:
        """Give the value of the declaration's :class:`Choice` (``None`` without one)."""
        choice = self.declaration.choice
        return None if choice is None else getattr(self, choice.name)

    def operation_endpoint(self) -> Endpoint:
        """Give the endpoint the declaration's :class:`Choice` chooses (or its only one)."""
        return self.declaration.chosen(self.choice_value())

    def item(self) -> dict[str, Any]:
        """Give the item's arguments (without those the chosen endpoint has no field for)."""
        values = {a.name: getattr(self, a.name) for a in self.declaration.arguments}
        return self.declaration.sendable(values, self.choice_value())


class DeclaredBatchOperator(VyroBatchOperator):
    """
    The batch operator of a :class:`Declaration`: a subclass names it as ``declaration``.

    The subclass's docstring is its description; the ``:param:`` lines are added from the declaration.
    """

    declaration: ClassVar[Declaration]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declaration = cls.__dict__.get("declaration")
        if declaration is None:
            return
        shared = declaration.batch_arguments()
        cls.endpoint = declaration.endpoint
        cls.template_fields = ("items", *(a.name for a in shared), "storage_conn_id", "manifest_path")
        cls.ui_color = declaration.ui_colors[1]
        docs = [_param("items", _lines(declaration.items_doc), templated=True)]
        docs += [_param(a.name, _lines(a.batch_doc or ""), templated=True) for a in shared]
        parameters = [inspect.Parameter("items", inspect.Parameter.KEYWORD_ONLY)]
        parameters += [_keyword(a.name, None) for a in shared]
        if declaration.choice is not None:
            docs.append(_param(declaration.choice.name, declaration.choice.batch_doc, templated=False))
            parameters.append(_keyword(declaration.choice.name, declaration.choice.default))
        docs += _see(_BATCH_COMMON, _BATCH) + _see(_COMMON, _BASE)
        base_init = super(cls, cls).__init__
        _finish(cls, docs, parameters, lambda self, **kw: base_init(self, **kw))

    def __init__(self, *, items: Any, **kwargs: Any) -> None:
        declaration = self.declaration
        values = {a.name: kwargs.pop(a.name, None) for a in declaration.batch_arguments()}
        choice = _take_choice(self, declaration, kwargs)
        super().__init__(items=items, **kwargs)
        for name, value in values.items():
            setattr(self, name, value)
        if declaration.choice is not None:
            setattr(self, declaration.choice.name, choice)

    def choice_value(self) -> Any:
        """Give the value of the declaration's :class:`Choice` (``None`` without one)."""
        choice = self.declaration.choice
        return None if choice is None else getattr(self, choice.name)

    def operation_endpoint(self) -> Endpoint:
        """Give the endpoint the declaration's :class:`Choice` chooses (or its only one)."""
        return self.declaration.chosen(self.choice_value())

    def defaults(self) -> dict[str, Any]:
        """Give the values of items that have none of their own (the batch operator's arguments)."""
        return {a.name: getattr(self, a.name) for a in self.declaration.batch_arguments()}

    def entry(self, index: int, values: Any) -> Any:
        """Take out of an item the keys its endpoint has no field for (refusing any not at its default)."""
        if not isinstance(values, dict):
            return values
        return self.declaration.sendable(values, self.choice_value(), prefix=f"items[{index}].")


def _take_choice(operator: Any, declaration: Declaration, kwargs: dict[str, Any]) -> Any:
    """Take the choice's value out of an operator's arguments and check it (when the task is built)."""
    choice = declaration.choice
    if choice is None:
        return None
    value = kwargs.pop(choice.name, choice.default)
    refuse_xcomargs(type(operator).__name__, **{choice.name: value})
    choice.endpoint(value)
    return value


__all__ = ["REQUIRED", "Argument", "Choice", "Declaration", "DeclaredBatchOperator", "DeclaredItemOperator"]
