"""convert: an ONNX model → float32 .tflite with onnx2tf, checked against onnxruntime.

onnx2tf pins its own TensorFlow, NumPy and ONNX, so it runs in its own tool
environment (tasks/model/toolenv.py), made on first use; tasks/model/toolenvs/onnx2tf_run.py
does the work there and answers with one JSON line.  The import step then takes
the converted model like any float .tflite (fold, batch 1, one signature,
equivalence check).  ``input_shape`` is in the ONNX model's own layout; the
facts record each input's and output's layout and name on both sides.

The conversion is checked against onnxruntime twice: on seeded uniform random
inputs, and on the first samples of the model's calibration set, which is what
the model will see.  Both differences are recorded; when the model has
calibration samples, they decide.  A difference beyond the tolerance is refused,
unless the triage (every intermediate tensor compared, matched through onnx2tf's
log) finds no operator that departs: rounding spread over a deep graph, which
is accepted with a warning in the progress line, the facts and the report.
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
from tasks.model.datasets import Samples
from tasks.planning.options import input_file, output_file
from tasks.progress import progress

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step

# runs in the tool environment, as a script; named as a module so that it is part of this step's code digest
RUNNER_MODULE = "tasks.model.toolenvs.onnx2tf_run"
RUNNER = Path(__file__).resolve().parent.parent.parent.joinpath(*RUNNER_MODULE.split(".")).with_suffix(".py")
TOLERANCE = 1e-4  # largest difference to onnxruntime, as a fraction of each output's range
SAMPLES = 4  # calibration samples the conversion is checked on


@dataclass(frozen=True, kw_only=True)
class Options:
    input_shape: tuple[int, ...] | None  # in the ONNX model's layout (NCHW for an image model)
    label: str  # the model's YAML path, for messages
    toolenv: str  # the tool environment's lock (its sha256): a new lock converts again
    source: Path = input_file()  # the .onnx (or the fetched member)
    out: Path = output_file()
    facts: Path = output_file()
    param_replacement: Path | None = input_file(None)  # onnx2tf's parameter replacement JSON
    samples: Samples | None = None  # the model's calibration set: the first SAMPLES check the conversion


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
            samples=planning.samples(model.calibration),
        )
        doc = (
            "convert the ONNX model to a float .tflite with onnx2tf (its own "
            "tool environment), checked against onnxruntime"
        )
        steps.append(planning.new("convert", name, doc, options))
    return steps


def run(o: Options) -> None:
    from tasks.model import toolenv
    from tasks.tflite import flatbuffer, opcodes

    python = toolenv.ensure(toolenv.TOOLS["onnx2tf"])
    progress(f"onnx2tf {o.source.name}" + (f", input shape {list(o.input_shape)}" if o.input_shape else ""))
    tmp = atomic.temp_path(o.out)
    inputs = atomic.temp_path(o.facts.with_suffix(".npy"))
    try:
        answer = _convert(python, o, tmp, _samples(o, inputs))
        model = flatbuffer.read(tmp)
        left = opcodes.custom_ops(model)
        if left:
            raise StepError(
                f"{o.label}.source: onnx2tf's model has operators TensorFlow Lite has no builtin for: "
                + ", ".join(f"{code} ×{len(nodes)}" for code, nodes in left.items())
                + "; replace the ONNX ops that become them (onnx2tf: parameter replacement) or cut them off"
            )
        progress(
            f"WARNING: {answer['warning']}" if answer["warning"] else f"matches onnxruntime: {_differences(answer)}"
        )
        atomic.publish(tmp, o.out)
    finally:
        tmp.unlink(missing_ok=True)
        inputs.unlink(missing_ok=True)
    atomic.write_json(o.facts, {k: v for k, v in answer.items() if k != "ok"} | {"ops": opcodes.op_histogram(model)})


def _samples(o: Options, path: Path) -> Path | None:
    """The first calibration samples in the ONNX model's own layout, as one .npy stack; None without any.

    .npy files are taken as they are (a batch each, in the layout a PyTorch pipeline saves); images are
    read in the layout of ``input_shape`` (NCHW), which they need."""
    import itertools

    import numpy as np

    if o.samples is None or o.samples.kind == "random":
        return None
    if o.samples.kind == "npy":
        taken = [np.load(f).astype(np.float32) for f in o.samples.files[:SAMPLES]]
        stack = np.concatenate([x if x.ndim > 1 else x[None] for x in taken])[:SAMPLES] if taken else None
    elif o.input_shape and len(o.input_shape) == 4:
        from tasks.model import datasets

        n, c, h, w = o.input_shape
        read = (x.transpose(0, 3, 1, 2) for x in datasets.samples(o.samples, [n, h, w, c]))
        taken = list(itertools.islice(read, SAMPLES))
        stack = np.concatenate(taken) if taken else None
    else:
        return None
    if stack is None:
        return None
    with open(path, "wb") as f:  # a file object: np.save would add .npy to the temporary name
        np.save(f, stack)
    return path


def _differences(answer: dict[str, Any]) -> str:
    random = f"{answer['max_rel_diff']:.2e} of an output's range on random inputs"
    if answer.get("max_rel_diff_samples") is None:
        return random
    return f"{answer['max_rel_diff_samples']:.2e} on {answer['samples']} calibration sample(s), {random}"


def _convert(python: Path, o: Options, out: Path, samples: Path | None) -> dict[str, Any]:
    request = {
        "onnx": str(o.source),
        "out": str(out),
        "input_shape": list(o.input_shape) if o.input_shape else None,
        "param_replacement": str(o.param_replacement) if o.param_replacement else None,
        "tolerance": TOLERANCE,
        "samples_npy": str(samples) if samples else None,
    }
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
    return answer | {"warning": judge(o, answer)}


def judge(o: Options, answer: dict[str, Any]) -> str | None:
    """The verdict on a converted model's differences from onnxruntime: None within the tolerance; a warning
    when beyond it but the triage compared intermediate tensors and found every one within it; else StepError."""
    judged = answer.get("max_rel_diff_samples")
    if (answer["max_rel_diff"] if judged is None else judged) <= TOLERANCE:
        return None
    differs = f"onnx2tf's model differs from onnxruntime's by {_differences(answer)} (allowed {TOLERANCE:.0e})"
    found = answer.get("departs") or {}
    if found.get("node") is None and found.get("compared"):
        return (
            f"{o.label}.source: {differs}, yet no operator departs: {found['compared']} intermediate tensors "
            "compared, each within the tolerance; accepted as rounding spread over the graph"
            + (
                f" (give {o.label}.calibration inputs like the ones the model is made for to check on those)"
                if judged is None
                else ""
            )
        )
    raise StepError(f"{o.label}.source: {differs}; " + _triage(o, found))


def _triage(o: Options, found: dict[str, Any]) -> str:
    """What the comparison of every intermediate tensor says, and what the user can do."""
    if found.get("node"):
        return (
            f"the first operator whose output departs is ONNX node {found['node']} ({found['op_type']}), output "
            f"{found['output']}: {found['rel_diff']:.2e} of its range (TFLite tensor {found['tflite']}); give "
            f"{o.label}.onnx2tf.param_replacement a JSON that changes that operator (onnx2tf's parameter "
            "replacement), or prune the model before it"
        )
    if "compared" not in found:
        return "the conversion changed the arithmetic"
    return (
        "the conversion changed the arithmetic, and no intermediate tensor could be matched to the ONNX graph "
        "through onnx2tf's log to name the operator"
    )


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


def row_conversion(facts: dict[str, Any], compiled: bool) -> dict[str, Any]:
    """results.json's ``conversion``: each input's and output's name and shape on both sides, and the axis order."""
    keys = ("onnx", "onnx_shape", "tflite", "tflite_shape", "axes")
    sides = {side: [{k: t.get(k) for k in keys} for t in facts[side]] for side in ("inputs", "outputs")}
    conversion = {
        "from": "onnx",
        "converter": "onnx2tf",
        "max_rel_diff": facts["max_rel_diff"],
        "max_rel_diff_samples": facts.get("max_rel_diff_samples"),
        "samples": facts.get("samples", 0),
        "warning": facts.get("warning"),
        **sides,
    }
    return {"conversion": conversion}
