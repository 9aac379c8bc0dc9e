"""Model-backed `Finders` for redaction: the configured person detector and CenterFace.

Both load on first use. The person detector runs at a lower score threshold than counting
does: for redaction a false blur costs nothing and a missed person does.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from onsight.detect import make_detector
from onsight.detect.protocol import Detector
from onsight.privacy.faces import FaceDetector, find_weights
from onsight.types import FloatArray, Image

REDACTION_SCORE = 0.1

if TYPE_CHECKING:  # the config schema lists the apps, which use privacy.kanon
    from onsight.config.models import DetectorConfig


class ModelFinders:
    """Thread-safe: one lock around both models (redaction is rare next to analysis)."""

    def __init__(self, detector: DetectorConfig, model_dir: Path | None = None) -> None:
        self._config = detector
        self._model_dir = model_dir
        self._lock = threading.Lock()
        self._people: Detector | None = None
        self._person_ids: FloatArray | None = None
        self._faces: FaceDetector | None = None

    def people(self, image: Image) -> FloatArray:
        with self._lock:
            if self._people is None:
                self._people = make_detector(
                    self._config.model,
                    self._config.backend,
                    REDACTION_SCORE,
                    self._config.threads,
                    self._model_dir,
                )
            detections = self._people.detect(image)
            person = self._people.class_names.index("person")
        height, width = image.shape[:2]
        boxes = detections.xyxy[detections.class_id == person]
        return np.asarray(boxes / np.array([width, height, width, height]), np.float32)

    def faces(self, image: Image, threshold: float) -> FloatArray:
        with self._lock:
            if self._faces is None:
                self._faces = FaceDetector(find_weights(self._model_dir))
            faces: FloatArray = self._faces.detect(image, threshold)
            return faces
