"""analyse: findings for one compiled variant (see tasks/model/analysis.py).

Two kinds: ``analyse`` reads Vela's per-layer facts of a compiled variant;
``analyse-delegate`` reads the operators of a model a TFLite delegate runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tasks import atomic
from tasks.model import analysis
from tasks.planning.options import input_file, output_file
from tasks.progress import say

if TYPE_CHECKING:
    from tasks.planning.plan import Planning
    from tasks.planning.step import Step


@dataclass(frozen=True)
class Options:
    label: str
    facts: Path = input_file()  # compile.json of the variant
    out: Path = output_file()
    rewrites: Path | None = input_file(None)  # rewrite.json of its unit, when rewrites ran


@dataclass(frozen=True)
class DelegateOptions:
    delegate: str  # a named delegate (vx, armnn, xnnpack) or a library path
    label: str
    model: Path = input_file()  # the quantized model
    out: Path = output_file()


def plan_analyse(planning: Planning) -> list[Step]:
    steps = []
    for v in planning.variants_with("analyse"):
        folder = planning.paths.compile_dir(v)
        rewrite = planning.find(f"rewrite:{v.unit}")
        options = Options(f"analyse:{v.id}", folder / "compile.json", folder / "findings.json",
                          rewrite.options.facts if rewrite else None)  # fmt: skip
        doc = "find hot, padded, memory-bound and CPU-bound layers in Vela's per-layer numbers"
        steps.append(planning.new("analyse", v.id, doc, options))
    return steps


def plan_analyse_delegate(planning: Planning) -> list[Step]:
    steps = []
    for v in planning.variants_with("analyse-delegate"):
        delegate = planning.project.targets[v.target].delegate
        options = DelegateOptions(delegate, f"analyse:{v.id}", planning.paths.quantized(v.unit, v.quantization),
                                  planning.paths.compile_dir(v) / "findings.json")  # fmt: skip
        doc = (
            "find hot, padded, memory-bound and CPU-bound layers in Vela's per-layer numbers "
            f"(delegate {delegate}: from the model's operators)"
        )
        steps.append(planning.new("analyse-delegate", v.id, doc, options))
    return steps


def run(o: Options) -> None:
    records = json.loads(o.rewrites.read_text())["records"] if o.rewrites else None
    _write(analysis.findings(json.loads(o.facts.read_text()), records), o.out, o.label)


def delegated(o: DelegateOptions) -> None:
    """A variant run through a TFLite delegate: findings from the quantized model's operators."""
    from tasks.tflite import flatbuffer, opcodes

    m = flatbuffer.read(o.model)
    sg = m.subgraphs[0]
    float32 = flatbuffer.schema.TensorType.FLOAT32
    inputs, outputs = set(sg.inputs), set(sg.outputs)
    ops = []
    for op in sg.operators:
        ins = [i for i in op.inputs if i >= 0]
        outs = list(op.outputs)
        ops.append(
            {
                "op": opcodes.op_name(m, op),
                "name": flatbuffer.tensor_name(sg.tensors[outs[0]]) if outs else "",
                "float_in": any(i in inputs and sg.tensors[i].type == float32 for i in ins),
                "float_out": any(t in outputs and sg.tensors[t].type == float32 for t in outs),
                "float": any(sg.tensors[t].type == float32 for t in outs),
            }
        )
    _write(analysis.delegate_findings(ops, o.delegate), o.out, o.label)


def _write(found: list, out: Path, label: str) -> None:
    atomic.write_json(out, found)
    kinds: dict[str, int] = {}
    for f in found:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    say(f"   {label}: " + (", ".join(f"{n} {k.replace('_', ' ')}" for k, n in kinds.items()) or "no findings"))
