"""The one interface every detector backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from onsight.types import Detections, Image


class Detector(Protocol):
    """Finds objects in one BGR image; boxes come back in that image's pixels."""

    @property
    def class_names(self) -> Sequence[str]: ...

    def detect(self, image: Image) -> Detections: ...
