"""Metrics against labels (tasks/model/metrics/truth.py): every expected value worked out by hand in a comment."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tasks.model.labels import Box, Truth
from tasks.model.metrics.truth import Found, bootstrap_drop, coco_boxes, coco_keypoints, confusion, mean_iou, top_k_hits

RECALL = [i / 100 for i in range(101)]
COCO_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87])
COCO_SIGMAS = np.append(COCO_SIGMAS, [0.89, 0.89]) / 10  # COCO's person keypoints, nose to ankles


def box(label: int, x: float, y: float, w: float, h: float, crowd: bool = False) -> Box:
    return Box(label=label, box=(x, y, w, h), area=w * h, crowd=crowd)


def image(name: str, *boxes: Box) -> Truth:
    return Truth(file=Path(name), width=100, height=100, boxes=boxes)


def found(label: int, xywh: tuple[float, float, float, float], score: float, keypoints=()) -> Found:
    return Found(label=label, box=xywh, score=score, keypoints=tuple(keypoints))


# --- boxes -----------------------------------------------------------------------------------------------------


def test_box_map_of_a_duplicate_a_false_positive_and_a_miss_by_hand():
    truths = [
        image("one.png", box(0, 10, 10, 20, 20), box(0, 60, 60, 30, 10)),  # a1, a2
        image("two.png", box(0, 0, 0, 40, 40)),  # b1
    ]
    found_ = [
        [
            found(0, (10, 10, 20, 20), 0.9),  # d1: a1 exactly: TP
            found(0, (10, 10, 20, 20), 0.8),  # d2: a1 again: a duplicate, FP
            found(1, (60, 60, 30, 10), 0.95),  # d5: a2's box, another class: no match, a2 is missed
        ],
        [
            found(0, (0, 0, 40, 40), 0.7),  # d3: b1 exactly: TP
            found(0, (60, 60, 30, 10), 0.6),  # d4: a2's box on the other image: FP
        ],
    ]
    # Class 0 (3 ground-truth boxes), detections by score: d1 TP, d2 FP, d3 TP, d4 FP
    #   TP 1 1 2 2, FP 0 1 1 2 -> recall 1/3 1/3 2/3 2/3, precision 1 1/2 2/3 1/2
    #   interpolated (the best precision at this recall or more): 1, 2/3, 2/3, 1/2
    #   COCO's 101 recall points r = 0, .01, .., 1 take the first point with recall >= r:
    #     r = .00 .. .33 (34 points) -> 1;  r = .34 .. .66 (33 points) -> 2/3;  r = .67 .. 1 (34 points) -> 0
    #   AP50 = (34 x 1 + 33 x 2/3) / 101 = 56 / 101
    # Class 1 has no ground truth: pycocotools leaves it out of the mean (-1), so d5 changes nothing.
    # Matches are exact (IoU 1) and false positives overlap nothing else (IoU 0): every threshold .50 .. .95 gives
    # the same AP, so mAP@[.5:.95] = 56 / 101 too.
    got = coco_boxes(truths, found_)
    assert got["map50"] == pytest.approx(56 / 101, abs=1e-6)
    assert got["map50_95"] == pytest.approx(56 / 101, abs=1e-6)
    assert got["pr_curve"]["recall"] == pytest.approx(RECALL)
    assert got["pr_curve"]["precision"] == pytest.approx([1.0] * 34 + [2 / 3] * 33 + [0.0] * 34, abs=1e-6)


def test_boxes_are_x_y_width_height():
    # ground truth x 10..30, y 20..60 (area 800); the detection x 10..30, y 20..45 (area 500), inside it:
    #   IoU = 500 / 800 = .625: a match at IoU .50, .55, .60 (AP 1), none at .65 .. .95 (AP 0)
    #   mAP@.5 = 1, mAP@[.5:.95] = 3 / 10
    # Read as corners instead, the ground truth would be x 10..20, y 20..40 and the detection x 10..20, y 20..25:
    # IoU 50 / 200 = .25, no match at all.
    got = coco_boxes([image("a.png", box(0, 10, 20, 20, 40))], [[found(0, (10, 20, 20, 25), 0.9)]])
    assert got["map50"] == pytest.approx(1.0)
    assert got["map50_95"] == pytest.approx(0.3)


def test_a_crowd_region_takes_detections_without_counting_as_a_miss():
    # a person found exactly (TP) and a detection inside the crowd region: ignored, neither TP nor FP;
    # the crowd itself is not a miss: precision 1 at recall 1, AP 1
    truths = [image("a.png", box(0, 0, 0, 20, 20), box(0, 50, 50, 50, 50, crowd=True))]
    got = coco_boxes(truths, [[found(0, (0, 0, 20, 20), 0.5), found(0, (60, 60, 20, 20), 0.9)]])
    assert got["map50"] == pytest.approx(1.0)
    assert got["map50_95"] == pytest.approx(1.0)


def test_an_image_repeated_in_a_resample_counts_twice():
    # the same image twice: two images, two boxes, each found exactly: AP 1 (ids by position, not by file)
    truth, hit = image("a.png", box(0, 0, 0, 20, 20)), [found(0, (0, 0, 20, 20), 0.5)]
    assert coco_boxes([truth, truth], [hit, hit])["map50"] == pytest.approx(1.0)
    # one found, one missed: recall 1/2 at precision 1 -> 51 of 101 points (r = 0 .. .50) at 1
    assert coco_boxes([truth, truth], [hit, []])["map50"] == pytest.approx(51 / 101, abs=1e-6)


def test_no_detection_is_ap_zero_and_no_ground_truth_is_none():
    truths = [image("a.png", box(0, 0, 0, 20, 20)), image("b.png")]
    nothing = coco_boxes(truths, [[], []])
    assert (nothing["map50"], nothing["map50_95"]) == (0.0, 0.0)
    assert nothing["pr_curve"]["precision"] == [0.0] * 101
    empty = coco_boxes([image("a.png")], [[found(0, (0, 0, 5, 5), 0.9)]])
    assert empty == {"map50_95": None, "map50": None, "pr_curve": None}
    assert coco_boxes([image("a.png")], [[]]) == empty


def test_boxes_need_a_list_of_detections_for_every_image():
    with pytest.raises(ValueError, match="2 images of ground truth but detections for 1"):
        coco_boxes([image("a.png"), image("b.png")], [[]])


def test_coco_prints_nothing(capsys):
    coco_boxes([image("a.png", box(0, 0, 0, 20, 20))], [[found(0, (0, 0, 20, 20), 0.5)]])
    coco_keypoints([image("a.png")], [[]])
    assert capsys.readouterr().out == ""


# --- keypoints -------------------------------------------------------------------------------------------------


def person(keypoints, area: float = 10_000.0) -> Box:
    return Box(label=0, box=(0, 0, 100, 100), area=area, keypoints=tuple(keypoints))


def triples(points, v: float = 2) -> list[float]:
    return [value for x, y in points for value in (x, y, v)]


POINTS = [(10.0, 10.0), (20.0, 30.0), (40.0, 60.0)]


def test_perfect_keypoints_are_ap_1_and_a_far_off_person_with_a_lower_score_a_known_ap():
    truths = [image("a.png", person(triples(POINTS))), image("b.png", person(triples(POINTS)))]
    far = [(x + 1000, y) for x, y in POINTS]
    # both exact: OKS 1 at every threshold, AP 1
    exact = [[found(0, (0, 0, 100, 100), 0.9, triples(POINTS))] for _ in truths]
    assert coco_keypoints(truths, exact) == {"oks_ap": 1.0}
    # a detection without keypoints (a box only) is not a keypoint detection: still AP 1
    assert coco_keypoints(truths, [exact[0] + [found(0, (0, 0, 100, 100), 0.99)], exact[1]]) == {"oks_ap": 1.0}
    # a exact (score .9), b 1000 px off (score .5): OKS exp(-1000^2 / ..) = 0, a FP and b missed
    #   TP 1 1, FP 0 1 -> recall 1/2 1/2, precision 1 1/2; r = 0 .. .50 (51 points) -> 1, the rest 0
    #   AP = 51 / 101 at every threshold
    off = [exact[0], [found(0, (0, 0, 100, 100), 0.5, triples(far))]]
    assert coco_keypoints(truths, off)["oks_ap"] == pytest.approx(51 / 101, abs=1e-6)


def test_oks_uses_the_area_and_sigma_0_072_when_not_17_keypoints():
    # pycocotools: e = d^2 / (2 sigma)^2 / area / 2, OKS = mean of exp(-e) over the labelled keypoints.
    # sigma .072, area 10000: e = d^2 / 414.72; every keypoint d = sqrt(414.72 ln(1 / .72)) off -> OKS .72
    #   a match at OKS .50 .. .70 (5 of 10 thresholds, AP 1 each), none at .75 .. .95: AP 5 / 10 = .5
    # A fourth keypoint is not labelled (v 0): left out, though the detection puts it 1000 px off.
    d = math.sqrt(0.144**2 * 10_000 * 2 * math.log(1 / 0.72))
    truth = person(triples(POINTS) + [50.0, 50.0, 0.0])
    moved = triples([(x + d, y) for x, y in POINTS]) + [1050.0, 50.0, 2.0]
    got = coco_keypoints([image("a.png", truth)], [[found(0, (0, 0, 100, 100), 0.9, moved)]])
    assert got["oks_ap"] == pytest.approx(0.5)
    # four times the area: e a quarter, OKS .72^(1/4) = .92: a match at .50 .. .90, AP 9 / 10
    bigger = person(truth.keypoints, area=40_000.0)
    got = coco_keypoints([image("a.png", bigger)], [[found(0, (0, 0, 100, 100), 0.9, moved)]])
    assert got["oks_ap"] == pytest.approx(0.9)


def test_17_keypoints_use_cocos_sigmas_and_given_sigmas_win():
    # each keypoint moved 2 sigma_i sqrt(2 area ln(1 / .52)) in x: e = ln(1 / .52) for every one, OKS .52:
    #   a match at .50 only: AP 1 / 10.  (With .072 for all, OKS would be .567: AP 2 / 10.)
    points = [(5.0 * i, 3.0 * i) for i in range(17)]
    scale = 2 * math.sqrt(2 * 10_000 * math.log(1 / 0.52))
    moved = triples([(x + scale * s, y) for (x, y), s in zip(points, COCO_SIGMAS, strict=True)])
    truths, found_ = [image("a.png", person(triples(points)))], [[found(0, (0, 0, 100, 100), 0.9, moved)]]
    assert coco_keypoints(truths, found_)["oks_ap"] == pytest.approx(0.1)
    assert coco_keypoints(truths, found_, sigmas=[0.072] * 17)["oks_ap"] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="3 sigmas for 17 keypoints"):
        coco_keypoints(truths, found_, sigmas=[0.1] * 3)


def test_only_annotations_with_keypoints_are_keypoint_ground_truth():
    exact = found(0, (0, 0, 100, 100), 0.5, triples(POINTS))
    inside = found(0, (0, 0, 100, 100), 0.9, triples(POINTS))  # higher score, on the other image
    # b.png's annotation has no keypoints: not a person to find, the detection there is a FP before a's TP:
    #   TP 0 1, FP 1 1 -> recall 0 1, precision 0 1/2; every recall point -> 1/2: AP .5
    box_only = [image("a.png", person(triples(POINTS))), image("b.png", box(0, 0, 0, 100, 100))]
    assert coco_keypoints(box_only, [[exact], [inside]])["oks_ap"] == pytest.approx(0.5)
    # b.png's person has keypoints, none labelled (num_keypoints 0): ignored as COCO does, and a detection inside
    # its box matches it without counting: only a's TP is left, AP 1
    unlabelled = [image("a.png", person(triples(POINTS))), image("b.png", person(triples(POINTS, v=0)))]
    assert coco_keypoints(unlabelled, [[exact], [inside]])["oks_ap"] == pytest.approx(1.0)
    # no keypoints anywhere in the ground truth: None
    assert coco_keypoints([image("a.png", box(0, 0, 0, 9, 9))], [[inside]]) == {"oks_ap": None}


def test_keypoints_of_different_lengths_are_refused():
    truths = [image("a.png", person(triples(POINTS)))]
    with pytest.raises(ValueError, match=r"keypoints of \[6, 9\] values"):
        coco_keypoints(truths, [[found(0, (0, 0, 9, 9), 0.5, triples(POINTS[:2]))]])


# --- classes and pixels ----------------------------------------------------------------------------------------


def test_top_k_hits_ties_rank_the_lower_index_first():
    scores = np.array([[0.1, 0.5, 0.5, 0.2], [0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]])
    labels = np.array([2, 3, 0])
    # row 0: label 2 ties class 1, which ranks first -> rank 1;  row 1: label 3 is last -> rank 3;
    # row 2: all tie, label 0 ranks first -> rank 0.  A hit when rank < k.
    assert top_k_hits(scores, labels, 1).tolist() == [False, False, True]
    assert top_k_hits(scores, labels, 2).tolist() == [True, False, True]
    assert top_k_hits(scores, labels, 3).tolist() == [True, False, True]
    assert top_k_hits(scores, labels, 4) is None  # 4 classes: every label is among the best 4
    assert top_k_hits(np.ones((2, 1)), np.array([0, 0]), 1).tolist() == [True, True]


def test_top_1_is_argmax_even_with_ties():
    scores = np.random.default_rng(1).integers(0, 3, size=(200, 5)).astype(float)  # many ties
    labels = np.random.default_rng(2).integers(0, 5, size=200)
    assert top_k_hits(scores, labels, 1).tolist() == (np.argmax(scores, axis=1) == labels).tolist()


def test_top_k_refuses_labels_outside_the_classes():
    with pytest.raises(ValueError, match="labels run 0..4 but the scores have 3 classes"):
        top_k_hits(np.zeros((2, 3)), np.array([0, 4]), 1)


def test_confusion_counts_pixels_rows_truth_and_skips_void():
    truth = np.array([[0, 1], [2, 255], [-1, 2]])
    predicted = np.array([[0, 2], [2, 1], [0, 1]])
    # counted pairs (truth, predicted): (0, 0), (1, 2), (2, 2), (2, 1); 255 and -1 are not counted
    matrix = confusion(predicted, truth, 3)
    assert matrix.dtype == np.int64
    assert matrix.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    # IoU = TP / (TP + FP + FN): class 0: 1 / 1; class 1: 0 / (0 + 1 + 1); class 2: 1 / (1 + 1 + 1)
    assert mean_iou(matrix) == pytest.approx((1 + 0 + 1 / 3) / 3)
    # a fourth class with no pixel at all is left out of the mean
    assert mean_iou(confusion(predicted, truth, 4)) == pytest.approx((1 + 0 + 1 / 3) / 3)
    assert mean_iou(np.zeros((3, 3), dtype=np.int64)) is None


def test_confusion_refuses_predictions_outside_the_classes():
    with pytest.raises(ValueError, match="predictions run 0..3, outside 3 classes"):
        confusion(np.array([0, 3]), np.array([0, 1]), 3)


# --- bootstrap -------------------------------------------------------------------------------------------------


def test_bootstrap_of_identical_models_is_zero():
    assert bootstrap_drop(lambda idx: (0.7, 0.7), 10) == (0.0, 0.0)


def test_bootstrap_of_a_constant_drop_is_that_drop():
    # every sample .9 float, .8 quantized: every resample's drop is 100 x (.9 - .8) = 10 points
    reference, quantized = np.full(20, 0.9), np.full(20, 0.8)
    assert bootstrap_drop(lambda idx: (reference[idx].mean(), quantized[idx].mean()), 20) == (10.0, 10.0)


def test_bootstrap_resamples_n_indices_with_replacement():
    # two samples: float right on both, quantized right on sample 0 only -> drops of 0 and 100 points.
    # A resample of two: {0, 0} 0 points (1/4), {0, 1} 50 (1/2), {1, 1} 100 (1/4); about 250 of 1000 at each end,
    # far more than the 2.5 % (25) each end of the interval needs: (0, 100).
    seen = []

    def score(idx):
        seen.append(idx)
        return 1.0, float(np.mean(np.array([1.0, 0.0])[idx]))

    assert bootstrap_drop(score, 2, resamples=1000, seed=5) == (0.0, 100.0)
    assert len(seen) == 1000 and all(len(i) == 2 and set(i.tolist()) <= {0, 1} for i in seen)
    assert any(i[0] == i[1] for i in seen)  # with replacement
    assert bootstrap_drop(score, 2, seed=5) == bootstrap_drop(score, 2, seed=5)


def test_bootstrap_skips_resamples_without_a_value():
    # as above, but no value when sample 1 is not drawn: left are {0, 1} 50 points (2/3) and {1, 1} 100 (1/3):
    # the interval is (50, 100)
    def score(idx):
        if 1 not in idx:
            return None, 0.0
        return 1.0, float(np.mean(np.array([1.0, 0.0])[idx]))

    assert bootstrap_drop(score, 2) == (50.0, 100.0)
    assert bootstrap_drop(lambda idx: (1.0, None), 5) is None
    assert bootstrap_drop(lambda idx: (1.0, 1.0), 0) is None
