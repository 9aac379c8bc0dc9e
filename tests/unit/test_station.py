"""Workstation cycle times: spells, gaps, flicker, k=5 release per hour, hour boundaries."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from onsight.apps.station import KIND, STATION_HOUR, StationConfig, StationHour, StationTimer
from onsight.config.models import CameraConfig
from onsight.detect import make_detector
from onsight.events import EventBus
from onsight.events.store import _insert
from onsight.runtime import CameraPipeline, FrameResult
from onsight.types import Tracks, utc_iso
from tests.conftest import assets_dir, require

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
NAMES = ["person", "bicycle", "car"]
BOX_W, BOX_H = 0.04, 0.1
PACK = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]
INSIDE, OUTSIDE = (0.3, 0.4), (0.8, 0.8)
FPS = 10


def _tracks(
    pts: float, people: Sequence[tuple[int, float, float]], class_id: int = 0, t0: datetime = T0
) -> Tracks:
    """Tracks whose box bottom centre is at (x, y) for each (track_id, x, y); the wall clock
    runs with the source clock from `t0`."""
    xyxy = np.array(
        [[x - BOX_W / 2, y - BOX_H, x + BOX_W / 2, y] for _, x, y in people], np.float32
    ).reshape(-1, 4)
    ids = np.array([tid for tid, _, _ in people], np.int64)
    wall = t0 + timedelta(seconds=pts)
    return Tracks(pts, wall, xyxy, np.full(len(people), class_id, np.int64), ids)


def _timer(**kw: Any) -> StationTimer:
    return StationTimer("cam", StationConfig(name="pack-3", polygon=PACK, **kw), NAMES)


def _timeline(spells: Sequence[tuple[float, float]], until: float) -> list[bool]:
    """Presence per frame at 10 fps: frame i is occupied when some spell has start <= i/10 <=
    end (spells in seconds)."""
    frames = round(until * FPS) + 1
    return [any(round(a * FPS) <= i <= round(b * FPS) for a, b in spells) for i in range(frames)]


def _play(
    timer: StationTimer,
    presence: Sequence[bool],
    *,
    class_id: int = 0,
    t0: datetime = T0,
    released: dict[int, list[StationHour]] | None = None,
) -> list[StationHour]:
    """Feed one frame per entry (a new track id per frame: the timer must not need ids);
    return the events, and note in `released` the frame index each came out at."""
    out: list[StationHour] = []
    for i, present in enumerate(presence):
        people = [(1000 + i, *INSIDE)] if present else [(7, *OUTSIDE)]
        events = timer.update(_tracks(i / FPS, people, class_id, t0))
        if events and released is not None:
            released[i] = events
        out += events
    return out


def _spells(durations: Sequence[float], gap: float = 5.0) -> list[tuple[float, float]]:
    spells, start = [], 0.0
    for seconds in durations:
        spells.append((start, start + seconds))
        start += seconds + gap
    return spells


def test_six_cycles_in_an_hour_are_released_with_median_and_p90() -> None:
    timer = _timer()
    spells = _spells([8, 9, 10, 11, 12, 13])
    # the last spell runs to the final frame: flush must end it
    assert _play(timer, _timeline(spells, spells[-1][1])) == []
    assert timer.busy and KIND.state is not None
    state = KIND.state(timer)
    assert state["busy"] and state["current_cycle_seconds"] == pytest.approx(13.0)
    assert state["cycles"] == 5 and state["name"] == "pack-3" and state["polygon"] == PACK

    events = timer.flush()
    assert events == [
        StationHour(
            hour=T0,
            camera="cam",
            station="pack-3",
            class_name="person",
            cycles=6,
            median_seconds=10.5,
            p90_seconds=12.5,  # numpy's linear percentile, as kanon.release_durations
        )
    ]
    assert events[0].kind == "station_hour"
    assert timer.suppressed_hours == 0
    assert KIND.summary is not None
    assert KIND.summary(timer) == {"cycles": 6, "median_s": 10.5}
    state = KIND.state(timer)
    assert not state["busy"] and state["current_cycle_seconds"] is None and state["cycles"] == 6


def test_four_cycles_are_suppressed_not_released() -> None:
    timer = _timer()
    spells = _spells([10, 10, 10, 10])
    assert _play(timer, _timeline(spells, spells[-1][1] + 5)) == []
    assert timer.flush() == []
    assert timer.suppressed_hours == 1
    assert KIND.summary is not None
    assert KIND.summary(timer) == {"cycles": 4, "median_s": None}


@pytest.mark.parametrize(
    ("spells", "cycles", "length"),
    [
        # nobody for 1.5 s: the same cycle (0 .. 12 s)
        ([(0.0, 5.0), (6.5, 12.0)], 1, 12.0),
        # nobody for 3 s: two cycles (0 .. 6 s, 9 .. 15 s)
        ([(0.0, 6.0), (9.0, 15.0)], 2, 6.0),
    ],
)
def test_short_gaps_are_bridged_and_long_ones_split(
    spells: list[tuple[float, float]], cycles: int, length: float
) -> None:
    timer = _timer()
    _play(timer, _timeline(spells, spells[-1][1]))
    assert timer.current_cycle_seconds == pytest.approx(length)
    timer.flush()
    assert timer.cycles == cycles


def test_a_flickering_box_is_one_cycle() -> None:
    timer = _timer()
    presence = [i % 2 == 0 for i in range(201)]  # every other frame at 10 fps, 0 .. 20 s
    _play(timer, presence)
    assert timer.busy
    assert timer.current_cycle_seconds == pytest.approx(20.0)
    timer.flush()
    assert timer.cycles == 1


def test_a_spell_shorter_than_min_cycle_seconds_is_not_a_cycle() -> None:
    presence = _timeline([(0.0, 4.0)], 10.0)  # someone passing through for 4 s
    timer = _timer()
    _play(timer, presence)
    assert not timer.busy, "the spell ended after 2 s of nobody"
    timer.flush()
    assert timer.cycles == 0
    shorter = _timer(min_cycle_seconds=3)
    _play(shorter, presence)
    assert shorter.cycles == 1


def test_objects_of_a_class_not_configured_are_ignored() -> None:
    presence = _timeline([(0.0, 10.0)], 10.0)
    timer = _timer()
    _play(timer, presence, class_id=NAMES.index("car"))
    assert not timer.busy
    timer.flush()
    assert timer.cycles == 0
    carts = _timer(classes=["car"])
    _play(carts, presence, class_id=NAMES.index("car"))
    carts.flush()
    assert carts.cycles == 1


def test_the_event_carries_no_track_id_nor_anything_per_person() -> None:
    names = [f.name for f in dataclasses.fields(StationHour)]
    assert names == [
        "event_id",  # the event's own (types.Stamped), never a person's
        "hour", "camera", "station", "class_name", "cycles", "median_seconds", "p90_seconds",
    ]  # fmt: skip
    assert not any("track" in name or "id" in name.split("_") for name in names[1:])
    columns = {STATION_HOUR.time_column, STATION_HOUR.name_column, "camera"}
    columns |= {c.name for c in STATION_HOUR.columns}
    assert columns == {"hour", "camera", "station", "class", "cycles", "median_seconds",
                       "p90_seconds"}  # fmt: skip


def test_a_cycle_belongs_to_the_hour_it_ends_in_and_the_old_hour_closes_on_the_turn() -> None:
    t0 = T0 + timedelta(minutes=59)  # pts 60 is 11:00:00
    # five 8 s cycles ending before 11:00, one 10 s cycle from 10:59:55 to 11:00:05, then
    # four 6 s cycles in the new hour
    spells = [*_spells([8, 8, 8, 8, 8], gap=2.5), (55.0, 65.0), *_spells([6] * 4)]
    spells[6:] = [(a + 70, b + 70) for a, b in spells[6:]]
    timer, released = _timer(), dict[int, list[StationHour]]()
    _play(timer, _timeline(spells, spells[-1][1] + 3), t0=t0, released=released)
    assert list(released) == [600], "released by the first frame of the new hour"
    (old,) = released[600]
    assert old.hour == T0 and old.cycles == 5 and old.median_seconds == 8.0
    (new,) = timer.flush()
    assert new.hour == T0 + timedelta(hours=1)
    assert new.cycles == 5, "the cycle across the turn ended in the new hour"
    assert new.median_seconds == 6.0 and new.p90_seconds == 8.4


def test_a_cycle_that_ended_just_before_the_turn_still_counts_in_the_old_hour() -> None:
    t0 = T0 + timedelta(minutes=59)
    # the fifth cycle is last seen at 10:59:59.5; its end is only known 2 s later
    spells = [*_spells([8, 8, 8, 8], gap=2.5), (50.0, 59.5)]
    timer, released = _timer(), dict[int, list[StationHour]]()
    _play(timer, _timeline(spells, 70.0), t0=t0, released=released)
    assert list(released) == [615], "held until the open spell could no longer be busy"
    (old,) = released[615]
    assert old.hour == T0 and old.cycles == 5
    assert timer.flush() == [] and timer.suppressed_hours == 0


def test_config_validation() -> None:
    station = StationConfig.model_validate(
        {"name": "pack-3", "polygon": PACK, "min_cycle_seconds": 5}
    )
    assert station.classes == ["person"] and station.min_cycle_seconds == 5.0
    for bad in (
        {"name": "pack 3", "polygon": PACK},
        {"name": "pack-3", "polygon": [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]},  # no area
        {"name": "pack-3", "polygon": PACK[:2]},
        {"name": "pack-3", "polygon": PACK, "min_cycle_seconds": -1},
        {"name": "pack-3", "polygon": PACK, "classes": []},
        {"name": "pack-3", "polygon": PACK, "worker": "alice"},
    ):
        with pytest.raises(ValidationError):
            StationConfig.model_validate(bad)
    assert all(f.description for f in StationConfig.model_fields.values())


def test_kind_metadata() -> None:
    station = StationConfig(name="pack-3", polygon=PACK)
    assert KIND.purposes == frozenset({"operations"})
    camera = CameraConfig.model_validate({"name": "c", "url": "x.mp4"})
    assert KIND.items(camera) == [], "not a camera config section yet"

    assert KIND.describe is not None and KIND.describe(station) == "pack-3"
    assert "never per person" in KIND.measures and "per person" in KIND.notice_note
    (entity,) = KIND.entities(station)
    assert (entity.component, entity.suffix, entity.topic) == ("sensor", "pack-3_cycle", "station")
    assert entity.config["value_template"] == "{{ value_json.median_seconds }}"
    built = KIND.build(camera, station, NAMES)
    assert isinstance(built, StationTimer) and built.camera == "c" and built.config == station


def test_the_table_refuses_small_groups_and_keeps_the_larger_on_merge() -> None:
    db = sqlite3.connect(":memory:")
    db.executescript(STATION_HOUR.create_table())
    insert = _insert(STATION_HOUR)

    def put(cycles: int, median: float) -> None:
        event = StationHour(T0, "cam", "pack-3", "person", cycles, median, median + 1)
        record = STATION_HOUR.record(event)
        values = [utc_iso(v) if isinstance(v, datetime) else v for v in record.values()]
        db.execute(insert, [*values, event.event_id])

    put(6, 10.0)
    put(5, 20.0)  # a smaller group of the same hour (a restart): kept out
    assert db.execute("SELECT cycles, median_seconds FROM station_hours").fetchall() == [(6, 10.0)]
    put(7, 30.0)
    assert db.execute("SELECT cycles, median_seconds FROM station_hours").fetchall() == [(7, 30.0)]
    with pytest.raises(sqlite3.IntegrityError):
        hour = utc_iso(T0 + timedelta(hours=1))
        db.execute(insert, [hour, "cam", "pack-3", "person", 4, 1, 2, None])


def test_a_real_clip_makes_the_lower_left_quarter_busy() -> None:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    camera = CameraConfig.model_validate({"name": "cam", "url": str(video), "fps": 5})
    bus = EventBus([])
    pipeline = CameraPipeline(camera, make_detector(), bus, started=T0 + timedelta(minutes=5))
    quarter = [[0.0, 0.5], [0.5, 0.5], [0.5, 1.0], [0.0, 1.0]]
    timer = StationTimer("cam", StationConfig(name="corner", polygon=quarter), NAMES)
    busy_frames = 0
    events: list[StationHour] = []

    def on_frame(result: FrameResult) -> None:
        nonlocal busy_frames
        events.extend(timer.update(result.tracks))
        busy_frames += timer.busy
        if pipeline.frames >= 300:
            pipeline.stop.set()

    pipeline.run(on_frame)
    bus.close()
    assert pipeline.frames <= 300
    assert busy_frames > 0
    events += timer.flush()
    assert timer.cycles >= 1, "people walk through the corner for longer than 5 s"
    assert KIND.summary is not None and KIND.state is not None
    summary, state = KIND.summary(timer), KIND.state(timer)
    assert summary["cycles"] == state["cycles"] == timer.cycles
    assert not state["busy"] and state["current_cycle_seconds"] is None
    if timer.cycles < 5:
        assert summary["median_s"] is None and events == []
    else:
        assert isinstance(summary["median_s"], float)
        assert [(e.hour, e.cycles) for e in events] == [(T0, timer.cycles)]
        assert events[0].median_seconds == summary["median_s"]
