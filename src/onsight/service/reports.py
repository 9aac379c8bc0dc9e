"""The reports page's numbers: per app kind, per camera and item, one row per period.

The sections come from the app registry, not from per-kind code:
- an event kind that records single events (line crossings, alerts) is *counted* per period,
  split by its `direction` column when it has one;
- an event kind with a per-minute level (`chart_column`: zone occupancy, queue length) gets
  the *mean* over the period's recorded minutes and, with a `peak_column`, the *peak*.
Only aggregates leave here: counts, means and maxima per period, never a single event.

The database groups by UTC minute; the minutes are then put in the site's local periods in
Python, so hours and days are right for any offset (half-hour zones) and across DST.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from onsight.apps.base import AppKind, EventType
from onsight.apps.registry import kinds
from onsight.service.periods import Period, bucket
from onsight.service.queries import EventQueries
from onsight.types import utc_iso

Number = int | float | None
Shape = Literal["count", "level"]


@dataclass(frozen=True)
class Section:
    """What one event kind contributes to a report."""

    kind: AppKind[Any, Any]
    event: EventType
    shape: Shape
    measures: tuple[str, ...]  # column labels: ("in", "out"), ("count",), ("mean", "peak")

    @property
    def name(self) -> str:
        """What is measured: "line crossings", "occupancy" (not per minute: per period)."""
        return self.event.label.removesuffix(" per minute")

    @property
    def heading(self) -> str:
        same = self.name.lower() == self.kind.heading.lower()  # "Distancing: distancing"
        return self.kind.heading if same else f"{self.kind.heading}: {self.name}"


@dataclass(frozen=True)
class Table:
    """One item's (line, zone, ...) figures: a row per period and a total row."""

    section: Section
    camera: str
    name: str
    rows: list[list[Number]]  # per period, values in `section.measures` order
    total: list[Number]

    @property
    def title(self) -> str:
        return f"{self.name} ({self.camera})"

    def headers(self) -> list[str]:
        """This table's column names in the exports, which put every table side by side."""
        what = self.section.name
        return [f"{self.camera}/{self.name}: {what}, {m}" for m in self.section.measures]


@dataclass(frozen=True)
class Report:
    periods: list[Period]
    tables: list[Table] = field(default_factory=list)

    def sections(self) -> list[tuple[Section, list[Table]]]:
        """The tables grouped by section, in registry order."""
        out: list[tuple[Section, list[Table]]] = []
        for table in self.tables:
            if not out or out[-1][0] != table.section:
                out.append((table.section, []))
            out[-1][1].append(table)
        return out


def sections() -> list[Section]:
    """Every reportable event kind of the registry, in order."""
    out = []
    for kind in kinds():
        for event in kind.events:
            columns = {c.name for c in event.columns}
            if not event.key:
                split = ("in", "out") if "direction" in columns else ("count",)
                out.append(Section(kind, event, "count", split))
            elif event.chart_column:
                names = [event.chart_column, *([event.peak_column] if event.peak_column else [])]
                out.append(Section(kind, event, "level", tuple(_words(n) for n in names)))
    return out


def _words(column: str) -> str:
    return column.replace("_", " ")


def build_report(
    queries: EventQueries, cameras: Mapping[str, BaseModel], periods: list[Period]
) -> Report:
    """The report over `periods` for `cameras` (name -> camera config, for the items
    configured now; items that only have data in the range are shown too)."""
    report = Report(periods)
    if not periods:
        return report
    with queries.connect() as con:
        for section in sections():
            found = _query(con, section, list(cameras), periods)
            for camera, config in cameras.items():
                names = [] if section.event.alert else _configured(section.kind, config)
                names += sorted({n for c, n in found if c == camera} - set(names))
                for name in names:
                    rows, total = found.get((camera, name)) or _empty(section, len(periods))
                    report.tables.append(Table(section, camera, name, rows, total))
    return report


def _configured(kind: AppKind[Any, Any], camera: BaseModel) -> list[str]:
    items = kind.items(camera)
    return [str(name) for name in (getattr(item, "name", None) for item in items) if name]


def _empty(section: Section, count: int) -> tuple[list[list[Number]], list[Number]]:
    zero: Number = 0 if section.shape == "count" else None
    width = len(section.measures)
    return [[zero] * width for _ in range(count)], [zero] * width


_Found = dict[tuple[str, str], tuple[list[list[Number]], list[Number]]]


def _query(
    con: sqlite3.Connection, section: Section, cameras: list[str], periods: list[Period]
) -> _Found:
    event = section.event
    time, name = event.time_column, event.name_column
    if section.shape == "count":
        split = "direction" if section.measures == ("in", "out") else "''"
        values, groups = f"{split}, count(*)", "1, 2, 3, 4"
    else:
        peak = f'max("{event.peak_column}")' if event.peak_column else "NULL"
        values, groups = f'sum("{event.chart_column}"), {peak}', "1, 2, 3"
    among = ", ".join("?" * len(cameras))
    sql = (
        f"SELECT camera, {name}, substr({time}, 1, 16), {values} FROM {event.table} "
        f"WHERE camera IN ({among}) AND {time} >= ? AND {time} < ? GROUP BY {groups}"
    )
    params = [*cameras, utc_iso(periods[0].start), utc_iso(periods[-1].end)]
    try:
        rows = con.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # a database from before this kind was stored
        rows = []
    if section.shape == "count":
        return _counts(rows, section, periods)
    return _levels(rows, section, periods)


def _minute(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _counts(rows: Iterable[Any], section: Section, periods: list[Period]) -> _Found:
    starts = [p.start for p in periods]
    out: _Found = {}
    for camera, name, minute, split, n in rows:
        key = (str(camera), str(name))
        if key not in out:
            out[key] = _empty(section, len(periods))
        index = bucket(starts, _minute(minute))
        column = section.measures.index(split) if split in section.measures else 0
        if index is not None:
            out[key][0][index][column] = int(out[key][0][index][column] or 0) + int(n)
    for table, total in out.values():
        total[:] = [sum(int(row[i] or 0) for row in table) for i in range(len(total))]
    return out


def _levels(rows: Iterable[Any], section: Section, periods: list[Period]) -> _Found:
    """Per period: the mean of the per-minute levels, and the highest per-minute peak."""
    starts = [p.start for p in periods]
    sums: dict[tuple[str, str], list[tuple[float, int, float | None]]] = {}
    for camera, name, minute, level, peak in rows:
        index = bucket(starts, _minute(minute))
        if index is not None and level is not None:
            cells = sums.setdefault((str(camera), str(name)), [(0.0, 0, None)] * len(periods))
            total, minutes, highest = cells[index]
            if peak is not None:
                highest = float(peak) if highest is None else max(highest, float(peak))
            cells[index] = (total + float(level), minutes + 1, highest)
    peaks = len(section.measures) > 1
    out: _Found = {}
    for key, cells in sums.items():
        rows_out = [_level_row(t, m, p, peaks) for t, m, p in cells]
        top = max((p for _, _, p in cells if p is not None), default=None)
        whole = _level_row(sum(t for t, _, _ in cells), sum(m for _, m, _ in cells), top, peaks)
        out[key] = rows_out, whole
    return out


def _level_row(total: float, minutes: int, peak: float | None, peaks: bool) -> list[Number]:
    mean: Number = round(total / minutes, 2) if minutes else None
    if not peaks:
        return [mean]
    return [mean, None if peak is None or not minutes else _whole(peak)]


def _whole(value: float) -> Number:
    return int(value) if float(value).is_integer() else round(float(value), 2)
