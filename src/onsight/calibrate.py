"""`onsight calibrate`: a metre grid drawn over a redacted snapshot, so a person can see at a
glance whether a camera's ground-plane calibration is right (lines should run along the
floor's real edges and tiles, and be evenly spaced on the floor)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from onsight.config.calibration import CalibrationConfig
from onsight.types import Image

_GRID = (0, 220, 255)
_POINT = (255, 80, 255)
_STEPS = 60  # segments per grid line: projected lines are straight, but clipping needs points


def grid_extent(calibration: CalibrationConfig, margin_m: float = 2.0) -> tuple[float, ...]:
    """The ground rectangle to draw: the calibration points' bounding box plus a margin."""
    ground = np.array(calibration.ground, np.float64)
    (x0, y0), (x1, y1) = ground.min(axis=0) - margin_m, ground.max(axis=0) + margin_m
    return math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)


def draw_grid(image: Image, calibration: CalibrationConfig, step_m: float = 1.0) -> int:
    """Draw the metre grid and the calibration points on `image`; returns the lines drawn."""
    height, width = image.shape[:2]
    to_image = np.linalg.inv(calibration.homography())
    x0, y0, x1, y1 = grid_extent(calibration)
    drawn = 0
    for fixed, along, (start, end) in [
        *((x, "y", (y0, y1)) for x in np.arange(x0, x1 + 1e-9, step_m)),
        *((y, "x", (x0, x1)) for y in np.arange(y0, y1 + 1e-9, step_m)),
    ]:
        t = np.linspace(start, end, _STEPS)
        ground = (
            np.c_[np.full_like(t, fixed), t] if along == "y" else np.c_[t, np.full_like(t, fixed)]
        )
        projected = np.c_[ground, np.ones(len(t))] @ to_image.T
        visible = projected[:, 2] > 0  # in front of the camera, below the horizon
        pixels = projected[:, :2] / projected[:, 2:3] * [width, height]
        pixels = pixels[visible]
        if len(pixels) < 2:
            continue
        cv2.polylines(image, [np.round(pixels).astype(np.int32)], False, _GRID, 1, cv2.LINE_AA)
        drawn += 1
    for x, y in calibration.image:
        cv2.circle(image, (round(x * width), round(y * height)), 5, _POINT, 2, cv2.LINE_AA)
    return drawn
