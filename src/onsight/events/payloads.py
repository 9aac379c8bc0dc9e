"""One JSON shape per event, shared by MQTT, webhooks and the API.

Topics are `<prefix>/<site>/<camera>/<app>/<name>`; payload times are UTC ISO-8601 with `Z`.
Every message carries an `id`, made when a sink queues it (each sink makes its own), so a
consumer can drop the duplicates that at-least-once delivery allows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from onsight.config.service import EventKind
from onsight.events.store import utc_iso
from onsight.types import Event, LineCrossing, ZoneDwell, ZoneMinute

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    kind: EventKind
    camera: str
    app: str  # "line", "zone" or "dwell": the topic's <app> level
    name: str  # the line or zone name: the topic's <name> level
    retain: bool  # state (occupancy) is retained; one-off events are not
    payload: JSON

    def topic(self, prefix: str, site: str) -> str:
        return f"{prefix}/{site}/{self.camera}/{self.app}/{self.name}"


def to_message(event: Event) -> Message:
    """The message for one event, with a new id (sinks queue it, so a resend keeps it)."""
    ident = uuid.uuid4().hex
    if isinstance(event, LineCrossing):
        return Message(
            "crossing",
            event.camera,
            "line",
            event.line,
            False,
            {
                "id": ident,
                "kind": "crossing",
                "time": utc_iso(event.time),
                "event_type": event.direction,  # Home Assistant's MQTT event entity reads this
                "direction": event.direction,
                "class": event.class_name,
            },
        )
    if isinstance(event, ZoneMinute):
        return Message(
            "zone_minute",
            event.camera,
            "zone",
            event.zone,
            True,
            {
                "id": ident,
                "kind": "zone_minute",
                "time": utc_iso(event.minute),
                "class": event.class_name,
                "mean": round(event.mean, 3),
                "peak": event.peak,
                "samples": event.samples,
            },
        )
    if isinstance(event, ZoneDwell):
        return Message(
            "zone_dwell",
            event.camera,
            "dwell",
            event.zone,
            True,
            {
                "id": ident,
                "kind": "zone_dwell",
                "time": utc_iso(event.hour),
                "class": event.class_name,
                "people": event.people,
                "median_seconds": round(event.median_seconds, 1),
                "p90_seconds": round(event.p90_seconds, 1),
            },
        )
    raise TypeError(f"not an event: {type(event).__name__}")
