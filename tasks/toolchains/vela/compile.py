"""compile: quantized .tflite → Vela-optimised .tflite, summary, per-layer table, facts.

Vela runs in this (worker) process through its own entry point, always with
per-layer performance, into a temporary folder; the outputs are renamed into
place, facts last.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks import atomic
from tasks.errors import StepError
from tasks.planning.options import input_file, output_file, unfingerprinted
from tasks.progress import progress
from tasks.toolchains.vela import adapter
from tasks.toolchains.vela.settings import DEFAULT_VELA_CONFIG, Facts, VelaSettings, model_path

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step


@dataclass(frozen=True, kw_only=True)
class Options:
    settings: VelaSettings  # the target's
    label: str
    model: Path = input_file()  # the quantized model
    out: Path = output_file()  # Vela's optimised .tflite
    facts: Path = output_file()
    summary: Path = output_file()
    per_layer: Path = output_file()
    log: Path = output_file()
    scheme: str = unfingerprinted("")  # the scheme's name, for the remedies a refusal names
    model_key: str = unfingerprinted("")  # the model's YAML path (models.NAME), likewise


def plan_compile(planning: Planning) -> list[Step]:
    steps = []
    for v in planning.variants_with("compile"):
        t: VelaSettings = planning.project.targets[v.target].settings
        folder = planning.paths.compile_dir(v)
        options = Options(
            settings=t,
            label=v.id,
            model=planning.paths.quantized(v.unit, v.quantization),
            out=model_path(planning.paths, v),
            facts=folder / "compile.json",
            summary=folder / "summary.csv",
            per_layer=folder / "per-layer.csv",
            log=folder / "vela.log",
            scheme=v.quantization,
            model_key=f"models.{v.model}",
        )
        doc = f"compile for the NPU with Vela for {t.accelerator} ({t.system_config}, {t.memory_mode})"
        steps.append(planning.new("compile", v.id, doc, options))
    return steps


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Send fd 1 and 2 (Python and Vela's native code alike) to ``path``."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "wb") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def vela_arguments(model: Path, out_dir: Path, o: Options) -> list[str]:
    t = o.settings
    args = [
        str(model),
        "--output-dir",
        str(out_dir),
        "--accelerator-config",
        t.accelerator,
        "--system-config",
        t.system_config,
        "--memory-mode",
        t.memory_mode,
        "--config",
        str(t.config) if t.config else DEFAULT_VELA_CONFIG,
        "--optimise",
        t.optimise,
        "--verbose-performance",
        "--show-cpu-operations",
    ]
    if t.arena_cache_size:
        args += ["--arena-cache-size", str(t.arena_cache_size)]
    if t.ignore_ops:
        args += ["--ignore-ops", ",".join(t.ignore_ops)]
    if t.tensor_allocator:
        args += ["--tensor-allocator", t.tensor_allocator]
    if t.separate_io_regions:
        args += ["--separate-io-regions", "--cop-format", "COP2"]
    return args


def architecture(accelerator: str) -> dict[str, Any]:
    """MACs per cycle and the output-channel block of the accelerator, from Vela's own table."""
    from ethosu.vela.architecture_features import Accelerator, ArchitectureFeatures

    config = ArchitectureFeatures.accelerator_configs.get(Accelerator(accelerator))
    if config is None:  # Ethos-U85: compiled by Vela's C++ backend, not in this table
        return {
            "accelerator": accelerator,
            "macs": int(accelerator.rsplit("-", 1)[1]),
            "cores": None,
            "channel_block": None,
        }
    return {
        "accelerator": accelerator,
        "macs": config.macs,
        "cores": config.cores,
        "channel_block": config.ofm_ublock.depth * config.cores,  # output channels computed together
    }


@dataclass(frozen=True)
class Latency:
    """Vela's estimate of a candidate's inference time: the oracle of an ``auto`` scheme's latency budget."""

    options: Options  # its paths unused

    def __call__(self, src: Path, work: Path) -> Facts:
        return vela_facts(src, work, self.options)


