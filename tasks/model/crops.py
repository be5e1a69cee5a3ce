"""Crops: the region a detection hands the next stage of a pipeline, and the pixels cut out of the frame there.

A region is a rectangle in the frame's pixels, rotated clockwise about its
centre (y points down), as MediaPipe's ``NormalizedRect`` is, in pixels.  Two
layouts (``CROPS``) turn a detection into one:

- ``mediapipe_pose``: MediaPipe's pose region, as
  mediapipe/modules/pose_landmark/pose_detection_to_roi.pbtxt computes it
  (read at google-ai-edge/mediapipe and Presage-Security/mediapipe ff4b809):
  ``AlignmentPointsRectsCalculator`` with keypoints 0 (the hips' centre) →
  1 (the body's scale and rotation point) and a target angle of 90°: a
  square of twice their distance, centred on keypoint 0, rotated by
  ``90° − atan2(−(y1 − y0), x1 − x0)`` (``DetectionsToRectsCalculator::
  ComputeRotation``); then ``RectTransformationCalculator`` with
  ``square_long`` and ``scale_x = scale_y = 1.25``;
- ``box``: the detection's box, upright, squared on its longer side (unless
  ``square: false``) and scaled by ``scale`` (default 1).

``cut`` fills the next model's input from the region as MediaPipe's
``ImageToTensorCalculator`` does: each input pixel's centre mapped into the
frame, sampled bilinearly, zero outside the frame; then the stage's own
normalisation (mean, scale, colour).  ``Region.to_image`` and ``from_image``
map a point between the crop's pixels and the frame's, as
``LandmarkProjectionCalculator`` does.  numpy and Pillow only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tasks.errors import StepError

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    from PIL import Image

    from tasks.model.datasets import Preprocess
    from tasks.model.metrics.detection import Detection


@dataclass(frozen=True, kw_only=True)
class CropLayout:
    """A row of the crop table: how a detection becomes a region."""

    name: str
    doc: str
    keypoints: tuple[int, int] | None = None  # (centre, scale point): a rotated square from two keypoints
    angle_degrees: float = 0.0  # the target angle of the centre → scale point vector
    scale: float = 1.0  # the region's default scale (crop.scale overrides it)


CROPS: tuple[CropLayout, ...] = (
    CropLayout(
        name="mediapipe_pose",
        doc="MediaPipe's pose region: the rotated square from the pose detector's keypoints 0 and 1, scaled by 1.25",
        keypoints=(0, 1),
        angle_degrees=90.0,
        scale=1.25,
    ),
    CropLayout(name="box", doc="the detection's box, upright, squared on its longer side, scaled by crop.scale"),
)
BY_NAME = {c.name: c for c in CROPS}


@dataclass(frozen=True, kw_only=True)
class Region:
    """A rectangle in the frame's pixels: centre, size, clockwise rotation (radians)."""

    x: float
    y: float
    width: float
    height: float
    rotation: float = 0.0

    def to_image(self, u: float, v: float, size: tuple[int, int]) -> tuple[float, float]:
        """A position in a crop of ``size`` (height, width) pixels as a position in the frame."""
        a, b = u / size[1] - 0.5, v / size[0] - 0.5
        cos, sin = math.cos(self.rotation), math.sin(self.rotation)
        return (
            self.x + (cos * a * self.width - sin * b * self.height),
            self.y + (sin * a * self.width + cos * b * self.height),
        )

    def from_image(self, x: float, y: float, size: tuple[int, int]) -> tuple[float, float]:
        """A position in the frame as a position in a crop of ``size`` (height, width) pixels."""
        dx, dy = x - self.x, y - self.y
        cos, sin = math.cos(self.rotation), math.sin(self.rotation)
        a = (cos * dx + sin * dy) / self.width
        b = (-sin * dx + cos * dy) / self.height
        return (a + 0.5) * size[1], (b + 0.5) * size[0]

    def affine(self, size: tuple[int, int]) -> tuple[float, float, float, float, float, float]:
        """Pillow's AFFINE data: each crop position (u, v) → the frame position it samples."""
        x0, y0 = self.to_image(0.0, 0.0, size)
        x1, y1 = self.to_image(1.0, 0.0, size)
        x2, y2 = self.to_image(0.0, 1.0, size)
        return (x1 - x0, x2 - x0, x0, y1 - y0, y2 - y0, y0)


