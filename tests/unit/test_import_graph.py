"""The import graph of actcode: no cycles, and no layer imports a higher one.

Every import counts, wherever it is written (module level, inside a function, or under
``TYPE_CHECKING``): a function-level import is still a dependency, and a ``TYPE_CHECKING``
import still ties two modules together for the reader and the type checker.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "actcode"

#: Layers, lowest first. A module may import modules of its own layer or a lower one. The
#: pipeline stages (layer 5) may not import each other; regions drives networks through
#: extraction's activation sites, so it sits one layer above the stages; sweep runs the stages.
LAYERS: dict[str, int] = {
    "actcode": 0,
    "actcode.errors": 0,
    "actcode.text": 0,
    "actcode.kernels": 1,
    "actcode._reference": 1,
    "actcode.codes": 1,
    "actcode.results": 1,
    "actcode.metrics": 1,
    "actcode.scopes": 1,
    "actcode.lists": 0,
    "actcode.registry": 1,
    "actcode.sizes": 1,
    "actcode.data": 2,
    "actcode.config": 2,
    "actcode.factors": 2,
    "actcode.train_options": 3,
    "actcode.io": 3,
    "actcode.devices": 4,
    "actcode.safe_load": 3,
    "actcode.models": 3,
    "actcode.checkpoints": 4,
    "actcode.search": 4,
    "actcode.training": 5,
    "actcode.extraction": 5,
    "actcode.measures": 5,
    "actcode.probes": 5,
    "actcode.charts": 5,
    "actcode.table": 5,
    "actcode.regions": 6,
    "actcode.options": 6,
    "actcode.sweep": 7,
    "actcode.testing": 7,
    "actcode.cli": 8,
    "actcode.__main__": 9,
}
#: Layer-5 components that may not import one another.
STAGES = (
    "actcode.training",
    "actcode.extraction",
    "actcode.measures",
    "actcode.probes",
    "actcode.charts",
    "actcode.table",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """(imported actcode module, line) for every import in the file."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "actcode":
                    yield _nearest(alias.name, known), node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "actcode":
                continue
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                yield (sub if sub in known else _nearest(mod, known)), node.lineno


def _nearest(mod: str, known: set[str]) -> str:
    while mod not in known and "." in mod:
        mod = mod.rpartition(".")[0]
    return mod


def _graph() -> dict[str, dict[str, int]]:
    mods = _modules()
    known = set(mods)
    graph: dict[str, dict[str, int]] = {m: {} for m in mods}
    for name, path in mods.items():
        for target, line in _imports(name, path, known):
            if target != name:
                graph[name].setdefault(target, line)
    return graph


def _layer(mod: str) -> tuple[str, int]:
    parts = mod.split(".")
    for i in range(len(parts), 1 if len(parts) > 1 else 0, -1):
        key = ".".join(parts[:i])
        if key in LAYERS:
            return key, LAYERS[key]
    msg = f"{mod} belongs to no layer; add it to LAYERS in {__file__}"
    raise AssertionError(msg)


def test_graph_sees_the_imports() -> None:
    graph = _graph()
    assert "actcode.io.summary" in graph["actcode.cli.info"]  # from actcode.io.summary import ...
    assert "actcode.kernels" in graph["actcode.measures.compute"]  # from actcode import kernels as K
    assert "actcode.data.spec" in graph["actcode.config"]  # from actcode.data.spec import DataSpec
    assert "actcode.checkpoints" in graph["actcode.extraction.api"]  # imported inside a function


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_layer_imports_a_higher_one() -> None:
    bad = []
    for mod, targets in _graph().items():
        comp, rank = _layer(mod)
        for target, line in targets.items():
            tcomp, trank = _layer(target)
            if trank > rank or (comp != tcomp and comp in STAGES and tcomp in STAGES):
                bad.append(f"{mod}:{line} imports {target} ({tcomp}, layer {trank} > {comp}, layer {rank})")
    assert bad == [], "\n".join(bad)


def _is_reexport(node: ast.stmt) -> bool:
    """Imports, the docstring, ``__all__``, and ``if`` blocks of those (``TYPE_CHECKING``, backends)."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return True
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant) or (
            isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute)
        )
    if isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)
    if isinstance(node, ast.If):
        return all(_is_reexport(n) for n in node.body + node.orelse)
    return False


@pytest.mark.parametrize(
    "package",
    [
        "actcode.charts",
        "actcode.cli",
        "actcode.data",
        "actcode.extraction",
        "actcode.io",
        "actcode.kernels",
        "actcode.measures",
        "actcode.models",
        "actcode.probes",
        "actcode.regions",
        "actcode.search",
        "actcode.sweep",
        "actcode.sweep.executors",
        "actcode.testing",
        "actcode.training",
    ],
)
def test_package_init_only_reexports(package: str) -> None:
    path = PACKAGE.joinpath(*package.split(".")[1:], "__init__.py")
    logic = [
        f"line {n.lineno}: {type(n).__name__}"
        for n in ast.parse(path.read_text()).body
        if not _is_reexport(n)
    ]
    assert logic == [], f"{path} holds more than re-exports: {logic}"


#: Third-party modules a package must not import (ruff's banned-api enforces the same in CI).
BANNED: dict[str, tuple[str, ...]] = {
    "actcode.io": ("torch", "typer"),
    "actcode.kernels": ("torch", "h5py", "typer"),
    "actcode": ("typer",),
}


def test_banned_third_party_imports() -> None:
    bad = []
    for name, path in _modules().items():
        if name.startswith("actcode.cli"):
            continue
        banned = next(v for k, v in BANNED.items() if name == k or name.startswith(k + "."))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            bad += [f"{name}:{node.lineno} imports {r}" for r in roots if r in banned]
    assert bad == [], "\n".join(bad)
