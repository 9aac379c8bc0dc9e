"""One JSON shape per event, shared by MQTT, webhooks and the API, read off the registry.

Topics are `<prefix>/<site>/<camera>/<topic>/<name>`, where <topic> is the event type's
(`line`, `zone`, `dwell`, ...); payload times are UTC ISO-8601 with `Z`. Every message
carries the event's `id` (`types.Stamped`, made when the event was), the same in SQLite, every
sink and the API, so a consumer can drop the duplicates that at-least-once delivery allows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from onsight.apps.base import EventType, Value
from onsight.apps.registry import event_type
from onsight.types import Event, utc_iso

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    kind: str
    camera: str
    app: str  # the topic's <app> level, e.g. "line"
    name: str  # the line, zone, ... name: the topic's <name> level
    retain: bool  # state (occupancy) is retained; one-off events are not
    payload: JSON

    def topic(self, prefix: str, site: str) -> str:
        return f"{prefix}/{site}/{self.camera}/{self.app}/{self.name}"

    def encoded(self) -> bytes:
        """The payload as sent: compact JSON."""
        return json.dumps(self.payload, separators=(",", ":")).encode()


def to_message(event: Event) -> Message:
    """The message for one event, under the event's own id."""
    spec = event_type(event.kind)
    return record_message(spec, event.event_id, spec.record(event))


def record_message(
    spec: EventType, event_id: str, values: Mapping[str, Value | datetime]
) -> Message:
    """The message for one record (an event's, or a stored row's: times as datetimes or
    as stored UTC text)."""
    payload: JSON = {"id": event_id, "kind": spec.kind}
    when = values[spec.time_column]
    payload["time"] = utc_iso(when) if isinstance(when, datetime) else str(when)
    for alias, source in spec.payload_aliases.items():
        payload[alias] = values[source]
    for column in spec.columns:
        value = values[column.name]
        if column.decimals is not None and isinstance(value, float):
            value = round(value, column.decimals)
        payload[column.name] = value
    return Message(
        spec.kind,
        str(values["camera"]),
        spec.topic,
        str(values[spec.name_column]),
        spec.retain,
        payload,
    )
