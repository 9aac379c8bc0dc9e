"""A bounded, durable FIFO of outgoing messages in SQLite.

Each `put` is one WAL transaction, so a committed batch survives `kill -9`. Rows are deleted
only by `ack`, after the receiver confirmed them, which makes delivery at-least-once. When the
queue is full the oldest rows go, counted in `dropped`: a long outage costs the oldest events,
never the newest and never the pipeline's memory.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from onsight.errors import OnsightError
from onsight.sqlite import open_database, transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so an ack cannot hit a newer row
    event_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL
)
"""

QueueItem = tuple[str, str, bytes, bool]  # event id, topic, payload, retain


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    event_id: str
    topic: str
    payload: bytes
    retain: bool


class DiskQueue:
    """Thread-safe: one connection guarded by a lock (the bus and the publisher share it)."""

    def __init__(self, path: Path, max_items: int) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self.path = path
        self.max_items = max_items
        self.dropped = 0
        self._lock = threading.Lock()
        self._db = open_database(path, "message queue", self._prepare)

    def _prepare(self, db: sqlite3.Connection) -> None:
        """Make the table if missing; count what an earlier run left in it."""
        db.execute(_SCHEMA)
        self._count = int(db.execute("SELECT count(*) FROM queue").fetchone()[0])

    def put(self, items: Sequence[QueueItem]) -> int:
        """Append a batch in one transaction; returns how many old rows were dropped for room."""
        if not items:
            return 0
        rows = [(ident, topic, payload, int(retain)) for ident, topic, payload, retain in items]
        with self._lock:
            try:
                with transaction(self._db):
                    self._db.executemany(
                        "INSERT INTO queue (event_id, topic, payload, retain) VALUES (?,?,?,?)",
                        rows,
                    )
                    overflow = max(0, self._count + len(rows) - self.max_items)
                    if overflow:
                        self._db.execute(
                            "DELETE FROM queue WHERE seq IN "
                            "(SELECT seq FROM queue ORDER BY seq LIMIT ?)",
                            (overflow,),
                        )
            except sqlite3.Error as exc:
                raise OnsightError(f"cannot write message queue {self.path}: {exc}") from None
            self._count += len(rows) - overflow
            self.dropped += overflow
            return overflow

    def peek(self, n: int, after: int = 0) -> list[Row]:
        """The oldest `n` rows with a sequence number above `after`, oldest first."""
        with self._lock:
            cursor = self._db.execute(
                "SELECT seq, event_id, topic, payload, retain FROM queue "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, n),
            )
            return [Row(s, e, t, bytes(p), bool(r)) for s, e, t, p, r in cursor]

    def ack(self, seqs: Iterable[int]) -> int:
        """Delete delivered rows (unknown or already-dropped ones are ignored); returns how many."""
        keys = [(seq,) for seq in seqs]
        if not keys:
            return 0
        with self._lock:
            try:
                before = self._db.total_changes
                with transaction(self._db):
                    self._db.executemany("DELETE FROM queue WHERE seq = ?", keys)
            except sqlite3.Error as exc:
                raise OnsightError(f"cannot write message queue {self.path}: {exc}") from None
            deleted = self._db.total_changes - before
            self._count -= deleted
            return deleted

    @property
    def pending(self) -> int:
        return self._count

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        with self._lock:
            self._db.close()
