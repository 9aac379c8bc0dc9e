"""Append-only, hash-chained, keyed audit log (privacy rule 6) in its own SQLite file.

Each record's `hash` is the HMAC-SHA256 (hex), under the key in ``<audit_log>.key`` (see
`audit_files`), of the UTF-8 bytes of the compact JSON array
``[seq, time, action, actor, detail, prev_hash]`` (``separators=(",", ":")``, non-ASCII kept),
where `detail` is the stored canonical JSON text (sorted keys, compact). The first record's
`prev_hash` is 64 zeros. SQLite triggers refuse UPDATE and DELETE; edits that bypass them (a
raw file editor, dropped triggers) break the chain, and `verify` names the first broken record.
Without the key nobody can re-hash edited records so that they verify.

Logs written before the key (``user_version`` 1) used plain SHA-256 of the same bytes. At the
first start of a version that keys the chain, a key is made and one `audit_keyed` record is
appended (``user_version`` 2): records before the first `audit_keyed` record keep verifying
with SHA-256, that record and all after it with the HMAC. A keyed log with no such record is
keyed from record 1. A keyed log whose key file is missing is an error, never a new key.

Deleting the newest records leaves a valid chain. Every append therefore also writes the new
head (``SEQ:HASH``) to ``<audit_log>.head``, and `AuditWitness` publishes it periodically
(log line, MQTT); `verify` compares the log with those heads.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, get_args

from onsight.errors import OnsightError
from onsight.privacy.audit_files import (
    AuditHead,
    create_key,
    head_path,
    key_path,
    read_head,
    read_key,
    write_head,
)
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
    "user_password",  # name (never the password); their sessions ended
    "user_remove",
    "token_add",  # name, role (never the token)
    "token_revoke",
    "audit_keyed",  # the chain is HMAC-keyed from this record on; legacy record count
    "worker_restart",  # camera, reason: its decoding worker crashed or hung and was restarted
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
_KEYED_VERSION = 2  # user_version of a log whose chain is keyed
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


def record_hash(
    seq: int,
    time: str,
    action: str,
    actor: str,
    detail: str,
    prev_hash: str,
    key: bytes | None = None,
) -> str:
    """HMAC-SHA256 under `key`; plain SHA-256 (records of a legacy, unkeyed log) without."""
    payload = json.dumps(
        [seq, time, action, actor, detail, prev_hash], ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")
    if key is None:
        return hashlib.sha256(payload).hexdigest()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


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
    """Appends records under a lock (and a write transaction, so processes interleave safely).

    A new log gets a key file at once; a legacy unkeyed log is keyed on open when `upgrade`
    (the service and every command that writes). With `upgrade=False` (the read-only `audit`
    commands) a legacy log is only read and verified, and `append` refuses.
    """

    def __init__(
        self, path: Path, clock: Callable[[], datetime] = _utc_now, *, upgrade: bool = True
    ) -> None:
        self.path = path
        self.key_path = key_path(path)
        self.head_path = head_path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._key: bytes | None = None
        self._db = connect(path, "audit log")
        try:
            use_wal(self._db, synchronous="FULL")  # an audit record must survive power loss
            self._prepare(upgrade)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise OnsightError(
                f"{path} is not an onsight audit log (not a readable SQLite database: {exc})"
            ) from None
        except OnsightError:
            self._db.close()
            raise

    def _prepare(self, upgrade: bool) -> None:
        tables = {
            r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not tables:
            # An existing key is kept: a deleted log then still fails against its old head.
            self._key = read_key(self.key_path) or create_key(self.key_path)
            self._db.executescript(
                f"BEGIN IMMEDIATE; {_SCHEMA} {_TRIGGERS} "
                f"PRAGMA user_version = {_KEYED_VERSION}; COMMIT;"
            )
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
        if self._version() >= _KEYED_VERSION:
            self._key = self._required_key()
        elif upgrade:
            self._upgrade()

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _required_key(self) -> bytes:
        key = read_key(self.key_path)
        if key is None:
            raise OnsightError(
                f"audit log {self.path} is keyed but its key file {self.key_path} is missing; "
                "restore it from a backup (a new key would hide any tampering)"
            )
        return key

    def _upgrade(self) -> None:
        """Key a legacy log: make the key, then record the switch (see the module doc)."""
        created = not self.key_path.exists()
        keyed: AuditRecord | None = None
        try:
            with transaction(self._db):
                if self._version() >= _KEYED_VERSION:  # another process was first
                    self._key = self._required_key()
                    return
                if self.key_path.exists():
                    log.warning(
                        "audit log %s is unkeyed but %s exists: an upgrade was interrupted, or "
                        "the log was rewritten without the key (check its witnessed head)",
                        self.path,
                        self.key_path,
                    )
                key = read_key(self.key_path) or create_key(self.key_path)
                legacy = int(self._db.execute("SELECT count(*) FROM audit").fetchone()[0])
                if legacy:
                    keyed = self._insert(
                        key,
                        "audit_keyed",
                        "system",
                        canonical_json({"scheme": "hmac-sha256", "legacy_records": legacy}),
                    )
                self._db.execute(f"PRAGMA user_version = {_KEYED_VERSION}")
                self._key = key
        except sqlite3.Error as exc:
            if created:  # a key beside a log that stayed unkeyed would look like tampering
                self.key_path.unlink(missing_ok=True)
            raise OnsightError(f"cannot upgrade audit log {self.path}: {exc}") from None
        if keyed is not None:
            self._advance_head(keyed)
        log.info("audit log %s is now keyed (%s)", self.path, self.key_path)

    def append(self, action: AuditAction, actor: str = "system", **detail: Any) -> AuditRecord:
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}; known: {sorted(ACTIONS)}")
        detail_json = canonical_json(detail)
        key = self._key
        if key is None:
            raise OnsightError(f"audit log {self.path} is open read-only (not yet keyed)")
        with self._lock:
            try:
                # IMMEDIATE takes the write lock before reading the head, so another process
                # cannot append between our read and our insert.
                with transaction(self._db):
                    record = self._insert(key, action, actor, detail_json)
            except sqlite3.Error as exc:
                raise OnsightError(f"cannot write audit log {self.path}: {exc}") from None
            # Only a committed record becomes the head: a crash before the commit must not
            # leave a head file naming a record the log never got.
            self._advance_head(record)
            return record

    def _insert(self, key: bytes, action: str, actor: str, detail_json: str) -> AuditRecord:
        """Add one record after the current head (inside a write transaction; the caller
        advances the head file once it is committed)."""
        head = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (int(head[0]) + 1, str(head[1])) if head else (1, GENESIS)
        time = utc_iso(self._clock())
        digest = record_hash(seq, time, action, actor, detail_json, prev, key)
        self._db.execute(
            "INSERT INTO audit VALUES (?,?,?,?,?,?,?)",
            (seq, time, action, actor, detail_json, prev, digest),
        )
        return AuditRecord(seq, time, action, actor, detail_json, prev, digest)

    def _advance_head(self, record: AuditRecord) -> None:
        """Store the committed record as the head beside the log, unless the stored one is no
        longer in the log: that evidence of truncation is kept for `verify`. Another process
        may have stored a newer head meanwhile: it is kept."""
        head = AuditHead(record.seq, record.hash)
        try:
            old = read_head(self.head_path)
            if old is not None and old.seq >= head.seq and self._hash_of(old.seq) == old.hash:
                return
            if old is not None and self._hash_of(old.seq) != old.hash:
                log.error(
                    "audit log %s no longer holds its witnessed head %s (records deleted or "
                    "rewritten); %s is kept for `onsight audit verify`",
                    self.path,
                    old,
                    self.head_path,
                )
                return
            write_head(self.head_path, head)
        except OnsightError as exc:  # the record is safe; only the local witness is behind
            log.error("%s", exc)

    def _hash_of(self, seq: int) -> str | None:
        row = self._db.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else str(row[0])

    def head(self) -> AuditHead | None:
        """The newest record's sequence number and hash (None for an empty log)."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        return None if row is None else AuditHead(int(row[0]), str(row[1]))

    def stored_head(self) -> AuditHead | None:
        """The head last stored in ``<audit_log>.head``."""
        return read_head(self.head_path)

    def verify(self, witnessed: Sequence[tuple[str, AuditHead]] = ()) -> AuditVerdict:
        """Recompute the chain from the first record and report the first broken link; then
        check that each witnessed head (source, head) is still in the log, unchanged."""
        with self._lock:
            keyed = self._version() >= _KEYED_VERSION
            if not keyed and self.key_path.exists():
                return AuditVerdict(
                    False,
                    0,
                    1,
                    f"the log is not keyed but {self.key_path} exists "
                    "(rewritten without the key, or an interrupted upgrade)",
                )
            key = self._key if keyed else None
            if keyed and key is None:
                key = self._key = self._required_key()  # upgraded by another process
            switch = self._db.execute(
                "SELECT min(seq) FROM audit WHERE action = 'audit_keyed'"
            ).fetchone()[0]
            keyed_from = int(switch) if keyed and switch is not None else 1
            rows = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM audit ORDER BY seq")
            count = 0
            expected_seq, prev_hash = 1, GENESIS
            for row in rows:
                count += 1
                row_key = key if key is not None and int(row[0]) >= keyed_from else None
                problem = _check(row, expected_seq, prev_hash, row_key)
                if problem is not None:
                    broken, reason = problem
                    return AuditVerdict(False, count, broken, reason)
                expected_seq, prev_hash = expected_seq + 1, str(row[6])
            for source, head in witnessed:
                problem = _against_head(head, count, self._hash_of(head.seq), source)
                if problem is not None:
                    return AuditVerdict(False, count, *problem)
        return AuditVerdict(
            True,
            count,
            None,
            "chain intact (keyed)" if keyed else "chain intact (legacy unkeyed log)",
        )

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


