"""Restricted areas: one alert per stay, id switches, flicker, absences, classes, a real clip."""

from __future__ import annotations

import sqlite3
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from onsight.apps.restricted import (
    KIND,
    RESTRICTED_ALERT,
    RestrictedAlert,
    RestrictedArea,
    RestrictedConfig,
)
from onsight.config.models import CameraConfig
from onsight.detect import make_detector
from onsight.events import EventBus
from onsight.runtime import CameraPipeline
from onsight.runtime.pipeline import FrameResult
from onsight.types import Tracks
from tests.conftest import assets_dir, require

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NAMES = ["person", "bicycle", "car"]
PERSON, CAR = 0, 2
BOX_W, BOX_H = 0.04, 0.1
STEP = 0.1  # seconds between analysed frames (10 fps)
AREA = [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]
IN = (0.5, 0.5)  # bottom centre inside AREA
OUT = (0.9, 0.5)  # outside it

# One object in one frame: (track id, x, y, class id), (x, y) the box's bottom centre.
Obj = tuple[int, float, float, int]


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _tracks(pts: float, objects: list[Obj]) -> Tracks:
    xyxy = np.array(
        [[x - BOX_W / 2, y - BOX_H, x + BOX_W / 2, y] for _, x, y, _ in objects], np.float32
    ).reshape(-1, 4)
    ids = np.array([tid for tid, _, _, _ in objects], np.int64)
    classes = np.array([cid for _, _, _, cid in objects], np.int64)
    return Tracks(pts, _at(pts), xyxy, classes, ids)


def _area(**kw: Any) -> RestrictedArea:
    return RestrictedArea("cam", RestrictedConfig.model_validate({"name": "bay", **kw}), NAMES)


def _area_default() -> RestrictedArea:
    return _area(polygon=AREA)


def _play(area: RestrictedArea, frames: list[list[Obj]]) -> list[RestrictedAlert]:
    """Feed one frame every STEP seconds from pts 0; return the alerts (and the flush's)."""
    alerts: list[RestrictedAlert] = []
    for i, objects in enumerate(frames):
        alerts += area.update(_tracks(round(i * STEP, 6), objects))
    alerts += area.flush()
    return alerts


def _frames(seconds: float) -> int:
    return round(seconds / STEP)


def _stay(seconds: float, tid: int = 1, point: tuple[float, float] = IN) -> list[list[Obj]]:
    """One person standing at `point` for `seconds` (frames at 0, STEP, ... seconds)."""
    return [[(tid, point[0], point[1], PERSON)] for _ in range(_frames(seconds) + 1)]


def _nobody(seconds: float) -> list[list[Obj]]:
    return [[] for _ in range(_frames(seconds))]


def _times(alerts: list[RestrictedAlert]) -> list[datetime]:
    return [alert.time for alert in alerts]


def test_a_stay_alerts_once_at_the_frame_that_reached_the_threshold() -> None:
    area = _area(polygon=AREA, after_seconds=3)
    alerts = _play(area, _stay(5.0) + _nobody(3.0))
    assert alerts == [RestrictedAlert(_at(3.0), "cam", "bay", "person", 3.0)]
    assert area.alerts == 1


def test_a_stay_shorter_than_the_threshold_never_alerts() -> None:
    area = _area_default()
    assert _play(area, _stay(2.0) + _nobody(5.0) + _stay(2.0)) == []
    assert area.alerts == 0


def test_an_id_switch_continues_the_stay() -> None:
    """The tracker loses the person at 1.5 s and finds them next to it under a new id."""
    before = _stay(1.5, tid=1)
    after = _stay(3.4, tid=2, point=(IN[0] + 0.005, IN[1]))[1:]  # frames at 1.6 .. 5.0 s
    alerts = _play(_area_default(), before + after)
    assert _times(alerts) == [_at(3.0)], "one alert, timed from the first id's entry"


def test_an_id_switch_after_a_missed_second_continues_the_stay() -> None:
    before = _stay(1.0, tid=1)  # 0 .. 1.0 s
    after = _stay(4.0, tid=7, point=(IN[0], IN[1] + 0.01))[1:]  # new id from 2.1 s
    alerts = _play(_area_default(), before + _nobody(1.0) + after)
    assert _times(alerts) == [_at(3.0)]


@pytest.mark.parametrize("period", [2, 3, 5, 10])
def test_a_flickering_box_alerts_once(period: int) -> None:
    """Seen on one frame in every `period` (up to one second apart) for 6 s."""
    frames: list[list[Obj]] = [
        [(1, *IN, PERSON)] if i % period == 0 else [] for i in range(_frames(6.0) + 1)
    ]
    alerts = _play(_area_default(), frames)
    assert _times(alerts) == [_at(3.0)]


def test_a_flickering_box_with_a_new_id_each_time_alerts_once() -> None:
    frames: list[list[Obj]] = [
        [(100 + i, *IN, PERSON)] if i % 2 == 0 else [] for i in range(_frames(6.0) + 1)
    ]
    assert _times(_play(_area_default(), frames)) == [_at(3.0)]


