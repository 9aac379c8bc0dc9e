"""A short load on one ingester (the smoke version of `make bench-fleet`): three sites publish
at once, as fast as QoS 1 allows, and every event is stored exactly once. No timing is
asserted here; the events/s figure comes from `make bench-fleet`."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from onsight.apps.queue import QueueMinute
from onsight.events.payloads import to_message
from onsight.fleet.ingest import Broker, Ingester
from onsight.fleet.schema import FleetDatabase
from onsight.types import Event, LineCrossing, ZoneMinute
from tests.integration.mosquitto import HOST, Mosquitto
from tests.integration.test_fleet_ingest import FLEET_BROKER_QUEUE, _wait

SITES = 3
PER_SITE = 2000


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    # Three sites flooding on loopback outrun the ingester by more than mosquitto's default
    # queue (bench/fleet_bench.py measures the loss at the default): a fleet broker's setting.
    server = Mosquitto(tmp_path / "broker", max_queued=FLEET_BROKER_QUEUE)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _events(site: str) -> list[Event]:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    events: list[Event] = []
    for i in range(PER_SITE):
        camera = f"{site}-cam-{i % 3}"
        when = start + timedelta(milliseconds=250 * i)
        minute = when.replace(second=0)
        if i % 10 < 8:
            events.append(LineCrossing(when, camera, "door", "in" if i % 2 else "out", "person"))
        elif i % 10 == 8:
            events.append(ZoneMinute(minute, camera, "hall", "person", 1.5, 3, 600))
        else:
            events.append(QueueMinute(minute, camera, "till", 2.25, 4, 600))
    return events


def _publish(port: int, site: str, events: list[Event], go: threading.Event) -> None:
    """One site: every event at QoS 1, then wait until the broker has acknowledged them all."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"load-{site}")
    client.max_inflight_messages_set(100)
    client.connect(HOST, port)
    client.loop_start()
    try:
        go.wait(30)
        sent = []
        for event in events:
            message = to_message(event)
            sent.append(
                client.publish(
                    message.topic("onsight", site), message.encoded(), qos=1, retain=message.retain
                )
            )
        for info in sent:
            info.wait_for_publish(60)
            assert info.is_published()
    finally:
        client.loop_stop()
        client.disconnect()


def test_three_sites_at_once_are_stored_exactly_once(broker: Mosquitto, fleet_db: str) -> None:
    database = FleetDatabase(fleet_db, timeout=5.0)
    database.migrate()
    ingester = Ingester(Broker(HOST, broker.port), database, client_id=f"load-{uuid.uuid4().hex}")
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            ingester.run(stop)
        except BaseException as exc:  # asserted below
            errors.append(exc)

    consumer = threading.Thread(target=run, daemon=True)
    consumer.start()
    sites = {f"site-{i}": _events(f"site-{i}") for i in range(1, SITES + 1)}
    total = SITES * PER_SITE
    go = threading.Event()
    publishers = [
        threading.Thread(target=_publish, args=(broker.port, site, events, go), daemon=True)
        for site, events in sites.items()
    ]
    try:
        _wait(lambda: ingester.stats.subscribed, "the ingester to subscribe")
        for publisher in publishers:
            publisher.start()
        go.set()
        for publisher in publishers:
            publisher.join(60)
        assert not any(p.is_alive() for p in publishers), "a site was not acknowledged"
        _wait(lambda: ingester.stats.received >= total, f"{total} at the ingester", 60)
    finally:
        stop.set()
        consumer.join(15)
        database.close()
    assert not errors
    sent = {event.event_id for events in sites.values() for event in events}
    with psycopg.connect(fleet_db) as conn:
        stored = [
            str(row[0])
            for table in ("crossings", "zone_minutes", "queue_minutes")
            for row in conn.execute(f"SELECT id::text FROM {table}")
        ]
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
        seen = {
            str(row[0]): int(row[1])
            for row in conn.execute("SELECT site, count(*) FROM cameras GROUP BY site")
        }
    assert len(stored) == len(set(stored)) == total, "every event exactly once"
    assert set(stored) == sent
    assert dead == (0,)
    assert seen == dict.fromkeys(sites, 3)
    stats = ingester.stats
    assert (stats.received, stats.stored, stats.duplicates) == (total, total, 0)
    assert stats.dead_lettered == 0 and stats.database_outages == 0
    assert stats.batches > 0
