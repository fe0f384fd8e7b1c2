"""
The test tree's own rules: tests go through public seams, and unit tests mirror the package.

A test that reaches into a name starting with ``_`` (a private module, function, attribute or
constant of the package) breaks when the code is restructured although the behaviour did not
change: such a test is rewritten against a public seam, or the seam is made public.
"""

from __future__ import annotations

import ast
from pathlib import Path

import airflow_provider_vyro

TESTS = Path(__file__).resolve().parent
PACKAGE = Path(airflow_provider_vyro.__file__).resolve().parent
NAME = airflow_provider_vyro.__name__

PACKAGE_WIDE = {
    "test_doc_snippets.py",
    "test_package_shape.py",
    "test_provider_info.py",
    "test_version_neutral_imports.py",
}
"""Unit tests of the package as a whole (its shape, provider info, imports, documented snippets)."""


def private(name: str) -> bool:
    """A single-underscore name (dunders such as ``__main__`` or ``__init__`` are not private)."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str) -> list[str]:
    """Where ``source`` names a private name of the package: what it imports, and attributes of it."""
    tree = ast.parse(source)
    found: list[str] = []
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == NAME:
            module = node.module or ""
            found += [f"line {node.lineno}: from {module}" for p in module.split(".") if private(p)]
            for alias in node.names:
                if private(alias.name):
                    found.append(f"line {node.lineno}: import of {module}.{alias.name}")
                bound.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == NAME:
                    found += [
                        f"line {node.lineno}: import {alias.name}"
                        for p in alias.name.split(".")
                        if private(p)
                    ]
                    bound.add((alias.asname or alias.name).split(".")[0])
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith(NAME + ".")
        ):
            found += [f"line {node.lineno}: {node.value!r}" for p in node.value.split(".") if private(p)]
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and private(node.attr) and _root(node) in bound) or (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
            in ("getattr", "setattr")
            and len(node.args) >= 2
            and _root(node.args[0]) in bound
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and private(node.args[1].value)
        ):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def test_the_detector_finds_each_kind_of_private_use() -> None:
    source = "\n".join(
        [
            "from airflow_provider_vyro import runner",
            "from airflow_provider_vyro.item import _path_string",
            "from airflow_provider_vyro._hidden import thing",
            "import airflow_provider_vyro.hooks._parts as parts",
            "runner._POLL",
            "runner.Runner(1)._pool",
            "setattr(runner, '_POLL', 0)",
            "monkeypatch.setattr('airflow_provider_vyro.runner._POLL', 0)",
            "runner.Runner",
            "other._private",
            "runner.__name__",
        ]
    )
    assert [use.split(":")[0] for use in private_uses(source)] == [
        "line 2",
        "line 3",
        "line 4",
        "line 8",
        "line 5",
        "line 6",
        "line 7",
    ]


def test_no_test_touches_a_private_name_of_the_package() -> None:
    offenders = {
        str(path.relative_to(TESTS)): uses
        for path in sorted(TESTS.rglob("*.py"))
        if (uses := private_uses(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_unit_tests_mirror_the_package() -> None:
    modules = {p.relative_to(PACKAGE).with_suffix("") for p in PACKAGE.rglob("*.py")}
    unmatched = []
    for path in sorted((TESTS / "unit").rglob("test_*.py")):
        relative = path.relative_to(TESTS / "unit")
        target = relative.parent / relative.name.removeprefix("test_")
        if relative.name not in PACKAGE_WIDE and target.with_suffix("") not in modules:
            unmatched.append(str(relative))
    assert unmatched == [], (
        "tests/unit/<path>/test_<module>.py tests airflow_provider_vyro/<path>/<module>.py"
    )
