"""A key of project.yaml, declared once: its name, its value's type and bounds, its default and its doc.

Sections (tasks/config/declared.py), scheme types (tasks/model/schemes),
task types (tasks/model/metrics/__init__.py) and toolchains declare their
keys with these; schema/project.schema.json is generated from them
(``python -m tasks.reference``), and the reference pages and editors read
that.  ``value`` is the JSON Schema of the key's value (type, enum, bounds,
items, properties), or the ``Keys`` of a mapping; ``doc`` and ``default``
are added to it when the schema is written.  Plain data: no import beyond
the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NO_DEFAULT: Any = object()


@dataclass(frozen=True)
class Key:
    name: str
    value: dict[str, Any] | Keys  # the JSON Schema of the value (without description and default), or a mapping's keys
    doc: str = ""
    default: Any = NO_DEFAULT
    required: bool = False

    def schema(self) -> dict[str, Any]:
        """The value's JSON Schema with its doc and default, in the order the schema file keeps them."""
        out = self.value.schema() if isinstance(self.value, Keys) else dict(self.value)
        if self.doc:
            out["description"] = self.doc
        if self.default is not NO_DEFAULT:
            out["default"] = self.default
        return out


@dataclass(frozen=True)
class Keys:
    """The keys of one mapping of project.yaml (a section's entry, a target, a task, …); any other key is an error."""

    keys: tuple[Key, ...]
    doc: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # further JSON Schema (allOf, if/then, …)

    def names(self) -> frozenset[str]:
        return frozenset(k.name for k in self.keys)

    def __getitem__(self, name: str) -> Key:
        found = [k for k in self.keys if k.name == name]
        if not found:
            raise KeyError(f"no key {name!r} declared (declared: {', '.join(k.name for k in self.keys)})")
        return found[0]

    def default(self, name: str) -> Any:
        """The declared default of key ``name``; an error when it has none (the caller's default would be a guess)."""
        value = self[name].default
        if value is NO_DEFAULT:
            raise KeyError(f"key {name!r} declares no default")
        return value

    def value(self, given: dict[str, Any], name: str) -> Any:
        """Key ``name`` of the mapping ``given`` as written, else its declared default."""
        return given[name] if name in given else self.default(name)

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object", "additionalProperties": False}
        required = [k.name for k in self.keys if k.required]
        if required:
            out["required"] = required
        if self.doc:
            out["description"] = self.doc
        out["properties"] = {k.name: k.schema() for k in self.keys}
        out.update(self.extra)
        return out


# --- short forms of the common values -------------------------------------------------------------


def ref(target: str) -> dict[str, Any]:
    """A reference to ``$defs/target`` of the schema."""
    return {"$ref": f"#/$defs/{target}"}


def bounds(
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: float | None = None,
    exclusive_maximum: float | None = None,
) -> dict[str, Any]:
    """JSON Schema's bounds of a number, those given."""
    given = {
        "minimum": minimum,
        "maximum": maximum,
        "exclusiveMinimum": exclusive_minimum,
        "exclusiveMaximum": exclusive_maximum,
    }
    return {k: v for k, v in given.items() if v is not None}


def string(name: str, doc: str, *, pattern: str | None = None, default: Any = NO_DEFAULT, required=False) -> Key:
    """A string: non-empty, or matching ``pattern``."""
    value = {"type": "string", "pattern": pattern} if pattern else {"type": "string", "minLength": 1}
    return Key(name, value, doc, default, required)


def integer(name: str, doc: str, *, default: Any = NO_DEFAULT, required=False, **limits: float) -> Key:
    """An integer within ``limits`` (minimum, maximum, exclusive_minimum, exclusive_maximum)."""
    return Key(name, {"type": "integer", **bounds(**limits)}, doc, default, required)


def number(name: str, doc: str, *, default: Any = NO_DEFAULT, required=False, **limits: float) -> Key:
    """A number within ``limits`` (minimum, maximum, exclusive_minimum, exclusive_maximum)."""
    return Key(name, {"type": "number", **bounds(**limits)}, doc, default, required)


def boolean(name: str, doc: str, *, default: Any = NO_DEFAULT, required=False) -> Key:
    return Key(name, {"type": "boolean"}, doc, default, required)


def enum(name: str, values: tuple[str, ...] | list[str], doc: str, *, default: Any = NO_DEFAULT, required=False) -> Key:
    """One of ``values``, in the order the schema lists them."""
    return Key(name, {"enum": list(values)}, doc, default, required)


def strings(name: str, doc: str, *, required=False) -> Key:
    """A non-empty list of non-empty strings."""
    return Key(
        name, {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}, doc, required=required
    )
