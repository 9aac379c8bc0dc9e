"""The heatmap and flows page of a camera: released cells over a redacted snapshot and as a
floor plan, and the flows between lines and zones as a table and a Sankey-style chart.

Only stored rows are drawn: cells and pairs that met k >= 5 when their hour closed (and the
`other` total). Summing released hours over a date range keeps every cell k-safe.
"""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from onsight.service.auth import User
from onsight.service.overlay import frame_size
from onsight.service.queries import local_day_start
from onsight.service.web import Web
from onsight.types import utc_iso

_DEFAULT_DAYS = 7


@dataclass(frozen=True)
class Cell:
    points: str  # SVG polygon points
    opacity: float
    title: str


@dataclass(frozen=True)
class Band:
    path: str  # SVG path of the band's centre line
    width: float
    title: str


@dataclass(frozen=True)
class Node:
    x: float
    y: float
    height: float
    label: str
    anchor: str


def _opacity(value: float, top: float) -> float:
    return round(0.15 + 0.6 * value / top, 3) if top > 0 else 0.0


def image_cells(
    rows: list[tuple[str, int, int, float, float]],
    homography: np.ndarray | None,
    size: tuple[int, int],
) -> list[Cell]:
    """Cells as polygons over the camera image (ground cells through the calibration)."""
    width, height = size
    inverse = None if homography is None else np.linalg.inv(homography)
    top = max((seconds for *_, seconds in rows), default=0.0)
    cells = []
    for grid, x, y, step, seconds in rows:
        corners = np.array([[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1]], np.float64) * step
        if grid == "ground":
            if inverse is None:
                continue  # the calibration was removed since: no way to place it
            projected = np.c_[corners, np.ones(4)] @ inverse.T
            if np.any(projected[:, 2] <= 0):
                continue  # behind the horizon
            corners = projected[:, :2] / projected[:, 2:3]
        pixels = corners * [width, height]
        points = " ".join(f"{px:.1f},{py:.1f}" for px, py in pixels)
        cells.append(Cell(points, _opacity(seconds, top), f"{seconds:.0f} person-seconds"))
    return cells


@dataclass(frozen=True)
class FloorPlan:
    """Released ground cells in metres, with a metre grid and a scale bar to read them by."""

    cells: list[Cell]
    box: str  # SVG viewBox
    grid: list[tuple[float, float, float, float]]  # x1, y1, x2, y2 of each grid line
    ticks: list[tuple[float, float, str]]  # x, y, text of each axis label
    scale: tuple[float, float, float, str]  # scale bar: x, y, length, text
    font: float  # label size, metres


def floor_plan(rows: list[tuple[str, int, int, float, float]]) -> FloorPlan | None:
    """Ground cells as a floor plan in metres (None without any ground cell)."""
    ground = [row for row in rows if row[0] == "ground"]
    if not ground:
        return None
    top = max(seconds for *_, seconds in ground)
    cells = []
    for _, x, y, step, seconds in ground:
        x0, y0 = x * step, y * step
        corners = [(x0, y0), (x0 + step, y0), (x0 + step, y0 + step), (x0, y0 + step)]
        points = " ".join(f"{px:.2f},{py:.2f}" for px, py in corners)
        cells.append(Cell(points, _opacity(seconds, top), f"{seconds:.0f} person-seconds"))
    xs = [x * step for _, x, _, step, _ in ground] + [(x + 1) * step for _, x, _, step, _ in ground]
    ys = [y * step for _, _, y, step, _ in ground] + [(y + 1) * step for _, _, y, step, _ in ground]
    left, right = np.floor(min(xs)), np.ceil(max(xs))
    top_m, bottom = np.floor(min(ys)), np.ceil(max(ys))
    span = max(right - left, bottom - top_m)
    every = 1.0 if span <= 12 else 5.0 if span <= 60 else 10.0  # keep the grid readable
    font = round(max(0.25, span * 0.03), 2)
    grid, ticks = [], []
    for x in np.arange(np.ceil(left / every) * every, right + 1e-9, every):
        grid.append((float(x), float(top_m), float(x), float(bottom)))
        ticks.append((float(x), float(bottom) + 1.2 * font, f"{x:g}"))
    for y in np.arange(np.ceil(top_m / every) * every, bottom + 1e-9, every):
        grid.append((float(left), float(y), float(right), float(y)))
        ticks.append((float(left) - 0.8 * font, float(y) + 0.35 * font, f"{y:g}"))
    scale = (float(right) - every, float(top_m) - 0.6 * font, every, f"{every:g} m")
    pad = 2.5 * font
    box = f"{left - pad:.2f} {top_m - pad:.2f} {right - left + 2 * pad:.2f} "
    box += f"{bottom - top_m + 2 * pad:.2f}"
    return FloorPlan(cells, box, grid, ticks, scale, font)


