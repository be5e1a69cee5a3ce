"""schema/results.schema.json, generated from the records of tasks/results/records.py.

The TypedDicts there declare each key of results.json once: its type, whether
it may be missing or null, its description (``Doc``) and its bounds (``Min``,
``Max``, ``Pattern``).  The results step checks what it writes against the
JSON Schema this module makes of them, so the schema says what the types say
and nothing else.  ``python -m tasks.reference`` writes it; a test fails when
the committed file is not what ``render`` gives.

Every record becomes a ``$defs`` entry, referenced where it is used; every
object is closed (``additionalProperties: false``) unless its record
``keeps_other_keys``; and a key without a ``Doc`` is an error here, not a
schema with a gap.
"""

from __future__ import annotations

import inspect
import json
import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,
    Required,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

from tasks.results import records

PATH = Path(__file__).resolve().parent.parent.parent / "schema" / "results.schema.json"
ID = "https://npuforge.dev/schema/results.schema.json"
TITLE = "NPUForge results"
GENERATED = "Generated from tasks/results/records.py by `python -m tasks.reference`; do not edit by hand."

# the $defs names that are not the record's name in camelCase: the names the schema has always had
NAMES = {
    "VariantRow": "variant",
    "VariantAccuracy": "accuracy",
    "Rewritten": "rewrite",
    "VelaOps": "ops",
    "VelaLayer": "layer",
}

# a node's keywords in the order the file shows them; a keyword not listed follows them
ORDER = (
    "type const enum $ref description pattern minimum maximum items additionalProperties required properties if then"
)
ORDER_OF = {keyword: i for i, keyword in enumerate(ORDER.split())}

SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


class SchemaError(TypeError):
    """A record that cannot be said as JSON Schema, or a key without its description."""


@dataclass
class Defs:
    """The ``$defs`` of the schema being made: each record's schema under its name, defined on first use.

    A definition has no ``type``: where it is used says ``object``, or ``object`` or ``null``.
    """

    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, type] = field(default_factory=dict)

    def ref(self, record: type) -> str:
        name = _def_name(record)
        if self.records.setdefault(name, record) is not record:
            raise SchemaError(f"{record.__name__} and {self.records[name].__name__} are both $defs/{name}: rename one")
        if name not in self.schemas:
            self.schemas[name] = {}  # a record that refers to itself finds its name
            self.schemas[name] = _record(record, self)
        return "#/$defs/" + name


def results_schema() -> dict[str, Any]:
    """The JSON Schema of build/results.json, from ``records.Results``."""
    head = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": ID, "$comment": GENERATED}
    return {**head, "title": TITLE, **generate(records.Results)}


def generate(root: type) -> dict[str, Any]:
    """``root``, a TypedDict, as a JSON Schema object, with every record it reaches under ``$defs``."""
    defs = Defs()
    node = _ordered({"type": "object", **_record(root, defs)})
    return {**node, "$defs": dict(sorted(defs.schemas.items()))} if defs.schemas else node


def render() -> str:
    """schema/results.schema.json's text: the same records give the same bytes."""
    return json.dumps(results_schema(), indent=2, ensure_ascii=False) + "\n"


def _def_name(record: type) -> str:
    name = record.__name__
    return NAMES.get(name) or name[0].lower() + name[1:]


