"""Read-only queries on the event database for the dashboard, the API and CSV export.

Every request opens its own read-only connection: web threads never share the pipeline's
writer connection, and nothing here can change recorded data. Buckets for charts use the
server's local time zone (SQLite's 'localtime' and Python's `astimezone()` agree on it).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from onsight.apps.base import EventType, Value
from onsight.apps.registry import event_kinds, event_type
from onsight.types import utc_iso


def _select(event: EventType) -> str:
    """kind, time, camera, name, the other columns as one JSON object, and the event id:
    every kind's select lines up for UNION ALL."""
    pairs = ", ".join(f"'{c.name}', \"{c.name}\"" for c in event.columns)
    return (
        f"SELECT '{event.kind}', {event.time_column}, camera, {event.name_column}, "
        f"json_object({pairs}), event_id FROM {event.table}"
    )


EXPORT_LIMIT = 1_000_000  # rows in one CSV download


@dataclass(frozen=True)
class EventFilter:
    camera: str | None = None
    kind: str | None = None  # an event kind from the registry
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def query(self) -> dict[str, str]:
        """The filter as URL query parameters (for links and the audit record)."""
        out: dict[str, str] = {}
        if self.camera:
            out["camera"] = self.camera
        if self.kind:
            out["kind"] = self.kind
        if self.since:
            out["since"] = utc_iso(self.since)
        if self.until:
            out["until"] = utc_iso(self.until)
        return out


@dataclass(frozen=True)
class EventRow:
    kind: str
    time: str  # UTC ISO-8601 with Z (start of the minute/hour for aggregates)
    camera: str
    name: str  # the line, zone, ... it is about
    fields: dict[str, Value]  # the event type's columns, in order
    id: str = ""  # the event id (`types.Stamped`), as published

    @property
    def class_name(self) -> str:
        return str(self.fields.get("class", ""))

    def summary(self) -> str:
        """The fields in a few words, for the events page."""
        return ", ".join(
            f"{key.replace('_', ' ')} {_short(value)}"
            for key, value in self.fields.items()
            if key != "class" and value is not None
        )


def _short(value: Value) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; naive means UTC; values past the calendar's ends clamp to them."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. year 1 with a positive offset
        end = datetime.min if moment.year < 2 else datetime.max
        return end.replace(tzinfo=UTC)


def local_day_start(day: date) -> datetime:
    """Local midnight of `day` as an aware datetime (right offset on DST days too)."""
    try:
        return datetime.combine(day, time()).astimezone()
    except (OverflowError, ValueError, OSError):  # the ends of the calendar
        return datetime.combine(day, time(), tzinfo=UTC)


def local_time(stamp: str) -> str:
    """A stored UTC stamp in the server's time zone, to the second, for people to read."""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def zone_name() -> str:
    """The server's time zone as charts name it, e.g. "CET"."""
    return datetime.now().astimezone().tzname() or "local time"


class EventQueries:
    def __init__(self, path: Path) -> None:
        self._uri = path.resolve().as_uri() + "?mode=ro"

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self._uri, uri=True, timeout=5.0)
        try:
            yield con
        finally:
            con.close()

    def events(self, where: EventFilter, limit: int, offset: int = 0) -> list[EventRow]:
        """Newest first."""
        parts: list[str] = []
        params: list[object] = []
        for kind in [where.kind] if where.kind else event_kinds():
            event = event_type(kind)
            column = event.time_column
            conditions: list[str] = []
            if where.camera is not None:
                conditions.append("camera = ?")
                params.append(where.camera)
            if where.since is not None:
                conditions.append(f"{column} >= ?")
                params.append(utc_iso(as_utc(where.since)))
            if where.until is not None:
                conditions.append(f"{column} < ?")
                params.append(utc_iso(as_utc(where.until)))
            where_sql = " WHERE " + " AND ".join(conditions) if conditions else ""
            parts.append(_select(event) + where_sql)
        sql = " UNION ALL ".join(parts) + " ORDER BY 2 DESC, 3, 4, 1 LIMIT ? OFFSET ?"
        with self.connect() as con:
            rows = con.execute(sql, [*params, limit, offset]).fetchall()
        return [EventRow(k, t, c, n, json.loads(f), i or "") for k, t, c, n, f, i in rows]

    def crossings_by(
        self, camera: str, start: datetime, end: datetime, bucket: str
    ) -> dict[tuple[str, str], int]:
        """(local-time bucket per strftime `bucket`, direction) -> crossings in [start, end)."""
        sql = (
            "SELECT strftime(?, time, 'localtime'), direction, count(*) FROM crossings "
            "WHERE camera = ? AND time >= ? AND time < ? GROUP BY 1, 2"
        )
        with self.connect() as con:
            rows = con.execute(sql, (bucket, camera, utc_iso(start), utc_iso(end))).fetchall()
        return {(str(b), str(d)): int(n) for b, d, n in rows}

    def level_by_10_minutes(
        self, event: EventType, camera: str, start: datetime, end: datetime
    ) -> dict[tuple[str, str], float]:
        """(name, local "HH:M0") -> mean of the event type's chart column over the recorded
        minutes (summed over the rows of one minute and name first, e.g. classes)."""
        minute, name, value = event.time_column, event.name_column, event.chart_column
        sql = f"""
            SELECT {name},
                   strftime('%H:', {minute}, 'localtime')
                   || (CAST(strftime('%M', {minute}, 'localtime') AS INTEGER) / 10) || '0',
                   avg(total)
            FROM (SELECT {minute}, {name}, sum("{value}") AS total FROM {event.table}
                  WHERE camera = ? AND {minute} >= ? AND {minute} < ? GROUP BY 1, 2)
            GROUP BY 1, 2"""
        with self.connect() as con:
            rows = con.execute(sql, (camera, utc_iso(start), utc_iso(end))).fetchall()
        return {(str(z), str(b)): float(v) for z, b, v in rows}
