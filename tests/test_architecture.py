"""The project's import graph: no circles, and data flowing the way the design card says.

The graph is built from the source with ``ast``: every ``import`` and ``from ... import``
at module level *and* inside functions, with ``from package import name`` resolved to
the submodule ``package.name`` where one exists (else to the package itself).
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "sandbox", "program_store", "detectors", "collab")

#: Top-level packages each package must not import (/work/shared/DESIGN.md, "Layout").
FORBIDDEN = {
    "sandbox": {"program_store", "collab", "engine"},
    "program_store": {"sandbox", "collab", "engine"},
    "detectors": {"engine", "sandbox", "program_store", "collab"},
}


def _modules():
    """``{dotted module name: path}`` for every module of the project's packages."""
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(("das", *parts))] = path
    return out


def _absolute(node, module, is_package):
    """The module a (possibly relative) ``from`` import names."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module, path, modules):
    """Project modules that ``module`` imports, anywhere in its body."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, path.name == "__init__.py")
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in modules else base)
    edges = set()
    for target in targets:
        while target and target not in modules:  # "import a.b.c" of a non-module: its package
            target = target.rpartition(".")[0]
        if target and target != module:
            edges.add(target)
    return edges


def import_graph():
    """``{module: set of project modules it imports}``."""
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def _top(module):
    """The part of the design card a ``das.<part>...`` module belongs to."""
    return module.split(".")[1]


def test_the_graph_sees_function_level_and_from_imports():
    graph = import_graph()
    assert "das.detectors.pyod_models" in graph["das.detectors.registry"]  # inside detector_class
    assert "das.collab.bench.log" in graph["das.collab.bench.tables"]  # from package import name
    assert "das.collab.bench.errors" in graph["das.collab.bench"]  # a package's __init__


def test_the_cycle_finder_finds_a_cycle_inside_a_package():
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "q": {"p.a"}}
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_no_import_circles():
    assert _cycles(import_graph()) == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layering(package):
    graph = import_graph()
    bad = sorted(f"{src} -> {dst}" for src, targets in graph.items() if _top(src) == package
                 for dst in targets if _top(dst) in FORBIDDEN[package])
    assert bad == []


def test_only_the_cli_imports_engine_from_outside():
    graph = import_graph()
    bad = sorted(f"{src} -> {dst}" for src, targets in graph.items()
                 if _top(src) != "engine" for dst in targets if _top(dst) == "engine")
    assert bad == []
