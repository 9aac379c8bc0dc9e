"""The fleet config (`onsight fleet serve --config fleet.yaml`): optional, every field has a
default, and the command line's --mqtt/--database/--host/--port win over it.

```yaml
mqtt:
  url: mqtts://fleet@broker.example.com:8883
  password: ${FLEET_MQTT_PASSWORD}
database: postgresql://fleet:${FLEET_DB_PASSWORD}@db.example.com/fleet
sites: [shop-01, shop-02]      # only these sites are stored; others are dead-lettered
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from onsight.config._base import NAME_PATTERN, Strict
from onsight.config.loader import load_model
from onsight.config.service import ServerConfig
from onsight.fleet.messages import MAX_MESSAGE_BYTES


class FleetMqtt(Strict):
    url: str | None = Field(
        None, description="mqtt://[user@]host[:port] or mqtts://... (TLS); --mqtt wins."
    )
    password: str | None = Field(
        None,
        description="Broker password; use ${ENV}. Default: $ONSIGHT_FLEET_MQTT_PASSWORD.",
    )
    ca_file: str | None = Field(None, description="CA bundle for mqtts:// (default: system's).")
    topic_prefix: str = Field(
        "onsight",
        pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
        description="The sites' mqtt.topic_prefix.",
    )
    share_group: str | None = Field(
        "onsight-fleet",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Subscribe as $share/<group>/... so several ingesters split the load; "
        "null for a broker without shared subscriptions (then run one ingester).",
    )
    client_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Stable MQTT client id (the broker keeps its session); default "
        "onsight-fleet-<hostname>. Each ingester needs its own.",
    )
    max_message_bytes: int = Field(
        MAX_MESSAGE_BYTES, ge=1024, le=1024 * 1024, description="Larger messages are refused."
    )


class FleetConfig(Strict):
    mqtt: FleetMqtt = Field(default_factory=FleetMqtt, description="The broker sites publish to.")
    database: str | None = Field(
        None, description="postgresql://user:${PASSWORD}@host[:port]/db; --database wins."
    )
    sites: list[Annotated[str, Field(pattern=NAME_PATTERN)]] | None = Field(
        None, description="Only these sites are stored (others dead-lettered); null: any site."
    )
    events_days: int = Field(
        30,
        ge=1,
        le=3650,
        description="Days the fleet database keeps events and aggregates (and dead letters), "
        "as a site does; older rows are deleted every hour.",
    )
    stale_minutes: int = Field(
        15, ge=1, le=7 * 24 * 60, description="A site silent this long is flagged."
    )
    data_dir: str = Field(
        "onsight-fleet",
        description="The dashboard's users and audit log (relative to the config file).",
    )
    server: ServerConfig = Field(
        default_factory=ServerConfig, description="Dashboard sessions and login limits."
    )

    def allowed_sites(self) -> frozenset[str] | None:
        return None if self.sites is None else frozenset(self.sites)


def load_fleet_config(path: Path | None) -> tuple[FleetConfig, Path, tuple[str, ...]]:
    """The config, the folder relative paths are read from, and the secrets to hide."""
    if path is None:
        return FleetConfig(), Path.cwd(), ()
    config, secrets = load_model(path, FleetConfig, "a `database:` or `mqtt:` section")
    return config, path.resolve().parent, secrets
