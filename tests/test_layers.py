"""The layers read top-down and no module imports itself round a circle (DESIGN.md "Layout").

    kernels  ←  theory  ←  montecarlo  ←  reports

Every import of the project's own modules is read from the source (``ast``: top-level and lazy
imports inside functions alike).  An arrow may point only down the list above; the exceptions
are the application entries that compose the layers for the user's command: ``theory.verify``,
and ``montecarlo.probe.cli`` (it measures, then asks the report layer for its page).  Separately, the module graph has no cycle (a strongly connected component of more
than one module fails, naming its members).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("kernels", "theory", "montecarlo", "reports")  # bottom to top
#: the application entry (its module docstring says so): it may import every layer
ENTRIES = {"theory.verify", "montecarlo.probe.cli"}


def _modules() -> dict[str, Path]:
    out = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The longest project module that ``name`` lies in (``montecarlo.store.Store`` → ``montecarlo.store``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _statements(module: str):
    """``(absolute names, line)`` of every import statement of ``module``: ``import a.b`` gives
    ``a.b``; ``from .x import y`` gives the resolved ``pkg.x`` and, where it is a module, ``pkg.x.y``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield [a.name for a in node.names], [a.name for a in node.names], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # ``from pkg import sub`` imports the submodule when there is one
            targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in MODULES else stem for a in node.names]
            yield [stem], targets, node.lineno


def imports_of(module: str) -> list[tuple[str, int]]:
    """``(imported project module, line)`` for every import statement of ``module``."""
    found = []
    for _, targets, line in _statements(module):
        for target in targets:
            resolved = _resolve(target)
            if resolved is not None and resolved != module:
                found.append((resolved, line))
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def dangling_imports() -> list[str]:
    """Imports of the project's packages that name no module (a path left behind by a move)."""
    return [f"{MODULES[module].relative_to(ROOT)}:{line}: no module {name}"
            for module in MODULES for names, _, line in _statements(module)
            for name in names if name.split(".")[0] in LAYERS and name not in MODULES]


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def layer_violations(graph: dict[str, list[tuple[str, int]]] = GRAPH) -> list[str]:
    out = []
    for module, targets in graph.items():
        if module in ENTRIES:
            continue
        for target, line in targets:
            if _layer(target) > _layer(module):
                out.append(f"{MODULES[module].relative_to(ROOT)}:{line}: {module} imports {target} "
                           f"({target.split('.')[0]} is above {module.split('.')[0]})")
    return out


def cycles(graph: dict[str, list[tuple[str, int]]] = GRAPH) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w, _ in graph.get(v, ()):
            if w not in index:
                visit(w)
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
            visit(v)
    return found


def test_every_layer_imports_only_the_layers_below_it():
    assert layer_violations() == []


def test_every_project_import_names_a_module():
    assert dangling_imports() == []


def test_no_import_circles():
    assert cycles() == []


def test_theory_outside_its_entry_imports_neither_engine_nor_reports():
    pure = [m for m in MODULES if m.startswith("theory") and m not in ENTRIES]
    assert pure and all(_layer(t) <= _layer("theory") for m in pure for t, _ in GRAPH[m])


def test_the_entry_is_declared_as_such_in_its_docstring():
    for entry in ENTRIES:
        doc = ast.get_docstring(ast.parse(MODULES[entry].read_text(encoding="utf-8"))) or ""
        assert "application entry" in doc


@pytest.mark.parametrize("graph, expect", [
    ({"theory.claims": [("montecarlo.runner", 3)], "montecarlo.runner": []}, "theory.claims imports montecarlo.runner"),
    ({"kernels.plan": [("theory.specs", 9)], "theory.specs": []}, "kernels.plan imports theory.specs"),
])
def test_the_layer_check_catches_an_upward_arrow(graph, expect):
    assert any(expect in v for v in layer_violations(graph))


def test_the_cycle_check_catches_a_circle():
    graph = {"montecarlo.runner": [("montecarlo.store", 1)], "montecarlo.store": [("montecarlo.chunks", 1)],
             "montecarlo.chunks": [("montecarlo.runner", 1)], "montecarlo.results": [("montecarlo.store", 1)]}
    assert cycles(graph) == [["montecarlo.chunks", "montecarlo.runner", "montecarlo.store"]]


def test_relative_imports_are_resolved():
    assert "montecarlo.store" in {t for t, _ in GRAPH["montecarlo.runner"]}
    assert "montecarlo.chunks" in {t for t, _ in GRAPH["montecarlo.distributed"]}
