"""The periods of a report: a range of local days cut into hours, days or weeks.

Periods follow the site's time zone (the process's local time, see `onsight.sitetime`):
a day runs from local midnight to local midnight, so it has 23 or 25 hours on the days the
clocks change, and weeks start on Monday. Each period's bounds are aware UTC datetimes, the
form the database's stamps compare with.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Literal, get_args

from onsight.service.queries import local_day_start

Granularity = Literal["hour", "day", "week"]
RangeName = Literal["today", "yesterday", "7d", "30d", "custom"]
GRANULARITIES: tuple[Granularity, ...] = get_args(Granularity)
RANGES: dict[RangeName, str] = {
    "today": "Today",
    "yesterday": "Yesterday",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "custom": "Custom dates",
}
MAX_DAYS = 366  # the longest range a report covers
MAX_HOUR_DAYS = 31  # hourly rows beyond this are unreadable: pick days or weeks


class RangeError(ValueError):
    """A range or granularity a user asked for that cannot be reported; says why in words."""


@dataclass(frozen=True)
class Period:
    start: datetime  # aware, UTC, inclusive
    end: datetime  # aware, UTC, exclusive
    label: str  # for tables and exports, in local time: "2026-11-30 14:00", "Mon 2026-11-30"
    short: str  # for chart axes: "14h", "Mon 30", "23 Nov"

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone()


def resolve_range(
    name: RangeName, first: date | None, last: date | None, today: date
) -> tuple[date, date]:
    """The first and last day (inclusive) of a named range, or of the custom dates."""
    if name == "today":
        return today, today
    if name == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    if name in ("7d", "30d"):
        return today - timedelta(days=int(name[:-1]) - 1), today
    if first is None or last is None:
        raise RangeError("custom range: give both a from and a to date")
    return first, last


def check_range(first: date, last: date, by: Granularity) -> None:
    """Raise RangeError for a range that is reversed, too long, or too long for hours."""
    if first > last:
        raise RangeError(f"from {first} is after to {last}")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise RangeError(f"the range is {days} days; at most {MAX_DAYS}")
    if by == "hour" and days > MAX_HOUR_DAYS:
        raise RangeError(f"hourly reports cover at most {MAX_HOUR_DAYS} days; pick day or week")
    if first.year < 2 or last.year > 9998:
        raise RangeError("dates must lie between the years 2 and 9998")


def periods(first: date, last: date, by: Granularity) -> list[Period]:
    """The periods from local midnight of `first` to local midnight after `last`."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 2)]
    if by == "hour":
        start, end = (local_day_start(d).astimezone(UTC) for d in (first, days[-1]))
        hours = int((end - start).total_seconds() // 3600)
        bounds = [start + timedelta(hours=n) for n in range(hours)] + [end]
    else:
        starts = days if by == "day" else [d for d in days if d == first or d.weekday() == 0]
        if starts[-1] != days[-1]:
            starts.append(days[-1])
        bounds = [local_day_start(d).astimezone(UTC) for d in starts]
    out = [Period(a, b, *_labels(a, by)) for a, b in pairwise(bounds)]
    return _distinct(out)


def _labels(start: datetime, by: Granularity) -> tuple[str, str]:
    local = start.astimezone()
    if by == "hour":
        return local.strftime("%Y-%m-%d %H:%M"), local.strftime("%Hh")
    if by == "day":
        return local.strftime("%a %Y-%m-%d"), local.strftime("%a %d")
    week = local.isocalendar().week
    return f"{local:%Y-%m-%d} (week {week})", local.strftime("%d %b")


def _distinct(out: list[Period]) -> list[Period]:
    """On the night the clocks go back an hour repeats: name its zone to tell them apart."""
    seen = Counter(p.label for p in out)
    return [
        Period(p.start, p.end, f"{p.label} {p.local_start:%Z}", p.short) if seen[p.label] > 1
        else p
        for p in out
    ]  # fmt: skip


def bucket(starts: list[datetime], moment: datetime) -> int | None:
    """The index of the period (by sorted UTC starts, the last one ending at `starts[-1]`'s
    end, checked by the caller's query) that `moment` falls in; None before the first."""
    index = bisect_right(starts, moment) - 1
    return index if index >= 0 else None
