"""metafile and compile for Synaptics SyNAP targets.

``metafile`` writes what ``synap convert --meta`` reads (built from project.yaml by
tasks/toolchains/synap/metafile.py).  ``convert`` runs the SyNAP toolkit on the source model and that
metafile; when the toolkit is not installed it fails with one line saying so and
how to get it: it never writes a stand-in artifact.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks import atomic
from tasks.errors import StepError
from tasks.planning.options import input_file, output_file, unfingerprinted
from tasks.progress import progress
from tasks.toolchains.synap import adapter as synap_output
from tasks.toolchains.synap import metafile as synap
from tasks.toolchains.synap.settings import SynapSettings, model_path, source

if TYPE_CHECKING:
    from tasks.config import Variant
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step


@dataclass(frozen=True, kw_only=True)
class MetafileOptions:
    meta: dict[str, Any]  # the metafile's content (tasks/toolchains/synap/metafile.py)
    out: Path = output_file()
    search: Path | None = input_file(None)  # an automatic scheme's search.json: its int16 layers join data_type


@dataclass(frozen=True, kw_only=True)
class ConvertOptions:
    soc: str  # synap convert --target
    toolkit: str | None  # the command that runs the toolkit; None: `synap` on PATH
    target_name: str
    label: str
    model: Path = input_file()  # the source model as SyNAP takes it (.onnx, .tflite)
    meta: Path = input_file()
    out: Path = output_file()
    info: Path = output_file()
    facts: Path = output_file()
    dataset_files: tuple[Path, ...] = input_file(())  # calibration files the metafile names
    root: Path = unfingerprinted(Path("."))  # synap convert runs here: the metafile's globs are relative to it


def plan_metafile(planning: Planning) -> list[Step]:
    doc = "write SyNAP's conversion metafile (inputs, outputs, quantization) from project.yaml"
    return [
        planning.new(
            "metafile",
            v.id,
            doc,
            MetafileOptions(
                meta=_meta(planning, v), out=_folder(planning, v) / "metafile.yaml", search=_search(planning, v)
            ),
        )
        for v in planning.variants_with("metafile")
    ]


def plan_convert(planning: Planning) -> list[Step]:
    steps = []
    for v in planning.variants_with("compile-synap"):
        model, target = planning.project.models[v.model], planning.project.targets[v.target]
        t: SynapSettings = target.settings
        q = planning.project.quantization[v.quantization]
        calibration = planning.project.datasets[model.calibration] if model.calibration else None
        folder = _folder(planning, v)
        options = ConvertOptions(
            soc=t.soc,
            toolkit=t.toolkit,
            target_name=target.name,
            label=planning.task_name("compile-synap", v.id),
            model=source(planning.paths, model),
            meta=folder / "metafile.yaml",
            out=model_path(planning.paths, v),
            info=folder / "model_info.txt",
            facts=folder / "compile.json",
            dataset_files=calibration.files if calibration and q.type != "float16" else (),
            root=planning.project.root,
        )
        steps.append(planning.new("compile-synap", v.id, f"compile for {t.soc} with SyNAP (synap convert)", options))
    return steps


def _search(planning: Planning, v: Variant) -> Path | None:
    step = planning.step_of("search", v.scheme)
    return step.options.out if step else None


def _folder(planning: Planning, v: Variant) -> Path:
    return planning.paths.compile_dir(v)


def _meta(planning: Planning, v: Variant) -> dict[str, Any]:
    """What synap convert is told about a variant, from project.yaml."""
    project = planning.project
    model, q = project.models[v.model], project.quantization[v.quantization]
    calibration = project.datasets[model.calibration] if model.calibration else None
    norm = calibration or (project.datasets[model.validation] if model.validation else None)
    extra = model.synap or {}
    cut = model.prune[v.prune] if v.prune else None
    return synap.metafile(
        synap.inputs_section(
            norm.preprocess.mean if norm else None,
            norm.preprocess.scale if norm else None,
            1 if norm and norm.preprocess.color == "gray" else 3,
            extra.get("inputs", []),
        ),
        synap.outputs_section(cut.outputs if cut else None, ((cut.synap or {}) if cut else extra).get("outputs", [])),
        synap.quantization_section(
            "int8" if q.type == "auto" else q.type,  # auto: int8, and the searched layers int16 (see metafile)
            [o.as_dict() for o in q.overrides],
            q.scheme,
            q.algorithm,
            list(calibration.patterns) if calibration and q.type != "float16" else None,
        ),
    )


def metafile(o: MetafileOptions) -> None:
    header = "# synap convert --meta: written from project.yaml (edit that, not this file)\n"
    meta = o.meta
    if o.search is not None:
        import json

        chosen = json.loads(o.search.read_text())["chosen"]
        meta = {**meta, "quantization": synap.with_layers(meta["quantization"], chosen["layers"], "int16")}
        header += f"# data_type: the layers the mixed-precision search keeps in 16 bits ({chosen['summary']})\n"
    atomic.write_text(o.out, header + synap.dump(meta))


def toolkit_command(toolkit: str | None, label: str, target_name: str) -> list[str]:
    argv = shlex.split(toolkit) if toolkit else ["synap"]
    if shutil.which(argv[0]) is None:
        missing = f"no {argv[0]}" if toolkit else "no `synap` on PATH"
        raise StepError(
            f"{label}: the SyNAP toolkit is not installed here ({missing}); install it (Synaptics' SyNAP "
            "toolkit, a Docker image) and put `synap` on PATH, or set "
            f"targets.{target_name}.toolkit to the command that runs it"
        )
    return argv


def convert(o: ConvertOptions) -> None:
    label, soc = o.label, o.soc
    argv = toolkit_command(o.toolkit, label, o.target_name)
    folder = o.out.parent
    work = Path(tempfile.mkdtemp(prefix=".synap-", suffix=".tmp", dir=folder))
    try:
        command = [
            *argv,
            "convert",
            "--model",
            str(o.model),
            "--meta",
            str(o.meta),
            "--target",
            soc,
            "--out-dir",
            str(work),
        ]
        progress(f"synap convert for {soc}")
        # in the project folder: the metafile's dataset globs are relative to it
        proc = subprocess.run(command, cwd=o.root, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        log = proc.stdout + proc.stderr
        atomic.write_text(folder / "synap.log", log)
        if proc.returncode != 0:
            tail = "\n".join(log.strip().splitlines()[-4:])
            raise StepError(
                f"{label}: synap convert failed (exit {proc.returncode}):\n{tail}\nFull log: {folder / 'synap.log'}"
            )
        produced = {name: work / name for name in ("model.synap", "model_info.txt")}
        for name, path in produced.items():
            if not path.is_file():
                raise StepError(f"{label}: synap convert wrote no {name}; see {folder / 'synap.log'}")
        try:
            model_info = synap_output.parse_model_info(produced["model_info.txt"].read_text(errors="replace"))
        except synap_output.ParseError as exc:
            raise StepError(
                f"{label}: cannot read SyNAP's model_info.txt ({exc}); see {folder / 'synap.log'}"
            ) from None
        size = produced["model.synap"].stat().st_size
        atomic.publish(produced["model_info.txt"], o.info)
        atomic.publish(produced["model.synap"], o.out)
        atomic.write_json(
            o.facts,
            {"compiler": "synap", "soc": soc, "toolkit": " ".join(argv), "size_bytes": size, "model_info": model_info},
        )
        outputs = ", ".join(f"{out['name']} {out.get('shape')}" for out in model_info.get("outputs", []))
        progress(f"{size:,} bytes; outputs {outputs or '(none listed)'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
