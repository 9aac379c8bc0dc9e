"""Screening station on synthetic °C frames: blackbody, one person at a time, rules, room, privacy.

Frames: 120x160, room at 22 °C, a blackbody patch at its 35 °C set-point top left, faces as
34.5 °C blocks (720 px) with a 4x4 warmer inner-canthus spot whose temperature is the reading.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import yaml
from pydantic import ValidationError

from onsight.config.models import Config
from onsight.config.screening import ScreeningConfig
from onsight.events.store import EventStore
from onsight.thermal.hourly import HourlyCounter, release
from onsight.thermal.rules import RelativeBaselineRule, Verdict
from onsight.thermal.station import (
    ScreeningResult,
    ScreeningState,
    ScreeningStation,
    alert_message,
)
from tests.conftest import REPO

HEIGHT, WIDTH = 120, 160
ROOM_C, SET_POINT_C, SKIN_C = 22.0, 35.0, 34.5
DT = 0.1  # 10 frames per second
Frame = npt.NDArray[np.float64]


def _config(**changes: Any) -> ScreeningConfig:
    data: dict[str, Any] = {
        "measurement_region": [[0.2, 0.0], [1.0, 0.0], [1.0, 1.0], [0.2, 1.0]],
        "blackbody": {
            "region": [[0.04, 0.05], [0.085, 0.05], [0.085, 0.12], [0.04, 0.12]],
            "set_point_c": SET_POINT_C,
            "drift_window_s": 1.0,
        },
        "subject": {"stable_frames": 3, "clear_frames": 2},
        "environment": {"source": "manual", "ambient_c": 21.0, "humidity_pct": 40},
    }
    for key, value in changes.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return ScreeningConfig.model_validate(data)


def _frame(
    faces: tuple[tuple[int, int, float], ...] = (),
    blackbody_c: float = SET_POINT_C,
    face_size: tuple[int, int] = (24, 30),
    bias_c: float = 0.0,
) -> Frame:
    """faces: (top, left, canthus °C). bias_c: the whole camera reads this much off."""
    frame = np.full((HEIGHT, WIDTH), ROOM_C)
    frame[5:15, 5:15] = blackbody_c
    rows, cols = face_size
    for top, left, canthus_c in faces:
        frame[top : top + rows, left : left + cols] = SKIN_C
        frame[top + 6 : top + 10, left + 8 : left + 12] = canthus_c
    return frame + bias_c


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def tick(self) -> float:
        self.now += DT
        return self.now


def _run(station: ScreeningStation, clock: _Clock, frame: Frame, frames: int) -> list[Any]:
    return [station.update(frame, clock.tick()) for _ in range(frames)]


def _ready(config: ScreeningConfig | None = None) -> tuple[ScreeningStation, _Clock]:
    """A station whose blackbody has been steady for a whole window."""
    station, clock = ScreeningStation(config or _config()), _Clock()
    results = _run(station, clock, _frame(), 12)
    assert results[0].state is ScreeningState.PAUSED and "settling" in results[0].message
    assert results[-1].state is ScreeningState.WAITING
    return station, clock


def _screen(
    station: ScreeningStation, clock: _Clock, canthus_c: float, bias_c: float = 0.0
) -> ScreeningResult:
    """One person steps in, is decided, and leaves; returns the deciding result."""
    person = _frame(((40, 80, canthus_c),), bias_c=bias_c)
    decided = [r for r in _run(station, clock, person, 6) if r.new_subject]
    assert len(decided) == 1, "exactly one decision per person"
    assert station.update(person, clock.tick()).new_subject is False  # held, not re-counted
    _run(station, clock, _frame(bias_c=bias_c), 2)
    return decided[0]


def _normal_readings(count: int) -> Iterator[float]:
    rng = np.random.default_rng(7)
    return iter(35.5 + rng.normal(0.0, 0.15, count))


# --- blackbody -------------------------------------------------------------------------


def test_blackbody_drift_beyond_tolerance_pauses_with_reason() -> None:
    station, clock = _ready()
    results = [
        station.update(_frame(blackbody_c=SET_POINT_C + 0.05 * i), clock.tick()) for i in range(8)
    ]
    paused = [r for r in results if r.state is ScreeningState.PAUSED]
    assert paused, "a 0.35 °C ramp within 1 s must pause"
    assert "drifted" in paused[0].message and "limit 0.20 °C" in paused[0].message
    # A person standing there during the drift gets no reading.
    person = _frame(((40, 80, 35.5),), blackbody_c=SET_POINT_C + 0.4)
    assert all(not r.new_subject for r in _run(station, clock, person, 5))
    # Steady again for a whole window: screening resumes.
    steady = _run(station, clock, _frame(blackbody_c=SET_POINT_C + 0.4), 15)
    assert steady[-1].state is ScreeningState.WAITING


def test_missing_blackbody_pauses() -> None:
    station, clock = _ready()
    result = station.update(_frame(blackbody_c=ROOM_C), clock.tick())
    assert result.state is ScreeningState.PAUSED
    assert "blackbody not found" in result.message


def test_blocked_blackbody_pauses() -> None:
    station, clock = _ready()
    frame = _frame()
    frame[5:9, 5:15] = 30.0  # a finger over part of the aperture
    result = station.update(frame, clock.tick())
    assert result.state is ScreeningState.PAUSED and "not uniform" in result.message


def test_blackbody_offset_corrects_the_reading() -> None:
    """The whole camera reads 0.6 °C low, the blackbody too: the reading is corrected."""
    config = _config(rule={"mode": "calibrated", "site_offset_c": 1.2, "alert_threshold_c": 37.5})
    station, clock = ScreeningStation(config), _Clock()
    _run(station, clock, _frame(bias_c=-0.6), 12)
    result = _screen(station, clock, 36.5, bias_c=-0.6)
    assert result.reading_c == pytest.approx(36.5)
    assert result.state is ScreeningState.SCREENED_ALERT


# --- one person at a time --------------------------------------------------------------


def test_two_people_give_no_reading() -> None:
    station, clock = _ready()
    two = _frame(((20, 40, 35.5), (70, 110, 35.6)))
    results = _run(station, clock, two, 10)
    assert all(r.state is ScreeningState.ONE_AT_A_TIME for r in results)
    assert "one person at a time" in results[0].message
    assert all(r.reading_c is None and not r.new_subject for r in results)


def test_small_face_gives_no_reading() -> None:
    station, clock = _ready()
    far = _frame(((40, 80, 35.5),), face_size=(12, 15))  # 180 px < 400 px
    results = _run(station, clock, far, 10)
    assert all(r.state is ScreeningState.WAITING and "closer" in r.message for r in results)
    assert not any(r.new_subject for r in results)


def test_moving_face_gives_no_reading() -> None:
    station, clock = _ready()
    results = [
        station.update(_frame(((40, 40 + 15 * (i % 6), 35.5),)), clock.tick()) for i in range(12)
    ]
    assert all(r.state is ScreeningState.MEASURING for r in results)
    assert not any(r.new_subject for r in results)


def test_one_still_person_is_decided_once() -> None:
    station, clock = _ready()
    person = _frame(((40, 80, 35.5),))
    results = _run(station, clock, person, 20)
    assert [r.state for r in results[:2]] == [ScreeningState.MEASURING] * 2
    assert sum(r.new_subject for r in results) == 1
    assert results[2].state is ScreeningState.SCREENED_WARMING_UP
    assert results[2].reading_c == pytest.approx(35.5)


# --- rules -----------------------------------------------------------------------------


def test_relative_baseline_warms_up_then_alerts_on_a_warm_subject() -> None:
    station, clock = _ready()
    readings = _normal_readings(12)
    warm_up = [_screen(station, clock, next(readings)) for _ in range(10)]
    assert all(r.state is ScreeningState.SCREENED_WARMING_UP for r in warm_up)
    assert "warming up (10/10)" in warm_up[-1].message
    normal = _screen(station, clock, next(readings))
    assert normal.state is ScreeningState.SCREENED_PASS
    hot = _screen(station, clock, 35.5 + 1.5)
    assert hot.state is ScreeningState.SCREENED_ALERT
    assert "confirm with a clinical thermometer" in hot.message
    assert normal.threshold_c is not None and hot.threshold_c is not None
    assert hot.threshold_c - 0.7 == pytest.approx(35.5, abs=0.15)


def test_alerts_are_excluded_from_the_baseline() -> None:
    rule = RelativeBaselineRule(size=10, offset_c=0.7)
    for reading in _normal_readings(10):
        assert rule.decide(reading).verdict is Verdict.WARMING_UP
    baseline = rule.baseline_c()
    for _ in range(20):  # a febrile queue cannot raise the baseline
        assert rule.decide(37.5).verdict is Verdict.ALERT
    assert rule.baseline_c() == baseline
    assert rule.decide(35.5).verdict is Verdict.PASS


def test_trimmed_baseline_ignores_one_hot_warm_up_reading() -> None:
    rule = RelativeBaselineRule(size=10, offset_c=0.7)
    for reading in [35.5] * 9 + [38.5]:
        rule.decide(reading)
    assert rule.baseline_c() == pytest.approx(35.5)


def test_calibrated_mode_threshold() -> None:
    config = _config(rule={"mode": "calibrated", "site_offset_c": 1.2, "alert_threshold_c": 37.5})
    station, clock = _ready(config)
    below = _screen(station, clock, 36.2)  # estimated core 37.4
    above = _screen(station, clock, 36.4)  # estimated core 37.6
    assert below.state is ScreeningState.SCREENED_PASS
    assert above.state is ScreeningState.SCREENED_ALERT
    assert above.threshold_c == pytest.approx(36.3)


def test_calibrated_mode_needs_a_site_offset() -> None:
    with pytest.raises(ValidationError, match="site_offset_c"):
        _config(rule={"mode": "calibrated"})


# --- room ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ambient_c", "humidity_pct", "reason"),
    [
        (26.0, 40.0, "room temperature 26.0 °C is outside 18-24 °C"),
        (16.5, 40.0, "room temperature 16.5 °C is outside 18-24 °C"),
        (21.0, 85.0, "relative humidity 85 % is outside 10-75 %"),
    ],
)
def test_room_out_of_range_blocks(ambient_c: float, humidity_pct: float, reason: str) -> None:
    config = _config(environment={"ambient_c": ambient_c, "humidity_pct": humidity_pct})
    station, clock = ScreeningStation(config), _Clock()
    results = _run(station, clock, _frame(((40, 80, 35.5),)), 20)
    assert all(r.state is ScreeningState.PAUSED for r in results)
    assert results[-1].message == f"screening blocked: {reason}"


def test_room_sensor_must_be_fresh_and_in_range() -> None:
    config = _config(
        environment={"source": "sensor", "sensor_topic": "site/room", "sensor_max_age_s": 5.0}
    )
    station, clock = ScreeningStation(config), _Clock()
    first = station.update(_frame(), clock.tick())
    assert first.state is ScreeningState.PAUSED and "no room reading yet" in first.message
    station.record_environment(21.0, 45.0, clock.now)
    assert _run(station, clock, _frame(), 12)[-1].state is ScreeningState.WAITING
    station.record_environment(25.0, 45.0, clock.now)
    assert "outside 18-24 °C" in station.update(_frame(), clock.tick()).message
    station.record_environment(21.0, 45.0, clock.now)
    _run(station, clock, _frame(), 60)  # 6 s without a new reading
    assert "stale" in station.update(_frame(), clock.tick()).message


# --- privacy ---------------------------------------------------------------------------


def test_alert_message_carries_no_temperature() -> None:
    message = alert_message("entrance", datetime(2024, 5, 1, 9, 30, tzinfo=UTC))
    assert message == {
        "event": "elevated-skin-temperature",
        "camera": "entrance",
        "time": "2024-05-01T09:30:00.000Z",
    }


@pytest.mark.parametrize(
    ("screened", "alerted", "released"),
    [(4, 0, None), (5, 0, (5, None)), (12, 1, (12, None)), (12, 6, (12, 6)), (12, 8, (12, None))],
)
def test_k_suppression_rule(
    screened: int, alerted: int, released: tuple[int, int | None] | None
) -> None:
    hour = datetime(2024, 5, 1, 9, tzinfo=UTC)
    row = release(hour, "entrance", screened, alerted, k=5)
    assert (None if row is None else (row.screened, row.alerted)) == released


def test_rule9_nothing_personal_is_persisted(tmp_path: Path) -> None:
    station, clock = _ready()
    counter = HourlyCounter("entrance", k=5)
    nine = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    readings = _normal_readings(20)
    for minute in range(18):  # 12 normal people then 6 warm ones between 09:00 and 09:59
        reading = next(readings) if minute < 12 else 37.2
        counter.add(_screen(station, clock, reading), nine + timedelta(minutes=3 * minute))
    for minute in range(3):  # only 3 people at 10:00
        counter.add(_screen(station, clock, next(readings)), nine + timedelta(minutes=60 + minute))
    store = EventStore(tmp_path / "onsight.db")
    rows = counter.flush(nine + timedelta(hours=2))
    store.write_screening_hours([row.as_row() for row in rows])
    store.close()

    db = sqlite3.connect(tmp_path / "onsight.db")
    columns = {
        table: [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    assert columns["screening_hours"] == ["hour", "camera", "screened", "alerted"]
    forbidden = ("temp", "reading", "celsius", "image", "face", "person", "track", "subject")
    for table, names in columns.items():
        assert not [n for n in names if any(word in n.lower() for word in forbidden)], table
    # Only the 09:00 hour is released (10:00 had 3 < 5 people); 6 alerts of 18 are shown.
    assert db.execute("SELECT * FROM screening_hours").fetchall() == [
        ("2024-05-01T09:00:00.000Z", "entrance", 18, 6)
    ]
    for table in set(columns) - {"app_schema"}:  # schema versions, not data
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == (
            1 if table == "screening_hours" else 0
        ), f"screening wrote to {table}"
    db.close()


def test_rule9_schema_refuses_rows_that_break_k(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "onsight.db")
    hour = datetime(2024, 5, 1, 9, tzinfo=UTC)
    with pytest.raises(sqlite3.IntegrityError):
        store.write_screening_hours([(hour, "entrance", 3, None)])
    with pytest.raises(sqlite3.IntegrityError):
        store.write_screening_hours([(hour, "entrance", 9, 5)])  # only 4 not alerted
    # A restart mid-hour writes the hour twice: it adds up; suppressed stays suppressed.
    store.write_screening_hours([(hour, "entrance", 10, 5)])
    store.write_screening_hours([(hour, "entrance", 12, 6)])
    store.write_screening_hours([(hour + timedelta(hours=1), "entrance", 7, None)])
    store.write_screening_hours([(hour + timedelta(hours=1), "entrance", 10, 5)])
    store.close()
    db = sqlite3.connect(tmp_path / "onsight.db")
    assert db.execute("SELECT screened, alerted FROM screening_hours ORDER BY hour").fetchall() == [
        (22, 11),
        (17, None),
    ]
    db.close()


def test_documented_config_example_is_valid() -> None:
    text = (REPO / "docs" / "thermal.md").read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    site = Config.model_validate(yaml.safe_load(example))
    config = site.cameras[0].screening
    assert config is not None and site.cameras[0].apps() == {"screening"}
    assert config.rule.mode == "relative" and config.rule.relative_offset_c == 0.75
