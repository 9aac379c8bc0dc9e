"""The detection region: the part of the frame a camera's counting lines need.

A door line in one corner of a wide view needs only that corner analysed. The region is
the bounding box of every line plus a margin, the largest above them: people stand on a
line with their heads far above it, and must be seen walking up to it. Where people are
taller than that margin (a camera close to a door), the region grows until it holds them
(`DetectionRegion`).

Cameras with zones (or any other app) keep the whole frame. The region is measured on
labelled lines only, and on a zone it changed what the still-object filter sees: a sign in
vtest that the detector takes for a person, held out of its zone on all but 13 of 140
frames with the whole frame, was let in on 45 with a region around the zone.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from onsight.apps.registry import kinds
from onsight.config.models import CameraConfig
from onsight.types import FloatArray, Region

# Margins around the lines, in fractions of the frame. To the sides and below:
# the walk up to a line, long enough for the tracker to confirm someone and for the side
# they come from to settle (a second) before they cross; 0.15 lost 2 of 44 crossings on
# the golden clips. Above: that, and the height of a person standing on the line.
MARGIN_ABOVE = 0.35
MARGIN_SIDE = 0.25
MARGIN_BELOW = 0.25
# Above this share of the frame the saving (inference shrinks with the region) no longer
# pays for the edges it adds.
MAX_SHARE = 0.7


def region_applies(camera: CameraConfig) -> bool:
    """Whether every app the camera runs is a counting line (an app drawn as points). Never
    for an inspection camera (the only purpose allowed redaction "none", whose live view
    blurs just the people the pipeline found) or one whose apps read the image."""
    if not camera.detection_region or camera.purpose == "inspection":
        return False
    running = [kind for kind in kinds() if kind.items(camera)]
    if any(kind.needs_image for kind in running):
        return False
    return bool(running) and all(kind.shape == "points" for kind in running)


def detection_region(
    camera: CameraConfig, edges: FloatArray, width: int, height: int
) -> Region | None:
    """The pixels of a `width` x `height` frame to detect in, or None for the whole frame.

    `edges` are the camera's line segments and zone edges, (M, 2, 2) normalised."""
    if len(edges) == 0 or not region_applies(camera):
        return None
    points = edges.reshape(-1, 2)
    left = max(0.0, float(points[:, 0].min()) - MARGIN_SIDE)
    right = min(1.0, float(points[:, 0].max()) + MARGIN_SIDE)
    top = max(0.0, float(points[:, 1].min()) - MARGIN_ABOVE)
    bottom = min(1.0, float(points[:, 1].max()) + MARGIN_BELOW)
    region = (
        math.floor(left * width),
        math.floor(top * height),
        min(width, math.ceil(right * width)),
        min(height, math.ceil(bottom * height)),
    )
    return region if _share(region, width, height) <= MAX_SHARE else None


def _share(region: Region, width: int, height: int) -> float:
    x0, y0, x1, y1 = region
    return (x1 - x0) * (y1 - y0) / (width * height)


class DetectionRegion:
    """A camera's detection region for one frame size, grown to fit the people it cuts.

    Close to the camera, someone standing on a line can be taller (or wider) than the
    margins. A box cut by the region's edge then ends elsewhere than the person does (its
    bottom 15 px higher on a 400 px person whose head is cut), and a line counts from the
    feet. So when the region cuts anyone who reaches into the lines' own bounding box, it
    grows on that side by the box's size, for good (until the lines change), or is dropped
    once it no longer pays.
    """

    def __init__(self, camera: CameraConfig, edges: FloatArray, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.box = detection_region(camera, edges, width, height)
        points = edges.reshape(-1, 2) * np.array([width, height], np.float32)
        self._lines = (*points.min(axis=0), *points.max(axis=0)) if len(points) else None

    def observe(self, xyxy: FloatArray) -> None:
        """Grow the region for the boxes (image pixels) found in it, if it cut someone."""
        if self.box is None or self._lines is None or len(xyxy) == 0:
            return
        lx0, ly0, lx1, ly1 = self._lines
        near = (xyxy[:, 2] >= lx0) & (xyxy[:, 0] <= lx1) & (xyxy[:, 3] >= ly0) & (xyxy[:, 1] <= ly1)
        if not near.any():
            return
        boxes = xyxy[near]
        widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        x0, y0, x1, y1 = self.box
        left = _grown(x0, boxes[:, 0] <= x0 + 1, widths, -1, self.width)
        top = _grown(y0, boxes[:, 1] <= y0 + 1, heights, -1, self.height)
        right = _grown(x1, boxes[:, 2] >= x1 - 1, widths, 1, self.width)
        bottom = _grown(y1, boxes[:, 3] >= y1 - 1, heights, 1, self.height)
        grown = (left, top, right, bottom)
        if grown != self.box:
            self.box = grown if _share(grown, self.width, self.height) <= MAX_SHARE else None


def _grown(edge: int, cut: npt.NDArray[np.bool_], sizes: FloatArray, way: int, end: int) -> int:
    """An edge of the region moved out (`way` -1: towards 0, 1: towards `end`) by the
    largest size among the boxes it cut; unchanged if it cut none or is the frame's."""
    if not cut.any() or edge in (0, end):
        return edge
    step = math.ceil(float(sizes[cut].max()))
    return max(0, edge - step) if way < 0 else min(end, edge + step)
