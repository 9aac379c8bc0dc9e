"""The fleet ingester: the sites' MQTT messages into PostgreSQL, acknowledged only once stored.

It holds a persistent MQTT v5 session (QoS 1, manual acks), so whatever it has not yet
acknowledged stays with the broker: if the ingester is killed, or PostgreSQL is down, the
broker keeps the messages and delivers them again. Rows are inserted by event id, so a
message delivered twice is stored once. Several ingesters may share the load through an MQTT
shared subscription (`$share/<group>/...`), each with its own client id.

Messages are taken in batches (up to `batch_size`, or what arrived within `batch_wait`
seconds of the first), stored in one transaction, then acknowledged in arrival order. A
message that cannot be stored (malformed, oversized, an unknown site, refused by a CHECK)
is dead-lettered, counted and acknowledged; it never stops the ingester.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from onsight.apps.registry import event_type
from onsight.errors import OnsightError
from onsight.fleet.messages import MAX_MESSAGE_BYTES, SiteStatus, parse
from onsight.fleet.schema import DeadLetter, FleetDatabase, FleetDatabaseUnavailable, FleetRow

log = logging.getLogger(__name__)

PASSWORD_ENV = "ONSIGHT_FLEET_MQTT_PASSWORD"
CA_ENV = "ONSIGHT_FLEET_MQTT_CA"  # a CA bundle for mqtts:// (default: the system's)
SESSION_EXPIRY_SECONDS = 7 * 24 * 3600  # the broker keeps our queue through a week's outage
# Unacknowledged messages the broker may send us (the MQTT maximum). They wait in memory,
# safe until acked; a broker queues only what is beyond this, and mosquitto by default
# queues at most 1,000 per client and drops the rest (see docs/fleet.md).
_RECEIVE_MAXIMUM = 65535
# CONNACK reasons no retry will cure: bad user name or password, not authorised.
_REFUSED_FOR_GOOD = (134, 135)
_RETENTION_INTERVAL = 3600.0  # seconds between retention runs
_RETRY_SECONDS = (0.5, 5.0)  # first and longest wait between tries while PostgreSQL is down


@dataclass(frozen=True)
class Broker:
    """Where the ingester subscribes. The password and CA come from the environment."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None

    @classmethod
    def from_url(cls, url: str, environ: dict[str, str] | None = None) -> Broker:
        """`mqtt://[user@]host[:port]` or `mqtts://...`; the password is read from
        $ONSIGHT_FLEET_MQTT_PASSWORD, never from the URL (it would show in `ps`)."""
        env = os.environ if environ is None else environ
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise OnsightError("--mqtt must look like mqtt://[user@]host[:port] (or mqtts://)")
        if parts.password is not None:
            raise OnsightError(f"--mqtt: put the broker password in ${PASSWORD_ENV}, not the URL")
        if parts.path not in ("", "/") or parts.query:
            raise OnsightError("--mqtt takes no path or query: mqtt://[user@]host[:port]")
        try:
            port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        except ValueError:
            raise OnsightError("--mqtt: the port must be a number from 1 to 65535") from None
        username = unquote(parts.username) if parts.username else None
        password = env.get(PASSWORD_ENV) or None
        if password is not None and username is None:
            raise OnsightError(f"${PASSWORD_ENV} is set but --mqtt names no user (user@host)")
        return cls(
            parts.hostname, port, username, password, parts.scheme == "mqtts", env.get(CA_ENV)
        )

    def __str__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


