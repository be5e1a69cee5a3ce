"""The region a detection hands the next stage, against hand-computed values, and the pixels cut there."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from tasks.model import crops
from tasks.model.datasets import Preprocess, frame
from tasks.model.metrics.detection import Detection

PIXELS = Preprocess(mean=(0.0,), scale=(1.0,))  # the crop's pixel values as they are


def pose(hips: tuple[float, float], scale_point: tuple[float, float]) -> Detection:
    """A pose detection in a 100 x 100 input whose keypoints 0 and 1 are at these input pixels."""
    points = (
        (hips[0] / 100, hips[1] / 100),
        (scale_point[0] / 100, scale_point[1] / 100),
        (0.0, 0.0),
        (0.0, 0.0),
    )
    return Detection(box=(0.1, 0.1, 0.9, 0.9), score=0.9, keypoints=points)


def same(u: float, v: float) -> tuple[float, float]:
    return u, v


def test_an_upright_person_gives_an_upright_square_of_twice_the_distance_times_1_25():
    # hips at (50, 60), the scale point straight above at (50, 20): distance 40, a side of 80, then x1.25 = 100
    found = crops.transformed(crops.region("mediapipe_pose", pose((50, 60), (50, 20)), same, (100, 100)), 1.25, True)
    assert (found.x, found.y, found.width, found.height) == (50, 60, 100, 100)
    assert found.rotation == pytest.approx(0.0)


def test_a_person_lying_head_right_is_turned_a_quarter_clockwise():
    # the scale point to the right of the hips: atan2(0, 30) = 0, so 90 deg - 0 = pi / 2 (clockwise, y down)
    found = crops.region("mediapipe_pose", pose((40, 50), (70, 50)), same, (100, 100))
    assert found.rotation == pytest.approx(math.pi / 2)
    assert found.width == pytest.approx(60)
    # the crop's top centre (towards the head) lies to the right of the hips in the frame
    assert found.to_image(128, 0, (256, 256)) == pytest.approx((70, 50))


def test_the_detection_is_taken_back_through_the_letterbox_to_the_frame():
    # a 200 x 100 frame letterboxed into a 100 x 100 input: scale 0.5, 25 rows of padding above
    where = frame(200, 100, [1, 100, 100, 3], Preprocess())
    found = crops.region("mediapipe_pose", pose((50, 60), (50, 40)), where.point, (100, 100))
    assert (found.x, found.y) == pytest.approx((100, 70))
    assert found.width == pytest.approx(80)  # twice 20 input pixels is 40, 80 frame pixels


def test_a_box_is_squared_on_its_longer_side_then_scaled():
    box = Detection(box=(0.2, 0.3, 0.6, 0.5), score=0.9)  # ymin, xmin, ymax, xmax of a 100 x 100 input
    found = crops.transformed(crops.region("box", box, same, (100, 100)), 1.5, True)
    assert (found.x, found.y) == pytest.approx((40, 40))
    assert (found.width, found.height) == pytest.approx((60, 60))  # max(20, 40) x 1.5
    assert crops.transformed(crops.region("box", box, same, (100, 100)), 1.0, False).width == pytest.approx(20)


def test_a_pose_layout_without_its_keypoints_is_named():
    with pytest.raises(Exception, match="needs keypoints 0 and 1"):
        crops.region("mediapipe_pose", Detection(box=(0, 0, 1, 1), score=1.0), same, (100, 100))


def test_to_image_and_from_image_undo_each_other():
    found = crops.Region(x=31.5, y=47.0, width=40.0, height=30.0, rotation=0.7)
    for u, v in ((0, 0), (10, 200), (255, 13)):
        assert found.from_image(*found.to_image(u, v, (256, 128)), (256, 128)) == pytest.approx((u, v))


def test_normalize_radians_wraps_into_minus_pi_to_pi():
    assert crops.normalize_radians(3 * math.pi / 2) == pytest.approx(-math.pi / 2)
    assert crops.normalize_radians(-3 * math.pi / 2) == pytest.approx(math.pi / 2)


def test_an_upright_crop_at_one_pixel_a_pixel_copies_the_frame():
    pixels = np.arange(100 * 100 * 3, dtype=np.uint32).reshape(100, 100, 3) % 251
    image = Image.fromarray(pixels.astype(np.uint8))
    found = crops.Region(x=50, y=40, width=20, height=20)
    cut = crops.cut(image, found, (1, 20, 20, 3), PIXELS)[0]
    np.testing.assert_array_equal(cut, pixels[30:50, 40:60])


def test_a_quarter_turned_crop_is_the_frame_turned_back():
    pixels = np.arange(100 * 100, dtype=np.uint32).reshape(100, 100) % 251
    image = Image.fromarray(np.stack([pixels] * 3, -1).astype(np.uint8))
    found = crops.Region(x=50, y=40, width=20, height=20, rotation=math.pi / 2)
    cut = crops.cut(image, found, (1, 20, 20, 3), PIXELS)[0, ..., 0]
    # turned a quarter clockwise, the crop's rows run down the frame's columns from the right
    np.testing.assert_array_equal(cut, np.rot90(pixels[30:50, 40:60], k=1))


def test_outside_the_frame_is_zero():
    image = Image.new("RGB", (10, 10), (200, 200, 200))
    cut = crops.cut(image, crops.Region(x=0, y=5, width=10, height=10), (1, 10, 10, 3), PIXELS)[0]
    assert cut[:, :5].max() == 0 and cut[:, 5:].min() == 200
