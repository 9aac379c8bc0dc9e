"""A camera's ground-plane calibration: image points and the same points on the floor.

With it, every spatial figure (distancing, speeds, heatmap cells) is in metres on the
ground instead of in pixels, which mean centimetres near the camera and metres at the back.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Self

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator, model_validator

from onsight.config._base import NormPoint, Strict
from onsight.geometry import DegenerateCalibration, fit_homography, to_ground

GroundPoint = Annotated[list[float], Field(min_length=2, max_length=2)]

# An edit that leaves a camera's calibration as it is (None removes it).
KEEP: Literal["keep"] = "keep"


class CalibrationConfig(Strict):
    image: list[NormPoint] = Field(
        min_length=4,
        description="Points in the picture (normalised 0-1, origin top-left), at least 4, "
        "spread over the floor, no three on one line.",
    )
    ground: list[GroundPoint] = Field(
        min_length=4,
        description="The same points on the floor, in metres, in the same order (any origin "
        "and axes, e.g. a corner of the room and two walls).",
    )

    @field_validator("ground")
    @classmethod
    def _finite(cls, points: list[list[float]]) -> list[list[float]]:
        if not all(math.isfinite(v) for point in points for v in point):
            raise ValueError("ground points must be finite numbers of metres")
        return points

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if len(self.image) != len(self.ground):
            raise ValueError(
                f"{len(self.image)} image points but {len(self.ground)} ground points: "
                "give each image point its ground point"
            )
        try:
            self.homography()
        except DegenerateCalibration as exc:
            raise ValueError(str(exc)) from None
        return self

    def homography(self) -> npt.NDArray[np.float64]:
        """Normalised image point -> ground metres."""
        return fit_homography(np.array(self.image, np.float64), np.array(self.ground, np.float64))

    def errors_m(self) -> list[float]:
        """Per point: how far the fit puts the image point from its ground point, in metres."""
        fitted = to_ground(self.homography(), np.array(self.image, np.float64))
        return [float(v) for v in np.hypot(*(fitted - np.array(self.ground)).T)]
