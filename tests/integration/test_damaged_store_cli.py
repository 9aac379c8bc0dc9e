"""`onsight run/serve` with a damaged database, and `onsight backup` while events are written."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from onsight.events import EventStore
from onsight.privacy.audit import AuditLog
from tests.unit.test_damaged_store import BATCH, _batch, _counts, _damage, _store_with_rows

ONSIGHT = [sys.executable, "-m", "onsight.cli"]


def _config(tmp_path: Path, video: Path) -> Path:
    path = tmp_path / "onsight.yaml"
    path.write_text(
        f"""cameras:
  - name: square
    url: "{video}"
    fps: 2
    lines: [{{name: path, points: [[0.45, 0.25], [0.45, 1.0]]}}]
""",
        encoding="utf-8",
    )
    return path


def _onsight(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ONSIGHT, *args], capture_output=True, text=True, timeout=600)


def test_run_refuses_a_damaged_store_until_told_to_reset_it(
    tmp_path: Path, video: Callable[[str], Path]
) -> None:
    config = _config(tmp_path, video("vtest_480x360.avi"))
    db = tmp_path / "onsight-data" / "onsight.db"
    _store_with_rows(db)
    _damage(db, 2)
    damaged = db.read_bytes()

    refused = _onsight("run", str(config))
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert lines[0].startswith(f"error: event database {db} is damaged (")
    assert "--reset-damaged-store" in lines[0] and "Traceback" not in refused.stderr
    assert db.read_bytes() == damaged and not list(db.parent.glob("*.damaged-*"))

    summary = tmp_path / "summary.json"
    done = _onsight("run", str(config), "--reset-damaged-store", "--summary", str(summary))
    assert done.returncode == 0, done.stderr
    assert f"warning: event database {db} was damaged (" in done.stderr
    (aside,) = db.parent.glob("onsight.db.damaged-*")
    assert aside.read_bytes() == damaged  # moved aside, never deleted
    assert f"moved it to {aside} and started a fresh one" in done.stderr
    assert summary.is_file() and _counts(db)[0] == "ok"


def test_serve_refuses_a_damaged_users_database(
    tmp_path: Path, video: Callable[[str], Path]
) -> None:
    config = _config(tmp_path, video("vtest_480x360.avi"))
    users = tmp_path / "onsight-data" / "users.db"
    users.parent.mkdir(parents=True)
    users.write_bytes(b"\x00not sqlite\x00" * 500)
    refused = _onsight("serve", str(config), "--port", "1")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"error: users database {users} is damaged (file is not a database); nothing was "
        "changed. Restore it from a backup, or start with --reset-damaged-store to move it "
        "aside and start a fresh one"
    ]


def test_backup_copies_both_files_consistently_while_events_are_written(
    tmp_path: Path, video: Callable[[str], Path]
) -> None:
    config = _config(tmp_path, video("vtest_480x360.avi"))
    data = tmp_path / "onsight-data"
    _store_with_rows(data / "onsight.db", 20)
    with AuditLog(data / "audit.db") as audit:
        audit.append("start", cameras=["square"])
    writer = EventStore(data / "onsight.db")
    stop = threading.Event()

    def write() -> None:
        n = 1000
        while not stop.is_set():
            writer.write(_batch(n))
            n += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        into_dir = _onsight("backup", str(config), "--out", str(tmp_path / "new"))
        as_file = _onsight("backup", str(config), "--out", str(tmp_path / "nightly" / "b.db"))
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert into_dir.returncode == 0, into_dir.stderr
    assert as_file.returncode == 0, as_file.stderr
    assert into_dir.stdout.splitlines() == [
        f"event database: {data / 'onsight.db'} -> {tmp_path / 'new' / 'onsight.db'}",
        f"audit log: {data / 'audit.db'} -> {tmp_path / 'new' / 'audit.db'}",
    ]
    for store, audit in (
        (tmp_path / "new" / "onsight.db", tmp_path / "new" / "audit.db"),
        (tmp_path / "nightly" / "b.db", tmp_path / "nightly" / "b.audit.db"),
    ):
        check, crossings, minutes = _counts(store)
        assert check == "ok" and crossings == BATCH * minutes >= BATCH * 20
        with closing(sqlite3.connect(audit)) as con:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert con.execute("SELECT count(*) FROM audit").fetchone()[0] >= 1
    with closing(sqlite3.connect(data / "audit.db")) as con:
        actions = [r[0] for r in con.execute("SELECT action FROM audit ORDER BY seq")]
    assert actions[-2:] == ["export", "export"]  # each backup is audited


def test_backup_names_a_missing_file(tmp_path: Path, video: Callable[[str], Path]) -> None:
    config = _config(tmp_path, video("vtest_480x360.avi"))
    done = _onsight("backup", str(config), "--out", str(tmp_path / "copies"))
    assert done.returncode == 1
    db = tmp_path / "onsight-data" / "onsight.db"
    assert done.stderr.strip() == f"error: cannot back up event database {db}: no such file"
    assert not (tmp_path / "copies").exists()
