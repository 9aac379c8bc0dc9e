"""Visits that survive the tracker losing someone: one key per person-visit, not per track id.

A tracker loses a person behind a post, in a crowd, or for a few frames of a missed
detection, and finds them again under a new id. Anything timed per visit (a queue wait, a
station cycle) would then see two short visits. A new track that starts within
`HANDOVER_S` of another being lost, no farther from where that one was last seen than a
person walks in the time, continues the lost one's visit. The line counter hands its side
history over by the same rule (`within_reach`).

Keys are ephemeral in-memory numbers like track ids (privacy rule 1): never stored or shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onsight.types import Tracks

HANDOVER_S = 2.0
# Reach, in box heights: slack for a jittery box, plus walking speed (heights per second).
HANDOVER_SLACK = 0.25
HANDOVER_SPEED = 0.8
_MIN_REACH = 0.02  # normalised: a box a few pixels high still reaches this far


def reach_share(
    point: tuple[float, float], last_point: tuple[float, float], height: float, gone: float
) -> float:
    """Distance from where a track was lost to where a new one started, as a share of how
    far a person could have walked in `gone` seconds (<= 1: within reach)."""
    reach = max(height * (HANDOVER_SLACK + HANDOVER_SPEED * gone), _MIN_REACH)
    return float(np.hypot(point[0] - last_point[0], point[1] - last_point[1])) / reach


@dataclass(slots=True)
class _Seen:
    key: int
    point: tuple[float, float]
    pts: float


class VisitKeys:
    """Gives each track a visit key that a replacement track (an id switch) inherits."""

    def __init__(self, forget_after_s: float = 10.0) -> None:
        self._by_track: dict[int, _Seen] = {}
        self._next_key = 0
        self._forget_after = forget_after_s

    def keys(self, tracks: Tracks) -> list[int]:
        """The visit key of each track in this frame, in order."""
        present = {int(t) for t in tracks.track_id}
        anchors = tracks.bottom_centres()
        heights = tracks.xyxy[:, 3] - tracks.xyxy[:, 1]
        out: list[int] = []
        for i, raw in enumerate(tracks.track_id.tolist()):
            point = (float(anchors[i, 0]), float(anchors[i, 1]))
            seen = self._by_track.get(raw)
            if seen is None:
                seen = _Seen(self._inherit(point, float(heights[i]), tracks.pts, present), point, 0)
                self._by_track[raw] = seen
            seen.point, seen.pts = point, tracks.pts
            out.append(seen.key)
        stale = [t for t, s in self._by_track.items() if tracks.pts - s.pts > self._forget_after]
        for track_id in stale:
            del self._by_track[track_id]
        return out

    def _inherit(
        self, point: tuple[float, float], height: float, now: float, present: set[int]
    ) -> int:
        """The key of the nearest track lost within reach, taken over; else a new key."""
        best, best_share = None, 1.0
        for track_id, seen in self._by_track.items():
            gone = now - seen.pts
            if track_id in present or not 0 < gone <= HANDOVER_S:
                continue
            share = reach_share(point, seen.point, height, gone)
            if share <= best_share:
                best, best_share = track_id, share
        if best is not None:
            return self._by_track.pop(best).key
        self._next_key += 1
        return self._next_key
