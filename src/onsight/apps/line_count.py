"""Line crossing: counts each genuine crossing of a segment once, per direction and class.

A track counts when it goes from a *settled* position on one side of the line to a
settled position on the other, and the step where it changed side passes within
the segment. Settled means seen beyond a margin on that side for `settle_frames`
consecutive frames, so a box jittering on the line, or flickering out and back,
never counts twice. Detections without a track never reach this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from onsight.config.models import LineConfig
from onsight.geometry import Point, projection_on_segment, side_of_line
from onsight.types import Direction, LineCrossing, Tracks

# How far past the segment's ends (as a fraction of its length) a crossing may pass
# and still count: detectors place feet a little imprecisely.
_END_TOLERANCE = 0.02
# Part of the box height added to the margin: jitter of the anchor grows with the box.
_BOX_MARGIN = 0.08
# A track unseen for this long (seconds of source time) is forgotten.
_FORGET_AFTER_S = 10.0


@dataclass(slots=True)
class _TrackSide:
    settled: int = 0  # -1 / +1 once settled, 0 before
    candidate: int = 0
    candidate_frames: int = 0
    last_point: tuple[float, float] | None = None
    last_distance: float = 0.0
    crossed_within: bool = False  # did the last change of raw side pass within the segment?
    last_seen: float = 0.0


@dataclass
class LineCounter:
    """Counts crossings of one line on one camera. `update` takes each frame's tracks."""

    camera: str
    config: LineConfig
    class_names: list[str]
    counts: dict[Direction, dict[str, int]] = field(default_factory=lambda: {"in": {}, "out": {}})
    _states: dict[int, _TrackSide] = field(default_factory=dict)

    def __post_init__(self) -> None:
        (ax, ay), (bx, by) = self.config.points
        self._a: Point = (ax, ay)
        self._b: Point = (bx, by)
        self._classes = set(self.config.classes)

    def total(self, direction: Direction) -> int:
        return sum(self.counts[direction].values())

    def update(self, tracks: Tracks) -> list[LineCrossing]:
        events: list[LineCrossing] = []
        anchors = tracks.bottom_centres()
        distances = side_of_line(self._a, self._b, anchors)
        heights = tracks.xyxy[:, 3] - tracks.xyxy[:, 1]
        for i in range(len(tracks)):
            class_name = self.class_names[int(tracks.class_id[i])]
            if class_name not in self._classes:
                continue
            track_id = int(tracks.track_id[i])
            state = self._states.setdefault(track_id, _TrackSide())
            point = (float(anchors[i, 0]), float(anchors[i, 1]))
            margin = self.config.margin + _BOX_MARGIN * float(heights[i])
            direction = self._observe(state, point, float(distances[i]), margin, tracks.pts)
            if direction is not None:
                self.counts[direction][class_name] = self.counts[direction].get(class_name, 0) + 1
                events.append(
                    LineCrossing(
                        tracks.wall_time, self.camera, self.config.name, direction, class_name
                    )
                )
        self._forget(tracks.pts)
        return events

    def _observe(
        self,
        state: _TrackSide,
        point: tuple[float, float],
        distance: float,
        margin: float,
        pts: float,
    ) -> Direction | None:
        if state.last_point is not None and np.sign(distance) != np.sign(state.last_distance):
            state.crossed_within = self._passes_within(
                state.last_point, state.last_distance, point, distance
            )
        state.last_point, state.last_distance, state.last_seen = point, distance, pts

        side = 1 if distance >= margin else -1 if distance <= -margin else 0
        if side == 0 or side == state.settled:
            state.candidate, state.candidate_frames = 0, 0
            return None
        if side != state.candidate:
            state.candidate, state.candidate_frames = side, 0
        state.candidate_frames += 1
        if state.candidate_frames < self.config.settle_frames:
            return None
        previous, state.settled = state.settled, side
        state.candidate, state.candidate_frames = 0, 0
        if previous == 0 or not state.crossed_within:
            return None
        return "in" if side > 0 else "out"

    def _passes_within(
        self, p: tuple[float, float], dp: float, q: tuple[float, float], dq: float
    ) -> bool:
        """Whether the step p->q meets the line within the segment (ends extended slightly)."""
        w = dp / (dp - dq) if dp != dq else 0.5
        crossing = np.array([[p[0] + w * (q[0] - p[0]), p[1] + w * (q[1] - p[1])]], np.float32)
        t = float(projection_on_segment(self._a, self._b, crossing)[0])
        return -_END_TOLERANCE <= t <= 1 + _END_TOLERANCE

    def _forget(self, now: float) -> None:
        stale = [tid for tid, s in self._states.items() if now - s.last_seen > _FORGET_AFTER_S]
        for tid in stale:
            del self._states[tid]
