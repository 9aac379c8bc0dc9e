"""Draws lines, zones, boxes and counts on an (already redacted) image. Never shows track ids."""

from __future__ import annotations

import cv2

from onsight.apps.line_count import KIND as LINES
from onsight.apps.occupancy import KIND as ZONES
from onsight.geometry import to_pixels
from onsight.runtime.pipeline import CameraPipeline
from onsight.types import Image, Tracks

_LINE = (0, 200, 255)
_ZONE = (255, 160, 0)
_BOX = (80, 220, 80)


def draw_overlay(image: Image, pipeline: CameraPipeline, tracks: Tracks) -> None:
    height, width = image.shape[:2]
    for zone in pipeline.running(ZONES):
        poly = to_pixels([(p[0], p[1]) for p in zone.config.polygon], width, height)
        cv2.polylines(image, [poly], True, _ZONE, 2)
        x, y = poly.min(axis=0)
        _label(image, f"{zone.config.name}: now {zone.current}, peak {zone.peak}", x + 4, y + 18)
    for line in pipeline.running(LINES):
        a, b = to_pixels([(p[0], p[1]) for p in line.config.points], width, height)
        cv2.line(image, tuple(int(v) for v in a), tuple(int(v) for v in b), _LINE, 2)
        text = (
            f"{line.config.name}: {line.config.in_name} {line.total('in')}"
            f" / {line.config.out_name} {line.total('out')}"
        )
        _label(image, text, int(min(a[0], b[0])) + 4, int(max(a[1], b[1])) - 8)
    corners = [(float(x), float(y)) for x, y in tracks.xyxy.reshape(-1, 2)]
    for x1, y1, x2, y2 in to_pixels(corners, width, height).reshape(-1, 4):
        cv2.rectangle(image, (int(x1), int(y1)), (int(x2), int(y2)), _BOX, 1)


def _label(image: Image, text: str, x: int, y: int) -> None:
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(
        image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA
    )
