"""The package's layering: data flows one way, from the base modules up to the command line.

Every module of `qnewton/` is parsed with `ast` (nothing is imported). Its imports, at module
level and inside functions, with relative imports resolved, must stay within its own layer or
lower ones (`LAYERS`), the pure cost formulas must not reach the quantum circuits, the solvers or
the calibration code, and no two modules may import each other, directly or through others.
Imports inside `if TYPE_CHECKING:` blocks are type annotations only and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "qnewton"

#: Layer of each top-level part of qnewton, low to high. A module may import modules of its own
#: layer or of lower ones. A new package or top-level module must be placed here (the test fails
#: on one it does not know).
LAYERS: dict[str, int] = {
    # 0 base: errors, limits, files, JSON and matrix files, the fixed choices
    "qnewton": 0,  # the package's __init__ (version only)
    "qnewton.errors": 0,
    "qnewton.limits": 0,
    "qnewton.files": 0,
    "qnewton.jsonutil": 0,
    "qnewton.enums": 0,
    "qnewton.matrixio": 0,
    # 1 pure numerics and pure price formulas
    "qnewton.analysis": 1,
    "qnewton.costs": 1,
    # 2 curvature and the Newton step with its scheduler
    "qnewton.curvature": 2,
    "qnewton.newton": 2,
    # 3 Qiskit circuits and backends
    "qnewton.quantum": 3,
    # 4 linear solvers
    "qnewton.solvers": 4,
    # 5 everything that measures, or reads and writes profiles
    "qnewton.calibrate": 5,
    # 6 .. 10
    "qnewton.optim": 6,
    "qnewton.methods": 7,
    "qnewton.train": 8,
    "qnewton.experiments": 9,
    "qnewton.cli": 10,
    "qnewton.__main__": 10,
}

#: Parts with a layer that may be absent (none today).
ALLOWED_ABSENT: set[str] = set()

#: Modules left out of the checks (none: every module is in the layering).
PENDING: set[str] = set()

#: Upward imports allowed at an old import path (none).
COMPATIBILITY_IMPORTS: set[tuple[str, str]] = set()

#: Packages the pure cost formulas must never import, whatever their layer.
COSTS_FORBIDDEN = ("qnewton.quantum", "qnewton.solvers", "qnewton.calibrate")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(name: str, path: Path, known: set[str]) -> set[tuple[str, int]]:
    """(imported qnewton module, line) for every import of `path`, module- and function-level,
    `from . import x` resolved; `from pkg import name` counts as pkg.name when that is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[tuple[str, int]] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "qnewton":
                    found.add((alias.name, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] == "qnewton":
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.add((sub if sub in known else base, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def layer_of(module: str) -> int | None:
    """The layer of the longest entry of LAYERS that `module` lies in (None: not placed)."""
    if module == "qnewton":
        return LAYERS["qnewton"]
    parts = module.split(".")
    for k in range(len(parts), 1, -1):  # never "qnewton" itself: an unknown part has no layer
        key = ".".join(parts[:k])
        if key in LAYERS:
            return LAYERS[key]
    return None


MODULES = all_modules()
KNOWN = set(MODULES)
GRAPH = {name: imports_of(name, path, KNOWN) for name, path in MODULES.items()}


def _checked(name: str) -> bool:
    return name not in PENDING


def test_every_module_is_placed_in_a_layer():
    unplaced = sorted(m for m in MODULES if layer_of(m) is None)
    assert not unplaced, f"modules in no layer (add their package to LAYERS): {unplaced}"
    tops = {".".join(m.split(".")[:2]) for m in MODULES}
    missing = sorted(k for k in LAYERS if k not in tops and k not in ALLOWED_ABSENT)
    assert not missing, f"LAYERS names parts that no longer exist: {missing}"
    stale = sorted(m for m in PENDING if m not in MODULES)
    assert not stale, f"PENDING names modules that no longer exist: {stale}"


def test_imported_modules_exist():
    unknown = sorted({(name, target) for name, edges in GRAPH.items() for target, _ in edges
                      if target not in KNOWN and target.rpartition(".")[0] not in KNOWN})
    assert not unknown, f"imports of qnewton modules that do not exist: {unknown}"


def test_costs_import_no_circuits_solvers_or_calibration():
    bad = []
    for name, edges in GRAPH.items():
        if not name.startswith("qnewton.costs"):
            continue
        for target, line in edges:
            if (name, target) in COMPATIBILITY_IMPORTS:
                continue
            if target.startswith(COSTS_FORBIDDEN) or (layer_of(target) or 0) > 1:
                bad.append(f"{name}:{line} imports {target}")
    assert not bad, "\n".join(bad)


def upward_imports(graph: dict[str, set[tuple[str, int]]]) -> list[str]:
    """Each import of a module (not in PENDING) from a higher layer, or of an unplaced one."""
    bad = []
    for name, edges in graph.items():
        if not _checked(name):
            continue
        own = layer_of(name)
        for target, line in sorted(edges):
            if (name, target) in COMPATIBILITY_IMPORTS:
                continue
            theirs = layer_of(target)
            if theirs is None or own is None or theirs > own:
                bad.append(f"{name} (layer {own}) line {line} imports {target} (layer {theirs})")
    return bad


def test_upward_imports_are_found():
    graph = {"qnewton.costs.quantum": {("qnewton.enums", 1)},
             "qnewton.quantum.backends": {("qnewton.solvers.circuit", 7), ("qnewton.costs.quantum", 8)},
             "qnewton.analysis.kappa": {("qnewton.gadgets", 3)}}
    assert upward_imports(graph) == [
        "qnewton.quantum.backends (layer 3) line 7 imports qnewton.solvers.circuit (layer 4)",
        "qnewton.analysis.kappa (layer 1) line 3 imports qnewton.gadgets (layer None)",
    ]
    assert upward_imports({"qnewton.train.runner": {("qnewton.cli.train", 1)}}) == [
        "qnewton.train.runner (layer 8) line 1 imports qnewton.cli.train (layer 10)"]


def test_no_module_imports_a_higher_layer():
    bad = upward_imports(GRAPH)
    assert not bad, "\n".join(bad)


def test_compatibility_imports_are_marked_in_the_source():
    for name, target in COMPATIBILITY_IMPORTS:
        lines = MODULES[name].read_text(encoding="utf-8").splitlines()
        marked = [line for target_, line in GRAPH[name] if target_ == target]
        assert marked, f"{name} no longer imports {target}: drop it from COMPATIBILITY_IMPORTS"
        for line in marked:
            window = "\n".join(lines[max(0, line - 3):line])
            assert "# compatibility: moved to" in window, f"{name}:{line} import of {target} is not marked"


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing itself
    (Tarjan's algorithm, iterative so deep graphs cannot overflow the stack)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    cycles.append(sorted(component))
    return cycles


def test_cycle_finder_finds_cycles():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"a"}}) == [["a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    graph: dict[str, set[str]] = {}
    for name, edges in GRAPH.items():
        if not _checked(name):
            continue
        graph[name] = {t for t, _ in edges if t != name and _checked(t) and (name, t) not in COMPATIBILITY_IMPORTS}
        # `import qnewton.x.y` also runs the package __init__s, which is no dependency of note
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    cycles = find_cycles(graph)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("source, expected", [
    ("from . import errors\n", {"qnewton.errors"}),
    ("def f():\n    from qnewton.costs.quantum import query_count\n", {"qnewton.costs.quantum"}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from qnewton.cli import main\n", set()),
])
def test_import_parser(tmp_path, source, expected):
    pkg = tmp_path / "qnewton"
    pkg.mkdir()
    path = pkg / "limits.py"
    path.write_text(source)
    got = {t for t, _ in imports_of("qnewton.limits", path, KNOWN)}
    assert got == expected
