"""The layers of lstmspec only look down: no import cycles, the commands on top, modules of a readable size.

Every module's imports are read with ``ast``, those inside functions too (a
function-level import that hides a cycle is a cycle). One edge is allowed to
look up: ``Spec.reference``/``random_params``/``random_inputs`` reach the
reference through one lazy import of ``lstmspec.reference.facade``.
"""
from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lstmspec"
MAX_LINES = 600

#: the one import that looks up, and only from inside a function
ALLOWED_UP = {("lstmspec.spec.model", "lstmspec.reference.facade")}

#: what renders results must not import: the commands, and what plans or runs a check
NOT_FOR_REPORT = ("lstmspec.cli", "lstmspec.check.plans", "lstmspec.check.parallel", "lstmspec.check.runner")


def module_files(package: Path) -> dict[str, Path]:
    """``{dotted name: file}`` for every module of ``package`` (a package is named by its ``__init__``)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports_of(name: str, source: str, is_package: bool, modules: Iterable[str]) -> dict[str, bool]:
    """``{imported module: only inside functions}`` for the lstmspec modules that ``source`` imports.

    ``from X import y`` names the module ``X.y`` when that is a module, else ``X``; relative imports are
    resolved against ``name``.
    """
    known = set(modules)
    found: dict[str, bool] = {}
    tree = ast.parse(source)
    top_level = {id(node) for node in _outside_functions(tree)}
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                       for alias in node.names]
        for target in targets:
            while target and target not in known and "." in target:  # import a.b.c of a package a.b
                target = target.rsplit(".", 1)[0]
            if target in known and target != name:
                lazy = id(node) not in top_level
                found[target] = found.get(target, True) and lazy
    return found


def _outside_functions(tree: ast.AST) -> Iterable[ast.AST]:
    """The nodes not inside a function body (module level, class bodies, ``if`` blocks)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                stack.append(child)


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = itertools.count()

    def visit(v: str) -> None:
        index[v] = low[v] = next(counter)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def import_graph() -> dict[str, dict[str, bool]]:
    files = module_files(PACKAGE)
    return {name: imports_of(name, path.read_text(encoding="utf-8"), path.name == "__init__.py", files)
            for name, path in files.items()}


GRAPH = import_graph()
SOURCES = {name: path.read_text(encoding="utf-8") for name, path in module_files(PACKAGE).items()}


def _entry_point(module: str) -> bool:
    """``python -m ...`` modules: run, never imported, so above every layer."""
    return module == "lstmspec.__main__" or module.endswith(".__main__")


# ------------------------------------------------------------------ the rules
def test_there_is_no_import_cycle_but_the_one_lazy_facade_import():
    graph = {m: {t for t in targets if (m, t) not in ALLOWED_UP} for m, targets in GRAPH.items()}
    assert cycles(graph) == []


def test_the_one_import_that_looks_up_is_lazy_and_the_only_one_from_the_spec_layer_to_the_reference():
    for module, target in ALLOWED_UP:
        assert GRAPH[module].get(target) is True, f"{module} imports {target} at module level (or not at all)"
    up = {(m, t) for m, targets in GRAPH.items() if m.startswith("lstmspec.spec")
          for t in targets if t.startswith("lstmspec.reference")}
    assert up == ALLOWED_UP


def test_nothing_below_the_command_line_imports_it():
    offenders = [f"{m} imports {t}" for m, targets in GRAPH.items()
                 if not m.startswith("lstmspec.cli") and not _entry_point(m)
                 for t in targets if t == "lstmspec.cli" or t.startswith("lstmspec.cli.")]
    assert offenders == []


def test_report_renders_results_and_imports_no_command():
    offenders = [f"{m} imports {t}" for m, targets in GRAPH.items() if m.startswith("lstmspec.report")
                 for t in targets if any(t == f or t.startswith(f + ".") for f in NOT_FOR_REPORT)]
    assert offenders == []


def test_no_module_is_over_600_lines():
    long = {name: n for name, source in SOURCES.items() if (n := len(source.splitlines())) > MAX_LINES}
    assert long == {}


def test_the_devices_are_named_in_one_place():
    defining = [name for name, source in SOURCES.items() for node in ast.parse(source).body
                if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DEVICES" for t in node.targets)]
    assert defining == ["lstmspec.machine"]


def test_check_plans_are_built_from_plain_data_never_a_command_line():
    """--jobs helpers rebuild the plans in another process from what they are sent: a frozen dataclass."""
    import dataclasses
    import pickle

    from lstmspec.check.plans import CheckOptions, build_plans

    options = CheckOptions(specs=("lstm",), frameworks=("torch",), cases=("batch=2,time=3,input=4,units=5",))
    assert dataclasses.is_dataclass(options) and pickle.loads(pickle.dumps(options)) == options
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.seed = 1  # type: ignore[misc]
    plans, kernels, devices, _ = build_plans(dataclasses.replace(options, devices=("cpu",)))
    assert [p.spec.name for p in plans] == ["lstm"] and kernels == [] and devices == ["cpu"]
    assert [c.key for c in plans[0].cases] == ["batch=2,time=3,input=4,units=5"]
    assert "argparse" not in SOURCES["lstmspec.check.plans"] + SOURCES["lstmspec.check.parallel"]


# ------------------------------------------------------- the helpers themselves
def test_cycles_finds_a_cycle_through_three_modules_and_none_in_a_chain():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_imports_of_reads_function_level_and_relative_imports():
    source = (
        "from .b import thing\n"
        "import pkg.c\n"
        "def f():\n"
        "    from ..top import d\n"
        "    from . import e\n"
    )
    modules = ["pkg", "pkg.sub", "pkg.sub.a", "pkg.sub.b", "pkg.c", "pkg.top", "pkg.sub.e"]
    found = imports_of("pkg.sub.a", source, False, modules)
    assert found == {"pkg.sub.b": False, "pkg.c": False, "pkg.top": True, "pkg.sub.e": True}
