"""Opening onsight's SQLite files, and their write transactions, the same way everywhere.

Each file is opened in autocommit mode (`isolation_level=None`: the sqlite3 module never
starts a transaction behind our back, we do it with `transaction`) and may be shared by
threads (`check_same_thread=False`; its owner serialises them under a lock). WAL mode lets
readers, in this process or another, go on while one writer commits.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from onsight.errors import OnsightError

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


def connect(path: Path, what: str, *, mode: int | None = None) -> sqlite3.Connection:
    """Connect to the file at `path`, making its folder (and the file) when missing.

    `mode`: create a missing file with these permission bits before SQLite opens it, so it is
    never more readable than that, even for a moment. SQLite reads a file lazily: one that is
    not a database fails at the first statement, not here. `what` names the file in the error,
    ``cannot open <what> <path>: <reason>``.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if mode is not None:
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, mode))
        return sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise OnsightError(f"cannot open {what} {path}: {exc}") from None


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
