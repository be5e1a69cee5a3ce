"""project.yaml as a document: YAML with the line of every key, validated against the schema.

The first layer of loading: nothing here knows what a model or a target is.
PyYAML's composed nodes keep ``start_mark.line``, so every error, from the
schema or from a later layer, can name ``file:line: yaml.path``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tasks.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parent.parent.parent / "schema" / "project.schema.json"


class Lines:
    """Maps a YAML path (tuple of keys / indices) to the 1-based line it starts on."""

    def __init__(self, node: yaml.Node | None, label: str):
        self.label = label
        self.lines: dict[tuple, int] = {}
        if node is not None:
            self._walk(node, ())

    def _walk(self, node: yaml.Node, path: tuple) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                name = key.value
                if name in seen:
                    raise ConfigError(
                        f"{self.label}:{key.start_mark.line + 1}: {format_path(path + (name,))}: "
                        f"duplicate key '{name}'; keep only one"
                    )
                seen.add(name)
                self.lines[path + (name, "<key>")] = key.start_mark.line + 1
                self._walk(value, path + (name,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, path + (i,))

    def line(self, path: tuple) -> int:
        """The line of the key that names ``path`` (else of its value, else of its parent)."""
        if path + ("<key>",) in self.lines:
            return self.lines[path + ("<key>",)]
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def error(self, path: tuple, message: str) -> str:
        where = f"{format_path(path)}: " if path else ""
        return f"{self.label}:{self.line(path)}: {where}{message}"


def format_path(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@cache
def _validator():
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.Draft202012Validator(schema)


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _schema_message(error) -> tuple[tuple, str]:
    """One readable sentence for a jsonschema error: (YAML path, message)."""
    path = tuple(error.absolute_path)
    v, value, schema = error.validator, error.instance, error.schema
    if v == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed)) if isinstance(value, dict) else []
        if extra and allowed:
            return path + (extra[0],), f"unknown key '{extra[0]}'; allowed keys: {', '.join(allowed)}"
        if extra:
            return path + (extra[0],), f"unknown key '{extra[0]}'"
    if v == "enum":
        return path, f"{_show(value)} is not one of {', '.join(map(str, error.validator_value))}"
    if v == "const":
        return path, f"{_show(value)} must be {_show(error.validator_value)}"
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return path, f"missing required key '{missing}'"
    if v == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return path, f"{_show(value)} is not of type {wanted}"
    if v == "pattern":
        hints = {
            "sha256": "a 64-digit lowercase hex sha256",
            "pip": "a pinned requirement such as mediapipe==0.10.14",
            "builder": "path/to/file.py:function",
            "categories": "a COCO category id (an integer)",
        }
        leaf = next((p for p in reversed(path) if isinstance(p, str)), "")
        hint = hints.get(leaf, f"letters, digits, '_' and '-' (pattern {error.validator_value})")
        return path, f"{_show(value)} is not valid: expected {hint}"
    if v in ("minItems", "maxItems", "minLength", "minProperties"):
        return path, f"{_show(value)} is too short ({v} {error.validator_value})"
    if v in ("minimum", "exclusiveMinimum", "maximum"):
        return path, f"{_show(value)} is out of range ({v} {error.validator_value})"
    return path, error.message


def _validate_schema(data: Any, lines: Lines) -> None:
    errors = sorted(_validator().iter_errors(data), key=lambda e: lines.line(tuple(e.absolute_path)))
    # if/then branches report the same problem twice; keep the first of each path.
    seen: set[str] = set()
    messages = []
    for error in errors:
        path, message = _schema_message(error)
        text = lines.error(path, message)
        if text not in seen:
            seen.add(text)
            messages.append(text)
    if messages:
        raise ConfigError("\n".join(messages))


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, where PyYAML was built with it


def read(path: Path) -> tuple[dict[str, Any], Lines]:
    """The parsed, schema-valid document and its lines; ConfigError naming file:line otherwise."""
    label = path.name if path.parent == Path.cwd() else str(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{label}: no such file; create it or pass project=PATH/project.yaml") from None
    try:
        node = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{label}:{line}: YAML syntax error: {problem}") from None
    lines = Lines(node, label)
    if data is None:
        raise ConfigError(f"{label}:1: the file is empty; start with 'version: 1'")
    _validate_schema(data, lines)
    return data, lines