@pytest.mark.parametrize("away", ["unseen", "outside"])
def test_an_absence_longer_than_two_seconds_starts_a_new_stay(away: str) -> None:
    """In 0-3.5 s, away 2.5 s (unseen, or tracked outside the area), back in from 6.1 s."""
    gone: list[list[Obj]] = (
        _nobody(2.5) if away == "unseen" else [[(1, *OUT, PERSON)] for _ in range(_frames(2.5))]
    )
    alerts = _play(_area_default(), _stay(3.5) + gone + _stay(3.5))
    assert _times(alerts) == [_at(3.0), _at(6.1 + 3.0)]


@pytest.mark.parametrize("away", ["unseen", "outside"])
def test_an_absence_shorter_than_two_seconds_continues_the_stay(away: str) -> None:
    """In 0-1 s, away 1.5 s, back in from 2.6 s: still one stay, alerted at 3 s."""
    gone: list[list[Obj]] = (
        _nobody(1.5) if away == "unseen" else [[(1, *OUT, PERSON)] for _ in range(_frames(1.5))]
    )
    alerts = _play(_area_default(), _stay(1.0) + gone + _stay(5.0))
    assert _times(alerts) == [_at(3.0)]


def test_a_stay_that_already_alerted_does_not_alert_again_after_a_short_absence() -> None:
    gone: list[list[Obj]] = _nobody(1.5)
    alerts = _play(_area_default(), _stay(3.5) + gone + _stay(5.0))
    assert _times(alerts) == [_at(3.0)]


def test_other_classes_are_ignored() -> None:
    area = _area_default()
    car: list[list[Obj]] = [[(1, *IN, CAR)] for _ in range(_frames(5.0) + 1)]
    assert _play(area, car) == []
    assert area.inside == 0


def test_a_configured_vehicle_class_alerts_with_its_class() -> None:
    area = _area(polygon=AREA, classes=["car", "bicycle"], after_seconds=1.5)
    frames: list[list[Obj]] = [
        [(1, *IN, CAR), (2, 0.3, 0.3, PERSON)] for _ in range(_frames(3.0) + 1)
    ]
    alerts = _play(area, frames)
    assert [(a.time, a.class_name, a.seconds) for a in alerts] == [(_at(1.5), "car", 1.5)]


def test_two_people_at_once_alert_twice() -> None:
    frames: list[list[Obj]] = [
        [(1, 0.3, 0.4, PERSON), (2, 0.7, 0.7, PERSON)] for _ in range(_frames(4.0) + 1)
    ]
    area = _area_default()
    alerts = _play(area, frames)
    assert _times(alerts) == [_at(3.0), _at(3.0)]
    assert area.alerts == 2


def test_two_people_entering_at_different_times_alert_at_their_own_times() -> None:
    frames: list[list[Obj]] = [
        [(1, 0.3, 0.4, PERSON)] + ([(2, 0.7, 0.7, PERSON)] if i >= 10 else [])
        for i in range(_frames(5.0) + 1)
    ]
    assert _times(_play(_area_default(), frames)) == [_at(3.0), _at(4.0)]


def test_zero_seconds_alerts_on_the_first_frame_inside() -> None:
    area = _area(polygon=AREA, after_seconds=0)
    frames: list[list[Obj]] = [[(1, *OUT, PERSON)] for _ in range(5)] + _stay(2.0)
    alerts = _play(area, frames)
    assert [(a.time, a.seconds) for a in alerts] == [(_at(0.5), 0.0)]


def test_inside_counts_the_objects_in_the_area_in_the_last_frame() -> None:
    area = _area_default()
    area.update(_tracks(0.0, [(1, *IN, PERSON), (2, 0.3, 0.3, PERSON), (3, *OUT, PERSON)]))
    assert area.inside == 2
    area.update(_tracks(0.1, [(1, *IN, PERSON), (3, *IN, CAR)]))
    assert area.inside == 1
    area.update(_tracks(0.2, []))
    assert area.inside == 0


def test_flush_ends_stays_and_emits_nothing() -> None:
    area = _area_default()
    person: list[Obj] = [(1, *IN, PERSON)]
    early = [a for i in range(26) for a in area.update(_tracks(round(i * STEP, 6), person))]
    assert early == [] and area.flush() == []
    # The stay ended at the flush: without it, these frames would alert at 3.0 s.
    later = [a for i in range(26, 50) for a in area.update(_tracks(round(i * STEP, 6), person))]
    assert later == [] and area.flush() == []


def test_the_alert_carries_no_track_id_position_or_box() -> None:
    names = {f.name for f in fields(RestrictedAlert)}
    assert names == {"time", "camera", "area", "class_name", "seconds", "event_id"}
    alert = RestrictedAlert(_at(3.0), "cam", "bay", "person", 3.0)
    record = RESTRICTED_ALERT.record(alert)
    assert set(record) == {"time", "camera", "area", "class", "seconds"}
    assert alert.kind == RESTRICTED_ALERT.kind == "restricted_alert"


