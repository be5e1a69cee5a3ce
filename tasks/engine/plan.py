"""Project → list of Steps.  Pure: reads no model, imports no TensorFlow.

``plan()`` only orchestrates: it calls each step kind's ``plan_<kind>`` (rows
of tasks.steps.STEPS, in order) with a ``Planning``, which answers the
questions planners share (which units are quantized, where an artifact lives,
which step wrote a file), then checks the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from tasks.config import Board, Model, Project, Variant
from tasks.errors import ConfigError
from tasks.model.datasets import Samples, split_counts, split_files
from tasks.model.labels import Labels, mask_of
from tasks.model.rewrites import DEFAULT as DEFAULT_REWRITES
from tasks.model.schemes import PREQUANTIZED
from tasks.planning import options as opts
from tasks.planning import versions
from tasks.planning.step import Step, task_name_of
from tasks.report.html import page_name
from tasks.steps import BY_NAME, STEPS
from tasks.toolchains.base import Toolchain


@dataclass(frozen=True, kw_only=True)
class Paths:
    """Where every artifact of a project lives."""

    project: Project

    @property
    def build(self) -> Path:
        return self.project.build_dir

    def fetched(self, model: Model) -> Path:
        return self.project.root / "models" / "fetched" / PurePosixPath(model.source.member).name

    @property
    def pip_cache(self) -> Path:
        """The wheels fetch downloads, kept across builds."""
        return self.build / "cache" / "pip"

    def converted(self, model: str) -> Path:
        """An ONNX model as onnx2tf's float .tflite."""
        return self.build / model / f"{model}_onnx.tflite"

    def conversion(self, model: str) -> Path:
        """The convert step's facts: each input's and output's layout and name on both sides."""
        return self.build / model / "convert.json"

    def float_model(self, unit: str) -> Path:
        """The imported (and pruned) model of ``unit`` (MODEL or MODEL.PRUNE): float, or as it arrived when it
        arrives quantized."""
        if self.project.models[unit.split(".")[0]].prequantized:
            return self.build / unit / f"{unit}_{PREQUANTIZED}.tflite"
        return self.build / unit / f"{unit}_float.tflite"

    def import_facts(self, model: str) -> Path:
        return self.build / model / "import.json"

    def prune_facts(self, unit: str) -> Path:
        return self.build / unit / "prune.json"

    def rewritten(self, unit: str) -> Path:
        return self.build / unit / f"{unit}_rewritten.tflite"

    def rewrite_facts(self, unit: str) -> Path:
        return self.build / unit / "rewrite.json"

    def quantized(self, unit: str, quant: str) -> Path:
        """The quantized model; a model that arrives quantized is its own (no quantize step)."""
        if quant == PREQUANTIZED:
            return self.float_model(unit)
        return self.build / unit / quant / f"{unit}_{quant}.tflite"

    def quantize_facts(self, unit: str, quant: str) -> Path:
        return self.build / unit / quant / "quantize.json"

    def quant_errors(self, unit: str, quant: str) -> Path:
        """The per-layer error table of a quantized model."""
        return self.build / unit / quant / "quant_errors.csv"

    def limits(self, unit: str, quant: str) -> Path:
        return self.build / unit / quant / "limits.json"

    def graph(self, unit: str, quant: str) -> Path:
        """The quantized model's operators and tensors, for the report's graph view."""
        return self.build / unit / quant / "graph.json"

    def calibration(self, unit: str) -> Path:
        """The calibrate step's ranges (and how many samples made them)."""
        return self.build / unit / "calibration.json"

    def calibrated(self, unit: str) -> Path:
        """The calibrate step's model: the float model with TensorFlow Lite's calibrator's ranges."""
        return self.build / unit / "calibrated.tflite"

    def search_dir(self, unit: str, quant: str) -> Path:
        """An automatic scheme's sensitivity table and search record."""
        return self.build / unit / quant / "search"

    def sensitivity(self, unit: str, quant: str) -> Path:
        return self.search_dir(unit, quant) / "sensitivity.json"

    def search(self, unit: str, quant: str) -> Path:
        return self.search_dir(unit, quant) / "search.json"

    def candidate(self, unit: str, quant: str, name: str) -> Path:
        """One measured candidate of an automatic scheme (shared by the unit's schemes that differ only in their
        goal or budget: ``quant`` is the first of them)."""
        return self.search_dir(unit, quant) / "candidates" / f"{name}.json"

    def candidate_layers(self, unit: str, quant: str, name: str) -> Path:
        """The layers the sensitivity step gives a candidate along a path."""
        return self.search_dir(unit, quant) / "candidates" / f"{name}.layers.json"

    def accuracy(self, unit: str, quant: str) -> Path:
        return self.build / unit / quant / "accuracy.json"

    def host_outputs(self, unit: str, quant: str) -> Path:
        """The quantized model's outputs on the first validation samples, kept by its evaluate step for the
        agreement steps (the host's half of their comparison)."""
        return self.build / unit / quant / "host-outputs.npz"

    def compile_dir(self, v: Variant) -> Path:
        return self.build / v.unit / v.quantization / v.target

    def benchmark(self, v: Variant, board: str) -> Path:
        return self.compile_dir(v) / f"benchmark-{board}.json"

    def agreement(self, v: Variant, board: str) -> Path:
        return self.compile_dir(v) / f"agreement-{board}.json"

    def pipeline_accuracy(self, pipeline: str, combination: str) -> Path:
        """A pipeline's scheme combination end to end on its frames (target-independent, like accuracy.json)."""
        return self.build / "pipelines" / pipeline / combination / "accuracy.json"

    def pipeline(self, pipeline: str, combination: str, target: str) -> Path:
        """A pipeline variant's row of results.json: its stages, latency, memory and accuracy."""
        return self.build / "pipelines" / pipeline / combination / target / "pipeline.json"

    @property
    def results(self) -> Path:
        return self.build / "results.json"

    @property
    def gates(self) -> Path:
        return self.build / "gates.json"

    @property
    def report_dir(self) -> Path:
        return self.build / "report"

    @property
    def report_index(self) -> Path:
        return self.report_dir / "index.html"

    @property
    def report_markdown(self) -> Path:
        return self.report_dir / "report.md"

    def report_page(self, variant_id: str) -> Path:
        return self.report_dir / page_name(variant_id)

    @property
    def report_assets(self) -> tuple[Path, ...]:
        return self.report_dir / "report.css", self.report_dir / "report.js"

    def release_archive(self, name: str, version: str) -> Path:
        return self.build / "release" / f"{name}-{version}.tar.gz"

    def logs(self, step_kind: str, name: str) -> Path:
        return self.build / "logs" / f"{step_kind}-{name.replace('/', '_').replace('@', '_at_')}.log"


