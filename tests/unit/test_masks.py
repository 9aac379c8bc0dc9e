"""Mask reader: SSD decoding, small faces, the nose check, and that no face is kept."""

from __future__ import annotations

import numpy as np
import pytest

from onsight.ppe import _aizoo
from onsight.ppe.masks import MaskReader, nose_check
from onsight.privacy.faces import FaceDetector, find_weights
from tests import ppe_faces
from tests.conftest import assets_dir, require


@pytest.fixture(scope="module")
def reader() -> MaskReader:
    require(assets_dir() / "models" / "face_mask_aizoo_260.onnx", "mask model")
    return MaskReader.from_dir()


def test_anchors_follow_the_published_layout() -> None:
    anchors = _aizoo.anchors()
    assert anchors.shape == (5972, 4)
    # First cell of the 33x33 level: size 0.04 at ratio 1, centred on (0.5/33, 0.5/33).
    c = 0.5 / 33
    np.testing.assert_allclose(anchors[0], [c - 0.02, c - 0.02, c + 0.02, c + 0.02], atol=1e-6)
    # Its 3rd anchor: size 0.04 at ratio 0.62 (narrower than tall).
    w, h = anchors[2, 2] - anchors[2, 0], anchors[2, 3] - anchors[2, 1]
    assert w == pytest.approx(0.04 * np.sqrt(0.62), abs=1e-6)
    assert h == pytest.approx(0.04 / np.sqrt(0.62), abs=1e-6)
    # Second cell moves along x first (row-major y, x).
    assert anchors[4, 0] > anchors[0, 0] and anchors[4, 1] == pytest.approx(anchors[0, 1])
    # Last level: 3x3 cells, the last anchor centred at (2.5/3, 2.5/3).
    centre = (anchors[-1, :2] + anchors[-1, 2:]) / 2
    np.testing.assert_allclose(centre, [2.5 / 3, 2.5 / 3], atol=1e-6)


def test_decode_zero_offsets_gives_the_anchors_and_variances_apply() -> None:
    anchors = _aizoo.anchors()
    np.testing.assert_allclose(_aizoo.decode(anchors, np.zeros_like(anchors)), anchors, atol=1e-6)
    box = np.array([[0.4, 0.4, 0.6, 0.6]], np.float32)
    moved = _aizoo.decode(box, np.array([[1.0, 0.0, np.log(2) / 0.2, 0.0]], np.float32))
    # x shifts by 0.1 x width; the width doubles (exp(0.2 * log 2 / 0.2)); y is unchanged.
    np.testing.assert_allclose(moved[0], [0.32, 0.4, 0.72, 0.6], atol=1e-5)


def test_centre_verdict_reads_the_box_over_the_centre() -> None:
    boxes = np.array([[0.0, 0.0, 0.3, 0.3], [0.2, 0.2, 0.8, 0.8], [0.45, 0.45, 0.55, 0.55]])
    scores = np.array([[0.99, 0.01], [0.1, 0.9], [0.95, 0.0]], np.float32)
    verdict = _aizoo.centre_verdict(boxes.astype(np.float32), scores)
    assert verdict.found and verdict.mask_prob == pytest.approx(0.1)  # tiny box ignored
    nothing = _aizoo.centre_verdict(boxes[:1].astype(np.float32), scores[:1])
    assert not nothing.found and nothing.mask_prob == 0.5


def test_small_faces_are_unsure_and_not_counted(reader: MaskReader) -> None:
    clip = require(assets_dir() / "video" / "face-demographics-walking.gif", "walking clip")
    first = ppe_faces.frames(clip.parent.parent, clip.name)[0]  # faces about 13 px
    readings = reader.read(first)
    assert readings, "CenterFace should still find the two small faces"
    assert all(r.decision == "unsure" and not r.counted for r in readings)


def _painted(truth: ppe_faces.Truth) -> tuple[np.ndarray, np.ndarray]:
    clip = require(assets_dir() / "video" / "face-demographics-walking.gif", "walking clip")
    frame = ppe_faces.frames(clip.parent.parent, clip.name)[30]
    detector = FaceDetector(find_weights(), max_side=1280)
    box = detector.detect_landmarks(frame, 0.5).boxes[0] * [480, 270, 480, 270]
    view = ppe_faces._view(frame, (box[:2] + box[2:]) / 2, 70 / (box[2] - box[0]))
    marks = detector.detect_landmarks(view, 0.5).landmarks[0] * ppe_faces.CANVAS
    image = view.astype(np.float32)
    if truth != "unmasked":
        colours = ((225, 200, 150),)
        ppe_faces._paint(image, marks, truth, colours, "pleats", np.random.default_rng(1))
    return np.clip(image, 0, 255).astype(np.uint8), marks


