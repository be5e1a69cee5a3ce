"""The quantized model against its float original: the work of the evaluate step (tasks/steps/evaluate.py).

Both run in the LiteRT interpreter on the same inputs; integer inputs are
quantized and integer outputs dequantized with the model's own parameters.
Per output tensor: max abs error, RMSE, SNR (dB) and cosine similarity, the
mean over samples and the worst sample; for classifiers also top-1 agreement.
A Vela artifact has the accuracy of the quantized model it was compiled from
(Vela does not change the arithmetic), so this runs once per quantized model.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from tasks import atomic, datasets, tflite
from tasks.errors import StepError
from tasks.progress import progress

SNR_CAP_DB = 200.0  # identical outputs: reported as 200 dB (JSON has no infinity)


def compare(reference: np.ndarray, value: np.ndarray) -> dict[str, float]:
    """Error metrics of one output on one sample."""
    ref = reference.astype(np.float64).ravel()
    got = value.astype(np.float64).ravel()
    err = got - ref
    sse, power = float(np.sum(err**2)), float(np.sum(ref**2))
    if sse == 0:
        snr = SNR_CAP_DB
    elif power == 0:
        snr = -SNR_CAP_DB
    else:
        snr = min(SNR_CAP_DB, 10 * math.log10(power / sse))
    norms = float(np.linalg.norm(ref) * np.linalg.norm(got))
    cosine = float(np.dot(ref, got) / norms) if norms > 0 else (1.0 if sse == 0 else 0.0)
    return {
        "max_abs": float(np.max(np.abs(err))) if err.size else 0.0,
        "rmse": math.sqrt(sse / max(err.size, 1)),
        "snr_db": snr,
        "cosine": cosine,
    }


def summarise(per_sample: list[dict[str, float]]) -> dict[str, Any]:
    """Mean over samples, and the worst sample (lowest SNR)."""
    mean = {k: float(np.mean([s[k] for s in per_sample])) for k in ("max_abs", "rmse", "snr_db", "cosine")}
    worst_index = int(np.argmin([s["snr_db"] for s in per_sample]))
    return {**{k: round(v, 6) for k, v in mean.items()}, "worst": {"sample": worst_index, **per_sample[worst_index]}}


class _Runner:
    """A model run through its serving signature, float in and float out."""

    def __init__(self, content: bytes):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=content)
        self.runner = self.interpreter.get_signature_runner(tflite.SIGNATURE_KEY)
        self.inputs = self.runner.get_input_details()
        self.outputs = self.runner.get_output_details()

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        ((name, detail),) = self.inputs.items()
        result = self.runner(**{name: tflite.quantize_input(x, detail)})
        out = {}
        for key, value in result.items():
            scale, zero = self.outputs[key]["quantization"]
            out[key] = (
                (value.astype(np.float32) - zero) * scale if np.issubdtype(value.dtype, np.integer) and scale else value
            )
        return out


def run(float_model: Path, quantized: Path, out: Path, dataset: datasets.Samples, task: str | None, label: str) -> None:
    ref, test = _Runner(float_model.read_bytes()), _Runner(quantized.read_bytes())
    if len(ref.inputs) != 1:
        raise StepError(f"{label}: evaluation supports single-input models; this one has {len(ref.inputs)} inputs")
    if sorted(ref.outputs) != sorted(test.outputs):
        raise StepError(
            f"{label}: the quantized model's outputs {sorted(test.outputs)} differ from the float model's {sorted(ref.outputs)}"
        )
    (detail,) = ref.inputs.values()
    shape = [int(d) for d in detail["shape"]]
    per_output: dict[str, list[dict[str, float]]] = {name: [] for name in ref.outputs}
    agree: list[bool] = []
    xs = list(datasets.samples(dataset, shape))
    if not xs:
        raise StepError(f"{label}: validation dataset '{dataset.name}' has no samples")
    for x in xs:
        expected, got = ref(x), test(x)
        for name in per_output:
            per_output[name].append(compare(expected[name], got[name].reshape(expected[name].shape)))
        if task == "classification":
            (name,) = list(expected)[:1]
            agree.append(int(np.argmax(expected[name])) == int(np.argmax(got[name])))
    result: dict[str, Any] = {
        "outputs": {name: summarise(samples) for name, samples in per_output.items()},
        "samples": len(xs),
        "dataset": dataset.name,
    }
    if task == "classification":
        result["top1_agreement"] = round(sum(agree) / len(agree), 6)
    atomic.write_json(out, result)
    shown = ", ".join(f"{n} {m['snr_db']:.1f} dB" for n, m in result["outputs"].items())
    progress(
        f"{len(xs)} samples of '{dataset.name}': SNR {shown}"
        + (f", top-1 agreement {result['top1_agreement']:.1%}" if task == "classification" else "")
    )
