"""Any source → canonical float32 .tflite: the work of the import step (tasks/steps/import_model.py).

Canonical means: batch 1 and static shapes (Vela keeps reshapes on the NPU
only then), exactly one ``serving_default`` signature, constant fp16
DEQUANTIZE and sparse DENSIFY ops folded into float32 constants (the TFLite
calibrator crashes on them), shape arithmetic on static shapes folded too, and
no unused tensors, buffers or opcodes.  The result is checked against the
source on random input before it is written.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from tasks import atomic
from tasks.errors import StepError
from tasks.progress import progress
from tasks.tflite import activations, flatbuffer, opcodes, pruning, runtime, surgery

TOLERANCE = runtime.EQUIVALENCE_TOLERANCE  # max abs difference, relative to each output's range


def run(
    source: Path,
    kind: str,
    function: str | None,
    args_json: str,
    input_shape: list[int] | None,
    out: Path,
    facts: Path,
    label: str,
    keep_custom: bool = False,
    arrives_quantized: str | None = None,
) -> None:
    src = source
    if kind == "builder":
        reference, content = _from_builder(src, function, json.loads(args_json), input_shape, label)
    elif src.is_dir():
        reference, content = _from_saved_model(src, input_shape, label)
    elif src.suffix in (".keras", ".h5"):
        reference, content = _from_keras_file(src, input_shape, label)
    elif src.suffix == ".tflite" or kind == "pip":
        reference, content = src.read_bytes(), None
    else:
        raise StepError(f"{label}.source: cannot import '{src.name}'; give .keras, .h5, .tflite or a SavedModel folder")

    rewritten: list[dict] = []
    kept: dict[str, list[str]] = {}
    if content is None:
        content = source_bytes = bytes(reference)
        reference = _tflite_reference(content)  # the source as it is (LiteRT's default delegate runs MediaPipe's ops)
        content, rewritten, kept = builtin_ops_only(content, label, keep_custom)
    if arrives_quantized is None and (found := activations.activations_of(content)):
        raise StepError(
            f"{label}.source: the model arrives quantized ({found} activations) but was planned as a float model: it "
            "was not on disk when the project was planned (fetched just now); run doit again and it is built as it "
            "is, without a quantize step"
        )
    if arrives_quantized is None:
        model_bytes, folded = canonicalize(content, input_shape, f"{label}.source")
    else:
        model_bytes, folded = as_it_arrives(content, input_shape, f"{label}.source"), {}
        progress(f"arrives quantized ({arrives_quantized} activations): kept as it is, not re-quantized")
    if folded:
        progress("folded constant ops: " + ", ".join(f"{n} {op}" for op, n in folded.items()))
    extra: dict = {"custom_ops_rewritten": rewritten} if rewritten else {}
    if arrives_quantized:
        extra["arrives_quantized"] = arrives_quantized
    if kept:
        extra["custom_ops"] = kept
        worst = _check_builtin_part(source_bytes, model_bytes, label)
    else:
        worst = check_equivalent(reference, model_bytes, label)
    if worst is not None:
        progress(f"matches the source: max abs diff {worst:.2e} of output range")
    atomic.write_bytes(out, model_bytes)
    atomic.write_json(facts, runtime.describe(model_bytes, folded=folded, max_rel_diff=worst, **extra))


def builtin_ops_only(content: bytes, label: str, keep_custom: bool) -> tuple[bytes, list[dict], dict[str, list[str]]]:
    """Custom operators with a rewrite become builtin ones; any other is named (count, nodes) before anything runs.

    The rewritten model is proven equal to the source afterwards, with the whole import (check_equivalent).
    Custom operators without a rewrite stop the import, unless ``keep_custom`` (the model has prune
    variants): then they stay, and quantize refuses each unit that still has them.
    Returns the model, the rewrite records and the custom operators kept (code → node names).
    """
    from tasks.model.rewrites import CUSTOM_OPS

    model = flatbuffer.read_bytes(content, f"{label}.source")
    found = opcodes.custom_ops(model)
    records = []
    for code in [c for c in found if c in CUSTOM_OPS]:
        records += CUSTOM_OPS[code].load().apply(model)
        progress(f"{code} ×{len(found[code])} → {CUSTOM_OPS[code].becomes} (builtin), to be proven equal to the source")
    kept = opcodes.custom_ops(model)
    if kept and not keep_custom:
        refuse_custom_ops(model, f"{label}.source", label)
    if kept:
        progress(
            "kept custom operators "
            + ", ".join(f"{code} ×{len(nodes)}" for code, nodes in kept.items())
            + " for the prune variants to cut off; quantize refuses any unit that keeps them"
        )
    return (flatbuffer.to_bytes(model) if records else content), records, kept


def refuse_custom_ops(model, where: str, model_label: str) -> None:
    """Name every custom operator left (count, nodes) and where pruning cuts them off."""
    found = opcodes.custom_ops(model)
    if not found:
        return
    shown = []
    for code, nodes in found.items():
        names = ", ".join(nodes[:3]) + (f", … ({len(nodes) - 3} more)" if len(nodes) > 3 else "")
        shown.append(f"{code} ×{len(nodes)} (nodes: {names})")
    free, feeding = opcodes.custom_op_cuts(model)
    remedies = []
    if free:
        remedies.append(
            f"keep the outputs that need none of them ({model_label}.prune.NAME.outputs: [{', '.join(free)}])"
        )
    if feeding:
        remedies.append(
            f"cut the model before them and run the rest in the application ({model_label}.prune.NAME.outputs: "
            f"[{', '.join(feeding)}])"
        )
    raise StepError(
        f"{where}: the model has custom operators that neither LiteRT's builtin kernels nor Vela run: "
        + "; ".join(shown)
        + ". NPUForge has no rewrite for them; build prune variants without them: "
        + (" or ".join(remedies) or "prune the model's inputs or outputs so that no custom operator is left")
        + ", and list those variants in builds:"
    )


def canonicalize(content: bytes, input_shape: list[int] | None, where: str) -> tuple[bytes, dict[str, int]]:
    model = flatbuffer.read_bytes(content, where)
    if len(model.subgraphs) != 1:
        raise StepError(
            f"{where}: the model has {len(model.subgraphs)} subgraphs; only single-subgraph models are supported"
        )
    if any(
        t.type != flatbuffer.schema.TensorType.FLOAT32
        for t in (model.subgraphs[0].tensors[i] for i in model.subgraphs[0].inputs)
    ):
        raise StepError(f"{where}: the model's inputs are not float32; give the float model, not a quantized one")
    model = surgery.fix_input_shapes(model, input_shape, where)
    model = surgery.propagate_static_shapes(model)
    model, folded = surgery.fold_constants(model)
    model.metadata = [
        m for m in model.metadata or [] if m.name not in (b"reduced_precision_support", "reduced_precision_support")
    ]
    model = surgery.set_serving_signature(surgery.collect_garbage(model))
    return flatbuffer.to_bytes(model), folded


def as_it_arrives(content: bytes, input_shape: list[int] | None, where: str) -> bytes:
    """A quantized model as it arrived, with only what every model gets: batch 1, static shapes, one serving
    signature, no unused tensors.  Nothing is folded: its constants stay as its quantizer wrote them."""
    model = flatbuffer.read_bytes(content, where)
    if len(model.subgraphs) != 1:
        raise StepError(
            f"{where}: the model has {len(model.subgraphs)} subgraphs; only single-subgraph models are supported"
        )
    model = surgery.fix_input_shapes(model, input_shape, where)
    model = surgery.propagate_static_shapes(model)
    model = surgery.set_serving_signature(surgery.collect_garbage(model))
    return flatbuffer.to_bytes(model)


# --- references: callables from {input name: array} to {output name: array} ------------------


def _tflite_reference(content: bytes):
    """The source .tflite run as it is; names are its signature's, else its tensors'."""

    def call(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        interpreter = runtime.interpreter(content, builtin_kernels=False)
        if len(interpreter.get_signature_list()) == 1:
            return interpreter.get_signature_runner()(**inputs)
        details = interpreter.get_input_details()
        for d in details:
            if list(d["shape"]) != list(inputs[d["name"]].shape):
                interpreter.resize_tensor_input(d["index"], inputs[d["name"]].shape)
        interpreter.allocate_tensors()
        for d in interpreter.get_input_details():
            interpreter.set_tensor(d["index"], inputs[d["name"]])
        interpreter.invoke()
        return {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}

    return call


def _check_builtin_part(source: bytes, model_bytes: bytes, label: str) -> float | None:
    """With custom operators kept, LiteRT cannot run the whole model: compare the outputs that need none of them."""
    free, _ = opcodes.custom_op_cuts(flatbuffer.read_bytes(model_bytes, label))
    if not free:
        progress("not checked against the source: every output needs a custom operator LiteRT cannot run")
        return None

    def builtin_part(content: bytes) -> bytes:
        return flatbuffer.to_bytes(pruning.prune(flatbuffer.read_bytes(content, label), free, None, label))

    progress(f"checking the outputs that need no custom operator: {', '.join(free)}")
    return check_equivalent(_tflite_reference(builtin_part(source)), builtin_part(model_bytes), label)


def _random_input(rng: np.random.Generator, detail: dict) -> np.ndarray:
    """A random input of ``detail``'s shape and type: [0, 1) floats, or any value of an integer type."""
    if np.issubdtype(detail["dtype"], np.integer):
        info = np.iinfo(detail["dtype"])
        return rng.integers(info.min, info.max, size=detail["shape"], endpoint=True).astype(detail["dtype"])
    return rng.random(detail["shape"], dtype=np.float32)


