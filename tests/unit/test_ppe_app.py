"""The PPE app kind: one vote per track, counted once, released per zone and hour only from
at least 5 people; the readers here are plain rules on box position (the real readers, for
masks, hi-vis and a site's own items, are tested on images in their own files)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from onsight.apps.base import FrameView
from onsight.apps.ppe import PpeConfig, PpeHour, PpeMonitor
from onsight.privacy.kanon import K
from onsight.types import FloatArray, Image

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NAMES = ["person", "car"]
IMAGE = np.zeros((90, 160, 3), np.uint8)


class _LeftHalfWears:
    """Compliant when the box centre is left of the middle; unreadable above y 0.1."""

    def read(self, image: Image, boxes: FloatArray) -> list[bool | None]:
        centres = (boxes[:, 0] + boxes[:, 2]) / 2
        return [
            None if box[3] < 0.1 else bool(x < 0.5) for box, x in zip(boxes, centres, strict=True)
        ]


def _view(
    pts: float, people: list[tuple[int, float, float]], image: Image | None = IMAGE
) -> FrameView:
    """People as (track id, x, y of the feet)."""
    xyxy = np.array([[x - 0.02, y - 0.1, x + 0.02, y] for _, x, y in people], np.float32)
    return FrameView(
        pts=pts,
        wall_time=T0 + timedelta(seconds=pts),
        xyxy=xyxy.reshape(-1, 4),
        class_id=np.zeros(len(people), np.int64),
        track_id=np.array([t for t, _, _ in people], np.int64),
        image=image,
    )


def _monitor(**config: object) -> PpeMonitor:
    settings = PpeConfig.model_validate({"masks": True, **config})
    zones = {"left": [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)],
             "right": [(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)]}  # fmt: skip
    wanted = {name: zones[name] for name in settings.zones or []}
    return PpeMonitor("cam", settings, NAMES, {"mask": _LeftHalfWears()}, wanted)


def _walk(monitor: PpeMonitor, people: int, x: float, start: float = 0.0) -> list[PpeHour]:
    """`people` tracks, one after another, each 3 s in view at `x`, 3 s apart."""
    events: list[PpeHour] = []
    for person in range(people):
        for step in range(7):
            t = start + person * 6 + step * 0.5  # 3 s apart: never one visit handed on
            events += monitor.update(_view(t, [(100 + person, x, 0.8)]))
    return events


def test_each_person_is_counted_once_and_released_only_from_five() -> None:
    four = _monitor()
    _walk(four, 4, 0.2)
    assert four.flush() == [], "4 people: no share anywhere"
    assert four.summary() == {"ppe": {"faces": 0, "masked": 0, "mask_share": None}}, (
        "the summary adds up released hours only"
    )
    five = _monitor()
    _walk(five, 3, 0.2)
    _walk(five, 2, 0.8, start=20)
    (hour,) = five.flush()
    assert (hour.hour, hour.scope, hour.equipment, hour.seen, hour.compliant) == (
        T0, "camera", "mask", 5, 3
    )  # fmt: skip
    assert hour.share == pytest.approx(0.6)
    assert five.summary()["ppe"] == {"faces": 5, "masked": 3, "mask_share": 0.6}
    assert five.state()["mask_share"] == "60% of 5"
    assert _monitor().state()["mask_share"] == f"fewer than {K} people"


@pytest.mark.parametrize(
    ("path", "compliant"),
    [
        ([0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9], 0),  # 3 readings wearing, 4 not: not
        ([0.2, 0.3, 0.4, 0.45, 0.7, 0.8], 5),  # 4 to 2: wearing
        ([0.2, 0.3, 0.7, 0.8], 0),  # a tie is not a pass
    ],
)
def test_a_person_is_decided_once_by_majority(path: list[float], compliant: int) -> None:
    monitor = _monitor()
    for person in range(5):
        for step, x in enumerate(path):
            monitor.update(_view(person * 10 + step * 0.5, [(person, x, 0.8)]))
    (hour,) = monitor.flush()
    assert (hour.seen, hour.compliant) == (5, compliant)


def test_an_id_switch_or_a_return_is_still_one_person() -> None:
    """The tracker loses someone and finds them again under a new id (a visit handed over),
    or the same id comes back after a moment away: one person, counted once."""
    monitor = _monitor()
    for step in range(6):
        monitor.update(_view(step * 0.5, [(1, 0.2, 0.8)]))
    for step in range(6):  # a new id 0.5 s later, where the first was lost
        monitor.update(_view(3.5 + step * 0.5, [(2, 0.21, 0.8)]))
    for step in range(4):  # id 2 again after 4 s away
        monitor.update(_view(10 + step * 0.5, [(2, 0.22, 0.8)]))
    _walk(monitor, 4, 0.2, start=30)
    (hour,) = monitor.flush()
    assert hour.seen == 5


def test_someone_never_readable_is_not_counted() -> None:
    monitor = _monitor()
    for step in range(6):
        monitor.update(_view(step * 0.5, [(1, 0.3, 0.05)]))  # face never readable
    monitor.flush()
    assert monitor.totals["mask"].seen == 0


def test_per_zone_people_outside_the_zones_do_not_count() -> None:
    monitor = _monitor(zones=["left"])
    _walk(monitor, 5, 0.2)
    _walk(monitor, 5, 0.8, start=40)  # in no configured zone
    (hour,) = monitor.flush()
    assert (hour.scope, hour.seen, hour.compliant) == ("left", 5, 5)


def test_hours_are_released_as_they_end() -> None:
    monitor = _monitor()
    events = _walk(monitor, 5, 0.2, start=3600 - 40)  # all leave before 10:00
    events += _walk(monitor, 5, 0.8, start=3600 + 10)
    assert [(e.hour, e.scope, e.compliant) for e in events] == [(T0, "camera", 5)], (
        "9:00 is released when 10:00 starts, with everyone last seen before it"
    )
    (ten,) = monitor.flush()
    assert (ten.hour, ten.seen, ten.compliant) == (T0 + timedelta(hours=1), 5, 0)


def test_readings_are_limited_to_reads_per_second() -> None:
    calls: list[int] = []

    class Counting(_LeftHalfWears):
        def read(self, image: Image, boxes: FloatArray) -> list[bool | None]:
            calls.append(len(boxes))
            return super().read(image, boxes)

    settings = PpeConfig(masks=True, reads_per_second=1.0)
    monitor = PpeMonitor("cam", settings, NAMES, {"mask": Counting()}, {})
    for step in range(20):  # 10 s at 2 fps
        monitor.update(_view(step * 0.5, [(1, 0.2, 0.8)]))
    assert len(calls) == 10


def _still_monitor() -> PpeMonitor:
    settings = PpeConfig(masks=True)
    return PpeMonitor("cam", settings, NAMES, {"mask": _LeftHalfWears()}, {}, stills=True)


def test_on_a_still_camera_five_sightings_of_one_person_are_not_five_people() -> None:
    """Stills give each person in each frame a new id: one person in five stills is five
    sightings, which could be one person, so nothing is released; a still with five
    people in it shows there were at least five."""
    alone = _still_monitor()
    for still in range(5):
        alone.update(_view(still * 3.0, [(1000 + still, 0.2, 0.8)]))
    assert alone.flush() == [] and alone.suppressed == 1
    crowd = _still_monitor()
    crowd.update(_view(0.0, [(2000 + i, 0.1 + 0.15 * i, 0.8) for i in range(5)]))
    crowd.update(_view(3.0, [(2100, 0.2, 0.8)]))
    (hour,) = crowd.flush()
    assert (hour.seen, hour.compliant) == (6, 4), "sightings, released as one still had 5"


class _FacesAlone(_LeftHalfWears):
    """Also sees faces in no person box: `alone` of them per still, along y 0.3 from x 0.1
    in steps of 0.15, the first `masked` of them wearing a mask."""

    def __init__(self, alone: int, masked: int) -> None:
        self.alone, self.masked = alone, masked

    def read_with_loose(
        self, image: Image, boxes: FloatArray, loose: bool = True
    ) -> tuple[list[bool | None], list[tuple[bool, float, float]]]:
        faces = [(i < self.masked, 0.1 + 0.15 * i, 0.3) for i in range(self.alone)]
        return self.read(image, boxes), faces if loose else []


@pytest.mark.parametrize(
    ("people", "alone", "released"), [(0, 5, True), (2, 3, True), (1, 3, False)]
)
def test_on_stills_faces_without_a_person_box_count_for_masks(
    people: int, alone: int, released: bool
) -> None:
    """A close-up or a crowd: faces the person detector missed are sightings too, and count
    toward the still's 5 people; never more than the still showed."""
    reader = _FacesAlone(alone, masked=2)
    monitor = PpeMonitor("cam", PpeConfig(masks=True), NAMES, {"mask": reader}, {}, stills=True)
    monitor.update(_view(0.0, [(3000 + i, 0.2, 0.8) for i in range(people)]))
    hours = monitor.flush()
    if not released:
        assert hours == [] and monitor.suppressed == 1
        return
    (hour,) = hours
    assert (hour.seen, hour.compliant) == (people + alone, people + 2)


