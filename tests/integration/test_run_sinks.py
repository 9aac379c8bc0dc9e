"""`onsight run` on a real clip with MQTT and a webhook configured: every stored crossing is
also delivered, on the documented topic and signed, and nothing else leaves."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from onsight.events.signing import verify_signature
from tests.integration.mosquitto import HOST, Mosquitto

ONSIGHT = [sys.executable, "-m", "onsight.cli"]
SECRET = "webhook-secret-for-tests-0001"


class _Posts:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()


@pytest.fixture
def posts() -> Iterator[tuple[_Posts, int]]:
    state = _Posts()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield state, server.server_address[1]
    server.shutdown()
    server.server_close()


def _wait(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_run_delivers_every_crossing_over_mqtt_and_webhook(
    tmp_path: Path, video: Callable[[str], Path], posts: tuple[_Posts, int]
) -> None:
    clip = video("vtest_480x360.avi")
    receiver, http_port = posts
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    messages: list[paho.MQTTMessage] = []
    subscriber = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:6]}")
    subscriber.on_message = lambda _c, _u, m: messages.append(m)
    config: dict[str, Any] = {
        "site": "hq",
        "cameras": [
            {
                "name": "square",
                "url": str(clip),
                "fps": 10,
                "lines": [{"name": "path", "points": [[0.45, 0.25], [0.45, 1.0]]}],
                "zones": [{"name": "left", "polygon": [[0, 0.3], [0.45, 0.3], [0.45, 1], [0, 1]]}],
            }
        ],
        "mqtt": {"host": HOST, "port": broker.port},
        "webhooks": [
            {
                "name": "bi",
                "url": f"http://{HOST}:{http_port}/onsight",
                "events": ["crossing"],
                "secret": SECRET,
            }
        ],
    }
    path = tmp_path / "onsight.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    try:
        subscriber.connect(HOST, broker.port)
        subscriber.subscribe("#", qos=1)
        subscriber.loop_start()
        result = subprocess.run(
            [*ONSIGHT, "run", str(path)], capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, result.stderr
        with sqlite3.connect(tmp_path / "onsight-data" / "onsight.db") as db:
            stored_ids = {row[0] for row in db.execute("SELECT event_id FROM crossings")}
            stored = db.execute("SELECT count(*) FROM crossings").fetchone()[0]
        assert stored > 0 and len(stored_ids) == stored
        topic = "onsight/hq/square/line/path"

        def crossing_ids() -> set[str]:
            return {json.loads(m.payload)["id"] for m in list(messages) if m.topic == topic}

        _wait(lambda: len(crossing_ids()) >= stored)
        _wait(lambda: len(receiver.received) >= stored)
    finally:
        subscriber.loop_stop()
        subscriber.disconnect()
        broker.stop()
    assert crossing_ids() == stored_ids, "each stored crossing published once, under its id"
    zone = [m for m in messages if m.topic == "onsight/hq/square/zone/left"]
    assert zone and all(json.loads(m.payload)["time"].endswith("Z") for m in zone)
    assert any(m.topic.startswith("homeassistant/event/") for m in messages)
    with receiver.lock:
        received = list(receiver.received)
    assert {h["x-onsight-id"] for h, _ in received} == stored_ids, "the same ids as stored"
    for headers, body in received:
        assert headers["x-onsight-event"] == "crossing", "only the subscribed kind is sent"
        assert verify_signature(
            SECRET, headers["x-onsight-timestamp"], body, headers["x-onsight-signature"]
        )
        assert json.loads(body)["site"] == "hq"
