"""Zone occupancy: how many tracked objects stand in a zone (bottom centre of the box inside)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from onsight.config.models import ZoneConfig
from onsight.geometry import points_in_polygon
from onsight.types import Tracks, ZoneMinute

BoolArray = npt.NDArray[np.bool_]


def in_zone(
    tracks: Tracks, polygon: list[tuple[float, float]], classes: set[str], class_names: list[str]
) -> BoolArray:
    """Which tracks are of a counted class and stand in the zone (bottom centre inside)."""
    wanted = np.array([class_names[int(c)] in classes for c in tracks.class_id], bool)
    inside: BoolArray = points_in_polygon(polygon, tracks.bottom_centres()) & wanted
    return inside


@dataclass(slots=True)
class _Minute:
    start: datetime
    total: int = 0
    peak: int = 0
    samples: int = 0


@dataclass
class ZoneOccupancy:
    """Per-frame occupancy of one zone, with run totals and per-minute aggregates."""

    camera: str
    config: ZoneConfig
    class_names: list[str]
    current: int = 0
    peak: int = 0
    frames: int = 0
    _sum: int = 0
    _minute: _Minute | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._polygon = [(p[0], p[1]) for p in self.config.polygon]
        self._classes = set(self.config.classes)

    @property
    def mean(self) -> float:
        return self._sum / self.frames if self.frames else 0.0

    def update(self, tracks: Tracks) -> list[ZoneMinute]:
        """Count this frame; returns the previous minute's aggregate when a minute closes."""
        inside = in_zone(tracks, self._polygon, self._classes, self.class_names)
        self.current = int(inside.sum())
        self.peak = max(self.peak, self.current)
        self.frames += 1
        self._sum += self.current
        closed: list[ZoneMinute] = []
        start = tracks.wall_time.replace(second=0, microsecond=0)
        if self._minute is not None and self._minute.start != start:
            closed.append(self._close())
        if self._minute is None:
            self._minute = _Minute(start)
        self._minute.total += self.current
        self._minute.peak = max(self._minute.peak, self.current)
        self._minute.samples += 1
        return closed

    def flush(self) -> list[ZoneMinute]:
        """Emit the current, partial minute (at the end of a file or on shutdown)."""
        return [self._close()] if self._minute is not None else []

    def _close(self) -> ZoneMinute:
        minute, self._minute = self._minute, None
        assert minute is not None
        return ZoneMinute(
            minute=minute.start,
            camera=self.camera,
            zone=self.config.name,
            class_name="+".join(sorted(self._classes)),
            mean=minute.total / minute.samples,
            peak=minute.peak,
            samples=minute.samples,
        )
