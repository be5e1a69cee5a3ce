"""ONNX → float32 .tflite with onnx2tf, checked against onnxruntime.  Runs INSIDE the onnx2tf tool environment.

It imports nothing of NPUForge (that environment has other versions of
everything).  Request: one JSON object as argv[1]:
    {"onnx": PATH, "out": PATH, "input_shape": [..] | null, "param_replacement": PATH | null,
     "tolerance": 1e-4, "samples": 3, "samples_npy": PATH | null}
``samples_npy``: real inputs (a stack of the first input's samples, in the ONNX layout), checked too.
Answer: one JSON line on stdout, {"ok": true, ...facts} or {"ok": false, "kind": ..., ...}.

What it guards against (onnx2tf 1.29.24): it converts a copy (onnx2tf rewrites its input
file in place), in a scratch folder that holds the sample data it would otherwise download
from the internet, with the environment's bin/ on PATH (it runs `onnxsim` by name); node
names onnx2tf refuses are made safe in the copy; free dimensions are fixed from input_shape
or refused, naming the input.  onnx2tf gives its Keras model without saving anything
(``disable_model_save``), and the float32 .tflite is converted here as onnx2tf converts it:
its SavedModel and float16 .tflite, which nothing reads, took more than half of the time.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

SAMPLE_DATA = "calibration_image_sample_data_20x128x128x3_float32.npy"
SAFE_NAME = re.compile(r"[^A-Za-z0-9_.\-/>]")


def answer(**fields) -> None:
    print(json.dumps(fields), flush=True)


def prepare(request: dict, work: Path):
    """The copy onnx2tf converts: safe node names, static input shape. Returns (path, renamed, inputs) or an error."""
    import onnx

    model = onnx.load(request["onnx"])
    renamed = {}
    for node in model.graph.node:
        safe = SAFE_NAME.sub("_", node.name)
        if safe != node.name:
            renamed[safe] = node.name
            node.name = safe
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    shapes = {}
    for i, graph_input in enumerate(inputs):
        dims = graph_input.type.tensor_type.shape.dim
        shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in dims]
        if request.get("input_shape") and i == 0:
            given = list(request["input_shape"])
            if len(given) != len(shape) or any(s not in (-1, g) for s, g in zip(shape, given, strict=True)):
                return None, {"kind": "input_shape", "input": graph_input.name, "shape": shape, "given": given}
            shape = given
            for d, value in zip(dims, given, strict=True):
                d.ClearField("dim_param")
                d.dim_value = value
        if -1 in shape:
            return None, {"kind": "dynamic", "input": graph_input.name, "shape": shape}
        shapes[graph_input.name] = shape
    path = work / "model.onnx"
    onnx.save(model, str(path))
    return (path, renamed, shapes), None


def convert(path: Path, work: Path, request: dict, renamed: dict) -> tuple[Path | None, dict | None, str]:
    import numpy as np

    np.save(work / SAMPLE_DATA, np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32))
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    os.chdir(work)
    import onnx
    import onnx2tf

    types = {n.name: n.op_type for n in onnx.load(str(path)).graph.node}
    log = io.StringIO()  # its per-operator log: which TensorFlow tensor each ONNX output became
    try:
        with contextlib.redirect_stdout(log):
            keras_model = onnx2tf.convert(
                input_onnx_file_path=str(path),
                output_folder_path=str(work / "out"),
                non_verbose=False,
                param_replacement_file=request.get("param_replacement") or "",
                disable_model_save=True,  # the model only: see float32_tflite
            )
            out = float32_tflite(keras_model, work / "out")
    except BaseException as exc:  # onnx2tf also ends with sys.exit(1)
        node = getattr(exc, "onnx_op_name", None)
        op_type = types.get(node) if node else None
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "").startswith("onnx2tf.ops."):
            op_type = exc.name.rsplit(".", 1)[1]
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        error = f"{type(exc).__name__}: {first}"
        failure = {"kind": "convert", "op_type": op_type, "node": renamed.get(node, node), "error": error}
        return None, failure, log.getvalue()
    finally:
        sys.stderr.write(log.getvalue()[-20000:])
    return out, None, log.getvalue()


def float32_tflite(model, folder: Path) -> Path:
    """The float32 .tflite of onnx2tf's Keras model, converted as onnx2tf converts it (its float32 step)."""
    import tensorflow as tf

    try:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    except Exception:  # onnx2tf's own fallback: the model as one function of its inputs
        signature = [tf.TensorSpec(t.shape, t.dtype, t.name) for t in model.inputs]
        function = tf.function(func=lambda *inputs: model(inputs), input_signature=signature)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    converter.unfold_batchmatmul = False
    folder.mkdir(exist_ok=True)
    out = folder / "model_float32.tflite"
    out.write_bytes(converter.convert())
    return out


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_OP = re.compile(r"onnx_op_type: (\S+) onnx_op_name: (\S+)")
_ONNX_OUT = re.compile(r"^INFO:\s+output_name\.(\d+): (\S+) shape")
_TF_OUT = re.compile(r"^INFO:\s+output\.(\d+)\.output: name: (\S+?)(?::\d+)? shape")


