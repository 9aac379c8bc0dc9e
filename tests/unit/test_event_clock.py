"""Event times: a live camera's never run backwards when the wall clock is stepped, and a
file played under `serve` is never stamped ahead of the clock."""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from onsight.config import load_config
from onsight.config.models import CameraConfig
from onsight.detect import make_detector
from onsight.errors import ConfigError
from onsight.events import EventBus
from onsight.runtime import CameraPipeline, FrameResult
from onsight.runtime.clock import SLEW, EventClock
from onsight.sitetime import use_site_timezone
from tests.conftest import assets_dir, require

T0 = datetime(2026, 11, 30, 8, 59, 50, tzinfo=UTC)


def _run(steps: list[tuple[float, float]]) -> list[datetime]:
    """Stamp (wall offset, monotonic) readings, one a second."""
    clock = EventClock("gate")
    return [clock.stamp(T0 + timedelta(seconds=wall), mono) for wall, mono in steps]


def test_the_wall_clock_is_followed_while_it_runs_forward_and_steps_forward() -> None:
    stamps = _run([(0, 100), (1, 101), (2, 102), (3602, 103), (3603, 104)])
    assert stamps == [T0 + timedelta(seconds=s) for s in (0, 1, 2, 3602, 3603)]


def test_a_step_back_slows_the_stamps_until_the_wall_clock_catches_up() -> None:
    # At 08:59:55 the clock is set back an hour (to 07:59:55), across the 09:00 boundary.
    walls = [0, 1, 2, 3, 4, 5, *(5 - 3600 + i for i in range(1, 7201))]
    stamps = _run([(wall, 100.0 + i) for i, wall in enumerate(walls)])
    assert all(b >= a for a, b in pairwise(stamps))  # never backwards
    assert stamps[7] - stamps[6] == timedelta(seconds=SLEW)  # slowed, not frozen
    assert max(stamps) < T0 + timedelta(seconds=5 + 7200 * SLEW + 1)
    # The wall clock (now 2 s of real time per 1 s of stamps behind) catches up and leads again.
    assert stamps[-1] == T0 + timedelta(seconds=walls[-1])


def test_the_site_time_zone_is_checked_and_drives_local_time(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    camera = "cameras: [{name: gate, url: /x.mp4}]\n"
    config.write_text("timezone: Mars/Olympus\n" + camera, encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        load_config(config)
    config.write_text("timezone: Asia/Kolkata\n" + camera, encoding="utf-8")
    before = os.environ.get("TZ")
    try:
        use_site_timezone(load_config(config).config.timezone)
        moment = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
        assert moment.astimezone().strftime("%H:%M") == "17:30"
        with sqlite3.connect(":memory:") as con:  # the dashboard's day and hour grouping
            (local,) = con.execute("SELECT datetime('2026-11-30 12:00', 'localtime')").fetchone()
        assert local == "2026-11-30 17:30:00"
    finally:
        os.environ.pop("TZ", None) if before is None else os.environ.update(TZ=before)
        time.tzset()


def test_a_paced_file_is_never_stamped_ahead_of_the_clock() -> None:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    camera = CameraConfig.model_validate({"name": "file", "url": str(video), "fps": 10})
    pipeline = CameraPipeline(camera, make_detector(), EventBus([]), pace=True)
    ahead: list[float] = []

    def check(result: FrameResult) -> None:
        ahead.append((result.tracks.wall_time - datetime.now(UTC)).total_seconds())
        if len(ahead) == 25:  # 2.5 s of the clip, played at real time
            pipeline.stop.set()

    pipeline.run(check)
    assert len(ahead) == 25
    assert max(ahead) <= 0, ahead  # unpaced, this file runs several times faster than real time


def test_event_ids_are_uuid7_ordered_by_time_and_kept_by_replace() -> None:
    import dataclasses
    import uuid

    from onsight.types import LineCrossing, new_event_id

    ids = [uuid.UUID(new_event_id(1_700_000_000_000 + n)) for n in range(50)]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 50
    assert ids[0].int >> 80 == 1_700_000_000_000, "the first 48 bits are the Unix milliseconds"
    when = datetime(2024, 5, 1, 9, tzinfo=UTC)
    first = LineCrossing(when, "cam", "door", "in", "person")
    second = LineCrossing(when, "cam", "door", "in", "person")
    assert first.event_id != second.event_id, "two people crossing at once are two events"
    assert first == second, "the id does not take part in comparing what happened"
    assert dataclasses.replace(first, camera="x").event_id == first.event_id
