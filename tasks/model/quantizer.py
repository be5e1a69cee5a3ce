"""Float .tflite → quantized .tflite: the work of the quantize step (tasks/steps/quantize.py).

int8 and int16x8 use TensorFlow Lite's quantizers (the path ``TFLiteConverter``
takes after conversion, applied to the canonical float .tflite, calibrated once
by the calibrate step); dynamic and float16 use ai-edge-quantizer, which works
on .tflite directly.  Overrides (mixed precision), and int8 weights rounded by
OCTAV or MSE, are an ai-edge-quantizer recipe fed with the same calibration
(tasks/model/calibration.py), so their int8 layers match the int8 scheme's.  An
automatic scheme is quantized as the mixed scheme its search chose
(tasks/model/mixed_search.py).  Calibration order is fixed, so the same inputs give
the same bytes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tasks import atomic
from tasks.errors import StepError
from tasks.model import datasets, quant_errors, schemes
from tasks.model.calibration import Calibration
from tasks.model.schemes import Scheme, Where
from tasks.progress import progress
from tasks.tflite import flatbuffer, opcodes, runtime, surgery


def run(
    model: Path,
    out: Path,
    facts: Path,
    scheme: Scheme,
    calibration: Calibration | None,
    label: str,
    where: Where,
    errors_dataset: datasets.Samples | None = None,
    errors_csv: Path | None = None,
    search: Path | None = None,
) -> None:
    """``calibration``: the calibrate step's (calibrated schemes); ``search``: an automatic scheme's choice."""
    from tasks.model.importers import refuse_custom_ops
    from tasks.planning.options import to_json

    content = model.read_bytes()
    refuse_custom_ops(flatbuffer.read_bytes(content, label), where.unit, where.model)
    # quantize.json's scheme: as written before weights were a setting
    shown = {k: v for k, v in to_json(scheme).items() if k != "weights" or v != "min_max"}
    if search is not None:
        chosen = json.loads(search.read_text())["chosen"]
        progress(f"the search's choice: {chosen['summary']}")
        scheme = scheme.chosen(chosen["scheme"])
        shown = {**shown, "chosen": chosen["scheme"]}
    result, samples = quantize_content(content, scheme, calibration, label, recipe=search is not None)
    described = runtime.describe(result, scheme=shown, calibration_samples=samples, precision=precision(result))
    floats = left_in_float(result, scheme, label, where)
    if floats:
        described["float_ops"] = floats
    if errors_dataset and errors_csv:
        rows = _layer_errors(content, result, errors_dataset, label)
        quant_errors.write(errors_csv, rows)
        described["quant_errors"] = quant_errors.for_json(rows)
        described["error_budget"] = quant_errors.error_budget(rows)
        for line in quant_errors.summary_lines(rows):
            progress(line)
    atomic.write_bytes(out, result)
    atomic.write_json(facts, described)


def left_in_float(result: bytes, scheme: Scheme, label: str, where: Where) -> list[dict[str, Any]]:
    """The operators an integer scheme left in float (tasks/tflite/float_ops.py), each with why; said on the
    terminal with the remedies, unless the scheme's own overrides asked for float."""
    from tasks.tflite import float_ops

    if not scheme.row.integer:
        return []
    found = float_ops.left_in_float(flatbuffer.read_bytes(result, label))
    bits = "int16x8" if scheme.row.bits == 16 else "int8"
    floats = [o for o in scheme.overrides if o.get("type") == schemes.FLOAT]
    for f in found:
        if any(o.get("match") and re.search(o["match"], f"{name};") for o in floats for name in f["names"]):
            f["why"] = "the scheme's overrides keep it in float"
        elif floats:
            f["why"] = (
                "kept in float: the scheme's overrides ask for float, or "
                f"TensorFlow Lite has no {bits} kernel for {f['op']}"
            )
        else:
            f["why"] = f"TensorFlow Lite has no {bits} kernel for {f['op']}: the converter kept it in float"
    if found and not floats:
        progress(
            f"WARNING: {sum(f['count'] for f in found)} operator(s) left in float in this {bits} model: "
            f"{float_ops.summary(found)}; they run in float on the CPU, and an NPU compiler may refuse them"
        )
        for line in float_remedies(found, where.scheme, where.model):
            progress(f"  {line}")
    return found


