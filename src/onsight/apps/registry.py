"""The app kinds onsight runs. Adding one: its module in `apps/`, and one line in `KINDS`.

The pipeline, store, MQTT, webhooks, API, CSV export, events page and transparency notice
read this list; none of them names a kind. (The camera config also holds each kind's items
in a typed field named by `AppKind.section`.)
"""

from __future__ import annotations

from typing import Any

from onsight.apps import (
    distancing,
    dwell,
    flows,
    heatmap,
    inspection,
    line_count,
    occupancy,
    ppe,
    queue,
    restricted,
    speed,
    station,
)
from onsight.apps.base import AppKind, EventType, Purpose

KINDS: list[AppKind[Any, Any]] = [
    line_count.KIND,
    occupancy.KIND,
    dwell.KIND,
    queue.KIND,
    restricted.KIND,
    station.KIND,
    distancing.KIND,
    heatmap.KIND,
    flows.KIND,
    speed.KIND,
    inspection.KIND,
    ppe.KIND,
]


def kinds() -> list[AppKind[Any, Any]]:
    return list(KINDS)


def event_types() -> list[EventType]:
    return [event for kind in KINDS for event in kind.events]


def event_kinds() -> tuple[str, ...]:
    """Every event kind, e.g. ("crossing", "zone_minute", ...), in registry order."""
    return tuple(event.kind for event in event_types())


def event_type(kind: str) -> EventType:
    for event in event_types():
        if event.kind == kind:
            return event
    raise KeyError(f"no event kind {kind!r}; known: {', '.join(event_kinds())}")


def allowed(purpose: Purpose) -> frozenset[str]:
    """The app kinds a camera with this purpose may run."""
    return frozenset(kind.name for kind in KINDS if purpose in kind.purposes)


def register(kind: AppKind[Any, Any]) -> None:
    """Add a kind at run time (a plugin, or a test's toy kind); its name must be new."""
    if any(existing.name == kind.name for existing in KINDS):
        raise ValueError(f"app kind {kind.name!r} is already registered")
    taken = set(event_kinds())
    clash = [event.kind for event in kind.events if event.kind in taken]
    if clash:
        raise ValueError(f"event kinds {clash} are already registered")
    KINDS.append(kind)


def unregister(name: str) -> None:
    KINDS[:] = [kind for kind in KINDS if kind.name != name]
