"""MQTT delivery against a real mosquitto: topics, retained state, discovery, outages, restarts."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from onsight.config.models import Config
from onsight.events.diskqueue import DiskQueue
from onsight.events.mqtt import MqttSink
from onsight.types import Event, LineCrossing, ZoneMinute
from tests.integration.mosquitto import HOST, Mosquitto, free_port

SITE = "hq"
CAMERA = "front-door"
BASE = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
PASSWORD = "not-in-any-log-3141"


def _config(port: int, **mqtt: Any) -> Config:
    return Config.model_validate(
        {
            "site": SITE,
            "cameras": [
                {
                    "name": CAMERA,
                    "url": "clip.mp4",
                    "lines": [{"name": "door", "points": [[0.5, 0.0], [0.5, 1.0]]}],
                    "zones": [{"name": "hall", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}],
                }
            ],
            "mqtt": {"host": HOST, "port": port, **mqtt},
        }
    )


def _sink(config: Config, queue: Path) -> MqttSink:
    assert config.mqtt is not None
    return MqttSink(config.mqtt, config.site, config.cameras, queue, reconnect_delay=(0.05, 0.5))


def _crossings(start: int, count: int) -> list[Event]:
    """Crossings one second apart: the payload time tells which event a message is."""
    return [
        LineCrossing(BASE + timedelta(seconds=i), CAMERA, "door", "in", "person")
        for i in range(start, start + count)
    ]


def _stamp(i: int) -> str:
    return (BASE + timedelta(seconds=i)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


UUID7 = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > give_up:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


class Subscriber:
    """A paho client that records everything it receives; reconnects on its own."""

    def __init__(self, port: int, persistent: bool = False) -> None:
        self.messages: list[paho.MQTTMessage] = []
        self._lock = threading.Lock()
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"test-sub-{uuid.uuid4().hex[:8]}",
            clean_session=not persistent,  # a persistent session queues while we are away
        )
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        self.client.on_message = self._on_message
        self.client.connect(HOST, port)
        self.client.loop_start()
        wait_for(self.client.is_connected, "the subscriber to connect")

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def on(self, topic: str) -> list[paho.MQTTMessage]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def line_payloads(self) -> list[dict[str, Any]]:
        return [json.loads(m.payload) for m in self.on(f"onsight/{SITE}/{CAMERA}/line/door")]

    def times(self) -> set[str]:
        return {p["time"] for p in self.line_payloads()}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path / "broker", persistence=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def subscribers() -> Iterator[Callable[..., Subscriber]]:
    made: list[Subscriber] = []

    def make(port: int, persistent: bool = False) -> Subscriber:
        made.append(Subscriber(port, persistent))
        return made[-1]

    yield make
    for subscriber in made:
        subscriber.close()


def test_events_arrive_on_documented_topics_with_discovery_and_status(
    broker: Mosquitto, subscribers: Callable[..., Subscriber], tmp_path: Path
) -> None:
    watcher = subscribers(broker.port)
    config = _config(broker.port)
    sink = _sink(config, tmp_path / "queue.db")
    zone = ZoneMinute(BASE, CAMERA, "hall", "person", 1.25, 3, 600)
    sink.write([*_crossings(0, 1), zone])

    line_topic = f"onsight/{SITE}/{CAMERA}/line/door"
    zone_topic = f"onsight/{SITE}/{CAMERA}/zone/hall"
    event_config = f"homeassistant/event/onsight_{SITE}_{CAMERA}_door/config"
    sensor_config = f"homeassistant/sensor/onsight_{SITE}_{CAMERA}_hall/config"
    wanted = [line_topic, zone_topic, event_config, sensor_config, f"onsight/{SITE}/status"]
    wait_for(lambda: all(watcher.on(t) for t in wanted), "events, discovery and status")
    wait_for(lambda: sink.pending == 0 and sink.delivered == 2, "the queue to empty")
    assert sink.connected and sink.dropped == 0

    crossing = json.loads(watcher.on(line_topic)[0].payload)
    assert crossing == {
        "id": crossing["id"],
        "kind": "crossing",
        "time": _stamp(0),
        "event_type": "in",
        "direction": "in",
        "class": "person",
    }
    assert re.fullmatch(UUID7, crossing["id"]), "the event's own id, a UUIDv7"
    occupancy = json.loads(watcher.on(zone_topic)[0].payload)
    assert occupancy["time"] == "2024-05-01T09:00:00.000Z" and occupancy["mean"] == 1.25
    assert occupancy["peak"] == 3 and occupancy["id"] != crossing["id"]

    event = json.loads(watcher.on(event_config)[0].payload)
    assert event["state_topic"] == line_topic and event["event_types"] == ["in", "out"]
    sensor = json.loads(watcher.on(sensor_config)[0].payload)
    assert sensor["state_topic"] == zone_topic and sensor["value_template"] == (
        "{{ value_json.mean }}"
    )
    for entity in (event, sensor):
        assert entity["availability_topic"] == f"onsight/{SITE}/status"
        assert entity["device"]["identifiers"] == [f"onsight_{SITE}_{CAMERA}"]

    # A late subscriber gets the retained state: occupancy, discovery and "online".
    late = subscribers(broker.port)
    wait_for(lambda: all(late.on(t) for t in wanted[1:]), "retained messages")
    assert all(late.on(t)[0].retain for t in wanted[1:])
    assert late.on(f"onsight/{SITE}/status")[-1].payload == b"online"
    assert not late.on(line_topic), "crossings are one-off events, not retained"

    # Lines edited at run time: the new entity is announced, the old one removed.
    camera = config.cameras[0].model_copy(
        update={"lines": [config.cameras[0].lines[0].model_copy(update={"name": "gate"})]}
    )
    sink.update_cameras([camera])
    gate_config = f"homeassistant/event/onsight_{SITE}_{CAMERA}_gate/config"
    wait_for(lambda: bool(watcher.on(gate_config)), "discovery of the new line")
    wait_for(lambda: watcher.on(event_config)[-1].payload == b"", "removal of the old line")

    sink.close()
    wait_for(
        lambda: [m.payload for m in watcher.on(f"onsight/{SITE}/status")][-1] == b"offline",
        "the offline status",
    )


def test_broker_outage_loses_no_event(
    broker: Mosquitto, subscribers: Callable[..., Subscriber], tmp_path: Path
) -> None:
    watcher = subscribers(broker.port, persistent=True)
    sink = _sink(_config(broker.port, discovery=False), tmp_path / "queue.db")
    total = 60
    written = 0

    def produce() -> None:  # a steady trickle, like the pipeline, across the whole outage
        nonlocal written
        for event in _crossings(0, total):
            sink.write([event])
            written += 1
            time.sleep(0.005)

    producer = threading.Thread(target=produce)
    producer.start()
    wait_for(lambda: sink.delivered >= 10, "the first deliveries")
    broker.stop()  # mid-run: the producer keeps writing, some messages are in flight
    wait_for(lambda: not sink.connected, "the sink to notice the outage")
    producer.join()
    assert sink.pending > 0 and written == total

    broker.start()
    wait_for(lambda: watcher.times() >= {_stamp(i) for i in range(total)}, "every event")
    wait_for(lambda: sink.pending == 0, "the queue to empty")
    assert sink.reconnects >= 1 and sink.dropped == 0
    ids: dict[str, set[str]] = {}
    for payload in watcher.line_payloads():  # duplicates are allowed, but keep their id
        ids.setdefault(payload["time"], set()).add(payload["id"])
    assert all(len(same) == 1 for same in ids.values())
    sink.close()


def test_events_queued_before_a_restart_are_delivered_by_the_next_run(
    tmp_path: Path, subscribers: Callable[..., Subscriber], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    port = free_port()  # nothing listens yet: the broker is down
    config = _config(port, username="onsight", password=PASSWORD)
    queue = tmp_path / "queue.db"
    first = _sink(config, queue)
    first.write(_crossings(0, 5))
    first.close(timeout=0.3)
    assert first.delivered == 0 and not first.connected
    assert "cannot connect to MQTT broker" in caplog.text and PASSWORD not in caplog.text

    on_disk = DiskQueue(queue, 100)
    queued_ids = {row.event_id for row in on_disk.peek(100)}
    on_disk.close()
    assert len(queued_ids) == 5

    broker = Mosquitto(tmp_path / "broker", port=port)
    broker.start()
    try:
        watcher = subscribers(port)
        second = _sink(config, queue)
        wait_for(lambda: {p["id"] for p in watcher.line_payloads()} >= queued_ids, "old events")
        wait_for(lambda: second.pending == 0, "the queue to empty")
        second.close()
    finally:
        broker.stop()
    assert PASSWORD not in caplog.text


def test_a_full_queue_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    queue = tmp_path / "queue.db"
    sink = _sink(_config(free_port(), queue_max=100), queue)  # no broker: everything queues
    sink.write(_crossings(0, 60))
    sink.write(_crossings(60, 90))
    assert sink.dropped == 50 and sink.pending == 100
    sink.close(timeout=0.1)

    on_disk = DiskQueue(queue, 100)
    kept = [json.loads(row.payload)["time"] for row in on_disk.peek(1000)]
    on_disk.close()
    assert kept == [_stamp(i) for i in range(50, 150)], "the newest 100, in order"


def test_a_refused_login_is_logged_once_without_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = Mosquitto(tmp_path / "broker", anonymous=False)
    broker.start()
    try:
        config = _config(broker.port, username="onsight", password=PASSWORD)
        sink = _sink(config, tmp_path / "queue.db")
        sink.write(_crossings(0, 1))
        wait_for(lambda: "refused" in caplog.text, "the refusal to be logged")
        time.sleep(0.3)  # several more attempts at the 0.05-0.5 s back-off
        sink.close(timeout=0.1)
    finally:
        broker.stop()
    warnings = [r.getMessage() for r in caplog.records if r.name == "onsight.events.mqtt"]
    assert len(warnings) == 1 and "127.0.0.1" in warnings[0], warnings
    assert PASSWORD not in caplog.text and sink.delivered == 0 and not sink.connected
