"""MQTT sink: events go to a durable on-disk queue, a publisher thread delivers them.

Delivery is at-least-once: a queued row is deleted only after the broker's PUBACK, and each
payload carries the event id so consumers can drop duplicates. The publisher owns its network
loop and builds a fresh paho client for every connection, so after a reconnect it simply
re-sends every un-acknowledged row from the oldest, in order; nothing is held only in paho's
memory. Reconnects back off exponentially with jitter.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from onsight.apps.registry import kinds
from onsight.config.models import CameraConfig
from onsight.config.service import MqttConfig
from onsight.errors import OnsightError
from onsight.events.diskqueue import DiskQueue, QueueItem
from onsight.events.payloads import to_message
from onsight.types import Event

log = logging.getLogger(__name__)

_IDLE_POLL = 0.1  # seconds the network loop waits when there is nothing to send
_GOODBYE_SECONDS = 1.0  # how long close() waits for the broker to take the "offline" status
_STABLE_SECONDS = 10.0  # a connection that lasted this long resets the reconnect back-off


def status_topic(config: MqttConfig, site: str) -> str:
    return f"{config.topic_prefix}/{site}/status"


def audit_topic(config: MqttConfig, site: str) -> str:
    """Retained: the audit log's last witnessed head (see privacy.witness)."""
    return f"{status_topic(config, site)}/audit"


def discovery_messages(
    config: MqttConfig, site: str, cameras: Sequence[CameraConfig]
) -> dict[str, bytes]:
    """Home Assistant discovery: topic -> retained config payload, the entities each app kind
    declares for its configured items."""
    availability = status_topic(config, site)
    messages: dict[str, bytes] = {}

    def add(component: str, camera: CameraConfig, suffix: str, entity: dict[str, Any]) -> None:
        object_id = f"onsight_{site}_{camera.name}_{suffix}".replace(".", "_")
        entity |= {
            "unique_id": object_id,
            "availability_topic": availability,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": {
                "identifiers": [f"onsight_{site}_{camera.name}".replace(".", "_")],
                "name": f"onsight {site} {camera.name}",
                "manufacturer": "onsight",
                "model": camera.purpose,
            },
        }
        topic = f"{config.discovery_prefix}/{component}/{object_id}/config"
        messages[topic] = json.dumps(entity, separators=(",", ":")).encode()

    base = f"{config.topic_prefix}/{site}"
    for camera in cameras:
        for kind in kinds():
            for item in kind.items(camera):
                for entity in kind.entities(item):
                    state = {"state_topic": f"{base}/{camera.name}/{entity.topic}/{item.name}"}
                    add(entity.component, camera, entity.suffix, state | entity.config)
    return messages


