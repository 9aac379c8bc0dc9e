"""Live controls of a running camera: geometry edits without a restart, health, latest frame."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from onsight.apps.flows import KIND as FLOWS
from onsight.apps.line_count import KIND as LINES
from onsight.apps.occupancy import KIND as ZONES
from onsight.config.models import CameraConfig, LineConfig, ZoneConfig
from onsight.detect import make_detector
from onsight.errors import ConfigError
from onsight.events import EventBus
from onsight.runtime import CameraPipeline
from onsight.types import Event, Frame, ZoneMinute
from tests.conftest import assets_dir, require

DOOR = {"name": "path_v", "points": [[0.45, 0.25], [0.45, 1.0]]}
LEFT = {"name": "left", "polygon": [[0.0, 0.3], [0.45, 0.3], [0.45, 1.0], [0.0, 1.0]]}


class _Collect:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def write(self, events: Any) -> None:
        self.events.extend(events)


def _pipeline(bus: EventBus) -> CameraPipeline:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    camera = CameraConfig.model_validate(
        {"name": "cam", "url": str(video), "fps": 10, "lines": [DOOR], "zones": [LEFT]}
    )
    return CameraPipeline(camera, make_detector(), bus)


def _play(pipeline: CameraPipeline, frames: int) -> Iterator[Frame]:
    """Analyse `frames` frames; the returned iterator keeps the source open."""
    source = iter(pipeline.source.frames())
    for _ in range(frames):
        pipeline.process(next(source))
    return source


def test_geometry_edit_applies_on_the_next_frame_and_keeps_unchanged_counts() -> None:
    sink = _Collect()
    bus = EventBus([sink])
    pipeline = _pipeline(bus)
    assert pipeline.latest() is None
    _play(pipeline, 150)
    line = pipeline.running(LINES)[0]
    counted = line.total("in") + line.total("out")
    assert counted > 0
    assert pipeline.latest() is not None

    right = ZoneConfig.model_validate(
        {"name": "right", "polygon": [[0.45, 0.3], [1.0, 0.3], [1.0, 1.0], [0.45, 1.0]]}
    )
    pipeline.apply_geometry({"lines": [LineConfig.model_validate(DOOR)], "zones": [right]})
    bus.close()
    assert pipeline.running(LINES)[0] is line, "an unchanged line keeps its counter and totals"
    assert [z.config.name for z in pipeline.running(ZONES)] == ["right"]
    assert [z.name for z in pipeline.camera.zones] == ["right"]
    flushed = [e for e in sink.events if isinstance(e, ZoneMinute) and e.zone == "left"]
    assert flushed, "the removed zone's partial minute is published, not lost"

    _play(pipeline, 20)
    assert pipeline.running(ZONES)[0].frames == 20


def test_an_app_that_reads_the_zones_is_rebuilt_when_they_change() -> None:
    """Flows name the camera's lines and zones: editing a zone's polygon (same name, same
    flows config) must reach it, and what it held is published first."""
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    camera = CameraConfig.model_validate(
        {"name": "cam", "url": str(video), "fps": 10, "lines": [DOOR], "zones": [LEFT],
         "flows": {}}
    )  # fmt: skip
    pipeline = CameraPipeline(camera, make_detector(), EventBus([]))
    _play(pipeline, 5)
    (flows,) = pipeline.running(FLOWS)
    same = [LineConfig.model_validate(DOOR)], [ZoneConfig.model_validate(LEFT)]
    pipeline.apply_geometry({"lines": same[0], "zones": same[1]})
    assert pipeline.running(FLOWS) == [flows], "nothing it reads changed: kept"
    moved = ZoneConfig.model_validate({**LEFT, "polygon": [[0, 0], [0.3, 0], [0.3, 1], [0, 1]]})
    pipeline.apply_geometry({"lines": same[0], "zones": [moved]})
    (rebuilt,) = pipeline.running(FLOWS)
    assert rebuilt is not flows and rebuilt.config == flows.config


def test_geometry_with_an_unknown_class_is_refused_and_changes_nothing() -> None:
    pipeline = _pipeline(EventBus([]))
    bad = LineConfig.model_validate({**DOOR, "classes": ["unicorn"]})
    with pytest.raises(ConfigError, match="unicorn"):
        pipeline.apply_geometry({"lines": [bad], "zones": []})
    assert [line.config.name for line in pipeline.running(LINES)] == ["path_v"]
    assert [zone.config.name for zone in pipeline.running(ZONES)] == ["left"]


def test_health_reports_source_and_analysis_counters() -> None:
    pipeline = _pipeline(EventBus([]))
    source = _play(pipeline, 30)
    health = pipeline.health()
    assert health.connected and health.frames_analysed == 30
    assert health.frames_decoded >= 30
    assert 0.0 <= health.skip_ratio < 1.0
    assert health.last_frame_age_seconds is not None
    snapshot = pipeline.detect_latency.snapshot()
    assert snapshot.cumulative[-1] == 30 - round(health.skip_ratio * 30)
    list(source)  # to the end of the file: the source closes
    assert not pipeline.health().connected


SIGN = [[0.02, 0.15], [0.09, 0.15], [0.09, 0.3], [0.02, 0.3]]  # a blue sign in vtest


@pytest.mark.parametrize(
    ("settings", "counted"),
    [
        ({"still_objects": {"enabled": False}}, True),  # the sign counts as a person
        ({"still_objects": {"enabled": False}, "ignore": [SIGN]}, False),
        ({}, False),  # held out as a still object after 10 s
    ],
)
def test_the_sign_in_vtest_is_not_an_occupant(settings: dict[str, Any], counted: bool) -> None:
    """The detector sees a person in a sign near (0.05, 0.25) for the whole clip."""
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    area = {"name": "sign", "polygon": [[0.03, 0.22], [0.07, 0.22], [0.07, 0.28], [0.03, 0.28]]}
    camera = CameraConfig.model_validate(
        {"name": "cam", "url": str(video), "fps": 10, "zones": [area], **settings}
    )
    bus = EventBus([])
    pipeline = CameraPipeline(camera, make_detector(), bus)
    source = iter(pipeline.source.frames())
    occupied = 0
    for index in range(250):
        pipeline.process(next(source))
        occupied += index >= 110 and pipeline.running(ZONES)[0].current > 0
    bus.close()
    assert occupied > 130 if counted else occupied < 20, occupied
