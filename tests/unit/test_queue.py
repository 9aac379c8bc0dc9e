"""Queues: length per minute, waits per hour (k >= 5), id switches, flicker, served line."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from onsight.apps.queue import QueueConfig, QueueHour, QueueMinute, QueueMonitor, summary
from onsight.config.models import CameraConfig
from onsight.errors import ConfigError
from onsight.types import Tracks

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
NAMES = ["person", "bicycle", "car"]
POLYGON = [[0.0, 0.5], [0.5, 0.5], [0.5, 1.0], [0.0, 1.0]]
FPS = 5


def _tracks(pts: float, people: list[tuple[int, float, float]], class_id: int = 0) -> Tracks:
    """Tracks whose box bottom centre is at (x, y) for each (track_id, x, y)."""
    xyxy = np.array([[x - 0.02, y - 0.1, x + 0.02, y] for _, x, y in people], np.float32)
    ids = np.array([tid for tid, _, _ in people], np.int64)
    when = T0 + timedelta(seconds=pts)
    return Tracks(pts, when, xyxy.reshape(-1, 4), np.full(len(people), class_id), ids)


def _queue(served: tuple[tuple[float, float], tuple[float, float]] | None = None) -> QueueMonitor:
    return QueueMonitor("cam", QueueConfig(name="till", polygon=POLYGON), NAMES, served)


def _run(queue: QueueMonitor, seconds: float, who: object) -> list[QueueMinute | QueueHour]:
    """Feed `seconds` at FPS; `who(t)` gives the people seen at time t."""
    events: list[QueueMinute | QueueHour] = []
    for i in range(int(seconds * FPS)):
        t = i / FPS
        events += queue.update(_tracks(t, who(t)))  # type: ignore[operator]
    return events


def _visitors(waits: list[float], start: float = 0.0, gap: float = 3.0) -> object:
    """One person after another, each in the queue for its wait, then gone."""
    spells, t = [], start
    for n, wait in enumerate(waits):
        spells.append((n + 1, t, t + wait))
        t += wait + gap

    def who(t: float) -> list[tuple[int, float, float]]:
        # Alternate spots, so the next person is not taken for the last one found again.
        return [(tid, 0.1 + 0.3 * (tid % 2), 0.8) for tid, a, b in spells if a <= t < b]

    return who


def test_waits_are_released_per_hour_with_five_visits() -> None:
    queue = _queue()
    waits = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    _run(queue, 260, _visitors(waits))
    hours = [e for e in queue.flush() if isinstance(e, QueueHour)]
    assert len(hours) == 1 and hours[0].visits == 6
    assert hours[0].median_wait_seconds == pytest.approx(35.0, abs=0.5)
    assert {f.name for f in dataclasses.fields(hours[0])} == {
        "hour", "camera", "queue", "visits", "median_wait_seconds", "p90_wait_seconds",
        "event_id",  # the event's own (types.Stamped), never a person's
    }  # fmt: skip


def test_fewer_than_five_visits_release_no_waits() -> None:
    queue = _queue()
    _run(queue, 120, _visitors([10.0, 20.0, 30.0, 40.0]))
    assert not [e for e in queue.flush() if isinstance(e, QueueHour)]
    assert queue.suppressed_hours == 1
    assert summary(queue)["median_wait_s"] is None and summary(queue)["visits"] == 4


def test_an_id_switch_mid_wait_is_one_visit() -> None:
    queue = _queue()

    def who(t: float) -> list[tuple[int, float, float]]:
        if t < 12:
            return [(1, 0.25, 0.8)]
        if 12.4 <= t < 30:
            return [(2, 0.26, 0.8)]  # the tracker lost them and found them under a new id
        return []

    _run(queue, 40, who)
    queue.flush()
    assert queue.waits == [pytest.approx(29.8, abs=0.3)]


def test_a_flickering_box_is_one_visit() -> None:
    queue = _queue()
    _run(queue, 40, lambda t: [(1, 0.25, 0.8)] if t < 20 and int(t * FPS) % 2 == 0 else [])
    queue.flush()
    assert len(queue.waits) == 1 and queue.waits[0] == pytest.approx(19.6, abs=0.3)


def test_the_wait_ends_at_the_served_line() -> None:
    # The till line crosses the queue at x = 0.4; the person walks through it after 10 s.
    queue = _queue(served=((0.4, 0.5), (0.4, 1.0)))

    def who(t: float) -> list[tuple[int, float, float]]:
        x = 0.1 if t < 10 else 0.1 + 0.05 * (t - 10) * FPS / 5
        return [(1, x, 0.8)] if t < 30 else []

    _run(queue, 40, who)
    queue.flush()
    assert queue.waits == [pytest.approx(16.0, abs=0.5)]  # crossed x = 0.4 at t = 16


def test_length_per_minute_mean_and_peak() -> None:
    queue = _queue()

    def who(t: float) -> list[tuple[int, float, float]]:
        people = [(1, 0.1, 0.8), (2, 0.2, 0.8)]
        return [*people, (3, 0.3, 0.8)] if t < 30 else people

    events = _run(queue, 61, who)
    minutes = [e for e in events if isinstance(e, QueueMinute)]
    assert len(minutes) == 1
    assert minutes[0].peak_length == 3 and minutes[0].mean_length == pytest.approx(2.5)
    assert queue.length == 2 and summary(queue)["peak_length"] == 3


def test_other_classes_and_people_outside_do_not_queue() -> None:
    queue = _queue()
    for i in range(50):
        queue.update(_tracks(i / FPS, [(1, 0.25, 0.8)], class_id=2))  # a car
        queue.update(_tracks(i / FPS + 0.01, [(2, 0.8, 0.8)]))  # a person outside
    queue.flush()
    assert queue.waits == [] and queue.peak_length == 0


def test_littles_law_estimate() -> None:
    queue = _queue()
    assert queue.wait_estimate() is None
    _run(queue, 200, _visitors([20.0] * 8, gap=0.0))  # one person always, 20 s each
    estimate = queue.wait_estimate()
    assert estimate is not None and estimate == pytest.approx(20.0, rel=0.2)


def test_served_line_must_be_a_line_of_the_camera() -> None:
    camera = {
        "name": "cam", "url": "x.mp4",
        "queues": [{"name": "till", "polygon": POLYGON, "served_line": "nope"}],
    }  # fmt: skip
    with pytest.raises(ValueError, match="served_line 'nope' is not one of"):
        CameraConfig.model_validate(camera)
    assert ConfigError  # the loader turns this into one line naming the field
