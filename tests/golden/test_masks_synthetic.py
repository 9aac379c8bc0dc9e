"""Mask compliance on synthetic masks painted onto real faces (see tests/ppe_faces.py).

The reader was tuned on the draw of seed 14 (132 faces). Scored here on three other draws
(seeds 1-3: 390 faces, never tuned on; 144 of them in held-out mask styles). Share error =
|measured - true share of correctly worn masks| over 200 mixes of 10-30 faces, mean / max.

Measured (seeds 1-3; figures at the time of writing):

| variant                               | recall | 3-way | 2-way | share       | held-out styles |
|---------------------------------------|--------|-------|-------|-------------|-----------------|
| classifier alone                      | 0.959  | 0.605 | 0.759 | 0.141/0.556 |                 |
| default (nose check, colour cover,    | 0.959  | 0.949 | 0.968 | 0.043/0.236 | 0.032           |
|   AIZOO as second face finder)        |        |       |       |             |                 |

On seeds 1-5 (651 faces) the default's share error is 0.049; on the tuning draw (seed 14)
0.108: the figure moves with which faces and styles a draw picks, so one draw is not a
measurement. Bare faces are never called masked.
"""

from __future__ import annotations

import pytest

from onsight.ppe.masks import MaskReader
from onsight.privacy.faces import FaceDetector, find_weights
from tests import ppe_faces
from tests.conftest import assets_dir, require

SEEDS = (1, 2, 3)  # never used for tuning (that was seed 14)


@pytest.fixture(scope="module")
def outcomes() -> list[ppe_faces.Outcome]:
    for clip in ppe_faces.CLIPS:
        require(assets_dir() / "video" / clip, f"sample clip {clip}")
    require(assets_dir() / "models" / "face_mask_aizoo_260.onnx", "mask model")
    detector = FaceDetector(find_weights(), max_side=1280)
    reader = MaskReader.from_dir()
    found: list[ppe_faces.Outcome] = []
    for seed in SEEDS:
        samples = ppe_faces.build(assets_dir(), detector, seed=seed)
        found += ppe_faces.match(samples, [reader.read(s.image) for s in samples])
    return found


def _figures(outcomes: list[ppe_faces.Outcome]) -> ppe_faces.Figures:
    return ppe_faces.figures(outcomes, mixes=200)


def test_faces_are_found(outcomes: list[ppe_faces.Outcome]) -> None:
    figures = _figures(outcomes)
    assert figures.faces >= 380
    assert figures.recall >= 0.93  # measured 0.959
    assert _figures(ppe_faces.split(outcomes, True)).recall >= 0.9  # 0.931


def test_colour_checks_beat_the_classifier_alone(outcomes: list[ppe_faces.Outcome]) -> None:
    checked = _figures(outcomes)
    alone = _figures(ppe_faces.alone(outcomes))
    assert checked.accuracy >= 0.92  # measured 0.949
    assert checked.binary_accuracy >= 0.95  # measured 0.968
    assert checked.binary_accuracy >= alone.binary_accuracy + 0.15  # alone: 0.759
    # Below-the-nose masks: the nose check catches nearly all; alone, half count as masks.
    assert checked.confusion["below_nose"]["masked"] <= 8  # measured 5 of 130
    assert alone.confusion["below_nose"]["masked"] >= 50  # 69
    # Bare faces are never called masked.
    assert checked.confusion["unmasked"]["masked"] == 0


def test_share_error_is_within_the_target(outcomes: list[ppe_faces.Outcome]) -> None:
    # The target is 0.08 (goal 0.05). Measured 0.043, held-out styles 0.032.
    assert _figures(outcomes).share_error_mean <= 0.06
    assert _figures(ppe_faces.split(outcomes, True)).share_error_mean <= 0.06
    assert _figures(ppe_faces.alone(outcomes)).share_error_mean >= 0.1  # alone: 0.141


def test_faces_of_18_to_24_px_are_read() -> None:
    """A crowd or a wide shot: faces of 18-24 px are read (measured: all 114 found, 102
    counted, worn vs not right for 0.873, share error 0.186 mean: worse than larger faces,
    so smaller ones stay "cannot tell"); bare faces are still never called masked."""
    for clip in ppe_faces.CLIPS:
        require(assets_dir() / "video" / clip, f"sample clip {clip}")
    detector = FaceDetector(find_weights(), max_side=1280)
    samples = ppe_faces.build(assets_dir(), detector, sizes=(18, 24))
    reader = MaskReader.from_dir()
    outcomes = ppe_faces.match(samples, [reader.read(s.image) for s in samples])
    figures = ppe_faces.figures(outcomes)
    assert figures.faces >= 100
    assert figures.counted / figures.faces >= 0.85  # measured 0.895
    assert figures.binary_accuracy >= 0.82  # measured 0.873
    assert figures.confusion["unmasked"]["masked"] == 0
