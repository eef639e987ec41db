"""The layers of ARCHITECTURE.md, as the imports have them: every import of a simulator
module (at the top of a file or inside a function) points down the list, and no two
modules import each other, even through others."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "simulator"
# Highest first: a module may import from its own layer and the ones below it.
LAYERS = ["cli", "web", "facade", "report", "state", "pacing", "config", "contract", "domain"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Each simulator module -> the simulator modules it imports, wherever in the file."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        found = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("simulator"))
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("simulator"):
                found.add(node.module)
                # `from simulator.report import rules` imports the module simulator.report.rules
                found.update(
                    f"{node.module}.{a.name}"
                    for a in node.names
                    if (PACKAGE.parent / f"{node.module}.{a.name}".replace(".", "/")).with_suffix(".py").exists()
                )
    return graph


def layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in ("__main__",):
        return None  # the package itself and `python -m simulator` sit above every layer
    return LAYERS.index(parts[1])


def test_every_module_belongs_to_a_layer() -> None:
    for module in imports():
        parts = module.split(".")
        assert len(parts) == 1 or parts[1] in LAYERS or parts[1] == "__main__", module


def test_imports_point_down_the_layers() -> None:
    upward = []
    for module, targets in imports().items():
        mine = layer(module)
        for target in targets:
            theirs = layer(target)
            if mine is not None and theirs is not None and theirs < mine:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_import_cycle() -> None:
    graph = {m: {t for t in targets if t in imports_cache} for m, targets in imports_cache.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in graph[module]:
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack[stack.index(target) :], target]))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


imports_cache = imports()
