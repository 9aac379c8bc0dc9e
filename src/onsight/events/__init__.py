"""Events: one bus, sinks (SQLite by default). The names load on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from onsight._lazy import lazy_exports

if TYPE_CHECKING:
    from onsight.events.bus import EventBus, Sink
    from onsight.events.store import EventStore
    from onsight.types import utc_iso

_EXPORTS = {
    "EventBus": "onsight.events.bus",
    "Sink": "onsight.events.bus",
    "EventStore": "onsight.events.store",
    "utc_iso": "onsight.types",
}

__all__ = ["EventBus", "EventStore", "Sink", "utc_iso"]

__getattr__ = lazy_exports(_EXPORTS)
