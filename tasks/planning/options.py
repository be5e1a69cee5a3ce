"""Step options: one frozen dataclass per step kind, and what is derived from it.

A step's options are the whole of what its function receives.  Everything
else about the step is read off the dataclass, so nothing can drift:

- the input files (doit's ``file_dep``): fields declared with ``input_file()``;
- the output files (doit's ``targets``): fields declared with ``output_file()``;
- the fingerprint: every field not declared with ``unfingerprinted()``,
  paths relative to the project folder (a moved project stays up to date);
- the JSON that carries it to a worker process, and back to the typed object.

Fields may be ``Path``, ``Path | None``, ``tuple[Path, ...]``, nested option
dataclasses (alone or in tuples), JSON values (str, int, float, bool, None,
lists and dicts of them).  Pure: imports nothing heavy.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any

_ROLE = "npuforge.role"  # "in" | "out"
_FINGERPRINT = "npuforge.fingerprint"
_ADDED = "npuforge.added"


def input_file(default: Any = dataclasses.MISSING) -> Any:
    """A field holding input file(s) of the step: they become doit's file_dep."""
    return dataclasses.field(default=default, metadata={_ROLE: "in"})


def output_file(default: Any = dataclasses.MISSING) -> Any:
    """A field holding output file(s) of the step: they become doit's targets."""
    return dataclasses.field(default=default, metadata={_ROLE: "out"})


def unfingerprinted(default: Any = dataclasses.MISSING, role: str | None = None) -> Any:
    """A field the step gets but whose change does not re-run it (a timeout, a key file's location)."""
    metadata: dict[str, Any] = {_FINGERPRINT: False}
    if role:
        metadata[_ROLE] = role
    return dataclasses.field(default=default, metadata=metadata)


def added(default: Any, role: str | None = None) -> Any:
    """A field added to a step kind's options after projects were built: fingerprinted only when it differs from
    ``default``, so a step that does not use it keeps its fingerprint (and is not re-run for a new feature);
    ``role`` "in" or "out" makes its paths input or output files."""
    return dataclasses.field(default=default, metadata={_ADDED: True, **({_ROLE: role} if role else {})})


def role_of(f: dataclasses.Field) -> str | None:
    """ "in", "out" or None: what the field's paths are to the step."""
    return f.metadata.get(_ROLE)


def is_fingerprinted(f: dataclasses.Field) -> bool:
    return f.metadata.get(_FINGERPRINT, True)


def files(options: Any, role: str) -> tuple[Path, ...]:
    """Every path in fields of ``role`` ("in" or "out"), in field order, nested options included."""
    found: list[Path] = []
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        if f.metadata.get(_ROLE) == role:
            found += [p for p in _paths(value) if p not in found]
        elif _is_options(value) or (isinstance(value, tuple) and value and _is_options(value[0])):
            for item in value if isinstance(value, tuple) else (value,):
                found += [p for p in files(item, role) if p not in found]
    return tuple(found)


def _paths(value: Any) -> list[Path]:
    if isinstance(value, Path):
        return [value]
    if isinstance(value, tuple | list):
        return [p for item in value for p in _paths(item)]
    return []


def _is_options(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def fingerprint(options: Any, root: Path) -> dict[str, Any]:
    """The options as the JSON that decides whether the step re-runs."""
    return {
        f.name: _plain(getattr(options, f.name), root, fingerprinted=True)
        for f in dataclasses.fields(options)
        if f.metadata.get(_FINGERPRINT, True) and not (f.metadata.get(_ADDED) and getattr(options, f.name) == f.default)
    }


def to_json(options: Any) -> dict[str, Any]:
    """Every field as JSON (absolute paths): what a worker process receives."""
    return {f.name: _plain(getattr(options, f.name), None, fingerprinted=False) for f in dataclasses.fields(options)}


def _plain(value: Any, root: Path | None, fingerprinted: bool) -> Any:
    if isinstance(value, Path):
        return relative(value, root) if root is not None else str(value)
    if _is_options(value):
        return fingerprint(value, root) if fingerprinted else to_json(value)
    if isinstance(value, tuple | list):
        return [_plain(v, root, fingerprinted) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, root, fingerprinted) for k, v in value.items()}
    return value


def relative(path: str | Path, root: str | Path) -> str:
    """``path`` relative to ``root`` (POSIX form) when inside it, else as it is."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def from_json(cls: type, data: dict[str, Any]) -> Any:
    """The typed options back from ``to_json``'s output."""
    hints = _hints(cls)
    return cls(**{name: _typed(hints[name], value) for name, value in data.items()})


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _typed(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        (hint,) = [a for a in args if a is not type(None)] or (Any,)
        return _typed(hint, value)
    if hint is Path:
        return Path(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_json(hint, value)
    if origin is tuple:
        item = args[0] if args else Any
        return tuple(_typed(item, v) for v in value)
    return value
