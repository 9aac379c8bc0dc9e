"""A full disk under the event store: analysis goes on, events wait in memory (bounded, drops
counted), nothing committed is lost, and everything held is written once space returns.

The store lives on a small tmpfs this test mounts (root, as here and in CI), filled up with a
plain file and freed by deleting it. The writer path is the real one: a Runner's bus and
store, fed by its camera pipeline and by events published on the bus.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from onsight.config import load_config
from onsight.events import EventStore
from onsight.runtime import Runner
from onsight.service.metrics import render_metrics
from onsight.templating import templates
from onsight.types import LineCrossing

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted afterwards; the test fails (never skips) if it cannot mount."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.fail(
            f"cannot mount a tmpfs at {mount}: {done.stderr.strip()}; this test runs as root "
            "(as in CI), e.g. `sudo make test` or a container with CAP_SYS_ADMIN",
            pytrace=False,
        )
    try:
        yield mount
    finally:
        done = subprocess.run(["umount", str(mount)], capture_output=True, text=True)
        if done.returncode != 0:  # something left a file open: detach anyway, then fail
            subprocess.run(["umount", "--lazy", str(mount)], check=True)
            pytest.fail(f"the tmpfs was still busy: {done.stderr.strip()}", pytrace=False)


def _fill(disk: Path) -> Path:
    """Write a file until the tmpfs has no byte left; deleting it frees the space."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        for size in (1 << 16, 4096, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    finally:
        os.close(fd)
    return filler


def _crossings(start: int, count: int) -> list[LineCrossing]:
    return [
        LineCrossing(T0 + timedelta(seconds=i), "square", "door", "in", "person")
        for i in range(start, start + count)
    ]


def _rows(db: Path) -> dict[str, int]:
    """Rows per event table, read by another connection; the file must pass integrity_check."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tables = [
            r[0]
            for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if r[0] != "app_schema"
        ]
        return {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}


def _settled(runner: Runner) -> None:
    """Wait until the bus has handed every published event to the store (written, held or
    dropped). A deadline, not a timing assertion: it only stops a broken run."""
    store, bus = runner.store, runner.bus
    deadline = time.monotonic() + 120
    while store.written + store.held + store.dropped != bus.published:
        assert time.monotonic() < deadline, (bus.published, store.written, store.held)
        time.sleep(0.02)


def _metrics(runner: Runner) -> dict[str, float]:
    body, _ = render_metrics(runner)
    return {
        s.name: s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
        if s.name.startswith("onsight_store_")
    }


def _health(store: EventStore) -> str:
    page = templates("onsight.service").get_template("health.html.j2")
    html = page.render(
        site="test", user=None, csrf=None, csrf_field="csrf_token", path="/health",
        nav="health", cameras=[], stations=[], errors={}, sinks=[], store=store,
    )  # fmt: skip
    start = html.index('id="store-status">') + len('id="store-status">')
    return " ".join(html[start : html.index("</p>", start)].split())


def _runner(tmp_path: Path, disk: Path, video: Path) -> Runner:
    config = tmp_path / "onsight.yaml"
    config.write_text(
        f"""database: "{disk / "onsight.db"}"
privacy:
  audit_log: "{tmp_path / "audit.db"}"
cameras:
  - name: square
    url: "{video}"
    fps: 10
    lines: [{{name: path, points: [[0.45, 0.25], [0.45, 1.0]]}}]
""",
        encoding="utf-8",
    )
    return Runner(load_config(config))


def test_full_disk_holds_events_then_writes_them(
    tmp_path: Path, small_disk: Path, video: Callable[[str], Path]
) -> None:
    runner = _runner(tmp_path, small_disk, video("vtest_480x360.avi"))
    db = runner.store.path
    try:
        pipeline, store, bus = runner.pipelines[0], runner.store, runner.bus
        frames = iter(pipeline.source.frames())
        for _ in range(20):  # the camera's own events go the same way
            pipeline.process(next(frames))
        bus.publish(_crossings(0, 50))
        _settled(runner)
        assert store.held == 0 and store.problem is None
        committed = _rows(db)
        assert sum(committed.values()) == store.written >= 50
        assert _health(store) == "event store: writing normally."

        # Fill the disk: empty the WAL first, so the next commit needs new space.
        with closing(sqlite3.connect(db)) as con:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        filler = _fill(small_disk)
        store.hold_limit = store.held + 40  # small, to see what a full buffer does
        analysed = pipeline.health().frames_analysed
        for start in range(100, 160, 10):  # 60 events, six batches: 40 held, 20 dropped
            bus.publish(_crossings(start, 10))
            _settled(runner)
        for _ in range(10):  # analysis goes on
            pipeline.process(next(frames))
        _settled(runner)
        assert pipeline.health().frames_analysed == analysed + 10
        assert bus.blocked == 0 and bus.failed_batches == 0
        assert store.problem == "disk full" and store.write_failures >= 1
        assert store.held == 40 and store.dropped >= 20
        assert _rows(db) == committed  # rolled back cleanly: what was committed is intact
        metrics = _metrics(runner)
        assert metrics["onsight_store_buffered_events"] == 40
        assert metrics["onsight_store_writable"] == 0
        assert metrics["onsight_store_write_failures_total"] == store.write_failures >= 1
        assert metrics["onsight_store_dropped_events_total"] == store.dropped
        assert _health(store) == (
            "event store: disk full, 40 events held in memory; they are written when the disk "
            f"takes writes again. {store.dropped} events were dropped because the memory "
            f"buffer ({store.hold_limit} events) is full."
        )

        # Space returns: the next write takes the held events first, then counting goes on.
        filler.unlink()
        held, dropped = store.held, store.dropped
        bus.publish(_crossings(200, 5))
        _settled(runner)
        assert store.held == 0 and store.problem is None and store.dropped == dropped
        after = _rows(db)
        assert after["crossings"] == committed["crossings"] + held + 5
        assert sum(after.values()) == store.written
        assert _metrics(runner)["onsight_store_writable"] == 1
        assert _metrics(runner)["onsight_store_buffered_events"] == 0
    finally:
        runner.close()
    assert _rows(db)["crossings"] == after["crossings"]


def test_held_events_are_retried_without_new_writes(small_disk: Path) -> None:
    """Nothing new arrives: the store's own retry writes the held events once space returns."""
    store = EventStore(small_disk / "onsight.db", retry_seconds=0.05)
    try:
        store.write(_crossings(0, 3))
        with closing(sqlite3.connect(store.path)) as con:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        filler = _fill(small_disk)
        store.write(_crossings(3, 4))
        assert store.held == 4 and store.problem == "disk full"
        assert not store.retry()  # still full: held, not lost
        assert _rows(store.path)["crossings"] == 3
        filler.unlink()
        deadline = time.monotonic() + 60
        while store.held:
            assert time.monotonic() < deadline, "the held events were never retried"
            time.sleep(0.02)
        assert store.problem is None and store.written == 7
        assert _rows(store.path)["crossings"] == 7
    finally:
        store.close()