def tensor_map(log: str) -> list[tuple[str, str, str, str]]:
    """(ONNX node, its op type, an output of it, the TensorFlow tensor it became), in graph order, from
    onnx2tf's log."""
    found, node, op_type, outputs = [], None, None, {}
    for line in _ANSI.sub("", log).splitlines():
        if m := _OP.search(line):
            op_type, node, outputs = m[1], m[2], {}
        elif (m := _ONNX_OUT.match(line)) and node:
            outputs[m[1]] = m[2]
        elif (m := _TF_OUT.match(line)) and node and m[1] in outputs:
            found.append((node, op_type, outputs[m[1]], m[2]))
    return found


def departs(onnx_path: Path, tflite_path: Path, log: str, feed: dict, threshold: float, renamed: dict) -> dict:
    """The first ONNX operator (in graph order) whose output the .tflite computes differently on ``feed``:
    every intermediate tensor on both sides, matched through onnx2tf's log.  When none departs: how many were
    compared, and the range of the model's outputs on ``feed`` (a nearly constant output makes rounding
    noise a large share of its range)."""
    import numpy as np
    import onnx
    import onnxruntime
    from ai_edge_litert.interpreter import Interpreter

    pairs = tensor_map(log)
    interpreter = Interpreter(model_path=str(tflite_path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    by_tf = {}
    for d in interpreter.get_tensor_details():
        first = d["name"].split(";")[0]  # a fused tensor lists its ops, the one whose output it holds first
        by_tf.setdefault(first.split("/", 1)[1] if first.startswith("model") and "/" in first else first, d)
    pairs = [p for p in pairs if p[3] in by_tf]
    model = onnx.shape_inference.infer_shapes(onnx.load(str(onnx_path)))
    floats = {v.name for v in model.graph.value_info if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    pairs = [p for p in pairs if p[2] in floats]
    known = {o.name for o in model.graph.output}
    model.graph.output.extend(
        onnx.helper.make_tensor_value_info(p[2], onnx.TensorProto.FLOAT, None) for p in pairs if p[2] not in known
    )
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed), strict=True))
    for name, x in feed.items():
        detail = next(d for d in interpreter.get_input_details() if d["name"].split(":")[0].endswith(name))
        perm = _match(name, list(x.shape), [detail], 0)[1]
        interpreter.set_tensor(detail["index"], np.ascontiguousarray(x.transpose(perm)))
    interpreter.invoke()
    for node, op_type, out, tf_name in pairs:
        e, got = expected[out], interpreter.get_tensor(by_tf[tf_name]["index"])
        perms = _perms(list(e.shape), list(got.shape))
        if not perms:
            continue
        span = float(np.ptp(e)) or 1.0
        diff = min(float(np.max(np.abs(e.transpose(p) - got))) for p in perms) / span
        if diff > threshold:
            return {
                "node": renamed.get(node, node),
                "op_type": op_type,
                "output": out,
                "tflite": tf_name,
                "rel_diff": diff,
                "compared": len(pairs),
            }
    spans = [float(np.ptp(v)) for k, v in expected.items() if k in known]
    return {"node": None, "compared": len(pairs), "output_range": min(spans, default=0.0)}


def _perms(onnx_shape: list[int], tflite_shape: list[int]) -> list[tuple[int, ...]]:
    """Axis orders that turn the ONNX shape into the TFLite one, the likely ones first."""
    rank = len(onnx_shape)
    likely = [tuple(range(rank)), (0, *range(2, rank), 1)] if rank >= 3 else [tuple(range(rank))]
    every = likely + [p for p in itertools.permutations(range(rank)) if p not in likely]
    return [p for p in every if [onnx_shape[i] for i in p] == list(tflite_shape)]


