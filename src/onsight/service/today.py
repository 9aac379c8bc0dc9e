"""Today's totals for the overview, from the event database, so a restart loses nothing.

Each count is compared with the same span of yesterday and of the same weekday last week:
midnight to the same clock time, in the site's time zone. A comparison with a whole day would
make every morning look like a collapse.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from onsight.apps.line_count import KIND as LINES
from onsight.runtime import CameraHandle
from onsight.service.queries import EventQueries, local_day_start
from onsight.types import utc_iso

# The spans compared: today so far, then the same span this many days before.
_SPANS = {"today": 0, "yesterday": 1, "last_week": 7}


@dataclass(frozen=True)
class Compared:
    """One count today so far, and over the same span yesterday and a week ago."""

    today: int = 0
    yesterday: int = 0
    last_week: int = 0

    def __add__(self, other: Compared) -> Compared:
        return Compared(
            self.today + other.today,
            self.yesterday + other.yesterday,
            self.last_week + other.last_week,
        )

    def against(self, before: int) -> str:
        """The change from `before`, in words short enough for a table cell."""
        if before == 0:
            return "new" if self.today else "same"
        change = (self.today - before) / before
        return "same" if abs(change) < 0.005 else f"{change:+.0%}".replace("-", "\u2212")

    def as_dict(self) -> dict[str, int]:
        return {"today": self.today, "yesterday": self.yesterday, "last_week": self.last_week}


@dataclass(frozen=True)
class LineToday:
    name: str
    directions: dict[str, Compared]  # "in" / "out"


@dataclass(frozen=True)
class CameraToday:
    name: str
    lines: list[LineToday]
    zone_peaks: dict[str, int]  # today's highest occupancy per zone (recorded minutes)

    @property
    def entered(self) -> Compared:
        return sum((line.directions["in"] for line in self.lines), Compared())

    @property
    def left(self) -> Compared:
        return sum((line.directions["out"] for line in self.lines), Compared())


@dataclass(frozen=True)
class SiteToday:
    day: date
    weekday: str  # e.g. "Monday", for "against last Monday"
    cameras: list[CameraToday] = field(default_factory=list)

    @property
    def entered(self) -> Compared:
        return sum((camera.entered for camera in self.cameras), Compared())

    @property
    def left(self) -> Compared:
        return sum((camera.left for camera in self.cameras), Compared())

    def camera(self, name: str) -> CameraToday | None:
        return next((c for c in self.cameras if c.name == name), None)


def site_today(
    queries: EventQueries, cameras: Iterable[tuple[str, list[str]]], now: datetime
) -> SiteToday:
    """Totals for each (camera, its line names), today so far as of `now` (aware)."""
    cameras = list(cameras)
    names = [camera for camera, _ in cameras]
    among = f"camera IN ({', '.join('?' * len(names))})"  # uses the (camera, time) index
    local_now = now.astimezone()
    day = local_now.date()
    elapsed = local_now - local_day_start(day)
    counts: dict[tuple[str, str, str, str], int] = {}  # (span, camera, line, direction)
    with queries.connect() as con:
        for span, days_back in _SPANS.items():
            start = local_day_start(day - timedelta(days=days_back))
            # Today: everything stamped today (a recording replayed with --start-time may run
            # ahead of the clock); the days before: up to the same clock time.
            end = local_day_start(day + timedelta(days=1)) if days_back == 0 else start + elapsed
            rows = con.execute(
                "SELECT camera, line, direction, count(*) FROM crossings "
                f"WHERE {among} AND time >= ? AND time < ? GROUP BY 1, 2, 3",
                (*names, utc_iso(start), utc_iso(end)),
            ).fetchall()
            for camera, line, direction, n in rows:
                counts[(span, str(camera), str(line), str(direction))] = int(n)
        try:
            peaks = con.execute(
                f"SELECT camera, zone, max(peak) FROM zone_minutes WHERE {among} "
                "AND minute >= ? GROUP BY 1, 2",
                (*names, utc_iso(local_day_start(day))),
            ).fetchall()
        except sqlite3.OperationalError:  # a database from before zones were stored
            peaks = []
    peak = {(str(c), str(z)): int(p) for c, z, p in peaks if p is not None}
    out = []
    for camera, lines in cameras:
        rows = [
            LineToday(
                line,
                {
                    d: Compared(*(counts.get((span, camera, line, d), 0) for span in _SPANS))
                    for d in ("in", "out")
                },
            )
            for line in lines
        ]
        zones = {zone: n for (c, zone), n in peak.items() if c == camera}
        out.append(CameraToday(camera, rows, zones))
    return SiteToday(day, local_now.strftime("%A"), out)


def running_today(
    queries: EventQueries, cameras: Iterable[CameraHandle], now: datetime
) -> SiteToday:
    """`site_today` for the cameras and lines running now."""
    lines = [(c.name, [line.name for line in c.items(LINES)]) for c in cameras]
    return site_today(queries, lines, now)
