"""Motion gate: a cheap difference against a running background on a small grey image."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from onsight.config.models import MotionConfig
from onsight.types import Image

_WIDTH = 160
# Background adaptation per analysed frame: slow enough that a slow walker, who moves
# a pixel or two per frame at this size, still differs from it.
_ALPHA = 0.05


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

    def update(self, image: Image) -> bool:
        self.frames += 1
        if not self._config.enabled:
            self.motion_frames += 1
            return True
        height = max(1, round(image.shape[0] * _WIDTH / image.shape[1]))
        small = cv2.resize(image, (_WIDTH, height), interpolation=cv2.INTER_NEAREST)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        grey_f = grey.astype(np.float32)
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
