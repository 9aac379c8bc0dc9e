"""Dwell: how long people stay in a zone, released per zone and hour for k >= 5 people only.

Visit durations are keyed by the ephemeral track id in memory while the hour is open; when
the hour closes they are reduced to a distribution (privacy rules 2 and 8) and forgotten.
A visit belongs to the hour in which it ends; a short gap (occlusion) does not end it.
"""

from __future__ import annotations

from datetime import datetime

from onsight.apps.base import AppKind, Column, Entity, EventType, per_item
from onsight.apps.occupancy import ZoneConfig, in_zone
from onsight.privacy.kanon import release_durations
from onsight.types import Tracks, ZoneDwell

_GAP_SECONDS = 2.0  # absence shorter than this is an occlusion, not a departure


class ZoneDwellTimer:
    def __init__(self, camera: str, config: ZoneConfig, class_names: list[str]) -> None:
        self.camera = camera
        self.config = config
        self._class_names = class_names
        self._classes = set(config.classes)
        self._polygon = [(p[0], p[1]) for p in config.polygon]
        self._entered: dict[int, float] = {}  # track id -> pts of entry
        self._last_seen: dict[int, float] = {}
        self._visits: dict[int, list[float]] = {}
        self._hour: datetime | None = None
        self.suppressed_hours = 0

    def update(self, tracks: Tracks) -> list[ZoneDwell]:
        inside = in_zone(tracks, self._polygon, self._classes, self._class_names)
        for track_id in tracks.track_id[inside].tolist():
            self._entered.setdefault(track_id, tracks.pts)
            self._last_seen[track_id] = tracks.pts
        for track_id, seen in list(self._last_seen.items()):
            if tracks.pts - seen > _GAP_SECONDS:
                self._end_visit(track_id)
        hour = tracks.wall_time.replace(minute=0, second=0, microsecond=0)
        closed = self._close_hour() if self._hour is not None and hour != self._hour else []
        self._hour = hour
        return closed

    def flush(self) -> list[ZoneDwell]:
        """End open visits and release the current hour (end of a file or shutdown)."""
        for track_id in list(self._last_seen):
            self._end_visit(track_id)
        return self._close_hour()

    def _end_visit(self, track_id: int) -> None:
        start = self._entered.pop(track_id)
        end = self._last_seen.pop(track_id)
        self._visits.setdefault(track_id, []).append(end - start)

    def _close_hour(self) -> list[ZoneDwell]:
        visits, self._visits = self._visits, {}
        if self._hour is None or not visits:
            return []
        stats = release_durations(visits)
        if stats is None:
            self.suppressed_hours += 1
            return []
        return [
            ZoneDwell(
                hour=self._hour,
                camera=self.camera,
                zone=self.config.name,
                class_name="+".join(sorted(self._classes)),
                people=stats.people,
                median_seconds=stats.median_seconds,
                p90_seconds=stats.p90_seconds,
            )
        ]


ZONE_DWELL = EventType(
    kind="zone_dwell",
    event=ZoneDwell,
    table="zone_dwell",
    time_column="hour",
    name_column="zone",
    topic="dwell",
    label="hourly time-in-area statistics",
    description="Time spent in a zone over one hour (time: start of the hour).",
    columns=(
        Column("class", "TEXT", "Object classes counted, joined by +.", attribute="class_name"),
        Column(
            "people", "INTEGER", "Distinct visitors (at least 5, else not released).",
            check="people >= 5",
        ),
        Column("median_seconds", "REAL", "Median time in the zone.", decimals=1),
        Column("p90_seconds", "REAL", "90th percentile of the time in the zone.", decimals=1),
    ),
    retain=True,
    key=("hour", "camera", "zone", "class"),
    # An hour split across restarts keeps the larger group; both were already k-safe.
    merge="""DO UPDATE SET
        people = excluded.people, median_seconds = excluded.median_seconds,
        p90_seconds = excluded.p90_seconds
        WHERE excluded.people > people""",
)  # fmt: skip


def _entities(zone: ZoneConfig) -> list[Entity]:
    return [
        Entity(
            "sensor",
            f"{zone.name}_dwell",
            "dwell",
            {
                "name": f"{zone.name} median dwell",
                "value_template": "{{ value_json.median_seconds }}",
                "unit_of_measurement": "s",
                "device_class": "duration",
                "state_class": "measurement",
            },
        )
    ]


KIND: AppKind[ZoneConfig, ZoneDwellTimer] = AppKind(
    name="dwell",
    section="zones",
    config=ZoneConfig,
    build=per_item(ZoneDwellTimer),
    events=(ZONE_DWELL,),
    measures="time spent in a zone, as a distribution over at least 5 people",
    purposes=frozenset({"footfall", "operations"}),
    heading="Areas",
    describe=None,  # the occupancy kind lists these zones, saying time spent is measured
    summary=None,
    entities=_entities,
    enabled=lambda zone: zone.dwell,
)
