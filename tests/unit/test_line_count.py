"""Line crossing: direction, flicker, jitter, re-entry, segment ends (table + property tests)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onsight.apps import LineCounter
from onsight.config.models import LineConfig
from onsight.types import Tracks

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NAMES = ["person", "bicycle", "car"]
BOX_W, BOX_H = 0.04, 0.1


def _tracks(pts: float, people: list[tuple[int, float, float]], class_id: int = 0) -> Tracks:
    """Tracks whose box bottom centre is at (x, y) for each (track_id, x, y)."""
    xyxy = np.array(
        [[x - BOX_W / 2, y - BOX_H, x + BOX_W / 2, y] for _, x, y in people], np.float32
    ).reshape(-1, 4)
    ids = np.array([tid for tid, _, _ in people], np.int64)
    return Tracks(pts, T0, xyxy, np.full(len(people), class_id, np.int64), ids)


def _counter(a: tuple[float, float], b: tuple[float, float], **kw: object) -> LineCounter:
    return LineCounter("cam", LineConfig(name="door", points=[list(a), list(b)], **kw), NAMES)


def _play(counter: LineCounter, path: list[tuple[float, float] | None], tid: int = 1) -> list[str]:
    """Feed one track's path (None = not seen in that frame); return directions counted."""
    out: list[str] = []
    for i, point in enumerate(path):
        people = [] if point is None else [(tid, point[0], point[1])]
        out += [e.direction for e in counter.update(_tracks(i / 10, people))]
    return out


def _walk(
    start: tuple[float, float], end: tuple[float, float], steps: int
) -> list[tuple[float, float]]:
    return [
        (start[0] + (end[0] - start[0]) * i / steps, start[1] + (end[1] - start[1]) * i / steps)
        for i in range(steps + 1)
    ]


HORIZONTAL = ((0.0, 0.5), (1.0, 0.5))
VERTICAL = ((0.5, 0.0), (0.5, 1.0))


@pytest.mark.parametrize(
    ("line", "path", "expected"),
    [
        # the definition: A=(0,.5) B=(1,.5), moving down the image is `in`
        (HORIZONTAL, _walk((0.5, 0.2), (0.5, 0.8), 12), ["in"]),
        (HORIZONTAL, _walk((0.5, 0.8), (0.5, 0.2), 12), ["out"]),
        # A=(.5,0) B=(.5,1): moving left is `in`
        (VERTICAL, _walk((0.8, 0.5), (0.2, 0.5), 12), ["in"]),
        (VERTICAL, _walk((0.2, 0.5), (0.8, 0.5), 12), ["out"]),
        # re-entry: across and back counts once each way
        (
            VERTICAL,
            _walk((0.2, 0.5), (0.8, 0.5), 12) + _walk((0.8, 0.5), (0.2, 0.5), 12),
            ["out", "in"],
        ),
        # walking up to the line and back never counts
        (VERTICAL, _walk((0.2, 0.5), (0.49, 0.5), 10) + _walk((0.49, 0.5), (0.2, 0.5), 10), []),
        # crossing beyond the end of a segment does not count
        (((0.5, 0.0), (0.5, 0.4)), _walk((0.2, 0.7), (0.8, 0.7), 12), []),
        # starting on the line, then leaving to one side: only settles, no count
        (VERTICAL, _walk((0.5, 0.5), (0.9, 0.5), 10), []),
        # a track seen only once per side (never settled) does not count
        (VERTICAL, [(0.2, 0.5), (0.8, 0.5)], []),
    ],
)
def test_crossing_table(
    line: tuple[tuple[float, float], tuple[float, float]],
    path: list[tuple[float, float]],
    expected: list[str],
) -> None:
    assert _play(_counter(*line), list(path)) == expected


def test_flicker_out_and_back_on_the_same_side_never_counts() -> None:
    path: list[tuple[float, float] | None] = list(_walk((0.2, 0.5), (0.4, 0.5), 5))
    path += [None, None, (0.4, 0.5), None, (0.41, 0.5), None] * 5
    assert _play(_counter(*VERTICAL), path) == []


def test_lost_during_occlusion_then_seen_on_the_other_side_counts_once() -> None:
    path: list[tuple[float, float] | None] = list(_walk((0.2, 0.5), (0.4, 0.5), 5))
    path += [None] * 8 + list(_walk((0.6, 0.5), (0.8, 0.5), 5))
    assert _play(_counter(*VERTICAL), path) == ["out"]


