"""OpenCV DNN backend (cv2.dnn.readNetFromONNX, CPU)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from onsight.errors import ModelError


class OpenCVRunner:
    """A cv2.dnn network on the CPU.

    OpenCV's thread count is process-wide, so `threads` also applies to cv2 image operations;
    onsight runs one camera per process, which makes that acceptable.
    """

    def __init__(self, weights: Path, output_names: Sequence[str], threads: int = 1) -> None:
        if threads < 1:
            raise ModelError(f"threads must be >= 1, got {threads}")
        cv2.setNumThreads(threads)
        try:
            self._net = cv2.dnn.readNetFromONNX(str(weights))
        except cv2.error as exc:
            lines = str(exc).strip().splitlines()
            raise ModelError(
                f"OpenCV DNN cannot load {weights}: {lines[-1] if lines else exc}"
            ) from None
        self._outputs = list(output_names)

    def run(self, blob: npt.NDArray[np.float32]) -> Sequence[npt.NDArray[np.float32]]:
        self._net.setInput(blob)
        return cast("Sequence[npt.NDArray[np.float32]]", self._net.forward(self._outputs))
