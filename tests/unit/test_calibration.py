"""Ground-plane calibration (the real vtest calibration) and distancing in metres."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from onsight.apps.distancing import DistancingConfig, DistancingMinute, DistancingMonitor
from onsight.config.calibration import CalibrationConfig
from onsight.config.models import CameraConfig
from onsight.geometry import to_ground
from onsight.types import Tracks
from tests.conftest import assets_dir, require, vtest_calibration

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
SQUARE = {"image": [[0, 0], [1, 0], [1, 1], [0, 1]], "ground": [[0, 0], [10, 0], [10, 10], [0, 10]]}


def _pets() -> dict[str, Any]:
    path = require(
        assets_dir() / "calibration" / "pets09_view001_homography.json", "vtest calibration"
    )
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _vtest_calibration() -> CalibrationConfig:
    return CalibrationConfig.model_validate(vtest_calibration())


def test_the_vtest_calibration_fits_its_points_within_ten_centimetres() -> None:
    calibration = _vtest_calibration()
    errors = calibration.errors_m()
    assert len(errors) == 10 and max(errors) < 0.1, errors


def test_the_fit_agrees_with_the_published_homography_over_the_ground() -> None:
    published = np.array(_pets()["H_480x360_px_to_ground_m"], np.float64)
    u, v = np.meshgrid(np.linspace(10, 470, 24), np.linspace(80, 355, 12))
    pixels = np.c_[u.ravel(), v.ravel()]
    projected = np.c_[pixels, np.ones(len(pixels))] @ published.T
    expected = projected[:, :2] / projected[:, 2:3]
    ours = to_ground(_vtest_calibration().homography(), pixels / [480, 360])
    gaps = np.hypot(*(ours - expected).T)
    assert float(np.median(gaps)) < 0.15 and float(np.percentile(gaps, 95)) < 0.5


@pytest.mark.parametrize(
    ("image", "ground", "message"),
    [
        ([[0, 0], [0.5, 0.5], [1, 1], [0.25, 0.25]], SQUARE["ground"], "image points lie on"),
        (SQUARE["image"], [[0, 0], [1, 0], [2, 0], [3, 0]], "ground points lie on"),
        (SQUARE["image"], [[0, 0], [10, 0], [0, 10], [10, 10]], "beyond the horizon"),
        (SQUARE["image"] + [[0.5, 0.5]], SQUARE["ground"], "5 image points but 4 ground"),
        (SQUARE["image"][:3], SQUARE["ground"][:3], "at least 4"),
    ],
)
def test_bad_calibrations_are_refused_in_words(
    image: list[list[float]], ground: list[list[float]], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        CalibrationConfig(image=image, ground=ground)


def test_distancing_needs_a_calibration_and_a_purpose_that_allows_it() -> None:
    base = {"name": "c", "url": "x.mp4", "purpose": "safety", "distancing": {"threshold_m": 2}}
    with pytest.raises(ValidationError, match="distancing needs a `calibration:`"):
        CameraConfig.model_validate(base)
    assert CameraConfig.model_validate({**base, "calibration": SQUARE}).apps() == {"distancing"}
    with pytest.raises(ValidationError, match="does not permit distancing"):
        CameraConfig.model_validate({**base, "calibration": SQUARE, "purpose": "footfall"})


def _tracks(t: float, feet: list[tuple[float, float]], first_id: int = 1) -> Tracks:
    """People whose feet stand at these ground points (metres, on the 10 m SQUARE)."""
    boxes = [[x / 10 - 0.02, y / 10 - 0.1, x / 10 + 0.02, y / 10] for x, y in feet]
    return Tracks(
        t, T0 + timedelta(seconds=t), np.array(boxes, np.float32).reshape(-1, 4),
        np.zeros(len(feet), np.int64), np.arange(first_id, first_id + len(feet)),
    )  # fmt: skip


def _monitor(threshold: float = 2.0) -> DistancingMonitor:
    homography = CalibrationConfig.model_validate(SQUARE).homography()
    return DistancingMonitor("cam", DistancingConfig(threshold_m=threshold), ["person"], homography)


def test_close_share_from_known_ground_distances() -> None:
    monitor = _monitor()
    # Two pairs 1.5 m apart (close), one person 5 m from everyone: 4 of 5 are close.
    feet = [(1, 2), (2.5, 2), (6, 8), (6, 6.5), (9, 1)]
    events: list[DistancingMinute] = []
    for i in range(601):  # 60 s at 10 fps, into the next minute
        events += monitor.update(_tracks(i / 10, feet))
    (minute,) = events
    assert minute.people == 5
    assert minute.person_seconds == pytest.approx(5 * 59.9, rel=1e-3)
    assert minute.close_share == pytest.approx(0.8)
    assert monitor.summary()["close_share"] == pytest.approx(0.8)
    assert _monitor(threshold=1.4).update(_tracks(0.0, feet)) == []
    wide = _monitor(threshold=1.4)
    for i in range(20):
        wide.update(_tracks(i / 10, feet))
    assert wide.close_share == 0.0


def test_a_minute_with_fewer_than_five_people_is_not_released() -> None:
    few = _monitor()
    for i in range(601):
        few.update(_tracks(i / 10, [(1, 1), (1.5, 1), (8, 8), (8, 8.5)]))
    assert few.flush() == [] and few.suppressed_minutes == 2
    assert few.summary()["close_share"] == pytest.approx(1.0)  # local totals still kept


def test_calibrate_draws_a_metre_grid_over_a_redacted_snapshot(tmp_path: Path) -> None:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    calibration = _vtest_calibration()
    config = tmp_path / "site.yaml"
    config.write_text(
        json.dumps(
            {
                "cameras": [
                    {
                        "name": "square",
                        "url": str(video),
                        "purpose": "safety",
                        "calibration": calibration.model_dump(),
                        "distancing": {"threshold_m": 2.0},
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    onsight = [sys.executable, "-m", "onsight.cli"]
    check = subprocess.run([*onsight, "check", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "calibration: 10 points, fit error per point (m):" in check.stdout
    out = tmp_path / "grid.png"
    run = subprocess.run(
        [*onsight, "calibrate", str(config), "--camera", "square", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "1 m grid over camera square" in run.stdout
    image = cv2.imread(str(out))
    assert image is not None and image.shape[:2] == (360, 480)
    grid = np.all(np.abs(image.astype(int) - [0, 220, 255]) < 40, axis=2).sum()  # grid colour
    assert grid > 1000, "the grid is drawn"


def test_a_distancing_minute_written_twice_adds_up(tmp_path: Path) -> None:
    from onsight.events import EventStore

    store = EventStore(tmp_path / "onsight.db")
    try:
        store.write([DistancingMinute(T0, "cam", "all", 6, 100.0, 20.0, 0.2)])
        store.write([DistancingMinute(T0, "cam", "all", 5, 100.0, 60.0, 0.6)])
        with pytest.raises(Exception, match="CHECK"):
            store.write([DistancingMinute(T0, "cam", "other", 4, 10.0, 1.0, 0.1)])
    finally:
        store.close()
    import sqlite3

    row = sqlite3.connect(tmp_path / "onsight.db").execute(
        "SELECT people, presence_seconds, close_seconds, close_share FROM distancing_minutes"
    )
    assert row.fetchall() == [(6, 200.0, 80.0, 0.4)]


def test_walking_speed_in_metres_per_second_released_for_five_people() -> None:
    from onsight.apps.speed import SpeedConfig, SpeedHour, WalkingSpeed

    homography = CalibrationConfig.model_validate(SQUARE).homography()
    events: list[SpeedHour] = []
    speed = WalkingSpeed("cam", SpeedConfig(), ["person"], homography)
    t = 0.0
    for person, mps in enumerate([1.0, 1.2, 1.4, 1.6, 1.8]):
        for step in range(50):  # 5 s at 10 fps, walking along x at `mps`
            x = 1.0 + mps * step / 10
            jitter = 0.03 * (-1) ** step  # a box jittering on the floor is not walking
            events += speed.update(_tracks(t, [(x, 5 + jitter)], first_id=person + 1))
            t += 0.1
        t += 3.0
        events += speed.update(_tracks(t, []))
    events += speed.flush()
    (hour,) = events
    assert hour.visits == 5 and hour.median_mps == pytest.approx(1.4, rel=0.1)
    assert speed.summary()["median_mps"] == pytest.approx(1.4, rel=0.1)
    few = WalkingSpeed("cam", SpeedConfig(), ["person"], homography)
    for step in range(50):
        few.update(_tracks(step / 10, [(1 + step / 10, 5)]))
    assert few.flush() == [] and few.suppressed_hours == 1


def test_a_calibrated_line_reports_crossings_per_hour_per_metre() -> None:
    from onsight.apps.line_count import KIND as LINES

    camera = CameraConfig.model_validate(
        {
            "name": "cam", "url": "x.mp4", "calibration": SQUARE,
            "lines": [{"name": "door", "points": [[0.1, 0.5], [0.5, 0.5]]}],
        }
    )  # fmt: skip
    counter = LINES.build(camera, camera.lines[0], ["person"])
    for i in range(100):  # one person walks down across the 4 m line in 10 s
        counter.update(_tracks(i / 10, [(3.0, 3.0 + i * 0.05)]))
    assert LINES.summary is not None
    summary = LINES.summary(counter)
    assert summary["in"] + summary["out"] == 1 and summary["width_m"] == pytest.approx(4.0)
    assert summary["per_hour_per_m"] == pytest.approx(3600 / 9.9 / 4, rel=0.01)
