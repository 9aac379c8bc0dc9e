"""Line crossing: counts each genuine crossing of a segment once, per direction and class.

A track counts when it goes from a *settled* position on one side of the line to a
settled position on the other, and the step where it changed side passes within
the segment. Settled means seen beyond a margin on that side for `settle_frames`
consecutive frames (or clearly on it, if closer, for `_STAY_S`), so a box jittering on
the line, or flickering out and back, never counts twice. Detections without a track
never reach this module.

Where the tracker fails, the side history survives: a new track that appears where one was
just lost continues it, and a crossing that ends with the person leaving the picture, or
with the recording, still counts. A crossing is stamped when the feet crossed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Self

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from onsight.apps.base import AppKind, Column, Entity, EventType
from onsight.apps.visits import HANDOVER_S, reach_share
from onsight.config._base import NAME_PATTERN, NormPoint, Strict
from onsight.geometry import Point, side_of_line, step_crosses, to_ground
from onsight.types import Direction, LineCrossing, Stamped, Tracks

if TYPE_CHECKING:
    from onsight.config.models import CameraConfig


class LineConfig(Strict):
    name: str = Field(pattern=NAME_PATTERN, description="Line name, unique within the camera.")
    points: Annotated[list[NormPoint], Field(min_length=2, max_length=2)] = Field(
        description="Two points A, B (normalised 0-1, origin top-left). Crossing from the side "
        "where (B-A)x(P-A) < 0 to the side where it is > 0 is `in`."
    )
    in_name: str = Field("in", description="What an `in` crossing means here, e.g. 'enter'.")
    out_name: str = Field("out", description="What an `out` crossing means here, e.g. 'leave'.")
    classes: list[str] = Field(
        default_factory=lambda: ["person"], min_length=1, description="Object classes counted."
    )
    margin: float = Field(
        0.02,
        ge=0.0,
        le=0.2,
        strict=False,
        description="Distance from the line (fraction of the image) a track must reach on a side "
        "before that side counts as settled; suppresses jitter on the line.",
    )
    settle_frames: int = Field(
        3, ge=1, le=30, description="Analysed frames a track must stay on a side to settle there."
    )
    alert_direction: Direction | None = Field(
        None,
        description="Optional: a crossing in this direction (`in` or `out`) is also a "
        "wrong-way alert, e.g. someone walking up a one-way lane.",
    )

    @model_validator(mode="after")
    def _has_length(self) -> Self:
        (ax, ay), (bx, by) = self.points
        if (ax - bx) ** 2 + (ay - by) ** 2 < 1e-6:
            raise ValueError("the two points of a line must differ")
        return self


# How far past the segment's ends (as a fraction of its length) a crossing may pass
# and still count: detectors place feet a little imprecisely.
_END_TOLERANCE = 0.02
# Part of the box height added to the margin: jitter of the anchor grows with the box.
_BOX_MARGIN = 0.08
# A track unseen for this long (seconds of source time) is forgotten.
_FORGET_AFTER_S = 10.0
# A new track that starts within HANDOVER_S of another being lost, within walking reach,
# continues that track's side history (see `visits`): the tracker lost the person
# (occlusion, a post, a crowd) and found them again under a new id.
# A box this close to a border of the picture is cut off by it.
_EDGE = 0.01
# Seconds on one side, however close to the line, after which that side counts as settled.
_STAY_S = 1.0
# ... provided they are at least this share of the margin away from it (not standing on it).
_STAY_MARGIN = 0.25


@dataclass(frozen=True, slots=True)
class WrongWayAlert(Stamped):
    """A crossing of a line in its `alert_direction`. Carries no track id."""

    time: datetime  # UTC, when the line was crossed
    camera: str
    line: str
    direction: Direction
    class_name: str

    @property
    def kind(self) -> str:
        return "wrong_way"


LineEvent = LineCrossing | WrongWayAlert


@dataclass(slots=True)
class _TrackSide:
    settled: int = 0  # -1 / +1 once settled, 0 before
    candidate: int = 0
    candidate_frames: int = 0
    last_point: tuple[float, float] | None = None
    last_distance: float = 0.0
    crossed_within: bool = False  # did the last change of raw side pass within the segment?
    crossed_at: datetime | None = None  # when the feet were first seen on the new side
    # Source time since which the feet have stayed clearly on their current side (beyond
    # `_STAY_MARGIN` of the margin in every frame); None while they are on the line.
    stay_since: float | None = None
    stayed_here: bool = False  # settled by staying; again only after stepping clear of the line
    last_seen: float = 0.0
    at_edge: bool = False  # was the last box cut by the picture's edge?
    class_name: str = ""


@dataclass
class LineCounter:
    """Counts crossings of one line on one camera. `update` takes each frame's tracks."""

    camera: str
    config: LineConfig
    class_names: list[str]
    counts: dict[Direction, dict[str, int]] = field(default_factory=lambda: {"in": {}, "out": {}})
    wrong_way: int = 0
    width_m: float | None = None  # the line's length on a calibrated floor
    seconds: float = 0.0  # source time analysed, for crossings per hour
    _states: dict[int, _TrackSide] = field(default_factory=dict)
    _last_pts: float | None = None

    def __post_init__(self) -> None:
        (ax, ay), (bx, by) = self.config.points
        self._a: Point = (ax, ay)
        self._b: Point = (bx, by)
        self._classes = set(self.config.classes)

    def total(self, direction: Direction) -> int:
        return sum(self.counts[direction].values())

    def update(self, tracks: Tracks) -> list[LineEvent]:
        if self._last_pts is not None:
            self.seconds += min(max(tracks.pts - self._last_pts, 0.0), 1.0)
        self._last_pts = tracks.pts
        events: list[LineCrossing] = []
        anchors = tracks.bottom_centres()
        distances = side_of_line(self._a, self._b, anchors)
        heights = tracks.xyxy[:, 3] - tracks.xyxy[:, 1]
        present = {int(t) for t in tracks.track_id}
        for i in range(len(tracks)):
            class_name = self.class_names[int(tracks.class_id[i])]
            if class_name not in self._classes:
                continue
            track_id = int(tracks.track_id[i])
            point = (float(anchors[i, 0]), float(anchors[i, 1]))
            if track_id not in self._states:
                self._states[track_id] = self._handover(point, float(heights[i]), tracks, present)
            state = self._states[track_id]
            state.at_edge, state.class_name = _touches_edge(tracks.xyxy[i]), class_name
            margin = self.config.margin + _BOX_MARGIN * float(heights[i])
            direction = self._observe(state, point, float(distances[i]), margin, tracks)
            if direction is not None:
                events.append(self._count(state, direction, tracks.wall_time))
        events += self._left_the_picture(tracks, present)
        self._forget(tracks.pts)
        return self._with_alerts(events)

    def flush(self) -> list[LineEvent]:
        """At the end of a recording (or on shutdown): people last seen clearly past the
        line, who had no time left to settle there, have crossed it."""
        events = []
        for state in self._states.values():
            side = 1 if state.last_distance > 0 else -1
            pending = state.settled not in (0, side) and state.crossed_within
            if pending and state.stay_since is not None and state.crossed_at is not None:
                state.settled = side
                events.append(self._count(state, "in" if side > 0 else "out", state.crossed_at))
        return self._with_alerts(events)

    def _with_alerts(self, crossings: list[LineCrossing]) -> list[LineEvent]:
        """The crossings, each followed by a wrong-way alert if it went the alerted way."""
        events: list[LineEvent] = []
        for crossing in crossings:
            events.append(crossing)
            if crossing.direction == self.config.alert_direction:
                self.wrong_way += 1
                events.append(  # an event of its own, with its own id
                    WrongWayAlert(
                        crossing.time,
                        crossing.camera,
                        crossing.line,
                        crossing.direction,
                        crossing.class_name,
                    )
                )
        return events

    def _count(self, state: _TrackSide, direction: Direction, now: datetime) -> LineCrossing:
        name = state.class_name
        self.counts[direction][name] = self.counts[direction].get(name, 0) + 1
        # Stamped when the feet crossed, not when the side settled a few frames later.
        return LineCrossing(state.crossed_at or now, self.camera, self.config.name, direction, name)

    def _left_the_picture(self, tracks: Tracks, present: set[int]) -> list[LineCrossing]:
        """Someone who crossed a line near the edge of the picture and walked out of it is
        gone before their new side can settle. Once they are lost for good (no new track
        took over), a crossing that ended at the edge of the picture counts."""
        events = []
        for track_id, state in self._states.items():
            lost = tracks.pts - state.last_seen
            if track_id in present or not state.at_edge or lost <= HANDOVER_S:
                continue
            side = 1 if state.last_distance > 0 else -1
            if state.settled not in (0, side) and state.crossed_within:
                state.settled = side
                events.append(self._count(state, "in" if side > 0 else "out", tracks.wall_time))
        return events

    def _observe(
        self,
        state: _TrackSide,
        point: tuple[float, float],
        distance: float,
        margin: float,
        tracks: Tracks,
    ) -> Direction | None:
        # Exactly on the line counts as the `out` side, as in the evaluator's truth.
        if state.last_point is not None and (distance > 0) != (state.last_distance > 0):
            state.crossed_within = step_crosses(
                self._a, self._b, state.last_point, point, _END_TOLERANCE
            )
            state.crossed_at = tracks.wall_time
            state.stay_since = None
        if abs(distance) < _STAY_MARGIN * margin:
            state.stay_since = None
        elif state.stay_since is None:
            state.stay_since = tracks.pts
        state.last_point, state.last_distance = point, distance
        state.last_seen = tracks.pts

        side = 1 if distance >= margin else -1 if distance <= -margin else 0
        if side != 0:
            state.stayed_here = False
        # Stopped just past the line (at a counter, a sign, a door): staying there is as
        # good as stepping clear of it, once: someone standing on the line and swaying
        # across it is not counted again until they step clear of it.
        stayed = (
            side == 0
            and not state.stayed_here
            and state.stay_since is not None
            and tracks.pts - state.stay_since >= _STAY_S
        )
        if stayed:
            side = 1 if distance > 0 else -1
            state.stayed_here = side != state.settled
        if side == 0 or side == state.settled:
            state.candidate, state.candidate_frames = 0, 0
            return None
        if side != state.candidate:
            state.candidate, state.candidate_frames = side, 0
        state.candidate_frames += 1
        if state.candidate_frames < self.config.settle_frames and not stayed:
            return None
        previous, state.settled = state.settled, side
        state.candidate, state.candidate_frames = 0, 0
        if previous == 0 or not state.crossed_within:
            return None
        return "in" if side > 0 else "out"

    def _handover(
        self, point: tuple[float, float], height: float, tracks: Tracks, present: set[int]
    ) -> _TrackSide:
        """The side history of the nearest recently lost track that the person could have
        walked from in the time (`visits.reach_share`), or a
        fresh one."""
        best, best_share = None, 1.0
        for track_id, state in self._states.items():
            if track_id in present or state.last_point is None:
                continue
            gone = tracks.pts - state.last_seen
            if not 0 < gone <= HANDOVER_S:
                continue
            share = reach_share(point, state.last_point, height, gone)
            if share <= best_share:
                best, best_share = track_id, share
        return self._states.pop(best) if best is not None else _TrackSide()

    def _forget(self, now: float) -> None:
        stale = [tid for tid, s in self._states.items() if now - s.last_seen > _FORGET_AFTER_S]
        for tid in stale:
            del self._states[tid]