@dataclass
class Planning:
    """What the planners of one project share; holds the steps planned so far."""

    project: Project
    baseline: Path | None = None
    steps: list[Step] = field(default_factory=list)

    def __post_init__(self):
        self.paths = Paths(project=self.project)
        self._by_name: dict[str, Step] = {}
        self._fingerprints: dict[str, dict[str, Any]] | None = None

    def new(self, kind: str, name: str, doc: str, options: Any) -> Step:
        row = BY_NAME[kind]
        if not isinstance(options, row.options):
            raise TypeError(f"{kind} takes {row.options.__name__}, not {type(options).__name__}")
        return Step(kind=row, name=name, doc=doc, options=options)

    def add(self, steps: list[Step]) -> None:
        for step in steps:
            self.steps.append(step)
            self._by_name.setdefault(step.task_name, step)

    def find(self, task_name: str) -> Step | None:
        """The step doit knows as ``task_name`` (a name from the command line or a record)."""
        return self._by_name.get(task_name)

    def task_name(self, kind: str, name: str = "") -> str:
        """The task name of the step of ``kind`` named ``name``: ``PREFIX:NAME`` (``PREFIX`` for a single step)."""
        return task_name_of(BY_NAME[kind].task_prefix, name)

    def step_of(self, kind: str, name: str = "") -> Step | None:
        """The planned step of ``kind`` named ``name``, if any; kinds that share a task prefix share their
        names (``step_of("compile", v.id)`` is the variant's compile step, Vela's or SyNAP's)."""
        return self._by_name.get(self.task_name(kind, name))

    def fingerprint(self, step: Step) -> dict[str, Any]:
        """What decides whether ``step`` re-runs: its options (paths relative) and its tools' versions."""
        return {**opts.fingerprint(step.options, self.project.root), "tools": versions.tool_versions(step.kind)}

    def fingerprints(self) -> dict[str, dict[str, Any]]:
        """Every planned step's fingerprint, by task name (computed once; kept with the plan)."""
        if self._fingerprints is None:
            self._fingerprints = {step.task_name: self.fingerprint(step) for step in self.steps}
        return self._fingerprints

    def tool_versions(self, dists: tuple[str, ...]) -> dict[str, str]:
        return {d: versions.version(d) for d in dists}

    def python_version(self) -> str:
        return versions.python_version()

    # --- variants and units

    def toolchain(self, v: Variant) -> Toolchain:
        return self.project.targets[v.target].toolchain

    def unit_path(self, unit: str) -> str:
        """A unit's YAML path (models.MODEL, or models.MODEL.prune.PRUNE), read off a variant of it."""
        return next(v.yaml_path for v in self.project.variants if v.unit == unit)

    def variants_with(self, kind: str) -> list[Variant]:
        """The variants whose toolchain gives them a step of ``kind``."""
        return [v for v in self.project.variants if kind in self.toolchain(v).steps]

    def _quantized_variants(self) -> list[Variant]:
        return [v for v in self.project.variants if self.toolchain(v).builds.quantizes]

    def _searched_variants(self) -> list[Variant]:
        """Variants of automatic schemes: their unit is searched with TensorFlow Lite models, whatever the toolchain."""
        return [v for v in self.project.variants if self.project.quantization[v.quantization].type == "auto"]

    def searched(self) -> list[tuple[str, str, str]]:
        """(model, unit, quantization) of every automatic scheme's search, in order."""
        return list(dict.fromkeys((v.model, v.unit, v.quantization) for v in self._searched_variants()))

    def used_models(self) -> list[str]:
        return list(dict.fromkeys(v.model for v in self.project.variants))

    def imported_models(self) -> list[str]:
        """Models the import step converts: those TensorFlow Lite quantizes (or a search measures), and those
        another toolchain cannot take as they are (SyNAP takes a .onnx or .tflite file, not a SavedModel)."""
        needed = {v.model for v in self._searched_variants()} | {
            v.model
            for v in self.project.variants
            if self.toolchain(v).builds.imports(self.paths, self.project.models[v.model])
        }
        needed |= {self.project.models[m].reference for m in needed if self.project.models[m].reference}
        used = self.used_models()
        return [m for m in used if m in needed] + [m for m in self.project.models if m in needed and m not in used]

    def tflite_units(self) -> list[tuple[str, str | None]]:
        """(model, prune) of every float model TensorFlow Lite quantizes (or a search measures), in order."""
        return list(dict.fromkeys((v.model, v.prune) for v in self._quantized_variants() + self._searched_variants()))

    def tflite_quantized(self) -> list[tuple[str, str, str]]:
        """(model, unit, quantization) of every .tflite TensorFlow Lite quantizes, in order."""
        return [found for found in self.evaluated() if found[2] != PREQUANTIZED]

    def evaluated(self) -> list[tuple[str, str, str]]:
        """(model, unit, quantization) of every quantized .tflite: those TensorFlow Lite quantizes, and models that
        arrive quantized (built as they are), in order."""
        return list(dict.fromkeys((v.model, v.unit, v.quantization) for v in self._quantized_variants()))

    def model_rewrites(self, model_name: str) -> tuple[str, ...]:
        """The rewrites a model's TFLite units get: as given, else all of them when a target whose toolchain maps
        them to its NPU (Vela's) uses it."""
        model = self.project.models[model_name]
        if model.prequantized:
            return ()  # built as it arrives
        if model.rewrites is not None:
            return model.rewrites
        wanted = any(v.model == model_name and self.toolchain(v).builds.rewrites for v in self.project.variants)
        return DEFAULT_REWRITES if wanted else ()

    # --- files

    def onnx_source(self, model: Model) -> tuple[Path, tuple[Path, ...]]:
        """An ONNX model's file: fetched, or as given."""
        path = self.paths.fetched(model) if model.source.kind == "pip" else model.source.path
        return path, (path,)

    def source_of(self, model: Model) -> tuple[Path, tuple[Path, ...]]:
        """The model's source as the import step reads it, and every file of it (a builder: its .py file and the
        files it reads; an ONNX model: onnx2tf's .tflite)."""
        src = model.source
        convert = self.step_of("convert", model.name)
        if convert is not None:
            return convert.options.out, (convert.options.out,)
        if src.kind == "pip":
            fetched = self.paths.fetched(model)
            return fetched, (fetched,)
        return src.path, tuple(dict.fromkeys(f for path in (src.path, *src.files) for f in _files(path)))  # once each

    def start_of(self, unit: str) -> Path:
        """The float model quantize starts from: rewritten, when rewrites apply."""
        rewrite = self.step_of("rewrite", unit)
        return rewrite.options.out if rewrite else self.paths.float_model(unit)

    def samples(
        self, dataset: str | None, model: Model | None = None, role: str = "calibration", labelled: bool = False
    ) -> Samples | None:
        """A dataset of project.yaml as step options, its ``role`` part when it is split ("calibration" or
        "validation"); for an ONNX ``model``, with its layouts (convert.json); with its labels for a step that
        reads them (``labelled``): a label changes nothing else."""
        if dataset is None:
            return None
        d = self.project.datasets[dataset]
        convert = self.step_of("convert", model.name) if model and d.kind == "npy" else None
        layouts = convert.options.facts if convert else None
        files, count, skip, part = d.files, d.count, 0, None
        if d.split is not None:
            shares = (d.split.calibration, d.split.validation)
            part = role
            if d.kind == "random":
                first, second = split_counts(d.count, shares)
                count, skip = (first, 0) if role == "calibration" else (second, first)
            else:
                files = split_files(d.files, self.project.root, shares, d.split.seed)[role == "validation"]
        return Samples(
            name=d.name,
            kind=d.kind,
            preprocess=d.preprocess,
            seed=d.seed,
            count=count,
            low=d.low,
            high=d.high,
            limit=d.limit,
            files=files,
            layouts=layouts,
            part=part,
            skip=skip,
            labels=self._labels(d.labels, files) if labelled else None,
        )

    @staticmethod
    def _labels(labels: Labels | None, files: tuple[Path, ...]) -> Labels | None:
        """A dataset's labels as its steps read them: for masks, the masks of ``files`` (their inputs)."""
        if labels is None or labels.masks_dir is None:
            return labels
        masks = (mask_of(labels.masks_dir, f) for f in files)
        return replace(labels, masks=tuple(m for m in masks if m.is_file()))

    def validation_samples(self, model: Model, labelled: bool = False) -> tuple[Samples | None, bool]:
        """What a model is evaluated on (its validation set, else its calibration set), with its labels when
        ``labelled``, and whether those samples are also calibration samples ("in-sample": the accuracy then
        flatters the model)."""
        validation = self.samples(model.validation or model.calibration, model, "validation", labelled)
        if validation is None or model.calibration is None:
            return validation, False
        calibration = self.samples(model.calibration, model, "calibration")
        if validation.kind == "random" or calibration.kind == "random":
            same = (validation.kind, validation.seed, validation.low, validation.high) == (
                calibration.kind,
                calibration.seed,
                calibration.low,
                calibration.high,
            )
            overlap = (
                same
                and validation.skip < calibration.skip + calibration.count
                and (calibration.skip < validation.skip + validation.count)
            )
            return validation, overlap
        return validation, bool(set(validation.files) & set(calibration.files))

    def artifact(self, v: Variant) -> Path:
        """What a variant ships: its toolchain's compiled model (Vela's, SyNAP's), else the quantized .tflite."""
        return self.toolchain(v).ships.path(self.paths, v)

    def board_assignments(self) -> list[tuple[Variant, Board]]:
        return assign_boards(self.project)

    def agreements(self) -> list[tuple[Variant, Board]]:
        """The variants and boards an agreement step compares: boards that opt in, variants whose model has a
        validation set and whose artifact runs in LiteRT (a SyNAP model runs only in synap_cli)."""
        return [
            (v, board)
            for v, board in self.board_assignments()
            if board.agreement_samples is not None
            and self.project.models[v.model].validation
            and self.toolchain(v).ships.runtime == "litert"
        ]


