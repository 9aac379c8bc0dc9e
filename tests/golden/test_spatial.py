"""Distancing and walking speed on vtest against foot points labelled by eye
(`vtest_feet/truth.json`: everyone in 8 frames; `vtest_walks/truth.json`: 7 walkers every 2 s),
with the clip's real ground-plane calibration from the shared assets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from onsight.apps.distancing import close_to_someone
from onsight.apps.speed import SpeedConfig, WalkingSpeed
from onsight.config.calibration import CalibrationConfig
from onsight.config.models import CameraConfig
from onsight.evaluate.replay import observe
from onsight.geometry import to_ground
from onsight.runtime import FrameResult
from onsight.types import Tracks
from tests.conftest import assets_dir, require, vtest_calibration
from tests.golden.replay import _detector

HERE = Path(__file__).parent
THRESHOLD_M = 2.0


def _calibration() -> CalibrationConfig:
    return CalibrationConfig.model_validate(vtest_calibration())


def _camera(calibration: CalibrationConfig) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "name": "vtest",
            "url": str(require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")),
            "fps": 10,
            "purpose": "safety",
            "ignore": [[[0.0, 0.3], [0.14, 0.3], [0.14, 0.75], [0.0, 0.75]]],  # the sign
            "calibration": calibration.model_dump(),
            "distancing": {"threshold_m": THRESHOLD_M},
            "speed": {},
        }
    )


def test_close_share_at_two_metres_matches_the_labelled_feet() -> None:
    truth: dict[str, list[list[float]]] = json.loads(
        (HERE / "vtest_feet" / "truth.json").read_text(encoding="utf-8")
    )["frames"]
    calibration = _calibration()
    homography = calibration.homography()
    camera = _camera(calibration)
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


def test_walking_speed_matches_the_labelled_walks() -> None:
    """Each labelled walker's track, picked out frame by frame as the box whose foot point is
    within 15 px of the labels (interpolated between key frames), is fed alone to the real
    speed app; its speed is compared with the labelled path over the same time."""
    walks: dict[str, dict[str, list[float]]] = json.loads(
        (HERE / "vtest_walks" / "truth.json").read_text(encoding="utf-8")
    )["people"]
    calibration = _calibration()
    homography = calibration.homography()
    frames: dict[int, Tracks] = {}
    observe(
        _camera(calibration), _detector(),
        lambda result: frames.__setitem__(result.frame.index, result.tracks),
    )  # fmt: skip
    errors: dict[str, float] = {}
    for name, labels in walks.items():
        keys = sorted(int(k) for k in labels)
        points = np.array([labels[str(k)] for k in keys], np.float64)
        ground = to_ground(homography, points / [480, 360])
        true_mps = float(np.linalg.norm(np.diff(ground, axis=0), axis=1).sum()) / (
            (keys[-1] - keys[0]) / 10
        )
        app = WalkingSpeed("vtest", SpeedConfig(), ["person"], homography)
        for index in range(keys[0], keys[-1] + 1):
            tracks = frames[index]
            label = [np.interp(index, keys, points[:, axis]) for axis in (0, 1)]
            gaps = np.linalg.norm(tracks.bottom_centres() * [480, 360] - label, axis=1)
            app.update(tracks.select(gaps == gaps.min()) if gaps.size and gaps.min() <= 15
                       else tracks.select(np.zeros(len(tracks), np.bool_)))  # fmt: skip
        app.flush()
        # An id switch the visit keys do not bridge splits a walk into two visits (lb).
        assert 1 <= len(app.speeds) <= 2, (name, app.speeds)
        errors[name] = float(np.mean(app.speeds)) / true_mps - 1
    # 7 walkers, 4-12 s each, 1.35-2.19 m/s: measured -1% to +4% each, 1.5% off on average
    # (with 0.5 s samples instead of 1 s, box jitter added path: up to +8%, 3% on average).
    assert np.mean(np.abs(list(errors.values()))) <= 0.04, errors
    assert max(abs(e) for e in errors.values()) <= 0.08, errors
