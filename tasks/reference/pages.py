"""The generated reference: docs/reference/*.md from the schema and the step table, the
generated regions of hand-written pages (docs/concepts.md's step table),
schema/project.schema.json from the declared keys of project.yaml (tasks/config/declared.py), and
schema/results.schema.json from the records of results.json (tasks/results/schema.py).

    python -m tasks.reference           write them
    python -m tasks.reference --check   exit 1 naming every one that is stale

A generated region stands between ``<!-- generated: NAME -->`` and ``<!-- end generated -->``;
only what is between them is rewritten, the rest of the page is kept as it is.

``project_yaml_reference`` is pure: a JSON Schema in, Markdown out, one row per
key a user can write (YAML path, type, default, allowed values, required,
description, and the condition under which the key applies).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent


@dataclass(frozen=True)
class Key:
    path: str
    node: dict[str, Any]
    required: bool
    condition: str


def _resolve(schema: dict, node: dict) -> dict:
    """``node`` with its ``$ref`` merged in (the node's own keywords win)."""
    while "$ref" in node:
        target: Any = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _condition(node: dict) -> str:
    """An ``if`` as words: ``compiler: vela`` for a const, ``a string`` / ``with builder`` otherwise."""
    props = {k: v["const"] for k, v in node.get("properties", {}).items() if "const" in v}
    if props:
        return ", ".join(f"{k}: {v}" for k, v in props.items())
    if node.get("type") == "string":
        return "a string"
    if node.get("required"):
        return "with " + ", ".join(node["required"])
    return "otherwise"


def _negate(when: str) -> str:
    if when.startswith("with "):
        return "without " + when[5:]
    return {"a string": "an object"}.get(when, f"not {when}")


def keys(schema: dict, node: dict, path: str = "", condition: str = "") -> Iterator[Key]:
    """Every key under ``node``, depth first, in the schema's order."""
    node = _resolve(schema, node)
    required = set(node.get("required", []))
    for name, child in node.get("properties", {}).items():
        if condition and name in _condition_keys(condition):
            continue  # the key the branch is chosen by is listed once, outside the branch
        child_path = f"{path}.{name}" if path else name
        resolved = _resolve(schema, child)
        yield Key(child_path, resolved, name in required, condition)
        yield from _below(schema, resolved, child_path, condition)
    yield from _branches(schema, node, path, condition)


def _condition_keys(condition: str) -> set[str]:
    return {part.split(":")[0].strip() for part in condition.split(",")}


def _has_keys(node: dict) -> bool:
    return "properties" in node or "allOf" in node or "if" in node


def _below(schema: dict, node: dict, path: str, condition: str) -> Iterator[Key]:
    """The keys inside a key's value: its own keys, a map's entries (``NAME``), a list's items (``[]``)."""
    if _has_keys(node):
        yield from keys(schema, node, path, condition)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and _has_keys(_resolve(schema, extra)):
        yield from keys(schema, extra, f"{path}.NAME", condition)
    items = node.get("items")
    if isinstance(items, dict) and _has_keys(_resolve(schema, items)):
        yield from keys(schema, items, f"{path}[]", condition)


def _branches(schema: dict, node: dict, path: str, condition: str) -> Iterator[Key]:
    for branch in node.get("allOf", []):
        if "if" in branch:
            yield from _branch(schema, branch, path, condition)
    if "if" in node:
        yield from _branch(schema, node, path, condition)


def _branch(schema: dict, branch: dict, path: str, condition: str) -> Iterator[Key]:
    when = _condition(branch["if"])
    joined = f"{condition}, {when}" if condition else when
    if _has_keys(branch.get("then", {})):
        yield from keys(schema, branch["then"], path, joined)
    otherwise = branch.get("else", {})
    if _has_keys(otherwise):
        other = _negate(when)
        yield from keys(schema, otherwise, path, f"{condition}, {other}" if condition else other)


def _type(node: dict) -> str:
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type", "object" if "properties" in node else "")
    kinds = kind if isinstance(kind, list) else [kind]
    if "array" in kinds and isinstance(node.get("items"), dict):
        item = node["items"].get("type") or ("object" if "properties" in node["items"] else "")
        kinds = [f"list of {item}" if k == "array" and item else k for k in kinds]
    return " or ".join(k for k in kinds if k) or "any"


def _limits(node: dict) -> str:
    words = []
    for keyword, text in (
        ("minimum", "≥ {}"),
        ("maximum", "≤ {}"),
        ("minItems", "at least {} item(s)"),
        ("maxItems", "at most {} item(s)"),
        ("pattern", "matches `{}`"),
    ):
        if keyword in node:
            words.append(text.format(node[keyword]))
    return ", ".join(words)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(key: Key) -> str:
    node = key.node
    default = f"`{json.dumps(node['default'])}`" if "default" in node else ""
    limits = _limits(node)
    description = node.get("description", "") + (f" ({limits})" if limits else "")
    when = f" *when {key.condition}*" if key.condition else ""
    required = "yes" if key.required else ""
    return f"| `{key.path}`{when} | {_cell(_type(node))} | {_cell(default)} | {required} | {_cell(description)} |"


def project_yaml_reference(schema: dict) -> str:
    lines = [
        "# project.yaml reference",
        "",
        "Generated from `schema/project.schema.json` by `python -m tasks.reference`; do not edit by hand.",
        "",
        schema.get("description", ""),
        "",
        "`NAME` stands for a name you choose (a dataset, model, scheme, target or board); `[]` for each",
        "item of a list. A key marked *when …* applies only in that case.",
    ]
    every = list(keys(schema, schema))
    parents = {k.path.split(".")[0].split("[")[0] for k in every if "." in k.path or "[" in k.path}
    sections: dict[str, list[Key]] = {"top level": []}
    for key in every:
        top = key.path.split(".")[0].split("[")[0]
        sections.setdefault(top if top in parents else "top level", []).append(key)
    for title, members in sections.items():
        lines += ["", f"## {title}", "", "| key | type | default | required | description |", "|---|---|---|---|---|"]
        lines += [_row(key) for key in members]
    return "\n".join(lines) + "\n"


END = "<!-- end generated -->"


class RegionError(ValueError):
    """A hand-written page without the markers of its generated region."""


def with_region(page: str, region: str, body: str) -> str:
    """The hand-written ``page`` with what stands between the markers of ``region`` replaced by ``body``."""
    path, begin = REPO / page, f"<!-- generated: {region} -->"
    if not path.is_file():
        raise RegionError(f"{page} is missing: it is written by hand around its generated part, `{begin}` … `{END}`")
    head, found, rest = path.read_text().partition(begin)
    _, end, tail = rest.partition(END)
    if not found or not end:
        raise RegionError(f"{page} has no `{begin}` … `{END}`: put them back around its generated part")
    return f"{head}{begin}\n{body}{END}{tail}"


def _steps_page() -> str:
    from tasks.reference.steps import steps_reference

    return steps_reference()


def _concepts_page() -> str:
    from tasks.reference.steps import steps_table

    return with_region("docs/concepts.md", "steps", steps_table())


def _project_schema() -> str:
    from tasks.config import declared

    return declared.render()


def _project_yaml_page() -> str:
    from tasks.config import declared

    return project_yaml_reference(declared.project_schema())


def _results_schema() -> str:
    from tasks.results import schema

    return schema.render()


# the generated files, and the hand-written pages with a generated region: where each is, and what writes it
PAGES: tuple[tuple[str, Callable[[], str]], ...] = (
    ("docs/reference/project-yaml.md", _project_yaml_page),
    ("docs/reference/steps.md", _steps_page),
    ("docs/concepts.md", _concepts_page),
    ("schema/project.schema.json", _project_schema),
    ("schema/results.schema.json", _results_schema),
)


def stale() -> list[str]:
    return [name for name, render in PAGES if not (REPO / name).is_file() or (REPO / name).read_text() != render()]


def main(argv: list[str]) -> int:
    try:
        return _check() if argv[1:] == ["--check"] else _write()
    except RegionError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1


def _check() -> int:
    old = stale()
    for name in old:
        print(f"{name} is stale; run `python -m tasks.reference`", file=sys.stderr)
    return 1 if old else 0


def _write() -> int:
    from tasks import atomic

    rendered = [(name, render()) for name, render in PAGES]  # all of them first: a page without its markers stops all
    for name, text in rendered:
        atomic.write_text(REPO / name, text)
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
