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

    # Whether a smaller region costs less (the canvas follows its shape); with a square
    # canvas a region would only hide what is outside it.
    @property
    def fitted_canvas(self) -> bool: ...

    def detect(self, image: Image, region: Region | None = None) -> Detections: ...
