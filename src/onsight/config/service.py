"""Config for `onsight serve` and for delivering events elsewhere: web server, MQTT, webhooks."""

from __future__ import annotations

import re
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from onsight.config._base import Strict

# An event kind as an app kind in the registry names it ("crossing", "zone_minute", ...).
EventKind = str
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")


class ServerConfig(Strict):
    users_db: str = Field(
        "onsight-data/users.db",
        description="SQLite file with dashboard users and API tokens (hashed); relative to the "
        "config file.",
    )
    session_hours: float = Field(
        8.0,
        gt=0.0,
        le=24 * 7,
        strict=False,
        description="Idle timeout: a login unused this long ends (enforced by the server; each "
        "use pushes it back and refreshes the cookie).",
    )
    session_max_hours: float = Field(
        24.0 * 7,
        gt=0.0,
        le=24 * 30,
        strict=False,
        description="Absolute lifetime: a login ends this long after it was made, however much "
        "it is used.",
    )
    login_attempts_per_minute: int = Field(
        5,
        ge=1,
        le=100,
        description="Failed logins allowed per client address per minute; failures for one user "
        "name from one address also wait longer each time (1 s doubling to 15 min after 3).",
    )
    live_fps: float = Field(
        2.0, gt=0.0, le=15.0, strict=False, description="Frame rate of the redacted live view."
    )
    public_origins: list[str] = Field(
        default_factory=list,
        description="Addresses browsers use to reach the dashboard when a reverse proxy "
        "rewrites the Host header, e.g. https://onsight.example.com; forms posted from any "
        "other site are refused.",
    )
    server_names: list[str] = Field(
        default_factory=list,
        description="Host names browsers use to reach this server, e.g. onsight.lan; requests "
        "for other names are refused (DNS rebinding). IP addresses, localhost, the --host "
        "address and the hosts of public_origins are always allowed.",
    )

    @field_validator("public_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
                raise ValueError(
                    f"{origin!r} is not an origin: scheme://host[:port], nothing after it"
                )
        return origins

    @field_validator("server_names")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _HOST_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a host name (e.g. onsight.example.com)")
        return names

    @model_validator(mode="after")
    def _idle_within_lifetime(self) -> Self:
        if self.session_hours > self.session_max_hours:
            raise ValueError("server.session_hours must not exceed server.session_max_hours")
        return self


class MqttConfig(Strict):
    host: str = Field("127.0.0.1", min_length=1, description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    username: str | None = Field(None, description="Broker user name, if it needs one.")
    password: str | None = Field(None, description="Broker password; use ${ENV} substitution.")
    tls: bool = Field(False, description="Connect with TLS (system certificate store).")
    topic_prefix: str = Field(
        "onsight",
        pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
        description="First topic level(s): topics are <prefix>/<site>/<camera>/<app>/<name>.",
    )
    queue_path: str = Field(
        "onsight-data/mqtt-queue.db",
        description="On-disk queue that holds events while the broker is unreachable.",
    )
    queue_max: int = Field(
        100_000,
        ge=100,
        description="Most events held while the broker is away; past this the oldest go "
        "(and are counted in /metrics).",
    )
    discovery: bool = Field(True, description="Publish Home Assistant discovery messages.")
    discovery_prefix: str = Field(
        "homeassistant", pattern=r"^[A-Za-z0-9_-]+$", description="Home Assistant's prefix."
    )
    keepalive_seconds: int = Field(30, ge=5, le=3600, description="MQTT keep-alive interval.")

    @model_validator(mode="after")
    def _password_needs_user(self) -> Self:
        if self.password is not None and self.username is None:
            raise ValueError("mqtt.password is set but mqtt.username is not")
        return self


class WebhookConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Webhook name.")
    url: str = Field(description="Where events are POSTed as JSON (http:// or https://).")
    events: list[EventKind] = Field(
        min_length=1, description="Event kinds sent here, e.g. crossing, zone_minute, queue_hour."
    )
    secret: str = Field(
        min_length=16,
        description="Shared secret for the X-Onsight-Signature HMAC-SHA256 header; use ${ENV}.",
    )
    timeout_seconds: float = Field(5.0, gt=0.0, le=60.0, strict=False, description="Per try.")
    max_attempts: int = Field(
        8, ge=1, le=50, description="Tries before an event goes to the dead-letter table."
    )

    @field_validator("events")
    @classmethod
    def _known_kinds(cls, events: list[str]) -> list[str]:
        from onsight.apps.registry import event_kinds  # the app modules use the config

        unknown = sorted(set(events) - set(event_kinds()))
        if unknown:
            raise ValueError(f"unknown event kinds {unknown}; known: {', '.join(event_kinds())}")
        return events

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
            raise ValueError("must be an http:// or https:// URL with a host")
        return url
