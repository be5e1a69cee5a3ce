"""candidate, sensitivity and search: an automatic scheme's layers in int16x8, chosen against its goal and budget.

Every model the search measures is a ``candidate:UNIT/SCHEME:NAME`` step: quantized from the calibrate step's
ranges, compiled by Vela for the budget's target and evaluated on the validation samples, kept in the step
cache like any other step (so cores, the cache folder, S3 and ``shard=K/N`` all serve it).

- ``candidate:…:int8``, ``:int8-octav``, ``:int8-mse`` and ``:int16x8``, the ends; the int8 and int16x8 ones
  also record Vela's per-layer cycles and each layer's noise against the float model.
- ``sensitivity:UNIT/SCHEME`` estimates from those two what each block of layers does to the error and to the
  latency, walks the two paths (widen from int8, narrow from int16x8) and gives each path candidate its layers
  (NAME.layers.json): ``candidate:…:widen-1`` … ``:narrow-6``.  A candidate whose layers come out the same as
  before is not measured again.
- ``search:UNIT/SCHEME`` reads every candidate and chooses, against the goal and the budget: the only step that
  reads them, so a new budget or goal re-runs it alone.

Automatic schemes of a unit that differ only in their goal or budget share the candidates and the sensitivity
table (the first one's).  The work is in tasks/model/mixed_search.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.model.datasets import Samples
from tasks.planning.options import added, input_file, output_file
from tasks.planning.step import scheme_of
from tasks.steps import float_outputs
from tasks.steps.evaluate import TaskOptions
from tasks.toolchains.vela.compile import Options as CompileOptions
from tasks.toolchains.vela.settings import VelaSettings

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step

# the ends, by candidate name: weight rounding, all layers in int16x8, and whether the estimate reads its tables
ENDS = {
    "int8": ("min_max", False, True),
    "int8-octav": ("octav", False, False),
    "int8-mse": ("mse", False, False),
    "int16x8": ("min_max", True, True),
}
# the models measured along each path, their estimated latencies spread evenly between the ends'
PATH_CANDIDATES = {"widen": 2, "narrow": 6}


def slots() -> list[str]:
    """The path candidates' names: widen-1 … narrow-6."""
    return [f"{route}-{i}" for route, count in PATH_CANDIDATES.items() for i in range(1, count + 1)]


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
    """What every candidate of one automatic scheme is measured with."""

    label: str  # UNIT/SCHEME
    io: str
    per_channel: bool
    dataset: Samples  # the validation samples
    tasks: tuple[TaskOptions, ...]
    pruned: bool
    vela: Vela
    model: Path = input_file()  # the float model quantize starts from
    ranges: Path = input_file()  # the calibrate step's
    expected: Path | None = added(None, role="in")  # the float model's outputs on the samples, once for all


@dataclass(frozen=True, kw_only=True)
class CandidateOptions:
    candidates: Candidates
    name: str  # int8 | int8-octav | int8-mse | int16x8 | widen-N | narrow-N
    weights: str = "min_max"  # an end's weight rounding (a path candidate's is in its layers file)
    wide: bool = False  # an end: every layer in int16x8
    tables: bool = False  # an end the estimate reads: Vela's per-layer cycles and each layer's noise too
    layers: Path | None = input_file(None)  # a path candidate: its layers, from the sensitivity step
    out: Path = output_file()


@dataclass(frozen=True, kw_only=True)
class SensitivityOptions:
    candidates: Candidates
    ends: tuple[Path, ...] = input_file()  # the ends' records, in ENDS order
    out: Path = output_file()
    layers: tuple[Path, ...] = output_file()  # each path candidate's layers, in slots() order


@dataclass(frozen=True, kw_only=True)
class SearchOptions:
    label: str  # UNIT/SCHEME
    candidates: Candidates  # what a model the budget adds along a path is measured with
    goal: dict[str, Any]  # quantization.NAME.goal, as written
    max_ms: float
    name: str  # the scheme's name, for the snippet
    table: Path = input_file()  # the sensitivity step's output
    measured: tuple[Path, ...] = input_file()  # every candidate's record
    out: Path = output_file()


def _candidates(planning: Planning) -> dict[tuple, tuple[str, Candidates]]:
    """The candidates' owner (the first automatic scheme) and settings, by what they are measured with: a unit,
    its io, weight granularity and budget target.  Automatic schemes that differ only in goal or budget share."""
    shared: dict[tuple, tuple[str, Candidates]] = {}
    for model_name, unit, quant_name in planning.searched():
        q = planning.project.quantization[quant_name]
        key = (unit, q.io, q.per_channel, q.budget.target)
        if key in shared:
            continue
        model = planning.project.models[model_name]
        t = planning.project.targets[q.budget.target]
        dataset, _ = planning.validation_samples(model, labelled=True)
        start = planning.start_of(unit)
        shared[key] = (
            quant_name,
            Candidates(
                label=scheme_of(unit, quant_name),
                io=q.io,
                per_channel=q.per_channel,
                dataset=dataset,
                tasks=tuple(TaskOptions.of(task) for task in model.tasks),
                pruned=unit != model_name,
                vela=Vela(target=t.name, settings=t.settings),
                model=start,
                ranges=planning.paths.calibration(unit),
                expected=float_outputs.kept_for(planning, start, dataset),
            ),
        )
    return shared


