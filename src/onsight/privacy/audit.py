"""Append-only, hash-chained audit log (privacy rule 6) in its own SQLite file.

Each record's `hash` is the SHA-256 (hex) of the UTF-8 bytes of the compact JSON array
``[seq, time, action, actor, detail, prev_hash]`` (``separators=(",", ":")``, non-ASCII kept),
where `detail` is the stored canonical JSON text (sorted keys, compact). The first record's
`prev_hash` is 64 zeros. SQLite triggers refuse UPDATE and DELETE; edits that bypass them (a
raw file editor, dropped triggers) break the chain, and `verify` names the first broken record.
An attacker who removes records from the END and nothing else cannot be detected from the file
alone: compare `records` with an earlier verdict or an exported head hash for that.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, get_args

from onsight.errors import OnsightError
from onsight.sqlite import connect, transaction, use_wal
from onsight.types import utc_iso

log = logging.getLogger(__name__)

AuditAction = Literal[
    "config_load",  # detail: config path, sha256 of the file bytes (never the content)
    "config_change",
    "start",
    "stop",
    "export",
    "image_view",  # e.g. a snapshot: camera, redaction mode, output path
    "login",  # detail: user name only, never the password
    "login_failed",  # user name tried, client address
    "logout",
    "live_view",  # user, camera: a redacted live stream was opened
    "retention",  # what was deleted, counts
    "user_add",  # name, role (never the password)
    "user_remove",
    "token_add",  # name, role (never the token)
    "token_revoke",
]
ACTIONS: frozenset[str] = frozenset(get_args(AuditAction))

GENESIS = "0" * 64
_APPLICATION_ID = 0x4F4E5341  # "ONSA": marks the file as an onsight audit log
_COLUMNS = ("seq", "time", "action", "actor", "detail", "prev_hash", "hash")
_SCHEMA = f"""
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,          -- UTC ISO-8601 with Z
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT NOT NULL,        -- canonical JSON
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
PRAGMA application_id = {_APPLICATION_ID};
PRAGMA user_version = 1;
"""
_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: records cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: records cannot be deleted'); END;
"""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    time: str
    action: str
    actor: str
    detail: str  # canonical JSON object
    prev_hash: str
    hash: str

    def details(self) -> dict[str, Any]:
        """`detail` parsed back into a dict."""
        parsed: dict[str, Any] = json.loads(self.detail)
        return parsed


@dataclass(frozen=True)
class AuditVerdict:
    ok: bool
    records: int
    first_broken: int | None
    reason: str