def test_jitter_on_the_line_while_walking_along_it_never_counts() -> None:
    rng = np.random.default_rng(3)
    path = [(0.5 + float(rng.uniform(-0.015, 0.015)), 0.1 + 0.008 * i) for i in range(100)]
    assert _play(_counter(*VERTICAL), [(0.3, 0.1)] * 4 + path) == []


def test_only_configured_classes_count() -> None:
    counter = _counter(*VERTICAL)  # persons only by default
    for i, (x, y) in enumerate(_walk((0.2, 0.5), (0.8, 0.5), 12)):
        assert counter.update(_tracks(i / 10, [(7, x, y)], class_id=2)) == []
    cars = _counter(*VERTICAL, classes=["car"])
    events = [
        e
        for i, (x, y) in enumerate(_walk((0.2, 0.5), (0.8, 0.5), 12))
        for e in cars.update(_tracks(i / 10, [(7, x, y)], class_id=2))
    ]
    assert [(e.direction, e.class_name) for e in events] == [("out", "car")]


def test_two_people_crossing_together_count_twice() -> None:
    counter = _counter(*VERTICAL)
    events = []
    for i, (x, y) in enumerate(_walk((0.2, 0.4), (0.8, 0.4), 12)):
        events += counter.update(_tracks(i / 10, [(1, x, y), (2, x, y + 0.2)]))
    assert [e.direction for e in events] == ["out", "out"]
    assert counter.total("out") == 2


def test_events_carry_no_track_id() -> None:
    counter = _counter(*VERTICAL)
    events = _play(counter, list(_walk((0.2, 0.5), (0.8, 0.5), 12)))
    assert events == ["out"]
    event = counter.update(_tracks(5.0, []))
    assert event == []
    from dataclasses import fields

    from onsight.types import LineCrossing

    names = {f.name for f in fields(LineCrossing)} - {"event_id"}  # the event's, see below
    assert not any("id" in name or "track" in name for name in names)


# --- property-based -------------------------------------------------------------------

coordinate = st.floats(0.05, 0.95, allow_nan=False)
step = st.floats(-0.08, 0.08, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    start=coordinate,
    steps=st.lists(step, min_size=1, max_size=120),
    gaps=st.lists(st.booleans(), max_size=120),
)
def test_counts_alternate_and_match_net_side_change(
    start: float, steps: list[float], gaps: list[bool]
) -> None:
    """Any random walk: directions alternate, and in - out equals the net settled side change."""
    counter = _counter(*VERTICAL)
    x, path = start, []
    for i, dx in enumerate(steps):
        x = min(0.98, max(0.02, x + dx))
        path.append(None if i < len(gaps) and gaps[i] else (x, 0.5))
    directions = _play(counter, path)
    assert all(a != b for a, b in itertools.pairwise(directions))
    seen = [p[0] for p in path if p is not None]
    # a count needs the walk to visit both sides well beyond the margin
    if directions:
        assert min(seen) < 0.5 and max(seen) > 0.5
    assert abs(directions.count("in") - directions.count("out")) <= 1


