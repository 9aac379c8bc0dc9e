"""Counting accuracy on real footage, scored event by event against labels made by eye.

Every labelled crossing must be matched by a counted one of the same direction within 1 s
(and each counted crossing by a labelled one), so a miss and a spurious count never cancel
as they did when only totals were compared. supervision's LineZone, fed the very same
tracks, is the anchor to beat. Truth and method: README.md in this folder.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from onsight.evaluate.matching import LineScore, total
from onsight.evaluate.report import ZoneScore, compare
from tests.conftest import require
from tests.golden.replay import THRESHOLDS, CameraTruth, Replay, cameras, replay, truths

CAMERAS = cameras()
TRUTH = truths(CAMERAS)
LINES = [(c, line.name) for c, camera in CAMERAS.items() for line in camera.lines]
MOT_ZONES = [
    (c, zone.name)
    for c, camera in CAMERAS.items()
    if TRUTH[c].sequence is not None
    for zone in camera.zones
]

# Event-level F1 every line must reach. Lower floors, each with its reason:
MIN_F1 = 0.85
LINE_FLOORS = {
    # people walk along this line; the labels themselves drift across it by a few pixels
    ("one-by-one", "along"): 0.6,
    # three true crossings by one 60 px tall woman pushing a bike (feet hidden by it)
    ("parking", "bay_v"): 0.5,
}
# Over all lines: event F1 and aggregate count error (sum of |counted - true| per line and
# direction over all true crossings), the figures the issue checks on held-out footage.
MIN_TOTAL_F1 = 0.92
MAX_AGGREGATE_ERROR = 0.08
# Zone occupancy: |measured mean - true mean| <= ZONE_SHARE * true mean + ZONE_SLACK, and
# the mean per-frame error below ZONE_FRAME_MAE. A zone reporting 0, or one too many, fails.
ZONE_SHARE, ZONE_SLACK, ZONE_FRAME_MAE = 0.15, 0.05, 0.75
ZONE_LIMITS_OF_THE_DETECTOR = {
    # the one person in view stands at the fisheye edge with one leg showing
    ("people-detection", "room"): "detector",
    # 60 px tall people at the far side of a car park
    ("parking", "far_side"): "detector",
}


@cache
def _replay(camera: str) -> Replay:
    require(Path(CAMERAS[camera].url), f"sample video for camera {camera}")
    return replay(CAMERAS[camera])


def _score(camera: str, line: str) -> LineScore:
    return _replay(camera).score(TRUTH[camera], line)


def _truth(camera: str) -> CameraTruth:
    return TRUTH[camera]


@pytest.mark.parametrize("camera", sorted(CAMERAS))
def test_every_frame_is_analysed(camera: str) -> None:
    sequence = _truth(camera).sequence
    expected = sequence.length if sequence is not None else {"vtest": 795}[camera]
    assert _replay(camera).observed.frames == expected


@pytest.mark.parametrize(("camera", "line"), LINES)
def test_each_line_matches_its_labelled_crossings(camera: str, line: str) -> None:
    score = _score(camera, line)
    floor = LINE_FLOORS.get((camera, line), MIN_F1)
    assert score.true > 0, "a line without labelled crossings tests nothing"
    assert score.f1 is not None and score.f1 >= floor, score.as_dict()


def test_all_lines_together_meet_the_accuracy_target() -> None:
    overall = total(_score(c, line) for c, line in LINES)
    assert overall.f1 is not None and overall.f1 >= MIN_TOTAL_F1, overall.as_dict()
    assert overall.count_error <= MAX_AGGREGATE_ERROR * overall.true, overall.as_dict()


@pytest.mark.parametrize("k", THRESHOLDS)
def test_we_beat_supervision_linezone_on_the_same_tracks(k: int) -> None:
    ours = total(_score(c, line) for c, line in LINES)
    theirs = total(_replay(c).score_supervision(_truth(c), line, k) for c, line in LINES)
    assert ours.f1 is not None and theirs.f1 is not None
    # Event F1, not totals: supervision's spurious counts and misses cancel in its totals.
    assert ours.f1 > theirs.f1, (ours.as_dict(), theirs.as_dict())
    assert ours.spurious < theirs.spurious, (ours.as_dict(), theirs.as_dict())


def _zone(camera: str, zone: str) -> ZoneScore:
    sequence = _truth(camera).sequence
    assert sequence is not None
    return compare(CAMERAS[camera], sequence, _replay(camera).observed).zones[zone]


def _zone_ok(true_mean: float, measured_mean: float, frame_mae: float) -> bool:
    close = abs(measured_mean - true_mean) <= ZONE_SHARE * true_mean + ZONE_SLACK
    return close and frame_mae <= ZONE_FRAME_MAE


@pytest.mark.parametrize(("camera", "zone"), MOT_ZONES)
def test_zone_occupancy_follows_the_labelled_people(camera: str, zone: str) -> None:
    score = _zone(camera, zone)
    if (camera, zone) in ZONE_LIMITS_OF_THE_DETECTOR:
        # Known misses of the detector: still no phantom occupants (never above truth).
        assert score.measured_mean <= score.true_mean + ZONE_SLACK, score.as_dict()
        return
    assert _zone_ok(score.true_mean, score.measured_mean, score.frame_mae), score.as_dict()


@pytest.mark.parametrize(("camera", "zone"), MOT_ZONES)
def test_the_zone_check_fails_a_zone_that_reports_zero_or_one_too_many(
    camera: str, zone: str
) -> None:
    """The check above is not toothless: a stuck or off-by-one zone would fail it."""
    score = _zone(camera, zone)
    if score.true_mean < 0.2:  # a zone that is nearly always empty cannot show it
        return
    assert not _zone_ok(score.true_mean, 0.0, score.true_mean)
    assert not _zone_ok(score.true_mean, score.true_mean + 1, 1.0)


def test_vtest_left_half_occupancy_at_the_labelled_frames() -> None:
    """vtest has zone truth at every 100th frame (labelled by eye); the sign on the left
    (a phantom person for detectors) must not be counted."""
    result = _replay("vtest")
    samples = _truth("vtest").occupancy["left_half"]
    by_frame = {result.frame_of[p]: n for p, n in result.observed.occupancy["left_half"].items()}
    errors = [min(abs(by_frame[f] - ok) for ok in accepted) for f, accepted in samples.items()]
    stuck = [min(abs(0 - ok) for ok in accepted) for accepted in samples.values()]
    plus_one = [min(abs(by_frame[f] + 1 - ok) for ok in acc) for f, acc in samples.items()]
    assert sum(errors) <= 3, (errors, by_frame)
    assert sum(stuck) > 3 and sum(plus_one) > 3
    assert float(np.mean([by_frame[f] for f in samples])) < 3.0