class MqttSink:
    """An event-bus sink. `write` only queues to disk; a thread publishes with QoS 1."""

    def __init__(
        self,
        config: MqttConfig,
        site: str,
        cameras: list[CameraConfig],
        queue_path: Path,
        client_id: str | None = None,
        *,
        max_inflight: int = 20,
        reconnect_delay: tuple[float, float] = (0.5, 60.0),
        connect_timeout: float = 5.0,
    ) -> None:
        self._config = config
        self._site = site
        self._client_id = client_id or f"onsight-{site}-{uuid.uuid4().hex[:8]}"
        self._max_inflight = max_inflight
        self._min_delay, self._max_delay = reconnect_delay
        self._connect_timeout = connect_timeout
        self._queue = DiskQueue(queue_path, config.queue_max)
        self._endpoint = f"{config.host}:{config.port}"

        self._discovery_lock = threading.Lock()
        self._discovery = discovery_messages(config, site, cameras) if config.discovery else {}
        self._discovery_retired: set[str] = set()
        self._discovery_dirty = False
        self._audit_head: bytes | None = None  # latest audit head message, guarded as above
        self._audit_dirty = False

        self.delivered = 0
        self.reconnects = 0
        self.connected = False
        self._write_failures = 0
        self._connections = 0
        self._log_state = ""  # last connection state logged: "up", "lost" or "failed"

        self._closing = threading.Event()
        self._kick = threading.Event()  # cuts a back-off wait short when close() is called
        self._deadline = float("inf")
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._thread.start()

    # -- the sink interface (bus writer thread) ------------------------------------------

    def write(self, events: Sequence[Event]) -> None:
        if self._closed:
            raise RuntimeError("MqttSink is closed")
        items: list[QueueItem] = []
        for event in events:
            message = to_message(event)
            topic = message.topic(self._config.topic_prefix, self._site)
            items.append((str(message.payload["id"]), topic, message.encoded(), message.retain))
        try:
            self._queue.put(items)
        except OnsightError as exc:  # e.g. disk full: count the loss, never stop the pipeline
            self._write_failures += len(items)
            log.error("MQTT: %s; %d events not queued", exc, len(items))

    def update_cameras(self, cameras: list[CameraConfig]) -> None:
        """Re-announce discovery after lines/zones change; entities that went are removed."""
        if not self._config.discovery:
            return
        fresh = discovery_messages(self._config, self._site, cameras)
        with self._discovery_lock:
            self._discovery_retired |= set(self._discovery) - set(fresh)
            self._discovery_retired -= set(fresh)
            self._discovery = fresh
            self._discovery_dirty = True

    def publish_audit_head(self, payload: bytes) -> None:
        """Publish (retained, QoS 1) the audit head now if connected, else on connecting."""
        with self._discovery_lock:
            self._audit_head = payload
            self._audit_dirty = True

    def close(self, timeout: float = 5.0) -> None:
        """Try to deliver what is queued, say "offline", disconnect. The rest stays on disk."""
        if self._closed:
            return
        self._deadline = time.monotonic() + timeout
        self._closing.set()
        self._kick.set()
        self._thread.join(timeout + self._connect_timeout + _GOODBYE_SECONDS + 1.0)
        if self._thread.is_alive():  # stuck in a connect; it is a daemon, leave the queue to it
            log.warning("MQTT publisher did not stop in time; queued events stay on disk")
            return
        self._closed = True
        self._queue.close()

    # -- metrics --------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return self._queue.pending

    @property
    def dropped(self) -> int:
        return self._queue.dropped + self._write_failures

    # -- publisher thread -----------------------------------------------------------------

    def _finished(self) -> bool:
        if not self._closing.is_set():
            return False
        return self._queue.pending == 0 or time.monotonic() >= self._deadline

    def _run(self) -> None:
        delay = self._min_delay
        while not self._finished():
            client = self._new_client()
            try:
                if self._connect(client):
                    started = time.monotonic()
                    self._session(client)
                    # A broker that drops us at once must not be hammered: reset the back-off
                    # only after a session that lasted.
                    if time.monotonic() - started >= _STABLE_SECONDS:
                        delay = self._min_delay
            except OnsightError as exc:  # the queue file failed, e.g. disk full
                log.error("MQTT publisher: %s", exc)
            except Exception:  # never let the publisher die: the queue is safe on disk
                log.exception("MQTT publisher error")
            finally:
                self._drop(client)
            if self._finished():
                return
            wait = random.uniform(delay / 2, delay)  # jitter spreads reconnecting clients
            if self._closing.is_set():
                wait = min(wait, max(0.0, self._deadline - time.monotonic()))
            self._kick.wait(wait)
            self._kick.clear()
            delay = min(delay * 2, self._max_delay)

    def _new_client(self) -> paho.Client:
        config = self._config
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            clean_session=True,  # un-acked rows are re-sent from disk, not from a broker session
            protocol=paho.MQTTv311,
        )
        client.connect_timeout = self._connect_timeout
        client.max_inflight_messages_set(self._max_inflight + 1)  # + the status message
        if config.username is not None:
            client.username_pw_set(config.username, config.password)
        if config.tls:
            client.tls_set()
        client.will_set(status_topic(config, self._site), "offline", qos=1, retain=True)
        return client

    def _connect(self, client: paho.Client) -> bool:
        """Connect and wait for the CONNACK; log a failure once per change of state."""
        result: list[ReasonCode] = []

        def on_connect(
            _c: paho.Client, _u: Any, _f: paho.ConnectFlags, reason: ReasonCode, _p: Any
        ) -> None:
            result.append(reason)

        client.on_connect = on_connect
        problem = ""
        try:
            client.connect(self._config.host, self._config.port, self._config.keepalive_seconds)
            give_up = time.monotonic() + self._connect_timeout
            while not result and time.monotonic() < give_up:
                if client.loop(timeout=_IDLE_POLL) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
            if not result:
                problem = "no answer from the broker"
            elif result[0].is_failure:
                problem = f"refused: {result[0].getName()}"
        except (OSError, ValueError) as exc:  # refused, unreachable, DNS, TLS
            problem = str(exc) or type(exc).__name__
        if problem:
            if self._log_state != "failed":
                log.warning(
                    "cannot connect to MQTT broker %s (%s); events wait on disk, retrying",
                    self._endpoint,
                    problem,
                )
                self._log_state = "failed"
            return False
        self._connections += 1
        self.reconnects = self._connections - 1
        self.connected = True
        if self._log_state != "up":
            log.info("connected to MQTT broker %s", self._endpoint)
            self._log_state = "up"
        return True

    def _session(self, client: paho.Client) -> None:
        """Publish until the connection drops or close() is done with it."""
        inflight: dict[int, int] = {}  # paho message id -> queue seq
        acked: list[int] = []
        last_sent = 0

        def on_publish(_c: paho.Client, _u: Any, mid: int, _r: ReasonCode, _p: Any) -> None:
            seq = inflight.pop(mid, None)
            if seq is not None:
                acked.append(seq)

        client.on_publish = on_publish
        client.publish(status_topic(self._config, self._site), "online", qos=1, retain=True)
        self._announce(client, everything=True)
        self._publish_audit_head(client, everything=True)
        try:
            while True:
                rc = client.loop(timeout=_IDLE_POLL)  # returns early on any traffic
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or not client.is_connected():
                    self._lost("connection lost" + (f" ({rc.name})" if rc else ""))
                    return
                if acked:
                    self._queue.ack(acked)
                    self.delivered += len(acked)
                    acked.clear()
                if self._discovery_dirty:
                    self._announce(client, everything=False)
                if self._audit_dirty:
                    self._publish_audit_head(client, everything=False)
                if self._closing.is_set() and (
                    (not inflight and self._queue.pending == 0)
                    or time.monotonic() >= self._deadline
                ):
                    self._goodbye(client)
                    return
                room = self._max_inflight - len(inflight)
                for row in self._queue.peek(room, after=last_sent) if room > 0 else []:
                    info = client.publish(row.topic, row.payload, qos=1, retain=row.retain)
                    if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                        self._lost(f"publish failed: {info.rc.name}")
                        return
                    inflight[info.mid] = row.seq
                    last_sent = row.seq
        finally:
            self.connected = False

    def _announce(self, client: paho.Client, everything: bool) -> None:
        with self._discovery_lock:
            if not everything and not self._discovery_dirty:
                return
            messages = dict(self._discovery)
            retired = set(self._discovery_retired)
            self._discovery_dirty = False
        for topic in retired:  # an empty retained message removes the entity
            client.publish(topic, b"", qos=1, retain=True)
        for topic, payload in messages.items():
            client.publish(topic, payload, qos=1, retain=True)

    def _publish_audit_head(self, client: paho.Client, everything: bool) -> None:
        with self._discovery_lock:
            payload = self._audit_head
            if payload is None or (not everything and not self._audit_dirty):
                return
            self._audit_dirty = False
        client.publish(audit_topic(self._config, self._site), payload, qos=1, retain=True)

    def _goodbye(self, client: paho.Client) -> None:
        info = client.publish(status_topic(self._config, self._site), "offline", qos=1, retain=True)
        give_up = time.monotonic() + _GOODBYE_SECONDS
        while not info.is_published() and time.monotonic() < give_up:
            if client.loop(timeout=_IDLE_POLL) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        client.disconnect()

    def _lost(self, why: str) -> None:
        self.connected = False
        log.warning("MQTT broker %s: %s; events wait on disk, reconnecting", self._endpoint, why)
        self._log_state = "lost"

    @staticmethod
    def _drop(client: paho.Client) -> None:
        """Close the client's sockets now rather than whenever it is garbage-collected."""
        try:
            if client.is_connected():
                client.disconnect()
        except (OSError, ValueError):
            pass
        finally:
            client.__del__()  # paho's only public-ish way to close its wake-up socket pair
