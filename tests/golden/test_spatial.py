"""Distancing on vtest against foot points labelled by eye (`vtest_feet/truth.json`), with the
clip's real ground-plane calibration from the shared assets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from onsight.apps.distancing import close_to_someone
from onsight.config.calibration import CalibrationConfig
from onsight.config.models import CameraConfig
from onsight.evaluate.replay import observe
from onsight.geometry import to_ground
from onsight.runtime import FrameResult
from tests.conftest import assets_dir, require, vtest_calibration
from tests.golden.replay import _detector

HERE = Path(__file__).parent
THRESHOLD_M = 2.0


def _calibration() -> CalibrationConfig:
    return CalibrationConfig.model_validate(vtest_calibration())


def test_close_share_at_two_metres_matches_the_labelled_feet() -> None:
    truth: dict[str, list[list[float]]] = json.loads(
        (HERE / "vtest_feet" / "truth.json").read_text(encoding="utf-8")
    )["frames"]
    calibration = _calibration()
    homography = calibration.homography()
    camera = CameraConfig.model_validate(
        {
            "name": "vtest",
            "url": str(require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")),
            "fps": 10,
            "purpose": "safety",
            "ignore": [[[0.0, 0.3], [0.14, 0.3], [0.14, 0.75], [0.0, 0.75]]],  # the sign
            "calibration": calibration.model_dump(),
            "distancing": {"threshold_m": THRESHOLD_M},
        }
    )
    measured: dict[str, tuple[int, int]] = {}

    def at_labelled_frames(result: FrameResult) -> None:
        if str(result.frame.index) in truth:
            feet = to_ground(homography, result.tracks.bottom_centres())
            measured[str(result.frame.index)] = (
                len(feet), int(close_to_someone(feet, THRESHOLD_M).sum()),
            )  # fmt: skip

    observe(camera, _detector(), at_labelled_frames)
    assert set(measured) == set(truth)
    people = sum(len(points) for points in truth.values())
    close = 0
    for points in truth.values():
        feet = to_ground(homography, np.array(points, np.float64) / [480, 360])
        close += int(close_to_someone(feet, THRESHOLD_M).sum())
    true_share = close / people
    seen = sum(n for n, _ in measured.values())
    share = sum(k for _, k in measured.values()) / seen
    # 48 labelled people in 8 frames: 0.354 true, 0.400 measured; 45 of 48 were seen (the
    # missing ones stood behind someone or behind the sign).
    assert abs(share - true_share) <= 0.06, (share, true_share)
    assert seen >= 0.9 * people
