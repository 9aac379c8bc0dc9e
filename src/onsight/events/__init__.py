"""Events: one bus, sinks (SQLite by default)."""

from onsight.events.bus import EventBus, Sink
from onsight.events.store import EventStore, utc_iso

__all__ = ["EventBus", "EventStore", "Sink", "utc_iso"]
