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
    from collections.abc import Mapping

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
    ("max_credits", False),
    ("endpoint", False),
    ("extra_fields", False),
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


def style_argument(endpoint: Endpoint, doc: str) -> Argument:
    """
    Declare the ``style`` of an operation that has one, defaulting to the catalogue's default.

    :param endpoint: the operation, whose text field ``style`` gives the default.
    :param doc: which styles there are.
    """
    style = endpoint.text_field("style")
    if style is None:
        raise ValueError(f"{endpoint.operation} has no style")
    return Argument("style", doc, default=style.default, batch_doc="the style of items that have none.")


def seed_argument(what: str) -> Argument:
    """
    Declare the optional ``seed`` of an operation that takes one.

    :param what: what a seed makes repeatable (``images``, ``backgrounds``).
    """
    return Argument(
        "seed",
        f"a whole number >= 1 for repeatable {what}, or ``None``.",
        default=None,
        batch_doc="the seed of items that have none.",
    )


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


class Declared:
    """What the two operators of a :class:`Declaration` share: its arguments, and the endpoint chosen."""

    declaration: ClassVar[Declaration]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declaration = cls.__dict__.get("declaration")
        if declaration is not None:
            setattr(cls, "endpoint", declaration.endpoint)  # noqa: B010
            cls.declare(declaration)

    @classmethod
    def declare(cls, declaration: Declaration) -> None:
        """
        Give a subclass naming a declaration its templated fields, UI colour, signature and ``:param:`` lines.

        :param declaration: the subclass's ``declaration``.
        """
        raise NotImplementedError

    def choice_value(self) -> Any:
        """Give the value of the declaration's :class:`Choice` (``None`` without one)."""
        choice = self.declaration.choice
        return None if choice is None else getattr(self, choice.name)

    def operation_endpoint(self) -> Endpoint:
        """Give the endpoint the declaration's :class:`Choice` chooses (or its only one)."""
        return self.declaration.chosen(self.choice_value())

    def take_arguments(self, kwargs: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
        """
        Take the declared arguments, and the choice (checked), out of the keyword arguments of ``__init__``.

        :param kwargs: the keyword arguments; the declared ones are removed.
        :param defaults: the declared arguments this operator takes, with their defaults.
        :raises VyroInputError: if the choice's value is not allowed.
        """
        values = {name: kwargs.pop(name, default) for name, default in defaults.items()}
        choice = self.declaration.choice
        if choice is not None:
            values[choice.name] = kwargs.pop(choice.name, choice.default)
            refuse_xcomargs(type(self).__name__, **{choice.name: values[choice.name]})
            choice.endpoint(values[choice.name])
        return values


def _declare(
    cls: type[Any], arguments: list[tuple[str, str, Any]], shared: tuple[tuple[str, bool], ...]
) -> None:
    """
    Give a declared operator class its ``:param:`` lines and an ``__init__`` with its signature.

    :param cls: the class; its docstring is its description.
    :param arguments: its own arguments before the choice: name, doc and default (all templated).
    :param shared: the arguments its bases document, and whether each is templated.
    """
    declaration: Declaration = cls.declaration
    docs = [
        f":param {name}: {doc.replace(chr(10), chr(10) + '    ')} (templated)" for name, doc, _ in arguments
    ]
    parameters = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d) for n, _, d in arguments]
    if (choice := declaration.choice) is not None:
        single = issubclass(cls, VyroItemOperator)
        docs.append(f":param {choice.name}: {choice.doc if single else choice.batch_doc}")
        parameters.append(
            inspect.Parameter(choice.name, inspect.Parameter.KEYWORD_ONLY, default=choice.default)
        )
    for name, templated in shared:
        where = _BATCH if name in dict(_BATCH_COMMON) else _BASE
        docs.append(f":param {name}: see {where}." + (" (templated)" if templated else ""))
    cls.__doc__ = inspect.cleandoc(cls.__doc__ or "") + "\n\n" + "\n".join(docs) + "\n"
    base_init = super(cls, cls).__init__

    def __init__(self: Any, **kwargs: Any) -> None:
        base_init(self, **kwargs)

    self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    rest = inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD, annotation=Any)
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__module__ = cls.__module__
    setattr(__init__, "__signature__", inspect.Signature([self_parameter, *parameters, rest]))  # noqa: B010
    setattr(cls, "__init__", __init__)  # noqa: B010


class DeclaredItemOperator(Declared, VyroItemOperator):
    """
    The single-image operator of a :class:`Declaration`: a subclass names it as ``declaration``.

    The subclass's docstring is its description; the ``:param:`` lines are added from the declaration.
    """

    @classmethod
    def declare(cls, declaration: Declaration) -> None:
        """Give the subclass its item's arguments, templated; see :meth:`Declared.declare`."""
        cls.template_fields = (*(a.name for a in declaration.arguments), "storage_conn_id")
        cls.ui_color = declaration.ui_colors[0]
        _declare(cls, [(a.name, a.doc, a.default) for a in declaration.arguments], _COMMON)

    def __init__(self, **kwargs: Any) -> None:
        values = self.take_arguments(kwargs, self.declaration.defaults)
        if missing := sorted(name for name, value in values.items() if value is REQUIRED):
            raise TypeError(f"{type(self).__name__}: missing keyword argument(s) {missing}")
        super().__init__(**kwargs)
        for name, value in values.items():
            setattr(self, name, value)

    def item(self) -> dict[str, Any]:
        """Give the item's arguments (without those the chosen endpoint has no field for)."""
        values = {a.name: getattr(self, a.name) for a in self.declaration.arguments}
        return self.declaration.sendable(values, self.choice_value())


class DeclaredBatchOperator(Declared, VyroBatchOperator):
    """
    The batch operator of a :class:`Declaration`: a subclass names it as ``declaration``.

    The subclass's docstring is its description; the ``:param:`` lines are added from the declaration.
    """

    @classmethod
    def declare(cls, declaration: Declaration) -> None:
        """Give the subclass ``items`` and the items' shared values; see :meth:`Declared.declare`."""
        shared = declaration.batch_arguments()
        cls.template_fields = ("items", *(a.name for a in shared), "storage_conn_id", "manifest_path")
        cls.ui_color = declaration.ui_colors[1]
        arguments = [("items", declaration.items_doc, REQUIRED)]
        arguments += [(a.name, a.batch_doc or "", None) for a in shared]
        _declare(cls, arguments, _BATCH_COMMON + _COMMON)

    def __init__(self, *, items: Any, **kwargs: Any) -> None:
        values = self.take_arguments(
            kwargs, dict.fromkeys(a.name for a in self.declaration.batch_arguments())
        )
        super().__init__(items=items, **kwargs)
        for name, value in values.items():
            setattr(self, name, value)

    def defaults(self) -> dict[str, Any]:
        """Give the values of items that have none of their own (the batch operator's arguments)."""
        return {a.name: getattr(self, a.name) for a in self.declaration.batch_arguments()}

    def entry(self, index: int, values: Any) -> Any:
        """Take out of an item the keys its endpoint has no field for (refusing any not at its default)."""
        if not isinstance(values, dict):
            return values
        return self.declaration.sendable(values, self.choice_value(), prefix=f"items[{index}].")


__all__ = [
    "REQUIRED",
    "Argument",
    "Choice",
    "Declaration",
    "Declared",
    "DeclaredBatchOperator",
    "DeclaredItemOperator",
]