def measured_with(planning: Planning) -> list[Candidates]:
    """What the candidates of each automatic scheme (those that share them, once) are measured with."""
    return [c for _, c in _candidates(planning).values()]


def plan_candidate(planning: Planning) -> list[Step]:
    steps = []
    for (unit, *_), (owner, c) in _candidates(planning).items():
        for name, (weights, wide, tables) in ENDS.items():
            options = CandidateOptions(
                candidates=c,
                name=name,
                weights=weights,
                wide=wide,
                tables=tables,
                out=planning.paths.candidate(unit, owner, name),
            )
            doc = f"measure {'every layer in int16x8' if wide else f'int8, {weights} weights'} on {c.vela.target}"
            steps.append(planning.new("candidate", f"{c.label}:{name}", doc, options))
        for name in slots():
            options = CandidateOptions(
                candidates=c,
                name=name,
                layers=planning.paths.candidate_layers(unit, owner, name),
                out=planning.paths.candidate(unit, owner, name),
            )
            doc = f"measure the layers the sensitivity step gives candidate {name} on {c.vela.target}"
            steps.append(planning.new("candidate", f"{c.label}:{name}", doc, options))
    return steps


def plan_sensitivity(planning: Planning) -> list[Step]:
    """One table per unit, io, weight granularity and budget target (the first automatic scheme's)."""
    steps = []
    for (unit, *_), (owner, c) in _candidates(planning).items():
        options = SensitivityOptions(
            candidates=c,
            ends=tuple(planning.paths.candidate(unit, owner, name) for name in ENDS),
            out=planning.paths.sensitivity(unit, owner),
            layers=tuple(planning.paths.candidate_layers(unit, owner, name) for name in slots()),
        )
        doc = (
            f"estimate each block's effect on the error and on Vela's latency for {c.vela.target} from the int8 and "
            "int16x8 ends, and choose the candidates along the paths"
        )
        steps.append(planning.new("sensitivity", c.label, doc, options))
    return steps


def plan_search(planning: Planning) -> list[Step]:
    shared = _candidates(planning)
    steps = []
    for _, unit, quant_name in planning.searched():
        q = planning.project.quantization[quant_name]
        owner, c = shared[(unit, q.io, q.per_channel, q.budget.target)]
        options = SearchOptions(
            label=scheme_of(unit, quant_name),
            goal=q.goal.as_dict(),
            max_ms=q.budget.max_ms,
            name=quant_name,
            candidates=c,
            table=planning.paths.sensitivity(unit, owner),
            measured=_records(planning, unit, owner),
            out=planning.paths.search(unit, quant_name),
        )
        doc = f"choose the layers in int16x8: {q.goal.text()} within {q.budget.max_ms:g} ms on {c.vela.target}"
        steps.append(planning.new("search", options.label, doc, options))
    return steps


def measured_by(planning: Planning, unit: str, quant_name: str) -> tuple[Candidates, tuple[Path, ...]]:
    """What an automatic scheme's candidates are quantized from, and the record of each candidate step it reads
    (the candidates of the first automatic scheme that shares them)."""
    q = planning.project.quantization[quant_name]
    owner, c = _candidates(planning)[(unit, q.io, q.per_channel, q.budget.target)]
    return c, _records(planning, unit, owner)


def _records(planning: Planning, unit: str, owner: str) -> tuple[Path, ...]:
    """Every candidate step's record of the automatic scheme ``owner`` of ``unit``: the ends, then the paths'."""
    return tuple(planning.paths.candidate(unit, owner, n) for n in (*ENDS, *slots()))


def quantized_candidate(c: Candidates, record: dict[str, Any]) -> bytes:
    """A candidate's model again, from its record: its layers in int16x8 and its weight rounding."""
    from tasks.model import quantizer

    meter = _measurer(c)
    return quantizer.mixed(meter.content, meter.scheme(set(record["wide"]), record["weights"]), meter.qsvs, c.label)


def _measurer(c: Candidates):
    from tasks.model import calibration, mixed_search
    from tasks.toolchains.vela import compile

    qsvs, _ = calibration.read(c.ranges)
    return mixed_search.Measurer(
        content=c.model.read_bytes(),
        qsvs=qsvs,
        validation=c.dataset,
        tasks=tuple(t.spec() for t in c.tasks),
        io=c.io,
        per_channel=c.per_channel,
        latency=compile.Latency(c.vela.compile_options(c.label, Path("."))),
        label=c.label,
        pruned=c.pruned,
        expected=c.expected,
    )


