"""Queues: how long the queue is, and how long people wait in it, never who waited.

A visit is one person's spell in the queue polygon (bottom centre of the box inside). A
tracker id switch does not split it (`visits.VisitKeys`), and an absence shorter than
`_GAP_S` (a missed detection, a flickering box) does not end it. The wait is the time from
entering the polygon to leaving it or, when the queue has a `served_line`, to crossing that
line, whichever comes first.

Released: the queue length per minute (mean and peak), and per hour the median and 90th
percentile wait, only when at least 5 visits ended in that hour (privacy rule 2). The live
wait estimate is Little's law: mean length over the last minutes divided by the rate at
which visits ended.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

import numpy as np
from pydantic import Field, model_validator

from onsight.apps.base import AppKind, Column, Entity, EventType
from onsight.apps.occupancy import Minute, MinuteTally, in_zone, of_classes
from onsight.apps.visits import VisitKeys
from onsight.config._base import NAME_PATTERN, Polygon, Strict, require_area
from onsight.geometry import Point, step_crosses
from onsight.privacy.kanon import K, release_durations
from onsight.types import Stamped, Tracks

if TYPE_CHECKING:
    from onsight.config.models import CameraConfig

_GAP_S = 2.0  # absence shorter than this is a missed detection, not leaving the queue
_ESTIMATE_WINDOW_S = 300.0  # Little's law over the last five minutes of source time


class QueueConfig(Strict):
    name: str = Field(pattern=NAME_PATTERN, description="Queue name, unique within the camera.")
    polygon: Polygon = Field(
        description="Where people queue (normalised 0-1, origin top-left); a person whose "
        "feet are inside is in the queue."
    )
    classes: list[str] = Field(
        default_factory=lambda: ["person"], min_length=1, description="Object classes queueing."
    )
    served_line: str | None = Field(
        None,
        description="Optional: the name of a line in this camera's `lines` (e.g. at the till); "
        "crossing it ends the wait as served.",
    )

    @model_validator(mode="after")
    def _has_area(self) -> Self:
        require_area(self.polygon, "queue")
        return self


@dataclass(frozen=True, slots=True)
class QueueMinute(Stamped):
    """Queue length over one minute of analysed frames."""

    minute: datetime  # UTC, start of the minute
    camera: str
    queue: str
    mean_length: float
    peak_length: int
    samples: int

    @property
    def kind(self) -> str:
        return "queue_minute"


@dataclass(frozen=True, slots=True)
class QueueHour(Stamped):
    """Waiting times of the visits that ended in one hour; only made for >= k visits."""

    hour: datetime  # UTC, start of the hour
    camera: str
    queue: str
    visits: int
    median_wait_seconds: float
    p90_wait_seconds: float

    @property
    def kind(self) -> str:
        return "queue_hour"


@dataclass(slots=True)
class _Visit:
    entered: float  # pts
    last_seen: float
    last_point: tuple[float, float]
    served: bool = False  # crossed the served line: waiting is over, until they leave


@dataclass
class QueueMonitor:
    """One queue on one camera: length per frame and minute, waits per visit and hour."""

    camera: str
    config: QueueConfig
    class_names: list[str]
    served: tuple[Point, Point] | None = None  # the served line's end points
    length: int = 0
    peak_length: int = 0
    frames: int = 0
    waits: list[float] = field(default_factory=list)  # every wait since start (no ids)
    suppressed_hours: int = 0
    _length_sum: int = 0
    _minutes: MinuteTally = field(default_factory=MinuteTally, repr=False)
    _visits: dict[int, _Visit] = field(default_factory=dict, repr=False)
    _hour: datetime | None = None
    _hour_waits: list[float] = field(default_factory=list, repr=False)
    _recent_lengths: deque[tuple[float, int]] = field(default_factory=deque, repr=False)
    _recent_ends: deque[float] = field(default_factory=deque, repr=False)
    _keys: VisitKeys = field(default_factory=VisitKeys, repr=False)

    def __post_init__(self) -> None:
        self._polygon = [(p[0], p[1]) for p in self.config.polygon]
        self._classes = set(self.config.classes)

    @property
    def mean_length(self) -> float:
        return self._length_sum / self.frames if self.frames else 0.0

    def update(self, tracks: Tracks) -> list[QueueMinute | QueueHour]:
        mine = tracks.select(of_classes(tracks, self._classes, self.class_names))
        inside = in_zone(mine, self._polygon, self._classes, self.class_names)
        keys = self._keys.keys(mine)
        anchors = mine.bottom_centres()
        now = tracks.pts
        for i, key in enumerate(keys):
            point = (float(anchors[i, 0]), float(anchors[i, 1]))
            visit = self._visits.get(key)
            if visit is not None and not visit.served and self._crossed_served(visit, point):
                visit.served = True
                self._end(now - visit.entered, now)
            if inside[i]:
                if visit is None:
                    visit = self._visits[key] = _Visit(now, now, point)
                visit.last_seen = now
            if visit is not None:
                visit.last_point = point
        for key, visit in list(self._visits.items()):
            if now - visit.last_seen > _GAP_S:
                del self._visits[key]
                if not visit.served:
                    self._end(visit.last_seen - visit.entered, visit.last_seen)
        self.length = int(inside.sum())
        self.peak_length = max(self.peak_length, self.length)
        self.frames += 1
        self._length_sum += self.length
        self._remember(now)
        events: list[QueueMinute | QueueHour] = []
        events += self._minute_events(self._minutes.add(tracks.wall_time, self.length))
        hour = tracks.wall_time.replace(minute=0, second=0, microsecond=0)
        if self._hour is not None and hour != self._hour:
            events += self._close_hour()
        self._hour = hour
        return events

    def flush(self) -> list[QueueMinute | QueueHour]:
        """End the visits in progress and release the current minute and hour."""
        for visit in self._visits.values():
            if not visit.served:
                self._end(visit.last_seen - visit.entered, visit.last_seen)
        self._visits.clear()
        return [*self._minute_events(self._minutes.close()), *self._close_hour()]

    def wait_estimate(self) -> float | None:
        """Little's law over the last minutes: mean length / visits ended per second; None
        until a visit has ended in the window."""
        if not self._recent_lengths or not self._recent_ends:
            return None
        span = self._recent_lengths[-1][0] - self._recent_lengths[0][0]
        if span <= 0:
            return None
        mean = sum(n for _, n in self._recent_lengths) / len(self._recent_lengths)
        return mean / (len(self._recent_ends) / span)

    def _crossed_served(self, visit: _Visit, point: tuple[float, float]) -> bool:
        return self.served is not None and step_crosses(*self.served, visit.last_point, point)

    def _end(self, wait: float, when: float) -> None:
        self.waits.append(wait)
        self._hour_waits.append(wait)
        self._recent_ends.append(when)

    def _remember(self, now: float) -> None:
        self._recent_lengths.append((now, self.length))
        while self._recent_lengths and now - self._recent_lengths[0][0] > _ESTIMATE_WINDOW_S:
            self._recent_lengths.popleft()
        while self._recent_ends and now - self._recent_ends[0] > _ESTIMATE_WINDOW_S:
            self._recent_ends.popleft()

    def _minute_events(self, minutes: list[Minute]) -> list[QueueMinute | QueueHour]:
        name = self.config.name
        return [QueueMinute(m.start, self.camera, name, m.mean, m.peak, m.samples) for m in minutes]

    def _close_hour(self) -> list[QueueMinute | QueueHour]:
        waits, self._hour_waits = self._hour_waits, []
        if self._hour is None or not waits:
            return []
        # Each visit is one contributor: released only when k visits ended in the hour.
        stats = release_durations({i: [w] for i, w in enumerate(waits)})
        if stats is None:
            self.suppressed_hours += 1
            return []
        return [
            QueueHour(
                self._hour, self.camera, self.config.name, stats.people,
                stats.median_seconds, stats.p90_seconds,
            )
        ]  # fmt: skip


def summary(queue: QueueMonitor) -> dict[str, Any]:
    released = len(queue.waits) >= K
    return {
        "mean_length": round(queue.mean_length, 4),
        "peak_length": queue.peak_length,
        "visits": len(queue.waits),
        "median_wait_s": round(float(np.median(queue.waits)), 1) if released else None,
        "p90_wait_s": round(float(np.percentile(queue.waits, 90)), 1) if released else None,
    }


def _state(queue: QueueMonitor) -> dict[str, Any]:
    estimate = queue.wait_estimate()
    return {
        "name": queue.config.name,
        "polygon": queue.config.polygon,
        "length": queue.length,
        "wait_estimate_s": None if estimate is None else round(estimate, 1),
    }


def _build(camera: CameraConfig, item: QueueConfig, names: list[str]) -> QueueMonitor:
    served = next((line for line in camera.lines if line.name == item.served_line), None)
    points = None
    if served is not None:
        (ax, ay), (bx, by) = served.points
        points = ((ax, ay), (bx, by))
    return QueueMonitor(camera.name, item, names, points)


def _entities(queue: QueueConfig) -> list[Entity]:
    return [
        Entity(
            "sensor",
            f"{queue.name}_length",
            "queue",
            {
                "name": f"{queue.name} queue length",
                "value_template": "{{ value_json.mean_length }}",
                "unit_of_measurement": "people",
                "state_class": "measurement",
                "icon": "mdi:human-queue",
            },
        ),
        Entity(
            "sensor",
            f"{queue.name}_wait",
            "queue_wait",
            {
                "name": f"{queue.name} median wait",
                "value_template": "{{ value_json.median_wait_seconds }}",
                "unit_of_measurement": "s",
                "device_class": "duration",
                "state_class": "measurement",
            },
        ),
    ]


QUEUE_MINUTE = EventType(
    kind="queue_minute",
    event=QueueMinute,
    table="queue_minutes",
    time_column="minute",
    name_column="queue",
    topic="queue",
    label="queue length per minute",
    description="Queue length over one minute (time: start of the minute).",
    columns=(
        Column("mean_length", "REAL", "Mean number of people in the queue.", decimals=3),
        Column("peak_length", "INTEGER", "Most people in the queue in one frame."),
        Column("samples", "INTEGER", "Analysed frames the mean is over."),
    ),
    retain=True,
    key=("minute", "camera", "queue"),
    chart_column="mean_length",
    peak_column="peak_length",
    chart_title="Mean queue length per 10 minutes",
    merge="""DO UPDATE SET
        mean_length = (mean_length * samples + excluded.mean_length * excluded.samples)
                      / (samples + excluded.samples),
        peak_length = max(peak_length, excluded.peak_length),
        samples = samples + excluded.samples""",
)

QUEUE_HOUR = EventType(
    kind="queue_hour",
    event=QueueHour,
    table="queue_hours",
    time_column="hour",
    name_column="queue",
    topic="queue_wait",
    label="hourly queue waiting-time statistics",
    description="Waiting times of the visits that ended in one hour (time: start of the hour).",
    columns=(
        Column(
            "visits", "INTEGER", "Visits that ended (at least 5, else not released).",
            check="visits >= 5",
        ),
        Column("median_wait_seconds", "REAL", "Median wait.", decimals=1),
        Column("p90_wait_seconds", "REAL", "90th percentile of the wait.", decimals=1),
    ),
    retain=True,
    key=("hour", "camera", "queue"),
    # An hour split across restarts keeps the larger group; both were already k-safe.
    merge="""DO UPDATE SET
        visits = excluded.visits, median_wait_seconds = excluded.median_wait_seconds,
        p90_wait_seconds = excluded.p90_wait_seconds
        WHERE excluded.visits > visits""",
)  # fmt: skip

KIND: AppKind[QueueConfig, QueueMonitor] = AppKind(
    name="queue",
    section="queues",
    config=QueueConfig,
    build=_build,
    events=(QUEUE_MINUTE, QUEUE_HOUR),
    measures="queue length per minute, and waiting times as a distribution over at least "
    "5 visits per hour",
    purposes=frozenset({"footfall", "occupancy", "operations"}),
    heading="Queues",
    describe=lambda queue: queue.name,
    summary=summary,
    state=_state,
    live=(("length", "People now"), ("wait_estimate_s", "Estimated wait (s)")),
    entities=_entities,
    shape="polygon",
    noun="queue",
    reads=("lines",),  # its served_line
)
