"""Zone occupancy: how many tracked objects stand in a zone (bottom centre of the box inside)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from onsight.apps.base import AppKind, Column, Entity, EventType, per_item
from onsight.config._base import NAME_PATTERN, Polygon, Strict, require_area
from onsight.geometry import points_in_polygon
from onsight.types import Tracks, ZoneMinute

BoolArray = npt.NDArray[np.bool_]


class ZoneConfig(Strict):
    name: str = Field(pattern=NAME_PATTERN, description="Zone name, unique within the camera.")
    polygon: Polygon = Field(description="Polygon vertices (normalised 0-1, origin top-left).")
    classes: list[str] = Field(
        default_factory=lambda: ["person"], min_length=1, description="Object classes counted."
    )
    dwell: bool = Field(
        False,
        description="Also report time spent in the zone, as a distribution per hour released "
        "only when at least 5 people contribute.",
    )

    @model_validator(mode="after")
    def _has_area(self) -> Self:
        require_area(self.polygon, "zone")
        return self


def of_classes(tracks: Tracks, classes: set[str], class_names: list[str]) -> BoolArray:
    """Which tracks are of one of `classes` (by the model's class names)."""
    return np.array([class_names[int(c)] in classes for c in tracks.class_id], bool)


def in_zone(
    tracks: Tracks, polygon: list[tuple[float, float]], classes: set[str], class_names: list[str]
) -> BoolArray:
    """Which tracks are of a counted class and stand in the zone (bottom centre inside)."""
    wanted = of_classes(tracks, classes, class_names)
    inside: BoolArray = points_in_polygon(polygon, tracks.bottom_centres()) & wanted
    return inside


@dataclass(frozen=True, slots=True)
class Minute:
    start: datetime  # UTC, start of the minute
    mean: float
    peak: int
    samples: int


@dataclass(slots=True)
class MinuteTally:
    """Mean and peak of a per-frame count over each wall-clock minute."""

    start: datetime | None = None
    total: int = 0
    peak: int = 0
    samples: int = 0

    def add(self, moment: datetime, value: int) -> list[Minute]:
        """Count one frame; returns the previous minute when this frame starts a new one."""
        start = moment.replace(second=0, microsecond=0)
        closed = self.close() if self.start is not None and self.start != start else []
        if self.start is None:
            self.start = start
        self.total += value
        self.peak = max(self.peak, value)
        self.samples += 1
        return closed

    def close(self) -> list[Minute]:
        """The minute in progress (partial at the end of a file or on shutdown), if any."""
        if self.start is None:
            return []
        minute = Minute(self.start, self.total / self.samples, self.peak, self.samples)
        self.start, self.total, self.peak, self.samples = None, 0, 0, 0
        return [minute]


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
    _minutes: MinuteTally = field(default_factory=MinuteTally, repr=False)

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
        return self._events(self._minutes.add(tracks.wall_time, self.current))

    def flush(self) -> list[ZoneMinute]:
        """Emit the current, partial minute (at the end of a file or on shutdown)."""
        return self._events(self._minutes.close())

    def _events(self, minutes: list[Minute]) -> list[ZoneMinute]:
        classes = "+".join(sorted(self._classes))
        return [
            ZoneMinute(m.start, self.camera, self.config.name, classes, m.mean, m.peak, m.samples)
            for m in minutes
        ]


ZONE_MINUTE = EventType(
    kind="zone_minute",
    event=ZoneMinute,
    table="zone_minutes",
    time_column="minute",
    name_column="zone",
    topic="zone",
    label="occupancy per minute",
    description="Occupancy of a zone over one minute (time: start of the minute).",
    columns=(
        Column("class", "TEXT", "Object classes counted, joined by +.", attribute="class_name"),
        Column("mean", "REAL", "Mean number of objects in the zone over the minute.", decimals=3),
        Column("peak", "INTEGER", "Most objects in the zone in one frame."),
        Column("samples", "INTEGER", "Analysed frames the mean is over."),
    ),
    retain=True,
    key=("minute", "camera", "zone", "class"),
    chart_column="mean",
    peak_column="peak",
    chart_title="Mean zone occupancy per 10 minutes",
    # A minute split across two flushes (restart mid-minute) merges by sample weight.
    merge="""DO UPDATE SET
        mean = (mean * samples + excluded.mean * excluded.samples)
               / (samples + excluded.samples),
        peak = max(peak, excluded.peak),
        samples = samples + excluded.samples""",
)


def _entities(zone: ZoneConfig) -> list[Entity]:
    return [
        Entity(
            "sensor",
            zone.name,
            "zone",
            {
                "name": f"{zone.name} occupancy",
                "value_template": "{{ value_json.mean }}",
                "unit_of_measurement": "people",
                "state_class": "measurement",
                "icon": "mdi:account-group",
            },
        )
    ]


def _summary(zone: ZoneOccupancy) -> dict[str, Any]:
    return {"peak": zone.peak, "mean": round(zone.mean, 4)}


KIND: AppKind[ZoneConfig, ZoneOccupancy] = AppKind(
    name="occupancy",
    section="zones",
    config=ZoneConfig,
    build=per_item(ZoneOccupancy),
    events=(ZONE_MINUTE,),
    measures="number of people or vehicles in a zone, as per-minute mean and peak",
    purposes=frozenset({"footfall", "occupancy", "safety", "operations"}),
    heading="Areas",
    describe=lambda zone: f"{zone.name} (also time spent there)" if zone.dwell else zone.name,
    summary=_summary,
    state=lambda zone: {
        "name": zone.config.name,
        "current": zone.current,
        "polygon": zone.config.polygon,
    },
    entities=_entities,
    shape="polygon",
    noun="zone",
)
