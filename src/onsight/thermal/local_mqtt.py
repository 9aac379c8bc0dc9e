"""The screening station's link to the site's own MQTT broker: room sensor in, alerts out.

Alerts carry only that an alert happened, where and when (`station.alert_message`): never a
temperature, an image or an identity. They are not queued: a stale alert is no use to anyone.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from onsight.config.service import MqttConfig

log = logging.getLogger(__name__)

RoomCallback = Callable[[float, float], None]  # ambient °C, relative humidity %


class LocalMqtt:
    def __init__(self, config: MqttConfig, client_id: str) -> None:
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if config.username is not None:
            self._client.username_pw_set(config.username, config.password)
        if config.tls:
            self._client.tls_set()
        self._client.reconnect_delay_set(min_delay=1, max_delay=60)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._subscriptions: dict[str, RoomCallback] = {}
        self._lock = threading.Lock()
        self._config = config
        self._warned: set[str] = set()
        self._connected = threading.Event()

    def start(self, wait_seconds: float = 5.0) -> None:
        """Connect in the background; wait briefly so the first alert is not missed."""
        self._client.connect_async(
            self._config.host, self._config.port, keepalive=self._config.keepalive_seconds
        )
        self._client.loop_start()
        if not self._connected.wait(wait_seconds):
            log.warning(
                "local MQTT broker %s:%d not reachable yet: screening alerts are shown on the "
                "station display only until it is",
                self._config.host,
                self._config.port,
            )

    def on_room_reading(self, topic: str, callback: RoomCallback) -> None:
        with self._lock:
            self._subscriptions[topic] = callback
        self._client.subscribe(topic, qos=1)

    def publish_alert(self, topic: str, message: dict[str, str]) -> None:
        if not self._client.is_connected():
            log.warning("screening alert not sent: the local MQTT broker is not connected")
            return
        self._client.publish(topic, json.dumps(message), qos=1)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, *_: Any
    ) -> None:
        if reason.is_failure:
            log.warning("local MQTT broker refused the connection: %s", reason)
            return
        self._connected.set()
        with self._lock:
            topics = list(self._subscriptions)
        for topic in topics:
            client.subscribe(topic, qos=1)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            callback = self._subscriptions.get(msg.topic)
        if callback is None:
            return
        try:
            data = json.loads(msg.payload)
            ambient, humidity = float(data["ambient_c"]), float(data["humidity_pct"])
        except (ValueError, KeyError, TypeError):
            if msg.topic not in self._warned:
                self._warned.add(msg.topic)
                log.warning(
                    "room sensor on %s: expected JSON {\"ambient_c\": .., \"humidity_pct\": ..}",
                    msg.topic,
                )
            return
        callback(ambient, humidity)