@pytest.mark.parametrize(
    ("truth", "bare"), [("below_nose", True), ("masked", False), ("unmasked", False)]
)
def test_nose_check_on_painted_faces(truth: ppe_faces.Truth, bare: bool) -> None:
    image, marks = _painted(truth)
    check = nose_check(image, marks)
    assert check is not None
    assert check.nose_bare is bare
    assert check.mouth_covered is (truth != "unmasked")


def test_reader_says_below_nose_on_a_painted_face(reader: MaskReader) -> None:
    image, _ = _painted("below_nose")
    decisions = [r.decision for r in reader.read(image) if r.counted]
    assert "below_nose" in decisions


def test_reader_keeps_no_face_pixels(reader: MaskReader) -> None:
    before = {k: _fingerprint(v) for k, v in vars(reader).items()}
    image, _ = _painted("masked")
    assert reader.read(image)
    after = {k: _fingerprint(v) for k, v in vars(reader).items()}
    assert before == after, "reading must not add or change any attribute"
    for name, value in vars(reader).items():
        if isinstance(value, np.ndarray):
            assert value.dtype != np.uint8, f"{name} holds image-like bytes"
            assert name in ("_anchors", "_blank"), f"unexpected array {name}"
    assert not reader._blank.any()  # the classifier's input is reset to zeros


def _fingerprint(value: object) -> object:
    if isinstance(value, np.ndarray):
        return (value.shape, str(value.dtype), value.tobytes())
    return id(value)


def test_covered_needs_nose_and_mouth_unlike_both_skin_patches() -> None:
    from onsight.ppe.masks import NoseCheck

    assert NoseCheck(20.0, 2.0, 22.0, 19.0, 21.0).covered
    # A dark glasses bridge between the eyes: the forehead still matches the nose.
    assert not NoseCheck(20.0, 18.0, 22.0, 3.0, 21.0).covered
    # Below the nose: the nose is skin.
    assert not NoseCheck(2.0, 20.0, 22.0, 3.0, 21.0).covered
    # No forehead patch (face at the top edge): never covered.
    assert not NoseCheck(20.0, 2.0, 22.0).covered


@pytest.mark.parametrize("truth", ["masked", "unmasked", "below_nose"])
def test_covered_on_painted_faces(truth: ppe_faces.Truth) -> None:
    image, marks = _painted(truth)
    check = nose_check(image, marks)
    assert check is not None
    assert check.covered is (truth == "masked")


def test_detections_keep_confident_boxes_after_nms() -> None:
    boxes = np.array(
        [[0.1, 0.1, 0.3, 0.3], [0.11, 0.1, 0.31, 0.3], [0.6, 0.6, 0.9, 0.9], [0.0, 0.0, 0.1, 0.1]],
        np.float32,
    )
    scores = np.array([[0.9, 0.05], [0.8, 0.1], [0.1, 0.7], [0.2, 0.1]], np.float32)
    found = _aizoo.detections(boxes, scores, 0.5)
    assert len(found) == 2  # the overlapping twin is suppressed, the weak box dropped
    (_, s0, p0), (_, s1, p1) = found
    assert s0 == pytest.approx(0.9) and p0 == pytest.approx(0.9 / 0.95)
    assert s1 == pytest.approx(0.7) and p1 == pytest.approx(0.1 / 0.8)


def test_second_finder_per_person_head(reader: MaskReader) -> None:
    image, _ = _painted("masked")
    # One person box around the painted face; CenterFace off (threshold 1) so that only
    # the AIZOO head-region pass can find the face.
    strict = MaskReader.from_dir(face_threshold=1.0)
    found = reader.read(image)
    assert found
    fx0, fy0, fx1, _ = found[0].box
    w = fx1 - fx0
    person = [[max(0.0, fx0 - w), max(0.0, fy0 - 0.2 * w), min(1.0, fx1 + w), 1.0]]
    readings = strict.read(image, person)
    assert len(readings) == 1
    assert readings[0].person == 0
    assert readings[0].decision == "masked"
    assert strict.read(image, np.zeros((0, 4), np.float32)) == []


def test_loose_faces_are_read_only_when_asked_and_only_outside_every_person(
    reader: MaskReader,
) -> None:
    image, _ = _painted("masked")
    (face,) = [r for r in reader.read(image) if r.counted]
    fx0, fy0, _, fy1 = face.box
    elsewhere = [[0.0, 0.0, max(0.01, fx0 - 0.05), 1.0]]  # a person left of the face
    assert reader.read(image, elsewhere) == []
    (loose,) = reader.read(image, elsewhere, loose=True)
    assert loose.person is None and loose.decision == "masked"
    # A face in the lower half of a person box belongs to no one, but is not loose either:
    # that person might be bending, and would be counted twice.
    below = [[0.0, max(0.0, fy0 - 2.0), 1.0, fy1 + 0.01]]
    assert reader.read(image, below, loose=True) == []
