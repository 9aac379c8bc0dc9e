"""Event store (migrations, transactions, no ids), bus (never drops), zones, motion gate."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from onsight.apps import ZoneOccupancy
from onsight.config.models import MotionConfig, ZoneConfig
from onsight.events import EventBus, EventStore
from onsight.motion import GateSettings, MotionGate
from onsight.types import Frame, LineCrossing, Tracks, ZoneMinute

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _crossing(i: int) -> LineCrossing:
    return LineCrossing(
        T0 + timedelta(seconds=i), "cam", "door", "in" if i % 2 else "out", "person"
    )


def test_store_writes_utc_z_times_and_no_identifiers(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "db" / "onsight.db")
    store.write([_crossing(1), _crossing(2)])
    assert store.crossing_counts() == {("cam", "door", "in"): 1, ("cam", "door", "out"): 1}
    store.close()
    with sqlite3.connect(tmp_path / "db" / "onsight.db") as con:
        times = [row[0] for row in con.execute("SELECT time FROM crossings")]
        assert times == ["2026-03-01T12:00:01.000Z", "2026-03-01T12:00:02.000Z"]
        for table in ("crossings", "zone_minutes"):
            columns = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
            assert not {c for c in columns if "track" in c or c.endswith("_id")} - {"event_id"}
        ids = [row[0] for row in con.execute("SELECT event_id FROM crossings")]
        assert len(set(ids)) == 2 and None not in ids, "each event stored under its own id"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_store_migrations_are_idempotent_and_refuse_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "onsight.db"
    EventStore(path).close()
    EventStore(path).close()  # reopening applies nothing twice
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA user_version = 99")
    with pytest.raises(Exception, match="newer than this onsight"):
        EventStore(path)


def test_zone_minutes_merge_across_restarts(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "onsight.db")
    minute = ZoneMinute(T0, "cam", "left", "person", mean=2.0, peak=3, samples=10)
    store.write([minute])
    store.write([ZoneMinute(T0, "cam", "left", "person", mean=4.0, peak=5, samples=30)])
    row = store._db.execute("SELECT mean, peak, samples FROM zone_minutes").fetchone()
    assert row == (3.5, 5, 40)
    store.close()


class _RecordingSink:
    def __init__(self) -> None:
        self.received: list[object] = []

    def write(self, events: object) -> None:
        assert isinstance(events, list)
        self.received.extend(events)


class _BrokenSink:
    def write(self, events: object) -> None:
        raise RuntimeError("disk on fire")


def test_bus_never_drops_and_survives_a_failing_sink() -> None:
    sink = _RecordingSink()
    bus = EventBus([_BrokenSink(), sink], max_pending=3)
    events = [_crossing(i) for i in range(200)]
    for event in events:
        bus.publish([event])
    bus.close()
    assert sink.received == events
    assert bus.failed_batches >= 1


def _tracks(points: list[tuple[float, float]], moment: datetime) -> Tracks:
    xyxy = np.array([[x - 0.02, y - 0.1, x + 0.02, y] for x, y in points], np.float32).reshape(
        -1, 4
    )
    n = len(points)
    return Tracks(0.0, moment, xyxy, np.zeros(n, np.int64), np.arange(n, dtype=np.int64))


def test_zone_occupancy_uses_the_bottom_centre_and_aggregates_per_minute() -> None:
    zone = ZoneOccupancy(
        "cam", ZoneConfig(name="left", polygon=[[0, 0], [0.5, 0], [0.5, 1], [0, 1]]), ["person"]
    )
    assert zone.update(_tracks([(0.2, 0.5), (0.7, 0.5)], T0)) == []
    # feet outside although the box top is inside: not in the zone
    assert zone.update(_tracks([(0.55, 0.5)], T0 + timedelta(seconds=10))) == []
    closed = zone.update(_tracks([(0.1, 0.9), (0.2, 0.9), (0.3, 0.9)], T0 + timedelta(minutes=1)))
    assert closed == [ZoneMinute(T0, "cam", "left", "person", mean=0.5, peak=1, samples=2)]
    assert (zone.current, zone.peak, zone.frames) == (3, 3, 3)
    assert zone.mean == pytest.approx(4 / 3)
    assert zone.flush()[0].peak == 3


def test_a_zone_drawn_to_the_picture_edge_includes_people_cut_off_by_it() -> None:
    whole = ZoneConfig(name="all", polygon=[[0, 0], [1, 0], [1, 1], [0, 1]])
    zone = ZoneOccupancy("cam", whole, ["person"])
    zone.update(_tracks([(0.5, 1.0), (0.0, 0.7), (1.0, 0.7)], T0))
    assert zone.current == 3


def _frame(image: np.ndarray, *, i420: bool = False) -> Frame:
    pixels = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420) if i420 else image
    return Frame("cam", 0, 0.0, pixels, datetime.now(UTC))


@pytest.mark.parametrize("i420", [False, True], ids=["bgr", "i420"])
def test_motion_gate_skips_a_still_scene_and_wakes_on_change(i420: bool) -> None:
    gate = MotionGate(GateSettings.of(MotionConfig()))
    still = np.full((360, 480, 3), 90, np.uint8)
    assert gate.update(_frame(still, i420=i420)) is True  # first frame always analysed
    assert [gate.update(_frame(still, i420=i420)) for _ in range(5)] == [False] * 5
    moved = still.copy()
    moved[150:250, 200:240] = 200  # a person-sized bright block appears
    assert gate.update(_frame(moved, i420=i420)) is True


def test_motion_gate_reads_i420_luma_in_full_range_grey_levels() -> None:
    """The gate's pixel_delta means the same on an I420 frame as on its BGR twin: a change
    just above the threshold in grey levels is seen in both, one just below in neither."""
    delta = MotionConfig().pixel_delta
    for step, seen in ((delta + 4, True), (delta - 4, False)):
        for i420 in (False, True):
            gate = MotionGate(GateSettings.of(MotionConfig()))
            base = np.full((360, 480, 3), 90, np.uint8)
            gate.update(_frame(base, i420=i420))
            brighter = base.copy()
            brighter[:, :240] += np.uint8(step)  # half the frame changes by `step` levels
            assert gate.update(_frame(brighter, i420=i420)) is seen, (step, i420)


def test_an_i420_frame_converts_to_bgr_once_and_only_when_read() -> None:
    image = np.zeros((360, 480, 3), np.uint8)
    image[:, :, 2] = 200  # red
    frame = _frame(image, i420=True)
    assert (frame.width, frame.height) == (480, 360)
    assert frame.luma is not None and frame.luma.shape == (360, 480)
    bgr = frame.image
    assert bgr.shape == (360, 480, 3) and frame.image is bgr  # converted once
    assert np.abs(bgr.astype(int) - image).max() <= 3  # colour survives the round trip
    assert _frame(image).image is image and _frame(image).luma is None
