"""Heatmaps and flows: k-suppression (4 contributors absent, 5 present), visits not ids."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from onsight.apps.flows import OTHER, FlowHour, Flows
from onsight.apps.heatmap import Heatmap, HeatmapCell, HeatmapConfig
from onsight.config.calibration import CalibrationConfig
from onsight.config.models import CameraConfig
from onsight.events import EventStore
from onsight.types import Tracks

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
SQUARE = {"image": [[0, 0], [1, 0], [1, 1], [0, 1]], "ground": [[0, 0], [10, 0], [10, 10], [0, 10]]}
FPS = 10


def _tracks(t: float, people: list[tuple[int, float, float]]) -> Tracks:
    """Tracks with feet at normalised (x, y) for each (track id, x, y)."""
    boxes = [[x - 0.02, y - 0.1, x + 0.02, y] for _, x, y in people]
    return Tracks(
        t, T0 + timedelta(seconds=t), np.array(boxes, np.float32).reshape(-1, 4),
        np.zeros(len(people), np.int64), np.array([p[0] for p in people], np.int64),
    )  # fmt: skip


def _visit_cell(app: Heatmap | Flows, visitors: int, path: list[tuple[float, float]]) -> list:
    """`visitors` people one after another (3 s apart), each walking `path` at 1 point/frame."""
    events: list = []
    t = 0.0
    for person in range(visitors):
        for x, y in path:
            events += app.update(_tracks(t, [(person + 1, x, y)]))
            t += 1 / FPS
        t += 6.0  # gone long enough to end the visit
        events += app.update(_tracks(t, []))
    return events + app.flush()


def _heatmap(calibrated: bool = True) -> Heatmap:
    homography = CalibrationConfig.model_validate(SQUARE).homography() if calibrated else None
    return Heatmap("cam", HeatmapConfig(cell_m=1.0), ["person"], homography)


STAND = [(0.55, 0.55)] * 30  # 3 s standing in ground cell (5, 5)


@pytest.mark.parametrize(("visitors", "released"), [(4, False), (5, True)])
def test_a_heatmap_cell_needs_five_visits(visitors: int, released: bool) -> None:
    cells = [e for e in _visit_cell(_heatmap(), visitors, STAND) if isinstance(e, HeatmapCell)]
    assert bool(cells) is released
    if released:
        (cell,) = cells
        assert (cell.grid, cell.cell_x, cell.cell_y, cell.size, cell.visits) == (
            "ground", 5, 5, 1.0, 5,
        )  # fmt: skip
        assert cell.person_seconds == pytest.approx(5 * 2.9, abs=0.2)


def test_one_person_under_five_track_ids_is_still_one_visit() -> None:
    heatmap = _heatmap()
    for frame in range(150):  # 15 s standing still; the tracker changes their id every 3 s
        heatmap.update(_tracks(frame / FPS, [(100 + frame // 30, 0.55, 0.55)]))
    assert heatmap.flush() == [] and heatmap.suppressed_cells == 1


def test_uncalibrated_cameras_map_picture_cells() -> None:
    heatmap = Heatmap("cam", HeatmapConfig(image_cells=10), ["person"])
    (cell,) = _visit_cell(heatmap, 5, STAND)
    assert (cell.grid, cell.cell_x, cell.cell_y, cell.size) == ("image", 5, 5, 0.1)


def test_heatmap_rows_hold_no_point_or_track() -> None:
    names = {f.name for f in dataclasses.fields(HeatmapCell)}
    assert names == {
        "hour", "camera", "grid", "cell_x", "cell_y", "size", "visits", "person_seconds",
        "event_id",  # the event's own (types.Stamped), never a person's
    }  # fmt: skip


def _flows() -> Flows:
    camera = CameraConfig.model_validate(
        {
            "name": "cam",
            "url": "x.mp4",
            "lines": [{"name": "door", "points": [[0.2, 0.0], [0.2, 1.0]]}],
            "zones": [{"name": "till", "polygon": [[0.6, 0.0], [1, 0], [1, 1], [0.6, 1]]}],
            "flows": {},
        }
    )
    assert camera.flows is not None
    lines = {"door": ((0.2, 0.0), (0.2, 1.0))}
    zones = {"till": [(0.6, 0.0), (1.0, 0.0), (1.0, 1.0), (0.6, 1.0)]}
    return Flows("cam", camera.flows, ["person"], lines, zones)


WALK_IN = [(0.05 + 0.03 * i, 0.5) for i in range(30)]  # crosses the door, ends at the till


@pytest.mark.parametrize(("people", "released"), [(4, False), (5, True)])
def test_a_flow_pair_needs_five_people(people: int, released: bool) -> None:
    events = [e for e in _visit_cell(_flows(), people, WALK_IN) if isinstance(e, FlowHour)]
    pairs = {(e.origin, e.destination): e.people for e in events}
    if released:
        assert pairs == {("line:door", "zone:till"): 5}
    else:
        assert pairs == {(OTHER, OTHER): 4}  # left out, but summed as other


def test_a_flow_survives_an_id_switch_on_the_way() -> None:
    flows = _flows()
    events: list[FlowHour] = []
    t = 0.0
    for person in range(5):
        for i, (x, y) in enumerate(WALK_IN):
            ident = person * 10 + (1 if i < 15 else 2)  # a new id half way
            events += flows.update(_tracks(t, [(ident, x, y)]))
            t += 1 / FPS
        t += 6.0
        events += flows.update(_tracks(t, []))
    events += flows.flush()
    assert {(e.origin, e.destination): e.people for e in events} == {("line:door", "zone:till"): 5}


def test_flow_and_heatmap_rows_are_stored(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "onsight.db")
    try:
        store.write(_visit_cell(_flows(), 5, WALK_IN) + _visit_cell(_heatmap(), 5, STAND))
        assert store.count_rows("flow_hours") == 1 and store.count_rows("heatmap_cells") == 1
        with pytest.raises(Exception, match="CHECK"):
            store.write([HeatmapCell(T0, "cam", "ground", 1, 1, 1.0, 4, 10.0)])
    finally:
        store.close()
