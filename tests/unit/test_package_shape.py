"""The package's shape: dependencies point one way (no import cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

import airflow_provider_vyro

PACKAGE = Path(airflow_provider_vyro.__file__).parent
NAME = airflow_provider_vyro.__name__


def module_files() -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its ``__init__``)."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = [NAME, *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """
    The package's modules that ``name`` imports, wherever the import is (top level, in a
    function, under ``TYPE_CHECKING``): ``from pkg import mod`` is an import of ``pkg.mod``.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            submodules = {f"{base}.{alias.name}" for alias in node.names} & modules
            found.update(submodules or {base})
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: imports_of(name, path, set(files)) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_the_package_and_its_imports() -> None:
    graph = import_graph()
    assert f"{NAME}.storage" in graph
    assert f"{NAME}.locations" in graph[f"{NAME}.storage"]
    assert f"{NAME}.hooks.vyro" in graph[f"{NAME}.item"]


def test_the_walk_finds_a_cycle_when_there_is_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_locations_is_at_the_bottom_of_the_package() -> None:
    assert import_graph()[f"{NAME}.locations"] == set()


def operation_branches(source: str) -> list[int]:
    """
    The lines of ``source`` that key behaviour on an operation's name: a comparison with an
    ``operation`` or with a catalogue entry (``endpoint is TEXT_TO_IMAGE``), a dict keyed by
    operation names, a set of them.
    """
    from airflow_provider_vyro import catalogue

    names = set(catalogue.ENDPOINTS)
    entries = {name for name, value in vars(catalogue).items() if isinstance(value, catalogue.Endpoint)}

    def mentions_operation(node: ast.expr) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "operation") or (
            isinstance(node, ast.Name) and node.id == "operation"
        )

    def literal(node: ast.expr) -> bool:
        return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or (
            isinstance(node, ast.Set | ast.Tuple | ast.List)
            or (isinstance(node, ast.Name) and node.id == "GENERIC_OPERATION")
        )

    def is_entry(node: ast.expr) -> bool:
        return (isinstance(node, ast.Name) and node.id in entries) or (
            isinstance(node, ast.Attribute) and node.attr in entries
        )

    def is_name(node: ast.expr | None) -> bool:
        return isinstance(node, ast.Constant) and node.value in names

    def elements(node: ast.AST) -> list[ast.expr | None]:
        if isinstance(node, ast.Dict):
            return list(node.keys)
        return list(node.elts) if isinstance(node, ast.Set | ast.Tuple | ast.List) else []

    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            named = any(mentions_operation(o) for o in operands) and any(literal(o) for o in operands)
            if named or any(is_entry(o) or is_name(o) for o in operands):
                lines.append(node.lineno)
        elif isinstance(node, ast.expr) and any(is_name(element) for element in elements(node)):
            lines.append(node.lineno)
    return sorted(lines)


def test_the_search_finds_branches_on_operation_names() -> None:
    source = (
        "if endpoint.operation == 'x':\n    pass\n"
        "if endpoint is TEXT_TO_IMAGE:\n    pass\n"
        "SUFFIXES = {'inpaint': '_inpainted.png'}\n"
        "if op in ('text_to_image', 'text_to_png'):\n    pass\n"
        "cost = endpoint.cost(fields)\n"
        "if endpoint.operation == GENERIC_OPERATION:\n    pass\n"
        "if operation in ENDPOINTS:\n    pass\n"
    )
    assert operation_branches(source) == [1, 3, 5, 6, 9]


def test_only_the_catalogue_keys_behaviour_on_an_operation_name() -> None:
    """Per-operation facts live in the catalogue: nothing else branches on an operation's name."""
    found = {
        name: lines
        for name, path in module_files().items()
        if name != f"{NAME}.catalogue"
        and not name.startswith(f"{NAME}.emulator")
        and (lines := operation_branches(path.read_text(encoding="utf-8")))
    }
    assert found == {}


MAX_MODULE_LINES = 600


def test_no_module_is_over_600_lines() -> None:
    """One idea per module: none of the package (the emulator, a stand-in for the API, aside) is long."""
    long = {
        name: lines
        for name, path in module_files().items()
        if not name.startswith(f"{NAME}.emulator")
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def dict_writes(source: str) -> list[int]:
    """The lines of ``source`` that assign into an object's ``__dict__``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            if (
                isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Attribute)
                and target.value.attr == "__dict__"
            ):
                lines.append(node.lineno)
    return lines


def test_the_search_finds_writes_into_dict() -> None:
    assert dict_writes("x = 1\nobj.__dict__['key'] = 2\nvalue = obj.__dict__['key']\n") == [2]


def test_nothing_writes_into_an_objects_dict() -> None:
    found = {
        name: lines
        for name, path in module_files().items()
        if (lines := dict_writes(path.read_text(encoding="utf-8")))
    }
    assert found == {}
