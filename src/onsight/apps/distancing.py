"""Distancing: how much of the time people spend closer than a set distance to someone else,
measured in metres on the floor (the camera's `calibration`), never per person or pair.

Each analysed frame, every person's foot point (bottom centre of the box) goes to the ground
plane. `person_seconds` adds, per frame, the people present times the frame interval;
`close_person_seconds` the same for those with someone else within `threshold_m`. Released
per minute, only when at least 5 distinct tracks were seen in it (privacy rule 2), so a
minute with two people never says that those two stood together.

Occlusion biases the share down: someone hidden behind another person is usually close to
them, and is not detected, so neither of the two counts for that frame. The tracker holds a
briefly hidden person only for frames in which it still sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from onsight.apps.base import AppKind, Column, Entity, EventType
from onsight.apps.occupancy import of_classes
from onsight.config._base import NAME_PATTERN, Strict
from onsight.geometry import to_ground
from onsight.privacy.kanon import K
from onsight.types import Stamped, Tracks

if TYPE_CHECKING:
    from onsight.config.models import CameraConfig

_MAX_INTERVAL_S = 1.0  # a longer gap between analysed frames (a stall) counts as this long


class DistancingConfig(Strict):
    name: str = Field(
        "all", pattern=NAME_PATTERN, description="Name in topics and the events list."
    )
    threshold_m: float = Field(
        2.0, gt=0.0, le=20.0, strict=False, description="Closer than this (metres) is close."
    )
    classes: list[str] = Field(
        default_factory=lambda: ["person"], min_length=1, description="Object classes measured."
    )


@dataclass(frozen=True, slots=True)
class DistancingMinute(Stamped):
    """One minute of distancing, over at least k distinct tracks."""

    minute: datetime  # UTC, start of the minute
    camera: str
    scope: str
    people: int  # distinct tracks seen in the minute (>= k)
    person_seconds: float
    close_person_seconds: float
    close_share: float

    @property
    def kind(self) -> str:
        return "distancing_minute"


class DistancingMonitor:
    def __init__(
        self,
        camera: str,
        config: DistancingConfig,
        class_names: list[str],
        homography: np.ndarray[Any, np.dtype[np.float64]],
    ) -> None:
        self.camera, self.config = camera, config
        self._names = class_names
        self._classes = set(config.classes)
        self._homography = homography
        self.person_seconds = 0.0
        self.close_person_seconds = 0.0
        self._last_pts: float | None = None
        self._minute: datetime | None = None
        self._minute_seconds = [0.0, 0.0]
        self._minute_tracks: set[int] = set()  # in memory only, for the k rule
        self.suppressed_minutes = 0

    @property
    def close_share(self) -> float | None:
        return self.close_person_seconds / self.person_seconds if self.person_seconds else None

    def update(self, tracks: Tracks) -> list[DistancingMinute]:
        wanted = of_classes(tracks, self._classes, self._names)
        feet = to_ground(self._homography, tracks.bottom_centres()[wanted])
        interval = 0.0 if self._last_pts is None else tracks.pts - self._last_pts
        interval = min(max(interval, 0.0), _MAX_INTERVAL_S)
        self._last_pts = tracks.pts
        present = len(feet)
        close = int(close_to_someone(feet, self.config.threshold_m).sum())
        events: list[DistancingMinute] = []
        minute = tracks.wall_time.replace(second=0, microsecond=0)
        if self._minute is not None and minute != self._minute:
            events += self._close_minute()
        self._minute = minute
        self.person_seconds += present * interval
        self.close_person_seconds += close * interval
        self._minute_seconds[0] += present * interval
        self._minute_seconds[1] += close * interval
        self._minute_tracks.update(int(t) for t in tracks.track_id[wanted])
        return events

    def flush(self) -> list[DistancingMinute]:
        return self._close_minute()

    def _close_minute(self) -> list[DistancingMinute]:
        (total, close), tracks = self._minute_seconds, len(self._minute_tracks)
        self._minute_seconds, self._minute_tracks = [0.0, 0.0], set()
        if self._minute is None or total <= 0:
            return []
        if tracks < K:
            self.suppressed_minutes += 1
            return []
        return [
            DistancingMinute(
                self._minute, self.camera, self.config.name, tracks, total, close, close / total
            )
        ]

    def summary(self) -> dict[str, Any]:
        share = self.close_share
        return {
            "person_seconds": round(self.person_seconds, 2),
            "close_person_seconds": round(self.close_person_seconds, 2),
            "close_share": None if share is None else round(share, 4),
        }


def close_to_someone(points: np.ndarray[Any, np.dtype[np.float64]], threshold: float) -> Any:
    """For each ground point, whether another is closer than `threshold` metres."""
    if len(points) < 2:
        return np.zeros(len(points), bool)
    gaps = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(gaps, np.inf)
    return gaps.min(axis=1) < threshold


def _build(camera: CameraConfig, item: DistancingConfig, names: list[str]) -> DistancingMonitor:
    if camera.calibration is None:  # refused by the camera config already; be sure
        raise ValueError(f"camera {camera.name!r}: distancing needs a calibration")
    return DistancingMonitor(camera.name, item, names, camera.calibration.homography())


DISTANCING_MINUTE = EventType(
    kind="distancing_minute",
    event=DistancingMinute,
    table="distancing_minutes",
    time_column="minute",
    name_column="scope",
    topic="distancing",
    label="distancing per minute",
    description="Time people spent closer than the threshold to someone, over one minute "
    "(time: start of the minute); only minutes with at least 5 distinct people.",
    columns=(
        Column("people", "INTEGER", "Distinct people seen (at least 5).", check="people >= 5"),
        Column(
            "presence_seconds", "REAL", "People present x seconds (person-seconds).",
            attribute="person_seconds", decimals=2,
        ),
        Column(
            "close_seconds", "REAL", "The same, for people with someone within the threshold.",
            attribute="close_person_seconds", decimals=2,
        ),
        Column("close_share", "REAL", "close_seconds / presence_seconds.", decimals=4),
    ),
    retain=True,
    key=("minute", "camera", "scope"),
    merge="""DO UPDATE SET
        people = max(people, excluded.people),
        presence_seconds = presence_seconds + excluded.presence_seconds,
        close_seconds = close_seconds + excluded.close_seconds,
        close_share = (close_seconds + excluded.close_seconds)
                      / (presence_seconds + excluded.presence_seconds)""",
    chart_column="close_share",
    chart_title="Share of time people were closer than the distancing threshold",
)  # fmt: skip


def _entities(item: DistancingConfig) -> list[Entity]:
    return [
        Entity(
            "sensor",
            f"{item.name}_close_share",
            "distancing",
            {
                "name": f"{item.name} close share",
                "value_template": "{{ (value_json.close_share * 100) | round(1) }}",
                "unit_of_measurement": "%",
                "state_class": "measurement",
            },
        )
    ]


KIND: AppKind[DistancingConfig, DistancingMonitor] = AppKind(
    name="distancing",
    section="distancing",
    config=DistancingConfig,
    build=_build,
    events=(DISTANCING_MINUTE,),
    measures="how often people stand closer than a set distance, as a share of the time "
    "people are present, per minute with at least 5 people; never which people",
    purposes=frozenset({"occupancy", "safety"}),
    heading="Distancing",
    describe=lambda item: f"closer than {item.threshold_m:g} m",
    summary=DistancingMonitor.summary,
    state=lambda app: {"name": app.config.name, **app.summary()},
    live=(("close_share", "Share of time close"),),
    entities=_entities,
    single=True,
)