def float_remedies(found: list[dict[str, Any]], scheme_name: str, model_key: str) -> list[str]:
    """What a user can do about operators left in float: keep their layers int8, or rewrite them."""
    import re

    from tasks.model.rewrites import IN_INTEGER

    names = "|".join(re.escape(n) for f in found for n in f["names"])
    lines = [
        f"keep those layers int8: a mixed scheme, quantization.{scheme_name}.overrides: "
        f"[{{match: '({names});', type: int8}}] (docs/howto/mixed-precision.md)"
    ]
    for f in found:
        if f["op"] in IN_INTEGER:
            lines.append(
                f"or rewrite {f['op']} into operators with integer kernels: "
                f"{model_key}.rewrites: [{IN_INTEGER[f['op']]}]"
            )
    return lines


def quantize_content(
    content: bytes, scheme: Scheme, calibration: Calibration | None, label: str, recipe: bool = False
) -> tuple[bytes, int | None]:
    """The float model ``content`` quantized by ``scheme``, and how many samples calibrated it (None: not calibrated).

    ``recipe``: by an ai-edge-quantizer recipe even when the scheme is plain int8 (an automatic scheme's choice is
    quantized as its candidates were)."""
    if scheme.recipe or recipe:
        qsvs = (calibration or Calibration()).qsvs(content, label)
        parts = [f"{len(scheme.overrides)} override(s)"] if scheme.overrides else ["int8"]
        parts += [f"{scheme.weights} weights"] if scheme.weights != "min_max" else []
        progress(f"quantizing with ai-edge-quantizer: {', '.join(parts)}, ranges of {qsvs[1]} samples")
        return mixed(content, scheme, qsvs[0], label), qsvs[1]
    quantize = schemes.BY_NAME[scheme.type].quantize if scheme.type in schemes.BY_NAME else None
    if quantize is None:
        own = ", ".join(s.name for s in schemes.SCHEMES if s.quantize)
        raise StepError(f"quantization type {scheme.type!r} is not one of {own}")
    return quantize(content, scheme, calibration, label)


def _layer_errors(float_content: bytes, result: bytes, dataset: datasets.Samples, label: str) -> list[dict[str, Any]]:
    shape = flatbuffer.single_input_shape(flatbuffer.read_bytes(float_content, label), label)
    xs = []
    for x in datasets.samples(dataset, shape):
        xs.append(x)
        if len(xs) == quant_errors.SAMPLES:
            break
    progress(f"per-layer error on {len(xs)} samples of '{dataset.label}'")
    return quant_errors.layer_errors(float_content, result, xs)


# --- mixed precision: ai-edge-quantizer recipes -------------------------------------------------

_WEIGHT_ALGORITHMS = {"octav": "OCTAV", "mse": "MSE"}  # weights: → ai-edge-quantizer's algorithm key
# the ops whose weights both round (ai-edge-quantizer's MSE registers only these; OCTAV more, the same for weights)
_WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "CONV_2D_TRANSPOSE")


def _op_config(bits: int, per_channel: bool) -> dict[str, Any]:
    """An ai-edge-quantizer static op config: int8 weights, ``bits`` activations."""
    return {
        "activation_tensor_config": {
            "num_bits": bits,
            "symmetric": bits == 16,  # int16 activations are symmetric in TFLite's kernels
            "granularity": "TENSORWISE",
            "dtype": "INT",
        },
        "weight_tensor_config": {
            "num_bits": 8,
            "symmetric": True,
            "granularity": "CHANNELWISE" if per_channel else "TENSORWISE",
            "dtype": "INT",
        },
        "compute_precision": "INTEGER",
        "explicit_dequantize": False,
        "skip_checks": False,
        "min_weight_elements": 0,
    }


