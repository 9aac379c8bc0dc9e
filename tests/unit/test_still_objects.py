"""Still, motionless person-like objects are held out of the apps; people are not."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from onsight.track import StaticFilter
from onsight.types import Tracks

T0 = datetime(2026, 1, 1, tzinfo=UTC)
QUIET = np.zeros((90, 160), dtype=bool)


def _frame(pts: float, boxes: dict[int, tuple[float, float, float, float]]) -> Tracks:
    xyxy = np.array(list(boxes.values()), np.float32).reshape(-1, 4)
    ids = np.array(list(boxes), np.int64)
    return Tracks(pts, T0, xyxy, np.zeros(len(ids), np.int64), ids)


def _moving_in(box: tuple[float, float, float, float]) -> np.ndarray:
    mask = QUIET.copy()
    x1, y1, x2, y2 = box
    mask[int(y1 * 90) : int(y2 * 90), int(x1 * 160) : int(x2 * 160)] = True
    return mask


SIGN = (0.04, 0.19, 0.06, 0.25)


def _held_after(seconds: float, motion: np.ndarray, fps: float = 10.0) -> list[float]:
    still = StaticFilter(never_moved_seconds=10.0, moved_seconds=300.0)
    held = []
    for i in range(round(seconds * fps)):
        kept = still.update(_frame(i / fps, {3: SIGN}), motion)
        if len(kept) == 0:
            held.append(i / fps)
    return held


def test_a_sign_that_never_moves_is_held_out_after_ten_seconds() -> None:
    held = _held_after(30.0, QUIET)
    assert held and 10.0 <= held[0] <= 10.2
    assert held[-1] == 29.9


def test_motion_inside_the_box_keeps_a_still_person_counted() -> None:
    assert _held_after(30.0, _moving_in(SIGN)) == []


def test_someone_who_walked_in_and_sat_still_counts_for_minutes() -> None:
    still = StaticFilter(never_moved_seconds=10.0, moved_seconds=300.0)
    for i in range(20):  # walks in
        x = 0.1 + 0.02 * i
        assert len(still.update(_frame(i / 10, {1: (x, 0.4, x + 0.1, 0.7)}), QUIET)) == 1
    seat = (0.48, 0.40, 0.58, 0.70)
    counted = [len(still.update(_frame(2 + i / 10, {1: seat}), QUIET)) for i in range(1200)]
    assert all(counted), "held out within two minutes of sitting down"


def test_a_held_object_that_moves_counts_again_at_once() -> None:
    still = StaticFilter(never_moved_seconds=10.0, moved_seconds=300.0)
    for i in range(150):
        still.update(_frame(i / 10, {5: SIGN}), QUIET)
    assert len(still.update(_frame(15.0, {5: SIGN}), QUIET)) == 0
    moved = (0.10, 0.19, 0.12, 0.25)
    assert len(still.update(_frame(15.1, {5: moved}), QUIET)) == 1


def test_disabled_or_without_a_motion_mask_nothing_is_held() -> None:
    off = StaticFilter(never_moved_seconds=0.0, moved_seconds=300.0)
    blind = StaticFilter(never_moved_seconds=10.0, moved_seconds=300.0)
    for i in range(300):
        assert len(off.update(_frame(i / 10, {3: SIGN}), QUIET)) == 1
        assert len(blind.update(_frame(i / 10, {3: SIGN}), None)) == 1


def test_people_walking_past_a_sign_do_not_make_it_move() -> None:
    still = StaticFilter(never_moved_seconds=10.0, moved_seconds=300.0)
    held = []
    for i in range(300):
        boxes = {3: SIGN}
        motion = QUIET
        if 120 <= i < 140:  # someone walks past, in front of the sign
            walker = (0.02 + 0.001 * (i - 120), 0.15, 0.07 + 0.001 * (i - 120), 0.26)
            boxes[8] = walker
            motion = _moving_in(walker)
        kept = still.update(_frame(i / 10, boxes), motion)
        held.append(3 not in kept.track_id.tolist())
    assert all(held[101:]), "a passer-by released the sign"


def test_someone_sitting_still_since_the_camera_started_keeps_counting() -> None:
    """A reader at a desk may not change a pixel the motion gate sees for a long time; the
    detector is sure they are a person, so they are not taken for a sign."""
    still = StaticFilter(never_moved_seconds=10.0, moved_seconds=300.0)
    seat = (0.48, 0.40, 0.58, 0.70)
    counted = []
    for i in range(1200):
        frame = _frame(i / 10, {1: seat})
        sure = Tracks(frame.pts, T0, frame.xyxy, frame.class_id, frame.track_id,
                      np.array([0.8], np.float32))  # fmt: skip
        counted.append(len(still.update(sure, QUIET)))
    assert all(counted)
