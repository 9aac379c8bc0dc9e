"""The audit head witnessed on a real mosquitto, and `onsight audit verify --head` (the real
CLI) catching records deleted after it (issue 16)."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from onsight.config.models import Config
from onsight.events.mqtt import MqttSink, audit_topic
from onsight.privacy.audit import AuditLog
from onsight.privacy.witness import AuditWitness
from tests.integration.mosquitto import HOST, Mosquitto

ONSIGHT = [sys.executable, "-m", "onsight.cli"]
TOPIC = "onsight/hq/status/audit"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path / "broker")
    server.start()
    yield server
    server.stop()


def _wait(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > give_up:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


class _Watcher:
    """A subscriber to `topic` that keeps every payload, with its retain flag."""

    def __init__(self, port: int, topic: str) -> None:
        self.got: list[tuple[bool, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:6]}"
        )
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.connect(HOST, port)
        self.client.loop_start()

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.got.append((bool(message.retain), json.loads(message.payload)))

    def seqs(self) -> list[int]:
        with self._lock:
            return [payload["seq"] for _, payload in self.got]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _retained(port: int, topic: str) -> dict[str, Any]:
    """What a client that subscribes now is given: the broker's retained message."""
    watcher = _Watcher(port, topic)
    try:
        _wait(lambda: bool(watcher.seqs()), f"a retained message on {topic}")
    finally:
        watcher.close()
    retained, payload = watcher.got[0]
    assert retained, "the head is a retained message"
    return payload


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ONSIGHT, *args], capture_output=True, text=True, timeout=300, check=False
    )


def _delete_from(path: Path, first: int) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TRIGGER audit_no_delete")
    db.execute("DELETE FROM audit WHERE seq >= ?", (first,))
    db.close()


def test_rule6_witness_publishes_the_head_retained_on_mqtt(
    broker: Mosquitto, tmp_path: Path
) -> None:
    config = Config.model_validate(
        {"site": "hq", "cameras": [{"name": "a", "url": "a.mp4"}], "mqtt": {"port": broker.port}}
    )
    assert config.mqtt is not None and audit_topic(config.mqtt, "hq") == TOPIC
    sink = MqttSink(config.mqtt, "hq", config.cameras, tmp_path / "queue.db")
    live = _Watcher(broker.port, TOPIC)
    try:
        with AuditLog(tmp_path / "audit.db") as log:
            for i in range(3):
                log.append("login", actor=f"user{i}")
            witness = AuditWitness(log, interval=3600.0, publishers=[sink.publish_audit_head])
            first = witness.publish()
            assert first is not None
            _wait(lambda: live.seqs() == [3], "the head on MQTT")
            assert _retained(broker.port, TOPIC) == {
                "seq": 3,
                "hash": first.hash,
                "head": str(first),
            }
            log.append("logout", actor="user0")
            later = witness.publish()  # the next round replaces the retained head
            assert later is not None and later.seq == 4
            _wait(lambda: live.seqs() == [3, 4], "the new head on MQTT")
            assert _retained(broker.port, TOPIC)["seq"] == 4
    finally:
        live.close()
        sink.close()


def test_rule6_run_publishes_the_head_and_verify_head_catches_truncation(
    broker: Mosquitto, tmp_path: Path, video: Callable[[str], Path]
) -> None:
    config = {
        "site": "hq",
        "cameras": [{"name": "shelf", "url": str(video("bottle-detection.mp4")), "fps": 1}],
        "mqtt": {"host": HOST, "port": broker.port, "discovery": False},
        "privacy": {"audit_log": "data/audit.db"},
    }
    path = tmp_path / "onsight.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    run = _cli("run", str(path))
    assert run.returncode == 0, run.stderr

    key = tmp_path / "data" / "audit.db.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    witnessed = _retained(broker.port, TOPIC)
    # The same head is in the log, even without -v: the log is a witness too.
    assert f"onsight: INFO audit head {witnessed['head']} (" in run.stderr, run.stderr
    verify = _cli("audit", "verify", "--config", str(path), "--head", witnessed["head"])
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.startswith("ok: ")

    # Someone deletes the newest records, and the local head file with them.
    seq = witnessed["seq"]
    _delete_from(tmp_path / "data" / "audit.db", seq)
    (tmp_path / "data" / "audit.db.head").unlink()
    assert _cli("audit", "verify", "--config", str(path)).returncode == 0  # chain alone: fine
    verify = _cli("audit", "verify", "--config", str(path), "--head", witnessed["head"])
    assert verify.returncode == 1
    assert verify.stdout.strip() == (
        f"audit log broken at record {seq}: record {seq} missing at the end (truncated): the "
        f"log ends at record {seq - 1} but the witnessed head (from --head) is record {seq}"
    )
