"""Today's totals on the overview come from the database and compare like with like: the
same hours of yesterday and of the same weekday last week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from onsight.events import EventStore
from onsight.service.queries import EventQueries, local_day_start
from onsight.service.today import Compared, site_today
from onsight.types import Direction, Event, LineCrossing, ZoneMinute


def test_today_so_far_against_the_same_hours_yesterday_and_last_week(tmp_path: Path) -> None:
    now = datetime(2026, 11, 30, 14, 30).astimezone()  # a Monday afternoon, local time
    midnight = local_day_start(now.date())

    def at(days_back: int, hour: float) -> datetime:
        return (midnight - timedelta(days=days_back) + timedelta(hours=hour)).astimezone(UTC)

    def crossing(moment: datetime, direction: Direction = "in", line: str = "door") -> LineCrossing:
        return LineCrossing(moment, "gate", line, direction, "person")

    events: list[Event] = [
        *(crossing(at(0, h)) for h in (8, 9, 14)),  # today before 14:30: 3 in
        crossing(at(0, 12), "out"),
        crossing(at(1, 10)),  # yesterday in the same hours: 2 in
        crossing(at(1, 13)),
        crossing(at(1, 15)),  # yesterday after 14:30: not compared
        crossing(at(1, 20)),
        *(crossing(at(7, h)) for h in (9, 10, 11, 12)),  # last Monday: 4 in
        crossing(at(6, 9)),  # last Tuesday: neither
        crossing(at(0, 9), line="side"),
        crossing(at(0, 9), line="gone"),  # a line no longer configured is not shown
        LineCrossing(at(0, 9), "other", "door", "in", "person"),  # another camera
        ZoneMinute(at(0, 9), "gate", "till", "person", 1.5, 4, 60),
        ZoneMinute(at(0, 11), "gate", "till", "person", 2.5, 6, 60),
        ZoneMinute(at(1, 11), "gate", "till", "person", 5.0, 9, 60),  # yesterday's peak
    ]
    store = EventStore(tmp_path / "onsight.db")
    store.write(events)
    store.close()
    site = site_today(
        EventQueries(tmp_path / "onsight.db"), [("gate", ["door", "side"]), ("other", [])], now
    )
    gate = site.camera("gate")
    assert gate is not None
    door = gate.lines[0].directions
    assert door["in"] == Compared(today=3, yesterday=2, last_week=4)
    assert door["out"] == Compared(today=1, yesterday=0, last_week=0)
    assert gate.lines[1].directions["in"] == Compared(1, 0, 0)
    assert gate.zone_peaks == {"till": 6}
    assert site.entered == Compared(4, 2, 4)  # the other camera has no lines configured
    assert site.weekday == "Monday" and site.day == now.date()
    assert door["in"].against(2) == "+50%" and door["in"].against(4) == "\u221225%"
    assert Compared(0).against(0) == "same" and Compared(5).against(0) == "new"
