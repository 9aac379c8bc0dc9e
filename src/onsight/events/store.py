"""SQLite event store: each app kind's events and aggregates in its own table, never a track id.

WAL mode; each `write` is one transaction, so a committed batch survives `kill -9`.
The schema evolves through numbered migrations recorded in `PRAGMA user_version`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from onsight.apps.base import EventType
from onsight.apps.registry import event_type, event_types
from onsight.errors import OnsightError
from onsight.sqlite import open_database, transaction
from onsight.types import Event, utc_iso

# The store's own schema history, recorded in `PRAGMA user_version`. The apps' tables were
# made here before the registry existed (versions 1 and 3); they are now each app kind's own
# (`EventType.create_table`, `CREATE ... IF NOT EXISTS`, so an old database keeps its rows)
# and versioned per event kind in `app_schema`.
_MIGRATIONS: tuple[str, ...] = (
    "SELECT 1  -- was: crossings, zone_minutes (now made by their app kinds)",
    # Thermal screening stores only hourly counts; the CHECKs refuse any row that breaks k>=5.
    """
    CREATE TABLE screening_hours (
        hour TEXT NOT NULL,          -- UTC ISO-8601 with Z, start of the hour
        camera TEXT NOT NULL,
        screened INTEGER NOT NULL CHECK (screened >= 5),
        alerted INTEGER CHECK (alerted IS NULL OR (alerted >= 5 AND screened - alerted >= 5)),
        PRIMARY KEY (hour, camera)
    );
    """,
    "SELECT 1  -- was: zone_dwell (now made by its app kind)",
    """
    CREATE TABLE app_schema (
        kind TEXT PRIMARY KEY,       -- an event kind from the app registry
        version INTEGER NOT NULL     -- 1 once its table exists, + each migration applied
    );
    """,
)

# Tables outside the registry and their time column, for retention.
_OWN_TIME_COLUMNS: dict[str, str] = {"screening_hours": "hour"}


class EventStore:
    """Writes events in transactions; reads back for summaries and the API."""

    def __init__(self, path: Path) -> None:
        self._db = open_database(path, "event database", _migrate)
        self.path = path

    def write(self, events: Sequence[Event]) -> None:
        """Every event into its kind's table, all in one transaction."""
        batches: dict[str, list[tuple[object, ...]]] = {}
        for event in events:
            values = event_type(event.kind).record(event)
            batches.setdefault(event.kind, []).append(
                tuple(utc_iso(v) if isinstance(v, datetime) else v for v in values.values())
            )
        with transaction(self._db):
            for kind, rows in batches.items():
                self._db.executemany(_insert(event_type(kind)), rows)

    def write_screening_hours(self, hours: Sequence[tuple[datetime, str, int, int | None]]) -> None:
        """(hour start, camera, screened, alerted or None if suppressed), already k-suppressed.

        An hour written twice (a restart mid-hour) adds up; a suppressed count stays suppressed.
        """
        rows = [(utc_iso(hour), camera, seen, alerted) for hour, camera, seen, alerted in hours]
        with transaction(self._db):
            self._db.executemany(
                """INSERT INTO screening_hours VALUES (?,?,?,?)
                   ON CONFLICT (hour, camera) DO UPDATE SET
                     screened = screened + excluded.screened,
                     alerted = CASE WHEN alerted IS NULL OR excluded.alerted IS NULL THEN NULL
                                    ELSE alerted + excluded.alerted END""",
                rows,
            )

    def crossing_counts(self, camera: str | None = None) -> dict[tuple[str, str, str], int]:
        """(camera, line, direction) -> number of crossings."""
        query = "SELECT camera, line, direction, count(*) FROM crossings"
        rows = (
            self._db.execute(query + " WHERE camera = ? GROUP BY 1, 2, 3", (camera,))
            if camera is not None
            else self._db.execute(query + " GROUP BY 1, 2, 3")
        )
        return {(c, line, d): n for c, line, d, n in rows}

    def delete_before(self, cutoff: datetime) -> dict[str, int]:
        """Delete every row older than `cutoff`, in one transaction; rows deleted per table."""
        deleted: dict[str, int] = {}
        stamp = utc_iso(cutoff)
        with transaction(self._db):
            for table, column in _time_columns().items():
                cursor = self._db.execute(f"DELETE FROM {table} WHERE {column} < ?", (stamp,))
                deleted[table] = cursor.rowcount
        return deleted

    def tables(self) -> dict[str, list[str]]:
        """Every table and its columns (for schema tests and the API docs)."""
        names = [
            r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        return {n: [c[1] for c in self._db.execute(f"PRAGMA table_info({n})")] for n in names}

    def count_rows(self, table: str) -> int:
        if table not in _time_columns():
            raise ValueError(table)
        return int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def _migrate(db: sqlite3.Connection) -> None:
    """The store's own migrations (`PRAGMA user_version`), then each app kind's (`app_schema`)."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > len(_MIGRATIONS):
        raise OnsightError(
            f"database schema version {version} is newer than this onsight "
            f"({len(_MIGRATIONS)}); upgrade onsight"
        )
    for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    recorded = dict(db.execute("SELECT kind, version FROM app_schema").fetchall())
    for event in event_types():
        done = int(recorded.get(event.kind, 0))
        scripts = [event.create_table(), *event.migrations]
        if done > len(scripts):
            raise OnsightError(
                f"the {event.table} table is at version {done}, newer than this onsight "
                f"({len(scripts)}); upgrade onsight"
            )
        for number, script in enumerate(scripts[done:], start=done + 1):
            db.executescript(
                f"BEGIN; {script}; INSERT INTO app_schema VALUES ('{event.kind}', {number}) "
                f"ON CONFLICT (kind) DO UPDATE SET version = {number}; COMMIT;"
            )


def _time_columns() -> dict[str, str]:
    """Every table with rows to expire, and its time column."""
    return {e.table: e.time_column for e in event_types()} | _OWN_TIME_COLUMNS


def _insert(event: EventType) -> str:
    columns = [event.time_column, "camera", event.name_column, *(c.name for c in event.columns)]
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * len(columns))
    merge = f" ON CONFLICT ({', '.join(event.key)}) {event.merge}" if event.merge else ""
    return f"INSERT INTO {event.table} ({names}) VALUES ({marks}){merge}"
