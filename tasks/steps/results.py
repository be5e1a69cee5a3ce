"""results: every variant's facts in one build/results.json (format in docs/concepts.md).

What it writes is checked against schema/results.schema.json first (the
records it is made of are typed in tasks/results/records.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks import atomic
from tasks.errors import StepError
from tasks.planning.options import added, files, input_file, output_file, relative, unfingerprinted
from tasks.planning.step import rows
from tasks.progress import say
from tasks.results import failures
from tasks.results.records import VariantRow

if TYPE_CHECKING:
    from tasks.config import Variant
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step
    from tasks.results.records import Failure, PipelineRow, Results

SCHEMA = Path(__file__).resolve().parent.parent.parent / "schema" / "results.schema.json"
# a row's keys that the step kinds' facts fill, in results.json's order (records.VariantRow's)
FACT_KEYS: tuple[str, ...] = tuple(
    k
    for k in VariantRow.__annotations__
    if k not in ("id", "model", "prune", "quantization", "target", "artifact", "size_bytes", "error")
)


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One variant: its names and the facts files its row is made of."""

    id: str
    model: str
    prune: str | None
    quantization: str
    target: str
    artifact: Path = input_file()
    facts: tuple[FactsFiles, ...] = ()  # of each step kind with facts (its row's ``facts``) that has steps for it
    steps: tuple[Made, ...] = ()  # every step that makes its files, upstream first: where a failure is looked for


@dataclass(frozen=True, kw_only=True)
class FactsFiles:
    """The facts files the variant's steps of one kind wrote (one per board for a kind with ``many``)."""

    kind: str  # a row of the step table with facts
    files: tuple[Path, ...] = input_file(())


