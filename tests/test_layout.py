"""The installed package's shape: one namespace, no import cycles, no reach into private modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mixcompare
import pytest

ROOT = Path(mixcompare.__file__).resolve().parent
PACKAGES = ("em", "models", "comparisons")


def _modules() -> dict[str, Path]:
    """Every module of the installed package, by dotted name."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "data" in path.relative_to(ROOT / pkg).parts:
                continue  # the data folder's generator script is not part of the package
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out["mixcompare." + ".".join(parts)] = path
    return out


def _imports(name: str, path: Path) -> set[str]:
    """Modules of mixcompare that ``name`` imports at module level or inside functions."""
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mixcompare")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                mod = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module
                                                                     else []))
            else:
                mod = node.module or ""
            if not mod.startswith("mixcompare"):
                continue
            found.add(mod)
            found |= {f"{mod}.{a.name}" for a in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: {m for m in _imports(name, path) if m in mods and m != name}
            for name, path in mods.items()}


def test_namespace_imports_from_anywhere(tmp_path):
    code = ("import mixcompare; from mixcompare import em, models, comparisons; "
            "print(mixcompare.__version__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == mixcompare.__version__
    for bare in PACKAGES:
        res = subprocess.run([sys.executable, "-c", f"import {bare}"], cwd=tmp_path,
                             capture_output=True, text=True)
        assert res.returncode != 0, f"a bare 'import {bare}' must not find mixcompare's folder"
        assert "ModuleNotFoundError" in res.stderr


def test_dependency_direction():
    """em <- models <- comparisons: em imports neither, models never imports comparisons."""
    rank = {"em": 0, "models": 1, "comparisons": 2}
    for name, deps in _graph().items():
        own = rank[name.split(".")[1]]
        for dep in deps:
            assert rank[dep.split(".")[1]] <= own, f"{name} imports {dep}"


def test_no_cross_package_private_imports():
    """A module may use another sub-package only through its public (non-underscore) modules."""
    for name, deps in _graph().items():
        pkg = name.split(".")[1]
        for dep in deps:
            if dep.split(".")[1] != pkg:
                private = [p for p in dep.split(".")[2:] if p.startswith("_")]
                assert not private, f"{name} imports the private {dep}"


def test_no_import_cycle():
    graph = _graph()
    # a package's __init__ importing its own submodules is how Python packages work;
    # a cycle is a submodule that (transitively) imports back into a module importing it
    edges = {n: {d for d in deps if not n.startswith(d + ".") and not d.startswith(n + ".")}
             for n, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if state.get(nxt) is None:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n, [n])


def test_size_limits():
    """Small files, one concept each; ``comparisons`` keeps few top-level modules."""
    mods = _modules()
    too_long = {n: len(p.read_text().splitlines()) for n, p in mods.items()
                if len(p.read_text().splitlines()) > 420}
    assert not too_long, f"files over ~400 lines: {too_long}"
    top = [p for p in (ROOT / "comparisons").glob("*.py")]
    assert len(top) <= 8, sorted(p.name for p in top)


def test_pipeline_functions_are_short():
    """No function of the comparison pipeline is longer than ~60 lines (docstring included)."""
    long = []
    for path in sorted((ROOT / "comparisons" / "pipeline").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 90 or (n > 60 and not ast.get_docstring(node)):
                    long.append(f"{path.name}:{node.name} ({n} lines)")
    assert not long, long
