"""The house rules of docs/architecture.md that a linter does not check: a test module takes
shared builders from tests/helpers.py (or tests/e2e/helpers.py), never from another test module.
The layer rule itself is checked by lint-imports (pyproject.toml)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SHARED = {"tests.helpers", "tests.e2e.helpers", "tests.funnel_data"}  # builders, not tests


def test_no_test_module_imports_another() -> None:
    borrowed = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = (
                    [node.module]
                    if node.module != "tests"
                    else [f"tests.{alias.name}" for alias in node.names]
                )
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            borrowed += [
                f"{path.relative_to(TESTS)} imports {module}"
                for module in modules
                if module.startswith("tests.") and module not in SHARED
            ]
    assert borrowed == []
