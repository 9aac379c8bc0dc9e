"""Damaged SQLite files at start-up (found, named, moved aside only when asked) and online
backups that hold whole transactions only, made while another connection writes."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from onsight.errors import OnsightError
from onsight.events import EventStore
from onsight.events.databases import DatabaseFile, check_databases
from onsight.sqlite import backup, integrity_problem, move_aside, storage_problem
from onsight.types import LineCrossing, ZoneMinute

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
BATCH = 7  # crossings per transaction, beside one zone minute


def _batch(n: int) -> list[LineCrossing | ZoneMinute]:
    start = T0 + timedelta(minutes=n)
    crossings = [
        LineCrossing(start + timedelta(seconds=i), "cam", "door", "in", "person")
        for i in range(BATCH)
    ]
    return [*crossings, ZoneMinute(start, "cam", "left", "person", mean=1.0, peak=1, samples=1)]


def _store_with_rows(path: Path, batches: int = 200) -> None:
    store = EventStore(path)
    for n in range(batches):
        store.write(_batch(n))
    store.close()  # the last connection checkpoints the WAL into the file


def _damage(path: Path, first: int) -> None:
    """Overwrite every other page of a real store from page index `first` on with garbage,
    keeping its header (first=2 hits the schema; a late first only rows and indexes)."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    pages = len(data) // page
    assert pages > first + 2, "the store is too small to damage realistically"
    for number in range(first, pages - 1, 2):
        data[number * page + 8 : number * page + 200] = bytes(range(192))
    path.write_bytes(bytes(data))


def _counts(path: Path) -> tuple[str, int, int]:
    with closing(sqlite3.connect(path)) as con:
        check = con.execute("PRAGMA integrity_check").fetchone()[0]
        crossings = con.execute("SELECT count(*) FROM crossings").fetchone()[0]
        minutes = con.execute("SELECT count(*) FROM zone_minutes").fetchone()[0]
    return check, crossings, minutes


def test_a_sound_or_missing_file_passes(tmp_path: Path) -> None:
    path = tmp_path / "onsight.db"
    assert integrity_problem(path) is None and not path.exists()  # nothing is created
    _store_with_rows(path, 3)
    assert integrity_problem(path) is None
    assert check_databases([DatabaseFile("event database", path)], reset=False) == []


@pytest.mark.parametrize(("first", "found"), [(2, "malformed"), (70, "integrity check failed: ")])
def test_a_damaged_store_is_refused_then_moved_aside_when_asked(
    tmp_path: Path, first: int, found: str
) -> None:
    path = tmp_path / "onsight.db"
    _store_with_rows(path)
    _damage(path, first)
    damaged = path.read_bytes()
    problem = integrity_problem(path)
    assert problem is not None and found in problem and "\n" not in problem, problem
    files = [DatabaseFile("event database", path)]
    with pytest.raises(OnsightError) as refused:
        check_databases(files, reset=False)
    message = str(refused.value)
    assert message.startswith(f"event database {path} is damaged (")
    assert "--reset-damaged-store" in message and "\n" not in message
    assert path.read_bytes() == damaged  # nothing changed without the flag

    moved = check_databases(files, reset=True)
    assert not path.exists()
    (aside,) = tmp_path.glob("onsight.db.damaged-*")
    assert aside.read_bytes() == damaged  # kept byte for byte, never deleted
    assert moved == [
        f"event database {path} was damaged ({problem}); moved it to {aside} and started a "
        "fresh one"
    ]
    store = EventStore(path)  # a fresh store
    store.write(_batch(0))
    store.close()
    assert _counts(path) == ("ok", BATCH, 1)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    path.write_text("these are notes, not a database\n" * 200, encoding="utf-8")
    with pytest.raises(OnsightError, match=r"^audit log .*audit\.db is damaged \(file is not a"):
        check_databases([DatabaseFile("audit log", path)], reset=False)


def test_move_aside_takes_the_wal_along_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    now = datetime(2026, 5, 1, 8, 30, 0, tzinfo=UTC)
    first = []
    for content in (b"one", b"two"):
        path.write_bytes(content)
        path.with_name("x.db-wal").write_bytes(content + b"-wal")
        first.append(move_aside(path, now))
    assert [p.name for p in first] == [
        "x.db.damaged-20260501T083000Z",
        "x.db.damaged-20260501T083000Z-2",
    ]
    assert [p.read_bytes() for p in first] == [b"one", b"two"]
    assert (tmp_path / "x.db.damaged-20260501T083000Z-wal").read_bytes() == b"one-wal"
    assert not path.exists() and not path.with_name("x.db-wal").exists()


