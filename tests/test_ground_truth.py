"""Label metrics end to end: decoded answers taken back to the labelled image, the float and the quantized model's
figures, the drop and its interval (tasks/model/accuracy.py label_metrics).

The numbers pycocotools and the bootstrap give are proven on hand-computed cases in test_truth_metrics.py; here,
that the evaluate step hands them the right things: boxes, landmarks and masks in the image's own pixels (the
letterbox undone), labels by file, the drop as float minus quantized in points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.errors import StepError
from tasks.model import accuracy
from tasks.model.datasets import Preprocess, frame
from tasks.model.labels import Box, Truth

LETTERBOX = Preprocess(resize="letterbox")


def _image(path: Path, width: int, height: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((height, width, 3), dtype=np.uint8)).save(path)
    return path


def test_frame_undoes_letterbox_stretch_and_crop():
    # a 200x100 image letterboxed into 64x64: scaled by 0.32 to 64x32, 16 rows of padding above
    f = frame(200, 100, [1, 64, 64, 3], LETTERBOX)
    assert (f.scale_x, f.scale_y, f.offset_x, f.offset_y) == (0.32, 0.32, 0, 16)
    assert f.point(32, 32) == (100.0, 50.0)  # the input's centre is the image's
    s = frame(200, 100, [1, 64, 64, 3], Preprocess(resize="stretch"))
    assert s.point(64, 64) == (200.0, 100.0)
    # crop: scaled by 0.64 to 128x64, 32 columns cut off each side
    c = frame(200, 100, [1, 64, 64, 3], Preprocess(resize="crop"))
    assert (c.offset_x, c.offset_y) == (-32, 0)
    assert c.point(0, 0) == (50.0, 0.0)


def test_classification_accuracy_float_quantized_drop(tmp_path):
    truths = [(Truth(file=tmp_path / f"{i}.png", width=8, height=8, label=i % 3), None) for i in range(4)]
    logits = [np.eye(3)[[0, 1, 2, 0]][i][None] for i in range(4)]  # the float model: every sample right
    wrong = [np.eye(3)[[0, 1, 1, 2]][i][None] for i in range(4)]  # the quantized one: samples 2 and 3 wrong
    found = accuracy.label_metrics(
        ({"type": "classification"},),
        [{"y": x} for x in logits],
        [{"y": x} for x in wrong],
        truths,
        (1, 8, 8, 3),
        "m/int8",
        ("cat", "dog", "eel"),
    )
    top1 = found["metrics"]["top1_accuracy"]
    assert (top1["float"], top1["quantized"], top1["drop"]) == (1.0, 0.5, 50.0)
    low, high = top1["interval"]
    assert 0 <= low <= 50 <= high <= 100
    assert found["metrics"]["top5_accuracy"]["quantized"] is None  # three classes: top-5 says nothing
    assert found["confusion"]["classes"] == ["cat", "dog", "eel"]
    assert found["confusion"]["quantized"] == [[1, 0, 1], [0, 1, 0], [0, 1, 0]]  # rows: label; columns: top-1
    assert found["confusion"]["float"] == [[2, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_classification_label_beyond_the_models_classes(tmp_path):
    truths = [(Truth(file=tmp_path / "a.png", width=8, height=8, label=7), None)]
    with pytest.raises(StepError, match=r"a.png is labelled class 7, but output 'y' has 3 classes"):
        accuracy.label_metrics(
            ({"type": "classification"},), None, [{"y": np.zeros((1, 3))}], truths, (1, 8, 8, 3), "m"
        )


def test_detection_boxes_go_back_to_the_image(tmp_path):
    # one 200x100 image, letterboxed into 64x64; its person at x 50..150, y 25..75 in the image
    image = _image(tmp_path / "p.png", 200, 100)
    f = frame(200, 100, [1, 64, 64, 3], LETTERBOX)
    truth = Truth(file=image, width=200, height=100, boxes=(Box(label=0, box=(50, 25, 100, 50), area=5000),))
    # in the input: x 16..48 (x0.32), y 16+8..16+24 = 24..40; as fractions of 64 (ymin, xmin, ymax, xmax)
    exact = np.array([[[24 / 64, 16 / 64, 40 / 64, 48 / 64]]], dtype=np.float32)
    shifted = np.array([[[24 / 64, 22.4 / 64, 40 / 64, 54.4 / 64]]], dtype=np.float32)  # 20 image pixels right
    score = np.array([[0.9]], dtype=np.float32)
    found = accuracy.label_metrics(
        ({"type": "detection", "layout": "boxes"},),
        [{"boxes": exact, "scores": score}],
        [{"boxes": shifted, "scores": score}],
        [(truth, f)],
        (1, 64, 64, 3),
        "det/int8",
    )
    m = found["metrics"]
    # float: the labelled box exactly, AP 1 at every IoU; quantized: IoU 80x50 / (2x5000 - 4000) = 0.667, a hit at
    # the thresholds .5, .55, .6 and .65 only: mAP@[.5:.95] 4/10
    assert m["map50"]["float"] == 1.0 and m["map50_95"]["float"] == 1.0
    assert m["map50"]["quantized"] == 1.0
    assert m["map50_95"]["quantized"] == pytest.approx(0.4)
    assert m["map50_95"]["drop"] == pytest.approx(60.0)
    assert found["pr_curve"]["iou"] == 0.5 and len(found["pr_curve"]["recall"]) == 101


def test_keypoints_go_back_to_the_image(tmp_path):
    image = _image(tmp_path / "k.png", 100, 200)  # tall: letterboxed into 32x32 at 16x32, 8 columns of padding
    f = frame(100, 200, [1, 32, 32, 3], LETTERBOX)
    keypoints = (20.0, 40.0, 2, 80.0, 160.0, 2)  # two landmarks, image pixels
    truth = Truth(
        file=image,
        width=100,
        height=200,
        boxes=(Box(label=0, box=(20, 40, 60, 120), area=7200, keypoints=keypoints),),
    )
    exact = np.array([[8 + 20 * 0.16, 40 * 0.16, 8 + 80 * 0.16, 160 * 0.16]], dtype=np.float32)  # input pixels
    far = exact + np.array([[10, 0, 10, 0]], dtype=np.float32)  # 62.5 image pixels off: OKS near 0
    found = accuracy.label_metrics(
        ({"type": "keypoints", "output": "lm", "values": 2},),
        [{"lm": exact}],
        [{"lm": far}],
        [(truth, f)],
        (1, 32, 32, 3),
        "pose/int8",
    )
    ap = found["metrics"]["oks_ap"]
    assert ap["float"] == 1.0 and ap["quantized"] == 0.0 and ap["drop"] == 100.0


def test_keypoint_count_must_match_the_labels(tmp_path):
    image = _image(tmp_path / "k.png", 32, 32)
    truth = Truth(
        file=image, width=32, height=32, boxes=(Box(label=0, box=(0, 0, 9, 9), area=81, keypoints=(1, 1, 2)),)
    )
    with pytest.raises(StepError, match=r"the labels give 1 keypoints per person, the model 2"):
        accuracy.label_metrics(
            ({"type": "keypoints", "output": "lm", "values": 2},),
            None,
            [{"lm": np.zeros((1, 4), dtype=np.float32)}],
            [(truth, frame(32, 32, [1, 32, 32, 3], LETTERBOX))],
            (1, 32, 32, 3),
            "pose",
        )


def test_segmentation_mask_goes_back_to_the_image(tmp_path):
    # a 8x4 image (wide) letterboxed into 8x8: rows 2..5 of the input are the image
    image = _image(tmp_path / "s.png", 8, 4)
    label = np.zeros((4, 8), dtype=np.uint8)
    label[:, :4] = 255  # the left half is foreground
    mask = tmp_path / "s_mask.png"
    Image.fromarray(label).save(mask)
    truth = Truth(file=image, width=8, height=4, mask=mask)
    logits = np.full((1, 8, 8, 1), -9.0, dtype=np.float32)
    logits[0, 2:6, :4] = 9.0  # the float model: exactly the left half of the image's rows
    logits[0, :2, :] = 9.0  # and the padding above it, which is no pixel of the image
    shifted = np.full((1, 8, 8, 1), -9.0, dtype=np.float32)
    shifted[0, 2:6, :2] = 9.0  # the quantized model: a quarter
    found = accuracy.label_metrics(
        ({"type": "segmentation"},),
        [{"m": logits}],
        [{"m": shifted}],
        [(truth, frame(8, 4, [1, 8, 8, 1], LETTERBOX))],
        (1, 8, 8, 1),
        "seg/int8",
    )
    miou = found["metrics"]["miou"]
    # quantized: foreground IoU 8/16, background IoU 16/24; the mean (1/2 + 2/3) / 2
    assert miou["float"] == 1.0
    assert miou["quantized"] == pytest.approx((0.5 + 2 / 3) / 2, abs=1e-6)


def test_a_coarse_mask_is_scaled_to_the_input(tmp_path):
    # the model writes a 4x4 mask for its 8x8 input: each mask pixel covers 2x2 input pixels
    image = _image(tmp_path / "s.png", 8, 8)
    label = np.zeros((8, 8), dtype=np.uint8)
    label[:, :4] = 1
    mask = tmp_path / "s_mask.png"
    Image.fromarray(label).save(mask)
    coarse = np.full((1, 4, 4, 1), -9.0, dtype=np.float32)
    coarse[0, :, :2] = 9.0  # the left half, at half the resolution
    found = accuracy.label_metrics(
        ({"type": "segmentation"},),
        None,
        [{"m": coarse}],
        [(Truth(file=image, width=8, height=8, mask=mask), frame(8, 8, [1, 8, 8, 1], LETTERBOX))],
        (1, 8, 8, 1),
        "seg",
    )
    assert found["metrics"]["miou"]["quantized"] == 1.0


def test_a_cocoeval_bootstrap_is_bounded_by_its_sample_budget():
    from tasks.model.metrics import BY_NAME

    detection, classification = BY_NAME["detection"], BY_NAME["classification"]
    assert [detection.resamples_for(n) for n in (34, 100, 500, 5000)] == [200, 200, 40, 20]
    assert classification.resamples_for(5000) == 1000