def test_a_box_and_its_own_loose_face_are_one_person_for_the_k_rule() -> None:
    """Four people whose boxes hold no face (heads cut off) and their four faces, read
    loose: four people, not eight, so nothing is released."""

    class _Headless(_FacesAlone):
        def read(self, image: Image, boxes: FloatArray) -> list[bool | None]:
            return [None] * len(boxes)

    monitor = PpeMonitor(
        "cam", PpeConfig(masks=True), NAMES, {"mask": _Headless(4, masked=4)}, {}, stills=True
    )
    monitor.update(_view(0.0, [(3100 + i, 0.1 + 0.15 * i, 0.9) for i in range(4)]))
    assert monitor.flush() == [] and monitor.suppressed == 1


def test_loose_faces_in_an_ignored_area_are_not_people() -> None:
    """A poster or a screen in an `ignore` polygon: its faces are no sightings, and do not
    make up the still's 5."""
    screen = [[(0.0, 0.0), (0.3, 0.0), (0.3, 0.5), (0.0, 0.5)]]  # holds the first 2 faces
    monitor = PpeMonitor(
        "cam", PpeConfig(masks=True), NAMES, {"mask": _FacesAlone(5, masked=0)}, {},
        stills=True, ignore=screen,
    )  # fmt: skip
    monitor.update(_view(0.0, []))
    assert monitor.flush() == [] and monitor.suppressed == 1


