"""Audit log: append-only by trigger, tamper-evident by keyed hash chain and witnessed
heads (privacy rule 6)."""

from __future__ import annotations

import json
import logging
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onsight.config import load_config
from onsight.errors import ConfigError, OnsightError
from onsight.privacy.audit import GENESIS, AuditLog, config_load_detail, record_hash
from onsight.privacy.audit_files import AuditHead
from onsight.privacy.cli import audit_app
from onsight.privacy.witness import AuditWitness


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


def _key(log_path: Path) -> bytes:
    return bytes.fromhex(log_path.with_name(log_path.name + ".key").read_text())


def _rehash(db: sqlite3.Connection, key: bytes | None, last: int = 10**9) -> None:
    """Re-link records 1 to `last`, as an attacker with write access would."""
    rows = db.execute(
        "SELECT seq, time, action, actor, detail FROM audit WHERE seq <= ? ORDER BY seq", (last,)
    ).fetchall()
    prev = GENESIS
    for seq, time, action, actor, detail in rows:
        digest = record_hash(seq, time, action, actor, detail, prev, key)
        db.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, seq))
        prev = digest


def test_append_links_records_and_verify_is_ok(log: AuditLog) -> None:
    first = log.append("config_load", config="/etc/onsight.yaml", sha256="ab" * 32)
    second = log.append("login", actor="alice", remote="10.0.0.9")
    assert (first.seq, first.prev_hash, first.time) == (1, GENESIS, "2025-03-01T08:00:00.000Z")
    assert second.prev_hash == first.hash
    key = _key(log.path)
    assert second.hash == record_hash(
        2, second.time, "login", "alice", second.detail, first.hash, key
    )
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


def test_rule6_a_record_rehashed_with_the_key_breaks_the_next_link(log: AuditLog) -> None:
    _fill(log)
    db = _raw(log.path)
    _drop_triggers(db)
    seq, time, action, actor, _, prev = db.execute(
        "SELECT seq, time, action, actor, detail, prev_hash FROM audit WHERE seq = 3"
    ).fetchone()
    detail = '{"camera":"elsewhere"}'
    digest = record_hash(seq, time, action, actor, detail, prev, _key(log.path))
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
    assert code == 0
    assert output.startswith("ok: 3 records, chain intact (keyed); matches the witnessed head")

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


# --- the key, witnessed heads, legacy logs (issue 16) ------------------------------------


def test_rule6_key_file_is_made_0600_at_first_start_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.db"
    with AuditLog(path) as log:
        log.append("start")
    key_file = tmp_path / "logs" / "audit.db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = _key(path)
    assert len(key) == 32
    with AuditLog(path) as log:  # reopening reads the key, never makes a new one
        log.append("stop")
        assert log.verify().ok
    assert _key(path) == key


@pytest.mark.parametrize(
    "key", [None, b"\0" * 32, b"guessed-key"], ids=["sha256", "zero-key", "guessed-key"]
)
def test_rule6_rewriting_the_whole_chain_without_the_key_is_detected(
    log: AuditLog, key: bytes | None
) -> None:
    _fill(log)
    db = _raw(log.path)
    _drop_triggers(db)
    db.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
    _rehash(db, key)  # every link consistent again, but without the real key
    db.close()
    verdict = log.verify()
    assert (verdict.ok, verdict.first_broken) == (False, 1)
    assert "keyed hash" in verdict.reason


