"""The reports page's numbers: periods in the site's time zone (hours across DST, days,
weeks from Monday), counts and occupancy per period from a real event database, empty periods
as 0 (counts) or no data (levels), and the export table that the page's tables make up."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from onsight.apps.restricted import RestrictedAlert
from onsight.config.models import CameraConfig
from onsight.events import EventStore
from onsight.service.periods import RangeError, check_range, periods, resolve_range
from onsight.service.queries import EventQueries
from onsight.service.report_export import export_rows, to_csv, to_xlsx
from onsight.service.report_pages import make_query
from onsight.service.reports import Report, Table, build_report
from onsight.types import Direction, Event, LineCrossing, ZoneMinute

ZONE = "Europe/Berlin"  # CEST (+2) until 2026-10-25 03:00, then CET (+1); again from 03-29


@pytest.fixture(autouse=True)
def berlin() -> Iterator[None]:
    """The site's time zone, as `onsight serve` sets it from the config."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = ZONE
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def _camera(name: str = "gate") -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "name": name,
            "url": "clip.mp4",
            "lines": [{"name": "door", "points": [[0, 0], [1, 1]]}],
            "zones": [{"name": "till", "polygon": [[0, 0], [1, 0], [1, 1]]}],
        }
    )


def _local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A local wall-clock time (Berlin), as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute).astimezone().astimezone(UTC)


def _crossing(moment: datetime, direction: Direction = "in", line: str = "door") -> LineCrossing:
    return LineCrossing(moment, "gate", line, direction, "person")


def _report(tmp_path: Path, events: list[Event], first: date, last: date, by: str) -> Report:
    store = EventStore(tmp_path / "onsight.db")
    store.write(events)
    store.close()
    cameras = {"gate": _camera()}
    return build_report(EventQueries(tmp_path / "onsight.db"), cameras, periods(first, last, by))  # type: ignore[arg-type]


def _table(report: Report, kind: str, name: str) -> Table:
    return next(t for t in report.tables if t.section.event.kind == kind and t.name == name)


def test_hours_follow_the_clock_change_and_weeks_start_on_monday() -> None:
    autumn = periods(date(2026, 10, 25), date(2026, 10, 25), "hour")
    assert len(autumn) == 25  # the clocks go back: 02:00 twice, told apart by the zone
    assert [p.label for p in autumn[2:4]] == ["2026-10-25 02:00 CEST", "2026-10-25 02:00 CET"]
    assert autumn[0].start == _local(2026, 10, 25) and autumn[-1].end == _local(2026, 10, 26)
    assert all(p.end - p.start == timedelta(hours=1) for p in autumn)
    spring = periods(date(2026, 3, 29), date(2026, 3, 29), "hour")
    assert len(spring) == 23 and "02:00" not in " ".join(p.label for p in spring)
    days = periods(date(2026, 10, 24), date(2026, 10, 26), "day")
    assert [p.end - p.start for p in days] == [timedelta(hours=h) for h in (24, 25, 24)]
    assert days[0].label == "Sat 2026-10-24"
    weeks = periods(date(2026, 11, 4), date(2026, 11, 20), "week")  # Wednesday to Friday
    assert [p.local_start.date() for p in weeks] == [
        date(2026, 11, 4),  # the range's first day, then every Monday
        date(2026, 11, 9),
        date(2026, 11, 16),
    ]
    assert weeks[-1].end == _local(2026, 11, 21)
    assert weeks[1].label == "2026-11-09 (week 46)"


def test_crossings_per_hour_across_the_night_the_clocks_go_back(tmp_path: Path) -> None:
    first_two = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second_two = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, an hour later
    events: list[Event] = [
        _crossing(first_two),
        _crossing(second_two),
        _crossing(second_two, "out"),
        _crossing(_local(2026, 10, 25, 23, 59)),
        _crossing(_local(2026, 10, 26, 0, 0)),  # the next day: outside the range
    ]
    report = _report(tmp_path, events, date(2026, 10, 25), date(2026, 10, 25), "hour")
    door = _table(report, "crossing", "door")
    assert door.section.measures == ("in", "out")
    assert door.rows[2] == [1, 0] and door.rows[3] == [1, 1]  # 02:00 CEST, 02:00 CET
    assert door.rows[24] == [1, 0]  # 23:00
    assert sum(map(sum, door.rows)) == 4 and door.total == [3, 1]  # type: ignore[arg-type]
    assert door.rows[0] == [0, 0]  # an hour without a crossing is a 0, not a gap


