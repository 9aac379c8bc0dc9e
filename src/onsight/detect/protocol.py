"""The one interface every detector backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from onsight.types import Detections, Image, Region


class Detector(Protocol):
    """Finds objects in one BGR image, or in its `region` only; boxes come back in the
    image's pixels."""

    @property
    def class_names(self) -> Sequence[str]: ...

    def detect(self, image: Image, region: Region | None = None) -> Detections: ...
