"""What a step kind is (a row of the step table) and what a planned step is.

The table itself is ``tasks.steps.STEPS``.  A planned ``Step`` is a kind, a
name and one options object: its input files, output files and fingerprint
are read off the options (see tasks/planning/options.py), never written twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from tasks.planning import options as opts


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What a step kind adds to each variant's row of results.json: its facts file, and the keys read from it.

    The results step reads, for every variant, the facts file of the variant's step of each kind that has
    facts, and ``read`` turns it into those keys (tasks/steps/results.py); records.VariantRow types them.
    """

    keys: tuple[str, ...]  # the results.json keys it fills (tasks/results/records.py VariantRow types them)
    # (its record, whether the variant was compiled) -> the keys' values; with ``many``, the list of records
    read: Callable[[Any, bool], dict[str, Any]]
    per: str = "id"  # the variant's step of this kind is named by this Variant attribute: id, scheme, unit, model
    file: str = "out"  # the options field that names the facts file
    many: bool = False  # every step of this kind whose options.label is the variant's id (one per board)
    quantized: bool = False  # only for variants TensorFlow Lite quantizes (SyNAP quantizes itself)


def whole(key: str, **where: Any) -> Facts:
    """Facts that are the step's record itself, under ``key``."""
    return Facts(keys=(key,), read=lambda record, compiled: {key: record}, **where)


def picked(keys: tuple[str, ...], **where: Any) -> Facts:
    """Facts that are some keys of the step's record, under their own names."""
    return Facts(keys=keys, read=lambda record, compiled: {k: record.get(k) for k in keys}, **where)


def first_and_all(first: str, every: str, **where: Any) -> Facts:
    """One record per board: the first board's under ``first``, every board's under ``every``."""

    def read(records: list[Any], compiled: bool) -> dict[str, Any]:
        return {first: records[0] if records else None, every: list(records)}

    return Facts(keys=(first, every), read=read, many=True, **where)


@dataclass(frozen=True, kw_only=True)
class StepKind:
    """One row of the step table."""

    name: str  # the row's own name, e.g. "compile-synap"
    doc: str  # one line, shown by `doit list` and the generated reference
    run: Callable[..., None]  # the step function: run(options) (plus pos_arg's keyword, if any)
    options: type  # its frozen options dataclass
    plan: Callable[[Any], list[Step]]  # plan_<kind>(planning) -> the project's steps of this kind
    tools: tuple[str, ...] = ()  # distributions whose versions it fingerprints
    isolated: bool = True  # runs in a worker process (native code inside)
    cached: bool = False  # its outputs go to the step cache
    basename: str = ""  # doit's task name prefix when not the row's name (compile-synap → compile)
    single: bool = False  # one step per project (results, report, …): no ":NAME" part
    always: bool = False  # runs every time it is asked for (checks, not builds)
    pos_arg: str | None = None  # keyword that receives the command line's positional arguments
    cost: float = 0.0  # seconds one step is expected to take (the example's, on 2 cores): balances shards
    # whether a step needs this machine to itself (it times something on its cores): no step runs beside it
    alone: Callable[[Any], bool] | None = None
    facts: Facts | None = None  # what it adds to a variant's row of results.json

    @property
    def task_prefix(self) -> str:
        return self.basename or self.name

    def __reduce__(self):  # a kept plan (tasks/engine/plan_cache.py) names its rows: they are the table's, not copies
        return _row, (self.name,)

    @property
    def function(self) -> str:
        return f"{self.run.__module__}:{self.run.__name__}"


def unit_of(model: str, prune: str | None) -> str:
    """A float model's name: ``MODEL``, or ``MODEL.PRUNE`` for a pruned output."""
    return f"{model}.{prune}" if prune else model


def scheme_of(unit: str, quantization: str) -> str:
    """The name of a unit's steps of one scheme (quantize, evaluate, limits, search, graph): ``UNIT/SCHEME``."""
    return f"{unit}/{quantization}"


def variant_of(unit: str, quantization: str, target: str) -> str:
    """A variant's id, and the name of its own steps (compile, analyse, …): ``UNIT/SCHEME@TARGET``."""
    return f"{scheme_of(unit, quantization)}@{target}"


def task_name_of(prefix: str, name: str) -> str:
    """doit's name of a step: ``PREFIX:NAME``, or ``PREFIX`` alone for a single step (results, report, …)."""
    return f"{prefix}:{name}" if name else prefix


@dataclass(frozen=True, kw_only=True)
class Step:
    kind: StepKind
    name: str  # the part after "PREFIX:"; "" for a single step such as results
    doc: str
    options: Any  # an instance of kind.options

    @property
    def task_name(self) -> str:
        return task_name_of(self.kind.task_prefix, self.name)

    @cached_property
    def file_dep(self) -> tuple[Path, ...]:
        return opts.files(self.options, "in")

    @cached_property
    def targets(self) -> tuple[Path, ...]:
        return opts.files(self.options, "out")


_ROWS: dict[str, StepKind] = {}  # the step table (tasks.steps.STEPS) by name, once it is registered


def register(table: tuple[StepKind, ...]) -> dict[str, StepKind]:
    """The table's rows by name; a kept plan is loaded with these rows (tasks/engine/plan_cache.py)."""
    _ROWS.update((kind.name, kind) for kind in table)
    return dict(_ROWS)


def _row(name: str) -> StepKind:
    return _ROWS[name]


def rows() -> tuple[StepKind, ...]:
    """The step table's rows in table order, once it is registered (importing tasks.steps registers it)."""
    return tuple(_ROWS.values())
