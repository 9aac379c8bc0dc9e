"""Motion gate: a cheap difference against a running background on a small grey image."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from onsight.config.models import MotionConfig
from onsight.types import Frame

_WIDTH = 160
# Background adaptation per analysed frame: slow enough that a slow walker, who moves
# a pixel or two per frame at this size, still differs from it.
_ALPHA = 0.05
# I420 luma is video range (16-235); the gate's thresholds are in full-range grey levels.
_LUMA_OFFSET = 16.0
_LUMA_GAIN = 255.0 / 219.0


class MotionGate:
    """Says whether a frame has motion. The first frame always counts as motion."""

    def __init__(self, config: MotionConfig) -> None:
        self._config = config
        self._background: npt.NDArray[np.float32] | None = None
        self.frames = 0
        self.motion_frames = 0
        # Changed pixels of the last frame on the small image (None while disabled):
        # the static-object filter looks inside track boxes with it.
        self.changed: npt.NDArray[np.bool_] | None = None

    def update(self, frame: Frame) -> bool:
        self.frames += 1
        if not self._config.enabled:
            self.motion_frames += 1
            return True
        grey_f = _small_grey(frame)
        if self._background is None or self._background.shape != grey_f.shape:
            self._background = grey_f
            self.changed = np.ones(grey_f.shape, dtype=bool)
            self.motion_frames += 1
            return True
        changed = np.abs(grey_f - self._background) > self._config.pixel_delta
        self.changed = changed
        cv2.accumulateWeighted(grey_f, self._background, _ALPHA)
        moving = float(changed.mean()) >= self._config.threshold
        self.motion_frames += int(moving)
        return moving


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
