"""The import graph of `otelml` and `otelml_collector`, read from the source with `ast` (nothing is
imported): for each module, the modules it imports (anywhere in the file except `if TYPE_CHECKING:`
blocks) resolved to the deepest module or package that exists in the source tree."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = {"otelml": REPO / "otelml", "otelml_collector": REPO / "collector" / "otelml_collector"}


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported module (deepest that exists in the tree), or a third-party name
    line: int


def modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for top, root in ROOTS.items():
        for path in root.rglob("*.py"):
            parts = [top, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
        for path in root.rglob("*.c"):  # C extensions, built from their source next to the modules
            out[".".join([top, *path.relative_to(root).with_suffix("").parts])] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) of every import outside `if TYPE_CHECKING:`."""
    found: list[tuple[str, list[str], int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names], node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def edges() -> list[Edge]:
    known = modules()
    out: list[Edge] = []
    for name, path in known.items():
        if path.suffix != ".py":
            continue
        for module, names, line in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in known] or [module]
            for target in targets:
                while target not in known and "." in target and target.split(".")[0] in ROOTS:
                    target = target.rsplit(".", 1)[0]
                out.append(Edge(name, target, line))
    return out


def package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rsplit(".", 1)[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def strong(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found
