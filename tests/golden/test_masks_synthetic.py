"""Mask compliance on synthetic masks painted onto real faces (see tests/ppe_faces.py).

Measured (seed 14, 132 painted faces, 44 per kind; 90 in tuning styles, 42 in held-out
styles; figures at the time of writing). Share error = mean (max) over 20 mixes of 10-30
faces.

| variant                               | recall | 3-way | 2-way | share all   | tuning | held-out |
|---------------------------------------|--------|-------|-------|-------------|--------|----------|
| CenterFace + classifier + nose check  | 0.886  | 0.897 | 0.922 | 0.179/0.556 | 0.134  | 0.198    |
| + colour cover (nose and mouth)       | 0.886  | 0.922 | 0.948 | 0.133/0.350 | 0.108  | 0.140    |
| + AIZOO as second face finder (0.5)   | 0.924  | 0.926 | 0.950 | 0.118/0.333 | 0.092  | 0.140    |

The last row is the reader's default. Bare faces are never called masked; no
below-the-nose mask is called masked. The issue's target (<= 0.08) is NOT met: on the
held-out styles most lost masks are the bold red check, which neither CenterFace nor the
AIZOO model finds as a face (3 of 6) and the classifier calls NoMask. The assertions pin
these figures with margins; they are not the issue's target.
"""

from __future__ import annotations

import pytest

from onsight.ppe.masks import MaskReader
from onsight.privacy.faces import FaceDetector, find_weights
from tests import ppe_faces
from tests.conftest import assets_dir, require


@pytest.fixture(scope="module")
def outcomes() -> list[ppe_faces.Outcome]:
    for clip in ppe_faces.CLIPS:
        require(assets_dir() / "video" / clip, f"sample clip {clip}")
    require(assets_dir() / "models" / "face_mask_aizoo_260.onnx", "mask model")
    samples = ppe_faces.build(assets_dir(), FaceDetector(find_weights(), max_side=1280))
    reader = MaskReader.from_dir()
    return ppe_faces.match(samples, [reader.read(s.image) for s in samples])


def test_faces_are_found(outcomes: list[ppe_faces.Outcome]) -> None:
    figures = ppe_faces.figures(outcomes)
    assert figures.faces >= 120
    assert figures.recall >= 0.9  # measured 0.924 (CenterFace alone: 0.886)
    assert ppe_faces.figures(ppe_faces.split(outcomes, True)).recall >= 0.8  # 0.857


def test_colour_checks_beat_the_classifier_alone(outcomes: list[ppe_faces.Outcome]) -> None:
    checked = ppe_faces.figures(outcomes)
    alone = ppe_faces.figures(ppe_faces.alone(outcomes))
    assert checked.accuracy >= 0.88  # measured 0.926
    assert checked.binary_accuracy >= 0.92  # measured 0.950
    assert checked.binary_accuracy >= alone.binary_accuracy + 0.1
    # Below-the-nose masks: the nose check catches nearly all; alone, many count as masks.
    assert checked.confusion["below_nose"]["masked"] <= 2
    assert alone.confusion["below_nose"]["masked"] >= 10
    # Bare faces are never called masked.
    assert checked.confusion["unmasked"]["masked"] == 0


def test_share_error(outcomes: list[ppe_faces.Outcome]) -> None:
    # Measured 0.118 overall, 0.092 on tuning styles and 0.140 on held-out styles: above
    # the 0.08 target (see the module docstring).
    assert ppe_faces.figures(outcomes).share_error_mean <= 0.15
    assert ppe_faces.figures(ppe_faces.split(outcomes, False)).share_error_mean <= 0.12
    assert ppe_faces.figures(ppe_faces.split(outcomes, True)).share_error_mean <= 0.18