def verify(onnx_path: Path, tflite_path: Path, shapes: dict, request: dict) -> tuple[dict, dict]:
    """Both models on the same random inputs (and the samples); the layout and name of every input and output; the
    largest differences.  Also the input a triage runs: the first sample, else the first random input."""
    import numpy as np
    import onnxruntime
    from ai_edge_litert.interpreter import Interpreter

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    interpreter = Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    t_inputs, t_outputs = interpreter.get_input_details(), interpreter.get_output_details()
    o_inputs, o_outputs = session.get_inputs(), session.get_outputs()
    inputs = [_match(o.name, shapes[o.name], t_inputs, i) for i, o in enumerate(o_inputs)]
    rng, out_maps, out_shapes = np.random.default_rng(request.get("seed", 0)), [], []

    def worst_of(feeds) -> float:
        """The largest difference of an output over ``feeds``, as a share of that output's range over all of them
        (one input on which an output is nearly constant would make rounding look large)."""
        diff: dict[int, float] = {}
        low: dict[int, float] = {}
        high: dict[int, float] = {}
        for feed in feeds:
            expected = session.run(None, feed)
            for o, (detail, perm) in zip(o_inputs, inputs, strict=True):
                interpreter.set_tensor(detail["index"], np.ascontiguousarray(feed[o.name].transpose(perm)))
            interpreter.invoke()
            got = [interpreter.get_tensor(d["index"]) for d in t_outputs]
            out_maps[:] = out_maps or _outputs(o_outputs, expected, t_outputs, got)
            out_shapes[:] = [list(e.shape) for e in expected]
            for k, ((j, perm), e) in enumerate(zip(out_maps, expected, strict=True)):
                diff[k] = max(diff.get(k, 0.0), float(np.max(np.abs(e.transpose(perm) - got[j]))))
                low[k], high[k] = min(low.get(k, np.inf), float(e.min())), max(high.get(k, -np.inf), float(e.max()))
        return max((diff[k] / ((high[k] - low[k]) or 1.0) for k in diff), default=0.0)

    random = [
        {o.name: rng.random(shapes[o.name], dtype=np.float32) for o in o_inputs}
        for _ in range(request.get("samples", 3))
    ]
    worst = worst_of(random)
    real = np.load(request["samples_npy"]) if request.get("samples_npy") and len(o_inputs) == 1 else None
    if real is not None and list(real.shape[1:]) != list(shapes[o_inputs[0].name][1:]):
        real = None  # samples of another shape than the model's input: not comparable
    worst_real = worst_of({o_inputs[0].name: x[None]} for x in real) if real is not None else None
    facts = {
        "inputs": [_facts(o.name, shapes[o.name], d, p) for o, (d, p) in zip(o_inputs, inputs, strict=True)],
        "outputs": [
            _facts(o.name, shape, t_outputs[j], p)
            for o, shape, (j, p) in zip(o_outputs, out_shapes, out_maps, strict=True)
        ],
        "max_rel_diff": worst,
        "max_rel_diff_samples": worst_real,
        "samples": 0 if real is None else len(real),
    }
    return facts, ({o_inputs[0].name: real[:1]} if real is not None else random[0])


def _match(name: str, shape: list[int], details: list[dict], index: int):
    candidates = [d for d in details if d["name"].split(":")[0].endswith(name)] or [details[index]]
    detail = candidates[0]
    perms = _perms(shape, [int(x) for x in detail["shape"]])
    if not perms:
        raise ValueError(f"input {name}: ONNX shape {shape} has no layout that gives {list(detail['shape'])}")
    return detail, perms[0]


def _outputs(o_outputs, expected, t_outputs, got) -> list[tuple[int, tuple[int, ...]]]:
    """For each ONNX output: the TFLite output (by name, else by order) and the axis order that fits best."""
    import numpy as np

    maps = []
    for k, (o, e) in enumerate(zip(o_outputs, expected, strict=True)):
        named = [j for j, d in enumerate(t_outputs) if d["name"].split(":")[0].endswith(o.name)]
        j = named[0] if named else k
        perms = _perms(list(e.shape), list(got[j].shape)) or [tuple(range(e.ndim))]
        best = min(perms, key=lambda p: float(np.max(np.abs(e.transpose(p) - got[j].reshape(e.transpose(p).shape)))))
        maps.append((j, best))
    return maps


def _facts(onnx_name: str, onnx_shape: list[int], detail: dict, perm: tuple[int, ...]) -> dict:
    identity = tuple(range(len(perm)))
    return {
        "onnx": onnx_name,
        "onnx_shape": list(onnx_shape),
        "tflite": detail["name"],
        "tflite_shape": [int(x) for x in detail["shape"]],
        "layout": "same" if perm == identity else f"axes {list(perm)}",
        "axes": list(perm),
    }


def main() -> int:
    request = json.loads(sys.argv[1])
    work = Path(tempfile.mkdtemp(prefix="onnx2tf-"))
    try:
        prepared, error = prepare(request, work)
        if error:
            answer(ok=False, **error)
            return 0
        path, renamed, shapes = prepared
        tflite_path, error, log = convert(path, work, request, renamed)
        if error:
            answer(ok=False, **error)
            return 0
        facts, feed = verify(path, tflite_path, shapes, request)
        judged = facts["max_rel_diff"] if facts["max_rel_diff_samples"] is None else facts["max_rel_diff_samples"]
        if judged > request.get("tolerance", 1e-4):
            facts["departs"] = departs(path, tflite_path, log, feed, request.get("tolerance", 1e-4), renamed)
        shutil.copyfile(tflite_path, request["out"])
        answer(ok=True, renamed_nodes=len(renamed), **facts)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