def sankey(pairs: list[tuple[str, str, int]]) -> tuple[list[Node], list[Band]]:
    """Origins on the left, destinations on the right, bands as wide as their people."""
    if not pairs:
        return [], []
    total = sum(people for *_, people in pairs)
    scale = 240.0 / total
    gap = 12.0
    nodes: list[Node] = []
    tops: dict[tuple[str, str], float] = {}
    for side, x, anchor in (("origin", 150.0, "end"), ("destination", 450.0, "start")):
        names = sorted({pair[0] if side == "origin" else pair[1] for pair in pairs})
        y = 10.0
        for name in names:
            people = sum(p for o, d, p in pairs if (o if side == "origin" else d) == name)
            nodes.append(Node(x, y, people * scale, f"{name} ({people})", anchor))
            tops[(side, name)] = y
            y += people * scale + gap
    bands = []
    for origin, destination, people in pairs:
        width = people * scale
        y1 = tops[("origin", origin)] + width / 2
        y2 = tops[("destination", destination)] + width / 2
        tops[("origin", origin)] += width
        tops[("destination", destination)] += width
        path = f"M 156 {y1:.1f} C 300 {y1:.1f}, 300 {y2:.1f}, 444 {y2:.1f}"
        bands.append(Band(path, round(width, 1), f"{origin} → {destination}: {people}"))
    return nodes, bands


def _range(from_: str, to: str, errors: list[str]) -> tuple[date, date]:
    today = datetime.now().astimezone().date()
    first, last = today - timedelta(days=_DEFAULT_DAYS - 1), today
    for text, what in ((from_, "from"), (to, "to")):
        if not text:
            continue
        try:
            day = date.fromisoformat(text)
        except ValueError:
            errors.append(f"{what}: a date like 2024-05-01")
            continue
        first, last = (day, last) if what == "from" else (first, day)
    if first > last:
        errors.append("from is after to")
        first, last = last, first
    return first, last


def router(web: Web) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    Viewer = Annotated[User, Depends(web.auth.user)]

    @routes.get("/cameras/{name}/spatial")
    def spatial(
        name: str,
        request: Request,
        user: Viewer,
        from_: Annotated[str, Query(alias="from", max_length=20)] = "",
        to: Annotated[str, Query(max_length=20)] = "",
    ) -> HTMLResponse:
        camera = web.camera(name)
        errors: list[str] = []
        first, last = _range(from_, to, errors)
        start, end = local_day_start(first), local_day_start(last + timedelta(days=1))
        cells, pairs = _rows(web, name, start, end)
        calibration = camera.config.calibration
        homography = None if calibration is None else calibration.homography()
        size = frame_size(camera)
        nodes, bands = sankey(pairs)
        return web.page(
            request,
            "spatial.html.j2",
            user,
            camera=name,
            width=size[0],
            height=size[1],
            cells=image_cells(cells, homography, size),
            floor=floor_plan(cells),
            pairs=pairs,
            nodes=nodes,
            bands=bands,
            first=first.isoformat(),
            last=last.isoformat(),
            errors=errors,
            nav="overview",
        )

    return routes


def _rows(
    web: Web, camera: str, start: datetime, end: datetime
) -> tuple[list[tuple[str, int, int, float, float]], list[tuple[str, str, int]]]:
    since, until = utc_iso(start), utc_iso(end)
    try:
        with web.queries.connect() as con:
            cells = con.execute(
                "SELECT grid, cell_x, cell_y, size, sum(presence_seconds) FROM heatmap_cells "
                "WHERE camera = ? AND hour >= ? AND hour < ? GROUP BY 1, 2, 3, 4",
                (camera, since, until),
            ).fetchall()
            pairs = con.execute(
                "SELECT origin, destination, sum(people) FROM flow_hours "
                "WHERE camera = ? AND hour >= ? AND hour < ? GROUP BY 1, 2 ORDER BY 3 DESC",
                (camera, since, until),
            ).fetchall()
    except sqlite3.OperationalError:  # a database from before these apps existed
        return [], []
    return (
        [(str(g), int(x), int(y), float(s), float(v)) for g, x, y, s, v in cells],
        [(str(o), str(d), int(n)) for o, d, n in pairs],
    )
