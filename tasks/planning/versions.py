"""Versions of what decides a step's output: the tools it calls and its own code.

Both are part of every step's fingerprint: upgrading Vela re-runs the
compiles, upgrading TensorFlow re-runs imports and quantization, and a new
NPUForge re-runs the steps whose code changed.  Tool versions are read from
package metadata (no import); which tools a step calls is its row of the step
table.  A step's code is its module and every module of this package it
imports, found by reading the source (imports inside functions count; imports
only for type checking do not; a string naming a module of this package, as
the rewrite table and the board runner use, counts as an import).
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tasks.planning.step import StepKind

_PACKAGE = Path(__file__).resolve().parent.parent
_ROOT = _PACKAGE.parent

# distributions that provide the same import under another name
_ALIASES = {"tensorflow": ("tensorflow", "tensorflow-cpu")}


@cache
def version(dist: str) -> str:
    for name in _ALIASES.get(dist, (dist,)):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def python_version() -> str:
    import platform

    return platform.python_version()


def _module_file(name: str) -> Path | None:
    """The source file of a module of this package, or None."""
    if name != "tasks" and not name.startswith("tasks."):
        return None
    base = _ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@cache
def imports_of(module: str) -> tuple[str, ...]:
    """Modules of this package that ``module``'s source imports or names (sorted)."""
    path = _module_file(module)
    if path is None:
        return ()
    found: set[str] = set()
    stack: list[ast.AST] = [ast.parse(path.read_text(), str(path))]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found.update(names)
            if not all(_module_file(n) for n in names):  # `from pkg import sub`: pkg is only the way to sub
                found.add(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("tasks."):
            found.add(node.value)
        stack.extend(ast.iter_child_nodes(node))
    return tuple(sorted(m for m in found if m != module and _module_file(m) is not None))


@cache
def code_of(module: str) -> tuple[str, ...]:
    """``module`` and every module of this package it reaches through imports, sorted."""
    seen = {module}
    todo = [module]
    while todo:
        for name in imports_of(todo.pop()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return tuple(sorted(seen))


@cache
def code_digest(kind: StepKind) -> str:
    """Digest of the step's own implementation: a new NPUForge re-runs the steps it changed."""
    h = hashlib.sha256()
    for name in code_of(kind.run.__module__):
        path = _module_file(name)
        h.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def tool_versions(kind: StepKind) -> dict[str, str]:
    return {"npuforge": code_digest(kind), **{dist: version(dist) for dist in kind.tools}}
