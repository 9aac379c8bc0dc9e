"""ByteTrack from the `trackers` package (Apache-2.0), behind onsight's Tracker protocol."""

from __future__ import annotations

import warnings
from datetime import datetime

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from onsight.types import Detections, Tracks

# Seconds a lost track is kept for re-association (people pass behind each other).
_LOST_SECONDS = 2.0


class ByteTracker:
    """Tracks one camera's detections; ids are ephemeral and never leave memory."""

    def __init__(
        self,
        fps: float,
        activation_threshold: float = 0.45,
        high_confidence: float = 0.5,
        min_frames: int = 2,
        min_iou: float = 0.1,
    ) -> None:
        self._tracker = ByteTrackTracker(
            lost_track_buffer=round(_LOST_SECONDS * 30),
            frame_rate=fps,
            track_activation_threshold=activation_threshold,
            minimum_consecutive_frames=min_frames,
            minimum_iou_threshold=min_iou,
            high_conf_det_threshold=high_confidence,
        )

    @property
    def active(self) -> bool:
        return len(self._tracker.tracks) > 0

    @property
    def confirming(self) -> bool:
        """True while a new track waits for the detections that confirm it."""
        return any(track.tracker_id < 0 for track in self._tracker.tracks)

    def update(
        self, detections: Detections, width: int, height: int, pts: float, wall_time: datetime
    ) -> Tracks:
        sv_detections = sv.Detections(
            xyxy=detections.xyxy.astype(np.float32),
            confidence=detections.confidence,
            class_id=detections.class_id,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tracked = self._tracker.update(sv_detections)
        ids = np.asarray(tracked.tracker_id, dtype=np.int64)
        keep = ids >= 0  # unconfirmed detections are never counted
        scale = np.array([width, height, width, height], dtype=np.float32)
        xyxy = np.clip(np.asarray(tracked.xyxy[keep], np.float32) / scale, 0.0, 1.0)
        # an empty result from `trackers` carries class_id=None
        classes = tracked.class_id if tracked.class_id is not None else np.zeros(0)
        class_id = np.asarray(classes, dtype=np.int64)[keep]
        scores = tracked.confidence if tracked.confidence is not None else np.zeros(len(ids))
        confidence = np.asarray(scores, np.float32)[keep]
        return Tracks(pts, wall_time, xyxy.reshape(-1, 4), class_id, ids[keep], confidence)
