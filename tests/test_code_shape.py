"""House rules the code keeps: short functions in tasks/."""

from __future__ import annotations

import ast

from conftest import REPO

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
