"""Detection decoding and matching (tasks/model/metrics/detection.py): every expected value worked out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tasks.errors import StepError
from tasks.model.metrics.detection import (
    ANCHOR_PRESETS,
    Detection,
    decode_boxes,
    decode_mediapipe,
    match,
    metrics,
    ssd_anchors,
    weighted_nms,
)

REPO = Path(__file__).resolve().parent.parent
POSE_MODEL = REPO / "models" / "fetched" / "pose_detection.tflite"
ASTRONAUT = REPO / "data" / "photos" / "astronaut.png"

TINY = {
    "num_layers": 1,
    "min_scale": 0.2,
    "max_scale": 0.4,
    "input_size_height": 16,
    "input_size_width": 16,
    "strides": [8],
    "aspect_ratios": [1.0, 4.0],
}


# --- anchors ---------------------------------------------------------------------------------------------------


def test_anchors_of_one_layer():
    # 16 / 8 = 2 cells a side: centres (0 + 0.5) / 2 = 0.25 and (1 + 0.5) / 2 = 0.75, y outer, x inner.
    # One stride: scale = (0.2 + 0.4) / 2 = 0.3.  Ratio 1: w = h = 0.3.  Ratio 4: w = 0.3 * 2 = 0.6,
    # h = 0.3 / 2 = 0.15.  Interpolated anchor (default ratio 1.0), last layer so the next scale is 1.0:
    # sqrt(0.3 * 1.0) = sqrt(0.3) both ways.  3 anchors a cell, 4 cells: 12.
    s = math.sqrt(0.3)
    cell = [[0.3, 0.3], [0.6, 0.15], [s, s]]
    expected = [[x, y, w, h] for y in (0.25, 0.75) for x in (0.25, 0.75) for w, h in cell]
    np.testing.assert_allclose(ssd_anchors(TINY), expected, rtol=0, atol=1e-12)


def test_anchors_of_two_strides_scale_linearly_and_fixed_size_is_one():
    # strides 8 and 16 on 16x16: a 2x2 grid, then 1x1 (centre 0.5).  Scales: 0.2 + (0.6 - 0.2) * i / (2 - 1):
    # 0.2 for layer 0, 0.6 for layer 1.  No interpolated anchor (0): one anchor a cell, 4 + 1 = 5.
    options = {
        **TINY,
        "num_layers": 2,
        "strides": [8, 16],
        "max_scale": 0.6,
        "aspect_ratios": [1.0],
        "interpolated_scale_aspect_ratio": 0.0,
    }
    expected = [
        [0.25, 0.25, 0.2, 0.2],
        [0.75, 0.25, 0.2, 0.2],
        [0.25, 0.75, 0.2, 0.2],
        [0.75, 0.75, 0.2, 0.2],
        [0.5, 0.5, 0.6, 0.6],
    ]
    np.testing.assert_allclose(ssd_anchors(options), expected, atol=1e-12)
    fixed = ssd_anchors({**options, "fixed_anchor_size": True})
    np.testing.assert_allclose(fixed[:, 2:], np.ones((5, 2)))  # w = h = 1: the regressors are in pixels
    np.testing.assert_allclose(fixed[:, :2], np.array(expected)[:, :2])


def test_layers_of_the_same_stride_share_a_grid_and_the_lowest_can_be_reduced():
    # strides [8, 8]: one 2x2 grid, each cell holding layer 0's anchors then layer 1's.
    # Scales 0.2 and 0.6; interpolated: sqrt(0.2 * 0.6) = sqrt(0.12) for layer 0, sqrt(0.6 * 1.0) for layer 1.
    options = {**TINY, "num_layers": 2, "strides": [8, 8], "max_scale": 0.6, "aspect_ratios": [1.0]}
    sizes = [0.2, math.sqrt(0.12), 0.6, math.sqrt(0.6)]
    anchors = ssd_anchors(options)
    assert anchors.shape == (16, 4)  # 4 cells x 4 anchors
    np.testing.assert_allclose(anchors[:4, 2], sizes, atol=1e-12)
    np.testing.assert_allclose(anchors[:4, :2], [[0.25, 0.25]] * 4)
    # reduce_boxes_in_lowest_layer: layer 0 gets MediaPipe's fixed (ratio, scale) (1, 0.1), (2, 0.2), (0.5, 0.2):
    # (w, h) = (0.1, 0.1), (0.2 * sqrt 2, 0.2 / sqrt 2), (0.2 / sqrt 2, 0.2 * sqrt 2); layer 1 as before.
    r = math.sqrt(2)
    reduced = ssd_anchors({**options, "reduce_boxes_in_lowest_layer": True})
    np.testing.assert_allclose(
        reduced[:5, 2:],
        [[0.1, 0.1], [0.2 * r, 0.2 / r], [0.2 / r, 0.2 * r], [0.6, 0.6], [math.sqrt(0.6)] * 2],
        atol=1e-12,
    )


@pytest.mark.parametrize(
    ("preset", "count"),
    [
        (
            "pose_detection",
            2254,
        ),  # 224/8 = 28: 28*28*2 + (224/16 = 14) 14*14*2 + (224/32 = 7) 7*7*(3 layers * 2) = 1568 + 392 + 294
        ("face_detection_short_range", 896),  # 128/8 = 16: 16*16*2 + (128/16 = 8) 8*8*(3 * 2) = 512 + 384
        ("palm_detection", 2016),  # 192/8 = 24: 24*24*2 + (192/16 = 12) 12*12*(3 * 2) = 1152 + 864
    ],
)
def test_presets_give_mediapipes_anchor_counts(preset: str, count: int):
    anchors = ssd_anchors(ANCHOR_PRESETS[preset]["anchors"])
    assert anchors.shape == (count, 4)
    assert ANCHOR_PRESETS[preset]["decoder"]["num_boxes"] == count
    # fixed_anchor_size: every w and h is 1; the first centre is half a stride-8 cell: 0.5 / (input / 8)
    assert np.all(anchors[:, 2:] == 1.0)
    size = ANCHOR_PRESETS[preset]["anchors"]["input_size_width"]
    assert anchors[0, 0] == pytest.approx(0.5 / (size / 8))


# --- MediaPipe decoding and weighted NMS ------------------------------------------------------------------------

POSE_LIKE = {
    "num_coords": 12,
    "keypoint_coord_offset": 4,
    "num_keypoints": 4,
    "reverse_output_order": True,
    "sigmoid_score": True,
    "score_clipping_thresh": 100.0,
    "min_score_thresh": 0.5,
    "x_scale": 224.0,
    "y_scale": 224.0,
    "w_scale": 224.0,
    "h_scale": 224.0,
}


def test_decoding_a_regressor_row_against_its_anchor():
    # Anchor (x 0.5, y 0.5, w 1, h 1); x-first rows, scales 224:
    # x = 22.4 / 224 * 1 + 0.5 = 0.6; y = -11.2 / 224 + 0.5 = 0.45; w = 44.8 / 224 = 0.2; h = 67.2 / 224 = 0.3
    # box: ymin 0.45 - 0.15 = 0.3, xmin 0.6 - 0.1 = 0.5, ymax 0.6, xmax 0.7.
    # keypoints (x, y): (0, 0) -> (0.5, 0.5); (22.4, 22.4) -> (0.6, 0.6); (-112, 0) -> (0, 0.5); (0, 224) -> (0.5, 1.5)
    # score: sigmoid(ln 3) = 1 / (1 + 1/3) = 0.75.
    row = [22.4, -11.2, 44.8, 67.2, 0, 0, 22.4, 22.4, -112, 0, 0, 224]
    (det,) = decode_mediapipe(np.array([row]), np.array([math.log(3)]), np.array([[0.5, 0.5, 1.0, 1.0]]), POSE_LIKE)
    np.testing.assert_allclose(det.box, [0.3, 0.5, 0.6, 0.7], atol=1e-12)
    np.testing.assert_allclose(det.keypoints, [[0.5, 0.5], [0.6, 0.6], [0.0, 0.5], [0.5, 1.5]], atol=1e-12)
    assert det.score == pytest.approx(0.75)
    assert det.label == 0


def test_decoding_y_first_rows_scales_by_the_anchor_and_drops_low_scores_and_negative_sizes():
    # y-first (reverse_output_order false): [y, x, h, w].  Anchor (x 0.25, y 0.75, w 0.5, h 2.0), scales 224:
    # y = 22.4 / 224 * 2 + 0.75 = 0.95; x = 44.8 / 224 * 0.5 + 0.25 = 0.35; h = 11.2 / 224 * 2 = 0.1;
    # w = 22.4 / 224 * 0.5 = 0.05 -> box (0.9, 0.325, 1.0, 0.375).  No sigmoid: the score is the raw 0.75.
    # Row 1 scores 0.25 < min_score_thresh 0.5: dropped.  Row 2 has w = -22.4 / 224 < 0: dropped, as MediaPipe.
    options = {
        "num_coords": 4,
        "x_scale": 224.0,
        "y_scale": 224.0,
        "w_scale": 224.0,
        "h_scale": 224.0,
        "min_score_thresh": 0.5,
    }
    rows = np.array([[22.4, 44.8, 11.2, 22.4], [0, 0, 10, 10], [0, 0, 10, -22.4]])
    anchors = np.array([[0.25, 0.75, 0.5, 2.0]] * 3)
    (det,) = decode_mediapipe(rows, np.array([[0.75], [0.25], [0.9]]), anchors, options)
    np.testing.assert_allclose(det.box, [0.9, 0.325, 1.0, 0.375], atol=1e-12)
    assert det.score == 0.75
    assert det.keypoints == ()


def test_weighted_nms_folds_overlapping_boxes_into_their_score_weighted_mean():
    # A (0, 0, 0.4, 0.4) score 0.6 and B (0.1, 0.1, 0.5, 0.5) score 0.2: intersection 0.3 * 0.3 = 0.09,
    # union 0.16 + 0.16 - 0.09 = 0.23, IoU 0.391 > 0.3: folded.  Weights 0.6 and 0.2 (sum 0.8):
    # ymin = xmin = (0 * 0.6 + 0.1 * 0.2) / 0.8 = 0.025; ymax = xmax = (0.4 * 0.6 + 0.5 * 0.2) / 0.8 = 0.425.
    # keypoint: x = (0.2 * 0.6 + 0.6 * 0.2) / 0.8 = 0.3, y = (0.2 * 0.6 + 1.0 * 0.2) / 0.8 = 0.4.
    # The score stays the top one's, 0.6.  C (0.6, 0.6, 0.9, 0.9) overlaps neither: kept as it is.
    a = Detection(box=(0.0, 0.0, 0.4, 0.4), score=0.6, label=0, keypoints=((0.2, 0.2),))
    b = Detection(box=(0.1, 0.1, 0.5, 0.5), score=0.2, label=0, keypoints=((0.6, 1.0),))
    c = Detection(box=(0.6, 0.6, 0.9, 0.9), score=0.4, label=0, keypoints=((0.7, 0.7),))
    folded, kept = weighted_nms([b, c, a], 0.3)
    np.testing.assert_allclose(folded.box, [0.025, 0.025, 0.425, 0.425], atol=1e-12)
    np.testing.assert_allclose(folded.keypoints, [[0.3, 0.4]], atol=1e-12)
    assert folded.score == 0.6
    # C alone is its own weighted mean (x * 0.4 / 0.4): equal up to rounding
    assert kept.box == pytest.approx(c.box) and kept.keypoints[0] == pytest.approx(c.keypoints[0])
    assert (kept.score, kept.label) == (0.4, 0)
    # at a threshold of 0.4 (above IoU 0.391) nothing folds: three detections, highest score first
    assert [d.score for d in weighted_nms([b, c, a], 0.4)] == [0.6, 0.4, 0.2]


# --- plain boxes -------------------------------------------------------------------------------------------------


def test_plain_boxes_take_the_argmax_class_and_suppress_per_class():
    # A: class 1 (0.9).  B: class 1 (0.8), IoU with A 0.391 > 0.3 (as above): suppressed.
    # C: B's box but class 0 (0.7): another class, kept.  D: best 0.4 < min_score 0.5: dropped.
    boxes = np.array([[0, 0, 0.4, 0.4], [0.1, 0.1, 0.5, 0.5], [0.1, 0.1, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9]])
    scores = np.array([[0.1, 0.9], [0.2, 0.8], [0.7, 0.3], [0.3, 0.4]])
    assert decode_boxes(boxes, scores, 0.5, 0.3) == [
        Detection(box=(0.0, 0.0, 0.4, 0.4), score=0.9, label=1),
        Detection(box=(0.1, 0.1, 0.5, 0.5), score=0.7, label=0),
    ]
    # one score a box: all class 0, so C now falls to A as B does
    assert decode_boxes(boxes, np.array([0.9, 0.8, 0.7, 0.4]), 0.5, 0.3) == [
        Detection(box=(0.0, 0.0, 0.4, 0.4), score=0.9, label=0)
    ]


# --- matching ----------------------------------------------------------------------------------------------------


def test_matching_takes_the_highest_iou_first():
    # T0 (0, 0, 1, 0.875) against R0 (0, 0, 1, 1): 0.875 / 1 = 0.875; against R1 (0, 0, 1, 0.75): 0.75 / 0.875 = 0.857.
    # T0 goes to R0; R1 is left unmatched though its IoU is above the threshold.
    ref = [Detection(box=(0, 0, 1, 1), score=0.9), Detection(box=(0, 0, 1, 0.75), score=0.8)]
    (pair,) = match(ref, [Detection(box=(0, 0, 1, 0.875), score=0.9)], 0.5)
    assert pair[:2] == (0, 0) and pair[2] == pytest.approx(0.875)


def test_matching_misses_extras_and_other_classes():
    # R0 = T0 (IoU 1).  R1 is missed: T1 has its box but class 1.  T2 (0, 0.5, 0.5, 1) touches nothing: extra.
    ref = [Detection(box=(0, 0, 0.5, 0.5), score=0.9), Detection(box=(0.5, 0.5, 1, 1), score=0.9)]
    test = [
        Detection(box=(0, 0, 0.5, 0.5), score=0.9),
        Detection(box=(0.5, 0.5, 1, 1), score=0.9, label=1),
        Detection(box=(0, 0.5, 0.5, 1), score=0.9),
    ]
    assert match(ref, test, 0.5) == [(0, 0, 1.0)]


def test_an_iou_just_under_the_threshold_does_not_match():
    # (0, 0, 1, 1) against (0, 0, 1, 0.49): 0.49 / 1 = 0.49 < 0.5; (0, 0, 1, 0.5): exactly 0.5, which matches.
    ref = [Detection(box=(0, 0, 1, 1), score=0.9)]
    assert match(ref, [Detection(box=(0, 0, 1, 0.49), score=0.9)], 0.5) == []
    assert match(ref, [Detection(box=(0, 0, 1, 0.5), score=0.9)], 0.5) == [(0, 0, 0.5)]


# --- the metrics -------------------------------------------------------------------------------------------------


def sample(boxes: list, scores: list) -> dict[str, np.ndarray]:
    return {"boxes": np.array([boxes], dtype=np.float32), "scores": np.array([scores], dtype=np.float32)}


def test_metrics_of_two_samples():
    # Sample 1: float A (0, 0, 0.5, 0.5) 0.9 and B (0.5, 0.5, 1, 1) 0.8; quantized A' (0, 0, 0.5, 0.25) 0.85,
    #   IoU 0.125 / 0.25 = 0.5: matched; its B scores 0.4 < 0.5: gone.  Float 2, quantized 1, matched 1.
    # Sample 2: float C (0, 0, 1, 1) 0.7; quantized C 0.9 (IoU 1), D (0, 0, 0.25, 0.25) 0.6 and E (0.75, 0.75, 1, 1)
    #   0.6, each IoU 0.0625 with C (< nms 0.3, so kept), matching nothing.  Float 1, quantized 3, matched 1.
    # Recall 2 / 3 = 0.666667, precision 2 / 4 = 0.5, mean IoU (0.5 + 1) / 2 = 0.75.
    reference = [sample([[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]], [0.9, 0.8]), sample([[0, 0, 1, 1]], [0.7])]
    quantized = [
        sample([[0, 0, 0.5, 0.25], [0.5, 0.5, 1, 1]], [0.85, 0.4]),
        sample([[0, 0, 1, 1], [0, 0, 0.25, 0.25], [0.75, 0.75, 1, 1]], [0.9, 0.6, 0.6]),
    ]
    assert metrics({"type": "detection", "layout": "boxes"}, reference, quantized, (1, 64, 64, 3)) == {
        "detection_recall": 0.666667,
        "detection_precision": 0.5,
        "detection_iou_mean": 0.75,
        "detection_count_float": 3,
        "detection_count_quantized": 4,
    }


def test_metrics_are_none_where_nothing_was_found():
    # every score 0.2 < min_score 0.5: no detection on either side, so no ratio is defined
    nothing = [sample([[0, 0, 1, 1]], [0.2])]
    assert metrics({"layout": "boxes"}, nothing, nothing, (1, 8, 8, 3)) == {
        "detection_recall": None,
        "detection_precision": None,
        "detection_iou_mean": None,
        "detection_count_float": 0,
        "detection_count_quantized": 0,
    }


def test_metrics_of_mediapipe_ssd_with_explicit_anchors():
    # Anchors: 16x16, stride 8, ratio 1, no interpolated anchor, fixed size: 4 anchors, the first at (0.25, 0.25).
    # Decoder from the input size: scales 16, x first, sigmoid.  Float row 0: (0, 0, 8, 8) -> centre (0.25, 0.25),
    # w = h = 8 / 16 = 0.5: box (0, 0, 0.5, 0.5), score sigmoid(ln 3) = 0.75.  Quantized row 0: x 0.8 / 16 = 0.05
    # further right: (0, 0.05, 0.5, 0.55); IoU = 0.5 * 0.45 / (0.25 + 0.25 - 0.225) = 0.225 / 0.275 = 0.818182.
    # The other rows score sigmoid(-10) < 0.5: dropped.
    anchors = {
        "num_layers": 1,
        "min_scale": 0.2,
        "max_scale": 0.4,
        "strides": [8],
        "aspect_ratios": [1.0],
        "interpolated_scale_aspect_ratio": 0.0,
        "fixed_anchor_size": True,
    }
    scores = np.array([[[math.log(3)], [-10], [-10], [-10]]])
    ref = {"reg": np.array([[[0, 0, 8, 8]] + [[0, 0, 8, 8]] * 3], dtype=float), "cls": scores}
    got = {"reg": np.array([[[0.8, 0, 8, 8]] + [[0, 0, 8, 8]] * 3], dtype=float), "cls": scores}
    spec = {"layout": "mediapipe_ssd", "anchors": anchors}
    assert metrics(spec, [ref], [got], (1, 16, 16, 3)) == {
        "detection_recall": 1.0,
        "detection_precision": 1.0,
        "detection_iou_mean": 0.818182,
        "detection_count_float": 1,
        "detection_count_quantized": 1,
    }


def pose_outputs(boxes: int = 2254, values: int = 12, classes: int = 1) -> dict[str, np.ndarray]:
    return {"Identity": np.zeros((1, boxes, values)), "Identity_1": np.zeros((1, boxes, classes))}


POSE = {"layout": "mediapipe_ssd", "anchors": "pose_detection"}
ERRORS = [
    (
        {"layout": "yolo"},
        pose_outputs(),
        (1, 224, 224, 3),
        "task detection: layout 'yolo' is not one of mediapipe_ssd, boxes; fix task.layout",
    ),
    (
        {"layout": "mediapipe_ssd"},
        pose_outputs(),
        (1, 224, 224, 3),
        "task detection: layout mediapipe_ssd needs anchors (the presets give face_detection_short_range 896, "
        "palm_detection 2016, pose_detection 2254 anchors; or SsdAnchorsCalculator options); add task.anchors",
    ),
    (
        {**POSE, "anchors": "hand"},
        pose_outputs(),
        (1, 224, 224, 3),
        "task detection: anchors 'hand' is not one of face_detection_short_range, palm_detection, pose_detection; "
        "fix task.anchors",
    ),
    (
        {**POSE, "anchors": "palm_detection"},
        pose_outputs(),
        (1, 224, 224, 3),
        "task detection: anchors 'palm_detection' are for a 192x192 input but the model takes [1, 224, 224, 3]; "
        "fix task.anchors",
    ),
    (
        POSE,
        pose_outputs(boxes=896),
        (1, 224, 224, 3),
        "task detection: anchors 'pose_detection' give 2254 anchors but output 'Identity' has 896 boxes "
        "(shape [1, 896, 12]); fix task.anchors (the presets give face_detection_short_range 896, palm_detection 2016, "
        "pose_detection 2254) or give the model's own anchor options",
    ),
    (
        POSE,
        pose_outputs(values=16),
        (1, 224, 224, 3),
        "task detection: output 'Identity' has 16 values a box (shape [1, 2254, 16]) but anchors 'pose_detection' "
        "decode 12 (4 box + 4 keypoints x 2); fix task.anchors or task.boxes",
    ),
    (
        {**POSE, "scores": "Identity_1"},
        pose_outputs(classes=2),
        (1, 224, 224, 3),
        "task detection: anchors 'pose_detection': decoder options: num_classes 1, but the tensors give 2 "
        "(boxes [2254, 12], scores [2254, 2])",
    ),
    (
        {**POSE, "boxes": "regressors"},
        pose_outputs(),
        (1, 224, 224, 3),
        "task detection: no output 'regressors' (outputs: Identity [1, 2254, 12], Identity_1 [1, 2254, 1]); "
        "fix task.boxes",
    ),
    (
        POSE,
        {**pose_outputs(), "Identity_2": np.zeros((1, 2254, 1))},
        (1, 224, 224, 3),
        "task detection: cannot tell the scores output by its shape among Identity [1, 2254, 12], "
        "Identity_1 [1, 2254, 1], Identity_2 [1, 2254, 1]; name it as task.scores",
    ),
    (
        {"layout": "boxes"},
        pose_outputs(),
        (1, 224, 224, 3),
        "task detection: cannot tell the boxes output by its shape among Identity [1, 2254, 12], "
        "Identity_1 [1, 2254, 1]; name it as task.boxes",
    ),
    (
        {"layout": "boxes", "boxes": "Identity"},
        pose_outputs(),
        (1, 224, 224, 3),
        "task detection: output 'Identity' has shape [1, 2254, 12]; the boxes need [1, boxes, 4]; fix task.boxes",
    ),
    (
        {"layout": "boxes"},
        {"b": np.zeros((1, 10, 4)), "s": np.zeros((1, 12))},
        (1, 8, 8, 3),
        "task detection: output 's' has shape [1, 12] for 10 boxes in 'b'; the scores need [1, 10] or [1, 10, "
        "classes]; fix task.scores",
    ),
    (
        {"layout": "mediapipe_ssd", "anchors": {**TINY, "stride": 8}},
        pose_outputs(12, 4),
        (1, 16, 16, 3),
        "task detection: task.anchors: SSD anchor options: unknown stride; allowed: anchor_offset_x, anchor_offset_y, "
        "aspect_ratios, fixed_anchor_size, input_size_height, input_size_width, interpolated_scale_aspect_ratio, "
        "max_scale, min_scale, num_layers, reduce_boxes_in_lowest_layer, strides",
    ),
    (
        {"layout": "mediapipe_ssd", "anchors": {"num_layers": 1, "strides": [8]}},
        pose_outputs(12, 4),
        (1, 16, 16, 3),
        "task detection: task.anchors: SSD anchor options: min_scale, max_scale missing; give num_layers, min_scale, "
        "max_scale, input_size_height, input_size_width, strides",
    ),
    (
        {"layout": "mediapipe_ssd", "anchors": {**TINY, "num_layers": 2}},
        pose_outputs(12, 4),
        (1, 16, 16, 3),
        "task detection: task.anchors: SSD anchor options: 1 strides for num_layers 2; give one a layer",
    ),
]


@pytest.mark.parametrize(("spec", "outputs", "shape", "message"), ERRORS)
def test_error_messages(spec: dict, outputs: dict, shape: tuple, message: str):
    with pytest.raises(StepError) as caught:
        metrics(spec, [outputs], [outputs], shape)
    assert str(caught.value) == message


def test_sample_counts_must_agree():
    with pytest.raises(StepError) as caught:
        metrics(POSE, [pose_outputs()], [], (1, 224, 224, 3))
    assert str(caught.value) == "task detection: 1 float samples but 0 quantized ones"


# --- the real MediaPipe pose detector ----------------------------------------------------------------------------


@pytest.mark.skipif(
    not POSE_MODEL.exists() or not ASTRONAUT.exists(),
    reason="needs models/fetched/pose_detection.tflite and data/photos/astronaut.png (`make test` fetches them)",
)
def test_the_pose_detector_finds_the_astronaut():
    from ai_edge_litert.interpreter import Interpreter

    from tasks.model.datasets import Preprocess, image

    # as MediaPipe's ImageToTensorCalculator feeds it: letterboxed to 224x224 (the photo is square: no bars), [-1, 1]
    x = image(ASTRONAUT, [1, 224, 224, 3], Preprocess(mean=(127.5,), scale=(127.5,)), "photos")
    interpreter = Interpreter(model_path=str(POSE_MODEL))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    out = {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}
    shapes = sorted(list(v.shape) for v in out.values())
    assert shapes == [[1, 2254, 1], [1, 2254, 12]]
    regressors = next(v for v in out.values() if v.shape[-1] == 12)[0]
    scores = next(v for v in out.values() if v.shape[-1] == 1)[0]
    preset = ANCHOR_PRESETS["pose_detection"]
    anchors = ssd_anchors(preset["anchors"])
    (person,) = decode_mediapipe(regressors, scores, anchors, preset["decoder"], 0.3)
    # The detector's box is the face's (pose_detection_cpu.pbtxt), not the body's: on this photo it covers the
    # astronaut's lower face and the neck ring, so it holds her chin, measured on the photo at (223, 155) of
    # 512 x 512 = (0.436, 0.303), and stays in the upper middle of the image.
    ymin, xmin, ymax, xmax = person.box
    assert ymin < 0.303 < ymax and xmin < 0.436 < xmax
    assert 0.25 < xmin and xmax < 0.65 and ymax < 0.55
    assert person.score > 0.5
    # The body is keypoint 0 (mid-hip) with the radius to keypoint 1: the region MediaPipe crops for the landmark
    # model (pose_detection_to_roi.pbtxt).  It holds the image's centre region, the square [0.25, 0.75]².
    hip, size_point = np.array(person.keypoints[0]), np.array(person.keypoints[1])
    radius = np.linalg.norm(size_point - hip)
    corners = np.array([[0.25, 0.25], [0.25, 0.75], [0.75, 0.25], [0.75, 0.75]])
    assert np.all(np.linalg.norm(corners - hip, axis=1) < radius)
    assert metrics(POSE, [out], [out], (1, 224, 224, 3)) == {
        "detection_recall": 1.0,
        "detection_precision": 1.0,
        "detection_iou_mean": 1.0,
        "detection_count_float": 1,
        "detection_count_quantized": 1,
    }
