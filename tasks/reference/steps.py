"""docs/reference/steps.md and the step table of docs/concepts.md: the step table and the toolchain
registry, rendered from the code.

Pure: reads tasks.steps.STEPS and tasks.toolchains.registry.TOOLCHAINS, imports no
step's heavy work.  Field comments come from the options dataclasses' source.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import tokenize
import typing
from functools import cache

from tasks.planning.options import is_fingerprinted, role_of
from tasks.planning.step import StepKind
from tasks.toolchains.registry import TOOLCHAINS, Toolchain

HEADER = """# Steps and toolchains

Generated from the step table (`tasks/steps/__init__.py`) and the toolchain registry
(`tasks/toolchains/registry.py`) by `python -m tasks.reference`; do not edit by hand.

A step kind is one module under `tasks/steps/` (its options dataclass, its `plan_<kind>` function
and the function that does the work) and one row of the step table; a toolchain's own steps live in
its folder under `tasks/toolchains/`, their rows in its registry row. Its options are everything
the function receives: fields marked *in* are its input files (doit's `file_dep`), *out* its output
files (doit's `targets`), and every field not marked *not fingerprinted* decides, with the versions
of the tools listed and the digest of its code, whether it runs again.
"""


def steps_reference() -> str:
    from tasks.steps import STEPS

    lines = [HEADER, "## Steps", "", "In planning order.", ""]
    for kind in STEPS:
        lines += _step(kind)
    lines += _toolchains(TOOLCHAINS)
    return "\n".join(lines).rstrip() + "\n"


def steps_table() -> str:
    """The table of docs/concepts.md: each step kind's task name, what it does, where it runs, whether it is cached."""
    from tasks.steps import STEPS

    rows = ["| step | task name | what it does | runs in | step cache |", "|---|---|---|---|---|"]
    for kind in STEPS:
        does = _sentence(kind.doc) + (" Runs every time it is asked for." if kind.always else "")
        where = "a worker process" if kind.isolated else "the build process"
        cached = "yes" if kind.cached else "no"
        rows.append(
            f"| [{kind.name}](reference/steps.md#{kind.name}) | {_task_name(kind)} | {_cell(does)} "
            f"| {where} | {cached} |"
        )
    return "\n".join(rows) + "\n"


def _task_name(kind: StepKind) -> str:
    if kind.pos_arg:
        return f"`{kind.task_prefix} {kind.pos_arg.upper()}`"
    return f"`{kind.task_prefix}`" if kind.single else f"`{kind.task_prefix}:NAME`"


def _sentence(doc: str) -> str:
    return doc[0].upper() + doc[1:] + "."


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _step(kind: StepKind) -> list[str]:
    where = "a worker process" if kind.isolated else "the build process"
    facts = [
        f"- task names: `{kind.task_prefix}`" + ("" if kind.single else f", `{kind.task_prefix}:NAME`"),
        f"- runs: `{kind.function}` in {where}" + ("; every time it is asked for" if kind.always else ""),
        f"- step cache: {'yes' if kind.cached else 'no'}",
        f"- tool versions fingerprinted: {', '.join(f'`{t}`' for t in kind.tools) or 'none (its code only)'}",
    ]
    if kind.pos_arg:
        facts.append(f"- command-line arguments go to `{kind.pos_arg}`")
    if kind.facts:
        keys = ", ".join(f"`{k}`" for k in kind.facts.keys)
        whose = (
            "each board's step of the variant"
            if kind.facts.many
            else f"the step named by the variant's {kind.facts.per}"
        )
        facts.append(f"- adds to each variant's row of results.json: {keys} (from `{kind.facts.file}` of {whose})")
    return [
        f"### `{kind.name}`",
        "",
        _sentence(kind.doc),
        "",
        *facts,
        "",
        *_fields(kind.options),
        "",
    ]


def _fields(options: type, prefix: str = "") -> list[str]:
    rows = [] if prefix else ["| option | type | | what it is |", "|---|---|---|---|"]
    hints = typing.get_type_hints(options)
    notes = _comments(options)
    for f in dataclasses.fields(options):
        marks = ", ".join(filter(None, [role_of(f) or "", "" if is_fingerprinted(f) else "not fingerprinted"]))
        note = notes.get(f.name, "").replace("|", "\\|")
        rows.append(f"| `{prefix}{f.name}` | `{_type(hints[f.name])}` | {marks} | {note} |")
        nested = _nested(hints[f.name])
        if nested is not None:
            rows += _fields(nested, f"{prefix}{f.name}.")
    return rows


def _nested(hint) -> type | None:
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
            return candidate
    return None


def _type(hint) -> str:
    text = str(hint) if typing.get_origin(hint) else getattr(hint, "__name__", str(hint))
    for noise in ("typing.", "pathlib.", "tasks.model.datasets.", "tasks.steps.", "NoneType"):
        text = text.replace(noise, "None" if noise == "NoneType" else "")
    return text.replace("|", "\\|")


@cache
def _comments(cls: type) -> dict[str, str]:
    """The trailing ``# comment`` of each field line in the dataclass's source."""
    found: dict[str, str] = {}
    source = inspect.getsource(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    last_name = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and token.start[1] == 4 and token.string in names:
            last_name = token.string
        elif token.type == tokenize.COMMENT and last_name:
            found.setdefault(last_name, token.string.lstrip("# ").strip())
        elif token.type == tokenize.NEWLINE:
            last_name = None
    return found


def _toolchains(toolchains: tuple[Toolchain, ...]) -> list[str]:
    lines = [
        "## Toolchains",
        "",
        "A target's `compiler` picks its toolchain (for `none`, a `delegate` picks `delegate`). A key of a scheme",
        "a variant's toolchain does not use is an error; so is a key of a model or prune variant that none of its",
        "variants' toolchains uses.",
        "",
        *(f"- `{t.name}`: {t.doc}" for t in toolchains),
        "",
        "| toolchain | compiler | steps per variant | ships | results.json | target keys | scheme keys "
        "| scheme types | model / prune keys |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in toolchains:
        lines.append(
            f"| {t.name} | `{t.compiler}` | {_names(t.steps)} | {t.ships.artifact} | {_names(t.facts)} | "
            f"{_names(sorted(t.reads.target_keys - {'compiler'}))} | {_names(sorted(t.reads.quantization_keys))} | "
            f"{', '.join(t.reads.quantization_types)} | {_names(sorted(t.reads.model_keys | t.reads.prune_keys))} |"
        )
    return lines


def _names(items) -> str:
    return ", ".join(f"`{x}`" for x in items) or "-"
