"""The deployed artifact against the host's quantized model: the host side of the agreement step.

The idea of TensorFlow Lite's inference_diff tool.  The same integer
arithmetic must give the same integers, so a board whose runtime or delegate
rounds differently shows up here even where the float metrics of the
evaluate step look fine.  The host side is the quantized .tflite in the
LiteRT interpreter with the builtin kernels and no default delegate
(``BUILTIN_WITHOUT_DEFAULT_DELEGATES``): TFLite's own arithmetic, not
XNNPACK's.  Inputs are quantized once, here, with the artifact's own input
scale and zero point, so board and host get the very same integers; outputs
are compared raw (in quantization steps, LSB) and dequantized.

Heavy modules (numpy, LiteRT) are imported inside the functions: planning
imports the step module, never this one's dependencies.
"""

from __future__ import annotations

import io
import math
import zipfile
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.boards.transport import BoardError
from tasks.model.host_outputs import npz_bytes as npz_bytes  # the name its callers use
from tasks.model.host_outputs import taken
from tasks.progress import progress

if TYPE_CHECKING:
    import numpy as np

    from tasks.model.datasets import Samples


def input_details(artifact: Path) -> list[dict[str, Any]]:
    """dtype, shape and quantization of the artifact's inputs, read from its flatbuffer.

    Read, not run: a Vela artifact's ethos-u operator cannot run on this machine.
    """
    import numpy as np

    from tasks.tflite import flatbuffer

    model = flatbuffer.read(artifact)
    sg = model.subgraphs[0]
    details = []
    for i in sg.inputs:
        t = sg.tensors[i]
        q = t.quantization
        scale = float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) else 0.0
        zero = int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None and len(q.zeroPoint) else 0
        details.append(
            {
                "name": flatbuffer.tensor_name(t),
                "shape": [int(d) for d in t.shape],
                "dtype": np.dtype(flatbuffer.TYPE_NAMES[t.type].lower()),
                "quantization": (scale, zero),
            }
        )
    return details


def inputs(artifact: Path, dataset: Samples, count: int, where: str) -> list[np.ndarray]:
    """The first ``count`` samples, quantized as the artifact's input takes them: one stack per input."""
    import numpy as np

    from tasks.model import datasets
    from tasks.tflite import runtime

    details = input_details(artifact)
    if len(details) != 1:
        raise BoardError(f"{where}: agreement supports single-input models; {artifact.name} has {len(details)} inputs")
    (detail,) = details
    xs = list(islice(datasets.samples(dataset, detail["shape"]), count))
    if not xs:
        raise BoardError(f"{where}: validation dataset '{dataset.name}' has no samples; check datasets.{dataset.name}")
    return [np.stack([runtime.quantize_input(x, detail) for x in xs])]


def read_outputs(data: bytes, where: str) -> list[np.ndarray]:
    """The stacks the runner wrote (``output_J``), in output order."""
    import numpy as np

    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return [npz[f"output_{j}"] for j in range(len(npz.files))]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise BoardError(f"{where}: the runner's outputs are unreadable ({exc}); check free space in workdir") from None


def host_outputs(
    host_model: Path, stacks: list[np.ndarray], where: str, kept: Path | None = None
) -> tuple[list[dict], list[np.ndarray]]:
    """The quantized model's output details and output stacks on the host's builtin kernels, sample by sample;
    ``kept``: the evaluate step's outputs of the same model (tasks/model/host_outputs.py), taken when they are of
    these inputs."""
    import numpy as np

    from tasks.tflite import runtime

    interpreter = runtime.interpreter(host_model, threads=1)
    interpreter.allocate_tensors()
    ins, outs = interpreter.get_input_details(), interpreter.get_output_details()
    for d, stack in zip(ins, stacks, strict=True):
        if stack.dtype != d["dtype"] or list(stack.shape[1:]) != [int(x) for x in d["shape"]]:
            raise BoardError(
                f"{where}: the artifact's input is {stack.dtype} {list(stack.shape[1:])} but the quantized model "
                f"{host_model.name} takes {np.dtype(d['dtype'])} {[int(x) for x in d['shape']]}; rebuild the artifact"
            )
    steps = dequantized_steps(host_model)
    details = [{**d, "step": steps.get(int(d["index"]))} for d in outs]
    found = taken(kept, stacks, outs)
    if found is not None:
        progress(f"the host's outputs on {len(stacks[0])} samples: kept by the evaluate step")
        return details, found
    values: list[list[np.ndarray]] = [[] for _ in outs]
    for n in range(len(stacks[0])):
        for d, stack in zip(ins, stacks, strict=True):
            interpreter.set_tensor(d["index"], stack[n])
        interpreter.invoke()
        for j, d in enumerate(outs):
            values[j].append(interpreter.get_tensor(d["index"]).copy())
    return details, [np.stack(v) for v in values]


