"""analyse-delegate: findings from the operators of the quantized model a TFLite delegate runs.

The findings themselves are tasks/model/analysis.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.model import analysis
from tasks.planning.options import input_file, output_file
from tasks.toolchains.delegate.settings import DelegateSettings

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step


@dataclass(frozen=True, kw_only=True)
class DelegateOptions:
    delegate: str  # a named delegate (vx, armnn, xnnpack) or a library path
    label: str
    model: Path = input_file()  # the quantized model
    out: Path = output_file()


def plan_analyse_delegate(planning: Planning) -> list[Step]:
    steps = []
    for v in planning.variants_with("analyse-delegate"):
        settings: DelegateSettings = planning.project.targets[v.target].settings
        options = DelegateOptions(
            delegate=settings.delegate,
            label=planning.task_name("analyse-delegate", v.id),
            model=planning.paths.quantized(v.unit, v.quantization),
            out=planning.paths.compile_dir(v) / "findings.json",
        )
        doc = (
            "find hot, padded, memory-bound and CPU-bound layers in Vela's per-layer numbers "
            f"(delegate {settings.delegate}: from the model's operators)"
        )
        steps.append(planning.new("analyse-delegate", v.id, doc, options))
    return steps


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
    analysis.write(analysis.delegate_findings(ops, o.delegate), o.out, o.label)
