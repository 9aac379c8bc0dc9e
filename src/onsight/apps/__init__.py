"""Apps turn each frame's tracks into typed events; `registry` lists the kinds.

The app classes load on first use: the app modules' config models are part of the camera
config schema, which must be importable before any app module is.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onsight.apps.dwell import ZoneDwellTimer
    from onsight.apps.line_count import LineCounter
    from onsight.apps.occupancy import ZoneOccupancy

_EXPORTS = {
    "LineCounter": "onsight.apps.line_count",
    "ZoneDwellTimer": "onsight.apps.dwell",
    "ZoneOccupancy": "onsight.apps.occupancy",
}

__all__ = ["LineCounter", "ZoneDwellTimer", "ZoneOccupancy"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(name)
    return getattr(importlib.import_module(_EXPORTS[name]), name)
