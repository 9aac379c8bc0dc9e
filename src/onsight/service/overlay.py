"""Lines and zones as SVG geometry over a camera image (the live view and the editor).

The SVG's viewBox is the frame size in pixels, so that text and arrows keep their shape;
config coordinates stay normalised and are only scaled here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from onsight.apps.line_count import KIND as LINES
from onsight.apps.occupancy import KIND as ZONES
from onsight.config.models import LineConfig, ZoneConfig
from onsight.runtime import CameraHandle

_DEFAULT_SIZE = (640, 480)


@dataclass(frozen=True)
class LineMark:
    name: str
    in_name: str
    x1: float
    y1: float
    x2: float
    y2: float
    mid_x: float
    mid_y: float
    tip_x: float  # arrow towards the `in` side
    tip_y: float


@dataclass(frozen=True)
class ZoneMark:
    name: str
    points: str  # SVG "x,y x,y ..."
    label_x: float
    label_y: float


@dataclass(frozen=True)
class Overlay:
    width: int
    height: int
    lines: tuple[LineMark, ...]
    zones: tuple[ZoneMark, ...]

    @property
    def font(self) -> float:
        return round(max(11.0, self.height * 0.045), 1)


def frame_size(camera: CameraHandle) -> tuple[int, int]:
    """Size of the images the camera delivers (its latest frame; a default before any)."""
    return camera.frame_size() or _DEFAULT_SIZE


def overlay(
    lines: Sequence[LineConfig], zones: Sequence[ZoneConfig], size: tuple[int, int]
) -> Overlay:
    width, height = size
    arrow = 0.08 * min(width, height)
    marks: list[LineMark] = []
    for line in lines:
        (ax, ay), (bx, by) = ((p[0] * width, p[1] * height) for p in line.points)
        dx, dy = bx - ax, by - ay
        length = math.hypot(dx, dy) or 1.0
        # (B-A) x (P-A) > 0 is the `in` side: the normal (-dy, dx) points into it.
        nx, ny = -dy / length, dx / length
        mx, my = (ax + bx) / 2, (ay + by) / 2
        marks.append(
            LineMark(
                line.name, line.in_name, ax, ay, bx, by, mx, my, mx + nx * arrow, my + ny * arrow
            )
        )
    zone_marks = []
    for zone in zones:
        points = [(p[0] * width, p[1] * height) for p in zone.polygon]
        text = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        cx = sum(x for x, _ in points) / len(points)
        cy = sum(y for _, y in points) / len(points)
        zone_marks.append(ZoneMark(zone.name, text, cx, cy))
    return Overlay(width, height, tuple(marks), tuple(zone_marks))


def camera_overlay(camera: CameraHandle) -> Overlay:
    """The camera's running lines and zones over its frame size."""
    return overlay(camera.items(LINES), camera.items(ZONES), frame_size(camera))
