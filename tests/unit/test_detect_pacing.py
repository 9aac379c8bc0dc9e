"""When the detector runs. Refreshes of a still scene: while tracks are alive and nothing
moves, the detector is re-run every `refresh_seconds`; each refresh that finds every track
where it was doubles the wait (up to 32 times), so a poster the detector takes for a person
does not cost a detection a second all night. A track that does change keeps the refresh at
its setting, and a change inside a track's box, even one too small for the motion gate (a
far-away person leaving), brings the refresh forward. `half_rate_away` (opt-in): while
nobody is near a line or zone edge, every other moving frame only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from onsight.config.models import CameraConfig
from onsight.events import EventBus
from onsight.runtime import CameraPipeline
from onsight.types import Detections, Frame, Image
from tests.conftest import assets_dir, require

FPS = 5
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


class _Poster:
    """One 'person' that never moves (or drifts `drift` px per call); counts its calls."""

    class_names = ("person",)
    fitted_canvas = True

    def __init__(self, drift: float = 0.0, x: float = 100) -> None:
        self.calls = 0
        self._drift = drift
        self._x = x

    def detect(self, image: Image, region: object = None) -> Detections:
        self.calls += 1
        x = self._x + self._drift * self.calls
        return Detections(
            xyxy=np.array([[x, 50, x + 40, 150]], np.float32),
            confidence=np.array([0.9], np.float32),
            class_id=np.array([0], np.int64),
        )


def _night(detector: _Poster, seconds: int) -> CameraPipeline:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    camera = CameraConfig.model_validate({"name": "hall", "url": str(video), "fps": FPS})
    pipeline = CameraPipeline(camera, detector, EventBus([]))
    still: Image = np.full((360, 480, 3), 90, np.uint8)
    for index in range(seconds * FPS):
        pts = index / FPS
        pipeline.process(Frame("hall", index, pts, still, T0 + timedelta(seconds=pts)))
    return pipeline


def test_a_still_false_person_is_refreshed_ever_more_rarely() -> None:
    poster = _Poster()
    _night(poster, 300)
    # Confirming it takes a few detections; then refreshes after 1, 2, 4, 8, 16, 32, 32, ...
    # s: about 17 in five minutes instead of 300.
    assert poster.calls <= 20, poster.calls


class _Seer:
    """Sees a 'person' exactly while a small dark block is in the frame."""

    class_names = ("person",)
    fitted_canvas = True
    box = (240, 150, 252, 168)  # x1, y1, x2, y2: 12 x 18 px, too small for the motion gate

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: Image, region: object = None) -> Detections:
        self.calls += 1
        x1, y1, x2, y2 = self.box
        present = float(image[y1:y2, x1:x2].mean()) < 50
        return Detections(
            xyxy=np.array([self.box] if present else np.zeros((0, 4)), np.float32),
            confidence=np.array([0.9] if present else [], np.float32),
            class_id=np.array([0] if present else [], np.int64),
        )


def test_a_change_inside_a_still_track_brings_the_refresh_forward() -> None:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    camera = CameraConfig.model_validate({"name": "hall", "url": str(video), "fps": FPS})
    seer = _Seer()
    pipeline = CameraPipeline(camera, seer, EventBus([]))
    empty: Image = np.full((360, 480, 3), 90, np.uint8)
    someone = empty.copy()
    x1, y1, x2, y2 = _Seer.box
    someone[y1:y2, x1:x2] = 20
    calls: dict[float, int] = {}
    for index in range(123 * FPS):
        pts = index / FPS
        calls[pts] = seer.calls  # detector calls before this frame
        image = someone if pts < 120 else empty
        pipeline.process(Frame("hall", index, pts, image, T0 + timedelta(seconds=pts)))
    assert pipeline.motion.motion_frames == 1, "only the first frame; never the leaving"
    assert calls[120] - calls[60] <= 3, "by now the refresh has backed off to tens of seconds"
    # Without the change in the box, the next refresh would be up to 32 s away.
    assert calls[121] > calls[120], "the change in the track's box was detected on at once"


def test_flicker_inside_a_still_track_backs_off_too() -> None:
    """A small patch that flickers inside a poster's box every frame (a screen, a lamp):
    each refresh it brings forward finds the poster where it was, so the next one waits
    twice as long, up to 8 times the setting (about 50 in five minutes, not 300)."""
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    camera = CameraConfig.model_validate({"name": "hall", "url": str(video), "fps": FPS})
    poster = _Poster()  # its box: x 100-140, y 50-150
    pipeline = CameraPipeline(camera, poster, EventBus([]))
    dark: Image = np.full((360, 480, 3), 90, np.uint8)
    lit = dark.copy()
    lit[90:105, 110:122] = 150  # 12 x 15 px: too small for the motion gate
    for index in range(300 * FPS):
        pts = index / FPS
        image = lit if index % 2 else dark
        pipeline.process(Frame("hall", index, pts, image, T0 + timedelta(seconds=pts)))
    assert pipeline.motion.motion_frames == 1, "the flicker never opens the motion gate"
    assert 30 <= poster.calls <= 55, poster.calls


def test_a_track_that_changes_keeps_the_refresh_at_its_setting() -> None:
    """Something moving too slowly for the motion gate (8 px a second here) is detected
    every second, as before."""
    walker = _Poster(drift=8.0)
    _night(walker, 30)
    assert walker.calls >= 28, walker.calls


def _busy(detector: _Poster, half_rate_away: bool, seconds: int = 10) -> None:
    """Frames that always move (the motion gate always opens); one line at x = 0.9."""
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    camera = CameraConfig.model_validate(
        {"name": "yard", "url": str(video), "fps": FPS,
         "lines": [{"name": "gate", "points": [[0.9, 0.0], [0.9, 1.0]]}],
         "motion": {"half_rate_away": half_rate_away}}
    )  # fmt: skip
    pipeline = CameraPipeline(camera, detector, EventBus([]))
    rng = np.random.default_rng(1)
    for index in range(seconds * FPS):
        pts = index / FPS
        image: Image = rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)
        pipeline.process(Frame("yard", index, pts, image, T0 + timedelta(seconds=pts)))


def test_away_from_every_line_every_other_moving_frame_is_detected() -> None:
    far, near, off = _Poster(x=60), _Poster(x=400), _Poster(x=60)
    _busy(far, half_rate_away=True)
    _busy(near, half_rate_away=True)  # feet at x 420 of 480 = 0.875: near the line
    _busy(off, half_rate_away=False)
    assert off.calls == near.calls == 10 * FPS
    # Every other frame (the first few confirm the track), never fewer.
    assert 10 * FPS // 2 <= far.calls <= 10 * FPS // 2 + 5, far.calls