def test_the_event_type_is_a_stored_alert_not_an_aggregate() -> None:
    assert RESTRICTED_ALERT.alert and not RESTRICTED_ALERT.retain and RESTRICTED_ALERT.key == ()
    assert (RESTRICTED_ALERT.table, RESTRICTED_ALERT.topic) == ("restricted_alerts", "restricted")
    db = sqlite3.connect(":memory:")
    db.executescript(RESTRICTED_ALERT.create_table())
    record = RESTRICTED_ALERT.record(RestrictedAlert(_at(3.0), "cam", "bay", "person", 3.0))
    values = [v.isoformat() if isinstance(v, datetime) else v for v in record.values()]
    db.execute(
        'INSERT INTO restricted_alerts (time, camera, area, "class", seconds) VALUES (?,?,?,?,?)',
        values,
    )
    assert db.execute("SELECT id, area, class, seconds FROM restricted_alerts").fetchall() == [
        (1, "bay", "person", 3.0)
    ]


def test_the_kind_describes_itself() -> None:
    area = _area(polygon=AREA, classes=["person", "car"], after_seconds=2.5)
    assert (KIND.name, KIND.section) == ("restricted_area", "restricted")
    assert KIND.purposes == frozenset({"safety", "operations"})
    assert KIND.events == (RESTRICTED_ALERT,)
    assert KIND.describe is not None and KIND.summary is not None and KIND.state is not None
    assert KIND.describe(area.config) == "bay (person, car alerted after 2.5 s)"
    assert KIND.classes(area.config) == ["person", "car"]
    _play(area, _stay(3.0))
    assert KIND.summary(area) == {"alerts": 1}
    assert KIND.state(area) == {"name": "bay", "polygon": AREA, "inside": 1, "alerts": 1}
    entities = KIND.entities(area.config)
    assert [(e.component, e.suffix, e.topic) for e in entities] == [
        ("sensor", "bay_alert", "restricted")
    ]
    assert entities[0].config["device_class"] == "timestamp"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"polygon": [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]}, "restricted area polygon has no area"),
        ({"polygon": [[0.1, 0.1], [0.5, 0.5]]}, "at least 3"),
        ({"classes": []}, "at least 1"),
        ({"after_seconds": -1}, "greater than or equal"),
        ({"after_seconds": 3601}, "less than or equal"),
        ({"name": "bad name"}, "pattern"),
        ({"alert_after": 3}, "Extra inputs"),
    ],
)
def test_bad_config_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RestrictedConfig.model_validate({"name": "bay", "polygon": AREA, **changes})


def test_config_defaults_and_integer_seconds() -> None:
    config = RestrictedConfig.model_validate({"name": "bay", "polygon": AREA, "after_seconds": 4})
    assert config.after_seconds == 4.0 and isinstance(config.after_seconds, float)
    default = RestrictedConfig.model_validate({"name": "bay", "polygon": AREA})
    assert (default.classes, default.after_seconds) == (["person"], 3.0)
    described = RestrictedConfig.model_json_schema()["properties"]
    assert all(field.get("description") for field in described.values())


LEFT_HALF = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
SIGN = [[0.02, 0.15], [0.09, 0.15], [0.09, 0.3], [0.02, 0.3]]  # a sign vtest's detector sees
FRAMES = 300


def test_people_lingering_on_the_left_of_vtest_raise_alerts_within_the_run() -> None:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    camera = CameraConfig.model_validate(
        {"name": "cam", "url": str(video), "fps": 5, "ignore": [SIGN]}
    )
    detector = make_detector()
    bus = EventBus([])
    pipeline = CameraPipeline(camera, detector, bus, started=T0)
    config = RestrictedConfig.model_validate(
        {"name": "left", "polygon": LEFT_HALF, "after_seconds": 2}
    )
    area = RestrictedArea(camera.name, config, list(detector.class_names))
    alerts: list[RestrictedAlert] = []
    seen: list[datetime] = []

    def on_frame(result: FrameResult) -> None:
        seen.append(result.tracks.wall_time)
        alerts.extend(area.update(result.tracks))
        if len(seen) >= FRAMES:
            pipeline.stop.set()

    pipeline.run(on_frame)
    alerts.extend(area.flush())
    bus.close()
    assert 0 < len(seen) <= FRAMES
    assert len(alerts) >= 1 and area.alerts == len(alerts)
    assert all(seen[0] <= alert.time <= seen[-1] for alert in alerts), (alerts, seen[-1])
    assert all(alert.time in seen for alert in alerts), "stamped with an analysed frame's time"
    assert {(a.camera, a.area, a.class_name, a.seconds) for a in alerts} == {
        ("cam", "left", "person", 2.0)
    }
