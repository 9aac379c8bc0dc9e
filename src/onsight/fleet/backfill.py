"""`onsight fleet backfill CONFIG --since DATE`: a site republishes what it stored for a period.

Each stored row goes out as it did when it was made: the same topic, payload and event id, so
the fleet database stores it once however often it is sent. Nothing is retained (an old
occupancy must not replace the current one on the broker). Rows are read from the site's
SQLite store read-only, so a running `onsight run`/`serve` is not disturbed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from onsight.apps.base import EventType
from onsight.apps.registry import event_types
from onsight.config.service import MqttConfig
from onsight.errors import OnsightError
from onsight.events.payloads import Message, record_message
from onsight.types import utc_iso

_WINDOW = 200  # messages in flight before waiting for the broker's acks
_ACK_TIMEOUT = 30.0


def stored_messages(database: Path, since: datetime, until: datetime) -> Iterator[Message]:
    """Every row stored in [since, until), kind by kind, oldest first, as its message."""
    if not database.is_file():
        raise OnsightError(f"{database}: no event database here (has this site run yet?)")
    db = sqlite3.connect(database.resolve().as_uri() + "?mode=ro", uri=True, timeout=10.0)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        for spec in event_types():
            if spec.table in tables:
                yield from _rows(db, spec, utc_iso(since), utc_iso(until))
    except sqlite3.DatabaseError as exc:
        raise OnsightError(f"{database}: cannot read the event database: {exc}") from None
    finally:
        db.close()


def _rows(db: sqlite3.Connection, spec: EventType, since: str, until: str) -> Iterator[Message]:
    names = [spec.time_column, "camera", spec.name_column, *(c.name for c in spec.columns)]
    columns = ", ".join(f'"{name}"' for name in names)
    cursor = db.execute(
        f"SELECT {columns}, event_id FROM {spec.table} WHERE {spec.time_column} >= ? "
        f"AND {spec.time_column} < ? AND event_id IS NOT NULL ORDER BY {spec.time_column}",
        (since, until),
    )
    for row in cursor:
        values = dict(zip(names, row[:-1], strict=True))
        yield record_message(spec, row[-1], values)  # every row has its id (store migration)


def publish(
    messages: Iterator[Message],
    config: MqttConfig,
    site: str,
    progress: Callable[[int], None] = lambda _: None,
) -> int:
    """Publish at QoS 1 and wait for every acknowledgement; the number sent."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"onsight-backfill-{site}-{uuid.uuid4().hex[:6]}"
    )
    if config.username is not None:
        client.username_pw_set(config.username, config.password)
    if config.tls:
        client.tls_set()
    client.max_inflight_messages_set(_WINDOW)
    connected = threading.Event()
    refusal: list[str] = []

    def on_connect(_c: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            refusal.append(str(reason))
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(config.host, config.port, keepalive=config.keepalive_seconds)
    except OSError as exc:
        raise OnsightError(
            f"cannot reach the MQTT broker {config.host}:{config.port}: {exc}"
        ) from None
    client.loop_start()
    if not connected.wait(_ACK_TIMEOUT) or refusal:
        client.loop_stop()
        why = refusal[0] if refusal else "no answer"
        raise OnsightError(f"the MQTT broker {config.host}:{config.port} refused us: {why}")
    sent = 0
    pending: list[paho.MQTTMessageInfo] = []
    try:
        for message in messages:
            topic = message.topic(config.topic_prefix, site)
            pending.append(client.publish(topic, message.encoded(), qos=1, retain=False))
            if len(pending) >= _WINDOW:
                sent += _settle(pending)
                progress(sent)
        sent += _settle(pending)
        progress(sent)
    finally:
        client.disconnect()
        client.loop_stop()
    return sent


def _settle(pending: list[paho.MQTTMessageInfo]) -> int:
    give_up = time.monotonic() + _ACK_TIMEOUT
    for info in pending:
        info.wait_for_publish(timeout=max(0.1, give_up - time.monotonic()))
        if not info.is_published():
            raise OnsightError(
                "the broker stopped acknowledging; run the backfill again (the fleet stores "
                "each event once, so repeating it is safe)"
            )
    done = len(pending)
    pending.clear()
    return done
