"""Metrics against labels, computed the standard way: the numbers a paper or a model card would quote.

Boxes and keypoints go through pycocotools' own ``COCOeval``, so mAP and
keypoint AP mean exactly what they mean on COCO's leaderboard (matching,
crowd regions, 101-point interpolation); class and pixel metrics are numpy.

The hand-over to pycocotools happens in memory: image ids are positions in
``truths`` plus one (a bootstrap resample that repeats an image still gives
distinct images), category ids are class indices plus one, annotation ids
count from one.  pycocotools prints as it works; its output is swallowed so a
step's output stays its own.  pycocotools is imported inside the functions:
only the steps that score against labels pay for it.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tasks.model.labels import Truth

OTHER_SIGMA = 0.072  # OKS sigma of every keypoint when there are not COCO's 17 and none are given


@dataclass(frozen=True, kw_only=True)
class Found:
    """One predicted object, in pixels of the original image (the frame of ``Truth``'s boxes)."""

    label: int  # the model's class index
    box: tuple[float, float, float, float]  # x, y, width, height
    score: float
    keypoints: tuple[float, ...] = ()  # x, y, v triples; OKS reads x and y only


# --- boxes and keypoints: pycocotools -------------------------------------------------------------------------


def coco_boxes(truths: Sequence[Truth], found: Sequence[Sequence[Found]]) -> dict[str, Any]:
    """COCO box mAP of ``found`` (one sequence per image of ``truths``) and the precision-recall curve at IoU .5.

    ``map50_95``: AP averaged over IoU .50:.05:.95 (COCOeval's stats[0]); ``map50``: AP at IoU .5 (stats[1]);
    ``pr_curve``: the interpolated precision at COCO's 101 recall points, IoU .5, every area, 100 detections an
    image, averaged over the categories that have ground truth.  None (curve too) without any ground truth;
    0.0 with ground truth but no detection.  Values rounded to 6 decimals.
    """
    _same_length(truths, found)
    ground = _ground(truths, found, keypoints=False)
    results = [_result(i, f) for i, image in enumerate(found) for f in image]
    evaluation = _evaluate(ground, results, "bbox")
    return {
        "map50_95": _stat(evaluation.stats[0]),
        "map50": _stat(evaluation.stats[1]),
        "pr_curve": _pr_curve(evaluation),
    }


def coco_keypoints(
    truths: Sequence[Truth], found: Sequence[Sequence[Found]], sigmas: Sequence[float] | None = None
) -> dict[str, Any]:
    """COCO keypoint AP (OKS .50:.05:.95, 20 detections an image: COCOeval's stats[0]), rounded to 6 decimals.

    Ground truth: the annotations that have keypoints (a box-only one is not a person to find); one whose
    keypoints are all unlabelled (v 0) is ignored, as COCO ignores ``num_keypoints`` 0.  Detections: the found
    objects that have keypoints.  ``sigmas``: one per keypoint; default COCO's 17 when the ground truth has 17
    keypoints, else 0.072 for every keypoint (about the mean of COCO's).  OKS divides by the ground truth's
    ``area``.  None without any ground truth that counts.
    """
    _same_length(truths, found)
    count = _keypoint_count(truths, found)
    if sigmas is not None and len(sigmas) != count:
        raise ValueError(f"coco_keypoints: {len(sigmas)} sigmas for {count} keypoints; give one a keypoint")
    ground = _ground(truths, found, keypoints=True)
    results = [
        {**_result(i, f), "keypoints": [float(v) for v in f.keypoints]}
        for i, image in enumerate(found)
        for f in image
        if f.keypoints
    ]
    if sigmas is None and count != 17:
        sigmas = [OTHER_SIGMA] * count
    evaluation = _evaluate(ground, results, "keypoints", sigmas)
    return {"oks_ap": _stat(evaluation.stats[0])}


def _same_length(truths: Sequence[Truth], found: Sequence[Sequence[Found]]) -> None:
    if len(truths) != len(found):
        raise ValueError(f"{len(truths)} images of ground truth but detections for {len(found)}: give one list each")


def _keypoint_count(truths: Sequence[Truth], found: Sequence[Sequence[Found]]) -> int:
    """The number of keypoints an object has: the same in every annotation and detection that has any."""
    counts = {len(b.keypoints) for t in truths for b in t.boxes if b.keypoints}
    counts |= {len(f.keypoints) for image in found for f in image if f.keypoints}
    if len(counts) > 1 or any(c % 3 for c in counts):
        raise ValueError(f"keypoints of {sorted(counts)} values: every object needs the same number of x, y, v triples")
    return next(iter(counts), 0) // 3


def _ground(truths: Sequence[Truth], found: Sequence[Sequence[Found]], *, keypoints: bool) -> dict[str, Any]:
    """The COCO ground-truth dataset: every image, the annotations (with keypoints only, for keypoints)."""
    boxes = [(i, b) for i, t in enumerate(truths) for b in t.boxes if b.keypoints or not keypoints]
    labels = {b.label for _, b in boxes} | {f.label for image in found for f in image if f.keypoints or not keypoints}
    annotations = []
    for n, (i, b) in enumerate(boxes, start=1):
        annotation = {
            "id": n,
            "image_id": i + 1,
            "category_id": b.label + 1,
            "bbox": [float(v) for v in b.box],
            "area": float(b.area),
            "iscrowd": int(b.crowd),
        }
        if keypoints:
            annotation["keypoints"] = [float(v) for v in b.keypoints]
            annotation["num_keypoints"] = sum(1 for v in b.keypoints[2::3] if v > 0)
        annotations.append(annotation)
    return {
        "images": [{"id": i + 1, "width": t.width, "height": t.height} for i, t in enumerate(truths)],
        "categories": [{"id": label + 1, "name": str(label)} for label in sorted(labels)],
        "annotations": annotations,
    }


def _result(position: int, f: Found) -> dict[str, Any]:
    return {"image_id": position + 1, "category_id": f.label + 1, "bbox": [float(v) for v in f.box], "score": f.score}


def _evaluate(ground: dict, results: list[dict], kind: str, sigmas: Sequence[float] | None = None) -> Any:
    """COCOeval run through evaluate, accumulate and summarize, its printing swallowed."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = ground
        truth.createIndex()
        if results:
            detections = truth.loadRes(results)
        else:  # loadRes refuses an empty list: an empty result set, as loadRes would build it
            detections = COCO()
            detections.dataset = {"images": ground["images"], "categories": ground["categories"], "annotations": []}
            detections.createIndex()
        evaluation = COCOeval(truth, detections, iouType=kind)
        if sigmas is not None:
            evaluation.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation


def _stat(value: float) -> float | None:
    """A COCOeval summary number; its -1 (no ground truth) is None."""
    return None if value == -1 else round(float(value), 6)


def _pr_curve(evaluation: Any) -> dict[str, list[float]] | None:
    """Precision at each recall point, IoU .5, area "all", the most detections; mean over categories with ground
    truth (pycocotools marks the others -1)."""
    precision = evaluation.eval["precision"][0, :, :, 0, -1]  # [recall points, categories]
    counted = precision[:, (precision > -1).all(axis=0)]
    if counted.shape[1] == 0:
        return None
    return {
        "recall": [round(float(r), 6) for r in evaluation.params.recThrs],
        "precision": [round(float(p), 6) for p in counted.mean(axis=1)],
    }


# --- classes and pixels: numpy --------------------------------------------------------------------------------


def top_k_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray | None:
    """[N] bool: each sample's label is among its k best classes of ``scores`` [N, C].

    Ties rank the lower class index first, as argmax does.  None when k > 1 and C <= k, where every label is.
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    classes = scores.shape[1]
    if k < 1:
        raise ValueError(f"top_k_hits: k is {k}; it counts classes from 1")
    if k > 1 and classes <= k:
        return None
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels run {labels.min()}..{labels.max()} but the scores have {classes} classes")
    own = scores[np.arange(len(labels)), labels][:, None]
    lower = np.arange(classes)[None, :] < labels[:, None]
    ahead = (scores > own) | ((scores == own) & lower)
    return ahead.sum(axis=1) < k


def confusion(predicted: np.ndarray, truth: np.ndarray, classes: int) -> np.ndarray:
    """int64 [classes, classes], rows the truth, columns the prediction, over every element (pixels too).

    Truth outside [0, classes) is not counted (a mask's "void", 255); a prediction outside it is an error.
    """
    predicted, truth = np.asarray(predicted).ravel(), np.asarray(truth).ravel()
    if predicted.shape != truth.shape:
        raise ValueError(f"confusion: {predicted.size} predictions for {truth.size} labels")
    counted = (truth >= 0) & (truth < classes)
    predicted, truth = predicted[counted].astype(np.int64), truth[counted].astype(np.int64)
    if predicted.size and (predicted.min() < 0 or predicted.max() >= classes):
        raise ValueError(f"confusion: predictions run {predicted.min()}..{predicted.max()}, outside {classes} classes")
    return np.bincount(truth * classes + predicted, minlength=classes * classes).reshape(classes, classes)


def mean_iou(matrix: np.ndarray) -> float | None:
    """Mean over the classes with any pixel (truth or prediction) of TP / (TP + FP + FN); None when none has."""
    matrix = np.asarray(matrix, dtype=np.float64)
    hit = np.diag(matrix)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - hit
    present = union > 0
    if not present.any():
        return None
    return float(np.mean(hit[present] / union[present]))


# --- uncertainty -----------------------------------------------------------------------------------------------


def bootstrap_drop(
    score: Callable[[np.ndarray], tuple[float | None, float | None]], n: int, resamples: int = 1000, seed: int = 0
) -> tuple[float, float] | None:
    """95 % percentile interval of the drop in points, 100 x (float - quantized), over bootstrap resamples.

    Each resample draws n of the n sample indices with replacement (``np.random.default_rng(seed)``);
    ``score(indices)`` gives (float value, quantized value) on them.  Resamples where either is None are left
    out; None when none is left.  Rounded to 4 decimals.
    """
    if n < 1:
        return None
    rng = np.random.default_rng(seed)
    drops = []
    for _ in range(resamples):
        reference, quantized = score(rng.integers(0, n, size=n))
        if reference is not None and quantized is not None:
            drops.append(100.0 * (reference - quantized))
    if not drops:
        return None
    low, high = np.percentile(drops, [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)
