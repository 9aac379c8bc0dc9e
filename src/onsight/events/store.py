"""SQLite event store: each app kind's events and aggregates in its own table, never a track id.

WAL mode; each `write` is one transaction, so a committed batch survives `kill -9`.
The schema evolves through numbered migrations recorded in `PRAGMA user_version`.

When the disk is full (or fails), a write is rolled back whole and its rows are held in
memory, up to `hold_limit` rows; the held batches are written, oldest first, as soon as a
write succeeds again: on the next write, or on a retry every `retry_seconds`. Once the
buffer is full, newer rows are dropped and counted (`dropped`), never the held ones, so the
record stays whole up to the moment the buffer filled.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from onsight.apps.base import EventType
from onsight.apps.registry import event_type, event_types
from onsight.errors import OnsightError
from onsight.sqlite import open_database, storage_problem, transaction
from onsight.types import Event, new_event_id, utc_iso

log = logging.getLogger(__name__)

HOLD_LIMIT = 100_000  # rows held in memory while the disk is full (about 30 MB)
RETRY_SECONDS = 10.0
# One batch to write: (statement, parameters) in order, committed in one transaction.
_Rows = list[tuple[str, tuple[object, ...]]]
_SCREENING_UPSERT = """INSERT INTO screening_hours VALUES (?,?,?,?)
   ON CONFLICT (hour, camera) DO UPDATE SET
     screened = screened + excluded.screened,
     alerted = CASE WHEN alerted IS NULL OR excluded.alerted IS NULL THEN NULL
                    ELSE alerted + excluded.alerted END"""

def _add_event_ids(db: sqlite3.Connection) -> None:
    """Tables made before events had ids get an `event_id` column, and each old row a new
    UUIDv7 from its own time, so a backfill republishes it under one stable id."""
    db.create_function("new_event_id", 1, _event_id_at, deterministic=False)
    for event in event_types():
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({event.table})")}
        if not columns or "event_id" in columns:
            continue  # made later by its app kind (with the column), or already done
        db.execute(f"ALTER TABLE {event.table} ADD COLUMN event_id TEXT")
        db.execute(f"UPDATE {event.table} SET event_id = new_event_id({event.time_column})")
        db.execute(event.event_id_index())


def _event_id_at(when: str) -> str:
    try:
        moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return new_event_id()
    return new_event_id(int(moment.timestamp() * 1000))


# The store's own schema history, recorded in `PRAGMA user_version`. The apps' tables were
# made here before the registry existed (versions 1 and 3); they are now each app kind's own
# (`EventType.create_table`, `CREATE ... IF NOT EXISTS`, so an old database keeps its rows)
# and versioned per event kind in `app_schema`.
_MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], None], ...] = (
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
    _add_event_ids,
)

# Tables outside the registry and their time column, for retention.
_OWN_TIME_COLUMNS: dict[str, str] = {"screening_hours": "hour"}


class EventStore:
    """Writes events in transactions (holding them while the disk is full); reads back for
    summaries and the API."""

    def __init__(
        self,
        path: Path,
        *,
        hold_limit: int = HOLD_LIMIT,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self._db = open_database(path, "event database", _migrate)
        self.path = path
        self.hold_limit = hold_limit
        self._retry_seconds = retry_seconds
        self._lock = threading.Lock()  # one transaction at a time on the shared connection
        self._held: deque[_Rows] = deque()
        self._statements: dict[str, str] = {}
        self._closing = threading.Event()
        self._retrier: threading.Thread | None = None
        self._told_full = False
        self.held = 0  # rows waiting in memory
        self.written = 0  # rows committed by this store
        self.dropped = 0  # rows lost because the buffer was full
        self.write_failures = 0  # writes refused by the storage
        self.problem: str | None = None  # "disk full" while writes fail, else None

    def write(self, events: Sequence[Event]) -> None:
        """Every event into its kind's table, all in one transaction (or held, disk full)."""
        rows: _Rows = []
        for event in events:
            values = event_type(event.kind).record(event)
            row = tuple(utc_iso(v) if isinstance(v, datetime) else v for v in values.values())
            row += (event.event_id,)
            if event.kind not in self._statements:  # held rows share one string per kind
                self._statements[event.kind] = _insert(event_type(event.kind))
            rows.append((self._statements[event.kind], row))
        self._write(rows)

    def write_screening_hours(self, hours: Sequence[tuple[datetime, str, int, int | None]]) -> None:
        """(hour start, camera, screened, alerted or None if suppressed), already k-suppressed.

        An hour written twice (a restart mid-hour) adds up; a suppressed count stays suppressed.
        """
        self._write(
            [
                (_SCREENING_UPSERT, (utc_iso(hour), camera, seen, alerted))
                for hour, camera, seen, alerted in hours
            ]
        )

    def retry(self) -> bool:
        """Write the held rows now if the storage takes them; True when none are left."""
        with self._lock:
            return self._flush_held()

    def _write(self, rows: _Rows) -> None:
        if not rows:
            return
        with self._lock:
            if self._flush_held():
                try:
                    self._commit(rows)
                    return
                except (sqlite3.Error, OSError) as exc:
                    if storage_problem(exc) is None:
                        raise  # bad data: it would fail again; the bus counts it
                    self._failed(exc)
            self._hold(rows)

    def _commit(self, rows: _Rows) -> None:
        with transaction(self._db):
            start = 0
            while start < len(rows):  # consecutive rows of one statement: one executemany
                sql = rows[start][0]
                end = start
                while end < len(rows) and rows[end][0] == sql:
                    end += 1
                self._db.executemany(sql, [params for _, params in rows[start:end]])
                start = end
        self.written += len(rows)

    def _flush_held(self) -> bool:
        """Commit held batches oldest first; True when none are left. Under the lock."""
        while self._held:
            rows = self._held[0]
            try:
                self._commit(rows)
            except (sqlite3.Error, OSError) as exc:
                if storage_problem(exc) is not None:
                    self._failed(exc)
                    return False
                # Cannot be written even with space: drop it rather than block the rest.
                log.error(
                    "event store: dropped %d held rows the database refused: %s", len(rows), exc
                )
                self.dropped += len(rows)
            self._held.popleft()
            self.held -= len(rows)
        if self.problem is not None:
            log.warning("event store: writing again (%s is over); no held rows left", self.problem)
            self.problem = None
            self._told_full = False
        return True

    def _failed(self, exc: BaseException) -> None:
        self.write_failures += 1
        if self.problem is None:
            self.problem = storage_problem(exc)
            log.error(
                "event store %s: %s (%s); holding events in memory (up to %d) and retrying "
                "every %g s",
                self.path,
                self.problem,
                exc,
                self.hold_limit,
                self._retry_seconds,
            )

    def _hold(self, rows: _Rows) -> None:
        kept = rows[: max(0, self.hold_limit - self.held)]
        if len(kept) < len(rows):
            if not self._told_full:  # once per outage
                self._told_full = True
                log.error(
                    "event store: memory buffer full (%d rows); dropping newer events "
                    "until the disk has space",
                    self.hold_limit,
                )
            self.dropped += len(rows) - len(kept)
        if kept:
            self._held.append(kept)
            self.held += len(kept)
        if self._retrier is None or not self._retrier.is_alive():
            self._retrier = threading.Thread(
                target=self._retry_loop, name="event-store-retry", daemon=True
            )
            self._retrier.start()

    def _retry_loop(self) -> None:
        while not self._closing.wait(self._retry_seconds):
            if self.retry():
                return

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
        with self._lock, transaction(self._db):
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
        """Stop retrying, try the held rows a last time, close; rows still held are lost
        (and logged as such)."""
        self._closing.set()
        if self._retrier is not None:
            self._retrier.join()
        with self._lock:
            if not self._flush_held():
                log.error(
                    "event store: %d held events could not be written (%s) and are lost",
                    self.held,
                    self.problem,
                )
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
        if callable(script):
            with transaction(db):
                script(db)
                db.execute(f"PRAGMA user_version = {number}")
        else:
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
    columns.append("event_id")
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * len(columns))
    merge = f" ON CONFLICT ({', '.join(event.key)}) {event.merge}" if event.merge else ""
    return f"INSERT INTO {event.table} ({names}) VALUES ({marks}){merge}"