@dataclass(frozen=True, kw_only=True)
class Made:
    """A step upstream of a variant, and which of the variant's facts files it writes (none: further up)."""

    step: str
    files: tuple[Path, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PipelineEntry:
    """One pipeline variant: its names, the record its pipeline step writes, and the steps upstream of it."""

    id: str
    pipeline: str
    quantization: str
    target: str
    record: Path = input_file()
    steps: tuple[Made, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Options:
    project: str
    variants: tuple[Entry, ...]
    pipelines: tuple[PipelineEntry, ...] = added(())  # results.json's pipelines, when the project has some
    out: Path = output_file()
    root: Path = unfingerprinted(Path("."))  # paths in results.json are relative to it
    build: Path = unfingerprinted(Path("build"))  # where failed steps leave their records (tasks/results/failures.py)
    # why some variants may be incomplete: set by the salvage after a build that failed or was interrupted
    # (tasks/engine/loader.py); None when doit runs the step, which it does only once every input is built
    stopped: str | None = unfingerprinted(None)
    built: frozenset[str] = unfingerprinted(frozenset())  # with ``stopped``: the steps doit finds up to date


def plan_results(planning: Planning) -> list[Step]:
    producers = {t: s for s in planning.steps for t in s.targets}
    entries = tuple(_with_steps(planning, producers, entry(planning, v)) for v in planning.project.variants)
    pipelines = tuple(
        _with_steps(planning, producers, _pipeline_entry(s)) for s in planning.steps if s.kind.name == "pipeline"
    )
    options = Options(
        project=planning.project.name,
        variants=entries,
        pipelines=pipelines,
        out=planning.paths.results,
        root=planning.project.root,
        build=planning.paths.build,
    )
    return [planning.new("results", "", "collect every variant's facts into results.json", options)]


def entry(planning: Planning, v: Variant) -> Entry:
    """The facts files the planned steps write for variant ``v``: those of its step of each kind with facts."""
    found = []
    for kind in (k for k in rows() if k.facts):
        facts = kind.facts
        if facts.quantized and not planning.toolchain(v).builds.quantizes:
            continue  # a step's output that matters only when TensorFlow Lite quantizes the variant
        if facts.many:
            steps = [s for s in planning.steps if s.kind is kind and s.options.label == v.id]
        else:
            step = planning.step_of(kind.name, getattr(v, facts.per))
            steps = [step] if step is not None and step.kind is kind else []
        files = tuple(p for p in (getattr(s.options, facts.file, None) for s in steps) if p is not None)
        if files or (steps and facts.many):
            found.append(FactsFiles(kind=kind.name, files=files))
    return Entry(
        id=v.id,
        model=v.model,
        prune=v.prune,
        quantization=v.quantization,
        target=v.target,
        artifact=planning.artifact(v),
        facts=tuple(found),
    )


def _pipeline_entry(step: Step) -> PipelineEntry:
    o = step.options
    return PipelineEntry(id=o.id, pipeline=o.pipeline, quantization=o.combination, target=o.target, record=o.out)


def _with_steps(planning: Planning, producers: dict[Path, Step], e: Entry) -> Entry:
    """``e`` with every step upstream of its files (``producers``: output file → step), in planning order."""
    found: set[str] = set()
    own = files(e, "in")
    todo = list(own)
    while todo:
        step = producers.get(todo.pop())
        if step is not None and step.task_name not in found:
            found.add(step.task_name)
            todo += step.file_dep
    made = tuple(
        Made(step=s.task_name, files=tuple(p for p in own if p in s.targets))
        for s in planning.steps
        if s.task_name in found
    )
    return replace(e, steps=made)


def _read(path: Path | None) -> Any:
    """The record a step wrote to ``path`` (its type: tasks/results/records.py), or None."""
    return json.loads(path.read_text()) if path else None


def _failed(o: Options, v: Entry | PipelineEntry) -> Failure | None:
    """After a stopped build: the first of the variant's steps that failed, else the first whose output is missing.

    The salvage keeps only the failure records of the steps' present inputs (tasks/engine/loader.py).
    """
    unbuilt = [made for made in v.steps if made.step not in o.built or not all(p.is_file() for p in made.files)]
    for made in unbuilt:
        record = failures.read(o.build, made.step)
        if record:
            return record
    if unbuilt:
        return {"step": unbuilt[0].step, "message": f"not built: {unbuilt[0].step} has not run ({o.stopped})"}
    return None


def _failed_row(v: Entry, error: Failure) -> VariantRow:
    """A variant that was not built: its names, every fact empty, and the failure."""
    return {
        "id": v.id,
        "model": v.model,
        "prune": v.prune,
        "quantization": v.quantization,
        "target": v.target,
        "artifact": None,
        "size_bytes": None,
        **_facts({}),
        "error": error,
    }


def _facts(read: dict[str, list[Any]]) -> dict[str, Any]:
    """Every fact key of a row, in results.json's order, from the records each kind's steps wrote (by kind)."""
    compiled = any(read.get(k.name) for k in rows() if k.facts and k.task_prefix == "compile")
    values: dict[str, Any] = {}
    for kind in (k for k in rows() if k.facts):
        records = read.get(kind.name) or []
        if kind.facts.many:
            values.update(kind.facts.read(records, compiled))
        elif records:
            values.update(kind.facts.read(records[0], compiled))
    return {key: values.get(key) for key in FACT_KEYS}


def check(document: Results) -> None:
    """``document`` against schema/results.schema.json, before it is written: a mismatch is NPUForge's bug."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is None:
        return
    said = error.message if len(error.message) <= 300 else error.message[:299] + "…"
    rule = "/".join(str(p) for p in error.absolute_schema_path)
    raise StepError(
        f"results.json does not match schema/results.schema.json at {error.json_path}: {said} "
        f"(rule '{error.validator}' at {rule}); this is a bug in NPUForge, not in the project: "
        "results.json was not written; please report this message"
    )


def row(v: Entry, root: Path) -> VariantRow:
    """A built variant's row of results.json, from the facts files its steps wrote (paths relative to ``root``)."""
    head = {
        "id": v.id,
        "model": v.model,
        "prune": v.prune,
        "quantization": v.quantization,
        "target": v.target,
        "artifact": relative(v.artifact, root),
        "size_bytes": v.artifact.stat().st_size,
    }
    return {**head, **_facts({f.kind: [_read(p) for p in f.files] for f in v.facts})}


def _pipeline_row(o: Options, p: PipelineEntry) -> PipelineRow:
    """A pipeline variant's row: its pipeline step's record, or its names and the failure that stopped it."""
    error = _failed(o, p) if o.stopped else None
    if error is None:
        return _read(p.record)
    names = {"id": p.id, "pipeline": p.pipeline, "quantization": p.quantization, "target": p.target}
    empty = dict.fromkeys(("stages", "budget_ms", "fps_goal", "estimate", "measured", "memory", "accuracy"))
    return {**names, **empty, "error": error}


def run(o: Options) -> None:
    rows: list[VariantRow] = []
    for v in o.variants:
        error = _failed(o, v) if o.stopped else None
        rows.append(_failed_row(v, error) if error else row(v, o.root))
    document: Results = {"project": o.project, "variants": rows}
    if o.pipelines:
        document["pipelines"] = [_pipeline_row(o, p) for p in o.pipelines]
    check(document)
    atomic.write_json(o.out, document)
    width = max((len(r["id"]) for r in rows), default=10)
    say(f"   {'variant':<{width}}  {'size':>10}  {'NPU/CPU':>8}  {'est. ms':>8}  {'meas. ms':>8}")
    said: set[tuple[str, str]] = set()
    for r in rows:
        if r.get("error"):
            key = (r["error"]["step"], r["error"]["message"])
            if key not in said:  # a failure once, with every variant it stopped (a model's import stops all of its)
                said.add(key)
                ids = [x["id"] for x in rows if x.get("error") and (x["error"]["step"], x["error"]["message"]) == key]
                more = f" (and {', '.join(ids[1:])})" if len(ids) > 1 else ""
                say(f"   {ids[0]:<{width}}  FAILED at {key[0]}: {key[1]}{more}")
            continue
        ops = f"{r['ops']['npu']}/{r['ops']['cpu']}" if r["ops"] else "-"
        ms = f"{r['estimate']['inference_ms']:.2f}" if r["estimate"] else "-"
        measured = f"{r['benchmark']['latency_ms']['avg']:.2f}" if r["benchmark"] else "-"
        say(f"   {r['id']:<{width}}  {r['size_bytes']:>10}  {ops:>8}  {ms:>8}  {measured:>8}")
    for p in document.get("pipelines", []):
        say(f"   pipeline {p['id']}: {pipeline_summary(p)}")
    say(f"   wrote {relative(o.out, o.root)}")


def pipeline_summary(p: PipelineRow) -> str:
    """A pipeline variant in one line: its ms against the budget, its memory, its headline end-to-end metric."""
    if p.get("error"):
        return f"FAILED at {p['error']['step']}: {p['error']['message']}"
    parts = []
    if p["estimate"]:
        budget = f" of {p['budget_ms']:.2f}" if p["budget_ms"] else ""
        parts.append(f"{p['estimate']['ms']:.2f}{budget} ms estimated")
    if p["measured"]:
        m = p["measured"]
        parts.append(f"{m['frame_ms']['avg']:.2f} ms a frame ({m['fps']:.1f} FPS) on {m['board']}")
    fits = (p["memory"] or {}).get("fits")
    if fits is not None:
        parts.append("memory fits" if fits else "memory does NOT fit")
    acc = p["accuracy"] or {}
    shown = [f"{k} {v:.4g}" for k, v in (acc.get("metrics") or {}).items() if v is not None][:2]
    if acc:
        parts.append(
            f"{acc['scored_frames']}/{acc['frames']} frames scored" + (": " if shown else "") + ", ".join(shown)
        )
    return "; ".join(parts) or "no estimate, no accuracy"