def test_an_audit_log_moves_aside_with_its_key_and_witnessed_head(tmp_path: Path) -> None:
    """A fresh log beside the damaged one's head file would read as truncated forever."""
    path = tmp_path / "audit.db"
    path.write_bytes(b"damaged")
    for suffix, content in ((".key", b"k" * 32), (".head", b"7:abc")):
        path.with_name("audit.db" + suffix).write_bytes(content)
    moved = move_aside(path, datetime(2026, 5, 1, 8, 30, 0, tzinfo=UTC))
    assert moved.with_name(moved.name + ".head").read_bytes() == b"7:abc"
    assert moved.with_name(moved.name + ".key").read_bytes() == b"k" * 32
    assert not any(path.with_name("audit.db" + s).exists() for s in ("", ".key", ".head"))


def test_a_locked_database_is_not_called_damaged(tmp_path: Path) -> None:
    """Another process holding the file is no damage: one line saying so, nothing moved."""
    path = tmp_path / "onsight.db"
    with closing(sqlite3.connect(path, timeout=0.1)) as holder:
        holder.execute("CREATE TABLE t (x)")
        holder.commit()
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(OnsightError, match=r"cannot check .*onsight\.db: database is locked"):
            check_databases([DatabaseFile("event store", path)], reset=True)
        holder.rollback()
    assert path.exists() and not list(tmp_path.glob("*.damaged-*"))


def test_storage_problems_are_told_from_bad_data(tmp_path: Path) -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    assert storage_problem(full) == "disk full"
    assert storage_problem(OSError(28, "No space left on device")) == "disk full"
    with closing(sqlite3.connect(tmp_path / "x.db")) as con:
        con.execute("CREATE TABLE t (v UNIQUE)")
        con.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(sqlite3.IntegrityError) as caught:
            con.execute("INSERT INTO t VALUES (1)")
    assert storage_problem(caught.value) is None
    assert storage_problem(ValueError("x")) is None


def test_a_backup_made_while_another_connection_writes_is_consistent(tmp_path: Path) -> None:
    source = tmp_path / "onsight.db"
    _store_with_rows(source, 20)
    writer = EventStore(source)
    stop = threading.Event()

    def write() -> None:
        n = 1000
        while not stop.is_set():
            writer.write(_batch(n))  # 7 crossings and 1 zone minute per transaction
            n += 1

    thread = threading.Thread(target=write)
    thread.start()
    seen = []
    try:
        for copy in range(8):
            target = tmp_path / "backups" / f"copy{copy}.db"
            backup(source, target, "event database")
            check, crossings, minutes = _counts(target)
            assert check == "ok"
            assert crossings == BATCH * minutes >= BATCH * 20  # whole transactions only
            seen.append(minutes)
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert seen == sorted(seen) and seen[-1] > seen[0], seen  # the writer went on
    assert not list((tmp_path / "backups").glob(".*partial*"))
    assert (tmp_path / "backups" / "copy0.db").stat().st_mode & 0o077 == 0


def test_a_failed_backup_keeps_the_previous_copy(tmp_path: Path) -> None:
    source, target = tmp_path / "onsight.db", tmp_path / "copy.db"
    _store_with_rows(source, 2)
    backup(source, target, "event database")
    before = target.read_bytes()
    source.write_bytes(b"junk" * 1000)
    with pytest.raises(OnsightError, match=r"^cannot back up event database .*onsight\.db to "):
        backup(source, target, "event database")
    assert target.read_bytes() == before
    with pytest.raises(OnsightError, match="no such file"):
        backup(tmp_path / "missing.db", target, "event database")


def test_bad_data_is_refused_not_held(tmp_path: Path) -> None:
    """Only a storage failure holds rows: a row the schema refuses raises as before."""
    store = EventStore(tmp_path / "onsight.db")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            store.write_screening_hours([(T0, "cam", 1, None)])  # k >= 5 is enforced
        assert store.held == 0 and store.problem is None and store.write_failures == 0
        store.write_screening_hours([(T0, "cam", 6, None)])
        assert store.written == 1
    finally:
        store.close()