def test_days_and_weeks_count_crossings_and_zone_occupancy(tmp_path: Path) -> None:
    events: list[Event] = [
        *(_crossing(_local(2026, 11, 2, 9, m)) for m in range(5)),  # Monday: 5 in
        _crossing(_local(2026, 11, 2, 18), "out"),
        _crossing(_local(2026, 11, 4, 0, 0)),  # Wednesday at midnight: Wednesday
        _crossing(_local(2026, 11, 9, 12), line="side"),  # not configured: shown too
        LineCrossing(_local(2026, 11, 2, 9), "elsewhere", "door", "in", "person"),
        ZoneMinute(_local(2026, 11, 2, 10), "gate", "till", "person", 1.0, 2, 60),
        ZoneMinute(_local(2026, 11, 2, 11), "gate", "till", "person", 2.0, 5, 60),
        ZoneMinute(_local(2026, 11, 10, 8), "gate", "till", "person", 4.5, 6, 60),
        RestrictedAlert(_local(2026, 11, 3, 8), "gate", "dock", "person", 5.0),
    ]
    days = _report(tmp_path, events, date(2026, 11, 1), date(2026, 11, 10), "day")
    door = _table(days, "crossing", "door")
    assert [row[0] for row in door.rows] == [0, 5, 0, 1, 0, 0, 0, 0, 0, 0]
    assert door.rows[1] == [5, 1] and door.total == [6, 1]  # the other camera is not here
    assert _table(days, "crossing", "side").total == [1, 0]
    till = _table(days, "zone_minute", "till")
    assert till.section.measures == ("mean", "peak")
    assert till.rows[1] == [1.5, 5]  # the mean of the minutes recorded, their highest peak
    assert till.rows[0] == [None, None]  # no minute recorded: no data, not an empty zone
    assert till.rows[9] == [4.5, 6]
    assert till.total == [round(7.5 / 3, 2), 6]
    alerts = _table(days, "restricted_alert", "dock")
    assert alerts.section.measures == ("count",) and alerts.total == [1]
    kinds = {t.section.event.kind for t in days.tables}
    assert "wrong_way" not in kinds  # alerts appear only where there were some
    assert "queue_minute" not in kinds  # nothing configured, nothing recorded

    weeks = _report(tmp_path / "w", events, date(2026, 11, 1), date(2026, 11, 10), "week")
    assert [p.label for p in weeks.periods] == [
        "2026-11-01 (week 44)",  # Sunday alone, then the weeks from Monday
        "2026-11-02 (week 45)",
        "2026-11-09 (week 46)",
    ]
    assert _table(weeks, "crossing", "door").rows == [[0, 0], [6, 1], [0, 0]]
    assert _table(weeks, "zone_minute", "till").rows == [[None, None], [1.5, 5], [4.5, 6]]


def test_the_export_table_holds_every_page_table_side_by_side(tmp_path: Path) -> None:
    events: list[Event] = [
        _crossing(_local(2026, 11, 2, 9)),
        ZoneMinute(_local(2026, 11, 3, 10), "gate", "till", "person", 1.25, 3, 60),
    ]
    report = _report(tmp_path, events, date(2026, 11, 2), date(2026, 11, 3), "day")
    rows = export_rows(report)
    assert rows[0] == [
        "Period",
        "Start",
        "gate/door: line crossings, in",
        "gate/door: line crossings, out",
        "gate/till: occupancy, mean",
        "gate/till: occupancy, peak",
    ]
    assert rows[1] == ["Mon 2026-11-02", "2026-11-02T00:00+01:00", 1, 0, None, None]
    assert rows[2] == ["Tue 2026-11-03", "2026-11-03T00:00+01:00", 0, 0, 1.25, 3]
    assert rows[3] == ["Total", "", 1, 0, 1.25, 3]
    assert to_csv(rows).splitlines()[1] == "Mon 2026-11-02,2026-11-02T00:00+01:00,1,0,,"
    book = load_workbook(io.BytesIO(to_xlsx(rows, {"From": "2026-11-02"})))
    cells = [[cell.value for cell in row] for row in book["Report"].iter_rows()]
    assert cells == [*rows[:3], ["Total", None, 1, 0, 1.25, 3]]  # "" is an empty cell
    assert book["About"]["B1"].value == "2026-11-02"


def test_ranges_are_checked_in_words() -> None:
    today = date(2026, 11, 30)
    assert resolve_range("7d", None, None, today) == (date(2026, 11, 24), today)
    assert resolve_range("yesterday", None, None, today) == (date(2026, 11, 29),) * 2
    assert resolve_range("30d", None, None, today)[0] == date(2026, 11, 1)
    cases = {
        "after to": (date(2026, 11, 5), date(2026, 11, 1), "day"),
        "at most 366": (date(2025, 1, 1), date(2026, 1, 2), "week"),
        "pick day or week": (date(2026, 1, 1), date(2026, 2, 1), "hour"),
    }
    for message, (first, last, by) in cases.items():
        with pytest.raises(RangeError, match=message):
            check_range(first, last, by)  # type: ignore[arg-type]
    check_range(date(2025, 1, 1), date(2025, 12, 31), "day")
    with pytest.raises(RangeError, match="both a from and a to"):
        resolve_range("custom", date(2026, 1, 1), None, today)
    with pytest.raises(RangeError, match="no camera named 'nowhere'"):
        make_query("today", None, None, "hour", "nowhere", ["gate"])
    query = make_query("custom", date(2026, 1, 1), date(2026, 1, 7), "day", "gate", ["gate"])
    assert query.params() == {
        "range": "custom", "from": "2026-01-01", "to": "2026-01-07", "by": "day", "camera": "gate"
    }  # fmt: skip
