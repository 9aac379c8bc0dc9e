"""Workstation cycle times: how long a station's area stays occupied, per station and hour.

A cycle is one occupied spell of the station's area: at least one tracked object of the
configured classes stands in it (bottom centre inside), gaps of nobody shorter than
`_GAP_SECONDS` of source time bridged, the whole spell at least `min_cycle_seconds` long.
A cycle belongs to the hour (UTC) in which it ends. Each station and hour is released as a
distribution (count, median, 90th percentile) only when at least k=5 cycles ended in it
(privacy rule 2); smaller hours are suppressed, not rounded.

The area is timed, not the people in it: no track id is kept beyond the current frame, and
nothing is stored per person or per shift (privacy rules 1 and 8). Per-worker timing is
deliberately not offered: per-person productivity measurement is the core of the
workplace-surveillance critique (pace-setting, pressure, loss of autonomy, injury), and data
protection regulators have fined employers for keeping per-employee scanner and productivity
metrics as disproportionate (e.g. the French CNIL, 2024, over warehouse scanner indicators).
A station figure says how long the work takes there, which is what process improvement
needs; it cannot say who was at the station. Note that k counts cycles, not people: where
one person staffs a station and a rota says who, an hour's figure still reflects their pace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from pydantic import Field, model_validator

from onsight.apps.base import AppKind, Column, Entity, EventType, per_item
from onsight.apps.occupancy import in_zone
from onsight.config._base import NAME_PATTERN, Polygon, Strict, require_area
from onsight.privacy.kanon import K, release_durations
from onsight.types import Stamped, Tracks

_GAP_SECONDS = 2.0  # nobody for less than this (an occlusion, a step away) does not end a cycle


class StationConfig(Strict):
    name: str = Field(pattern=NAME_PATTERN, description="Station name, unique within the camera.")
    polygon: Polygon = Field(
        description="The station's working area: polygon vertices (normalised 0-1, origin "
        "top-left). Someone counts as at the station when their feet are inside."
    )
    classes: list[str] = Field(
        default_factory=lambda: ["person"],
        min_length=1,
        description="Object classes whose presence makes the station busy.",
    )
    min_cycle_seconds: float = Field(
        5.0,
        ge=0.0,
        le=3600.0,
        strict=False,
        description="Occupied spells shorter than this (someone walking through) are not "
        "cycles and are ignored.",
    )

    @model_validator(mode="after")
    def _has_area(self) -> Self:
        require_area(self.polygon, "station")
        return self


@dataclass(frozen=True, slots=True)
class StationHour(Stamped):
    """Cycle times at one station over one hour, released only when at least k cycles ended
    in it. Carries no track id and nothing per person."""

    hour: datetime  # UTC, start of the hour
    camera: str
    station: str
    class_name: str
    cycles: int  # cycles that ended in the hour (>= k)
    median_seconds: float
    p90_seconds: float

    @property
    def kind(self) -> str:
        return "station_hour"


def _hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class StationTimer:
    """Times the occupied spells of one station's area; releases k-safe hourly statistics."""

    def __init__(self, camera: str, config: StationConfig, class_names: list[str]) -> None:
        self.camera = camera
        self.config = config
        self._class_names = class_names
        self._classes = set(config.classes)
        self._polygon = [(p[0], p[1]) for p in config.polygon]
        self._start: float | None = None  # pts the spell in progress began; None: idle
        self._last_seen = 0.0  # pts the station was last occupied
        self._last_wall: datetime | None = None  # wall time it was last occupied
        self._hours: dict[datetime, list[float]] = {}  # hour -> cycle seconds, until released
        self._durations: list[float] = []  # every cycle since the start (for the summary)
        self.suppressed_hours = 0

    @property
    def busy(self) -> bool:
        """An occupied spell (perhaps in a short gap) is in progress."""
        return self._start is not None

    @property
    def current_cycle_seconds(self) -> float | None:
        return None if self._start is None else self._last_seen - self._start

    @property
    def cycles(self) -> int:
        return len(self._durations)

    def update(self, tracks: Tracks) -> list[StationHour]:
        occupied = bool(in_zone(tracks, self._polygon, self._classes, self._class_names).any())
        now = tracks.pts
        # A gap too long ends the spell where it was last occupied (as does a clock reset).
        if self._start is not None and (
            now - self._last_seen >= _GAP_SECONDS or now < self._last_seen
        ):
            self._end_spell()
        if occupied:
            if self._start is None:
                self._start = now
            self._last_seen, self._last_wall = now, tracks.wall_time
        # An hour is final once it is over and an open spell can no longer end in it.
        final = _hour_of(tracks.wall_time)
        if self._start is not None and self._last_wall is not None:
            final = min(final, _hour_of(self._last_wall))
        return self._release([hour for hour in self._hours if hour < final])

    def flush(self) -> list[StationHour]:
        """End the spell in progress and release every open hour (end of a file, shutdown)."""
        if self._start is not None:
            self._end_spell()
        return self._release(list(self._hours))

    def _end_spell(self) -> None:
        start, self._start = self._start, None
        if start is None or self._last_wall is None:
            return
        seconds = self._last_seen - start
        if seconds >= self.config.min_cycle_seconds:
            self._hours.setdefault(_hour_of(self._last_wall), []).append(seconds)
            self._durations.append(seconds)

    def _release(self, hours: list[datetime]) -> list[StationHour]:
        events = []
        for hour in sorted(hours):
            cycles = self._hours.pop(hour)
            # Each cycle is one contributor: k counts cycles, there being no one to count.
            stats = release_durations({i: [seconds] for i, seconds in enumerate(cycles)})
            if stats is None:
                self.suppressed_hours += 1
                continue
            events.append(
                StationHour(
                    hour=hour,
                    camera=self.camera,
                    station=self.config.name,
                    class_name="+".join(sorted(self._classes)),
                    cycles=stats.people,
                    median_seconds=stats.median_seconds,
                    p90_seconds=stats.p90_seconds,
                )
            )
        return events

    def summary(self) -> dict[str, Any]:
        """Cycles since the start; their median only when at least k of them."""
        stats = release_durations({i: [s] for i, s in enumerate(self._durations)}, K)
        return {"cycles": self.cycles, "median_s": None if stats is None else stats.median_seconds}

    def state(self) -> dict[str, Any]:
        seconds = self.current_cycle_seconds
        return {
            "name": self.config.name,
            "polygon": self.config.polygon,
            "busy": self.busy,
            "current_cycle_seconds": None if seconds is None else round(seconds, 1),
            "cycles": self.cycles,
        }


