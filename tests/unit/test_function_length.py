"""No function of actcode is longer than a reader can hold: at most 80 lines of code.

A docstring does not count (numpydoc ``Parameters`` sections of the public API are long on
purpose), nor do Typer command signatures (one annotated parameter per option) or Numba kernels.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "actcode"
#: Lines of code a function body may hold.
LIMIT = 80


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and len(body) > 1:
        first = body[1]
    end = node.end_lineno or node.lineno
    return end - first.lineno + 1


def _exempt(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    decorators = [ast.unparse(d) for d in node.decorator_list]
    return any("njit" in d or "handle_errors" in d or ".command" in d for d in decorators)


def test_functions_are_short() -> None:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not _exempt(node):
                n = _body_lines(node)
                if n > LIMIT:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}: {n} lines")
    assert long == [], "functions over 80 lines of code:\n" + "\n".join(long)
