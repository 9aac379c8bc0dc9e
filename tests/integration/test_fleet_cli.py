"""`onsight fleet serve`, `fleet users` and `fleet backfill` as a user runs them."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import yaml

from onsight.events import EventStore
from onsight.types import LineCrossing, ZoneMinute
from tests.integration.mosquitto import HOST, Mosquitto
from tests.integration.test_fleet_ingest import _ingester, _wait

ONSIGHT = [sys.executable, "-m", "onsight.cli"]


def _onsight(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ONSIGHT, *args], input=stdin, capture_output=True, text=True, timeout=120, env=env,
        check=False,
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def test_serve_says_what_is_missing_and_never_prints_the_database_password(
    tmp_path: Path, fleet_db: str
) -> None:
    missing = _onsight("fleet", "serve")
    assert (
        missing.returncode == 1 and "--mqtt" in missing.stderr and "Traceback" not in missing.stderr
    )
    wrong = fleet_db.replace(":secret@", ":hunter2-wrong@")
    as_query = fleet_db.replace(":secret@", "@") + "?password=hunter2-query"
    for url in (wrong, as_query):
        refused = _onsight("fleet", "serve", "--mqtt", "mqtt://127.0.0.1:1", "--database", url)
        assert refused.returncode == 1 and "error:" in refused.stderr
        assert "hunter2" not in refused.stderr + refused.stdout
    bad_broker = _onsight("fleet", "serve", "--mqtt", "mqtt://u:pw@h", "--database", fleet_db)
    assert bad_broker.returncode == 1 and "ONSIGHT_FLEET_MQTT_PASSWORD" in bad_broker.stderr
    closed = Mosquitto(tmp_path / "closed", anonymous=False)  # refuses every login
    closed.start()
    try:
        login = _onsight("fleet", "serve", "--no-web", "--mqtt", f"mqtt://{HOST}:{closed.port}",
                         "--database", fleet_db)  # fmt: skip
    finally:
        closed.stop()
    assert login.returncode == 1 and "refused the login" in login.stderr, login.stderr
    config = tmp_path / "fleet.yaml"
    config.write_text("sites: [north, 'bad name']\n", encoding="utf-8")
    invalid = _onsight("fleet", "serve", "--config", str(config))
    assert invalid.returncode == 1 and f"{config}:1: sites" in invalid.stderr


def test_serve_needs_a_fleet_user_then_serves_the_dashboard_until_sigterm(
    tmp_path: Path, fleet_db: str
) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    config = tmp_path / "fleet.yaml"
    config.write_text(
        yaml.safe_dump({"database": fleet_db, "mqtt": {"url": f"mqtt://{HOST}:{broker.port}"},
                        "data_dir": "state"}),
        encoding="utf-8",
    )  # fmt: skip
    port = str(_free_port())
    try:
        no_users = _onsight("fleet", "serve", "--config", str(config), "--port", port)
        assert no_users.returncode == 1 and "onsight fleet users add" in no_users.stderr
        added = _onsight(
            "fleet", "users", "add", "boss", "--role", "admin", "--config", str(config),
            "--password-stdin", stdin="a long fleet password\n",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert (tmp_path / "state" / "users.db").is_file(), "beside the config, in data_dir"
        listed = _onsight("fleet", "users", "list", "--config", str(config))
        assert "boss" in listed.stdout and "admin" in listed.stdout
        server = subprocess.Popen(
            [*ONSIGHT, "fleet", "serve", "--config", str(config), "--port", port],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            base = f"http://{HOST}:{port}"

            def up() -> bool:
                try:
                    return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            _wait(up, "the fleet dashboard", 30)
            page = httpx.get(f"{base}/", timeout=5)
            assert page.status_code in (302, 303, 307) or "login" in str(page.url)
        finally:
            server.send_signal(signal.SIGTERM)
            _, stderr = server.communicate(timeout=30)
        assert server.returncode == 0, stderr
        assert "stopped:" in stderr and "secret" not in stderr
    finally:
        broker.stop()


def test_backfill_republishes_a_sites_stored_records_once_each(
    tmp_path: Path, fleet_db: str
) -> None:
    broker = Mosquitto(tmp_path / "broker", persistence=True)
    broker.start()
    site = tmp_path / "site"
    site.mkdir()
    config = site / "onsight.yaml"
    config.write_text(
        yaml.safe_dump({"site": "depot", "cameras": [{"name": "gate", "url": "rtsp://cam/1"}],
                        "mqtt": {"host": HOST, "port": broker.port, "discovery": False}}),
        encoding="utf-8",
    )  # fmt: skip
    now = datetime.now(UTC).replace(microsecond=0)
    old = [LineCrossing(now - timedelta(days=3, minutes=i), "gate", "door", "in", "person")
           for i in range(5)]  # fmt: skip
    recent = [LineCrossing(now - timedelta(hours=1, minutes=i), "gate", "door", "out", "person")
              for i in range(7)]  # fmt: skip
    occupancy = ZoneMinute(now - timedelta(hours=2), "gate", "yard", "person", 0.5, 2, 30)
    store = EventStore(site / "onsight-data" / "onsight.db")
    store.write([*old, *recent, occupancy])
    store.close()
    running, database = _ingester(broker, fleet_db)
    try:
        since = (now - timedelta(days=1)).strftime("%Y-%m-%d")
        for _ in range(2):  # twice: the second changes nothing
            result = _onsight("fleet", "backfill", str(config), "--since", since)
            assert result.returncode == 0, result.stderr
            assert "republished 8 stored records of site depot" in result.stdout
        _wait(lambda: running.ingester.stats.received >= 16, "both backfills", 30)
    finally:
        running.close()
        database.close()
        broker.stop()
    with psycopg.connect(fleet_db) as conn:
        crossings = conn.execute("SELECT id::text, site FROM crossings").fetchall()
        zones = conn.execute("SELECT id::text FROM zone_minutes").fetchall()
    assert sorted(crossings) == sorted((e.event_id, "depot") for e in recent)
    assert zones == [(occupancy.event_id,)]
    bad = _onsight("fleet", "backfill", str(config), "--since", "yesterday")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    empty = tmp_path / "empty.yaml"
    empty.write_text(yaml.safe_dump({"cameras": [{"name": "gate", "url": "rtsp://cam/1"}]}))
    no_mqtt = _onsight("fleet", "backfill", str(empty), "--since", since)
    assert no_mqtt.returncode == 1 and "no `mqtt:` section" in no_mqtt.stderr
