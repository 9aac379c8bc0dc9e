"""Opening onsight's SQLite files, and their write transactions, the same way everywhere;
telling a full disk from bad data, checking a file at start-up, and online backups.

Each file is opened in autocommit mode (`isolation_level=None`: the sqlite3 module never
starts a transaction behind our back, we do it with `transaction`) and may be shared by
threads (`check_same_thread=False`; its owner serialises them under a lock). WAL mode lets
readers, in this process or another, go on while one writer commits.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from onsight.errors import OnsightError

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


def connect(path: Path, what: str, *, mode: int | None = 0o600) -> sqlite3.Connection:
    """Connect to the file at `path`, making its folder (and the file) when missing.

    `mode`: create a missing file with these permission bits before SQLite opens it, so it is
    never more readable than that, even for a moment (SQLite gives its -wal and -shm files the
    same bits). The default, 0600, keeps every onsight database (events, audit log, users,
    queues) private to the service user; None leaves it to SQLite and the umask (0644). An
    existing file of ours that is more readable (made by an older onsight) is narrowed to
    `mode`. SQLite reads a file lazily: one that is not a database fails at the first
    statement, not here. `what` names the file in the error,
    ``cannot open <what> <path>: <reason>``.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if mode is not None:
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode))
            except FileExistsError:
                _narrow(path, mode)
        return sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise OnsightError(f"cannot open {what} {path}: {exc}") from None


def _narrow(path: Path, mode: int) -> None:
    """Take away the bits beyond `mode` from a file (and its -wal, -shm) that we own."""
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            info = file.stat()
            if info.st_uid == os.geteuid() and info.st_mode & 0o777 & ~mode:
                file.chmod(info.st_mode & 0o777 & mode)


def use_wal(
    db: sqlite3.Connection,
    *,
    synchronous: Synchronous | None = "NORMAL",
    busy_timeout_ms: int | None = None,
) -> None:
    """Switch to WAL; set `synchronous` (None: SQLite's default) and the busy timeout if given.

    NORMAL loses at most the last commits on power loss, never on a crash of the process;
    FULL loses none.
    """
    db.execute("PRAGMA journal_mode=WAL")
    if synchronous is not None:
        db.execute(f"PRAGMA synchronous={synchronous}")
    if busy_timeout_ms is not None:
        db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")


def open_database(
    path: Path,
    what: str,
    setup: Callable[[sqlite3.Connection], object] | None = None,
    *,
    synchronous: Synchronous | None = "NORMAL",
    busy_timeout_ms: int | None = None,
) -> sqlite3.Connection:
    """`connect`, `use_wal`, then `setup(db)` (the schema or its migrations).

    Any OS or SQLite error on the way, a file that is not a database included, raises
    ``cannot open <what> <path>: <reason>``; an `OnsightError` from `setup` passes unchanged.
    The connection is closed when anything fails.
    """
    db = connect(path, what)
    try:
        use_wal(db, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
        if setup is not None:
            setup(db)
    except (OSError, sqlite3.Error) as exc:
        db.close()
        raise OnsightError(f"cannot open {what} {path}: {exc}") from None
    except BaseException:
        db.close()
        raise
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: COMMIT when the block ends, ROLLBACK when it raises.

    BEGIN IMMEDIATE takes the write lock before the block runs, so what the block reads stays
    true until it commits, even with another process writing the same file. A failed COMMIT
    is rolled back too, so the connection is never left inside a transaction.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
            db.execute("ROLLBACK")
        raise


def storage_problem(exc: BaseException) -> str | None:
    """Why a write failed when the storage, not the data, is at fault: "disk full" (SQLITE_FULL,
    ENOSPC, EDQUOT) or "disk I/O error" (SQLITE_IOERR); None for any other error.

    Such a write can succeed later, once space returns; any other error would fail again.
    """
    if isinstance(exc, OSError):
        return "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else None
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF  # extended codes keep the primary one in the low byte
    if primary == sqlite3.SQLITE_FULL:
        return "disk full"
    if primary == sqlite3.SQLITE_IOERR:
        return "disk I/O error"
    return None


def integrity_problem(path: Path) -> str | None:
    """None when `path` is missing or a sound SQLite database; else one line saying what is
    wrong: not a database at all, or the first finding of ``PRAGMA integrity_check``.

    The file is opened without creating anything and is never changed (a crashed writer's
    WAL is read, as any connection would).
    """
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=5.0)
        try:
            rows = [str(r[0]) for r in db.execute("PRAGMA integrity_check(20)").fetchall()]
        finally:
            db.close()
    except sqlite3.Error as exc:
        primary = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return str(exc)  # "file is not a database", "database disk image is malformed"
        # Locked by another process, no permission, ...: not damage, and never moved aside.
        raise OnsightError(f"cannot check {path}: {exc}") from None
    if rows == ["ok"]:
        return None
    # Findings may come several to a row, under a "*** in database main ***" heading.
    findings = [f for r in rows for f in r.splitlines() if f.strip() and not f.startswith("***")]
    findings = findings or ["no detail"]
    shown = "more" if len(findings) >= 20 else str(len(findings) - 1)  # the check stops at 20
    more = f" (and {shown} more findings)" if len(findings) > 1 else ""
    return f"integrity check failed: {findings[0].strip()}{more}"


# Files that belong to one database: its journal, and an audit log's key and witnessed head
# (a fresh log beside the old head would read as truncated).
_COMPANIONS = ("-wal", "-shm", ".head", ".key")


def move_aside(path: Path, now: datetime) -> Path:
    """Rename `path` (and its companion files) to ``<name>.damaged-<UTC time>``, never
    deleting anything; returns the new path of the database file."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    number = 1
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{number}")
    # The WAL first: a WAL left beside a fresh file could be replayed into it.
    for suffix in _COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    path.rename(target)
    return target


def backup(source: Path, target: Path, what: str) -> None:
    """A consistent copy of the database at `source` into a new file `target` (0600), made
    with SQLite's online backup API while other connections go on writing.

    The copy is made in one step, so it holds exactly the transactions committed when it
    began; it is written beside `target` and renamed into place only once complete and
    checked, so an earlier copy at `target` is replaced only by a good one.
    """
    if not source.is_file():
        raise OnsightError(f"cannot back up {what} {source}: no such file")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
        src = sqlite3.connect(f"file:{quote(str(source))}?mode=rw", uri=True, timeout=30.0)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst, pages=0)  # 0: every page in one step, one read transaction
                dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
                check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                dst.close()
        finally:
            src.close()
        if check != "ok":
            raise sqlite3.DatabaseError(f"the copy fails its integrity check: {check}")
        os.replace(partial, target)
    except (OSError, sqlite3.Error) as exc:
        partial.unlink(missing_ok=True)
        raise OnsightError(f"cannot back up {what} {source} to {target}: {exc}") from None