def record_hash(seq: int, time: str, action: str, actor: str, detail: str, prev_hash: str) -> str:
    payload = json.dumps(
        [seq, time, action, actor, detail, prev_hash], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def canonical_json(detail: dict[str, Any]) -> str:
    """Sorted keys, compact, no NaN; paths and datetimes become strings."""
    return json.dumps(
        detail,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_jsonable,
    )


def _jsonable(value: object) -> str:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return utc_iso(value)
    raise TypeError(f"audit detail values must be JSON data, not {type(value).__name__}")


def config_load_detail(path: Path) -> dict[str, str]:
    """Detail for a `config_load` record: where the config is and a hash of its bytes.

    Never the content: it may hold camera passwords (directly or after ${ENV} expansion).
    """
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise OnsightError(f"cannot read config {path}: {exc.strerror or exc}") from None
    return {"config": str(path.resolve()), "sha256": digest}


class AuditLog:
    """Appends records under a lock (and a write transaction, so processes interleave safely)."""

    def __init__(self, path: Path, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._db = connect(path, "audit log")
        try:
            use_wal(self._db, synchronous="FULL")  # an audit record must survive power loss
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise OnsightError(
                f"{path} is not an onsight audit log (not a readable SQLite database: {exc})"
            ) from None
        except OnsightError:
            self._db.close()
            raise

    def _prepare(self) -> None:
        tables = {
            r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not tables:
            self._db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} {_TRIGGERS} COMMIT;")
            return
        app_id = int(self._db.execute("PRAGMA application_id").fetchone()[0])
        columns = tuple(r[1] for r in self._db.execute("PRAGMA table_info(audit)"))
        if app_id != _APPLICATION_ID or columns != _COLUMNS:
            raise OnsightError(
                f"{self.path} is not an onsight audit log (it is a SQLite database with a "
                "different schema); point privacy.audit_log at a new file"
            )
        triggers = {
            r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
        }
        if not {"audit_no_update", "audit_no_delete"} <= triggers:
            # Someone removed the guard. Restore it; `verify` tells whether records changed.
            log.warning("audit log %s had lost its append-only triggers; restored", self.path)
            self._db.executescript(_TRIGGERS)

    def append(self, action: AuditAction, actor: str = "system", **detail: Any) -> AuditRecord:
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}; known: {sorted(ACTIONS)}")
        detail_json = canonical_json(detail)
        with self._lock:
            try:
                # IMMEDIATE takes the write lock before reading the head, so another process
                # cannot append between our read and our insert.
                with transaction(self._db):
                    head = self._db.execute(
                        "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
                    ).fetchone()
                    seq, prev = (int(head[0]) + 1, str(head[1])) if head else (1, GENESIS)
                    time = utc_iso(self._clock())
                    digest = record_hash(seq, time, action, actor, detail_json, prev)
                    self._db.execute(
                        "INSERT INTO audit VALUES (?,?,?,?,?,?,?)",
                        (seq, time, action, actor, detail_json, prev, digest),
                    )
            except sqlite3.Error as exc:
                raise OnsightError(f"cannot write audit log {self.path}: {exc}") from None
        return AuditRecord(seq, time, action, actor, detail_json, prev, digest)

    def verify(self) -> AuditVerdict:
        """Recompute the chain from the first record; report the first broken link."""
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM audit ORDER BY seq")
            count = 0
            expected_seq, prev_hash = 1, GENESIS
            for row in rows:
                count += 1
                problem = _check(row, expected_seq, prev_hash)
                if problem is not None:
                    broken, reason = problem
                    return AuditVerdict(False, count, broken, reason)
                expected_seq, prev_hash = expected_seq + 1, str(row[6])
        return AuditVerdict(True, count, None, "chain intact")

    def tail(self, limit: int = 20) -> list[AuditRecord]:
        """The last `limit` records, oldest first (values shown as stored, even if tampered)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM audit ORDER BY seq DESC LIMIT ?",
                (max(limit, 0),),
            ).fetchall()
        return [
            AuditRecord(int(r[0]), *(v if isinstance(v, str) else str(v) for v in r[1:]))
            for r in reversed(rows)
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _check(row: tuple[Any, ...], expected_seq: int, prev_hash: str) -> tuple[int, str] | None:
    """(seq, reason) for the first problem with `row`, or None when it links correctly."""
    seq = int(row[0])
    if seq != expected_seq:
        if seq < expected_seq:  # INTEGER PRIMARY KEY is unique and sorted: cannot happen
            return seq, f"record {seq} is out of order"
        gap = (
            f"record {expected_seq}"
            if seq == expected_seq + 1
            else (f"records {expected_seq}-{seq - 1}")
        )
        return expected_seq, f"{gap} missing (deleted?); the next record is {seq}"
    fields = row[1:]
    if not all(isinstance(value, str) for value in fields):
        return seq, "a field holds a non-text value (edited outside onsight)"
    time, action, actor, detail, prev, digest = fields
    if record_hash(seq, time, action, actor, detail, prev) != digest:
        return seq, "contents do not match its hash (a field was edited)"
    if prev != prev_hash:
        if seq == 1:
            return seq, "prev_hash is not the genesis value (the start of the log was replaced)"
        return seq, (
            f"prev_hash does not match the hash of record {seq - 1} "
            f"(record {seq - 1} was rewritten, or records were reordered)"
        )
    return None
