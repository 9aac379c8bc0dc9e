"""Three sites, one broker, one PostgreSQL: every event each site stored reaches the fleet
database exactly once, through a `kill -9` of the ingester and a 10 s database outage."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import paho.mqtt.client as paho
import psycopg
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from onsight.apps.registry import event_types
from onsight.events.payloads import to_message
from onsight.types import LineCrossing
from tests.integration.mosquitto import HOST, Mosquitto
from tests.integration.postgres import Postgres
from tests.integration.test_fleet_ingest import FLEET_BROKER_QUEUE, _wait

ONSIGHT = [sys.executable, "-m", "onsight.cli"]
SITES = {"north": 4, "south": 5, "east": 6}  # site -> analysis fps: three different records


def _site_config(folder: Path, site: str, fps: int, clip: Path, port: int) -> Path:
    folder.mkdir()
    config = {
        "site": site,
        "cameras": [
            {
                "name": "square",
                "url": str(clip),
                "fps": fps,
                "lines": [{"name": "path", "points": [[0.45, 0.25], [0.45, 1.0]]}],
                "zones": [{"name": "left", "polygon": [[0, 0.3], [0.45, 0.3], [0.45, 1], [0, 1]]}],
            }
        ],
        "mqtt": {"host": HOST, "port": port, "discovery": False},
    }
    path = folder / "onsight.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _site_ids(folder: Path) -> set[tuple[str, str]]:
    """(table, event id) of every row the site stored."""
    with sqlite3.connect(folder / "onsight-data" / "onsight.db") as db:
        return {
            (spec.table, str(event_id))
            for spec in event_types()
            for (event_id,) in db.execute(f"SELECT event_id FROM {spec.table}")
        }


def _fleet_rows(url: str) -> dict[str, list[tuple[str, str]]]:
    """site -> [(table, id)] of every row in the fleet database (duplicates kept)."""
    found: dict[str, list[tuple[str, str]]] = {}
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            for spec in event_types():
                for site, event_id in conn.execute(f"SELECT site, id::text FROM {spec.table}"):
                    found.setdefault(site, []).append((spec.table, event_id))
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return {}  # down for the moment, or not yet made by the ingester
    return found


def _crossings(url: str) -> int:
    return sum(table == "crossings" for rows in _fleet_rows(url).values() for table, _ in rows)


def _publish_probe(broker: Mosquitto) -> str:
    """Publish one crossing of a fourth site, as its box would; its event id."""
    event = LineCrossing(datetime.now(UTC), "gate", "path", "in", "person")
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="probe-site")
    client.connect(HOST, broker.port)
    client.loop_start()
    try:
        message = to_message(event)
        client.publish(
            message.topic("onsight", "probe"), message.encoded(), qos=1
        ).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()
    return event.event_id


class _Ingester:
    """`onsight fleet serve --no-web` as a process, so it can be killed with SIGKILL."""

    def __init__(self, broker: Mosquitto, url: str, log: IO[bytes]) -> None:
        # The password goes by $PGPASSWORD, as the README says, not on the command line.
        self.args = [*ONSIGHT, "fleet", "serve", "--no-web", "--client-id", "fleet-e2e",
                     "--mqtt", f"mqtt://{HOST}:{broker.port}", "--database",
                     url.replace(":secret@", "@"), "-v"]  # fmt: skip
        self.env = os.environ | {"PGPASSWORD": "secret"}
        self.log = log
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.args, env=self.env, stdout=self.log, stderr=self.log)

    def kill_and_restart(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(10) == -signal.SIGKILL
        self.process = self._start()

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(20)


def test_three_sites_reach_postgresql_exactly_once_through_a_kill_and_an_outage(
    tmp_path: Path, video: Callable[[str], Path], postgres: Postgres, fleet_db: str
) -> None:
    clip = video("vtest_480x360.avi")
    broker = Mosquitto(tmp_path / "broker", persistence=True, max_queued=FLEET_BROKER_QUEUE)
    broker.start()
    log_path = tmp_path / "ingester.log"
    folders = {site: tmp_path / site for site in SITES}
    configs = {s: _site_config(folders[s], s, fps, clip, broker.port) for s, fps in SITES.items()}
    with log_path.open("wb") as log:
        ingester = _Ingester(broker, fleet_db, log)
        nodes: dict[str, subprocess.Popen[str]] = {}
        try:
            for site, config in configs.items():
                nodes[site] = subprocess.Popen(
                    [*ONSIGHT, "run", str(config)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            _wait(lambda: _crossings(fleet_db) > 0, "the first crossings in PostgreSQL", 120)
            ingester.kill_and_restart()  # halfway: whatever it held unacknowledged comes again
            before = _crossings(fleet_db)
            _wait(lambda: _crossings(fleet_db) > before, "storing again after the kill", 120)
            postgres.stop()  # the database away for 10 s while the sites keep publishing
            probe = _publish_probe(broker)  # one event sure to arrive during the outage
            time.sleep(10)
            postgres.start()
            for site, node in nodes.items():
                _, stderr = node.communicate(timeout=600)
                assert node.returncode == 0, f"{site}: {stderr[-2000:]}"
            expected = {site: _site_ids(folder) for site, folder in folders.items()}
            expected["probe"] = {("crossings", probe)}
            assert all(ids for ids in expected.values())

            def complete() -> bool:
                rows = _fleet_rows(fleet_db)
                return all(set(rows.get(site, [])) >= ids for site, ids in expected.items())

            _wait(complete, "every site's events in PostgreSQL", 180)
            assert ingester.stop() == 0, "SIGTERM stops the ingester cleanly"
        finally:
            for node in nodes.values():
                node.kill()
            if ingester.process.poll() is None:
                ingester.process.kill()
            broker.stop()
    rows = _fleet_rows(fleet_db)
    for site, ids in expected.items():
        assert sorted(rows[site]) == sorted(ids), f"{site}: nothing missing, nothing twice"
    assert set(rows) == {*SITES, "probe"}
    text = log_path.read_text(encoding="utf-8", errors="replace")
    assert "secret" not in text, "the database password never appears in the log"
    assert "database is back" in text, "the outage was seen (and waited out) by the ingester"
