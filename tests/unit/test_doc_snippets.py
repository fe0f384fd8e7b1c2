"""
Every Python snippet the documentation renders stands on its own: it parses, and every name it
uses is imported or defined in it (ruff's undefined-name check), so a reader can copy it whole.

The imports of each snippet are also run, so a moved or renamed name fails here, not for a
reader. Snippets are the ``code-block:: python`` blocks of ``docs/**/*.rst``, the Python parts those
pages include from the example DAGs (read as Sphinx reads them, ``:pyobject:``, markers and
``:dedent:`` applied), and the Python blocks of ``README.md``.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

LiteralIncludeReader = pytest.importorskip(
    "sphinx.directives.code", reason="Sphinx builds the docs"
).LiteralIncludeReader
REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. (?P<kind>code-block|literalinclude):: *(?P<arg>.*)$")
OPTION = re.compile(r"^ +:(?P<name>[\w-]+):(?: +(?P<value>.*))?$")
FENCE = re.compile(r"^```python\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)


def _ruff() -> str | None:
    beside = Path(sys.executable).parent / "ruff"
    return str(beside) if beside.exists() else shutil.which("ruff")


def _block(lines: list[str], start: int, indent: int) -> tuple[dict[str, str], list[str]]:
    options: dict[str, str] = {}
    i = start
    name = ""
    while i < len(lines) and lines[i].strip():
        if match := OPTION.match(lines[i]):
            name = match["name"]
            options[name] = (match["value"] or "").strip()
        elif name and len(lines[i]) - len(lines[i].lstrip()) > indent + 3:
            options[name] += "\n" + lines[i].strip()  # a value continued on the next line
        else:
            break
        i += 1
    body: list[str] = []
    while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
        body.append(lines[i])
        i += 1
    while body and not body[-1].strip():
        body.pop()
    margin = min((len(line) - len(line.lstrip()) for line in body if line.strip()), default=0)
    return options, [line[margin:] for line in body]


def _included(rst: Path, arg: str, options: dict[str, str]) -> str:
    typed: dict[str, Any] = dict(options)
    if "dedent" in typed:
        typed["dedent"] = int(typed["dedent"] or 0)
    config = SimpleNamespace(source_encoding="utf-8-sig")
    text, _ = LiteralIncludeReader(str((rst.parent / arg).resolve()), typed, config).read()
    return str(text)


def snippets() -> dict[str, str]:
    found: dict[str, str] = {}
    for rst in sorted(DOCS.rglob("*.rst")):
        lines = rst.read_text().splitlines()
        for number, line in enumerate(lines):
            match = DIRECTIVE.match(line)
            if match is None:
                continue
            options, body = _block(lines, number + 1, len(match["indent"]))
            name = f"{rst.relative_to(REPO)}:{number + 1}"
            if match["kind"] == "code-block" and match["arg"].strip() == "python":
                found[name] = "\n".join(body) + "\n"
            elif match["kind"] == "literalinclude" and options.get("language") == "python":
                found[name] = _included(rst, match["arg"].strip(), options)
    for number, fence in enumerate(FENCE.finditer((REPO / "README.md").read_text())):
        found[f"README.md python block {number + 1}"] = fence["code"]
    return found


SNIPPETS = snippets()


def test_the_documentation_has_python_snippets() -> None:
    assert len(SNIPPETS) > 20
    assert any("items=" in code for code in SNIPPETS.values())


@pytest.mark.skipif(_ruff() is None, reason="ruff is a development tool; not installed here")
def test_every_rendered_snippet_is_complete(tmp_path: Path) -> None:
    names = {}
    for index, (where, code) in enumerate(SNIPPETS.items()):
        path = tmp_path / f"snippet_{index:03d}.py"
        path.write_text(code)
        names[path.name] = where
    ruff = _ruff()
    assert ruff is not None
    result = subprocess.run(
        [ruff, "check", "--isolated", "--no-cache", "--select", "F821,F822,F823", "--target-version", "py311",
         "--output-format", "concise", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    problems = [
        line.replace(str(tmp_path) + "/", "").replace(file, f"{where} ({file})")
        for line in result.stdout.splitlines()
        for file, where in names.items()
        if file in line
    ]
    assert not problems, "\n".join(problems)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(importlib.util.find_spec("airflow.sdk") is None, reason="the snippets are for Airflow 3")
@pytest.mark.parametrize("where", list(SNIPPETS))
def test_every_import_of_a_snippet_resolves(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "dags" / "examples"))  # as Airflow puts its DAG folder first
    tree = ast.parse(SNIPPETS[where])
    imports: list[ast.stmt] = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    exec(compile(ast.Module(body=imports, type_ignores=[]), where, "exec"), {})
