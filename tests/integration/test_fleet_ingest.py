"""The fleet ingester against a real mosquitto and a real PostgreSQL: stored once by id,
acknowledged only after the commit, hostile messages dead-lettered, unknown sites refused."""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from onsight.config.service import MqttConfig
from onsight.errors import OnsightError
from onsight.events.mqtt import MqttSink
from onsight.fleet.ingest import Broker, Ingester
from onsight.fleet.messages import Refused, parse
from onsight.fleet.schema import FleetDatabase
from onsight.types import LineCrossing, ZoneMinute
from tests.integration.mosquitto import HOST, Mosquitto
from tests.integration.postgres import Postgres

# A fleet broker holds this many messages per ingester session (docs/fleet.md); mosquitto's
# default of 1,000 drops the rest of a burst or a long outage while acknowledging them.
FLEET_BROKER_QUEUE = 1_000_000
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _crossing(i: int, camera: str = "door-cam") -> LineCrossing:
    return LineCrossing(
        T0 + timedelta(seconds=i), camera, "door", "in" if i % 3 else "out", "person"
    )


def _wait(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class _Running:
    """An ingester on its own thread, as `onsight fleet serve` runs it."""

    def __init__(self, ingester: Ingester) -> None:
        self.ingester = ingester
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.ingester.run(self.stop)
        except BaseException as exc:  # the test asserts there were none
            self.errors.append(exc)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path / "broker", persistence=True, max_queued=FLEET_BROKER_QUEUE)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _ingester(broker: Mosquitto, url: str, **kw: object) -> tuple[_Running, FleetDatabase]:
    database = FleetDatabase(url, timeout=2.0)
    database.migrate()
    ingester = Ingester(
        Broker(HOST, broker.port),
        database,
        client_id=f"fleet-{uuid.uuid4().hex[:6]}",
        **kw,  # type: ignore[arg-type]
    )
    running = _Running(ingester)
    _wait(lambda: ingester.stats.subscribed, "the ingester to subscribe")
    return running, database


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def _publisher(broker: Mosquitto) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(1000)
    client.connect(HOST, broker.port)
    client.loop_start()
    return client


def test_a_sites_events_are_stored_once_under_their_own_ids(
    tmp_path: Path, broker: Mosquitto, fleet_db: str
) -> None:
    running, database = _ingester(broker, fleet_db)
    sink = MqttSink(MqttConfig(host=HOST, port=broker.port), "shop-1", [], tmp_path / "q.db")
    events = [_crossing(i) for i in range(40)]
    occupancy = ZoneMinute(T0, "door-cam", "hall", "person", 1.5, 3, 60)
    try:
        sink.write([*events, occupancy])
        sink.write(events[:10])  # the same events again (a resend): stored once
        _wait(lambda: running.ingester.stats.received >= 52, "every message")
        stored = _rows(fleet_db, "SELECT id::text, site, camera, line, direction FROM crossings")
        assert {row[0] for row in stored} == {e.event_id for e in events}
        assert len(stored) == 40 and {row[1:3] for row in stored} == {("shop-1", "door-cam")}
        (zone,) = _rows(fleet_db, "SELECT id::text, zone, mean, peak FROM zone_minutes")
        assert zone == (occupancy.event_id, "hall", 1.5, 3)
        assert running.ingester.stats.duplicates == 10
        (site,) = _rows(fleet_db, "SELECT site, status, last_message IS NOT NULL FROM sites")
        assert site == ("shop-1", "online", True), "the status topic is read too"
    finally:
        sink.close()
        running.close()
        database.close()
    assert not running.errors