def _against_head(
    head: AuditHead, last: int, stored_hash: str | None, source: str
) -> tuple[int, str] | None:
    """(first bad seq, reason) when the log no longer holds a head it once had."""
    if head.seq == 0:
        return None
    if stored_hash is None:
        gap = f"record {head.seq}" if head.seq == last + 1 else f"records {last + 1}-{head.seq}"
        return last + 1, (
            f"{gap} missing at the end (truncated): the log ends at record {last} but the "
            f"witnessed head ({source}) is record {head.seq}"
        )
    if stored_hash != head.hash:
        return head.seq, f"record {head.seq} differs from the witnessed head ({source}): rewritten"
    return None


def _check(
    row: tuple[Any, ...], expected_seq: int, prev_hash: str, key: bytes | None
) -> tuple[int, str] | None:
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
    if record_hash(seq, time, action, actor, detail, prev, key) != digest:
        if key is None:
            return seq, "contents do not match its hash (a field was edited)"
        return seq, "contents do not match its keyed hash (a field was edited or re-hashed)"
    if prev != prev_hash:
        if seq == 1:
            return seq, "prev_hash is not the genesis value (the start of the log was replaced)"
        return seq, (
            f"prev_hash does not match the hash of record {seq - 1} "
            f"(record {seq - 1} was rewritten, or records were reordered)"
        )
    return None
