"""The shared SQLite helper: opening, pragmas, error wording and write transactions."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from onsight.errors import OnsightError
from onsight.sqlite import connect, open_database, transaction, use_wal


def _pragma(db: sqlite3.Connection, name: str) -> object:
    return db.execute(f"PRAGMA {name}").fetchone()[0]


def test_open_database_makes_the_folder_and_sets_wal(tmp_path: Path) -> None:
    db = open_database(tmp_path / "a" / "b" / "x.db", "test database", busy_timeout_ms=1234)
    assert _pragma(db, "journal_mode") == "wal"
    assert _pragma(db, "synchronous") == 1  # NORMAL
    assert _pragma(db, "busy_timeout") == 1234
    assert db.isolation_level is None and not db.in_transaction
    db.close()


def test_use_wal_keeps_or_sets_synchronous(tmp_path: Path) -> None:
    db = connect(tmp_path / "x.db", "test database")
    default = _pragma(db, "synchronous")
    use_wal(db, synchronous=None)
    assert _pragma(db, "synchronous") == default
    use_wal(db, synchronous="FULL")
    assert _pragma(db, "synchronous") == 2
    db.close()


def test_connect_can_create_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "private" / "x.db"
    connect(path, "test database", mode=0o600).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_world_readable_database_from_an_older_version_is_made_private(
    tmp_path: Path,
) -> None:
    path = tmp_path / "onsight.db"
    db = open_database(path, "test database", setup=lambda d: d.execute("CREATE TABLE t (x)"))
    db.close()
    for file in (path, tmp_path / "onsight.db-wal"):
        file.touch()
        file.chmod(0o644)
    connect(path, "test database").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "onsight.db-wal").stat().st_mode) == 0o600


def test_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(OnsightError, match=r"^cannot open test database .*dir\.db: "):
        open_database(tmp_path / "dir.db", "test database")
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OnsightError, match=r"^cannot open test database .*file/x\.db: "):
        connect(tmp_path / "file" / "x.db", "test database")
    (tmp_path / "junk.db").write_bytes(b"not a database at all, just text" * 100)
    with pytest.raises(OnsightError, match=r"^cannot open test database .*junk\.db: .*database"):
        open_database(tmp_path / "junk.db", "test database")


def test_setup_errors_close_the_connection(tmp_path: Path) -> None:
    opened: list[sqlite3.Connection] = []

    def broken(db: sqlite3.Connection) -> None:
        opened.append(db)
        db.execute("SELECT * FROM missing")

    with pytest.raises(OnsightError, match=r"^cannot open test database .*x\.db: no such table"):
        open_database(tmp_path / "x.db", "test database", broken)

    def refuses(db: sqlite3.Connection) -> None:
        opened.append(db)
        raise OnsightError("schema is newer")

    with pytest.raises(OnsightError, match=r"^schema is newer$"):
        open_database(tmp_path / "x.db", "test database", refuses)
    for db in opened:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            db.execute("SELECT 1")


def test_transaction_commits_and_rolls_back(tmp_path: Path) -> None:
    db = open_database(
        tmp_path / "x.db", "test database", lambda d: d.execute("CREATE TABLE t (v)")
    )
    with transaction(db) as same:
        assert same is db and db.in_transaction
        db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(KeyError), transaction(db):
        db.execute("INSERT INTO t VALUES (2)")
        raise KeyError("boom")
    assert not db.in_transaction
    assert db.execute("SELECT v FROM t").fetchall() == [(1,)]
    db.close()


def test_transaction_takes_the_write_lock_at_once(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    db = open_database(path, "test database", lambda d: d.execute("CREATE TABLE t (v)"))
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with transaction(db):
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        assert other.execute("SELECT count(*) FROM t").fetchone()[0] == 0  # readers go on
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()
    db.close()


def test_a_failed_commit_is_rolled_back(tmp_path: Path) -> None:
    def schema(d: sqlite3.Connection) -> None:
        d.executescript(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
            "CREATE TABLE child (parent REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);"
        )

    db = open_database(tmp_path / "x.db", "test database", schema)
    db.execute("PRAGMA foreign_keys=ON")
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"), transaction(db):
        db.execute("INSERT INTO child VALUES (7)")  # checked only at COMMIT
    assert not db.in_transaction
    assert db.execute("SELECT count(*) FROM child").fetchone()[0] == 0
    with transaction(db):  # the connection is usable again
        db.execute("INSERT INTO parent VALUES (7)")
        db.execute("INSERT INTO child VALUES (7)")
    db.close()
