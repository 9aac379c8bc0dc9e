"""Mask compliance on synthetic masks painted onto real faces (see tests/ppe_faces.py).

Measured (seed 14, 132 painted faces, 44 per kind; figures at the time of writing):
face recall 0.886; with the nose check 3-way accuracy 0.897 and correctly-worn-vs-not
accuracy 0.922; the classifier alone 0.578 and 0.767. Aggregate share error over 20 mixes
of 10-30 faces: mean 0.179 (max 0.556) with the nose check, 0.144 alone. The issue's
target (<= 0.08) is NOT met on this set: about a fifth of the correctly masked faces are
missed by CenterFace and another fifth called NoMask by the classifier (bold patterns
such as the red check fail most), which pulls the share down. The classifier alone scores
a lower share error only because it counts below-the-nose masks as masks, an error that
happens to offset the lost masked faces. The assertions below pin these figures with
margins; they are not the issue's target.
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
    assert figures.recall >= 0.8


def test_nose_check_beats_the_classifier_alone(outcomes: list[ppe_faces.Outcome]) -> None:
    with_nose = ppe_faces.figures(outcomes)
    alone = ppe_faces.figures(ppe_faces.alone(outcomes))
    assert with_nose.accuracy >= 0.8
    assert with_nose.binary_accuracy >= 0.85
    assert with_nose.binary_accuracy >= alone.binary_accuracy + 0.08
    # Below-the-nose masks: the nose check catches nearly all; alone, many count as masks.
    assert with_nose.confusion["below_nose"]["masked"] <= 2
    assert alone.confusion["below_nose"]["masked"] >= 10
    # Bare faces are never called masked.
    assert with_nose.confusion["unmasked"]["masked"] == 0


def test_share_error(outcomes: list[ppe_faces.Outcome]) -> None:
    figures = ppe_faces.figures(outcomes)
    # Measured 0.179: above the 0.08 target (see the module docstring).
    assert figures.share_error_mean <= 0.22