@dataclass
class IngestStats:
    """Counters since start (`/metrics` and the last log line show them)."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    statuses: int = 0
    batches: int = 0
    database_outages: int = 0
    connections: int = 0
    connected: bool = False
    subscribed: bool = False
    last_message: datetime | None = None
    expired: int = 0  # rows older than the retention, not stored


class Ingester:
    def __init__(
        self,
        broker: Broker,
        database: FleetDatabase,
        *,
        prefix: str = "onsight",
        sites: frozenset[str] | None = None,
        share_group: str | None = "onsight-fleet",
        client_id: str | None = None,
        batch_size: int = 500,
        batch_wait: float = 0.05,
        keep: timedelta | None = None,
        max_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self._broker = broker
        self._database = database
        self._prefix = prefix
        self._sites = sites
        self._batch_size = batch_size
        self._batch_wait = batch_wait
        self._max_bytes = max_bytes
        self._keep = keep  # retention: older rows are not stored, and deleted every hour
        self._next_expiry = 0.0
        pattern = f"{prefix}/+/+/#"
        self.topic = f"$share/{share_group}/{pattern}" if share_group else pattern
        self.client_id = client_id or f"onsight-fleet-{socket.gethostname()}"
        self.stats = IngestStats()
        # (connection number, message): an ack is sent only on the connection it came by
        self._inbox: queue.Queue[tuple[int, paho.MQTTMessage]] = queue.Queue()
        self._generation = 0
        # Held while a connection number changes and while acking: an ack never goes out on
        # a newer connection than its message came by.
        self._ack_lock = threading.Lock()
        self._stopping = False
        self._fatal: str | None = None  # the broker refused us for good (bad credentials)
        self._client = self._make_client()

    # -- MQTT --------------------------------------------------------------------------------

    def _make_client(self) -> paho.Client:
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv5,
            manual_ack=True,
        )
        if self._broker.username is not None:
            client.username_pw_set(self._broker.username, self._broker.password)
        if self._broker.tls:
            client.tls_set(ca_certs=self._broker.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _on_connect(
        self, client: paho.Client, _u: Any, flags: Any, reason: ReasonCode, _p: Any
    ) -> None:
        if reason.is_failure:
            if reason.value in _REFUSED_FOR_GOOD:
                self._fatal = f"the broker {self._broker} refused the login: {reason}"
            log.error("fleet: broker %s refused the connection: %s", self._broker, reason)
            return
        with self._ack_lock:
            self._generation += 1
        self.stats.connections += 1
        self.stats.connected = True
        resumed = bool(getattr(flags, "session_present", False))
        log.info(
            "fleet: connected to %s as %s (%s session)",
            self._broker,
            self.client_id,
            "resumed" if resumed else "new",
        )
        # Every event also arrives live (or from this session's queue): retained copies
        # are sent only for a new subscription, not again on every reconnect.
        client.subscribe(self.topic, options=SubscribeOptions(qos=1, retainHandling=1))

    def _on_subscribe(
        self, _c: paho.Client, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Any
    ) -> None:
        refused = [reason for reason in reasons if reason.is_failure]
        if refused:  # e.g. a broker without shared subscriptions: say so, loudly
            log.error(
                "fleet: the broker refused the subscription %s (%s)%s",
                self.topic,
                refused[0],
                "; set mqtt.share_group: null for a broker without shared subscriptions"
                if self.topic.startswith("$share/")
                else "",
            )
        self.stats.subscribed = not refused

    def _on_disconnect(
        self, _c: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any
    ) -> None:
        self.stats.connected = False
        if not self._stopping:
            log.warning("fleet: disconnected from %s (%s); reconnecting", self._broker, reason)

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        self._inbox.put((self._generation, message))

    # -- the loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; what is in hand but not stored is left to the broker."""
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        properties.ReceiveMaximum = _RECEIVE_MAXIMUM
        try:
            self._client.connect_async(
                self._broker.host, self._broker.port, clean_start=False, properties=properties
            )
        except (OSError, ValueError) as exc:
            raise OnsightError(f"fleet: cannot connect to {self._broker}: {exc}") from None
        self._client.loop_start()
        try:
            while not stop.is_set():
                if self._fatal is not None:
                    raise OnsightError(self._fatal)
                self._expire()
                batch = self._next_batch(stop)
                if batch and self._store(batch, stop):
                    self._ack(batch)
        finally:
            self._stopping = True
            self._client.disconnect()
            self._client.loop_stop()

    def _expire(self) -> None:
        """Delete what is older than the retention, at start and then every hour."""
        if self._keep is None or time.monotonic() < self._next_expiry:
            return
        try:
            dropped = self._database.expire(datetime.now(UTC) - self._keep)
        except FleetDatabaseUnavailable as exc:
            log.warning("fleet: retention postponed: %s", exc)
            return
        self._next_expiry = time.monotonic() + _RETENTION_INTERVAL
        if any(dropped.values()):
            log.info("fleet: retention deleted %d rows", sum(dropped.values()))

    def _expired(self, row: FleetRow, now: datetime) -> bool:
        if self._keep is None:
            return False
        spec = event_type(row.kind)
        return cast(datetime, row.values[spec.time_column]) < now - self._keep

    def _next_batch(self, stop: threading.Event) -> list[tuple[int, paho.MQTTMessage]]:
        try:
            batch = [self._inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        until = time.monotonic() + self._batch_wait
        while len(batch) < self._batch_size and not stop.is_set():
            try:
                batch.append(self._inbox.get(timeout=max(0.0, until - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _store(self, batch: list[tuple[int, paho.MQTTMessage]], stop: threading.Event) -> bool:
        """Store the batch, retrying while PostgreSQL is down; False if stopped first."""
        received = datetime.now(UTC)
        rows: list[FleetRow] = []
        sources: dict[int, paho.MQTTMessage] = {}  # id(row) -> its message, for dead letters
        statuses: list[SiteStatus] = []
        letters: list[DeadLetter] = []
        for _, message in batch:
            parsed = parse(
                message.topic,
                bytes(message.payload),
                prefix=self._prefix,
                sites=self._sites,
                max_bytes=self._max_bytes,
                now=received,
            )
            if isinstance(parsed, FleetRow):
                if self._expired(parsed, received):
                    self.stats.expired += 1
                    continue
                rows.append(parsed)
                sources[id(parsed)] = message
            elif isinstance(parsed, SiteStatus):
                statuses.append(parsed)
            else:
                letters.append(
                    DeadLetter(received, message.topic, parsed.reason, bytes(message.payload))
                )
        wait = _RETRY_SECONDS[0]
        down_since: float | None = None
        while True:
            try:
                result = self._database.insert(rows, received)
                refused = [
                    DeadLetter(
                        received,
                        sources[id(row)].topic,
                        f"refused by the database: {why}",
                        bytes(sources[id(row)].payload),
                    )
                    for row, why in result.refused
                ]
                self._database.dead_letter(letters + refused)
                for status in statuses:
                    self._database.set_site_status(status.site, status.status, received)
                break
            except FleetDatabaseUnavailable as exc:
                if down_since is None:
                    down_since = time.monotonic()
                    self.stats.database_outages += 1
                    log.error("fleet: %s; holding %d messages (not acked)", exc, len(batch))
                if stop.wait(wait):
                    return False
                wait = min(wait * 2, _RETRY_SECONDS[1])
        if down_since is not None:
            log.warning("fleet: the database is back after %.0f s", time.monotonic() - down_since)
        self._count(
            len(batch), result.inserted, result.duplicates, len(statuses), letters + refused
        )
        return True

    def _count(
        self, received: int, stored: int, duplicates: int, statuses: int, letters: list[DeadLetter]
    ) -> None:
        stats = self.stats
        stats.received += received
        stats.stored += stored
        stats.duplicates += duplicates
        stats.statuses += statuses
        stats.batches += 1
        stats.last_message = datetime.now(UTC)
        if letters:
            if stats.dead_lettered < 100 or stats.dead_lettered % 1000 == 0:
                log.warning(
                    "fleet: dead-lettered %d messages, e.g. %r: %s",
                    len(letters),
                    letters[0].topic[:120],
                    letters[0].reason,
                )
            stats.dead_lettered += len(letters)

    def _ack(self, batch: list[tuple[int, paho.MQTTMessage]]) -> None:
        """Acknowledge in arrival order; messages from an earlier connection are not acked
        (the broker delivers them again on this one, and they are stored once)."""
        with self._ack_lock:
            for generation, message in batch:
                if generation == self._generation and message.qos > 0:
                    self._client.ack(message.mid, message.qos)