def candidate(o: CandidateOptions) -> None:
    import json
    import time

    from tasks import atomic
    from tasks.model import mixed_search

    started = time.monotonic()
    if o.layers is None:
        weights, stage, step, estimated = o.weights, ("16-bit" if o.wide else "8-bit"), None, None
        meter = _measurer(o.candidates)
        wide = {k for b in mixed_search.blocks(meter.model) for k in b.ops} if o.wide else set()
    else:
        given = json.loads(o.layers.read_text())
        if given.get("wide") is None:  # the paths are shorter than the slots: no model here
            atomic.write_json(o.out, {"name": o.name, "stage": given["stage"], "none": True})
            return
        weights, stage, step, estimated = given["weights"], given["stage"], given["step"], given["estimated_ms"]
        meter = _measurer(o.candidates)
        wide = set(given["wide"])
    record = meter.measure(wide, weights, tables=o.tables)
    record.update(name=o.name, stage=stage, step=step, estimated_ms=estimated)
    record["seconds"] = round(time.monotonic() - started, 1)
    atomic.write_json(o.out, record)


def sensitivity(o: SensitivityOptions) -> None:
    import json
    import time

    from tasks import atomic
    from tasks.model import mixed_search
    from tasks.progress import progress
    from tasks.tflite import flatbuffer

    started = time.monotonic()
    ends = {name: json.loads(p.read_text()) for name, p in zip(ENDS, o.ends, strict=True)}
    model = flatbuffer.read(o.candidates.model)
    outputs = sorted({v for t in o.candidates.tasks for v in t.settings.values() if isinstance(v, str)})
    est = mixed_search.Estimate(
        model=model, found=mixed_search.blocks(model), int8=ends["int8"], int16=ends["int16x8"], outputs=outputs
    )
    weights = mixed_search.base_weights({w: ends[n] for n, (w, wide, _) in ENDS.items() if not wide})
    routes = mixed_search.routes(est)
    chosen = {c["name"]: c for c in mixed_search.path_candidates(est, routes, weights, PATH_CANDIDATES)}
    for name, path in zip(slots(), o.layers, strict=True):
        atomic.write_json(path, chosen.get(name) or {"stage": name.split("-")[0], "wide": None})
    atomic.write_json(
        o.out,
        {
            "blocks": mixed_search.estimate_table(est),
            "ends": {n: {k: e[k] for k in ("weights", "ms", "widened", "accuracy")} for n, e in ends.items()},
            "per_element_cycles": est.per_element,
            "weights": weights,
            "routes": [{"name": r.name, "order": list(r.order), "ms": [round(x, 4) for x in r.ms]} for r in routes],
            "candidates": [{k: v for k, v in c.items() if k != "wide"} for c in chosen.values()],
            "seconds": round(time.monotonic() - started, 2),
        },
    )
    progress(f"{len(est.found)} blocks; {len(chosen)} candidates along the paths, {weights} weights")


def _entry(record: dict[str, Any], goal: Any) -> dict[str, Any]:
    return {"ms": record["ms"], "value": goal.value(record)}


def search(o: SearchOptions) -> None:
    import json
    import time

    from tasks import atomic
    from tasks.config.project import Goal
    from tasks.errors import StepError
    from tasks.model import mixed_search
    from tasks.progress import progress
    from tasks.tflite import flatbuffer

    table = json.loads(o.table.read_text())
    measured = [r for r in (json.loads(p.read_text()) for p in o.measured) if not r.get("none")]
    goal = Goal(**o.goal)
    started, refined = time.monotonic(), 0
    eights = [r for r in measured if r["stage"] == "8-bit" and goal.met(r) and r["ms"] <= o.max_ms]
    if not eights:  # a better 8-bit model would be the cheapest: nothing along a path can beat it
        meter = None
        # a path none of whose models is on the front of latency against the goal metric gets none for the budget
        front = {measured[i]["stage"] for i in mixed_search.pareto([_entry(r, goal) for r in measured], goal)}
        for route in ("narrow", "widen"):
            for _ in range(2 if route in front else 0):  # once more if Vela puts the first over the budget
                spec = mixed_search.refinement(table, measured, route, o.max_ms)
                if spec is None:
                    break
                meter = meter or _measurer(o.candidates)
                progress(
                    f"{spec['name']}: step {spec['step']} of the {route} path, estimated {spec['estimated_ms']:.2f} ms"
                )
                record = meter.measure(set(spec["wide"]), spec["weights"])
                record.update({k: spec[k] for k in ("name", "stage", "step", "estimated_ms")})
                measured.append(record)
                refined += 1
                if record["ms"] <= o.max_ms:
                    break
    try:
        found = mixed_search.choose(measured, goal, o.max_ms, flatbuffer.read(o.candidates.model))
    except StepError as exc:
        raise StepError(f"{o.label}: {exc}") from None
    found["target"] = o.candidates.vela.target
    found["cost"] = {
        "candidates": len(measured) - refined,
        "seconds": round(sum(r.get("seconds", 0.0) for r in measured), 1),
        "estimate_seconds": table["seconds"],
        "refined": refined,
        "refine_seconds": round(time.monotonic() - started, 1),
    }
    found["snippet"] = mixed_search.snippet(o.name, found["chosen"], o.candidates.io)
    atomic.write_json(o.out, found)
    progress(("chose " + found["chosen"]["summary"]) if found["met"] else ("goal not met: " + found["why"]))
