"""House rules the code keeps: short functions in tasks/, and no import cycle between its modules."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter

from support import REPO

LONGEST = 80  # lines, decorators and docstring included


def functions(package: str = "tasks"):
    for path in sorted((REPO / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                yield f"{path.relative_to(REPO)}:{node.lineno} {node.name}", node.end_lineno - start + 1


def test_no_function_in_tasks_is_longer_than_80_lines():
    long = [f"{where} ({lines} lines)" for where, lines in functions() if lines > LONGEST]
    assert long == [], "split these functions:\n" + "\n".join(long)


def test_the_rule_sees_functions():
    sizes = dict(functions())
    assert len(sizes) > 200 and any(name.endswith(" plan") for name in sizes)


def _module(path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and getattr(test, "id", getattr(test, "attr", None)) == "TYPE_CHECKING"


def imports(package: str = "tasks") -> dict[str, set[str]]:
    """Each module of ``package`` → the modules of it that it imports, at the top or inside a function
    (imports made only for type checkers aside), and the packages those are in: their ``__init__`` runs first."""
    paths = {_module(p): p for p in sorted((REPO / package).rglob("*.py"))}

    def known(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        found, todo = set(), [ast.parse(path.read_text(), str(path))]
        while todo:
            node = todo.pop()
            if _type_checking_only(node):
                todo.extend(node.orelse)
                continue
            if isinstance(node, ast.Import):
                found.update(known(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.update(known(f"{node.module}.{a.name}") for a in node.names)
            todo.extend(ast.iter_child_nodes(node))
        # importing a.b.c runs a/__init__ and a/b/__init__ first (those of the importer's own packages have run)
        found |= {p for m in list(found) if m for p in _parents(m) if not name.startswith(p + ".")}
        graph[name] = {m for m in found if m and m != name and m in paths}
    return graph


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def cycle(graph: dict[str, set[str]]) -> list[str]:
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        return exc.args[1]
    return []


def test_no_import_cycle_between_the_modules_of_tasks_not_even_through_a_function():
    found = cycle(imports())
    assert found == [], "these modules import each other, in a circle: " + " -> ".join(found)


def test_the_cycle_rule_sees_imports_inside_functions_and_the_packages_they_run():
    graph = imports()
    assert "tasks.engine.worker" in graph["tasks.engine.loader"]  # imported inside ProjectLoader.finish
    assert "tasks.model" in graph["tasks.steps.search"]  # it imports tasks.model.mixed_search: model/__init__ runs
    # it imports tasks.config.project for type checkers only
    assert "tasks.config" not in graph["tasks.model.mixed_search"]
    assert cycle({**graph, "tasks.engine.worker": graph["tasks.engine.worker"] | {"tasks.engine.loader"}})


# The floors of tasks/, lowest first: a package imports only packages on floors below its own.  The modules at
# the top of tasks/ (errors, atomic, digests, progress, pyfiles) are the ground floor.  docs/architecture.md draws it.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("tasks",),  # errors, atomic, digests, progress, pyfiles
    ("tflite", "boards", "cache", "planning"),  # flatbuffers; SSH; the step cache; the step vocabulary
    ("model",),  # the work: import, quantize, measure
    ("toolchains",),  # each toolchain's keys, rules, steps and artifact
    ("config",),  # project.yaml → the typed project
    ("report", "results"),  # the report's pages; results.json's records and the failure records
    ("steps",),  # the step table and its steps
    ("engine",),  # the plan, doit wiring, workers, commands
    ("reference",),  # the generated reference pages
)


def package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or module in {"tasks." + p for f in FLOORS for p in f} else "tasks"


def upward(graph: dict[str, set[str]]) -> list[str]:
    floor = {p: i for i, f in enumerate(FLOORS) for p in f}
    return sorted(
        f"{a} -> {b} ({package(a)} may not import {package(b)})"
        for a, found in graph.items()
        for b in found
        if package(a) != package(b) and floor[package(b)] >= floor[package(a)]
    )


def test_every_package_of_tasks_has_a_floor():
    packages = {p.name for p in (REPO / "tasks").iterdir() if (p / "__init__.py").is_file()}
    assert packages == {p for f in FLOORS for p in f} - {"tasks"}


def test_no_package_imports_one_on_its_floor_or_above_not_even_through_a_function():
    found = upward(imports())
    assert found == [], "these imports go up the floors of docs/architecture.md:\n" + "\n".join(found)


def test_the_floor_rule_sees_an_import_going_up():
    graph = imports()
    assert upward({**graph, "tasks.model.quantizer": {"tasks.config.project"}}) == [
        "tasks.model.quantizer -> tasks.config.project (model may not import config)"
    ]
    assert upward({"tasks.steps.results": {"tasks.results.records", "tasks.errors"}}) == []