STATION_HOUR = EventType(
    kind="station_hour",
    event=StationHour,
    table="station_hours",
    time_column="hour",
    name_column="station",
    topic="station",
    label="hourly workstation cycle statistics",
    description="Cycle times at a workstation over one hour (time: start of the hour); a "
    "cycle is one occupied spell of the station's area, belonging to the hour it ends in.",
    columns=(
        Column("class", "TEXT", "Object classes timed, joined by +.", attribute="class_name"),
        Column(
            "cycles", "INTEGER", "Cycles that ended in the hour (at least 5, else not released).",
            check="cycles >= 5",
        ),
        Column("median_seconds", "REAL", "Median cycle time.", decimals=1),
        Column("p90_seconds", "REAL", "90th percentile of the cycle times.", decimals=1),
    ),
    retain=True,
    key=("hour", "camera", "station", "class"),
    # An hour split across restarts keeps the larger group; both were already k-safe.
    merge="""DO UPDATE SET
        cycles = excluded.cycles, median_seconds = excluded.median_seconds,
        p90_seconds = excluded.p90_seconds
        WHERE excluded.cycles > cycles""",
)  # fmt: skip


def _entities(station: StationConfig) -> list[Entity]:
    return [
        Entity(
            "sensor",
            f"{station.name}_cycle",
            "station",
            {
                "name": f"{station.name} median cycle time",
                "value_template": "{{ value_json.median_seconds }}",
                "unit_of_measurement": "s",
                "device_class": "duration",
                "state_class": "measurement",
            },
        )
    ]


KIND: AppKind[StationConfig, StationTimer] = AppKind(
    name="station",
    section="stations",
    config=StationConfig,
    build=per_item(StationTimer),
    events=(STATION_HOUR,),
    measures="workstation cycle times, per station and hour, over at least 5 cycles; "
    "never per person",
    purposes=frozenset({"operations"}),
    heading="Workstations",
    describe=lambda station: station.name,
    summary=StationTimer.summary,
    state=StationTimer.state,
    entities=_entities,
    notice_note="Cycle times are measured per workstation and hour, never per person, and "
    "cannot say who was at a station. Where one person staffs a station on a known rota, its "
    "hourly figures still describe that person's pace; they must not be used to judge anyone.",
    live=(("busy", "Busy"), ("current_cycle_seconds", "Current cycle (s)"), ("cycles", "Cycles")),
    shape="polygon",
    noun="station",
)