def _files(path: Path) -> tuple[Path, ...]:
    """A file, or every file in a folder (a SavedModel, a builder's checkpoint folder)."""
    return tuple(sorted(p for p in path.rglob("*") if p.is_file())) if path.is_dir() else (path,)


def planning(project: Project, baseline: Path | None = None) -> Planning:
    """Plan every step of the project; ``baseline`` is a results.json the report compares against."""
    done = Planning(project, baseline)
    for kind in STEPS:
        done.add(kind.plan(done))
    check_graph(done.steps)
    return done


def plan(project: Project, baseline: Path | None = None) -> list[Step]:
    """Every step of the project, in step-table order."""
    return planning(project, baseline).steps


def assign_boards(project: Project) -> list[tuple[Variant, Board]]:
    """Which board measures which variant.

    Boards that serve the same target share its variants, in turn (the i-th
    variant of a target goes to board i mod n), so a farm of identical boards
    measures each variant once and, under ``doit -n``, in parallel.
    """
    serving: dict[str, list[Board]] = {}
    for board in project.boards.values():
        for target in board.targets:
            serving.setdefault(target, []).append(board)
    seen: dict[str, int] = {}
    pairs = []
    for v in project.variants:
        farm = serving.get(v.target)
        if not farm:
            continue
        i = seen.get(v.target, 0)
        seen[v.target] = i + 1
        pairs.append((v, farm[i % len(farm)]))
    return pairs


def producers(steps: list[Step]) -> dict[Path, Step]:
    """The step that writes each file of the plan (check_graph makes sure there is one)."""
    return {target: s for s in steps for target in s.targets}


def check_graph(steps: list[Step]) -> None:
    """Refuse a plan where two steps write one file or a step has two names."""
    owner: dict[Path, str] = {}
    names: set[str] = set()
    for step in steps:
        if step.task_name in names:
            raise ConfigError(f"two steps are named {step.task_name}; rename a model, scheme or target")
        names.add(step.task_name)
        for t in step.targets:
            if t in owner:
                raise ConfigError(
                    f"{step.task_name} and {owner[t]} both write {t}; "
                    "give the models different names or fetched members different file names"
                )
            owner[t] = step.task_name
