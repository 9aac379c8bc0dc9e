"""SQLite event store: crossing events and per-minute zone aggregates, never a track id.

WAL mode; each `write` is one transaction, so a committed batch survives `kill -9`.
The schema evolves through numbered migrations recorded in `PRAGMA user_version`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from onsight.errors import OnsightError
from onsight.types import Event, LineCrossing, ZoneDwell, ZoneMinute

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE crossings (
        id INTEGER PRIMARY KEY,
        time TEXT NOT NULL,          -- UTC ISO-8601 with Z
        camera TEXT NOT NULL,
        line TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        class TEXT NOT NULL
    );
    CREATE INDEX crossings_camera_time ON crossings (camera, time);
    CREATE TABLE zone_minutes (
        minute TEXT NOT NULL,        -- UTC ISO-8601 with Z, start of the minute
        camera TEXT NOT NULL,
        zone TEXT NOT NULL,
        class TEXT NOT NULL,
        mean REAL NOT NULL,
        peak INTEGER NOT NULL,
        samples INTEGER NOT NULL,
        PRIMARY KEY (minute, camera, zone, class)
    );
    """,
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
    # Dwell is a distribution per zone and hour, never per person; CHECK enforces k >= 5.
    """
    CREATE TABLE zone_dwell (
        hour TEXT NOT NULL,          -- UTC ISO-8601 with Z, start of the hour
        camera TEXT NOT NULL,
        zone TEXT NOT NULL,
        class TEXT NOT NULL,
        people INTEGER NOT NULL CHECK (people >= 5),
        median_seconds REAL NOT NULL,
        p90_seconds REAL NOT NULL,
        PRIMARY KEY (hour, camera, zone, class)
    );
    """,
)

# Each table's time column, for retention.
_TIME_COLUMNS: dict[str, str] = {
    "crossings": "time",
    "zone_minutes": "minute",
    "screening_hours": "hour",
    "zone_dwell": "hour",
}


def utc_iso(moment: datetime) -> str:
    """UTC ISO-8601 with a `Z`, millisecond precision."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventStore:
    """Writes events in transactions; reads back for summaries and the API."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise OnsightError(f"cannot open event database {path}: {exc}") from None
        self.path = path

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > len(_MIGRATIONS):
            raise OnsightError(
                f"database schema version {version} is newer than this onsight "
                f"({len(_MIGRATIONS)}); upgrade onsight"
            )
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            self._db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    def write(self, events: Sequence[Event]) -> None:
        crossings = [
            (utc_iso(e.time), e.camera, e.line, e.direction, e.class_name)
            for e in events
            if isinstance(e, LineCrossing)
        ]
        minutes = [
            (utc_iso(e.minute), e.camera, e.zone, e.class_name, e.mean, e.peak, e.samples)
            for e in events
            if isinstance(e, ZoneMinute)
        ]
        dwell = [
            (
                utc_iso(e.hour),
                e.camera,
                e.zone,
                e.class_name,
                e.people,
                e.median_seconds,
                e.p90_seconds,
            )
            for e in events
            if isinstance(e, ZoneDwell)
        ]
        with self._transaction():
            # An hour split across restarts keeps the larger group; both were already k-safe.
            self._db.executemany(
                """INSERT INTO zone_dwell VALUES (?,?,?,?,?,?,?)
                   ON CONFLICT (hour, camera, zone, class) DO UPDATE SET
                     people = excluded.people, median_seconds = excluded.median_seconds,
                     p90_seconds = excluded.p90_seconds
                   WHERE excluded.people > people""",
                dwell,
            )
            self._db.executemany(
                "INSERT INTO crossings (time, camera, line, direction, class) VALUES (?,?,?,?,?)",
                crossings,
            )
            # A minute split across two flushes (restart mid-minute) merges by sample weight.
            self._db.executemany(
                """INSERT INTO zone_minutes VALUES (?,?,?,?,?,?,?)
                   ON CONFLICT (minute, camera, zone, class) DO UPDATE SET
                     mean = (mean * samples + excluded.mean * excluded.samples)
                            / (samples + excluded.samples),
                     peak = max(peak, excluded.peak),
                     samples = samples + excluded.samples""",
                minutes,
            )

    def write_screening_hours(self, hours: Sequence[tuple[datetime, str, int, int | None]]) -> None:
        """(hour start, camera, screened, alerted or None if suppressed), already k-suppressed.

        An hour written twice (a restart mid-hour) adds up; a suppressed count stays suppressed.
        """
        rows = [(utc_iso(hour), camera, seen, alerted) for hour, camera, seen, alerted in hours]
        with self._transaction():
            self._db.executemany(
                """INSERT INTO screening_hours VALUES (?,?,?,?)
                   ON CONFLICT (hour, camera) DO UPDATE SET
                     screened = screened + excluded.screened,
                     alerted = CASE WHEN alerted IS NULL OR excluded.alerted IS NULL THEN NULL
                                    ELSE alerted + excluded.alerted END""",
                rows,
            )

    def _transaction(self) -> _Commit:
        self._db.execute("BEGIN IMMEDIATE")
        return _Commit(self._db)

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
        with self._transaction():
            for table, column in _TIME_COLUMNS.items():
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
        if table not in _TIME_COLUMNS:
            raise ValueError(table)
        return int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def close(self) -> None:
        self._db.close()


class _Commit:
    """Context manager: COMMIT on success, ROLLBACK on error (the transaction is already open)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        return self._db

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
