"""Counters the pipeline keeps for the health page and /metrics (no per-person data)."""

from __future__ import annotations

import threading
from bisect import bisect_left
from dataclasses import dataclass
from typing import Literal

# Detector latency buckets in seconds (Prometheus `le` bounds; +Inf is implicit).
LATENCY_BUCKETS: tuple[float, ...] = (0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0)


@dataclass(frozen=True, slots=True)
class HistogramSnapshot:
    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]  # observations <= each bound, then the total (+Inf)
    total: float  # sum of observed values


class LatencyHistogram:
    """Fixed-bucket histogram; `observe` from the camera thread, `snapshot` from any thread."""

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        with self._lock:
            self._counts[bisect_left(self._bounds, seconds)] += 1
            self._sum += seconds

    def snapshot(self) -> HistogramSnapshot:
        with self._lock:
            running, cumulative = 0, []
            for count in self._counts:
                running += count
                cumulative.append(running)
            return HistogramSnapshot(self._bounds, tuple(cumulative), self._sum)


# finished: a file played to its end; failed (set by the service): the runner gave it up.
CameraState = Literal["live", "connecting", "reconnecting", "finished", "failed"]


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """What the health page and /metrics show for one camera."""

    camera: str
    connected: bool
    fps: float  # analysed frames per second, recent
    skip_ratio: float  # analysed frames on which the detector was skipped (no motion)
    last_frame_age_seconds: float | None
    reconnects: int
    frames_decoded: int
    frames_analysed: int
    decode_errors: int
    events: int
    state: CameraState = "connecting"
    restarts: int = 0  # times its decoding worker was started again (it crashed or hung)
    reason: str | None = None  # why it is not live, in words (the last connection error)
