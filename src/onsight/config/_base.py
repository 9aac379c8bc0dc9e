"""Building blocks shared by every config model: the strict base, normalised points, polygons."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from onsight.geometry import polygon_area

# Names of cameras, lines, zones, ...: safe in MQTT topics, URLs, file names and SQL values.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
NAME_RULE = "use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"

Coordinate = Annotated[float, Field(ge=0.0, le=1.0, strict=False)]
NormPoint = Annotated[list[Coordinate], Field(min_length=2, max_length=2)]
Polygon = Annotated[list[NormPoint], Field(min_length=3)]


class Strict(BaseModel):
    """Unknown fields rejected, no type coercion, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def require_area(polygon: list[list[float]], what: str) -> None:
    """ValueError("the <what> polygon has no area") for a degenerate polygon."""
    if polygon_area([(p[0], p[1]) for p in polygon]) < 1e-6:
        raise ValueError(f"the {what} polygon has no area")
