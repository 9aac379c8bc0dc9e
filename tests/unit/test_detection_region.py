"""The detection region: a camera whose counting lines cover a small part of the frame is
detected in that part only (plus margins), at the whole frame's scale."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onsight.config.models import CameraConfig, DetectorConfig, LineConfig
from onsight.detect.decoders import Letterbox
from onsight.detect.factory import make_detector
from onsight.events.bus import EventBus
from onsight.ingest import VideoSource
from onsight.privacy.finders import ModelFinders
from onsight.privacy.redact import redact
from onsight.runtime import CameraPipeline
from onsight.runtime.pipeline import _edges
from onsight.runtime.region import (
    MARGIN_ABOVE,
    MARGIN_BELOW,
    MARGIN_SIDE,
    DetectionRegion,
    detection_region,
)
from onsight.types import Detections, Frame, Image, Region

_DOOR = {"name": "door", "points": [[0.75, 0.6], [0.95, 0.6]]}
_MAT = [[0.7, 0.5], [0.95, 0.5], [0.95, 0.7], [0.7, 0.7]]
_BELT = {"region": [[0.1, 0.3], [0.9, 0.3], [0.9, 0.7], [0.1, 0.7]], "travel": "right"}


def _camera(**extra: Any) -> CameraConfig:
    return CameraConfig.model_validate({"name": "hall", "url": "x.mp4", **extra})


def _region(camera: CameraConfig, width: int = 640, height: int = 360) -> Region | None:
    return detection_region(camera, _edges(camera), width, height)


def test_a_door_line_in_a_corner_is_detected_around_it_only() -> None:
    region = _region(_camera(lines=[_DOOR]))
    assert region is not None
    x0, y0, x1, y1 = region
    assert x0 == int((0.75 - MARGIN_SIDE) * 640) and x1 == 640
    assert y0 == int((0.6 - MARGIN_ABOVE) * 360)
    assert 0 <= y1 - (0.6 + MARGIN_BELOW) * 360 <= 1


@pytest.mark.parametrize(
    "extra",
    [
        {"lines": [{"name": "across", "points": [[0.05, 0.1], [0.95, 0.9]]}]},  # most of it
        {"lines": [_DOOR], "heatmap": {"image_cells": 10}},  # an app of the whole frame
        {"lines": [_DOOR], "zones": [{"name": "mat", "polygon": _MAT}]},  # zones: not measured
        {"lines": [_DOOR], "detection_region": False},  # turned off
        {"purpose": "inspection", "inspection": _BELT},  # a belt: the whole frame
        {},  # nothing drawn
    ],
)
def test_the_whole_frame_is_detected_when_the_region_would_not_pay_or_not_hold(
    extra: dict[str, Any],
) -> None:
    assert _region(_camera(**extra)) is None


@given(
    width=st.integers(32, 2000),
    height=st.integers(32, 2000),
    corners=st.tuples(*[st.floats(0.0, 1.0)] * 4),
    fit=st.booleans(),
    box=st.tuples(*[st.floats(0.0, 1.0)] * 4),
)
def test_a_region_keeps_the_whole_frames_scale_and_maps_boxes_back(
    width: int,
    height: int,
    corners: tuple[float, float, float, float],
    fit: bool,
    box: tuple[float, float, float, float],
) -> None:
    xa, xb = sorted(round(c * width) for c in corners[0::2])
    ya, yb = sorted(round(c * height) for c in corners[1::2])
    region = (xa, ya, max(xb, xa + 1), max(yb, ya + 1))
    if region[2] > width or region[3] > height:
        return
    letterbox = Letterbox(416, centre=False, pad_value=114, fit=fit)
    whole, geo = letterbox.geometry(width, height), letterbox.geometry(width, height, region)
    assert geo.scale == whole.scale
    assert geo.canvas_width <= whole.canvas_width and geo.canvas_height <= whole.canvas_height
    x0, y0, x1, y1 = region
    bx1, bx2 = sorted((x0 + box[0] * (x1 - x0), x0 + box[2] * (x1 - x0)))
    by1, by2 = sorted((y0 + box[1] * (y1 - y0), y0 + box[3] * (y1 - y0)))
    original = np.array([[bx1, by1, bx2, by2]], np.float32)
    canvas = (original - np.array([x0, y0] * 2, np.float32)) * geo.scale
    np.testing.assert_allclose(geo.to_image(canvas), original, atol=1e-3 * max(width, height))


def test_a_region_outside_the_image_is_refused() -> None:
    letterbox = Letterbox(416, centre=False, pad_value=114, fit=True)
    with pytest.raises(ValueError, match="not inside"):
        letterbox(np.zeros((360, 480, 3), np.uint8), (0, 0, 500, 360))


def _people(found: Detections, region: Region, margin: float = 8.0) -> Image:
    """Person boxes well inside `region` (those the crop cannot have cut)."""
    x0, y0, x1, y1 = region
    boxes = found.xyxy[found.class_id == 0]
    inside = (
        (boxes[:, 0] > x0 + margin)
        & (boxes[:, 1] > y0 + margin)
        & (boxes[:, 2] < x1 - margin)
        & (boxes[:, 3] < y1 - margin)
    )
    return np.asarray(boxes[inside])


def test_people_inside_the_region_are_found_where_they_are(
    video: Callable[[str], Path],
) -> None:
    """Detecting in the lower right of vtest finds the people standing well inside it, at
    the same places (in whole-frame pixels) as detecting in the whole frame."""
    detector = make_detector()
    region = (200, 60, 480, 360)
    found = matched = 0
    for frame in islice(VideoSource("door", str(video("vtest_480x360.avi")), 5).frames(), 0, 80, 2):
        picture = frame.image
        whole = _people(detector.detect(picture), region, margin=24.0)
        cropped = detector.detect(picture, region)
        assert (cropped.xyxy[:, 0::2] >= 200).all() and (cropped.xyxy[:, 1::2] >= 60).all()
        found += len(whole)
        for box in whole:
            near = np.abs(cropped.xyxy - box).max(axis=1) if len(cropped) else np.array([99.0])
            matched += int(near.min() < 4.0)
    # the rest are people near the region's edges, whom the crop shows less context
    assert found >= 10 and matched >= 0.8 * found, (matched, found)


class _Spy:
    """The real detector, recording the region of each call."""

    def __init__(self) -> None:
        self._detector = make_detector()
        self.regions: list[Region | None] = []
        self.found = 0  # boxes of any class

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self._detector.class_names)

    @property
    def fitted_canvas(self) -> bool:
        return self._detector.fitted_canvas

    def detect(self, image: Image, region: Region | None = None) -> Detections:
        self.regions.append(region)
        found = self._detector.detect(image, region)
        self.found += len(found)
        return found


def test_the_pipeline_detects_in_the_region_and_forgets_it_when_the_lines_change(
    video: Callable[[str], Path],
) -> None:
    path = video("vtest_480x360.avi")
    camera = CameraConfig.model_validate(
        {"name": "hall", "url": str(path), "fps": 5, "lines": [_DOOR]}
    )
    spy = _Spy()
    pipeline = CameraPipeline(camera, spy, EventBus([]))
    frames = islice(VideoSource("hall", str(path), 5).frames(), 6)
    results = [pipeline.process(frame) for frame in frames]
    expected = detection_region(camera, _edges(camera), 480, 360)
    assert expected is not None and spy.regions and set(spy.regions) == {expected}
    x0 = expected[0] / 480
    assert all((r.people[:, 0] >= x0 - 1e-6).all() for r in results)  # normalised, whole frame
    across = LineConfig.model_validate({"name": "across", "points": [[0.05, 0.1], [0.95, 0.9]]})
    pipeline.apply_geometry({"lines": [across]})
    still = np.full((360, 480, 3), 90, np.uint8)
    pipeline.process(Frame("hall", 99, 99.0, still, datetime.now(UTC)))
    assert spy.regions[-1] is None


def test_the_region_grows_over_anyone_it_cuts_near_the_lines_and_is_dropped_when_too_big() -> (
    None
):
    """Growth up (a tall person) and left, then dropped; see also the middle case below."""
    camera = _camera(lines=[_DOOR])
    region = DetectionRegion(camera, _edges(camera), 640, 360)
    assert region.box is not None
    x0, y0, x1, y1 = region.box
    far_off = np.array([[x0 + 5, y0, x0 + 40, y0 + 60]], np.float32)  # cut, but not near
    region.observe(far_off)
    assert region.box == (x0, y0, x1, y1)
    tall = np.array([[500, y0, 540, 230]], np.float32)  # feet on the door line, head cut
    region.observe(tall)
    assert region.box == (x0, max(0, y0 - (230 - y0)), x1, y1)
    wide = np.array([[region.box[0], 200, 620, 230]], np.float32)  # cut on the left
    region.observe(wide)
    assert region.box is None  # it would cover most of the frame: the whole frame it is


@pytest.mark.parametrize(
    ("clip", "lines", "kept"),
    [
        # A close camera: people as tall as the frame. The region starts around the line,
        # cuts the first people at the door and grows to the top of the frame.
        ("one-by-one-person-detection.mp4", [[[0.72, 0.55], [0.72, 1.0]]], False),
        # A far view of a car park: people a tenth of its height fit in the margins.
        ("person-bicycle-car-detection_reencode.mp4", [[[0.3, 0.6], [0.6, 0.6]]], True),
    ],
)
def test_the_region_holds_on_a_far_view_and_grows_on_a_close_one(
    video: Callable[[str], Path], clip: str, lines: list[Any], kept: bool
) -> None:
    path = video(clip)
    camera = CameraConfig.model_validate(
        {
            "name": "hall",
            "url": str(path),
            "fps": 5,
            "lines": [{"name": f"l{i}", "points": p} for i, p in enumerate(lines)],
        }
    )
    spy = _Spy()
    pipeline = CameraPipeline(camera, spy, EventBus([]))
    for frame in islice(VideoSource("hall", str(path), 5).frames(), 150):
        pipeline.process(frame)
    first, last = spy.regions[0], spy.regions[-1]
    assert spy.found >= 10  # there was someone to cut
    assert first is not None and first[1] > 0  # both start with a region below the top
    if kept:
        assert last == first
    else:
        assert last is None or last[1] == 0, last


def test_placing_regions_one_after_another_refills_the_padding() -> None:
    """The canvas is reused: each placement is what a fresh letterbox would make."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)
    reused = Letterbox(416, centre=False, pad_value=114, fit=True)
    centred = Letterbox(416, centre=True, pad_value=0, fit=False, mean=(1, 2, 3), std=(4, 5, 6))
    for region in [(0, 0, 480, 360), (100, 50, 300, 200), None, (10, 0, 480, 100), None]:
        for letterbox, fresh in (
            (reused, Letterbox(416, centre=False, pad_value=114, fit=True)),
            (centred, Letterbox(416, centre=True, pad_value=0, mean=(1, 2, 3), std=(4, 5, 6))),
        ):
            blob, geometry = letterbox(image, region)
            expected, same = fresh(image, region)
            assert geometry == same and np.array_equal(blob, expected), (region, geometry)


