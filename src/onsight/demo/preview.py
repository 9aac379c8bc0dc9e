"""Keeps the busiest analysed frame of the demo and saves it redacted with the overlay."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from onsight.annotate import draw_overlay
from onsight.privacy import Finders, save_redacted
from onsight.privacy.redact import redact
from onsight.runtime import CameraPipeline, FrameResult


class PreviewPicker:
    def __init__(self) -> None:
        self._best: FrameResult | None = None
        self._pipeline: CameraPipeline | None = None

    def __call__(self, pipeline: CameraPipeline, result: FrameResult) -> None:
        if self._best is None or len(result.tracks) > len(self._best.tracks):
            self._best, self._pipeline = result, pipeline

    def save(self, path: Path, finders: Finders) -> Path | None:
        if self._best is None or self._pipeline is None:
            return None
        best, pipeline = self._best, self._pipeline
        seen = np.concatenate([best.tracks.xyxy, best.people])
        redaction = redact(best.frame.image, pipeline.camera, finders, people=seen)
        save_redacted(
            path, redaction, overlay=lambda image: draw_overlay(image, pipeline, best.tracks)
        )
        return path
