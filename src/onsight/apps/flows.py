"""Flows: how many people went from one line or zone of a camera to another, per hour.

While a visit is alive (`visits.VisitKeys`: an id switch does not end it) onsight keeps only
two names for it, in memory: the first place it was seen at (a zone it stood in, or a line
it crossed) and the latest other place. No sequence of places is kept, and when the visit
ends (unseen for `_END_S`) only the pair is counted. Per hour a pair is released only when at
least 5 people made it (privacy rule 2); the people of the pairs left out are released as
one `other` -> `other` total.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from onsight.apps.base import AppKind, Column, EventType
from onsight.apps.occupancy import of_classes
from onsight.apps.visits import VisitKeys
from onsight.config._base import Strict
from onsight.geometry import Point, points_in_polygon, step_crosses
from onsight.privacy.kanon import K
from onsight.types import Stamped, Tracks

if TYPE_CHECKING:
    from onsight.config.models import CameraConfig

_END_S = 5.0  # a visit unseen this long has ended
OTHER = "other"


class FlowsConfig(Strict):
    classes: list[str] = Field(
        default_factory=lambda: ["person"], min_length=1, description="Object classes followed."
    )

    @property
    def name(self) -> str:
        return "flows"


@dataclass(frozen=True, slots=True)
class FlowHour(Stamped):
    """People who went from `origin` to `destination` in one hour (>= k), or the total of the
    pairs left out (`other` -> `other`)."""

    hour: datetime
    camera: str
    origin: str  # "line:NAME" or "zone:NAME", or "other"
    destination: str
    people: int

    @property
    def kind(self) -> str:
        return "flow_hour"


@dataclass(slots=True)
class _Visit:
    origin: str | None
    destination: str | None
    point: tuple[float, float]
    seen: float


class Flows:
    def __init__(
        self,
        camera: str,
        config: FlowsConfig,
        class_names: list[str],
        lines: dict[str, tuple[Point, Point]],
        zones: dict[str, list[Point]],
    ) -> None:
        self.camera, self.config = camera, config
        self._names, self._classes = class_names, set(config.classes)
        self._lines, self._zones = lines, zones
        self._keys = VisitKeys(forget_after_s=_END_S * 2)
        self._visits: dict[int, _Visit] = {}
        self._hour: datetime | None = None
        self._pairs: Counter[tuple[str, str]] = Counter()
        self.journeys = 0  # visits that went from one place to another, since start

    def update(self, tracks: Tracks) -> list[FlowHour]:
        wanted = of_classes(tracks, self._classes, self._names)
        mine = tracks.select(wanted)
        hour = tracks.wall_time.replace(minute=0, second=0, microsecond=0)
        events = self._close_hour() if self._hour is not None and hour != self._hour else []
        self._hour = hour
        feet = mine.bottom_centres()
        for i, key in enumerate(self._keys.keys(mine)):
            point = (float(feet[i, 0]), float(feet[i, 1]))
            visit = self._visits.get(key)
            places = self._zones_at(point)
            if visit is not None:
                places = self._lines_crossed(visit.point, point) + places
            else:
                visit = self._visits[key] = _Visit(None, None, point, tracks.pts)
            for place in places:
                if visit.origin is None:
                    visit.origin = place
                elif place != visit.origin:
                    visit.destination = place
            visit.point, visit.seen = point, tracks.pts
        for key, visit in list(self._visits.items()):
            if tracks.pts - visit.seen > _END_S:
                self._end(self._visits.pop(key))
        return events

    def flush(self) -> list[FlowHour]:
        for visit in self._visits.values():
            self._end(visit)
        self._visits.clear()
        return self._close_hour()

    def _end(self, visit: _Visit) -> None:
        if visit.origin is not None and visit.destination is not None:
            self._pairs[(visit.origin, visit.destination)] += 1
            self.journeys += 1

    def _zones_at(self, point: tuple[float, float]) -> list[str]:
        here = np.array([point], np.float32)
        return [
            f"zone:{name}"
            for name, polygon in self._zones.items()
            if points_in_polygon(polygon, here)[0]
        ]

    def _lines_crossed(self, p: tuple[float, float], q: tuple[float, float]) -> list[str]:
        return [f"line:{name}" for name, (a, b) in self._lines.items() if step_crosses(a, b, p, q)]

    def _close_hour(self) -> list[FlowHour]:
        pairs, self._pairs = self._pairs, Counter()
        if self._hour is None or not pairs:
            return []
        released = [
            FlowHour(self._hour, self.camera, origin, destination, people)
            for (origin, destination), people in sorted(pairs.items())
            if people >= K
        ]
        left_out = sum(people for people in pairs.values() if people < K)
        if left_out:
            released.append(FlowHour(self._hour, self.camera, OTHER, OTHER, left_out))
        return released

    def summary(self) -> dict[str, Any]:
        return {"journeys": self.journeys}


def _build(camera: CameraConfig, item: FlowsConfig, names: list[str]) -> Flows:
    lines = {
        line.name: ((line.points[0][0], line.points[0][1]), (line.points[1][0], line.points[1][1]))
        for line in camera.lines
    }
    zones = {zone.name: [(p[0], p[1]) for p in zone.polygon] for zone in camera.zones}
    return Flows(camera.name, item, names, lines, zones)


FLOW_HOUR = EventType(
    kind="flow_hour",
    event=FlowHour,
    table="flow_hours",
    time_column="hour",
    name_column="origin",
    topic="flow",
    label="hourly flows between lines and zones (at least 5 people per pair)",
    description="People who went from one line or zone to another in one hour (time: start "
    "of the hour); pairs under 5 people are summed as other -> other.",
    columns=(
        Column("destination", "TEXT", "Where they went: line:NAME, zone:NAME or other."),
        Column("people", "INTEGER", "People who made this journey."),
    ),
    key=("hour", "camera", "origin", "destination"),
    merge="DO UPDATE SET people = people + excluded.people",
)

KIND: AppKind[FlowsConfig, Flows] = AppKind(
    name="flows",
    section="flows",
    config=FlowsConfig,
    build=_build,
    events=(FLOW_HOUR,),
    measures="how many people go from one counting line or area to another, per hour, only "
    "for journeys at least 5 people made; never anyone's path",
    purposes=frozenset({"footfall", "occupancy", "operations"}),
    heading="Flows",
    describe=lambda item: "between this camera's lines and areas",
    summary=Flows.summary,
    single=True,
    reads=("lines", "zones"),
)
