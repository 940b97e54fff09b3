"""No import circle in the package: every import, at the top of a module or
deferred inside a function, is an edge, so a deferred import cannot hide one."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pointkeeper

_package_root = Path(pointkeeper.__file__).parent


def package_modules() -> dict[str, Path]:
    found = {}
    for path in _package_root.rglob("*.py"):
        parts = ["pointkeeper", *path.relative_to(_package_root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(module: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The package's modules ``module`` imports. ``from package import name``
    depends on the submodule when ``name`` is one, else on the package."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in modules:
                    yield submodule
                elif source in modules:
                    yield source


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        # A package's __init__ runs before any of its modules: importing one's
        # own ancestor package is no edge.
        graph[module] = {
            target
            for target in _imported(module, path, modules)
            if target != module and not module.startswith(f"{target}.")
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_walk_finds_a_cycle_and_deferred_imports() -> None:
    """The walk itself: a deferred import is an edge, and a circle is found."""
    graph = import_graph()
    assert "pointkeeper.protocols.maestra.asynchronous" in graph["pointkeeper.cli"]  # deferred
    assert "pointkeeper.protocols.maestra.kinds" in graph["pointkeeper.protocols.maestra.routes"]
    circle = {**graph, "pointkeeper.config": graph["pointkeeper.config"] | {"pointkeeper.cli"}}
    assert any({"pointkeeper.cli", "pointkeeper.config"} <= set(c) for c in cycles(circle))
