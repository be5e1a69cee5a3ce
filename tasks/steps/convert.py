"""convert: an ONNX model → float32 .tflite with onnx2tf, checked against onnxruntime.

onnx2tf pins its own TensorFlow, NumPy and ONNX, so it runs in its own tool
environment (tasks/model/toolenv.py), made on first use; tasks/model/toolenvs/onnx2tf_run.py
does the work there and answers with one JSON line.  The import step then takes
the converted model like any float .tflite (fold, batch 1, one signature,
equivalence check).  ``input_shape`` is in the ONNX model's own layout; the
facts record each input's and output's layout and name on both sides.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks import atomic
from tasks.errors import StepError
from tasks.planning.options import input_file, output_file
from tasks.progress import progress

if TYPE_CHECKING:
    from tasks.planning.plan import Planning
    from tasks.planning.step import Step

# runs in the tool environment, as a script; named as a module so that it is part of this step's code digest
RUNNER_MODULE = "tasks.model.toolenvs.onnx2tf_run"
RUNNER = Path(__file__).resolve().parent.parent.parent.joinpath(*RUNNER_MODULE.split(".")).with_suffix(".py")
TOLERANCE = 1e-4  # largest difference to onnxruntime, as a fraction of each output's range


@dataclass(frozen=True, kw_only=True)
class Options:
    input_shape: tuple[int, ...] | None  # in the ONNX model's layout (NCHW for an image model)
    label: str  # the model's YAML path, for messages
    toolenv: str  # the tool environment's lock (its sha256): a new lock converts again
    source: Path = input_file()  # the .onnx (or the fetched member)
    out: Path = output_file()
    facts: Path = output_file()
    param_replacement: Path | None = input_file(None)  # onnx2tf's parameter replacement JSON


def plan_convert(planning: Planning) -> list[Step]:
    from tasks.model.toolenv import TOOLS

    steps = []
    for name in planning.imported_models():
        model = planning.project.models[name]
        if not model.onnx:
            continue
        source, _ = planning.onnx_source(model)
        options = Options(
            input_shape=model.input_shape,
            label=f"models.{name}",
            toolenv=TOOLS["onnx2tf"].fingerprint(),
            source=source,
            out=planning.paths.converted(name),
            facts=planning.paths.conversion(name),
            param_replacement=model.onnx2tf_params,
        )
        doc = "convert the ONNX model to a float .tflite with onnx2tf (its own tool environment), checked against onnxruntime"
        steps.append(planning.new("convert", name, doc, options))
    return steps


def run(o: Options) -> None:
    from tasks.model import toolenv
    from tasks.tflite import flatbuffer, opcodes

    python = toolenv.ensure(toolenv.TOOLS["onnx2tf"])
    progress(f"onnx2tf {o.source.name}" + (f", input shape {list(o.input_shape)}" if o.input_shape else ""))
    tmp = atomic.temp_path(o.out)
    try:
        answer = _convert(python, o, tmp)
        model = flatbuffer.read(tmp)
        left = opcodes.custom_ops(model)
        if left:
            raise StepError(
                f"{o.label}.source: onnx2tf's model has operators TensorFlow Lite has no builtin for: "
                + ", ".join(f"{code} ×{len(nodes)}" for code, nodes in left.items())
                + "; replace the ONNX ops that become them (onnx2tf: parameter replacement) or cut them off"
            )
        progress(f"matches onnxruntime: max abs diff {answer['max_rel_diff']:.2e} of output range")
        atomic.publish(tmp, o.out)
    finally:
        tmp.unlink(missing_ok=True)
    atomic.write_json(o.facts, {k: v for k, v in answer.items() if k != "ok"} | {"ops": opcodes.op_histogram(model)})


def _convert(python: Path, o: Options, out: Path) -> dict[str, Any]:
    request = {"onnx": str(o.source), "out": str(out), "input_shape": list(o.input_shape) if o.input_shape else None,
               "param_replacement": str(o.param_replacement) if o.param_replacement else None, "tolerance": TOLERANCE}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run([str(python), str(RUNNER), json.dumps(request)], capture_output=True, text=True, env=env)
    print(proc.stderr[-20000:])  # onnx2tf's log, into the step's log
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-3:])
        raise StepError(f"{o.label}.source: onnx2tf ended without an answer (exit {proc.returncode}):\n{tail}")
    answer = json.loads(lines[-1])
    if not answer["ok"]:
        raise StepError(_refusal(o, answer))
    if answer["max_rel_diff"] > TOLERANCE:
        raise StepError(
            f"{o.label}.source: onnx2tf's model differs from onnxruntime's by {answer['max_rel_diff']:.2e} of an "
            f"output's range (allowed {TOLERANCE:.0e}); the conversion changed the arithmetic"
        )
    return answer


def _refusal(o: Options, answer: dict[str, Any]) -> str:
    if answer["kind"] == "dynamic":
        return (
            f"{o.label}.input_shape: ONNX input '{answer['input']}' has free dimensions {answer['shape']} (-1: free); "
            "give input_shape in the ONNX model's own layout, e.g. "
            f"[{', '.join(str(d if d > 0 else 1) for d in answer['shape'])}]"
        )
    if answer["kind"] == "input_shape":
        return (
            f"{o.label}.input_shape: {answer['given']} does not fit ONNX input '{answer['input']}' {answer['shape']}; "
            "give it in the ONNX model's own layout"
        )
    where = f"{answer['op_type'] or 'an'} op" + (f" '{answer['node']}'" if answer.get("node") else "")
    return (
        f"{o.label}.source: onnx2tf cannot convert the {where}: {answer['error']}; try onnx2tf's parameter "
        f"replacement file ({o.label}.onnx2tf.param_replacement), or export the model without that op"
    )