def vela_facts(src: Path, work: Path, o: Options) -> Facts:
    """Compile ``src`` with Vela into the folder ``work``; the facts of compile.json (Vela's files stay in ``work``)."""
    from ethosu.vela import vela
    from ethosu.vela.errors import VelaError

    from tasks.tflite import flatbuffer

    label = o.label
    log = work / "vela.log"
    try:
        with _output_to(log):
            code = vela.main(vela_arguments(src, work, o))
    except VelaError as exc:
        raise StepError(f"{label}: Vela rejected the options: {str(exc).strip()}") from None
    except SystemExit as exc:  # argparse inside Vela
        code = exc.code if isinstance(exc.code, int) else 2
    log_text = log.read_text(errors="replace")
    tail = "\n".join(log_text.strip().splitlines()[-3:])  # the log is not kept when Vela fails: say its end
    if code != 0:
        raise StepError(f"{label}: Vela failed (exit {code}):\n{tail}")
    for p in vela_outputs(src, work, o):
        if not p.exists():
            raise StepError(f"{label}: Vela wrote no {p.name}:\n{tail}")
    vela_out, summary, per_layer = vela_outputs(src, work, o)
    model_obj = flatbuffer.read(src)
    sg = model_obj.subgraphs[0]
    channels = {flatbuffer.tensor_name(t): int(t.shape[-1]) for t in sg.tensors if t.shape is not None and len(t.shape)}
    in_channels = {}
    for op in sg.operators:
        first = sg.tensors[op.inputs[0]] if len(op.inputs) and op.inputs[0] >= 0 else None
        if first is not None and first.shape is not None and len(first.shape):
            for index in op.outputs:
                in_channels[flatbuffer.tensor_name(sg.tensors[index])] = int(first.shape[-1])
    result = adapter.facts(
        adapter.parse_summary(summary),
        adapter.parse_per_layer(per_layer),
        adapter.parse_cpu_reasons(log_text),
        channels,
        in_channels,
    )
    result["size_bytes"] = vela_out.stat().st_size
    result["arch"] = architecture(o.settings.accelerator)
    return result


def vela_outputs(src: Path, work: Path, o: Options) -> tuple[Path, Path, Path]:
    """The optimised model, the summary and the per-layer table Vela writes for ``src`` into ``work``."""
    stem = src.stem
    summary = work / f"{stem}_summary_{o.settings.system_config}.csv"
    return work / f"{stem}_vela.tflite", summary, work / f"{stem}_per-layer.csv"


# operators Vela stops at, rather than placing on the CPU, when they compute in float (Vela 5.2's TFLite semantic
# checks raise for them); an integer scheme without a kernel for them leaves them in float
REFUSED_IN_FLOAT = {"HARD_SWISH": "Vela's HARD_SWISH takes 8-bit input only (IFM has to be 8bit)"}


def refuse_float_ops(o: Options) -> None:
    """Say why before Vela crashes: the float operators it refuses, and the remedies."""
    from tasks.model.quantizer import float_remedies
    from tasks.tflite import flatbuffer, float_ops

    found = [f for f in float_ops.left_in_float(flatbuffer.read(o.model)) if f["op"] in REFUSED_IN_FLOAT]
    if not found:
        return
    why = "; ".join(REFUSED_IN_FLOAT[f["op"]] for f in found)
    remedies = "\n".join(f"  {line}" for line in float_remedies(found, o.scheme, o.model_key))
    raise StepError(
        f"{o.label}: Vela cannot compile {float_ops.summary(found)}: the {o.scheme} scheme left them in float "
        f"(TensorFlow Lite has no kernel for them in that precision), and {why}. Remedies:\n{remedies}"
    )


def run(o: Options) -> None:
    folder = o.out.parent
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".vela-", suffix=".tmp", dir=folder))
    try:
        progress(f"vela {o.settings.accelerator} {o.settings.system_config} {o.settings.memory_mode}")
        refuse_float_ops(o)
        result = vela_facts(o.model, work, o)
        vela_out, summary, per_layer = vela_outputs(o.model, work, o)
        for tmp, final in ((summary, o.summary), (per_layer, o.per_layer), (work / "vela.log", o.log)):
            atomic.publish(tmp, final)
        atomic.publish(vela_out, o.out)
        atomic.write_json(o.facts, result)
        est = result["estimate"]
        progress(
            f"{result['ops']['npu']} NPU / {result['ops']['cpu']} CPU ops, "
            f"estimated {est['inference_ms']:.2f} ms, SRAM {est['sram_kib']:.0f} KiB"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
