"""Events: one bus, sinks (SQLite by default)."""

from onsight.events.bus import EventBus, Sink
from onsight.events.store import EventStore
from onsight.types import utc_iso

__all__ = ["EventBus", "EventStore", "Sink", "utc_iso"]
