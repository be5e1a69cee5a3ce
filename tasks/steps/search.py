"""sensitivity and search: an automatic scheme's layers in int16x8, chosen against its goal and latency budget.

``sensitivity:UNIT/SCHEME`` measures, once, what each block of layers does
to the validation metrics and to Vela's latency estimate when it alone is
widened to int16x8 (or narrowed to int8 from int16x8); it depends on no goal
or budget, so changing those re-runs the search alone.
``search:UNIT/SCHEME`` walks from there to the cheapest model that meets the
goal within the budget and writes the choice (search.json: the overrides,
the candidates for the report's Pareto plot, the cost, and a scheme to paste
into project.yaml); the quantize step then quantizes that choice.  Every
candidate is a real quantize → Vela → evaluate, kept in a cache by content
(build/UNIT/candidates/, shared by the unit's automatic schemes).  The work is in tasks/model/mixed_search.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.model.datasets import Samples
from tasks.planning.options import input_file, output_file, unfingerprinted
from tasks.planning.step import scheme_of
from tasks.steps.evaluate import TaskOptions
from tasks.toolchains.vela.compile import Options as CompileOptions
from tasks.toolchains.vela.settings import VelaSettings

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step


@dataclass(frozen=True, kw_only=True)
class Vela:
    """The budget's target, as its compile step gets it."""

    target: str
    settings: VelaSettings

    def compile_options(self, label: str, work: Path) -> CompileOptions:
        return CompileOptions(
            settings=self.settings,
            label=label,
            model=work / "in.tflite",
            out=work / "out.tflite",
            facts=work / "compile.json",
            summary=work / "summary.csv",
            per_layer=work / "per-layer.csv",
            log=work / "vela.log",
        )


@dataclass(frozen=True, kw_only=True)
class Candidates:
    """What every candidate of one automatic scheme is measured with (both steps get it)."""

    label: str  # UNIT/SCHEME
    io: str
    per_channel: bool
    dataset: Samples  # the validation samples
    tasks: tuple[TaskOptions, ...]
    pruned: bool
    vela: Vela
    model: Path = input_file()  # the float model quantize starts from
    ranges: Path = input_file()  # the calibrate step's
    cache: Path = unfingerprinted(Path("candidates"))  # each candidate's numbers, by content (kept across runs)


@dataclass(frozen=True, kw_only=True)
class SensitivityOptions:
    candidates: Candidates
    out: Path = output_file()


@dataclass(frozen=True, kw_only=True)
class SearchOptions:
    candidates: Candidates
    goal: dict[str, Any]  # quantization.NAME.goal, as written
    max_ms: float
    name: str  # the scheme's name, for the snippet
    table: Path = input_file()  # the sensitivity step's output
    out: Path = output_file()


def plan_sensitivity(planning: Planning) -> list[Step]:
    """One table per unit, io, weight granularity and budget target: automatic schemes that differ only in their goal
    or budget share it (it is the first one's)."""
    steps, seen = [], set()
    for model_name, unit, quant_name in planning.searched():
        q = planning.project.quantization[quant_name]
        if (unit, q.io, q.per_channel, q.budget.target) in seen:
            continue
        seen.add((unit, q.io, q.per_channel, q.budget.target))
        model = planning.project.models[model_name]
        t = planning.project.targets[q.budget.target]
        dataset, _ = planning.validation_samples(model, labelled=True)
        vela = Vela(target=t.name, settings=t.settings)
        candidates = Candidates(
            label=scheme_of(unit, quant_name),
            io=q.io,
            per_channel=q.per_channel,
            dataset=dataset,
            tasks=tuple(TaskOptions.of(task) for task in model.tasks),
            pruned=unit != model_name,
            vela=vela,
            model=planning.start_of(unit),
            ranges=planning.paths.calibration(unit),
            cache=planning.paths.candidates(unit),
        )
        options = SensitivityOptions(candidates=candidates, out=planning.paths.sensitivity(unit, quant_name))
        doc = (
            f"widen each block of layers to int16x8 alone (and narrow it alone): its effect on "
            f"'{dataset.label}' and on Vela's estimate for {t.name}"
        )
        steps.append(planning.new("sensitivity", candidates.label, doc, options))
    return steps


def plan_search(planning: Planning) -> list[Step]:
    tables = {}
    for step in (s for s in planning.steps if s.kind.name == "sensitivity"):
        c: Candidates = step.options.candidates
        tables[(c.cache, c.io, c.per_channel, c.vela.target)] = step  # c.cache: the unit's candidates folder
    steps = []
    for _, unit, quant_name in planning.searched():
        q = planning.project.quantization[quant_name]
        table = tables[(planning.paths.candidates(unit), q.io, q.per_channel, q.budget.target)]
        c = replace(table.options.candidates, label=scheme_of(unit, quant_name))
        options = SearchOptions(
            candidates=c,
            goal=q.goal.as_dict(),
            max_ms=q.budget.max_ms,
            name=quant_name,
            table=table.options.out,
            out=planning.paths.search(unit, quant_name),
        )
        doc = f"choose the layers in int16x8: {q.goal.text()} within {q.budget.max_ms:g} ms on {c.vela.target}"
        steps.append(planning.new("search", c.label, doc, options))
    return steps


def _measurer(c: Candidates, take: int | None = None):
    import hashlib

    from tasks.model import calibration, mixed_search
    from tasks.toolchains.vela import compile

    qsvs, _ = calibration.read(c.ranges)
    return mixed_search.Measurer(
        content=c.model.read_bytes(),
        qsvs=qsvs,
        ranges_digest=hashlib.sha256(c.ranges.read_bytes()).hexdigest(),
        validation=c.dataset,
        tasks=tuple(t.spec() for t in c.tasks),
        io=c.io,
        per_channel=c.per_channel,
        latency=compile.Latency(c.vela.compile_options(c.label, c.cache)),
        cache=c.cache,
        label=c.label,
        pruned=c.pruned,
        take=take,
    )


def sensitivity(o: SensitivityOptions) -> None:
    from tasks import atomic
    from tasks.model import mixed_search

    atomic.write_json(o.out, mixed_search.sensitivity(_measurer(o.candidates, mixed_search.SENSITIVITY_SAMPLES)))


def search(o: SearchOptions) -> None:
    import json

    from tasks import atomic
    from tasks.config.project import Goal
    from tasks.model import mixed_search
    from tasks.progress import progress

    table = json.loads(o.table.read_text())
    found = mixed_search.search(_measurer(o.candidates), table, Goal(**o.goal), o.max_ms)
    found["target"] = o.candidates.vela.target
    found["sensitivity_cost"] = table["cost"]
    found["snippet"] = mixed_search.snippet(o.name, found["chosen"])
    atomic.write_json(o.out, found)
    progress(("chose " + found["chosen"]["summary"]) if found["met"] else ("goal not met: " + found["why"]))
