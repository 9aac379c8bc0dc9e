"""Heatmaps: where people spend time, as person-seconds per floor cell per hour.

On a calibrated camera the cells are `cell_m` squares on the floor (metres, in the
calibration's ground frame); without a calibration they are an `image_cells` x
`image_cells` grid over the picture. A cell is released for an hour only when at least 5
distinct visits contributed to it (privacy rule 2): other cells are left out, not rounded.
Visits, not track ids, are counted (`visits.VisitKeys`), so one person the tracker loses and
finds again several times cannot make a cell look like five people.

Rows are aggregates per cell; no point, path or track is ever stored.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

import numpy as np
from pydantic import Field, model_validator

from onsight.apps.base import AppKind, Column, EventType
from onsight.apps.occupancy import of_classes
from onsight.apps.visits import VisitKeys
from onsight.config._base import Strict
from onsight.geometry import to_ground
from onsight.privacy.kanon import K
from onsight.types import Stamped, Tracks

if TYPE_CHECKING:
    from onsight.config.models import CameraConfig

_MAX_INTERVAL_S = 1.0  # a longer gap between analysed frames counts as this long
_MAX_CELLS = 100_000  # per hour; a camera configured to need more is refused


class HeatmapConfig(Strict):
    cell_m: float = Field(
        0.5, ge=0.1, le=10.0, strict=False, description="Cell size on a calibrated floor (m)."
    )
    image_cells: int = Field(
        20, ge=2, le=200, description="Cells across and down the picture when uncalibrated."
    )
    classes: list[str] = Field(
        default_factory=lambda: ["person"], min_length=1, description="Object classes mapped."
    )

    @property
    def name(self) -> str:
        return "heatmap"

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.image_cells**2 > _MAX_CELLS:
            raise ValueError("image_cells: too many cells")
        return self


@dataclass(frozen=True, slots=True)
class HeatmapCell(Stamped):
    """Person-seconds in one cell over one hour, from at least k distinct visits."""

    hour: datetime  # UTC, start of the hour
    camera: str
    grid: str  # "ground" (cells of `size` metres) or "image" (`size` = share of the picture)
    cell_x: int
    cell_y: int
    size: float
    visits: int
    person_seconds: float

    @property
    def kind(self) -> str:
        return "heatmap_cell"


class Heatmap:
    def __init__(
        self,
        camera: str,
        config: HeatmapConfig,
        class_names: list[str],
        homography: np.ndarray[Any, np.dtype[np.float64]] | None = None,
    ) -> None:
        self.camera, self.config = camera, config
        self._names, self._classes = class_names, set(config.classes)
        self._homography = homography
        self.grid = "ground" if homography is not None else "image"
        self.size = config.cell_m if homography is not None else 1.0 / config.image_cells
        self._keys = VisitKeys()
        self._hour: datetime | None = None
        self._last_pts: float | None = None
        self._seconds: dict[tuple[int, int], float] = defaultdict(float)
        self._visits: dict[tuple[int, int], set[int]] = defaultdict(set)
        self.released_cells = 0
        self.suppressed_cells = 0

    def cells(self, tracks: Tracks) -> list[tuple[int, int]]:
        """The cell of each wanted track's foot point."""
        feet = tracks.bottom_centres()
        points = np.asarray(
            to_ground(self._homography, feet) if self._homography is not None else feet,
            np.float64,
        )
        return [(int(x), int(y)) for x, y in np.floor(points / self.size)]

    def update(self, tracks: Tracks) -> list[HeatmapCell]:
        wanted = of_classes(tracks, self._classes, self._names)
        mine = tracks.select(wanted)
        interval = 0.0 if self._last_pts is None else tracks.pts - self._last_pts
        interval = min(max(interval, 0.0), _MAX_INTERVAL_S)
        self._last_pts = tracks.pts
        hour = tracks.wall_time.replace(minute=0, second=0, microsecond=0)
        events = self._close_hour() if self._hour is not None and hour != self._hour else []
        self._hour = hour
        for cell, key in zip(self.cells(mine), self._keys.keys(mine), strict=True):
            self._seconds[cell] += interval
            self._visits[cell].add(key)
        if len(self._seconds) > _MAX_CELLS:  # a calibration far off the floor: do not grow
            events += self._close_hour()
        return events

    def flush(self) -> list[HeatmapCell]:
        return self._close_hour()

    def _close_hour(self) -> list[HeatmapCell]:
        seconds, visits = self._seconds, self._visits
        self._seconds, self._visits = defaultdict(float), defaultdict(set)
        if self._hour is None:
            return []
        released = []
        for (x, y), total in sorted(seconds.items()):
            count = len(visits[(x, y)])
            if count < K or total <= 0:
                self.suppressed_cells += 1
                continue
            released.append(
                HeatmapCell(self._hour, self.camera, self.grid, x, y, self.size, count, total)
            )
        self.released_cells += len(released)
        return released

    def summary(self) -> dict[str, Any]:
        return {
            "grid": self.grid,
            "released_cells": self.released_cells,
            "suppressed_cells": self.suppressed_cells,
        }


def _build(camera: CameraConfig, item: HeatmapConfig, names: list[str]) -> Heatmap:
    calibration = camera.calibration
    return Heatmap(
        camera.name, item, names, None if calibration is None else calibration.homography()
    )


HEATMAP_CELL = EventType(
    kind="heatmap_cell",
    event=HeatmapCell,
    table="heatmap_cells",
    time_column="hour",
    name_column="grid",
    topic="heatmap",
    label="hourly heatmap cells (at least 5 visits each)",
    description="Person-seconds in one cell over one hour (time: start of the hour); cells "
    "with fewer than 5 distinct visits are not released.",
    columns=(
        Column("cell_x", "INTEGER", "Cell column: floor(x / size), ground metres or picture."),
        Column("cell_y", "INTEGER", "Cell row: floor(y / size)."),
        Column("size", "REAL", "Cell size: metres (ground) or share of the picture (image)."),
        Column("visits", "INTEGER", "Distinct visits to the cell (>= 5).", check="visits >= 5"),
        Column(
            "presence_seconds", "REAL", "Person-seconds spent in the cell.",
            attribute="person_seconds", decimals=1,
        ),
    ),
    key=("hour", "camera", "grid", "cell_x", "cell_y"),
    merge="""DO UPDATE SET
        visits = max(visits, excluded.visits),
        presence_seconds = presence_seconds + excluded.presence_seconds""",
)  # fmt: skip

KIND: AppKind[HeatmapConfig, Heatmap] = AppKind(
    name="heatmap",
    section="heatmap",
    config=HeatmapConfig,
    build=_build,
    events=(HEATMAP_CELL,),
    measures="where people spend time, as time per floor cell per hour, only for cells at "
    "least 5 different people passed through; never anyone's path",
    purposes=frozenset({"footfall", "occupancy", "safety", "operations"}),
    heading="Heatmap",
    describe=lambda item: (
        f"cells of {item.cell_m:g} m on a calibrated floor, else "
        f"{item.image_cells}x{item.image_cells} over the picture"
    ),
    summary=Heatmap.summary,
    single=True,
)
