"""Holds still objects that look like people (a sign, a mannequin, a poster) out of the apps.

A track is held out while it is *inert*: its anchor has stayed within a fraction of its box
height of one spot, and the motion gate saw no change inside its box (apart from people
passing in front of it), for a while. The while is short only for a track that has never
moved since it appeared *and* that the detector was never sure is a person (median score
below `_SURE_PERSON`): a sign or a poster. Anything else, a person who walked in and sat
down or one already sitting when the camera started (the motion gate cannot see a reader's
small movements), counts for `moved_seconds` of complete stillness. Any movement or motion
in the box releases it at once.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from onsight.types import Tracks

# The anchor may wander this share of the box height and still be "in one spot".
_SPOT_HEIGHTS = 0.25
# A box with at least this share of changed pixels has motion in it.
_MOTION_SHARE = 0.02
_FORGET_AFTER_S = 10.0
# A new track standing still where an inert object was held is held after this long, and
# such a spot is forgotten when nothing inert has stood there for `_SPOT_MEMORY_S`.
_KNOWN_SPOT_S = 1.0
_SPOT_MEMORY_S = 600.0
# Detectors score real people, even sitting ones, well above this; look-alikes below it.
_SURE_PERSON = 0.6

MotionMask = npt.NDArray[np.bool_]


@dataclass(slots=True)
class _Stillness:
    spot: tuple[float, float]
    still_since: float
    last_seen: float
    ever_moved: bool = False
    scores: deque[float] = field(default_factory=lambda: deque(maxlen=50))

    @property
    def doubtful(self) -> bool:
        """Never moved, and the detector never quite took it for a person."""
        # statistics.median: np.median's result, a tenth of its cost on 50 numbers
        return not self.ever_moved and statistics.median(self.scores or [0.0]) < _SURE_PERSON


@dataclass(slots=True)
class _InertSpot:
    """Where a held object stands; remembered so that it is held again at once when the
    tracker loses it to a passer-by and finds it under a new id."""

    anchor: tuple[float, float]
    height: float
    last_seen: float

    def matches(self, anchor: tuple[float, float], height: float) -> bool:
        near = np.hypot(anchor[0] - self.anchor[0], anchor[1] - self.anchor[1])
        return bool(near <= _SPOT_HEIGHTS * height and abs(height - self.height) <= 0.25 * height)


class StaticFilter:
    """`update(tracks, motion)` returns the tracks without the inert ones."""

    def __init__(self, never_moved_seconds: float, moved_seconds: float) -> None:
        self._never_moved_s = never_moved_seconds
        self._moved_s = moved_seconds
        self._states: dict[int, _Stillness] = {}
        self._spots: list[_InertSpot] = []

    def update(self, tracks: Tracks, motion: MotionMask | None) -> Tracks:
        if self._never_moved_s <= 0 or motion is None:
            return tracks
        keep = np.ones(len(tracks), dtype=bool)
        anchors = tracks.bottom_centres()
        crossed = _overlapped(tracks.xyxy)
        for i, track_id in enumerate(tracks.track_id.tolist()):
            anchor = (float(anchors[i, 0]), float(anchors[i, 1]))
            state = self._states.get(track_id)
            if state is None:
                self._states[track_id] = _Stillness(anchor, tracks.pts, tracks.pts)
                continue
            state.last_seen = tracks.pts
            if len(tracks.confidence) == len(tracks):
                state.scores.append(float(tracks.confidence[i]))
            box = tracks.xyxy[i]
            height = float(box[3] - box[1])
            wandered = float(np.hypot(anchor[0] - state.spot[0], anchor[1] - state.spot[1]))
            # Motion in a box someone else's box overlaps is theirs: people walking past a
            # sign do not make it move.
            moving = not crossed[i] and has_motion(motion, box)
            if wandered > _SPOT_HEIGHTS * height or moving:
                state.spot, state.still_since = anchor, tracks.pts
                state.ever_moved = state.ever_moved or wandered > _SPOT_HEIGHTS * height
                continue
            still_for = tracks.pts - state.still_since
            spot = next((p for p in self._spots if p.matches(anchor, height)), None)
            limit = self._never_moved_s if state.doubtful else self._moved_s
            if spot is not None and state.doubtful:
                limit = _KNOWN_SPOT_S
            keep[i] = still_for < limit
            if not keep[i]:
                self._remember(spot, anchor, height, tracks.pts)
        self._forget(tracks.pts)
        return tracks if keep.all() else tracks.select(keep)

    def _remember(
        self, spot: _InertSpot | None, anchor: tuple[float, float], height: float, now: float
    ) -> None:
        if spot is None:
            self._spots.append(_InertSpot(anchor, height, now))
        else:
            spot.last_seen = now

    def _forget(self, now: float) -> None:
        for track_id in [t for t, s in self._states.items() if now - s.last_seen > _FORGET_AFTER_S]:
            del self._states[track_id]
        self._spots = [p for p in self._spots if now - p.last_seen <= _SPOT_MEMORY_S]


def _overlapped(xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    """For each box, whether any other box overlaps it."""
    x1 = np.maximum(xyxy[:, None, 0], xyxy[None, :, 0])
    y1 = np.maximum(xyxy[:, None, 1], xyxy[None, :, 1])
    x2 = np.minimum(xyxy[:, None, 2], xyxy[None, :, 2])
    y2 = np.minimum(xyxy[:, None, 3], xyxy[None, :, 3])
    overlap = (x2 > x1) & (y2 > y1)
    np.fill_diagonal(overlap, False)
    return np.asarray(overlap.any(axis=1))


def has_motion(motion: MotionMask, box: npt.NDArray[np.float32]) -> bool:
    """Whether the motion mask (any size) has changed pixels in a normalised box."""
    height, width = motion.shape
    x1, x2 = int(box[0] * width), int(np.ceil(box[2] * width))
    y1, y2 = int(box[1] * height), int(np.ceil(box[3] * height))
    region = motion[max(0, y1) : max(y1 + 1, y2), max(0, x1) : max(x1 + 1, x2)]
    return region.size > 0 and float(region.mean()) >= _MOTION_SHARE