def test_nothing_is_acknowledged_before_it_is_committed(
    broker: Mosquitto, postgres: Postgres, fleet_db: str
) -> None:
    """PostgreSQL stops: the ingester holds its batch unacknowledged; the broker keeps the
    rest. Killed meanwhile (no ack ever sent), a new ingester with the same session gets
    every message again, and each is stored once."""
    client_id = f"fleet-{uuid.uuid4().hex[:6]}"
    database = FleetDatabase(fleet_db, timeout=1.0)
    database.migrate()
    first = _Running(Ingester(Broker(HOST, broker.port), database, client_id=client_id))
    _wait(lambda: first.ingester.stats.subscribed, "the ingester to subscribe")
    publisher = _publisher(broker)
    events = [_crossing(i) for i in range(30)]
    try:
        postgres.stop()
        for event in events[:20]:
            topic = f"onsight/shop-2/{event.camera}/line/door"
            publisher.publish(topic, _payload(event), qos=1).wait_for_publish(5)
        _wait(lambda: first.ingester.stats.database_outages == 1, "the outage to be noticed")
        first.close()  # stopped while the database is down: nothing was acknowledged
        assert first.ingester.stats.stored == 0
        for event in events[20:]:
            topic = f"onsight/shop-2/{event.camera}/line/door"
            publisher.publish(topic, _payload(event), qos=1).wait_for_publish(5)
        postgres.start()
        second = _Running(Ingester(Broker(HOST, broker.port), database, client_id=client_id))
        _wait(lambda: second.ingester.stats.stored >= 30, "the held messages to be stored")
        second.close()
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        database.close()
    ids = [row[0] for row in _rows(fleet_db, "SELECT id::text FROM crossings")]
    assert sorted(ids) == sorted(e.event_id for e in events)


def _payload(event: LineCrossing) -> bytes:
    from onsight.events.payloads import to_message

    return to_message(event).encoded()


def _hostile(rng: random.Random, valid: bytes) -> tuple[str, bytes]:
    """One of many ways to send something the ingester must refuse."""
    site_topic = "onsight/shop-3/cam/line/door"
    body = json.loads(valid)
    choice = rng.randrange(13)
    if choice == 12:  # a lone surrogate: valid JSON, text no database can hold
        return site_topic, json.dumps(body | {"class": "\ud800"}).encode()
    if choice == 0:
        return site_topic, os.urandom(rng.randrange(1, 400))
    if choice == 1:
        return site_topic, b"x" * (70_000 + rng.randrange(50_000))  # oversized
    if choice == 2:
        return "onsight/intruder/cam/line/door", valid  # a site not in the list
    if choice == 3:
        return site_topic, json.dumps([body]).encode()
    if choice == 4:
        return site_topic, json.dumps(body | {"kind": "face_print"}).encode()
    if choice == 5:
        return site_topic, json.dumps(body | {"id": "not-a-uuid"}).encode()
    if choice == 6:
        return site_topic, json.dumps(body | {"time": "9999-12-31T00:00:00Z"}).encode()
    if choice == 7:
        return site_topic, json.dumps(body | {"direction": "sideways"}).encode()  # a CHECK
    if choice == 8:
        return site_topic, json.dumps(body | {"class": 12}).encode()
    if choice == 9:
        return "onsight/shop-3/cam/zone/door", valid  # a crossing under the zone topic
    if choice == 10:
        return "onsight/shop-3/cam/line/door/extra", valid
    nested = "[" * 100_000  # deep nesting
    return site_topic, nested.encode()[:60_000]


def test_a_thousand_hostile_messages_are_dead_lettered_and_the_ingester_stays_up(
    broker: Mosquitto, fleet_db: str
) -> None:
    running, database = _ingester(broker, fleet_db, sites=frozenset({"shop-3"}))
    publisher = _publisher(broker)
    rng = random.Random(17)
    valid = _payload(_crossing(1, "cam"))
    try:
        infos = [publisher.publish(*_hostile(rng, valid), qos=1) for _ in range(1000)]
        for info in infos:
            info.wait_for_publish(10)
        _wait(lambda: running.ingester.stats.dead_lettered >= 1000, "1000 dead letters", 60)
        good = _crossing(2, "cam")
        publisher.publish("onsight/shop-3/cam/line/door", _payload(good), qos=1)
        _wait(lambda: running.ingester.stats.stored == 1, "a valid message after them")
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        running.close()
    assert not running.errors and running.ingester.stats.dead_lettered == 1000
    counts = database.counts()
    database.close()
    assert counts["crossings"] == 1 and sum(counts.values()) == 1, counts
    ((ids,),) = _rows(fleet_db, "SELECT array_agg(id::text) FROM crossings")
    assert ids == [good.event_id]
    (letters, largest, sites) = _rows(
        fleet_db,
        "SELECT count(*), max(octet_length(payload)), "
        "(SELECT count(*) FROM sites WHERE site = 'intruder') FROM dead_letters",
    )[0]
    assert letters == 1000 and largest is not None and int(str(largest)) <= 1024
    assert sites == 0, "an unknown site leaves no trace but its dead letter"