def test_rule6_a_keyed_log_without_its_key_file_is_an_error_not_a_new_key(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    with AuditLog(path) as log:
        log.append("start")
    (tmp_path / "audit.db.key").unlink()
    with pytest.raises(
        OnsightError, match=r"is keyed but its key file .*audit\.db\.key is missing"
    ):
        AuditLog(path)
    with pytest.raises(OnsightError, match="missing"):
        AuditLog(path, upgrade=False)
    assert not (tmp_path / "audit.db.key").exists()


def _make_legacy(path: Path, n: int) -> None:
    """An audit log as written before the key: plain SHA-256 chain, user_version 1."""
    with AuditLog(path, clock=_clock()) as log:
        _fill(log, n)
    for extra in (".key", ".head"):
        path.with_name(path.name + extra).unlink()
    db = _raw(path)
    _drop_triggers(db)
    _rehash(db, None)
    db.execute("PRAGMA user_version = 1")
    db.close()


def test_rule6_a_legacy_unkeyed_log_keeps_verifying_and_is_keyed_at_first_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    _make_legacy(path, 4)
    with AuditLog(path, upgrade=False) as reader:  # the read-only commands change nothing
        verdict = reader.verify()
        assert (verdict.ok, verdict.records, verdict.reason) == (
            True,
            4,
            "chain intact (legacy unkeyed log)",
        )
        with pytest.raises(OnsightError, match="read-only"):
            reader.append("start")
    assert not (tmp_path / "audit.db.key").exists()

    with AuditLog(path) as log:  # the service's first start: key made, switch recorded
        switch = log.tail(1)[0]
        assert (switch.seq, switch.action, switch.details()) == (
            5,
            "audit_keyed",
            {"legacy_records": 4, "scheme": "hmac-sha256"},
        )
        log.append("login", actor="alice")
        verdict = log.verify()
        assert (verdict.ok, verdict.records, verdict.reason) == (True, 6, "chain intact (keyed)")
    assert (tmp_path / "audit.db.key").exists()
    with AuditLog(path) as log:  # opened again: no second switch record
        assert [r.action for r in log.tail(2)] == ["audit_keyed", "login"]

    db = _raw(path)  # a legacy record rewritten and the legacy part re-hashed: caught
    _drop_triggers(db)
    db.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
    _rehash(db, None, last=4)
    db.close()
    with AuditLog(path) as log:
        verdict = log.verify()
    assert (verdict.ok, verdict.first_broken) == (False, 5), verdict.reason
    assert "record 4 was rewritten" in verdict.reason


def test_rule6_an_unkeyed_log_beside_a_key_file_does_not_verify(tmp_path: Path) -> None:
    # A keyed log rewritten as an unkeyed one (user_version 1, plain SHA-256) by someone
    # without the key: the key file beside it gives it away.
    path = tmp_path / "audit.db"
    with AuditLog(path) as log:
        _fill(log, 3)
    db = _raw(path)
    _drop_triggers(db)
    _rehash(db, None)
    db.execute("PRAGMA user_version = 1")
    db.close()
    with AuditLog(path, upgrade=False) as log:
        verdict = log.verify()
    assert not verdict.ok and "not keyed but" in verdict.reason


def _delete_from(path: Path, first: int) -> None:
    db = _raw(path)
    _drop_triggers(db)
    db.execute("DELETE FROM audit WHERE seq >= ?", (first,))
    db.close()


def test_rule6_deleting_the_newest_records_is_detected_against_the_witnessed_head(
    log: AuditLog,
) -> None:
    _fill(log, 5)
    head = log.head()
    assert head is not None and head.seq == 5
    assert log.stored_head() == head  # every append moves <audit_log>.head
    _delete_from(log.path, 4)
    assert log.verify().ok  # the chain alone cannot tell
    verdict = log.verify([("from MQTT", head)])
    assert (verdict.ok, verdict.first_broken) == (False, 4)
    assert verdict.reason == (
        "records 4-5 missing at the end (truncated): the log ends at record 3 but the "
        "witnessed head (from MQTT) is record 5"
    )


def test_rule6_the_head_file_keeps_the_evidence_after_truncation(
    log: AuditLog, caplog: pytest.LogCaptureFixture
) -> None:
    _fill(log, 5)
    witnessed = log.head()
    assert witnessed is not None
    _delete_from(log.path, 5)
    with caplog.at_level(logging.ERROR, logger="onsight.privacy.audit"):
        log.append("login", actor="mallory")  # a new record 5, with another hash
    assert "no longer holds its witnessed head" in caplog.text
    assert log.stored_head() == witnessed  # not overwritten
    stored = log.stored_head()
    assert stored is not None
    verdict = log.verify([("from audit.db.head", stored)])
    assert (verdict.ok, verdict.first_broken) == (False, 5)
    assert "record 5 differs from the witnessed head (from audit.db.head)" in verdict.reason


def test_a_deleted_log_fails_against_its_head_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    with AuditLog(path) as log:
        _fill(log, 3)
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    with AuditLog(path) as log:  # a fresh log, same key; the head file still says 3
        stored = log.stored_head()
        assert stored is not None
        verdict = log.verify([("from head file", stored)])
    assert (verdict.ok, verdict.first_broken) == (False, 1)
    assert "records 1-3 missing at the end" in verdict.reason


@pytest.mark.parametrize("text", ["", "5", "x:" + "a" * 64, "5:" + "a" * 63, "5:" + "g" * 64])
def test_audit_head_parse_refuses_malformed_heads(text: str) -> None:
    with pytest.raises(ValueError, match="expected SEQ:HASH"):
        AuditHead.parse(text)


def test_audit_head_round_trips() -> None:
    head = AuditHead(42, "ab" * 32)
    assert AuditHead.parse(f" {str(head).upper()}\n") == head


def test_rule6_witness_logs_and_publishes_the_head(
    log: AuditLog, caplog: pytest.LogCaptureFixture
) -> None:
    published: list[bytes] = []
    witness = AuditWitness(log, interval=3600.0, publishers=[published.append])
    assert witness.publish() is None and published == []  # nothing to witness yet
    _fill(log, 3)
    with caplog.at_level(logging.INFO, logger="onsight.privacy.witness"):
        head = witness.publish()
    assert head is not None and head == log.head()
    assert f"audit head {head} ({log.path})" in caplog.text
    assert json.loads(published[-1]) == {"seq": 3, "hash": head.hash, "head": str(head)}
    witness.start()
    witness.close()  # stops the thread and publishes once more
    assert len(published) >= 2 and witness.published == head


# --- CLI: witnessed heads, secrets (issues 16, 19) ----------------------------------------


def test_rule6_cli_verify_reports_truncation_against_head_file_and_given_head(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    path = tmp_path / "logs" / "audit.db"
    with AuditLog(path) as log:
        _fill(log, 5)
        head = log.head()
    _delete_from(path, 4)
    head_file = tmp_path / "logs" / "audit.db.head"
    code, output = _invoke("verify", "--config", str(config))
    assert code == 1
    assert output.strip() == (
        "audit log broken at record 4: records 4-5 missing at the end (truncated): the log "
        "ends at record 3 but the witnessed head (from audit.db.head) is record 5"
    )
    head_file.unlink()  # the local witness gone too: the published head still tells
    code, output = _invoke("verify", "--config", str(config))
    assert code == 0 and "no witnessed head" in output
    code, output = _invoke("verify", "--config", str(config), "--head", str(head))
    assert code == 1 and "(from --head) is record 5" in output
    code, output = _invoke("verify", "--config", str(config), "--head", "5:abc")
    assert code == 1 and output.startswith("error: --head: not an audit head")


def _config_with_secret(tmp_path: Path) -> Path:
    path = tmp_path / "onsight.yaml"
    path.write_text(
        "cameras: [{name: a, url: 'rtsp://admin:${ONSIGHT_TEST_CAM_PASS}@10.0.0.5/1'}]\n"
        "privacy: {audit_log: logs/audit.db}\n",
        encoding="utf-8",
    )
    return path


def test_cli_show_and_verify_need_no_camera_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ONSIGHT_TEST_CAM_PASS", raising=False)
    config = _config_with_secret(tmp_path)
    with AuditLog(tmp_path / "logs" / "audit.db") as log:
        _fill(log, 3)
    code, output = _invoke("show", "--config", str(config))
    assert code == 0 and "image_view" in output
    code, output = _invoke("verify", "--config", str(config))
    assert code == 0 and output.startswith("ok: 3 records")
    # Commands that connect still refuse: the loader's default is unchanged.
    with pytest.raises(ConfigError, match="environment variable ONSIGHT_TEST_CAM_PASS is not set"):
        load_config(config)


def test_a_record_whose_commit_fails_never_becomes_the_witnessed_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash or a full disk between the insert and the commit must not leave a head file
    naming a record the log never got: that would read as truncation forever after."""
    path = tmp_path / "audit.db"
    with AuditLog(path) as log:
        log.append("start")
        head = log.head()
        insert = AuditLog._insert

        def insert_then_fail(self: AuditLog, *args: object) -> object:
            insert(self, *args)  # type: ignore[arg-type]
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(AuditLog, "_insert", insert_then_fail)
        with pytest.raises(OnsightError, match="disk is full"):
            log.append("stop")
        monkeypatch.undo()
        assert log.head() == head
        assert (tmp_path / "audit.db.head").read_text(encoding="utf-8").strip() == str(head)
        log.append("stop")  # the next record takes the failed one's number, honestly
        assert log.verify().ok