def test_the_live_view_blurs_people_outside_the_region(video: Callable[[str], Path]) -> None:
    """Redaction looks for people in the whole frame itself: someone the region leaves out
    of detection is blurred all the same."""
    path = video("vtest_480x360.avi")
    camera = CameraConfig.model_validate(
        {"name": "hall", "url": str(path), "fps": 5, "lines": [_DOOR]}
    )
    spy = _Spy()
    pipeline = CameraPipeline(camera, spy, EventBus([]))
    finders = ModelFinders(DetectorConfig())
    whole = make_detector()
    checked = 0
    for frame in islice(VideoSource("hall", str(path), 5).frames(), 60):
        result = pipeline.process(frame)
        if frame.index % 6:
            continue
        region = spy.regions[-1]
        assert region is not None
        found = whole.detect(frame.image)
        outside = found.xyxy[(found.class_id == 0) & (found.xyxy[:, 2] < region[0])]
        redacted = redact(frame.image, camera, finders, people=result.people).image
        for x1, y1, x2, y2 in outside.astype(int):
            if (x2 - x1) * (y2 - y1) < 300:
                continue
            box = (slice(y1, y2), slice(x1, x2))
            changed = np.abs(redacted[box].astype(int) - frame.image[box].astype(int)).mean()
            assert changed > 10, (x1, y1, x2, y2, changed)
            checked += 1
    assert checked >= 5


def test_the_region_grows_down_and_right_too() -> None:
    middle = {"name": "mid", "points": [[0.45, 0.4], [0.55, 0.4]]}
    camera = _camera(lines=[middle])
    region = DetectionRegion(camera, _edges(camera), 1000, 1000)
    assert region.box is not None
    x0, y0, x1, y1 = region.box
    assert x1 < 1000 and y1 < 1000
    low = np.array([[480, 380, 520, y1]], np.float32)  # on the line, cut at the bottom
    region.observe(low)
    assert region.box == (x0, y0, x1, min(1000, y1 + (y1 - 380)))
    wide = np.array([[500, 390, x1, 420]], np.float32)  # cut on the right
    region.observe(wide)
    assert region.box is not None and region.box[2] == min(1000, x1 + (x1 - 500))
