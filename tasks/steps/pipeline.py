"""pipeline-evaluate and pipeline: a pipeline of models judged as the application runs it, per scheme combination.

``pipeline-evaluate:NAME/COMBINATION`` runs every frame of the pipeline's
dataset through the float chain and the quantized chain (the work is in
tasks/model/pipelines.py); like evaluate, it does not depend on the target.

``pipeline:NAME/COMBINATION@TARGET`` puts a pipeline variant together from
what its stages' own steps measured: the latency is the sum of the stages'
Vela estimates (the NPU's; a stage's CPU operators are counted, and left out
of the estimate), the memory is the largest stage's SRAM arena and the
stages' summed model sizes against ``targets.NAME.memory``, and the accuracy
is pipeline-evaluate's.  Its record is the pipeline's row of results.json
(records.PipelineRow).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks import atomic
from tasks.boards.settings import BoardSettings, Connection
from tasks.model.datasets import Preprocess, Samples
from tasks.planning.options import added, input_file, output_file, unfingerprinted
from tasks.progress import say
from tasks.steps import benchmark, evaluate, search
from tasks.steps.results import Entry, entry, row

if TYPE_CHECKING:
    from tasks.config.project import Pipeline
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step


def pipeline_id(name: str, combination: str, target: str | None = None) -> str:
    """``NAME/COMBINATION``, and ``@TARGET`` for a pipeline variant."""
    return f"{name}/{combination}" + (f"@{target}" if target else "")


# --- pipeline-evaluate -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StageOptions:
    label: str  # UNIT/SCHEME
    float_model: Path = input_file()
    quantized: Path = input_file()
    preprocess: Preprocess
    tasks: tuple[evaluate.TaskOptions, ...]
    crop: str | None = None
    crop_scale: float | None = None
    square: bool = True

    def model_stage(self):
        """The stage as tasks/model/pipelines.py runs it."""
        from tasks.model import pipelines

        return pipelines.Stage(
            label=self.label,
            float_model=self.float_model,
            quantized=self.quantized,
            preprocess=self.preprocess,
            tasks=tuple(t.spec() for t in self.tasks),
            crop=self.crop,
            crop_scale=self.crop_scale,
            square=self.square,
        )


@dataclass(frozen=True, kw_only=True)
class EvaluateOptions:
    label: str  # NAME/COMBINATION
    stages: tuple[StageOptions, ...]
    frames: Samples
    in_sample: bool
    out: Path = output_file()


def plan_pipeline_evaluate(planning: Planning) -> list[Step]:
    """One step per chain of quantized models on a set of frames: two pipelines that share one share its step."""
    steps: list[Step] = []
    for p in planning.project.pipelines.values():
        for combination in p.combinations:
            found = _chain_of(planning, p, combination)
            if found is None or _evaluation(steps, found) is not None:
                continue
            stages, frames, in_sample = found
            options = EvaluateOptions(
                label=pipeline_id(p.name, combination),
                stages=stages,
                frames=frames,
                in_sample=in_sample,
                out=planning.paths.pipeline_accuracy(p.name, combination),
            )
            doc = f"run '{frames.label}' through the float and the quantized chain of {len(stages)} models"
            steps.append(planning.new("pipeline-evaluate", options.label, doc, options))
    return steps


def _chain_of(planning: Planning, p: Pipeline, combination: str) -> tuple | None:
    """(stages, frames, in_sample) a combination is evaluated with; None when it cannot be (no frames, or a stage
    TensorFlow Lite does not quantize, as SyNAP's: no quantized .tflite to run)."""
    frames, in_sample = _frames(planning, p)
    if frames is None:
        return None
    schemes = p.combinations[combination]
    stages = tuple(_stage(planning, s, scheme) for s, scheme in zip(p.stages, schemes, strict=True))
    return None if any(s is None for s in stages) else (stages, frames, in_sample)


def _evaluation(steps: list[Step], found: tuple | None) -> Step | None:
    """The pipeline-evaluate step among ``steps`` that runs this chain on these frames."""
    if found is None:
        return None
    stages, frames, _ = found
    return next(
        (
            s
            for s in steps
            if s.kind.name == "pipeline-evaluate" and (s.options.stages, s.options.frames) == (stages, frames)
        ),
        None,
    )


def _frames(planning: Planning, p: Pipeline) -> tuple[Samples | None, bool]:
    """The frames a pipeline is evaluated on, and whether a stage was calibrated on any of them."""
    first = planning.project.models[p.stages[0].model]
    if p.dataset is None:
        frames, _ = planning.validation_samples(first, labelled=True)
    else:
        frames = planning.samples(p.dataset, first, "validation", labelled=True)
    if frames is None:
        return None, False
    calibrated = set()
    for s in p.stages:
        model = planning.project.models[s.model]
        found = planning.samples(model.calibration, model) if model.calibration else None
        calibrated |= set(found.files) if found else set()
    return frames, bool(calibrated & set(frames.files))


def _stage(planning: Planning, s, scheme: str) -> StageOptions | None:
    quantize = planning.step_of("quantize", f"{s.unit}/{scheme}")
    if quantize is None:
        return None
    model = planning.project.models[s.model]
    return StageOptions(
        label=f"{s.unit}/{scheme}",
        float_model=planning.paths.float_model(s.unit),
        quantized=planning.paths.quantized(s.unit, scheme),
        preprocess=_preprocess(planning, model),
        tasks=tuple(evaluate.TaskOptions.of(t) for t in model.tasks),
        crop=s.crop,
        crop_scale=s.crop_scale,
        square=s.square,
    )


def _preprocess(planning: Planning, model) -> Preprocess:
    """How a stage's model takes an image: its validation (else calibration) dataset's preprocessing."""
    dataset = planning.project.datasets.get(model.validation or model.calibration or "")
    return dataset.preprocess if dataset else Preprocess()


def run_evaluate(o: EvaluateOptions) -> None:
    from tasks.model import pipelines

    pipelines.run(tuple(s.model_stage() for s in o.stages), o.frames, o.out, o.label, o.in_sample)


# --- pipeline -----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Options:
    id: str  # NAME/COMBINATION@TARGET
    pipeline: str
    combination: str
    target: str
    stages: tuple[Entry, ...]  # each stage's variant: its facts files (a search's: every choice, its record picks)
    accuracy: Path | None = input_file(None)
    search: Path | None = input_file(None)  # a search variant's record: which of ``stages`` it chose
    measured: tuple[Path, ...] = input_file(())  # each board's pipeline-benchmark record
    budget_ms: float | None = None
    fps: float | None = None
    sram_kib: float | None = None  # what the target declares
    flash_kib: float | None = None
    out: Path = output_file()
    root: Path = unfingerprinted(Path("."))


def plan_pipeline(planning: Planning) -> list[Step]:
    steps = []
    by_id = {v.id: v for v in planning.project.variants}
    for p in planning.project.pipelines.values():
        for combination, schemes in p.combinations.items():
            evaluated = _evaluation(planning.steps, _chain_of(planning, p, combination))
            for target in p.targets_of(combination):
                label = pipeline_id(p.name, combination, target)
                boards = [s for s in planning.steps if s.kind.name == "pipeline-benchmark" and s.options.label == label]
                stages = tuple(
                    entry(planning, by_id[f"{s.unit}/{scheme}@{target}"])
                    for s, scheme in zip(p.stages, schemes, strict=True)
                )
                options = _options(
                    planning,
                    p,
                    combination,
                    target,
                    stages=stages,
                    accuracy=evaluated.options.out if evaluated else None,
                    measured=tuple(b.options.out for b in boards),
                )
                doc = f"the {len(stages)} stages' latency, memory and end-to-end accuracy on {target}"
                steps.append(planning.new("pipeline", options.id, doc, options))
        searched = planning.step_of("pipeline-search", f"{p.name}@{p.search.target}") if p.search else None
        if searched is not None:
            choices = tuple(c.variant for s in searched.options.stages for c in s.choices)
            options = _options(planning, p, "search", p.search.target, stages=choices, search=searched.options.out)
            doc = f"the combination the search chose on {p.search.target}: its latency, memory and accuracy"
            steps.append(planning.new("pipeline", options.id, doc, options))
    return steps


def _options(planning: Planning, p: Pipeline, combination: str, target: str, **given: Any) -> Options:
    """A pipeline variant's options: its names, the pipeline's budget, the target's memory, and ``given``."""
    memory = planning.project.targets[target].memory
    return Options(
        id=pipeline_id(p.name, combination, target),
        pipeline=p.name,
        combination=combination,
        target=target,
        budget_ms=p.budget_ms,
        fps=p.fps,
        sram_kib=memory.sram_kib,
        flash_kib=memory.flash_kib,
        out=planning.paths.pipeline(p.name, combination, target),
        root=planning.project.root,
        **given,
    )


def run(o: Options) -> None:
    entries, found, accuracy = o.stages, None, json.loads(o.accuracy.read_text()) if o.accuracy else None
    if o.search is not None:
        found = json.loads(o.search.read_text())
        picked = found["combinations"][found["closest"]]["variants"] if found["closest"] is not None else []
        entries = tuple(next((e for e in o.stages if e.id == v), None) for v in picked)
        accuracy = found["accuracy"]
    taken = (found or {}).get("candidates") or [None] * len(entries)  # a search's stages that are candidates
    stages = [c if c is not None else _stage_row(row(e, o.root)) for e, c in zip(entries, taken, strict=True)]
    estimated = bool(stages) and all(s["npu_ms"] is not None for s in stages)
    total = round(sum(s["npu_ms"] for s in stages), 4) if estimated else None
    record = {
        "id": o.id,
        "pipeline": o.pipeline,
        "quantization": o.combination,
        "target": o.target,
        "stages": stages,
        "budget_ms": o.budget_ms,
        "fps_goal": o.fps,
        "estimate": _timing(total, sum(s["cpu_ops"] or 0 for s in stages)) if estimated else None,
        "measured": json.loads(o.measured[0].read_text()) if o.measured else None,
        "memory": _memory(stages, o.sram_kib, o.flash_kib),
        "accuracy": accuracy,
    }
    if found is not None:
        record["search"] = {k: found[k] for k in ("met", "why", "goal", "chosen", "closest", "combinations", "fronts")}
    atomic.write_json(o.out, record)
    shown = f"{total:.2f} ms estimated" if total is not None else "no NPU estimate"
    if record["measured"]:
        shown += f", {record['measured']['frame_ms']['avg']:.2f} ms measured on {record['measured']['board']}"
    budget = f" of a {o.budget_ms:.2f} ms budget" if o.budget_ms and total is not None else ""
    say(f"   {o.id}: {shown}{budget}; " + " + ".join(f"{s['variant']}" for s in stages))


def _stage_row(r: dict[str, Any]) -> dict[str, Any]:
    """What a pipeline keeps of a stage variant's row."""
    estimate = r.get("estimate") or {}
    ops = r.get("ops") or {}
    bench = r.get("benchmark") or {}
    return {
        "variant": r["id"],
        "npu_ms": estimate.get("inference_ms"),
        "cpu_ops": ops.get("cpu"),
        "cpu_fallback": [f["op"] for f in r.get("cpu_fallback") or []],
        "sram_kib": estimate.get("sram_kib"),
        "dram_kib": estimate.get("dram_kib"),
        "size_kib": round(r["size_bytes"] / 1024, 2),
        "measured_ms": (bench.get("latency_ms") or {}).get("avg"),
    }


def _timing(ms: float, cpu_ops: int) -> dict[str, Any]:
    return {"ms": ms, "fps": round(1000.0 / ms, 2) if ms else None, "cpu_ops": cpu_ops}


def _memory(stages: list[dict[str, Any]], sram: float | None, flash: float | None) -> dict[str, Any]:
    """The largest arena (stages run one after another and can share it) and the summed model sizes, against the
    target's: ``fits`` is None when the target declares neither, or no stage has a Vela estimate of its SRAM."""
    arenas = [s["sram_kib"] for s in stages if s["sram_kib"] is not None]
    used_sram = max(arenas) if len(arenas) == len(stages) else None
    used_flash = round(sum(s["size_kib"] for s in stages), 2)
    checks = []
    if sram is not None and used_sram is not None:
        checks.append(used_sram <= sram)
    if flash is not None:
        checks.append(used_flash <= flash)
    return {
        "sram_kib": used_sram,
        "flash_kib": used_flash,
        "target_sram_kib": sram,
        "target_flash_kib": flash,
        "fits": all(checks) if checks else None,
    }


# --- pipeline-benchmark -------------------------------------------------------------------------------

PIPELINE_RUNNER = "tasks.model.pipeline_runner"  # and the modules it imports: zipped, copied to the board


@dataclass(frozen=True, kw_only=True)
class BoardStage:
    """A stage as the board runs it: the artifact its target ships, and how its input is made."""

    artifact: Path = input_file()
    preprocess: Preprocess
    crop: str | None = None
    crop_scale: float | None = None
    square: bool = True
    detection: dict[str, Any] | None = None  # its detection task, when the next stage cuts a crop from it


@dataclass(frozen=True, kw_only=True)
class BenchmarkOptions:
    board: BoardSettings
    label: str  # the pipeline variant, NAME/COMBINATION@TARGET
    stages: tuple[BoardStage, ...]
    frames: tuple[Path, ...] = input_file(())
    passes: int
    out: Path = output_file()
    connection: Connection = unfingerprinted()


def plan_pipeline_benchmark(planning: Planning) -> list[Step]:
    """A pipeline variant on the board that measures its first stage's variant."""
    steps = []
    assigned = {v.id: board for v, board in planning.board_assignments()}
    by_id = {v.id: v for v in planning.project.variants}
    for p in planning.project.pipelines.values():
        frames, _ = _frames(planning, p)
        if frames is None or frames.kind != "images":
            continue
        for combination, schemes in p.combinations.items():
            for target in p.targets_of(combination):
                ids = [f"{s.unit}/{scheme}@{target}" for s, scheme in zip(p.stages, schemes, strict=True)]
                board = assigned.get(ids[0])
                if board is None:
                    continue
                stages = tuple(
                    _board_stage(planning, s, by_id[i], p.stages[k + 1] if k + 1 < len(p.stages) else None)
                    for k, (s, i) in enumerate(zip(p.stages, ids, strict=True))
                )
                label = pipeline_id(p.name, combination, target)
                options = BenchmarkOptions(
                    board=benchmark._settings(board, planning.project.targets[target]),
                    label=label,
                    stages=stages,
                    frames=frames.files,
                    passes=max(1, -(-board.runs // max(len(frames.files), 1))),
                    out=planning.paths.pipeline(p.name, combination, target).with_name(f"benchmark-{board.name}.json"),
                    connection=benchmark.connection(board),
                )
                doc = f"run the {len(stages)} stages one after another on each frame on a board ({board.name})"
                steps.append(planning.new("pipeline-benchmark", f"{board.name}:{label}", doc, options))
    return steps


def _board_stage(planning: Planning, s, v, after) -> BoardStage:
    model = planning.project.models[s.model]
    detection = next((t for t in model.tasks if t.type == "detection"), None) if after is not None else None
    return BoardStage(
        artifact=planning.artifact(v),
        preprocess=_preprocess(planning, model),
        crop=s.crop,
        crop_scale=s.crop_scale,
        square=s.square,
        detection=evaluate.TaskOptions.of(detection).spec() if detection else None,
    )


def run_benchmark(o: BenchmarkOptions) -> None:
    import shlex
    import sys
    import tempfile

    from tasks.boards import transport as boards
    from tasks.digests import sha256_file
    from tasks.progress import progress

    board = {**o.board, **o.connection}
    with tempfile.TemporaryDirectory(prefix="npuforge-pipeline-") as tmp:
        runner, spec = Path(tmp) / "pipeline.pyz", Path(tmp) / "spec.json"
        _runner_zip(runner)
        progress(f"{len(o.frames)} frames x {o.passes} pass(es) through {len(o.stages)} stages")
        if board["host"] == "local":
            _write_spec(spec, o, [str(s.artifact) for s in o.stages])
            argv = [sys.executable, str(runner), *_runner_args(o, str(spec), [str(f) for f in o.frames])]
            outcome = boards.Local(board).run(argv, board["timeout"], env=board.get("env"))
        else:
            remote = boards.connect(board)
            try:
                workdir = board["workdir"].rstrip("/")

                def sent(path: Path, suffix: str) -> str:
                    name = f"{workdir}/{sha256_file(path)}{suffix}"
                    remote.put(path, name)
                    return name

                graphs = [sent(s.artifact, ".tflite") for s in o.stages]
                frames = [sent(f, f.suffix) for f in o.frames]
                _write_spec(spec, o, graphs)
                argv = [board["python"], sent(runner, ".pyz"), *_runner_args(o, sent(spec, ".json"), frames)]
                outcome = boards.run_exclusive(remote, board, " ".join(shlex.quote(a) for a in argv))
            finally:
                remote.close()
    said = [line for line in outcome.stderr.splitlines() if line.startswith("ERROR: ")]
    if outcome.exit_code == 1 and said:
        raise boards.BoardError(f"board {board['name']}: the pipeline runner stopped: {said[-1][7:]}")
    benchmark.check_exit(outcome, board, argv[0], "python")
    lines = [line for line in outcome.stdout.strip().splitlines() if line.startswith("{")]
    if not lines:
        tail = "\n".join((outcome.stdout + outcome.stderr).strip().splitlines()[-4:]) or "(no output)"
        raise boards.BoardError(f"board {board['name']}: the pipeline runner printed no result:\n{tail}")
    measured = {"board": board["name"], **json.loads(lines[-1])}
    atomic.write_json(o.out, measured)
    progress(
        f"{measured['fps']:.1f} FPS: {measured['frame_ms']['avg']:.2f} ms a frame (stages "
        + " + ".join(f"{ms:.2f}" for ms in measured["stage_ms"])
        + f", the rest {measured['cpu_ms']:.2f})"
    )


def _write_spec(path: Path, o: BenchmarkOptions, graphs: list[str]) -> None:
    stages = [
        {
            "graph": graph,
            "preprocess": dataclasses.asdict(s.preprocess),
            "crop": s.crop,
            "crop_scale": s.crop_scale,
            "square": s.square,
            "detection": s.detection,
        }
        for s, graph in zip(o.stages, graphs, strict=True)
    ]
    path.write_text(json.dumps({"stages": stages}, sort_keys=True))


def _runner_args(o: BenchmarkOptions, spec: str, frames: list[str]) -> list[str]:
    warmup = min(o.board["warmup"], len(frames))
    return [
        f"--spec={spec}",
        f"--passes={o.passes}",
        f"--warmup={warmup}",
        *benchmark.runtime_args(o.board),
        "--frames",
        *frames,
    ]


def _runner_zip(path: Path) -> None:
    """The board runner and every module of NPUForge it imports, as a zip Python runs (same bytes every time)."""
    import zipfile

    from tasks.planning import versions

    modules = set(versions.code_of(PIPELINE_RUNNER))
    for name in list(modules):
        parts = name.split(".")
        modules.update(n for i in range(1, len(parts)) for n in versions.code_of(".".join(parts[:i])))
    root = Path(versions.__file__).resolve().parent.parent.parent
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:

        def add(name: str, data: bytes) -> None:
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)

        for name in sorted(modules):
            parts = name.split(".")
            file = root.joinpath(*parts).with_suffix(".py")
            package = root.joinpath(*parts, "__init__.py")
            if package.is_file():
                add("/".join(parts) + "/__init__.py", package.read_bytes())
            elif file.is_file():
                add("/".join(parts) + ".py", file.read_bytes())
            else:
                add("/".join(parts) + "/__init__.py", b"")  # a folder without one (a namespace package)
        add("__main__.py", f"import sys\nfrom {PIPELINE_RUNNER} import main\n\nsys.exit(main())\n".encode())


# --- pipeline-search ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Choice:
    """A scheme a stage could take on the search's target: its variant (the facts files) and its quantized model."""

    scheme: str
    variant: Entry
    quantized: Path = input_file()


@dataclass(frozen=True, kw_only=True)
class Searched:
    """An automatic scheme of the stage's unit whose budget is on the search's target: its search's candidates are
    choices too (the front of its own goal), quantized again from their records when a combination is measured."""

    scheme: str
    goal: dict[str, Any]  # the automatic scheme's goal: which of its candidates are on its front
    candidates: search.Candidates  # what they are quantized from
    records: tuple[Path, ...] = input_file()  # each candidate step's record


@dataclass(frozen=True, kw_only=True)
class SearchStage:
    stage: StageOptions  # its quantized model is its first choice's: the search swaps it per combination
    choices: tuple[Choice, ...]
    searched: tuple[Searched, ...] = added(())


@dataclass(frozen=True, kw_only=True)
class SearchOptions:
    label: str  # NAME@TARGET
    stages: tuple[SearchStage, ...]
    frames: Samples
    in_sample: bool
    goal: dict[str, Any]  # {metric, min | max}, as a gate reads it
    budget_ms: float
    measure: int
    out: Path = output_file()
    root: Path = unfingerprinted(Path("."))


def plan_pipeline_search(planning: Planning) -> list[Step]:
    steps = []
    by_id = {v.id: v for v in planning.project.variants}
    for p in planning.project.pipelines.values():
        frames, in_sample = _frames(planning, p)
        if p.search is None or frames is None or p.budget_ms is None:
            continue
        target = p.search.target
        stages = []
        for s in p.stages:
            schemes = [q for q in planning.project.quantization if f"{s.unit}/{q}@{target}" in by_id]
            choices = tuple(
                Choice(
                    scheme=q,
                    variant=entry(planning, by_id[f"{s.unit}/{q}@{target}"]),
                    quantized=planning.paths.quantized(s.unit, q),
                )
                for q in schemes
                if planning.step_of("quantize", f"{s.unit}/{q}") is not None
            )
            searched = []
            for q in schemes:
                scheme = planning.project.quantization[q]
                if scheme.type == "auto" and scheme.budget.target == target:
                    candidates, records = search.measured_by(planning, s.unit, q)
                    searched.append(
                        Searched(scheme=q, goal=scheme.goal.as_dict(), candidates=candidates, records=records)
                    )
            stage = _stage(planning, s, choices[0].scheme)
            stages.append(SearchStage(stage=stage, choices=choices, searched=tuple(searched)))
        options = SearchOptions(
            label=f"{p.name}@{target}",
            stages=tuple(stages),
            frames=frames,
            in_sample=in_sample,
            goal=p.search.goal.as_dict(),
            budget_ms=round(p.budget_ms, 4),
            measure=p.search.measure,
            out=planning.paths.pipeline(p.name, "search", target).with_name("search.json"),
            root=planning.project.root,
        )
        combos = 1
        for s in stages:
            combos *= len(s.choices)
        doc = f"choose every stage's scheme together: {combos} combinations on {target}, measured cheapest first"
        steps.append(planning.new("pipeline-search", options.label, doc, options))
    return steps


def run_search(o: SearchOptions) -> None:
    import itertools
    import tempfile

    from tasks.config.project import Goal
    from tasks.model import pipelines
    from tasks.progress import progress

    goal = Goal(**o.goal)
    target = o.label.split("@")[-1]
    fronts, candidates = _fronts(o, goal, target)
    combos = sorted(
        (
            {
                "schemes": [p["scheme"] for p in picked],
                "variants": [p["variant"] for p in picked],
                "ms": round(sum(p["ms"] for p in picked), 4),
                "cpu_ops": sum(p["cpu_ops"] for p in picked),
            }
            for picked in itertools.product(*fronts)
        ),
        key=lambda c: (c["ms"], c["cpu_ops"], c["schemes"]),  # at equal ms, fewer operators left to the CPU first
    )
    chains = pipelines.Chains(tuple(s.stage.model_stage() for s in o.stages), o.frames, o.label)
    within = [c for c in combos if c["ms"] <= o.budget_ms]
    measured: dict[int, dict[str, Any]] = {}
    chosen = None
    with tempfile.TemporaryDirectory(prefix="npuforge-pipeline-search-") as work:
        made: dict[tuple[int, str], Path] = {}  # a candidate quantized again, once

        def quantized(i: int, scheme: str) -> Path:
            if (i, scheme) not in candidates:
                return _quantized(o.stages[i], scheme)
            if (i, scheme) not in made:
                found, record = candidates[(i, scheme)]
                progress(f"{found.candidates.label}: quantize candidate {scheme} again")
                made[(i, scheme)] = Path(work) / f"{i}-{scheme.replace(':', '-')}.tflite"
                made[(i, scheme)].write_bytes(search.quantized_candidate(found.candidates, record))
            return made[(i, scheme)]

        for c in _in_order(within or combos[:1], fronts[-1], goal)[: o.measure]:
            index = combos.index(c)
            paths = tuple(quantized(i, scheme) for i, scheme in enumerate(c["schemes"]))
            record = chains.measure(paths, o.in_sample)
            measured[index] = record
            c.update({"value": goal.value({"accuracy": record}), "met": goal.met({"accuracy": record})})
            progress(f"{' + '.join(c['schemes'])}: {c['ms']:.2f} ms, {goal.metric} {c['value']}")
            if c["met"] and c["ms"] <= o.budget_ms:
                chosen = index
                break
    closest = chosen if chosen is not None else _closest(combos, measured, goal)
    picked = combos[closest]["schemes"] if closest is not None else []
    record = {
        "target": target,
        "goal": o.goal,
        "budget_ms": o.budget_ms,
        "fronts": fronts,
        "combinations": [{**c, "measured": i in measured} for i, c in enumerate(combos)],
        "chosen": chosen,
        "closest": closest,
        "met": chosen is not None,
        "why": _why(combos, closest, chosen, within, o.budget_ms, goal),
        "accuracy": measured.get(closest),
        # a candidate the row takes: its stage as pipeline rows show one, with the scheme that builds it
        "candidates": [
            _candidate_stage(*candidates[(i, scheme)], combos[closest]["variants"][i])
            if (i, scheme) in candidates
            else None
            for i, scheme in enumerate(picked)
        ],
    }
    atomic.write_json(o.out, record)
    progress(record["why"])


SAME_MS = 0.01  # combinations within 1 % of the cheapest one left cost the application the same


def _in_order(combos: list[dict[str, Any]], last: list[dict[str, Any]], goal) -> list[dict[str, Any]]:
    """The order combinations are measured in: the cheapest first, and among those within SAME_MS of it, the one
    whose last stage is the most accurate alone first (a stage's candidates can crowd the cheapest end with models
    hundredths of a millisecond apart, some far worse)."""
    alone = {p["scheme"]: p["alone"] for p in last}

    def accuracy(c: dict[str, Any]) -> tuple:
        value = alone.get(c["schemes"][-1])
        return (value is None, 0.0 if value is None else (-value if goal.higher_is_better else value))

    rest, order = list(combos), []
    while rest:
        top = rest[0]["ms"] * (1 + SAME_MS)
        same = [c for c in rest if c["ms"] <= top]
        order += sorted(same, key=lambda c: (*accuracy(c), c["ms"], c["cpu_ops"], c["schemes"]))
        rest = rest[len(same) :]
    return order


def _fronts(o: SearchOptions, goal, target: str) -> tuple[list[list[dict[str, Any]]], dict[tuple[int, str], tuple]]:
    """Each stage's front (its variants' points, then its automatic schemes' candidates), and the candidates taken,
    by (stage, scheme): (Searched, its record)."""
    fronts, candidates = [], {}
    for i, s in enumerate(o.stages):
        front = [_front_point(c, row(c.variant, o.root), o.goal["metric"]) for c in s.choices]
        for found in s.searched:
            for name, record in _searched_front(found):
                scheme = f"{found.scheme}:{name}"
                point = _candidate_point(scheme, record, f"{found.candidates.label}:{name}@{target}", goal)
                if any((p["ms"], p["alone"]) == (point["ms"], point["alone"]) for p in front):
                    continue  # the scheme's own choice (its variant is a choice already), or the same model again
                candidates[(i, scheme)] = (found, record)
                front.append(point)
        fronts.append(front)
    return fronts, candidates


def _front_point(c: Choice, r: dict[str, Any], metric: str) -> dict[str, Any]:
    estimate = r.get("estimate") or {}
    metrics = (r.get("accuracy") or {}).get("metrics") or {}
    return {
        "scheme": c.scheme,
        "variant": r["id"],
        "ms": estimate.get("inference_ms", 0.0),
        "cpu_ops": (r.get("ops") or {}).get("cpu", 0),
        "alone": metrics.get(metric),
    }


def _searched_front(found: Searched) -> list[tuple[str, dict[str, Any]]]:
    """The candidates on the front of their own scheme's goal (latency against its metric), as (name, record)."""
    from tasks.config.project import Goal
    from tasks.model import mixed_search

    own = Goal(**found.goal)
    records = [r for r in (json.loads(p.read_text()) for p in found.records) if not r.get("none")]
    return [
        (records[i]["name"], records[i]) for i in mixed_search.pareto([search._entry(r, own) for r in records], own)
    ]


def _candidate_point(scheme: str, record: dict[str, Any], variant: str, goal) -> dict[str, Any]:
    return {
        "scheme": scheme,
        "variant": variant,
        "ms": record["ms"],
        "cpu_ops": (record.get("ops") or {}).get("cpu", 0),
        "alone": goal.value(record),
        "candidate": True,
    }


def _candidate_stage(found: Searched, record: dict[str, Any], variant: str) -> dict[str, Any]:
    """A candidate as a stage row (records.PipelineStage), with the scheme to declare to build it."""
    from tasks.model import mixed_search
    from tasks.tflite import flatbuffer

    scheme = mixed_search.fixed_scheme(flatbuffer.read(found.candidates.model), set(record["wide"]), record["weights"])
    name = f"{found.scheme}_{record['name'].replace('-', '_')}"
    size = record.get("size_bytes")
    return {
        "variant": variant,
        "npu_ms": record["ms"],
        "cpu_ops": (record.get("ops") or {}).get("cpu"),
        "cpu_fallback": record.get("cpu_fallback") or [],
        "sram_kib": record.get("sram_kib"),
        "dram_kib": record.get("dram_kib"),
        "size_kib": round(size / 1024, 2) if size is not None else 0.0,
        "measured_ms": None,
        "declare": mixed_search.snippet(name, {"scheme": scheme}, found.candidates.io),
    }


def _quantized(s: SearchStage, scheme: str) -> Path:
    return next(c.quantized for c in s.choices if c.scheme == scheme)


def _closest(combos: list[dict[str, Any]], measured: dict[int, Any], goal) -> int | None:
    """The measured combination nearest the goal (the cheapest, when none has the metric)."""
    scored = [i for i in measured if combos[i].get("value") is not None]
    if not scored:
        return min(measured, default=None)
    sign = -1 if goal.higher_is_better else 1
    return min(scored, key=lambda i: (sign * combos[i]["value"], combos[i]["ms"]))


def _why(combos, closest, chosen, within, budget_ms: float, goal) -> str:
    """What the search chose and why; or what the closest combination gives and would need."""
    tried = sum(1 for c in combos if "value" in c)
    if chosen is not None:
        c = combos[chosen]
        return (
            f"chose {' + '.join(c['schemes'])}: {c['ms']:.2f} ms of {budget_ms:.2f}, {goal.metric} "
            f"{c['value']:.4g} meets {goal.text()} ({tried} of {len(combos)} combinations measured, the cheapest "
            "first; within 1 %, the most accurate alone first)"
        )
    if not within:
        c = combos[0]
        return (
            f"no combination fits the {budget_ms:.2f} ms budget: the cheapest, {' + '.join(c['schemes'])}, takes "
            f"{c['ms']:.2f} ms; it would need {c['ms'] - budget_ms:.2f} ms less"
        )
    c = combos[closest]
    return (
        f"no combination within {budget_ms:.2f} ms reaches {goal.text()}: the closest, {' + '.join(c['schemes'])} at "
        f"{c['ms']:.2f} ms, gives {c['value']}; {tried} of the {len(within)} within the budget measured, the "
        "cheapest first (search.measure measures more)"
    )
