"""Segmentation: the IoU of the quantized model's mask with the float model's.

One channel: a pixel is foreground where its value is above ``threshold``
(after ``activation``: ``sigmoid`` for logits, as MediaPipe's segmentation
heads; ``none`` for probabilities).  Several channels: each pixel's class is
its argmax, and a sample's IoU is the mean over the classes either mask has.
Two empty masks agree: IoU 1.  ``mask_iou`` is the mean over samples,
``mask_iou_min`` the worst sample's.
"""

from __future__ import annotations

import numpy as np

from tasks.errors import StepError
from tasks.model.metrics.common import output, rounded, stacked


def masks(spec: dict, values: np.ndarray) -> tuple[np.ndarray, bool]:
    """[samples, H, W] labels, and whether they are binary (0 background, 1 foreground)."""
    if values.ndim == 4 and values.shape[-1] > 1:
        return np.argmax(values, axis=-1), False
    values = values.reshape(values.shape[:3]) if values.ndim == 4 else values
    if spec.get("activation", "sigmoid") == "sigmoid":
        values = 1.0 / (1.0 + np.exp(-values))
    return (values > spec.get("threshold", 0.5)).astype(np.int64), True


def iou(a: np.ndarray, b: np.ndarray, binary: bool) -> float:
    """Foreground IoU of binary masks; else the mean IoU over the classes either mask has."""
    classes = [1] if binary else sorted(set(np.unique(a)) | set(np.unique(b)))
    scores = []
    for c in classes:
        union = np.sum((a == c) | (b == c))
        if union:
            scores.append(np.sum((a == c) & (b == c)) / union)
    return float(np.mean(scores)) if scores else 1.0


def metrics(spec: dict, reference: list, quantized: list, input_shape: tuple[int, ...]) -> dict:
    name = output(spec, reference[0], "mask")
    (ref, binary), (got, _) = masks(spec, stacked(reference, name)), masks(spec, stacked(quantized, name))
    per_sample = [iou(r, g, binary) for r, g in zip(ref, got, strict=True)]
    return {"mask_iou": rounded(np.mean(per_sample)), "mask_iou_min": rounded(np.min(per_sample))}


# --- against labels (datasets.NAME.labels: masks) --------------------------------------------------------------


def answers(spec: dict, outputs: list, truths: list, frames: list, input_shape: tuple[int, ...]) -> list[np.ndarray]:
    """Each sample's confusion matrix of the model's mask, taken back to the image's pixels, with its label mask.

    One channel: the label mask's non-zero pixels are foreground.  Several: a
    pixel's value is its class; values beyond the model's classes (e.g. 255,
    "void") are left out.
    """
    from PIL import Image

    from tasks.model.metrics import truth as metrics

    name = output(spec, outputs[0], "mask")
    predicted, binary = masks(spec, stacked(outputs, name))
    classes = 2 if binary else int(np.asarray(outputs[0][name]).shape[-1])
    found = []
    for mask, truth, frame in zip(predicted, truths, frames, strict=True):
        if truth.mask is None:
            raise StepError(f"task segmentation: {truth.file} has no mask; give the dataset labels.format: masks")
        with Image.open(truth.mask) as im:
            label = np.asarray(im.convert("L") if im.mode not in ("L", "P", "I") else im, dtype=np.int64)
        if binary:
            label = (label > 0).astype(np.int64)
        height, width = mask.shape  # the mask may be coarser than the input: its pixels cover input / mask each
        down_y, down_x = height / input_shape[1], width / input_shape[2]
        rows = (np.arange(frame.height) + 0.5) * frame.scale_y + frame.offset_y
        cols = (np.arange(frame.width) + 0.5) * frame.scale_x + frame.offset_x
        rows = np.clip(np.floor(rows * down_y), 0, height - 1)
        cols = np.clip(np.floor(cols * down_x), 0, width - 1)
        back = mask[np.ix_(rows.astype(np.int64), cols.astype(np.int64))]
        found.append(metrics.confusion(back, label, classes))
    return found


def score(spec: dict, found: list[np.ndarray], truths: list, pictures: bool = True) -> tuple[dict, dict]:
    """Mean IoU over the classes, from the pixels of every sample together."""
    from tasks.model.metrics import truth

    return {"miou": rounded(truth.mean_iou(np.sum(found, axis=0)))}, {}
