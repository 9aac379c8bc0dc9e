"""Normalised geometry: points, segments and polygons in 0-1 image coordinates (y down)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Point = tuple[float, float]
FloatArray = npt.NDArray[np.float32]
_EDGE = 1e-6


def bottom_centres(xyxy: FloatArray) -> FloatArray:
    """Anchor point of each box (x1, y1, x2, y2): the bottom centre, where feet touch the floor."""
    return np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]], axis=1).astype(np.float32)


def side_of_line(a: Point, b: Point, points: FloatArray) -> FloatArray:
    """Signed cross product (B-A)x(P-A) for each point, divided by |B-A|.

    The result is a signed distance: negative on the `out` side, positive on the
    `in` side (with y pointing down, moving down across A=(0,.5)->B=(1,.5) is `in`).
    """
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length = float(np.hypot(dx, dy)) or 1.0
    cross = dx * (points[:, 1] - ay) - dy * (points[:, 0] - ax)
    return (cross / length).astype(np.float32)


def projection_on_segment(a: Point, b: Point, points: FloatArray) -> FloatArray:
    """Position of each point's projection along A->B: 0 at A, 1 at B."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    denom = dx * dx + dy * dy or 1.0
    t = ((points[:, 0] - a[0]) * dx + (points[:, 1] - a[1]) * dy) / denom
    return np.asarray(t, dtype=np.float32)


def points_in_polygon(polygon: list[Point], points: FloatArray) -> npt.NDArray[np.bool_]:
    """Even-odd rule test for many points against one polygon (vectorised)."""
    if len(points) == 0:
        return np.zeros((0,), dtype=bool)
    poly = np.asarray(polygon, dtype=np.float64)
    # A box cut off by the frame edge has its anchor on the border (x or y exactly 0 or 1);
    # nudge it inside so that a zone drawn to the edge of the picture includes it.
    inside = np.clip(points.astype(np.float64), _EDGE, 1.0 - _EDGE)
    x = inside[:, 0][:, None]
    y = inside[:, 1][:, None]
    x1, y1 = poly[:, 0][None, :], poly[:, 1][None, :]
    x2, y2 = np.roll(poly[:, 0], -1)[None, :], np.roll(poly[:, 1], -1)[None, :]
    straddles = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    crossings = straddles & (x < x_cross)
    return np.asarray(crossings.sum(axis=1) % 2 == 1)


def polygon_area(polygon: list[Point]) -> float:
    """Absolute area by the shoelace formula."""
    poly = np.asarray(polygon, dtype=np.float64)
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def to_pixels(points: list[Point], width: int, height: int) -> npt.NDArray[np.int32]:
    """Normalised points to integer pixels, for drawing only."""
    arr = np.asarray(points, dtype=np.float64) * np.array([width, height])
    return np.asarray(np.round(arr), dtype=np.int32)