def test_faces_without_a_person_box_are_not_used_on_video_or_with_zones() -> None:
    reader = _FacesAlone(5, masked=5)
    video = PpeMonitor("cam", PpeConfig(masks=True), NAMES, {"mask": reader}, {})
    settings = PpeConfig(masks=True, zones=["left"])
    zoned = PpeMonitor(
        "cam", settings, NAMES, {"mask": reader}, {"left": [(0, 0), (1, 0), (1, 1)]}, stills=True
    )
    for monitor in (video, zoned):
        for step in range(4):
            monitor.update(_view(step * 3.0, []))
        assert monitor.flush() == [] and monitor.suppressed == 0


def test_the_live_view_shows_each_hour_and_its_k_suppression() -> None:
    monitor = _monitor(zones=["left", "right"])
    _walk(monitor, 6, x=0.2)  # 09h: six people on the left, none on the right
    _walk(monitor, 6, x=0.2, start=3600.0)  # 10h: six on the left...
    _walk(monitor, 2, x=0.8, start=3700.0)  # ... and two on the right
    _walk(monitor, 3, x=0.8, start=7200.0)  # 11h: three on the right only
    monitor.flush()
    state = monitor.state()
    assert state["mask_hours"] == [
        "09h 100% of 6",
        "10h 100% of 6 (+1 area with fewer than 5)",
        "11h fewer than 5 people",
    ]
    assert state["mask_share"] == "100% of 12"
    assert _monitor().state()["mask_hours"] == "no hour ended yet"


def test_walking_in_and_out_of_a_zone_is_one_person() -> None:
    monitor = _monitor(zones=["left"])
    for step, x in enumerate([0.2, 0.3, 0.6, 0.7, 0.3, 0.2, 0.6, 0.3, 0.2]):
        monitor.update(_view(step * 0.5, [(1, x, 0.8)]))
    _walk(monitor, 4, 0.2, start=20)
    (hour,) = monitor.flush()
    assert (hour.scope, hour.seen) == ("left", 5)


def test_the_event_carries_no_track_box_or_person() -> None:
    names = [f.name for f in dataclasses.fields(PpeHour)]
    assert names == ["event_id", "hour", "camera", "scope", "equipment", "seen", "compliant",
                     "share"]  # fmt: skip


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "at least one of"),
        ({"required": ["helmet"]}, "ppe.model"),
        ({"masks": True, "reads_per_second": 0}, "greater than 0"),
    ],
)
def test_the_config_says_what_is_missing(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PpeConfig.model_validate(config)
    assert message in str(caught.value)


def test_the_table_refuses_a_share_from_fewer_than_five() -> None:
    """Privacy rule 2 in SQL too: a row over fewer than 5 people cannot be stored."""
    import sqlite3

    from onsight.apps.ppe import PPE_HOUR
    from onsight.events.store import _insert

    db = sqlite3.connect(":memory:")
    db.executescript(PPE_HOUR.create_table())
    row = ["2026-03-01T09:00:00.000Z", "cam", "camera", "mask"]
    db.execute(_insert(PPE_HOUR), [*row, 5, 4, 0.8, "id-1"])
    for seen, compliant in ((4, 4), (6, 7), (6, -1)):
        with pytest.raises(sqlite3.IntegrityError):
            db.execute(_insert(PPE_HOUR), [*row[:3], "hivis", seen, compliant, 0.5, "id-2"])