def _touches_edge(box: npt.NDArray[np.float32]) -> bool:
    """Cut off at the left, right or bottom, where people walk out of the picture (a head
    cut off at the top is someone close to the camera, not someone leaving)."""
    return bool(box[0] <= _EDGE or box[2] >= 1 - _EDGE or box[3] >= 1 - _EDGE)


CROSSING = EventType(
    kind="crossing",
    event=LineCrossing,
    table="crossings",
    time_column="time",
    name_column="line",
    topic="line",
    label="line crossings",
    description="One crossing of a counting line (time: when the line was crossed).",
    columns=(
        Column("direction", "TEXT", "`in` or `out`.", check="direction IN ('in', 'out')"),
        Column("class", "TEXT", "Object class.", attribute="class_name"),
    ),
    # Home Assistant's MQTT event entity reads `event_type`.
    payload_aliases={"event_type": "direction"},
)


def _entities(line: LineConfig) -> list[Entity]:
    return [
        Entity(
            "event",
            line.name,
            "line",
            {
                "name": f"{line.name} crossing",
                "event_types": ["in", "out"],
                "icon": "mdi:transit-transfer",
            },
        )
    ] + [
        Entity(
            "event",
            f"{line.name}_wrong_way",
            "wrong_way",
            {
                "name": f"{line.name} wrong way",
                "event_types": [line.alert_direction],
                "icon": "mdi:arrow-u-left-top",
            },
        )
        for _ in [line.alert_direction]
        if line.alert_direction is not None
    ]


