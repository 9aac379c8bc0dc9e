"""ByteTrack adapter: untracked detections never come out; boxes come out normalised."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from onsight.track import ByteTracker
from onsight.types import Detections

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _det(x: float) -> Detections:
    return Detections(
        np.array([[x, 100, x + 40, 220]], np.float32),
        np.array([0.9], np.float32),
        np.array([0], np.int64),
    )


def test_a_detection_seen_once_is_not_a_track_and_a_steady_one_is() -> None:
    tracker = ByteTracker(fps=10)
    first = tracker.update(_det(100), 480, 360, 0.0, T0)
    assert len(first) == 0  # unconfirmed: never reaches the apps
    second = tracker.update(_det(103), 480, 360, 0.1, T0)
    assert len(second) == 1 and int(second.track_id[0]) >= 0
    assert np.all((second.xyxy >= 0) & (second.xyxy <= 1))
    np.testing.assert_allclose(second.xyxy[0, [1, 3]], [100 / 360, 220 / 360], atol=0.02)
    empty = tracker.update(Detections.empty(), 480, 360, 0.2, T0)
    assert len(empty) == 0 and tracker.active  # lost, but kept for re-association
