"""Object detection: the quantized model's boxes, decoded and suppressed, matched to the float model's.

Two output layouts:

- ``mediapipe_ssd``: raw regressors [1, N, C] and scores [1, N, 1] against SSD
  anchors, decoded as MediaPipe does (BlazeFace, BlazePose's detector, the
  palm detector).  Ported from google-ai-edge/mediapipe (read at commit
  85c0cdc, 2026-08):

  - ``ssd_anchors``: ``SsdAnchorsCalculator::GenerateAnchors``, the grid path
    (mediapipe/calculators/tflite/ssd_anchors_calculator.cc), with the option
    defaults of ssd_anchors_calculator.proto;
  - ``decode_mediapipe``: ``TensorsToDetectionsCalculator::DecodeBoxes``, the
    score loop of ``ProcessCPU`` and ``ConvertToDetections``
    (mediapipe/calculators/tensor/tensors_to_detections_calculator.cc);
  - ``weighted_nms``: ``NonMaxSuppressionCalculator::WeightedNonMaxSuppression``
    with ``overlap_type: INTERSECTION_OVER_UNION``
    (mediapipe/calculators/util/non_max_suppression_calculator.cc), which all
    three graphs use (``algorithm: WEIGHTED``).

  Not ported: multiscale anchors, feature_map_height/width, fixed_anchors,
  box_format, apply_exponential_on_box_size, ignore/allow classes,
  flip_vertically, max_results, and the letterbox removal after NMS (both
  models see the same letterboxed input, so the comparison needs none).

- ``boxes``: boxes [1, N, 4] (ymin, xmin, ymax, xmax in [0, 1]) and scores
  [1, N] or [1, N, classes]; the class is the argmax, then hard NMS per class.

Each float detection is matched to at most one quantized detection of the same
class (greedy, highest IoU first).  ``detection_recall``: matched float
detections over all float detections; ``detection_precision``: matched over
quantized detections; ``detection_iou_mean``: the matched pairs' mean IoU;
``detection_count_float`` / ``detection_count_quantized``: totals over samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.errors import StepError
from tasks.model.metrics.common import rounded

# SsdAnchorsCalculatorOptions: the defaults of ssd_anchors_calculator.proto, and the fields without one
ANCHOR_DEFAULTS: dict[str, Any] = {
    "anchor_offset_x": 0.5,
    "anchor_offset_y": 0.5,
    "aspect_ratios": (),
    "reduce_boxes_in_lowest_layer": False,
    "interpolated_scale_aspect_ratio": 1.0,  # 1.0, not 0: one more anchor a cell unless set to 0
    "fixed_anchor_size": False,
}
ANCHOR_REQUIRED = ("num_layers", "min_scale", "max_scale", "input_size_height", "input_size_width", "strides")

# TensorsToDetectionsCalculatorOptions: the defaults of tensors_to_detections_calculator.proto; None is unset
# (num_classes, num_boxes, num_coords: taken from the tensors when unset, checked against them when set)
DECODER_DEFAULTS: dict[str, Any] = {
    "num_classes": None,
    "num_boxes": None,
    "num_coords": None,
    "box_coord_offset": 0,
    "keypoint_coord_offset": 0,
    "num_keypoints": 0,
    "num_values_per_keypoint": 2,
    "x_scale": 0.0,
    "y_scale": 0.0,
    "w_scale": 0.0,
    "h_scale": 0.0,
    "reverse_output_order": False,
    "sigmoid_score": False,
    "score_clipping_thresh": None,
    "min_score_thresh": None,
}

# MediaPipe's graphs, at google-ai-edge/mediapipe 85c0cdc: the options of their SsdAnchorsCalculator,
# TensorsToDetectionsCalculator and NonMaxSuppressionCalculator nodes, as written there; the rest are
# the proto defaults above (interpolated_scale_aspect_ratio 1.0: two anchors a cell and layer).
ANCHOR_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # mediapipe/modules/pose_detection/pose_detection_cpu.pbtxt (pose_detection_gpu.pbtxt: the same)
    # 28*28*2 + 14*14*2 + 7*7*(3*2) = 1568 + 392 + 294 = 2254 anchors
    "pose_detection": {
        "anchors": {
            "num_layers": 5,
            "min_scale": 0.1484375,
            "max_scale": 0.75,
            "input_size_height": 224,
            "input_size_width": 224,
            "anchor_offset_x": 0.5,
            "anchor_offset_y": 0.5,
            "strides": (8, 16, 32, 32, 32),
            "aspect_ratios": (1.0,),
            "fixed_anchor_size": True,
        },
        "decoder": {
            "num_classes": 1,
            "num_boxes": 2254,
            "num_coords": 12,
            "box_coord_offset": 0,
            "keypoint_coord_offset": 4,
            "num_keypoints": 4,
            "num_values_per_keypoint": 2,
            "sigmoid_score": True,
            "score_clipping_thresh": 100.0,
            "reverse_output_order": True,
            "x_scale": 224.0,
            "y_scale": 224.0,
            "h_scale": 224.0,
            "w_scale": 224.0,
            "min_score_thresh": 0.5,
        },
        "nms": {"min_suppression_threshold": 0.3, "overlap_type": "INTERSECTION_OVER_UNION", "algorithm": "WEIGHTED"},
    },
    # mediapipe/modules/face_detection/face_detection_short_range.pbtxt (tensor size, strides,
    # interpolated_scale_aspect_ratio, num_boxes, scales, min_score_thresh) filling in
    # mediapipe/modules/face_detection/face_detection.pbtxt (everything else);
    # 16*16*2 + 8*8*(3*2) = 512 + 384 = 896 anchors
    "face_detection_short_range": {
        "anchors": {
            "num_layers": 4,
            "min_scale": 0.1484375,
            "max_scale": 0.75,
            "input_size_height": 128,
            "input_size_width": 128,
            "anchor_offset_x": 0.5,
            "anchor_offset_y": 0.5,
            "strides": (8, 16, 16, 16),
            "aspect_ratios": (1.0,),
            "fixed_anchor_size": True,
            "interpolated_scale_aspect_ratio": 1.0,
        },
        "decoder": {
            "num_classes": 1,
            "num_boxes": 896,
            "num_coords": 16,
            "box_coord_offset": 0,
            "keypoint_coord_offset": 4,
            "num_keypoints": 6,
            "num_values_per_keypoint": 2,
            "sigmoid_score": True,
            "score_clipping_thresh": 100.0,
            "reverse_output_order": True,
            "x_scale": 128.0,
            "y_scale": 128.0,
            "h_scale": 128.0,
            "w_scale": 128.0,
            "min_score_thresh": 0.5,
        },
        "nms": {"min_suppression_threshold": 0.3, "overlap_type": "INTERSECTION_OVER_UNION", "algorithm": "WEIGHTED"},
    },
    # mediapipe/modules/palm_detection/palm_detection_cpu.pbtxt
    # 24*24*2 + 12*12*(3*2) = 1152 + 864 = 2016 anchors
    "palm_detection": {
        "anchors": {
            "num_layers": 4,
            "min_scale": 0.1484375,
            "max_scale": 0.75,
            "input_size_height": 192,
            "input_size_width": 192,
            "anchor_offset_x": 0.5,
            "anchor_offset_y": 0.5,
            "strides": (8, 16, 16, 16),
            "aspect_ratios": (1.0,),
            "fixed_anchor_size": True,
        },
        "decoder": {
            "num_classes": 1,
            "num_boxes": 2016,
            "num_coords": 18,
            "box_coord_offset": 0,
            "keypoint_coord_offset": 4,
            "num_keypoints": 7,
            "num_values_per_keypoint": 2,
            "sigmoid_score": True,
            "score_clipping_thresh": 100.0,
            "reverse_output_order": True,
            "x_scale": 192.0,
            "y_scale": 192.0,
            "w_scale": 192.0,
            "h_scale": 192.0,
            "min_score_thresh": 0.5,
        },
        "nms": {"min_suppression_threshold": 0.3, "overlap_type": "INTERSECTION_OVER_UNION", "algorithm": "WEIGHTED"},
    },
}

LAYOUTS = ("mediapipe_ssd", "boxes")


@dataclass(frozen=True, kw_only=True)
class Detection:
    box: tuple[float, float, float, float]  # ymin, xmin, ymax, xmax, a fraction of the model input
    score: float
    label: int = 0
    keypoints: tuple[tuple[float, float], ...] = ()  # (x, y), a fraction of the model input


# --- SSD anchors (SsdAnchorsCalculator) ------------------------------------------------------------------------


def ssd_anchors(options: dict[str, Any]) -> np.ndarray:
    """[N, 4] anchors (x_center, y_center, w, h), as ``SsdAnchorsCalculator`` generates them.

    Consecutive layers of the same stride share one grid: each cell holds the
    anchors of all of them, in layer order (MediaPipe's "same strides" merge).
    """
    o = _anchor_options(options)
    strides, rows, layer = o["strides"], [], 0
    while layer < o["num_layers"]:
        sizes, last = [], layer
        while last < len(strides) and strides[last] == strides[layer]:
            sizes += _layer_sizes(o, last)
            last += 1
        height = math.ceil(o["input_size_height"] / strides[layer])
        width = math.ceil(o["input_size_width"] / strides[layer])
        y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
        centres = np.stack([(x.ravel() + o["anchor_offset_x"]) / width, (y.ravel() + o["anchor_offset_y"]) / height], 1)
        wh = np.ones((len(sizes), 2)) if o["fixed_anchor_size"] else np.array(sizes, dtype=np.float64)
        rows.append(np.concatenate([np.repeat(centres, len(sizes), axis=0), np.tile(wh, (height * width, 1))], 1))
        layer = last
    return np.concatenate(rows).astype(np.float64)


def _anchor_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(ANCHOR_DEFAULTS) - set(ANCHOR_REQUIRED))
    if unknown:
        allowed = ", ".join(sorted((*ANCHOR_REQUIRED, *ANCHOR_DEFAULTS)))
        raise StepError(f"SSD anchor options: unknown {', '.join(unknown)}; allowed: {allowed}")
    missing = [k for k in ANCHOR_REQUIRED if k not in options]
    if missing:
        raise StepError(f"SSD anchor options: {', '.join(missing)} missing; give {', '.join(ANCHOR_REQUIRED)}")
    o = {**ANCHOR_DEFAULTS, **options}
    if len(o["strides"]) != o["num_layers"]:
        raise StepError(
            f"SSD anchor options: {len(o['strides'])} strides for num_layers {o['num_layers']}; give one a layer"
        )
    return o


def _scale(o: dict[str, Any], index: int) -> float:
    """CalculateScale: min_scale to max_scale, linear in the stride index."""
    count = len(o["strides"])
    if count == 1:
        return (o["min_scale"] + o["max_scale"]) * 0.5
    return o["min_scale"] + (o["max_scale"] - o["min_scale"]) * index / (count - 1.0)


def _layer_sizes(o: dict[str, Any], index: int) -> list[tuple[float, float]]:
    """(w, h) of the anchors one layer adds to each cell."""
    scale = _scale(o, index)
    if index == 0 and o["reduce_boxes_in_lowest_layer"]:
        pairs = [(1.0, 0.1), (2.0, scale), (0.5, scale)]  # (aspect ratio, scale), fixed by MediaPipe
    else:
        pairs = [(ratio, scale) for ratio in o["aspect_ratios"]]
        if o["interpolated_scale_aspect_ratio"] > 0.0:
            following = 1.0 if index == len(o["strides"]) - 1 else _scale(o, index + 1)
            pairs.append((o["interpolated_scale_aspect_ratio"], math.sqrt(scale * following)))
    return [(s * math.sqrt(r), s / math.sqrt(r)) for r, s in pairs]


# --- MediaPipe decoding (TensorsToDetectionsCalculator) and weighted NMS ---------------------------------------


def decode_mediapipe(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, options: dict[str, Any], nms_iou: float = 0.3
) -> list[Detection]:
    """Regressors [N, C] and scores [N] or [N, classes] against anchors [N, 4] → detections after weighted NMS.

    ``options``: TensorsToDetectionsCalculator options (DECODER_DEFAULTS lists
    them); ``nms_iou``: NonMaxSuppressionCalculator's min_suppression_threshold.
    """
    raw_boxes = np.asarray(raw_boxes, dtype=np.float64)
    raw_scores = np.asarray(raw_scores, dtype=np.float64).reshape(len(raw_scores), -1)
    o = _decoder_options(options, raw_boxes.shape, raw_scores.shape, np.shape(anchors))
    boxes, keypoints = _regress(raw_boxes, np.asarray(anchors, dtype=np.float64), o)
    scores = raw_scores
    if o["sigmoid_score"]:
        if o["score_clipping_thresh"] is not None:
            scores = np.clip(scores, -o["score_clipping_thresh"], o["score_clipping_thresh"])
        with np.errstate(over="ignore"):
            scores = 1.0 / (1.0 + np.exp(-scores))
    best, labels = scores.max(axis=1), scores.argmax(axis=1)
    height, width = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    keep = (height >= 0) & (width >= 0)  # ConvertToDetections drops negative (and NaN) sizes
    if o["min_score_thresh"] is not None:
        keep &= ~(best < o["min_score_thresh"])
    kept = np.flatnonzero(keep)
    return _weighted_nms(boxes[kept], best[kept], labels[kept], keypoints[kept], nms_iou)


def _decoder_options(options: dict[str, Any], boxes: tuple, scores: tuple, anchors: tuple) -> dict[str, Any]:
    unknown = sorted(set(options) - set(DECODER_DEFAULTS))
    if unknown:
        raise StepError(f"decoder options: unknown {', '.join(unknown)}; allowed: {', '.join(DECODER_DEFAULTS)}")
    o = {**DECODER_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    expected = {"num_boxes": boxes[0], "num_coords": boxes[1], "num_classes": scores[1]}
    for key, got in expected.items():
        if o[key] is not None and o[key] != got:
            raise StepError(
                f"decoder options: {key} {o[key]}, but the tensors give {got} "
                f"(boxes {list(boxes)}, scores {list(scores)})"
            )
        o[key] = got
    if o["num_values_per_keypoint"] != 2 or o["num_coords"] != 4 + 2 * o["num_keypoints"]:
        raise StepError(
            f"decoder options: {o['num_coords']} values a box is not 4 + 2 x num_keypoints {o['num_keypoints']} "
            f"(num_values_per_keypoint {o['num_values_per_keypoint']}); fix num_keypoints"
        )
    if scores[0] != boxes[0] or tuple(anchors) != (boxes[0], 4):
        raise StepError(f"decoder: {boxes[0]} boxes, {scores[0]} scores and anchors {list(anchors)} do not fit")
    if min(o["x_scale"], o["y_scale"], o["w_scale"], o["h_scale"]) <= 0:
        raise StepError("decoder options: x_scale, y_scale, w_scale and h_scale must be set (> 0)")
    return o


def _regress(raw: np.ndarray, anchors: np.ndarray, o: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """DecodeBoxes: boxes [N, 4] (ymin, xmin, ymax, xmax) and keypoints [N, K, 2] (x, y)."""
    ax, ay, aw, ah = (anchors[:, i : i + 1] for i in range(4))
    first = o["box_coord_offset"]
    box = raw[:, first : first + 4]
    # reverse_output_order: box format XYWH (and keypoints x, y); else YXHW (keypoints y, x)
    xc, yc, w, h = (box[:, i : i + 1] for i in ((0, 1, 2, 3) if o["reverse_output_order"] else (1, 0, 3, 2)))
    xc, yc = xc / o["x_scale"] * aw + ax, yc / o["y_scale"] * ah + ay
    h, w = h / o["h_scale"] * ah, w / o["w_scale"] * aw
    boxes = np.concatenate([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=1)
    first, count = o["keypoint_coord_offset"], o["num_keypoints"]
    points = raw[:, first : first + 2 * count].reshape(len(raw), count, 2)
    if not o["reverse_output_order"]:
        points = points[..., ::-1]
    x = points[..., 0] / o["x_scale"] * aw + ax
    y = points[..., 1] / o["y_scale"] * ah + ay
    return boxes, np.stack([x, y], axis=-1)


def weighted_nms(detections: list[Detection], iou_threshold: float) -> list[Detection]:
    """NonMaxSuppressionCalculator's WEIGHTED algorithm (IoU overlap), all classes together.

    Highest score first: every remaining detection whose IoU with it is above
    ``iou_threshold`` (itself included) is folded into one detection, whose box
    corners and keypoints are the score-weighted means and whose score and
    label are the top one's.
    """
    count = len(detections)
    keypoints = max((len(d.keypoints) for d in detections), default=0)
    return _weighted_nms(
        np.array([d.box for d in detections], dtype=np.float64).reshape(count, 4),
        np.array([d.score for d in detections], dtype=np.float64),
        np.array([d.label for d in detections], dtype=np.int64),
        np.array([d.keypoints for d in detections], dtype=np.float64).reshape(count, keypoints, 2),
        iou_threshold,
    )


def _weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, keypoints: np.ndarray, iou_threshold: float
) -> list[Detection]:
    remaining = np.argsort(-scores, kind="stable")
    out = []
    while len(remaining):
        top = remaining[0]
        close = _iou(boxes[top], boxes[remaining]) > iou_threshold
        candidates = remaining[close]
        box, points = boxes[top], keypoints[top]
        if len(candidates):
            weights = scores[candidates][:, None]
            box = (boxes[candidates] * weights).sum(axis=0) / weights.sum()
            points = (keypoints[candidates] * weights[:, :, None]).sum(axis=0) / weights.sum()
        out.append(_detection(box, scores[top], labels[top], points))
        if not close.any():
            break  # as MediaPipe: nothing folded (a box of no area) ends the loop
        remaining = remaining[~close]
    return out


def _detection(box: np.ndarray, score: float, label: int, points: np.ndarray) -> Detection:
    return Detection(
        box=tuple(float(v) for v in box),
        score=float(score),
        label=int(label),
        keypoints=tuple((float(x), float(y)) for x, y in points),
    )


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box with each of ``boxes``."""
    return _ious(np.asarray(box).reshape(1, 4), boxes)[0]


def _ious(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[M, K] IoU of boxes a [M, 4] with boxes b [K, 4] (ymin, xmin, ymax, xmax), 0 where they do not overlap."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1, 1, 4), np.asarray(b, dtype=np.float64).reshape(1, -1, 4)
    inter = np.prod(np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0.0, None), -1)
    union = np.prod(np.clip(a[..., 2:] - a[..., :2], 0.0, None), -1) + np.prod(
        np.clip(b[..., 2:] - b[..., :2], 0.0, None), -1
    )
    union = union - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """IoU of two boxes (ymin, xmin, ymax, xmax)."""
    return float(_iou(np.asarray(a), np.asarray(b))[0])


# --- plain boxes and scores --------------------------------------------------------------------------------------


def decode_boxes(boxes: np.ndarray, scores: np.ndarray, min_score: float, nms_iou: float) -> list[Detection]:
    """Boxes [N, 4] (ymin, xmin, ymax, xmax) and scores [N] or [N, classes] → detections.

    The class is the argmax; boxes scoring below ``min_score`` are dropped;
    then hard NMS per class: a box is dropped when its IoU with a kept box of
    its class, of higher score, is above ``nms_iou``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(len(boxes), -1)
    best, labels = scores.max(axis=1), scores.argmax(axis=1)
    order = [i for i in np.argsort(-best, kind="stable") if best[i] >= min_score]
    kept: list[int] = []
    for i in order:
        same = [k for k in kept if labels[k] == labels[i]]
        if not same or not (_iou(boxes[i], boxes[same]) > nms_iou).any():
            kept.append(i)
    return [Detection(box=tuple(float(v) for v in boxes[i]), score=float(best[i]), label=int(labels[i])) for i in kept]


# --- matching and the metrics ------------------------------------------------------------------------------------


def match(reference: list[Detection], test: list[Detection], iou_threshold: float) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching: (reference index, test index, IoU), highest IoU first, same class only.

    A pair matches at ``iou_threshold`` or more; ties go to the lower indices.
    """
    if not reference or not test:
        return []
    ious = _ious(np.array([d.box for d in reference]), np.array([d.box for d in test]))
    same = np.array([d.label for d in reference])[:, None] == np.array([d.label for d in test])[None, :]
    rows, cols = np.nonzero(same & (ious >= iou_threshold))
    order = np.lexsort((cols, rows, -ious[rows, cols]))
    pairs = [(float(ious[rows[k], cols[k]]), int(rows[k]), int(cols[k])) for k in order]
    used_ref, used_test, out = set(), set(), []
    for value, i, j in pairs:
        if i not in used_ref and j not in used_test:
            used_ref.add(i)
            used_test.add(j)
            out.append((i, j, value))
    return out


def metrics(
    spec: dict,
    reference: list[dict[str, np.ndarray]],
    quantized: list[dict[str, np.ndarray]],
    input_shape: tuple[int, ...],
) -> dict[str, float | int | None]:
    """Recall, precision and mean IoU of the quantized model's detections against the float model's.

    ``spec``: ``layout`` (mediapipe_ssd, or boxes; default mediapipe_ssd when
    ``anchors`` is given, else boxes); ``anchors`` (mediapipe_ssd: a preset
    name, or SsdAnchorsCalculator options); ``boxes`` / ``scores`` (output
    names; default picked by shape); ``min_score`` (default the preset's
    min_score_thresh, else 0.5); ``nms_iou`` (default the preset's
    min_suppression_threshold, else 0.3); ``match_iou`` (default 0.5).
    """
    if len(reference) != len(quantized) or not reference:
        raise StepError(f"task detection: {len(reference)} float samples but {len(quantized)} quantized ones")
    decode = decoder(spec, reference[0], tuple(input_shape))
    ref = [decode(sample) for sample in reference]
    got = [decode(sample) for sample in quantized]
    pairs = [p for r, g in zip(ref, got, strict=True) for p in match(r, g, spec.get("match_iou", 0.5))]
    count_ref, count_got = sum(map(len, ref)), sum(map(len, got))
    return {
        "detection_recall": rounded(len(pairs) / count_ref) if count_ref else None,
        "detection_precision": rounded(len(pairs) / count_got) if count_got else None,
        "detection_iou_mean": rounded(np.mean([p[2] for p in pairs])) if pairs else None,
        "detection_count_float": count_ref,
        "detection_count_quantized": count_got,
    }


def decoder(spec: dict, sample: dict[str, np.ndarray], input_shape: tuple[int, ...]) -> Callable[[dict], list]:
    """The function that turns one sample's outputs into detections; every shape checked on ``sample``."""
    layout = spec.get("layout", "mediapipe_ssd" if "anchors" in spec else "boxes")
    if layout not in LAYOUTS:
        raise StepError(f"task detection: layout '{layout}' is not one of {', '.join(LAYOUTS)}; fix task.layout")
    shapes = {name: [int(d) for d in np.shape(value)] for name, value in sample.items()}
    if layout == "boxes":
        boxes = _pick(spec, shapes, "boxes", "boxes", lambda s: s[-1:] == [4], spec.get("scores"))
        scores = _pick(spec, shapes, "scores", "scores", lambda s: True, boxes)
        _check_pair(shapes, boxes, scores, width=4)
        min_score, nms_iou = spec.get("min_score", 0.5), spec.get("nms_iou", 0.3)
        return lambda s: decode_boxes(_row(s, boxes), _row(s, scores), min_score, nms_iou)
    scores = _pick(spec, shapes, "scores", "scores", lambda s: s[-1:] == [1], spec.get("boxes"))
    boxes = _pick(spec, shapes, "boxes", "regressors", lambda s: s[-1:] != [1], scores)
    _check_pair(shapes, boxes, scores, width=None)
    anchors, options, nms = _mediapipe_settings(spec, shapes, boxes, scores, input_shape)
    return lambda s: decode_mediapipe(_row(s, boxes), _row(s, scores), anchors, options, nms)


def _pick(spec: dict, shapes: dict, key: str, what: str, fits: Callable[[list[int]], bool], other: str | None) -> str:
    """The output ``spec[key]`` names, or the only one (other than ``other``) whose shape ``fits``."""
    listed = ", ".join(f"{n} {s}" for n, s in shapes.items())
    if spec.get(key):
        if spec[key] not in shapes:
            raise StepError(f"task detection: no output '{spec[key]}' (outputs: {listed}); fix task.{key}")
        return spec[key]
    found = [n for n, s in shapes.items() if n != other and fits(s)]
    if len(found) != 1:
        raise StepError(
            f"task detection: cannot tell the {what} output by its shape among {listed}; name it as task.{key}"
        )
    return found[0]


def _check_pair(shapes: dict, boxes: str, scores: str, width: int | None) -> None:
    b, s = shapes[boxes], shapes[scores]
    if len(b) != 3 or b[0] != 1 or (width and b[2] != width):
        raise StepError(
            f"task detection: output '{boxes}' has shape {b}; the boxes need "
            f"[1, boxes, {width or 'values'}]; fix task.boxes"
        )
    if len(s) not in (2, 3) or s[0] != 1 or s[1] != b[1]:
        raise StepError(
            f"task detection: output '{scores}' has shape {s} for {b[1]} boxes in '{boxes}'; "
            f"the scores need [1, {b[1]}] or [1, {b[1]}, classes]; fix task.scores"
        )


def _row(sample: dict[str, np.ndarray], name: str) -> np.ndarray:
    value = np.asarray(sample[name], dtype=np.float64)
    return value.reshape(value.shape[1:])


def _mediapipe_settings(spec: dict, shapes: dict, boxes: str, scores: str, input_shape: tuple[int, ...]) -> tuple:
    """(anchors, decoder options, NMS IoU) of ``spec['anchors']``, checked against the model."""
    given = spec.get("anchors")
    presets = ", ".join(f"{n} {ssd_anchors(p['anchors']).shape[0]}" for n, p in sorted(ANCHOR_PRESETS.items()))
    if given is None:
        raise StepError(
            f"task detection: layout mediapipe_ssd needs anchors (the presets give {presets} anchors; "
            "or SsdAnchorsCalculator options); add task.anchors"
        )
    if isinstance(given, str):
        label, (anchors, decoder, nms_iou) = f"anchors '{given}'", _preset(given, input_shape)
    else:
        label, nms_iou = "the anchors of task.anchors", 0.3
        anchors, decoder = _explicit(dict(given), shapes[boxes][-1], input_shape)
    count, width = shapes[boxes][1], shapes[boxes][2]
    if anchors.shape[0] != count:
        raise StepError(
            f"task detection: {label} give {anchors.shape[0]} anchors but output '{boxes}' has {count} boxes "
            f"(shape {shapes[boxes]}); fix task.anchors (the presets give {presets}) "
            "or give the model's own anchor options"
        )
    if decoder["num_coords"] != width:
        raise StepError(
            f"task detection: output '{boxes}' has {width} values a box (shape {shapes[boxes]}) but {label} decode "
            f"{decoder['num_coords']} (4 box + {decoder['num_keypoints']} keypoints x 2); "
            "fix task.anchors or task.boxes"
        )
    decoder["min_score_thresh"] = spec.get("min_score", decoder.get("min_score_thresh", 0.5))
    classes = shapes[scores][2] if len(shapes[scores]) == 3 else 1
    try:
        _decoder_options(decoder, (count, width), (count, classes), anchors.shape)
    except StepError as exc:
        raise StepError(f"task detection: {label}: {exc}") from None
    return anchors, decoder, spec.get("nms_iou", nms_iou)


def _preset(name: str, input_shape: tuple[int, ...]) -> tuple[np.ndarray, dict[str, Any], float]:
    if name not in ANCHOR_PRESETS:
        raise StepError(
            f"task detection: anchors '{name}' is not one of {', '.join(sorted(ANCHOR_PRESETS))}; fix task.anchors"
        )
    preset = ANCHOR_PRESETS[name]
    size = [preset["anchors"]["input_size_height"], preset["anchors"]["input_size_width"]]
    if list(input_shape[1:3]) != size:
        raise StepError(
            f"task detection: anchors '{name}' are for a {size[0]}x{size[1]} input "
            f"but the model takes {list(input_shape)}; fix task.anchors"
        )
    return ssd_anchors(preset["anchors"]), dict(preset["decoder"]), preset["nms"]["min_suppression_threshold"]


def _explicit(given: dict, width: int, input_shape: tuple[int, ...]) -> tuple[np.ndarray, dict[str, Any]]:
    """Anchors and decoder of SsdAnchorsCalculator options (plus, optionally, TensorsToDetectionsCalculator ones).

    input_size_height / input_size_width default to the model input's.
    Decoder options not given are the three presets' shared settings: scales
    the input size, x-first order, sigmoid scores clipped at 100, and
    (width - 4) / 2 keypoints after the box.
    """
    height, side = input_shape[1], input_shape[2]
    decoder = {
        "x_scale": float(side),
        "y_scale": float(height),
        "w_scale": float(side),
        "h_scale": float(height),
        "reverse_output_order": True,
        "sigmoid_score": True,
        "score_clipping_thresh": 100.0,
        "num_coords": width,
        "keypoint_coord_offset": 4,
        "num_keypoints": max(0, (width - 4) // 2),
    }
    decoder.update({k: given.pop(k) for k in list(given) if k in DECODER_DEFAULTS})
    given = {"input_size_height": height, "input_size_width": side, **given}
    try:
        return ssd_anchors(given), decoder
    except StepError as exc:
        raise StepError(f"task detection: task.anchors: {exc}") from None


# --- against labels (datasets.NAME.labels: coco) ---------------------------------------------------------------


def answers(spec: dict, outputs: list, truths: list, frames: list, input_shape: tuple[int, ...]) -> list[list]:
    """Each sample's detections, decoded and suppressed, as boxes in pixels of the image its label describes."""
    from tasks.model.metrics.truth import Found

    decode = decoder(spec, outputs[0], tuple(input_shape))
    height, width = input_shape[1], input_shape[2]
    found = []
    for sample, frame in zip(outputs, frames, strict=True):
        boxes = []
        for d in decode(sample):
            ymin, xmin, ymax, xmax = d.box
            x0, y0 = frame.point(xmin * width, ymin * height)
            x1, y1 = frame.point(xmax * width, ymax * height)
            x0, x1 = max(0.0, x0), min(float(frame.width), x1)  # the letterbox's padding is not in the image
            y0, y1 = max(0.0, y0), min(float(frame.height), y1)
            if x1 > x0 and y1 > y0:
                boxes.append(Found(label=d.label, box=(x0, y0, x1 - x0, y1 - y0), score=d.score))
        found.append(boxes)
    return found


def score(spec: dict, found: list[list], truths: list, pictures: bool = True) -> tuple[dict, dict]:
    """COCO's mAP@[.5:.95] and mAP@.5 (pycocotools), and the precision/recall curve at IoU .5."""
    from tasks.model.metrics import truth

    result = truth.coco_boxes(truths, found)
    curve = result.get("pr_curve")
    return {"map50_95": result["map50_95"], "map50": result["map50"]}, {"pr_curve": curve} if curve else {}