def dequantized_steps(model_path: Path) -> dict[int, float]:
    """Float outputs made by a DEQUANTIZE of an integer tensor: output tensor → that tensor's quantization step.

    Such an output can only move in whole steps of the integer tensor it came from, so it is compared in
    those steps, like an integer output.
    """
    from tasks.tflite import flatbuffer, opcodes

    model = flatbuffer.read(model_path)
    sg = model.subgraphs[0]
    found = {}
    for op in sg.operators:
        if opcodes.op_name(model, op) != "DEQUANTIZE" or op.outputs[0] not in list(sg.outputs):
            continue
        q = sg.tensors[op.inputs[0]].quantization
        if q is not None and q.scale is not None and len(q.scale) == 1 and q.scale[0] > 0:
            found[int(op.outputs[0])] = float(q.scale[0])
    return found


def compare(
    details: list[dict],
    host: list[np.ndarray],
    board: list[np.ndarray],
    tolerance_lsb: int,
    tolerance_abs: float,
    where: str,
) -> dict[str, Any]:
    """Every output of the board against the host's, matched by position and shape; the headline agreement.

    A sample agrees when every integer output is within ``tolerance_lsb``
    quantization steps and every float output within ``tolerance_abs``.
    """
    import numpy as np

    if len(board) != len(host):
        raise BoardError(
            f"{where}: the artifact gave {len(board)} outputs, the quantized model {len(host)}; rebuild the artifact"
        )
    outputs: dict[str, Any] = {}
    within = np.ones(len(host[0]), dtype=bool)
    for j, (detail, h, b) in enumerate(zip(details, host, board, strict=True)):
        if h.shape != b.shape or h.dtype != b.dtype:
            raise BoardError(
                f"{where}: output {j} is {b.dtype} {list(b.shape[1:])} on the board but {h.dtype} {list(h.shape[1:])} "
                "in the quantized model; the artifact does not keep the quantized model's outputs: rebuild it"
            )
        metrics, agree = output_metrics(detail, h, b, tolerance_lsb, tolerance_abs)
        outputs[_unique(detail["name"], outputs)] = {"index": j, **metrics}
        within &= agree
    return {"agreement": round(float(np.mean(within)), 6), "outputs": outputs}


def output_metrics(
    detail: dict, host: np.ndarray, board: np.ndarray, tolerance_lsb: int, tolerance_abs: float
) -> tuple[dict[str, Any], np.ndarray]:
    """One output's differences over all samples, and which samples are within the tolerance."""
    import numpy as np

    from tasks.model import accuracy

    n = len(host)
    integer = np.issubdtype(host.dtype, np.integer)
    if integer:
        steps = np.abs(host.astype(np.int64) - board.astype(np.int64)).reshape(n, -1)
        scale, zero = detail["quantization"]
        h, b = ((x.astype(np.float64) - zero) * (scale or 1.0) for x in (host, board))
        worst = steps.max(axis=1) if steps.size else np.zeros(n, dtype=np.int64)
        agree = worst <= tolerance_lsb
    else:
        h, b = host.astype(np.float64), board.astype(np.float64)
    same_nan = np.isnan(h) & np.isnan(b)
    diff = np.where(same_nan, 0.0, np.abs(h - b)).reshape(n, -1)  # one side NaN: NaN, never within
    step = None if integer else detail.get("step")
    if not integer:
        agree = ~np.any(np.isnan(diff) | (diff > tolerance_abs), axis=1)
        if step:  # a dequantized integer: within tolerance_lsb of its steps agrees too
            steps = np.rint(diff / step)
            agree |= ~np.any(np.isnan(diff) | (steps > tolerance_lsb), axis=1)
    mismatched = np.flatnonzero(~agree)
    exact = (host == board) | same_nan
    snr = [accuracy.compare(np.nan_to_num(h[i]), np.nan_to_num(b[i]))["snr_db"] for i in range(n)]
    metrics = {
        "dtype": np.dtype(host.dtype).name,
        "shape": list(host.shape[1:]),
        "agreement": round(float(np.mean(agree)), 6),
        "exact": round(float(np.mean(exact)), 6),
        "max_abs": _number(np.max(diff) if diff.size else 0.0),
        "max_lsb": _largest_step(steps) if integer or step else None,
        "max_ulp": _max_ulp(host, board),
        "snr_db": round(float(min(snr)), 3),
        "first_mismatch": int(mismatched[0]) if mismatched.size else None,
    }
    return metrics, agree


