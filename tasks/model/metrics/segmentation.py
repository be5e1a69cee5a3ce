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