@settings(max_examples=200, deadline=None)
@given(
    amplitude=st.floats(0.0, 0.019, allow_nan=False),
    n=st.integers(10, 200),
    seed=st.integers(0, 2**16),
)
def test_jitter_smaller_than_margin_never_counts(amplitude: float, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    counter = _counter(*VERTICAL, margin=0.02)
    approach = [(0.2, 0.5)] * 5 + list(_walk((0.2, 0.5), (0.5, 0.5), 5))
    jitter = [(0.5 + float(rng.uniform(-amplitude, amplitude)), 0.5) for _ in range(n)]
    assert _play(counter, approach + jitter) == []


@settings(max_examples=200, deadline=None)
@given(
    ax=coordinate,
    ay=coordinate,
    bx=coordinate,
    by=coordinate,
)
def test_direction_follows_the_cross_product(ax: float, ay: float, bx: float, by: float) -> None:
    """Walking along the left normal of A->B (cross product goes - to +) is always `in`."""
    length = float(np.hypot(bx - ax, by - ay))
    if length < 0.2:
        return
    mx, my = (ax + bx) / 2, (ay + by) / 2
    nx, ny = -(by - ay) / length, (bx - ax) / length  # (B-A)x(N) > 0
    start = (mx - 0.15 * nx, my - 0.15 * ny)
    end = (mx + 0.15 * nx, my + 0.15 * ny)
    counter = _counter((ax, ay), (bx, by), margin=0.01)
    assert _play(counter, list(_walk(start, end, 15))) == ["in"]


# --- lost tracks, people who stop past the line, event times ---------------------------


def test_a_crossing_is_stamped_when_the_feet_crossed_not_when_the_side_settled() -> None:
    counter = _counter(*VERTICAL)
    stamps = []
    for i, (x, y) in enumerate(_walk((0.21, 0.5), (0.81, 0.5), 12)):
        frame = replace(_tracks(i / 10, [(1, x, y)]), wall_time=T0 + timedelta(seconds=i / 10))
        stamps += [e.time for e in counter.update(frame)]
    # x passes 0.5 between frame 5 (0.46) and frame 6 (0.51): frame 6 is on the new side
    assert stamps == [T0 + timedelta(seconds=0.6)]


def test_a_new_track_where_another_was_just_lost_continues_its_side() -> None:
    """The tracker loses a person behind a post on the line and finds them under a new id."""
    counter = _counter(*VERTICAL)
    path = _walk((0.38, 0.5), (0.48, 0.5), 10)  # a walker 0.1 tall: one height a second
    events = []
    for i, (x, y) in enumerate(path):
        events += counter.update(_tracks(i / 10, [(1, x, y)]))
    for j, (x, y) in enumerate(_walk((0.52, 0.5), (0.62, 0.5), 10)):
        events += counter.update(_tracks((len(path) + 2 + j) / 10, [(2, x, y)]))
    assert [e.direction for e in events] == ["out"]


def test_a_new_track_too_far_to_have_walked_there_starts_afresh() -> None:
    """Someone else appearing across the line does not inherit the lost walker's side."""
    counter = _counter(*VERTICAL)
    path = _walk((0.38, 0.5), (0.48, 0.5), 10)
    events = []
    for i, (x, y) in enumerate(path):
        events += counter.update(_tracks(i / 10, [(1, x, y)]))
    for j, (x, y) in enumerate(_walk((0.6, 0.5), (0.7, 0.5), 10)):
        events += counter.update(_tracks((len(path) + 2 + j) / 10, [(2, x, y)]))
    assert events == []


def test_a_new_track_far_from_any_lost_one_starts_afresh() -> None:
    counter = _counter(*VERTICAL)
    events = []
    for i, (x, y) in enumerate(_walk((0.2, 0.2), (0.45, 0.2), 9)):
        events += counter.update(_tracks(i / 10, [(1, x, y)]))
    for j, (x, y) in enumerate(_walk((0.53, 0.8), (0.8, 0.8), 9)):
        events += counter.update(_tracks((13 + j) / 10, [(2, x, y)]))
    assert events == []


def test_standing_on_the_line_and_swaying_counts_at_most_once() -> None:
    """Feet swaying 0.015 either side of the line every 1.2 s (inside the margin)."""
    path = list(_walk((0.3, 0.5), (0.45, 0.5), 6)) + [(0.45, 0.5)] * 10
    for k in range(16):
        path += [(0.5 + (0.015 if k % 2 == 0 else -0.015), 0.5)] * 12
    assert len(_play(_counter(*VERTICAL), path)) <= 1


@pytest.mark.parametrize(("stop_x", "expected"), [(0.51, ["out"]), (0.49, [])])
def test_stopping_just_past_the_line_counts_once_the_person_stays(
    stop_x: float, expected: list[str]
) -> None:
    """Inside the jitter margin a side needs time: 1.5 s there settles it."""
    path = list(_walk((0.2, 0.5), (stop_x, 0.5), 10)) + [(stop_x, 0.5)] * 30
    assert _play(_counter(*VERTICAL), path) == expected


def test_one_person_crossing_again_and_again_gets_a_new_event_id_each_time() -> None:
    """Event ids name events, never people: a track's crossings share nothing (rule 1)."""
    counter = _counter(*VERTICAL)
    back_and_forth = (_walk((0.2, 0.5), (0.8, 0.5), 12) + _walk((0.8, 0.5), (0.2, 0.5), 12)) * 3
    events = []
    for i, (x, y) in enumerate(back_and_forth):
        events += counter.update(_tracks(i / 10, [(7, x, y)]))
    ids = [e.event_id for e in events]
    assert len(ids) == 6 and len(set(ids)) == 6
