"""The tracker interface: detections in pixels in, confirmed tracks (normalised) out."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from onsight.types import Detections, Tracks


class Tracker(Protocol):
    def update(
        self, detections: Detections, width: int, height: int, pts: float, wall_time: datetime
    ) -> Tracks: ...

    @property
    def active(self) -> bool:
        """True while any track (also one briefly lost) is alive: keeps the detector running."""
        ...

    @property
    def confirming(self) -> bool:
        """True while a new track waits for confirming detections: detect the next frame."""
        ...
