"""Classification: does the quantized model pick the float model's class?

``top1_agreement``: the share of samples whose top-1 class is the float
model's top-1.  ``top5_agreement``: the share whose top-5 classes contain the
float model's top-1 (None with five classes or fewer, where it says nothing).
Logits or probabilities: the order is the same either way.

Against labels: ``top1_accuracy`` (the share of samples whose top-1 class is
their label), ``top5_accuracy``, and the confusion matrix (rows: the label,
columns: the model's top-1).
"""

from __future__ import annotations

import numpy as np

from tasks.errors import StepError
from tasks.model.metrics.common import output, rounded, stacked


def metrics(spec: dict, reference: list, quantized: list, input_shape: tuple[int, ...]) -> dict:
    name = output(spec, reference[0], "class scores")
    ref = stacked(reference, name).reshape(len(reference), -1)
    got = stacked(quantized, name).reshape(len(quantized), -1)
    expected = np.argmax(ref, axis=1)
    top1 = np.mean(np.argmax(got, axis=1) == expected)
    top5 = None
    if ref.shape[1] > 5:
        # stable order: ties rank the lower class index first, as argmax does
        best5 = np.argsort(-got, axis=1, kind="stable")[:, :5]
        top5 = np.mean([e in row for e, row in zip(expected, best5, strict=True)])
    return {"top1_agreement": rounded(top1), "top5_agreement": rounded(top5)}


# --- against labels (datasets.NAME.labels: folders or csv) -----------------------------------------------------


def answers(spec: dict, outputs: list, truths: list, frames: list, input_shape: tuple[int, ...]) -> np.ndarray:
    """Each sample's class scores, [samples, classes]; every label checked against the model's classes."""
    name = output(spec, outputs[0], "class scores")
    scores = stacked(outputs, name).reshape(len(outputs), -1)
    for truth in truths:
        if truth.label is None:
            raise StepError(
                f"task classification: {truth.file} has no class label; give the dataset labels with a class per "
                "image (labels.format: folders or csv)"
            )
        if truth.label >= scores.shape[1]:
            raise StepError(
                f"task classification: {truth.file} is labelled class {truth.label}, but output '{name}' has "
                f"{scores.shape[1]} classes; fix the dataset's labels.classes"
            )
    return scores


def score(spec: dict, found: np.ndarray, truths: list, pictures: bool = True) -> tuple[dict, dict]:
    """top1_accuracy and top5_accuracy (None with five classes or fewer), and (``pictures``) the confusion matrix."""
    from tasks.model.metrics import truth

    scores = np.asarray(found)
    labels = np.array([t.label for t in truths])
    top1 = truth.top_k_hits(scores, labels, 1)
    top5 = truth.top_k_hits(scores, labels, 5)
    found = {"top1_accuracy": rounded(top1.mean()), "top5_accuracy": None if top5 is None else rounded(top5.mean())}
    if not pictures:
        return found, {}
    return found, {"confusion": truth.confusion(np.argmax(scores, axis=1), labels, scores.shape[1]).tolist()}