WRONG_WAY = EventType(
    kind="wrong_way",
    event=WrongWayAlert,
    table="wrong_way_alerts",
    time_column="time",
    name_column="line",
    topic="wrong_way",
    label="wrong-way alerts",
    description="A crossing of a line in its alert direction (time: when it was crossed).",
    columns=CROSSING.columns,
    alert=True,
    payload_aliases={"event_type": "direction"},
)


def _describe(line: LineConfig) -> str:
    text = f"{line.name} (crossings counted as {line.in_name} / {line.out_name}"
    if line.alert_direction is not None:
        named = line.in_name if line.alert_direction == "in" else line.out_name
        text += f"; crossing {named} raises a wrong-way alert"
    return text + ")"


def _summary(counter: LineCounter) -> dict[str, Any]:
    totals: dict[str, Any] = {"in": counter.total("in"), "out": counter.total("out")}
    if counter.config.alert_direction is not None:
        totals["wrong_way"] = counter.wrong_way
    if counter.width_m is not None and counter.width_m > 0 and counter.seconds > 0:
        # Flow density: crossings per hour per metre of line, on a calibrated floor.
        per_hour = (totals["in"] + totals["out"]) * 3600 / counter.seconds
        totals["width_m"] = round(counter.width_m, 2)
        totals["per_hour_per_m"] = round(per_hour / counter.width_m, 1)
    return totals


def _build(camera: CameraConfig, line: LineConfig, names: list[str]) -> LineCounter:
    width = None
    if camera.calibration is not None:
        ends = to_ground(camera.calibration.homography(), np.array(line.points, np.float64))
        width = float(np.hypot(*(ends[1] - ends[0])))
    return LineCounter(camera.name, line, names, width_m=width)


KIND: AppKind[LineConfig, LineCounter] = AppKind(
    name="line_count",
    section="lines",
    config=LineConfig,
    build=_build,
    events=(CROSSING, WRONG_WAY),
    measures="counts of crossings of a line, per direction",
    purposes=frozenset({"footfall", "occupancy", "operations"}),
    heading="Counting lines",
    describe=_describe,
    summary=_summary,
    state=lambda counter: {
        "name": counter.config.name,
        **_summary(counter),
        "in_name": counter.config.in_name,
        "out_name": counter.config.out_name,
        "points": counter.config.points,
    },
    entities=_entities,
    shape="points",
    noun="line",
    edits=("alert_direction",),
)
