"""Normalised geometry: points, segments and polygons in 0-1 image coordinates (y down)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Point = tuple[float, float]
FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
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


def step_crosses(a: Point, b: Point, p: Point, q: Point, tolerance: float = 0.0) -> bool:
    """Whether the step p -> q changes side of line AB (exactly on it is the negative side)
    where the segment is, its ends extended by `tolerance` of its length."""
    dp, dq = (float(d) for d in side_of_line(a, b, np.array([p, q], np.float32)))
    if (dp > 0) == (dq > 0):
        return False
    w = dp / (dp - dq)
    at = np.array([[p[0] + w * (q[0] - p[0]), p[1] + w * (q[1] - p[1])]], np.float32)
    t = float(projection_on_segment(a, b, at)[0])
    return -tolerance <= t <= 1 + tolerance


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


def points_in_any(polygons: Sequence[Sequence[Sequence[float]]], points: FloatArray) -> BoolArray:
    """Which points lie in at least one of `polygons` (e.g. a camera's `ignore` areas)."""
    inside = np.zeros(len(points), dtype=bool)
    for polygon in polygons:
        inside |= points_in_polygon([(p[0], p[1]) for p in polygon], points)
    return inside


def polygon_area(polygon: list[Point]) -> float:
    """Absolute area by the shoelace formula."""
    poly = np.asarray(polygon, dtype=np.float64)
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def to_pixels(points: list[Point], width: int, height: int) -> npt.NDArray[np.int32]:
    """Normalised points to integer pixels, for drawing only."""
    arr = np.asarray(points, dtype=np.float64) * np.array([width, height])
    return np.asarray(np.round(arr), dtype=np.int32)


class DegenerateCalibration(ValueError):
    """The calibration points cannot give a ground-plane homography."""


def fit_homography(image: FloatArray, ground: FloatArray) -> npt.NDArray[np.float64]:
    """The homography from normalised image points to ground metres (least squares over all
    points when more than 4). Raises DegenerateCalibration for collinear points or a fit
    that folds the ground over the horizon."""
    if len(image) != len(ground) or len(image) < 4:
        raise DegenerateCalibration("give at least 4 image points and as many ground points")
    for name, points in (("image", image), ("ground", ground)):
        if _flatness(points) < 0.01:
            raise DegenerateCalibration(
                f"the {name} points lie on (or close to) one line; spread them over the floor"
            )
    import cv2  # heavy; only calibrated cameras need it

    matrix, _ = cv2.findHomography(image.astype(np.float64), ground.astype(np.float64), 0)
    if matrix is None or not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix)) < 1e-12:
        raise DegenerateCalibration("the points give no usable homography")
    w = np.c_[image, np.ones(len(image))] @ matrix[2]
    if not (np.all(w > 0) or np.all(w < 0)):
        raise DegenerateCalibration(
            "the points do not lie on one plane as seen by the camera (the fit puts some "
            "beyond the horizon): check that each image point matches its ground point"
        )
    return np.asarray(matrix, np.float64)


def to_ground(matrix: npt.NDArray[np.float64], points: FloatArray) -> npt.NDArray[np.float64]:
    """Normalised image points (N, 2) to ground metres (N, 2) through `fit_homography`'s H."""
    if len(points) == 0:
        return np.zeros((0, 2), np.float64)
    projected = np.c_[points.astype(np.float64), np.ones(len(points))] @ matrix.T
    result: npt.NDArray[np.float64] = projected[:, :2] / projected[:, 2:3]
    return result


def _flatness(points: FloatArray) -> float:
    """Smallest over largest spread of a point set: 0 for points on one line."""
    centred = points.astype(np.float64) - points.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    return float(singular[-1] / singular[0]) if singular[0] > 0 else 0.0
