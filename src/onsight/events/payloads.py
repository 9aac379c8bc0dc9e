"""One JSON shape per event, shared by MQTT, webhooks and the API, read off the registry.

Topics are `<prefix>/<site>/<camera>/<topic>/<name>`, where <topic> is the event type's
(`line`, `zone`, `dwell`, ...); payload times are UTC ISO-8601 with `Z`. Every message
carries an `id`, made when a sink queues it (each sink makes its own), so a consumer can
drop the duplicates that at-least-once delivery allows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


def to_message(event: Event) -> Message:
    """The message for one event, with a new id (sinks queue it, so a resend keeps it)."""
    spec = event_type(event.kind)
    values = spec.record(event)
    payload: JSON = {"id": uuid.uuid4().hex, "kind": spec.kind}
    when = values[spec.time_column]
    assert isinstance(when, datetime)
    payload["time"] = utc_iso(when)
    for alias, source in spec.payload_aliases.items():
        payload[alias] = values[source]
    for column in spec.columns:
        value = values[column.name]
        if column.decimals is not None and isinstance(value, float):
            value = round(value, column.decimals)
        payload[column.name] = value
    return Message(
        spec.kind, event.camera, spec.topic, str(values[spec.name_column]), spec.retain, payload
    )
