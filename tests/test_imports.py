"""Imports inside tools/semask point down the stages spec < core < data < model < backends < evaluate < run,
and no two modules reach each other (function-local imports count: they run too, just later).

The graph is read with `ast` from the source files, so nothing is imported to check it. The checker is
tried first on a small hand-made tree with one of each fault, so a broken checker cannot pass the kit.
"""
from __future__ import annotations

import ast
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools"
# `python -m semask` (semask/__main__.py, the pipeline steps' entry point) sits above every stage
STAGES = ("spec", "core", "data", "model", "backends", "evaluate", "run", "__main__")


def module_files(root: Path, package: str = "semask") -> dict[str, Path]:
    """Dotted module name -> source file, for every .py under root/package (a package is its __init__)."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[tuple[str, int]]:
    """(module of the package, line) for every import in the file, at any depth, relative ones resolved."""
    found = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
            targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add((target, node.lineno))
    return found


def stage_of(module: str) -> int:
    """Index in STAGES; the package root and `semask.spec` are the bottom stage."""
    parts = module.split(".")
    if len(parts) == 1:
        return 0
    return STAGES.index(parts[1])


def import_graph(root: Path) -> dict[str, set[tuple[str, int]]]:
    known = module_files(root)
    return {name: imported_modules(name, path, known) for name, path in known.items()}


def upward_imports(graph: dict[str, set[tuple[str, int]]]) -> set[tuple[str, str, int]]:
    return {(src, dst, line) for src, edges in graph.items() for dst, line in edges if stage_of(dst) > stage_of(src)}


def cycles(graph: dict[str, set[tuple[str, int]]]) -> list[frozenset[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    succ = {n: sorted({d for d, _ in edges}) for n, edges in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in sorted(succ):
        if start in index:
            continue
        work = [(start, iter(succ[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(succ.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(frozenset(group))
    return groups


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_checker_finds_each_fault_in_a_hand_made_tree(tmp_path):
    for pkg in ("semask", "semask/core", "semask/model", "semask/backends"):
        _write(tmp_path, f"{pkg}/__init__.py", "")
    _write(tmp_path, "semask/spec.py", "import os\n")
    _write(tmp_path, "semask/core/a.py", "from semask import spec\n\ndef f():\n    from semask.backends import r\n")
    _write(tmp_path, "semask/model/m1.py", "from . import m2\n")
    _write(tmp_path, "semask/model/m2.py", "def g():\n    from .m1 import name\n")
    _write(tmp_path, "semask/backends/r.py", "import semask.core.a as a\nfrom ..model.m1 import thing\n")
    graph = import_graph(tmp_path)
    assert graph["semask.core.a"] == {("semask.spec", 1), ("semask.backends.r", 4)}
    assert graph["semask.model.m1"] == {("semask.model.m2", 1)}
    assert graph["semask.backends.r"] == {("semask.core.a", 1), ("semask.model.m1", 2)}
    assert upward_imports(graph) == {("semask.core.a", "semask.backends.r", 4)}
    assert sorted(map(sorted, cycles(graph))) == [["semask.backends.r", "semask.core.a"],
                                                  ["semask.model.m1", "semask.model.m2"]]


def test_every_module_is_in_a_stage():
    names = module_files(TOOLS)
    assert "semask.spec" in names and len(names) > 50
    strays = [n for n in names if n.count(".") >= 1 and n.split(".")[1] not in STAGES]
    assert strays == []


def folder_of(module: str) -> str:
    """The folder (package) a module sits in: semask.backends.ascend.fs -> semask.backends.ascend."""
    return module if module in FOLDERS else module.rpartition(".")[0]


FOLDERS = {n for n, p in module_files(TOOLS).items() if p.name == "__init__.py"}


def test_imports_point_down_the_stages():
    found = sorted(f"{src} imports {dst} (line {line})" for src, dst, line in upward_imports(import_graph(TOOLS)))
    assert found == []


def test_no_import_cycles():
    assert sorted(map(sorted, cycles(import_graph(TOOLS)))) == []


def test_no_folder_cycles():
    """Folders too: a module of folder A importing folder B while one of B imports A is a loop of rooms."""
    graph = import_graph(TOOLS)
    folders: dict[str, set[tuple[str, int]]] = {}
    for src, edges in graph.items():
        out = folders.setdefault(folder_of(src), set())
        out.update((folder_of(dst), line) for dst, line in edges
                   if folder_of(dst) != folder_of(src) and not folder_of(src).startswith(folder_of(dst) + ".")
                   and not folder_of(dst).startswith(folder_of(src) + "."))
    assert sorted(map(sorted, cycles(folders))) == []
