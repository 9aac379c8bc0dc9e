"""Motion gate: a cheap difference against a running background on a small grey image.

It runs where the frame is decoded: in the camera's worker process when the camera is
isolated (the frame then carries the gate's reading, and the pipeline's gate adopts it),
else in the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from onsight.types import Frame, MotionReading

if TYPE_CHECKING:
    from onsight.config.models import MotionConfig

_WIDTH = 160
# Background adaptation per analysed frame: slow enough that a slow walker, who moves
# a pixel or two per frame at this size, still differs from it.
_ALPHA = 0.05
# I420 luma is video range (16-235); the gate's thresholds are in full-range grey levels.
_LUMA_OFFSET = 16.0
_LUMA_GAIN = 255.0 / 219.0


@dataclass(frozen=True)
class GateSettings:
    """A `MotionConfig`'s thresholds as plain data: what a decoding worker is given (it
    never imports the config schema, which would cost every worker its memory)."""

    enabled: bool
    threshold: float
    pixel_delta: int

    @classmethod
    def of(cls, config: MotionConfig) -> GateSettings:
        return cls(config.enabled, config.threshold, config.pixel_delta)


class MotionGate:
    """Says whether a frame has motion. The first frame always counts as motion."""

    def __init__(self, config: GateSettings) -> None:
        self._config = config
        self._background: npt.NDArray[np.float32] | None = None
        self.frames = 0
        self.motion_frames = 0
        # Changed pixels of the last frame on the small image (None while disabled):
        # the static-object filter looks inside track boxes with it.
        self.changed: npt.NDArray[np.bool_] | None = None

    def update(self, frame: Frame) -> bool:
        """Whether `frame` has motion: the reading it carries (made by the worker that
        decoded it), else read here."""
        reading = frame.motion if frame.motion is not None else self.read(frame)
        changed = reading.changed
        if frame.motion is not None and reading.first and self.frames and changed is not None:
            # A restarted worker's gate starts afresh: detect (moving), but do not tell the
            # still-object filter that every box moved, which would restart its timers.
            changed = np.zeros_like(changed)
        self.frames += 1
        self.motion_frames += int(reading.moving)
        self.changed = changed
        return reading.moving

    def read(self, frame: Frame) -> MotionReading:
        """Compare `frame` with the background, and fold it in."""
        if not self._config.enabled:
            return MotionReading(True, None)
        grey_f = _small_grey(frame)
        if self._background is None or self._background.shape != grey_f.shape:
            self._background = grey_f
            return MotionReading(True, np.ones(grey_f.shape, dtype=bool), first=True)
        changed = np.abs(grey_f - self._background) > self._config.pixel_delta
        cv2.accumulateWeighted(grey_f, self._background, _ALPHA)
        return MotionReading(float(changed.mean()) >= self._config.threshold, changed)


def _small_grey(frame: Frame) -> npt.NDArray[np.float32]:
    """The frame's brightness, _WIDTH pixels wide, blurred, in full-range grey levels.

    Read from the luma plane when the frame is I420, so the gate never converts to BGR."""
    height = max(1, round(frame.height * _WIDTH / frame.width))
    luma = frame.luma
    source = frame.image if luma is None else luma
    small = cv2.resize(source, (_WIDTH, height), interpolation=cv2.INTER_NEAREST)
    if luma is None:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    grey = cv2.GaussianBlur(small, (5, 5), 0).astype(np.float32)
    if luma is not None:
        grey -= _LUMA_OFFSET
        grey *= _LUMA_GAIN
    return grey