def normalize_radians(angle: float) -> float:
    """``angle`` wrapped into [-pi, pi), as MediaPipe's NormalizeRadians."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def region(
    layout: str, detection: Detection, to_image: Callable[[float, float], tuple[float, float]], size: tuple[int, int]
) -> Region:
    """The region ``detection`` hands on, in the frame's pixels.

    ``size`` is the detector input's (height, width); ``to_image`` maps a position in the detector input's pixels
    to the frame's (undoing its letterbox, or its own crop)."""
    row = BY_NAME[layout]
    height, width = size
    if row.keypoints is not None:
        start, end = row.keypoints
        if len(detection.keypoints) <= max(start, end):
            raise StepError(
                f"crop {layout}: the detection has {len(detection.keypoints)} keypoints; the layout needs "
                f"keypoints {start} and {end} (MediaPipe's pose detector gives 4)"
            )
        x0, y0 = to_image(detection.keypoints[start][0] * width, detection.keypoints[start][1] * height)
        x1, y1 = to_image(detection.keypoints[end][0] * width, detection.keypoints[end][1] * height)
        side = 2.0 * math.hypot(x1 - x0, y1 - y0)
        rotation = normalize_radians(math.radians(row.angle_degrees) - math.atan2(-(y1 - y0), x1 - x0))
        return Region(x=x0, y=y0, width=side, height=side, rotation=rotation)
    ymin, xmin, ymax, xmax = detection.box
    left, top = to_image(xmin * width, ymin * height)
    right, bottom = to_image(xmax * width, ymax * height)
    return Region(x=(left + right) / 2, y=(top + bottom) / 2, width=right - left, height=bottom - top)


def transformed(found: Region, scale: float, square: bool) -> Region:
    """RectTransformationCalculator: ``square_long`` (in pixels), then both sides times ``scale``."""
    width, height = found.width, found.height
    if square:
        width = height = max(width, height)
    return Region(x=found.x, y=found.y, width=width * scale, height=height * scale, rotation=found.rotation)


def cut(image: Image.Image, found: Region, shape: tuple[int, ...], pre: Preprocess) -> np.ndarray:
    """The next stage's input [1, H, W, C] from ``found`` in ``image`` (RGB), normalised as ``pre`` says."""
    from PIL import Image as PILImage

    from tasks.model.datasets import normalised

    height, width, channels = shape[1], shape[2], shape[3]
    mode = "RGB" if channels == 3 else "L"
    source = image if image.mode == mode else image.convert(mode)
    crop = source.transform(
        (width, height), PILImage.Transform.AFFINE, found.affine((height, width)), PILImage.Resampling.BILINEAR
    )
    return normalised(crop, channels, pre)


def handed_on(
    layout: str,
    scale: float | None,
    square: bool,
    detection_task: dict,
    outputs: dict,
    to_image: Callable[[float, float], tuple[float, float]],
    shape: list[int],
) -> Region | None:
    """The region a stage's ``outputs`` hand on: around its best detection (its ``detection_task`` decodes them),
    in the frame's pixels; None when it found nothing.  ``shape`` is that stage's input shape."""
    from tasks.model.metrics import detection

    found = detection.decoder(detection_task, outputs, tuple(shape))(outputs)
    if not found:
        return None
    best = max(found, key=lambda d: d.score)
    raw = region(layout, best, to_image, (shape[1], shape[2]))
    return transformed(raw, scale if scale is not None else BY_NAME[layout].scale, square)