def test_every_kind_the_sites_publish_passes_the_parser() -> None:
    """Each registry kind's message, as a site makes it, parses back to the same values."""
    from onsight.apps.registry import event_types
    from onsight.events.payloads import record_message
    from onsight.fleet.schema import FleetRow

    for spec in event_types():
        values: dict[str, object] = {spec.time_column: T0, "camera": "cam", spec.name_column: "n1"}
        for column in spec.columns:
            values[column.name] = {"TEXT": "in", "INTEGER": 7, "REAL": 0.5}[column.sql]
        message = record_message(spec, str(uuid.uuid4()), values)  # type: ignore[arg-type]
        parsed = parse(message.topic("onsight", "s1"), message.encoded(), prefix="onsight")
        assert isinstance(parsed, FleetRow), (spec.kind, parsed)
        assert parsed.values == values and parsed.kind == spec.kind


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("onsight/s1/status", b"maybe", "status"),
        ("other/s1/cam/line/door", b"{}", "prefix"),
        ("onsight/s 1/cam/line/door", b"{}", "site"),
        ("onsight/s1/cam/line/do'or", b"{}", "camera or item"),
        ("onsight/s1/cam/line/door", b"{}", "kind"),
        ("onsight/s1/cam/line/door", b"\xff\xfe", "JSON"),
    ],
)
def test_the_parser_says_why_it_refuses(topic: str, payload: bytes, reason: str) -> None:
    parsed = parse(topic, payload, prefix="onsight")
    assert isinstance(parsed, Refused) and reason in parsed.reason


def test_broker_urls_keep_the_password_out_of_the_url() -> None:
    broker = Broker.from_url(
        "mqtts://fleet@broker.example:8883", {"ONSIGHT_FLEET_MQTT_PASSWORD": "pw"}
    )
    assert (broker.host, broker.port, broker.username, broker.password, broker.tls) == (
        "broker.example", 8883, "fleet", "pw", True
    )  # fmt: skip
    assert "pw" not in str(broker) and "pw" not in repr(broker)
    for bad in ("mqtt://u:pw@h:1883", "http://h", "mqtt://h:99999", "mqtt://h/x"):
        with pytest.raises(OnsightError) as caught:
            Broker.from_url(bad, {})
        assert "pw" not in str(caught.value)


def test_rows_older_than_the_retention_are_not_stored(broker: Mosquitto, fleet_db: str) -> None:
    running, database = _ingester(broker, fleet_db, keep=timedelta(days=2))
    publisher = _publisher(broker)
    old = LineCrossing(T0 - timedelta(days=3), "cam", "door", "in", "person")
    new = _crossing(5, "cam")
    try:
        for event in (old, new):
            publisher.publish("onsight/shop-4/cam/line/door", _payload(event), qos=1)
        _wait(lambda: running.ingester.stats.received >= 2, "both messages")
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        running.close()
        database.close()
    assert running.ingester.stats.expired == 1
    assert _rows(fleet_db, "SELECT id::text FROM crossings") == [(new.event_id,)]


def test_two_ingesters_share_the_messages_and_store_each_once(
    broker: Mosquitto, fleet_db: str
) -> None:
    first, first_db = _ingester(broker, fleet_db)
    second, second_db = _ingester(broker, fleet_db)
    _wait(lambda: first.ingester.stats.subscribed and second.ingester.stats.subscribed, "SUBACKs")
    publisher = _publisher(broker)
    events = [_crossing(i, f"cam-{i % 3}") for i in range(300)]
    try:
        for event in events:
            topic = f"onsight/shop-5/{event.camera}/line/door"
            publisher.publish(topic, _payload(event), qos=1)
        publisher.publish("onsight/shop-5/status/audit", b'{"head": 1}', qos=1)

        def received() -> int:
            return first.ingester.stats.received + second.ingester.stats.received

        _wait(lambda: received() >= 301, "every message by one ingester or the other")
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        for running, database in ((first, first_db), (second, second_db)):
            running.close()
            database.close()
    assert first.ingester.stats.received > 0 and second.ingester.stats.received > 0
    ids = [row[0] for row in _rows(fleet_db, "SELECT id::text FROM crossings")]
    assert sorted(ids) == sorted(e.event_id for e in events)
    (site,) = _rows(fleet_db, "SELECT site, status FROM sites")
    assert site == ("shop-5", None), "the audit head says the site is alive, not its status"