def recipe(model, scheme: Scheme, label: str) -> list[dict[str, Any]]:
    """The scheme as an ai-edge-quantizer recipe: the base type everywhere, then each override.

    In a recipe the last matching entry wins, so overrides apply in their order.
    """
    import re

    sg = model.subgraphs[0]
    # ai-edge-quantizer matches a regex against an op's scope: its output names, each followed by ';'
    scopes = ["".join(flatbuffer.tensor_name(sg.tensors[o]) + ";" for o in op.outputs) for op in sg.operators]
    entries = [
        {
            "regex": ".*",
            "operation": "*",
            "algorithm_key": "min_max_uniform_quantize",
            "op_config": _op_config(scheme.row.bits, scheme.per_channel),
        }
    ]
    weights = scheme.weights
    if weights != "min_max":  # the same int8 config, its weights' scales searched by OCTAV or MSE
        entries += [
            {
                "regex": ".*",
                "operation": op,
                "algorithm_key": _WEIGHT_ALGORITHMS[weights],
                "op_config": _op_config(scheme.row.bits, scheme.per_channel),
            }
            for op in _WEIGHTED_OPS
        ]
    for i, override in enumerate(scheme.overrides):
        where = f"{label}: overrides[{i}]"
        if "from" in override:
            start = flatbuffer.find_tensor(model, override["from"], f"{where}.from")
            names = surgery.downstream_outputs(model, start)
            if not names:
                raise StepError(f"{where}.from: no layer uses '{override['from']}'; name a tensor inside the model")
            regex = "^(?:" + "|".join(re.escape(n) for n in names) + ");$"
        else:
            regex = override["match"]
            if not any(re.search(regex, scope) for scope in scopes):
                raise StepError(
                    f"{where}.match: '{regex}' matches no layer output; names look like: " + ", ".join(scopes[:3])
                )
        if override["type"] == schemes.FLOAT:
            entries.append({"regex": regex, "operation": "*", "algorithm_key": "no_quantize", "op_config": {}})
        else:
            entries.append(
                {
                    "regex": regex,
                    "operation": "*",
                    "algorithm_key": "min_max_uniform_quantize",
                    "op_config": _op_config(schemes.override_bits(override["type"]), scheme.per_channel),
                }
            )
    if scheme.io == "float32":
        # ai-edge-quantizer gives all graph outputs one config (a virtual OUTPUT op whose scope is every
        # output's name), which would requantize an int16 tail's outputs to int8: leave them float instead
        entries.append({"regex": ".*", "operation": "OUTPUT", "algorithm_key": "no_quantize", "op_config": {}})
    return entries


def mixed(content: bytes, scheme: Scheme, qsvs: dict[str, Any], label: str) -> bytes:
    """``content`` quantized by the scheme's ai-edge-quantizer recipe with the ranges ``qsvs`` (as calibration.read)."""
    from ai_edge_quantizer import quantizer

    model = flatbuffer.read_bytes(content, label)
    if scheme.io == "uint8":
        raise StepError(f"{label}: io: uint8 is not available with overrides; use int8 or float32")
    qt = quantizer.Quantizer(bytearray(content))
    qt.load_quantization_recipe(recipe(model, scheme, label))
    try:
        result = bytes(qt.quantize(qsvs, enable_progress_report=False).quantized_model)
    except ValueError as exc:
        raise StepError(f"{label}: ai-edge-quantizer could not quantize the model: {exc}") from None
    quantized = flatbuffer.read_bytes(result, label)
    if scheme.io == "float32":
        quantized = surgery.float_io(_keep_output_names(quantized))
    return flatbuffer.to_bytes(quantized)


def _keep_output_names(model):
    """Float outputs under their own names, as ``surgery.float_io`` gives them.

    The recipe leaves the graph outputs float, so ai-edge-quantizer dequantizes
    each one from the type of the layer that makes it (an int16 tail stays int16 up
    to its output) and names the float tensor ``X_dequant``; it becomes ``X`` again,
    the integer one ``X_int``.
    """
    sg = model.subgraphs[0]
    made_by = {out: op for op in sg.operators for out in op.outputs}
    integer = (flatbuffer.schema.TensorType.INT8, flatbuffer.schema.TensorType.INT16)
    for index in sg.outputs:
        op = made_by.get(index)
        if op is None or opcodes.op_name(model, op) != "DEQUANTIZE" or sg.tensors[op.inputs[0]].type not in integer:
            continue
        inner = sg.tensors[op.inputs[0]]
        name = flatbuffer.tensor_name(inner)
        inner.name, sg.tensors[index].name = f"{name}_int", name
    return model


def precision(content: bytes) -> dict[str, int]:
    """How many ops compute in which precision, by the type of their first output."""
    model = flatbuffer.read_bytes(content, "quantized model")
    sg = model.subgraphs[0]
    counts: dict[str, int] = {}
    for op in sg.operators:
        if opcodes.op_name(model, op) in ("QUANTIZE", "DEQUANTIZE"):
            continue
        kind = flatbuffer.TYPE_NAMES.get(sg.tensors[op.outputs[0]].type, "?").lower()
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))
