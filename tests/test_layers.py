"""The house rules of docs/architecture.md, checked on the source itself.

- `core/` imports nothing from `blueprints/` (a lower layer never reaches up);
- views (`blueprints/*/routes.py`) and CLI commands (`core/commands/`) never commit:
  services do (the rule is written in `core/provisioning/__init__.py`);
- no application module over 400 lines and no function over 50.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.constants import REPO

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50


def application_modules() -> list[Path]:
    """Every Python module of the application (not tests, bench or migrations)."""
    return sorted(
        [REPO / "app.py", *(REPO / "core").rglob("*.py")]
        + list((REPO / "blueprints").rglob("*.py"))
    )


def imported_modules(tree: ast.Module) -> set[str]:
    """The dotted names a module imports (absolute imports only; we use no others)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def relative(path: Path) -> str:
    """`path` as written in the repository, for messages."""
    return str(path.relative_to(REPO))


def test_core_imports_nothing_from_blueprints() -> None:
    offenders = [
        f"{relative(path)} imports {name}"
        for path in (REPO / "core").rglob("*.py")
        for name in imported_modules(ast.parse(path.read_text()))
        if name == "blueprints" or name.startswith("blueprints.")
    ]
    assert offenders == []


def commits(tree: ast.Module) -> bool:
    """Whether the code calls `db.session.commit()`."""
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "commit"
        and ast.unparse(node.func.value) == "db.session"
        for node in ast.walk(tree)
    )


def test_views_and_commands_leave_commits_to_services() -> None:
    views = list((REPO / "blueprints").glob("*/routes.py"))
    commands = list((REPO / "core" / "commands").glob("*.py"))
    assert views and commands
    offenders = [
        relative(path)
        for path in views + commands
        if commits(ast.parse(path.read_text()))
    ]
    assert offenders == []


@pytest.mark.parametrize("path", application_modules(), ids=relative)
def test_modules_and_functions_stay_small(path: Path) -> None:
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    long_functions = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long_functions == []
