"""Still mode: every detection is its own fresh track, never linked across frames.

A camera that takes stills (an image file, a folder of images, a snapshot URL, or any
camera at fps <= 1) sees frames too far apart in time to follow anyone from one to the
next. Each frame is then analysed on its own: every detection that would start a track
gets a new id, so apps count observations (sightings), not people, and a line crossing,
which needs one track on both sides of a line, never happens.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import numpy as np

from onsight.types import Detections, IntArray, Tracks


class StillTracker:
    """The `Tracker` of still mode: new ids every frame, no state across frames."""

    def __init__(self, activation_threshold: float = 0.45) -> None:
        # The same bar ByteTrack sets for starting a track, so one detection counts alike
        # in both modes.
        self._threshold = activation_threshold
        self._next_id = 1

    @property
    def active(self) -> bool:
        """Never: no track outlives its frame, so nothing keeps the detector running."""
        return False

    @property
    def confirming(self) -> bool:
        return False

    def update(
        self, detections: Detections, width: int, height: int, pts: float, wall_time: datetime
    ) -> Tracks:
        keep = detections.confidence >= self._threshold
        scale = np.array([width, height, width, height], dtype=np.float32)
        xyxy = np.clip(detections.xyxy[keep].astype(np.float32) / scale, 0.0, 1.0)
        class_id = detections.class_id[keep].astype(np.int64)
        confidence = detections.confidence[keep].astype(np.float32)
        ids = self._ids(len(xyxy))
        return Tracks(pts, wall_time, xyxy.reshape(-1, 4), class_id, ids, confidence)

    def again(self, tracks: Tracks, pts: float, wall_time: datetime) -> Tracks:
        """The previous frame's observations seen again in an unchanged scene (the motion
        gate skipped the detector): the same boxes, as new observations with new ids."""
        return replace(tracks, pts=pts, wall_time=wall_time, track_id=self._ids(len(tracks)))

    def _ids(self, n: int) -> IntArray:
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        return ids
