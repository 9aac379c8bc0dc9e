"""Keeps the busiest analysed frame of the demo and saves it redacted with the overlay."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from onsight.annotate import draw_overlay
from onsight.privacy import save_redacted
from onsight.runtime import CameraPipeline, FrameResult


class PreviewPicker:
    def __init__(self) -> None:
        self._best: FrameResult | None = None
        self._pipeline: CameraPipeline | None = None

    def __call__(self, pipeline: CameraPipeline, result: FrameResult) -> None:
        if self._best is None or len(result.tracks) > len(self._best.tracks):
            self._best, self._pipeline = result, pipeline

    def save(self, path: Path) -> Path | None:
        if self._best is None or self._pipeline is None:
            return None
        best, pipeline = self._best, self._pipeline
        save_redacted(
            path,
            best.frame.image,
            np.concatenate([best.tracks.xyxy, best.people]),
            overlay=lambda image: draw_overlay(image, pipeline, best.tracks),
        )
        return path