def _largest_step(steps: np.ndarray) -> int | None:
    """The largest difference in quantization steps (None: only NaNs)."""
    import numpy as np

    finite = steps[np.isfinite(steps)] if steps.size else steps
    return int(finite.max()) if finite.size else (0 if not steps.size else None)


def _max_ulp(host: np.ndarray, board: np.ndarray) -> int | None:
    """A float output's largest difference in units in the last place (float16/32); None for other types."""
    import numpy as np

    if not np.issubdtype(host.dtype, np.floating) or host.dtype.itemsize > 4:
        return None
    ints = np.dtype(f"i{host.dtype.itemsize}")
    finite = np.isfinite(host) & np.isfinite(board)

    def ordered(x: np.ndarray) -> np.ndarray:  # float bits as integers in the floats' order (-0.0 = +0.0)
        i = x.view(ints).astype(np.int64)
        return np.where(i < 0, np.iinfo(ints).min - i, i)

    ulps = np.abs(ordered(host) - ordered(board))[finite]
    return int(ulps.max()) if ulps.size else 0


def _number(value: Any) -> float | None:
    """A JSON number; None for NaN or infinity (an output NaN or infinite on one side only)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _unique(name: str, taken: dict[str, Any]) -> str:
    return name if name not in taken else f"{name}#{len(taken)}"


def against_labels(
    host_model: Path,
    details: list[dict],
    host: list[np.ndarray],
    board: list[np.ndarray],
    dataset: Samples,
    tasks: tuple[dict[str, Any], ...],
    where: str,
) -> dict[str, Any] | None:
    """The board's outputs decoded and scored against the samples' labels beside the host's (tasks/model/accuracy.py
    label_metrics): ``{samples, metrics: {NAME: {host, board, drop, interval, resamples}}}``, drop = host - board in
    points.  None when no task has a label metric."""
    from tasks.model import accuracy
    from tasks.tflite import runtime

    runner = runtime.interpreter(host_model).get_signature_runner()
    names = {int(d["index"]): name for name, d in runner.get_output_details().items()}  # tensor → signature name
    shape = tuple(int(d) for d in runner.get_input_details()[next(iter(runner.get_input_details()))]["shape"])

    def samples(stacks: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        dequantized = [_dequantized(d, s) for d, s in zip(details, stacks, strict=True)]
        return [
            {names.get(int(d["index"]), d["name"]): v[n] for d, v in zip(details, dequantized, strict=True)}
            for n in range(len(stacks[0]))
        ]

    truths = accuracy.truths_of(dataset, len(host[0]), shape)
    found = accuracy.label_metrics(tasks, samples(host), samples(board), truths, shape, where)
    if not found:
        return None
    renamed = {
        name: {"host": m["float"], "board": m["quantized"], **{k: m[k] for k in ("drop", "interval", "resamples")}}
        for name, m in found["metrics"].items()
    }
    return {"samples": len(host[0]), "metrics": renamed}


def _dequantized(detail: dict, stack: np.ndarray) -> np.ndarray:
    """An output stack [samples, 1, ...] in float: integer outputs through their scale and zero point."""
    import numpy as np

    from tasks.tflite.scaling import dequantized

    return dequantized(stack, detail["quantization"]).astype(np.float32)
