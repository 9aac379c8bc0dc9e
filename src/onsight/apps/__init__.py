"""Apps turn each frame's tracks into typed events."""

from onsight.apps.dwell import ZoneDwellTimer
from onsight.apps.line_count import LineCounter
from onsight.apps.occupancy import ZoneOccupancy

__all__ = ["LineCounter", "ZoneDwellTimer", "ZoneOccupancy"]
