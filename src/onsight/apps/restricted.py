"""Restricted areas: one alert when an object of a watched class stays in an area too long.

A stay is an object of a configured class standing in the area (bottom centre of its box
inside, as for occupancy). Stays are keyed by `visits.VisitKeys`, so a tracker id switch
continues the stay instead of starting a new one, and an absence shorter than `_GAP_S` of
source time (a missed detection, a flickering box, a step over the edge) does not end it.
Once a stay has lasted `after_seconds` (source time, from its first frame inside), exactly
one alert is raised for it, stamped with the frame where the threshold was reached.

An alert says when, where and what class, never who: no track id, position or box
(privacy rules 1 and 2). Visit keys and stays live in memory only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from pydantic import Field, model_validator

from onsight.apps.base import AppKind, Column, Entity, EventType, per_item
from onsight.apps.occupancy import in_zone, of_classes
from onsight.apps.visits import VisitKeys
from onsight.config._base import NAME_PATTERN, Polygon, Strict, require_area
from onsight.types import Stamped, Tracks

# An absence (source time) up to this long is a missed detection or an occlusion, not the
# end of a stay; a longer one ends it.
_GAP_S = 2.0
# Slack for differences of frame times that land a hair below the threshold (4.1 - 1.1 < 3.0).
_EPSILON_S = 1e-6


class RestrictedConfig(Strict):
    name: str = Field(
        pattern=NAME_PATTERN, description="Restricted area name, unique within the camera."
    )
    polygon: Polygon = Field(description="Polygon vertices (normalised 0-1, origin top-left).")
    classes: list[str] = Field(
        default_factory=lambda: ["person"],
        min_length=1,
        description="Object classes that must not stay in the area (e.g. person in a forklift "
        "lane, car in a pedestrian area).",
    )
    after_seconds: float = Field(
        3.0,
        ge=0.0,
        le=3600.0,
        strict=False,
        description="Seconds an object may stay in the area before an alert is raised; one "
        "alert per stay. An absence shorter than 2 s does not end a stay.",
    )

    @model_validator(mode="after")
    def _has_area(self) -> Self:
        require_area(self.polygon, "restricted area")
        return self


@dataclass(frozen=True, slots=True)
class RestrictedAlert(Stamped):
    """An object of a watched class stayed in a restricted area for the set time.
    Carries no track id, position or box."""

    time: datetime  # UTC, when the stay reached the threshold
    camera: str
    area: str
    class_name: str
    seconds: float  # the threshold that was passed (the area's after_seconds)

    @property
    def kind(self) -> str:
        return "restricted_alert"


@dataclass(slots=True)
class _Stay:
    start: float  # pts of the first frame inside
    last_seen: float  # pts of the last frame inside
    alerted: bool = False


class RestrictedArea:
    """Watches one restricted area on one camera. `update` takes each frame's tracks."""

    def __init__(self, camera: str, config: RestrictedConfig, class_names: list[str]) -> None:
        self.camera = camera
        self.config = config
        self._class_names = class_names
        self._classes = set(config.classes)
        self._polygon = [(p[0], p[1]) for p in config.polygon]
        self._visits = VisitKeys()
        self._stays: dict[int, _Stay] = {}  # visit key -> the stay in progress
        self.alerts = 0  # since the start
        self.inside = 0  # objects of the classes in the area in the last frame

    def update(self, tracks: Tracks) -> list[RestrictedAlert]:
        watched = tracks.select(of_classes(tracks, self._classes, self._class_names))
        keys = self._visits.keys(watched)
        inside = in_zone(watched, self._polygon, self._classes, self._class_names)
        self.inside = int(inside.sum())
        now = watched.pts
        for key, stay in list(self._stays.items()):
            if now - stay.last_seen > _GAP_S:
                del self._stays[key]
        alerts: list[RestrictedAlert] = []
        for i in inside.nonzero()[0].tolist():
            stay = self._stays.setdefault(keys[i], _Stay(now, now))
            stay.last_seen = now
            if not stay.alerted and now - stay.start >= self.config.after_seconds - _EPSILON_S:
                stay.alerted = True
                self.alerts += 1
                class_name = self._class_names[int(watched.class_id[i])]
                alerts.append(
                    RestrictedAlert(
                        watched.wall_time,
                        self.camera,
                        self.config.name,
                        class_name,
                        float(self.config.after_seconds),
                    )
                )
        return alerts

    def flush(self) -> list[RestrictedAlert]:
        """End every stay (end of a file or shutdown); a stay cut short never alerts."""
        self._stays.clear()
        self._visits = VisitKeys()
        return []


RESTRICTED_ALERT = EventType(
    kind="restricted_alert",
    event=RestrictedAlert,
    table="restricted_alerts",
    time_column="time",
    name_column="area",
    topic="restricted",
    label="restricted-area alerts",
    description="An object of a watched class stayed in a restricted area for the set time "
    "(time: when it had stayed that long). Says what class, never who or where exactly.",
    columns=(
        Column("class", "TEXT", "Object class that stayed in the area.", attribute="class_name"),
        Column(
            "seconds", "REAL", "Seconds it had stayed (the area's alert threshold).", decimals=1
        ),
    ),
    alert=True,
)


def _entities(area: RestrictedConfig) -> list[Entity]:
    # Home Assistant's MQTT event entity needs an `event_type` key in the payload, and
    # `payload_aliases` can only copy a column (none holds a constant), so a timestamp
    # sensor shows the last alert instead.
    return [
        Entity(
            "sensor",
            f"{area.name}_alert",
            "restricted",
            {
                "name": f"{area.name} last restricted-area alert",
                "value_template": "{{ value_json.time }}",
                "device_class": "timestamp",
                "icon": "mdi:alert",
            },
        )
    ]


def _summary(area: RestrictedArea) -> dict[str, Any]:
    return {"alerts": area.alerts}


KIND: AppKind[RestrictedConfig, RestrictedArea] = AppKind(
    name="restricted_area",
    section="restricted",
    config=RestrictedConfig,
    build=per_item(RestrictedArea),
    events=(RESTRICTED_ALERT,),
    measures="alerts when a person or vehicle stays in a restricted area; the alert says "
    "when, where and what class, never who",
    purposes=frozenset({"safety", "operations"}),
    heading="Restricted areas",
    describe=lambda area: (
        f"{area.name} ({', '.join(area.classes)} alerted after {area.after_seconds:g} s)"
    ),
    summary=_summary,
    state=lambda area: {
        "name": area.config.name,
        "polygon": area.config.polygon,
        "inside": area.inside,
        "alerts": area.alerts,
    },
    entities=_entities,
    live=(("inside", "Inside now"), ("alerts", "Alerts")),
    shape="polygon",
    noun="restricted area",
)
