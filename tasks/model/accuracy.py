"""The quantized model against its float original: the work of the evaluate step (tasks/steps/evaluate.py).

Both run in the LiteRT interpreter on the same inputs; integer inputs are
quantized and integer outputs dequantized with the model's own parameters.
Per output tensor: max abs error, RMSE, SNR (dB) and cosine similarity, the
mean over samples and the worst sample; the output with the lowest SNR is
named.  Then each of the model's tasks decodes both models' outputs and
compares the answers (tasks/model/metrics).  A Vela artifact has the accuracy of
the quantized model it was compiled from (Vela does not change the
arithmetic), so this runs once per quantized model.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tasks import atomic
from tasks.errors import StepError
from tasks.model import datasets, host_outputs
from tasks.model import expected as expected_outputs
from tasks.progress import progress
from tasks.tflite import flatbuffer, runtime, scaling

if TYPE_CHECKING:
    from tasks.results.records import Accuracy

SNR_CAP_DB = 200.0  # identical outputs: reported as 200 dB (JSON has no infinity)
MAX_CONFUSION_CLASSES = 50  # a classifier with more classes gets no confusion matrix (its picture would say nothing)


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


class Runner:
    """A model run through its serving signature, float in and float out."""

    def __init__(self, content: bytes):
        self.interpreter = runtime.interpreter(content)  # builtin kernels: the boards' and the table's arithmetic
        self.runner = self.interpreter.get_signature_runner(flatbuffer.SIGNATURE_KEY)
        self.inputs = self.runner.get_input_details()
        self.outputs = self.runner.get_output_details()

    def single_input(self, label: str) -> dict[str, Any]:
        """The details of the model's one input; an error naming ``label`` for a model with more."""
        if len(self.inputs) != 1:
            raise StepError(f"{label}: evaluation supports single-input models; this one has {len(self.inputs)} inputs")
        (detail,) = self.inputs.values()
        return detail

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        _, result = self.raw(x)
        return self.dequantized(result)

    def dequantized(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs as the model gives them, as floats (integer outputs with their own scale and zero point)."""
        return {key: scaling.dequantized(value, self.outputs[key]["quantization"]) for key, value in raw.items()}

    def raw(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The input as the model takes it, and its outputs as the model gives them (by signature name)."""
        ((name, detail),) = self.inputs.items()
        given = runtime.quantize_input(x, detail)
        return given, self.runner(**{name: given})


def run(
    float_model: Path | None,
    quantized: Path,
    out: Path,
    dataset: datasets.Samples,
    tasks: tuple[dict[str, Any], ...],
    label: str,
    in_sample: bool = False,
    pruned: bool = False,
    reference: str | None = None,
    kept: tuple[Path, int] | None = None,
    expected_file: Path | None = None,
) -> None:
    """Both models on the validation samples (the float one is ``reference``'s, models.REFERENCE, for a model that
    arrives quantized); without a float model (one that arrives quantized, without a
    reference), the quantized model against the labels alone.  ``kept`` (PATH, N): the quantized model's
    outputs on the first N samples are written to PATH (tasks/model/host_outputs.py), for the agreement
    steps.  ``expected_file``: the float model's outputs, kept once (tasks/model/expected.py)."""
    test = Runner(quantized.read_bytes())
    ref = Runner(float_model.read_bytes()) if float_model else None
    _check_pair(test, ref, dataset, label, reference)
    (detail,) = (ref or test).inputs.values()
    shape = tuple(int(d) for d in detail["shape"])
    xs = validation_inputs(dataset, shape, label)
    expected, got = [], []
    keeper = host_outputs.Keeper(test.outputs, kept[1] if kept else 0)
    stored = expected_outputs.read(expected_file, xs) if ref is not None else None
    for i, x in enumerate(xs, 1):
        given, raw = test.raw(x)
        keeper.add(given, raw)
        g = test.dequantized(raw)
        if ref is not None:
            e = stored[i - 1] if stored else ref(x)
            expected.append(e)
            g = {name: value.reshape(e[name].shape) for name, value in g.items()}
        got.append(g)
        if i % 16 == 0 and i < len(xs):
            progress(f"{i}/{len(xs)} samples of '{dataset.label}' run")
    outputs = {}
    if ref is not None:
        outputs = {
            name: summarise([compare(e[name], g[name]) for e, g in zip(expected, got, strict=True)])
            for name in ref.outputs
        }
    result: Accuracy = {
        "outputs": outputs,
        "worst_output": min(outputs, key=lambda n: outputs[n]["snr_db"]) if outputs else None,
        "samples": len(xs),
        "dataset": dataset.name,
        "part": dataset.part,
        "in_sample": in_sample,
        **(
            task_metrics(tasks, expected, got, shape, label, pruned)
            if ref is not None
            else {"tasks": [], "metrics": {}}
        ),
    }
    if dataset.labels is not None:
        truths = truths_of(dataset, len(xs), shape)
        classes = dataset.labels.classes
        labelled = label_metrics(tasks, expected if ref else None, got, truths, shape, label, classes, True, pruned)
        if labelled:
            result["labels"] = {"dataset": dataset.name, "samples": len(xs), **labelled}
            for name, m in labelled["metrics"].items():
                result["metrics"].update({name: m["quantized"], f"{name}_drop": m["drop"]})
    if kept:
        keeper.write(kept[0])
    atomic.write_json(out, result)
    progress(_line(result, dataset.label))


def validation_inputs(
    dataset: datasets.Samples, shape: tuple[int, ...], label: str, take: int | None = None
) -> list[np.ndarray]:
    """The validation samples, read for an input of ``shape`` (``take``: the first this many only); an error
    naming the dataset when it has none."""
    xs = list(itertools.islice(datasets.samples(dataset, list(shape)), take))
    if not xs:
        raise StepError(f"{label}: validation dataset '{dataset.label}' has no samples")
    return xs


def _check_pair(test: Runner, ref: Runner | None, dataset: datasets.Samples, label: str, reference: str | None):
    """The quantized model and its float reference take the same input and give the same outputs."""
    test.single_input(label)
    if ref is not None and sorted(ref.outputs) != sorted(test.outputs):
        raise StepError(
            f"{label}: the quantized model's outputs {sorted(test.outputs)} "
            f"differ from the float model's {sorted(ref.outputs)}" + _reference_fix(reference)
        )
    if ref is not None and len(ref.inputs) == 1:
        (want,), (got_in,) = ([list(d["shape"]) for d in r.inputs.values()] for r in (ref, test))
        if [int(d) for d in want] != [int(d) for d in got_in]:
            raise StepError(
                f"{label}: the float model's input is {[int(d) for d in want]}, the quantized model's "
                f"{[int(d) for d in got_in]}" + _reference_fix(reference)
            )
    if ref is None and dataset.labels is None:
        raise StepError(
            f"{label}: the model arrives quantized and has no float reference; give the validation dataset "
            f"'{dataset.name}' labels (datasets.{dataset.name}.labels) or the model a reference: FLOAT_MODEL"
        )


def task_metrics(tasks, expected: list, got: list, shape: tuple[int, ...], label: str, pruned: bool) -> dict[str, Any]:
    """Every task's metrics, and all of them by name (``metrics``); in a prune variant, a task whose output was cut
    away is skipped (and says so); in a whole model, a task naming an output the model lacks is an error."""
    from tasks.model import metrics

    done, by_name = [], {}
    for spec in tasks:
        missing = _missing_outputs(spec, expected[0], label, pruned)
        if missing:
            done.append({"type": spec["type"], "skipped": f"output {', '.join(missing)} is pruned away"})
            continue
        try:
            found = metrics.evaluate(spec, expected, got, shape)
        except StepError as exc:
            raise StepError(f"{label}: {exc}") from None
        clash = sorted(set(found) & set(by_name))
        if clash:
            raise StepError(f"{label}: two tasks give {', '.join(clash)}; give each model one task of a type")
        by_name.update(found)
        done.append({"type": spec["type"], **{k: spec[k] for k in metrics.OUTPUT_KEYS if k in spec}, "metrics": found})
    compat = {"top1_agreement": by_name["top1_agreement"]} if "top1_agreement" in by_name else {}
    return {"tasks": done, "metrics": by_name, **compat}


def _reference_fix(reference: str | None) -> str:
    return f"; models.{reference} is not this model's float model: name another as its reference" if reference else ""


def truths_of(dataset: datasets.Samples, count: int, shape: tuple[int, ...]) -> list[tuple[Any, Any]]:
    """(label, frame) of each of the first ``count`` samples: its labels, and where its image sits in the input."""
    from tasks.model import labels

    files = dataset.files[:count]
    truths = labels.read(dataset.labels, files, dataset.name)
    return [(t, datasets.frame(t.width, t.height, shape, dataset.preprocess)) for t in truths]


def label_metrics(
    tasks,
    expected: list | None,
    got: list,
    truths: list,
    shape: tuple[int, ...],
    label: str,
    classes: tuple = (),
    resampled: bool = True,
    pruned: bool = False,
) -> dict:
    """The label metrics of every task that has some (tasks.model.metrics.TaskType.truth): the float model's (when
    ``expected`` is given), the quantized model's, the drop in points and its 95 % bootstrap interval; and the
    pictures' data (a classifier's confusion matrices, a detector's precision/recall curves).  ``resampled=False``:
    no bootstrap (a search's candidates need the values alone)."""
    import importlib

    from tasks.model import metrics

    labels = [t for t, _ in truths]
    frames = [f for _, f in truths]
    found: dict[str, Any] = {}
    pictures: dict[str, Any] = {}
    for spec in tasks:
        row = metrics.BY_NAME[spec["type"]]
        if not row.truth or (labels and labels[0].format and labels[0].format not in row.labelled_by):
            continue  # no label metric, or none these labels give (load warned: rules.labels_fit_tasks)
        if _missing_outputs(spec, got[0], label, pruned):
            continue  # its output is pruned away (the task's record says so)
        module = importlib.import_module(f"tasks.model.metrics.{row.module}")
        try:
            quantized = module.answers(spec, got, labels, frames, shape)
            reference = module.answers(spec, expected, labels, frames, shape) if expected is not None else None
        except StepError as exc:
            raise StepError(f"{label}: {exc}") from None
        metrics_found, extra_f, extra_q = _scored(row, spec, module, reference, quantized, labels, resampled)
        found.update(metrics_found)
        if "confusion" in extra_q and len(extra_q["confusion"]) <= MAX_CONFUSION_CLASSES:
            count = len(extra_q["confusion"])
            pictures["confusion"] = {
                "classes": list(classes[:count]) + [str(i) for i in range(len(classes), count)],
                "float": extra_f.get("confusion"),
                "quantized": extra_q["confusion"],
            }
        if extra_q.get("pr_curve"):
            pictures["pr_curve"] = {
                "iou": 0.5,
                "recall": extra_q["pr_curve"]["recall"],
                "float": (extra_f.get("pr_curve") or {}).get("precision"),
                "quantized": extra_q["pr_curve"]["precision"],
            }
    return {"metrics": found, **pictures} if found else {}


def _scored(
    row, spec: dict, module, reference: list | None, quantized: list, labels: list, resampled: bool = True
) -> tuple[dict, dict, dict]:
    """One task's label metrics (float, quantized, drop, interval), and its pictures' data for each model."""
    from tasks.model.metrics import truth as stats

    whole_q, extra_q = module.score(spec, quantized, labels)
    whole_f, extra_f = module.score(spec, reference, labels) if reference is not None else ({}, {})
    memo: dict[bytes, tuple[dict, dict]] = {}
    resamples = row.resamples_for(len(labels))

    def on(indices) -> tuple[dict, dict]:
        key = indices.tobytes()  # every metric's bootstrap draws the same resamples (one seed): score each once
        if key not in memo:
            if row.sample_budget and memo and len(memo) % 20 == 0:
                progress(f"{spec['type']} against labels: {len(memo)}/{resamples} bootstrap resamples scored")
            picked = [labels[i] for i in indices]
            memo[key] = (
                module.score(spec, _pick(reference, indices), picked, pictures=False)[0],
                module.score(spec, _pick(quantized, indices), picked, pictures=False)[0],
            )
        return memo[key]

    found = {}
    for name in row.truth:
        f, q = whole_f.get(name), whole_q.get(name)
        interval = None
        if reference is not None and resampled:
            interval = stats.bootstrap_drop(
                lambda idx, name=name: (on(idx)[0][name], on(idx)[1][name]), len(labels), resamples
            )
        found[name] = {
            "float": f,
            "quantized": q,
            "drop": round(100 * (f - q), 4) if f is not None and q is not None else None,
            "interval": list(interval) if interval else None,
            "resamples": resamples,
        }
    return found, extra_f, extra_q


def _pick(answers: list | np.ndarray, indices: np.ndarray) -> list | np.ndarray:
    """The answers of the samples at ``indices`` (repeats included): a list's items, or an array's rows."""
    return answers[indices] if isinstance(answers, np.ndarray) else [answers[i] for i in indices]


def _missing_outputs(spec: dict, sample: dict, label: str, pruned: bool) -> list[str]:
    """The outputs a task reads that ``sample`` lacks: pruned away in a prune variant; in a whole model, an error."""
    from tasks.model import metrics

    missing = [n for n in metrics.outputs_used(spec) if n not in sample]
    if missing and not pruned:
        raise StepError(
            f"{label}: task {spec['type']} reads output {', '.join(missing)}, which the model does not have "
            f"(outputs: {', '.join(sample)}); fix models.{label.split('/')[0]}.task"
        )
    return missing


def _line(result: Accuracy, dataset: str) -> str:
    snr = ", ".join(f"{n} {m['snr_db']:.1f} dB" for n, m in result["outputs"].items())
    shown = [f"{k} {v:.4g}" for k, v in result["metrics"].items() if v is not None]
    mark = " (in-sample: also calibration samples)" if result["in_sample"] else ""
    said = f"SNR {snr}" if snr else "no float model to compare with"
    return f"{result['samples']} samples of '{dataset}'{mark}: {said}" + ("; " + ", ".join(shown) if shown else "")
