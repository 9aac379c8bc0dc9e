"""Audit log: append-only by trigger, tamper-evident by hash chain (privacy rule 6)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onsight.errors import OnsightError
from onsight.privacy.audit import GENESIS, AuditLog, config_load_detail, record_hash
from onsight.privacy.cli import audit_app


def _clock() -> Callable[[], datetime]:
    """A deterministic clock: one second per call from a fixed start."""
    start = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    calls = iter(range(10**6))
    return lambda: start + timedelta(seconds=next(calls))


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AuditLog]:
    with AuditLog(tmp_path / "audit.db", clock=_clock()) as audit:
        yield audit


def _fill(log: AuditLog, n: int = 5) -> None:
    log.append("start", cameras=2)
    for i in range(n - 2):
        log.append("image_view", actor="alice", camera="door", redaction="people", n=i)
    log.append("stop")


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def _drop_triggers(db: sqlite3.Connection) -> None:
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("DROP TRIGGER audit_no_delete")


def test_append_links_records_and_verify_is_ok(log: AuditLog) -> None:
    first = log.append("config_load", config="/etc/onsight.yaml", sha256="ab" * 32)
    second = log.append("login", actor="alice", remote="10.0.0.9")
    assert (first.seq, first.prev_hash, first.time) == (1, GENESIS, "2025-03-01T08:00:00.000Z")
    assert second.prev_hash == first.hash
    assert second.hash == record_hash(2, second.time, "login", "alice", second.detail, first.hash)
    assert first.detail == '{"config":"/etc/onsight.yaml","sha256":"' + "ab" * 32 + '"}'
    assert first.actor == "system" and second.details() == {"remote": "10.0.0.9"}
    verdict = log.verify()
    assert (verdict.ok, verdict.records, verdict.first_broken) == (True, 2, None)


def test_empty_log_verifies(log: AuditLog) -> None:
    assert log.verify().ok and log.verify().records == 0


def test_tail_returns_the_latest_records_oldest_first(log: AuditLog) -> None:
    _fill(log, 6)
    assert [r.seq for r in log.tail(3)] == [4, 5, 6]
    assert [r.action for r in log.tail(100)][:2] == ["start", "image_view"]


def test_unknown_action_and_non_json_detail_are_refused(log: AuditLog) -> None:
    with pytest.raises(ValueError, match="unknown audit action"):
        log.append("delete_everything")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="JSON data"):
        log.append("export", what=object())
    assert log.verify().records == 0


def test_rule6_config_load_records_a_hash_never_the_content(tmp_path: Path) -> None:
    config = tmp_path / "onsight.yaml"
    config.write_text("cameras: [{name: a, url: 'rtsp://admin:s3cr3t@cam/1'}]\n", encoding="utf-8")
    with AuditLog(tmp_path / "audit.db") as log:
        record = log.append("config_load", **config_load_detail(config))
    assert set(record.details()) == {"config", "sha256"}
    assert len(record.details()["sha256"]) == 64
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("audit.db*"))
    assert b"s3cr3t" not in raw


def test_rule6_update_and_delete_are_refused_by_triggers(log: AuditLog) -> None:
    _fill(log)
    db = _raw(log.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit WHERE seq = 5")
    db.close()
    assert log.verify().ok and log.verify().records == 5


# (what, SQL run with the triggers dropped, first broken seq, words in the reason)
TAMPERS: list[tuple[str, str, int, str]] = [
    ("edit a detail", """UPDATE audit SET detail = '{"n":7}' WHERE seq = 3""", 3, "edited"),
    ("edit the actor", "UPDATE audit SET actor = 'bob' WHERE seq = 4", 4, "edited"),
    ("edit a hash", "UPDATE audit SET hash = 'f' || hash WHERE seq = 2", 2, "hash"),
    ("delete a middle record", "DELETE FROM audit WHERE seq = 3", 3, "record 3 missing"),
    ("delete the first record", "DELETE FROM audit WHERE seq = 1", 1, "record 1 missing"),
    ("delete two records", "DELETE FROM audit WHERE seq IN (2, 3)", 2, "records 2-3 missing"),
    (
        "reorder two records",
        "UPDATE audit SET seq = 100 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3;"
        "UPDATE audit SET seq = 3 WHERE seq = 100;",
        2,
        "hash",
    ),
    ("store a blob", "UPDATE audit SET actor = X'62' WHERE seq = 2", 2, "non-text"),
]


@pytest.mark.parametrize(
    ("sql", "first_broken", "reason"), [t[1:] for t in TAMPERS], ids=[t[0] for t in TAMPERS]
)
def test_rule6_verify_reports_the_first_broken_record_after_tampering(
    log: AuditLog, sql: str, first_broken: int, reason: str
) -> None:
    _fill(log)
    db = _raw(log.path)
    _drop_triggers(db)
    db.executescript(sql)
    db.close()
    verdict = log.verify()
    assert not verdict.ok
    assert verdict.first_broken == first_broken, verdict.reason
    assert reason in verdict.reason


def test_rule6_a_rewritten_and_rehashed_record_breaks_the_next_link(log: AuditLog) -> None:
    _fill(log)
    db = _raw(log.path)
    _drop_triggers(db)
    seq, time, action, actor, _, prev = db.execute(
        "SELECT seq, time, action, actor, detail, prev_hash FROM audit WHERE seq = 3"
    ).fetchone()
    detail = '{"camera":"elsewhere"}'
    digest = record_hash(seq, time, action, actor, detail, prev)
    db.execute("UPDATE audit SET detail = ?, hash = ? WHERE seq = 3", (detail, digest))
    db.close()
    verdict = log.verify()
    assert (verdict.ok, verdict.first_broken) == (False, 4)
    assert "record 3 was rewritten" in verdict.reason


def test_rule6_only_the_earliest_of_several_tampered_records_is_reported(log: AuditLog) -> None:
    _fill(log, 8)
    db = _raw(log.path)
    _drop_triggers(db)
    db.execute("UPDATE audit SET actor = 'x' WHERE seq IN (6, 3)")
    db.close()
    assert log.verify().first_broken == 3


def test_reopening_restores_dropped_triggers(tmp_path: Path) -> None:
    AuditLog(tmp_path / "audit.db").close()
    db = _raw(tmp_path / "audit.db")
    _drop_triggers(db)
    db.close()
    with AuditLog(tmp_path / "audit.db") as log:
        log.append("start")
    db = _raw(tmp_path / "audit.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit")
    db.close()


def test_a_file_that_is_not_an_audit_log_is_refused_clearly(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database at all, just some text " * 50, encoding="utf-8")
    with pytest.raises(OnsightError, match=r"not an onsight audit log \(not a readable SQLite"):
        AuditLog(text)
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE crossings (id INTEGER PRIMARY KEY)")
    db.commit()
    db.close()
    with pytest.raises(OnsightError, match="different schema"):
        AuditLog(other)


def test_concurrent_appends_from_two_threads_keep_the_chain(log: AuditLog) -> None:
    def worker(name: str) -> None:
        for i in range(200):
            log.append("image_view", actor=name, i=i)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    verdict = log.verify()
    assert (verdict.ok, verdict.records) == (True, 400)


def test_two_handles_on_one_file_interleave_safely(tmp_path: Path) -> None:
    # Like two processes (the runner and the service) writing the same log.
    with AuditLog(tmp_path / "audit.db") as one, AuditLog(tmp_path / "audit.db") as two:
        for i in range(10):
            (one if i % 2 else two).append("login", actor=str(i))
        assert one.verify().ok and two.verify().records == 10


# --- CLI ---------------------------------------------------------------------------------


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "onsight.yaml"
    path.write_text(
        "cameras: [{name: a, url: x.mp4}]\nprivacy: {audit_log: logs/audit.db}\n",
        encoding="utf-8",
    )
    return path


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(audit_app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_rule6_cli_verify_exit_codes(tmp_path: Path) -> None:
    config = _config(tmp_path)
    code, output = _invoke("verify", "--config", str(config))
    assert code == 1 and "error: no audit log at" in output
    assert "nothing has been recorded" in output

    with AuditLog(tmp_path / "logs" / "audit.db") as log:
        _fill(log, 3)
    code, output = _invoke("verify", "--config", str(config))
    assert (code, output.strip()) == (0, "ok: 3 records, chain intact")

    db = _raw(tmp_path / "logs" / "audit.db")
    _drop_triggers(db)
    db.execute("DELETE FROM audit WHERE seq = 2")
    db.close()
    code, output = _invoke("verify", "--config", str(config))
    assert code == 1
    assert output.startswith("audit log broken at record 2: record 2 missing"), output


def test_cli_show_lists_the_latest_records(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with AuditLog(tmp_path / "logs" / "audit.db") as log:
        _fill(log, 5)
        log.append("export", actor="[bold]eve[/bold]", rows=12)
    code, output = _invoke("show", "--config", str(config), "--limit", "2")
    assert code == 0
    assert "export" in output and "[bold]eve[/bold]" in output and '"rows":12' in output
    assert "start" not in output


def test_cli_errors_are_one_line_not_tracebacks(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "audit.db").write_text("garbage " * 200, encoding="utf-8")
    code, output = _invoke("verify", "--config", str(config))
    assert code == 1 and output.startswith("error: ") and "not an onsight audit log" in output
    assert "Traceback" not in output
    code, output = _invoke("verify", "--config", str(tmp_path / "missing.yaml"))
    assert code == 1 and "config file not found" in output
