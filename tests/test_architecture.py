"""The package's layer rules (docs/dev/architecture.md), checked on the source with ``ast``.

Every module under ``fwpotential/`` is mapped to a layer by its folder. A module may import from
its own layer and the layers below it, never from a layer above; the modules' imports have no
cycle; and no module imports a ``_private`` name of another module, or a private module from
outside the folder that holds it. Every import counts, module-level or inside a function or an
``if TYPE_CHECKING:`` block: a function-local import hides an edge from Python, not from the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "fwpotential"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: Layer rank of each folder (and of the top-level modules), lowest first: data flows upwards
#: through this list, and a module imports only from its own rank or a lower one.
LAYERS = {
    "errors": 0,
    "_progress": 0,
    "_cache": 0,
    "model": 1,
    "geometry": 2,
    "solvers": 3,
    "paths": 3.2,  # minimum action paths, minima, saddles in any dimension: no grid, above the solvers
    "problems": 3.5,  # exact test problems: built from model and geometry, above the solvers
    "analysis": 4,
    "stationary": 5,
    "montecarlo": 6,
    "plot": 7,
    "app": 8,
}
TOP = 9  # fwpotential/__init__.py: the public names, above everything

#: (importer, imported name) pairs allowed to break the private-name rule; keep this empty.
PRIVATE_EXCEPTIONS: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def layer(name: str):
    """Rank of a module: its first folder under the package (or its own name at the top)."""
    parts = name.split(".")
    if len(parts) == 1:
        return TOP
    return LAYERS.get(parts[1])


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _resolve_relative(importer: str, level: int, module: str | None) -> str:
    base = importer.split(".")
    if not _is_package(importer):
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports(name: str):
    """(imported module, imported attribute or None, line) for every package import in a module.

    ``from a.b import c`` is an import of module ``a.b.c`` when that is a module, else of the
    attribute ``c`` of ``a.b``. Attribute reads ``alias._x`` on a name bound to a package module
    are reported as imports of ``_x`` too.
    """
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"), filename=str(MODULES[name]))
    aliases = {}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == PACKAGE:
                    out.append((a.name, None, node.lineno))
                    if a.asname:
                        aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve_relative(name, node.level, node.module) if node.level else node.module
            if not mod or mod.split(".")[0] != PACKAGE:
                continue
            for a in node.names:
                sub = f"{mod}.{a.name}"
                if sub in MODULES:
                    out.append((sub, None, node.lineno))
                    aliases[a.asname or a.name] = sub
                else:
                    out.append((mod, a.name, node.lineno))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and _private(node.attr)
        ):
            target = aliases[node.value.id]
            if f"{target}.{node.attr}" not in MODULES:
                out.append((target, node.attr, node.lineno))
    return out


def edges(name: str):
    """Modules a module depends on: each imported module, and the ``__init__`` of every package
    it passes through from outside that package (importing ``a.b.c`` from outside ``a.b`` runs
    ``a/b/__init__.py``). The top package is left out: every module is inside it."""
    out = {}
    for mod, _attr, line in imports(name):
        parts = mod.split(".")
        for k in range(2, len(parts) + 1):
            target = ".".join(parts[:k])
            inside = name == target or name.startswith(target + ".")
            if target in MODULES and (k == len(parts) or (_is_package(target) and not inside)):
                out.setdefault(target, line)
    out.pop(name, None)
    return out


def test_every_module_has_a_layer():
    unmapped = sorted(n for n in MODULES if layer(n) is None)
    assert not unmapped, f"modules in no layer (add their folder to LAYERS, in order): {unmapped}"


def test_imports_go_down_the_layers():
    upward = []
    for name in MODULES:
        for target, line in edges(name).items():
            if layer(target) is not None and layer(name) is not None and layer(target) > layer(name):
                upward.append(f"{MODULES[name].relative_to(ROOT.parent)}:{line}: {name} imports {target}")
    print("\n".join(upward))
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    graph = {name: edges(name) for name in MODULES}
    report = []
    for comp in _cycles(graph):
        inner = [f"  {a} -> {b} (line {graph[a][b]})" for a in comp for b in graph[a] if b in comp]
        report.append("cycle between " + ", ".join(comp) + ":\n" + "\n".join(inner))
    print("\n".join(report))
    assert not report, "\n".join(report)


def test_no_private_names_across_modules():
    """No ``_name`` of another module; a private module only from inside the folder holding it
    (``fwpotential._progress`` from anywhere in the package, ``solvers/olim/_kernels`` from
    ``solvers/olim/``)."""
    bad = set()
    for name in MODULES:
        for mod, attr, line in imports(name):
            where = f"{MODULES[name].relative_to(ROOT.parent)}:{line}: {name}"
            if attr is not None and _private(attr) and (name, f"{mod}.{attr}") not in PRIVATE_EXCEPTIONS:
                bad.add(f"{where} uses {mod}.{attr}")
            parts = mod.split(".")
            for k, part in enumerate(parts):
                folder = ".".join(parts[:k])
                if _private(part) and not (name == folder or name.startswith(folder + ".")):
                    bad.add(f"{where} imports the private module {'.'.join(parts[: k + 1])}")
                    break
    bad = sorted(bad)
    print("\n".join(bad))
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from fwpotential.model import loss\n", {("fwpotential.model.loss", None)}),
        ("from fwpotential.model.loss import _fd_jac\n", {("fwpotential.model.loss", "_fd_jac")}),
        (
            "def f():\n    from fwpotential.model import noise as n\n    return n._Discrete\n",
            {("fwpotential.model.noise", None), ("fwpotential.model.noise", "_Discrete")},
        ),
    ],
)
def test_import_parser(tmp_path, monkeypatch, source, expected):
    """The parser sees function-local imports and attribute reads of private names."""
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    monkeypatch.setitem(MODULES, "fwpotential.app.probe", path)
    assert {(m, a) for m, a, _ in imports("fwpotential.app.probe")} == expected


def test_cycle_finder():
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert _cycles(graph) == [["a", "b", "c"]]