def _record(record: type, defs: Defs) -> dict[str, Any]:
    """A TypedDict as an object schema: its keys, which are required, and the rules its keys' metadata add.

    Which keys are required is read from the ``NotRequired`` around each hint: with postponed annotations
    Python 3.11's ``__required_keys__`` counts every key of a class-syntax TypedDict as required.
    """
    properties: dict[str, Any] = {}
    required: list[str] = []
    nulls: dict[str, Any] = {}
    for key, hint in get_type_hints(record, include_extras=True).items():
        hint, needed = _requiredness(hint, record.__total__)
        where = f"{record.__name__}.{key}"
        properties[key] = _node(hint, defs, where)
        if "description" not in properties[key]:
            raise SchemaError(f"{where} has no description: declare it as Annotated[…, Doc('…')] in records.py")
        required += [key] if needed else []
        for rule in _metadata(hint, records.NullsWhenPresent):
            if needed:
                raise SchemaError(f"{where}: NullsWhenPresent needs a key that may be missing (NotRequired)")
            nulls[key] = {"properties": {k: {"type": "null", "description": why} for k, why in rule.why}}
    node: dict[str, Any] = {"description": _description(record)} if record.__doc__ else {}
    if not getattr(record, "__keeps_other_keys__", False):
        node["additionalProperties"] = False
    node |= {"required": required, "properties": properties}
    if len(nulls) > 1:
        raise SchemaError(f"{record.__name__}: NullsWhenPresent on more than one key ({', '.join(nulls)})")
    for key, then in nulls.items():
        node |= {"if": {"required": [key]}, "then": then}
    return node


def _requiredness(hint: Any, total: bool) -> tuple[Any, bool]:
    origin = get_origin(hint)
    if origin in (Required, NotRequired):
        return get_args(hint)[0], origin is Required
    return hint, total


def _description(record: type) -> str:
    return re.sub(r"\s+", " ", inspect.cleandoc(record.__doc__ or "")).strip()


def _metadata(hint: Any, kind: type) -> list[Any]:
    return [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, kind)]


def _node(hint: Any, defs: Defs, where: str) -> dict[str, Any]:
    """The schema of one value: ``hint`` with what its ``Annotated`` metadata adds."""
    if get_origin(hint) is Annotated:
        node = _node(get_args(hint)[0], defs, where)
        for meta in hint.__metadata__:
            node |= _keyword(meta, where)
        return _ordered(node)
    return _ordered(_bare(hint, defs, where))


def _keyword(meta: Any, where: str) -> dict[str, Any]:
    if isinstance(meta, records.Doc):
        return {"description": meta.text}
    if isinstance(meta, records.Min):
        return {"minimum": meta.value}
    if isinstance(meta, records.Max):
        return {"maximum": meta.value}
    if isinstance(meta, records.Pattern):
        return {"pattern": meta.regex}
    if isinstance(meta, records.NullsWhenPresent):
        return {}  # a rule of the record that holds the key (_record)
    raise SchemaError(f"{where}: {meta!r} is not a Doc, Min, Max, Pattern or NullsWhenPresent")


def _bare(hint: Any, defs: Defs, where: str) -> dict[str, Any]:
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return {}
    if hint in SCALARS:
        return {"type": SCALARS[hint]}
    if origin in (Union, types.UnionType):
        return _union([a for a in args if a is not type(None)], type(None) in args, defs, where)
    if origin is Literal:
        return {"const": args[0]} if len(args) == 1 else {"enum": list(args)}
    if origin is list:
        return {"type": "array", "items": _node(args[0], defs, where + "[]")}
    if origin is dict and args[0] is str:
        value = _node(args[1], defs, where + ".NAME")
        return {"type": "object", **({"additionalProperties": value} if value else {})}
    if is_typeddict(hint):
        return {"type": "object", "$ref": defs.ref(hint)}
    raise SchemaError(
        f"{where}: {hint!r} has no JSON Schema here (str, int, float, bool, Any, Literal, list, dict[str, …], "
        "a TypedDict, X | None)"
    )


def _union(members: list[Any], nullable: bool, defs: Defs, where: str) -> dict[str, Any]:
    """``X | None`` as a type list (``['array', 'null']``), so a wrong value's message names both types."""
    if len(members) != 1:
        return {"anyOf": [_node(m, defs, where) for m in members] + ([{"type": "null"}] if nullable else [])}
    node = _node(members[0], defs, where)
    if not nullable:
        return node
    if isinstance(node.get("type"), str):
        return {**node, "type": [node["type"], "null"]}
    if "enum" in node or "const" in node:
        values = node.pop("enum", None) or [node.pop("const")]
        return {**node, "enum": [*values, None]}
    return {"anyOf": [node, {"type": "null"}]}


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(node.items(), key=lambda kv: ORDER_OF.get(kv[0], len(ORDER_OF))))