def check_equivalent(reference, model_bytes: bytes, label: str) -> float:
    """Run source and import on the same random input; fail if they differ."""
    runner = runtime.interpreter(model_bytes, builtin_kernels=False).get_signature_runner(flatbuffer.SIGNATURE_KEY)
    rng = np.random.default_rng(0)
    inputs = {name: _random_input(rng, d) for name, d in runner.get_input_details().items()}
    got = runner(**inputs)
    expected = reference(inputs)
    if sorted(got) != sorted(expected):
        raise StepError(
            f"{label}: the imported model's outputs {sorted(got)} differ from the source's {sorted(expected)}"
        )
    worst = 0.0
    for name, g in got.items():
        diff = runtime.range_relative_diff(np.asarray(expected[name], dtype=np.float32).reshape(g.shape), g)
        if diff > TOLERANCE:
            raise StepError(
                f"{label}: imported output '{name}' differs from the source by {diff:.2e} of its range "
                f"(allowed {TOLERANCE:.0e}); the conversion changed the arithmetic"
            )
        worst = max(worst, diff)
    return worst


# --- Keras and SavedModel sources -------------------------------------------------------------


def _convert_keras(model, input_shape: list[int] | None, label: str):
    import keras
    import tensorflow as tf

    if len(model.inputs) != 1:
        raise StepError(f"{label}: Keras models with {len(model.inputs)} inputs are not supported; use one input")
    shape = surgery.static_shape(list(model.inputs[0].shape), input_shape, f"{label}.input_shape", "the model's input")
    names = list(getattr(model, "output_names", None) or [f"output_{i}" for i in range(len(model.outputs))])
    input_name = getattr(model.inputs[0], "name", "input").split(":")[0].replace("/", "_") or "input"

    def serve(x):
        y = model(x, training=False)
        ys = list(y.values()) if isinstance(y, dict) else (list(y) if isinstance(y, (list, tuple)) else [y])
        return {name: t for name, t in zip(names, ys, strict=True)}

    progress(f"exporting Keras model with a fixed input signature {shape}")
    spec = tf.TensorSpec(shape, tf.float32, name=input_name)
    with tempfile.TemporaryDirectory(prefix="npuforge-export-") as folder:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(flatbuffer.SIGNATURE_KEY, tf.function(serve), input_signature=[spec])
        archive.write_out(folder, verbose=False)
        content = _convert_saved_model(folder)

    def reference(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        (x,) = inputs.values()
        return {name: np.asarray(t) for name, t in serve(tf.constant(x)).items()}

    return reference, content


def _convert_saved_model(folder: str) -> bytes:
    """Float conversion of a SavedModel's serving signature (variables frozen to constants)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=[flatbuffer.SIGNATURE_KEY])
    return converter.convert()


def _from_builder(path: Path, function: str | None, args: dict, input_shape, label: str):
    import keras

    from tasks.pyfiles import load_function

    build = load_function(path, function, f"{label}.source.builder", "builder")
    keras.utils.set_random_seed(0)  # builders that initialise weights randomly stay reproducible
    try:
        model = build(**args)
    except TypeError as exc:
        raise StepError(f"{label}.source.args: {function}() rejected the arguments: {exc}") from None
    if not isinstance(model, keras.Model):
        raise StepError(f"{label}.source.builder: {function}() returned {type(model).__name__}, not a Keras model")
    return _convert_keras(model, input_shape, label)


def _from_keras_file(path: Path, input_shape, label: str):
    import keras

    progress(f"loading {path.name}")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise StepError(f"{label}.source: {path} is not a loadable Keras model: {type(exc).__name__}: {exc}") from None
    return _convert_keras(model, input_shape, label)


def _from_saved_model(path: Path, input_shape, label: str):
    import tensorflow as tf

    progress(f"loading SavedModel {path.name}")
    loaded = tf.saved_model.load(str(path))
    signatures = dict(loaded.signatures)
    if "serving_default" not in signatures:
        raise StepError(
            f"{label}.source: SavedModel {path} has no serving_default "
            f"signature (has: {', '.join(signatures) or 'none'})"
        )
    fn = signatures["serving_default"]
    specs = fn.structured_input_signature[1]
    if len(specs) != 1:
        raise StepError(
            f"{label}.source: SavedModel signatures with {len(specs)} inputs are not supported; use one input"
        )
    ((arg, spec),) = specs.items()
    shape = surgery.static_shape(spec.shape.as_list(), input_shape, f"{label}.input_shape", "the model's input")

    def serve(x):
        return fn(**{arg: x})

    progress(f"re-exporting with a fixed input signature {shape}")
    holder = tf.Module()
    holder.source = loaded
    holder.serve = tf.function(serve, input_signature=[tf.TensorSpec(shape, spec.dtype, name=arg)])
    with tempfile.TemporaryDirectory(prefix="npuforge-export-") as folder:
        tf.saved_model.save(holder, folder, signatures={flatbuffer.SIGNATURE_KEY: holder.serve})
        content = _convert_saved_model(folder)

    def reference(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        (x,) = inputs.values()
        return {name: np.asarray(t) for name, t in serve(tf.constant(x)).items()}

    return reference, content
