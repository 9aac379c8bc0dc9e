"""Blackbody (external temperature reference) check and correction offset.

offset = set-point - measured. The camera's own error drifts with its housing temperature;
the blackbody in view measures that error every frame. Screening is only allowed while the
blackbody is where it should be, uniform, and steady over a whole window.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from onsight.config.screening import BlackbodyConfig
from onsight.thermal.frames import CelsiusFrame, MaskCache

_MIN_PIXELS = 4


@dataclass(frozen=True, slots=True)
class BlackbodyStatus:
    offset_c: float | None  # add to camera readings; None while screening must pause
    problem: str | None  # why screening pauses, for the local display

    @property
    def ok(self) -> bool:
        return self.problem is None


class BlackbodyMonitor:
    def __init__(self, config: BlackbodyConfig) -> None:
        self._config = config
        self._mask = MaskCache(config.region)
        self._history: deque[tuple[float, float]] = deque()  # (monotonic s, measured °C)
        self._since: float | None = None  # first reading of the current uninterrupted run

    def update(self, frame_c: CelsiusFrame, now: float) -> BlackbodyStatus:
        cfg = self._config
        mask = self._mask.get(*frame_c.shape)
        if int(mask.sum()) < _MIN_PIXELS:
            return self._fail(
                f"blackbody region covers fewer than {_MIN_PIXELS} pixels at this resolution"
            )
        values = np.asarray(frame_c[mask], dtype=np.float64)
        measured = float(np.median(values))
        if not np.isfinite(measured) or abs(cfg.set_point_c - measured) > cfg.max_offset_c:
            return self._fail(
                f"blackbody not found: its region reads {measured:.1f} °C, "
                f"set-point {cfg.set_point_c:.1f} °C"
            )
        low, high = np.percentile(values, [5, 95])
        if high - low > cfg.uniformity_c:
            return self._fail(
                f"blackbody region is not uniform ({high - low:.1f} °C spread): "
                "something in front of it, or the region is misplaced"
            )
        self._history.append((now, measured))
        while now - self._history[0][0] > cfg.drift_window_s:
            self._history.popleft()
        readings = [value for _, value in self._history]
        drift = max(readings) - min(readings)
        if drift > cfg.drift_c:
            return BlackbodyStatus(
                None,
                f"blackbody reading drifted {drift:.2f} °C within {cfg.drift_window_s:g} s "
                f"(limit {cfg.drift_c:.2f} °C): waiting for it to settle",
            )
        if self._since is None:
            self._since = now
        steady = now - self._since
        if steady < cfg.drift_window_s:
            return BlackbodyStatus(
                None, f"blackbody settling ({steady:.1f} s of {cfg.drift_window_s:g} s steady)"
            )
        return BlackbodyStatus(cfg.set_point_c - float(np.mean(readings)), None)

    def _fail(self, problem: str) -> BlackbodyStatus:
        self._history.clear()  # after any interruption the reading must be steady again
        self._since = None
        return BlackbodyStatus(None, problem)
