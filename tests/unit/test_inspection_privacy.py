"""Inspection cameras may show products unblurred, never people (privacy rules 3 and 5)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import numpy as np

from onsight.apps.base import FrameView
from onsight.apps.inspection import DefectReject, InspectionConfig, Inspector
from onsight.config.models import CameraConfig
from onsight.config.privacy import RetentionConfig
from onsight.events import EventStore
from onsight.inspection.reference import Reference
from onsight.privacy.evidence import EvidenceSink
from onsight.privacy.redact import redact
from onsight.privacy.retention import Retention
from onsight.types import FloatArray, Image
from tests.unit.test_inspection_items import FPS, REGION, _clip

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _detail(region: Image) -> float:
    return float(np.abs(np.diff(region.astype(np.int16), axis=1)).mean())


def _camera() -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "name": "line-1",
            "url": "line.mp4",
            "purpose": "inspection",
            "privacy": {"redaction": "none"},
            "inspection": {"region": REGION, "travel": "right"},
        }
    )


class _NoFinders:
    def people(self, image: Image) -> FloatArray:
        raise AssertionError("redaction none must not run its own person finder")

    def faces(self, image: Image, threshold: float) -> FloatArray:
        raise AssertionError("redaction none must not look for faces")


def test_redaction_none_still_obliterates_a_person_the_detector_found() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    person = np.array([[0.5, 0.2, 0.8, 0.9]], np.float32)
    redacted = redact(image, _camera(), _NoFinders(), people=person)
    assert _detail(redacted.image[30:100, 85:125]) < 5  # the person: gone
    assert _detail(redacted.image[:, :50]) > 40  # the product: as it was
    untouched = redact(image, _camera(), _NoFinders(), people=np.zeros((0, 4), np.float32))
    assert np.array_equal(untouched.image, image)


class _OnePerson:
    def people(self, image: Image) -> FloatArray:
        return np.array([[0.5, 0.2, 0.8, 0.9]], np.float32)

    def faces(self, image: Image, threshold: float) -> FloatArray:
        raise AssertionError("redaction none hides whole people, it does not look for faces")


def test_a_snapshot_of_an_inspection_camera_looks_for_people_itself() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    redacted = redact(image, _camera(), _OnePerson())  # no detections handed in: a snapshot
    assert _detail(redacted.image[30:100, 85:125]) < 5
    assert _detail(redacted.image[:, :50]) > 40


@dataclass(frozen=True)
class _Scored:
    score: float
    heatmap: FloatArray


class _AlwaysReject:
    """A reference under which every item is a reject (to get its evidence)."""

    threshold = 0.5

    def score(self, image: Image) -> _Scored:
        return _Scored(1.0, np.zeros(image.shape[:2], np.float32))


def _rejects(
    person: FloatArray | None, masks: list[list[list[float]]] | None = None
) -> list[DefectReject]:
    config = InspectionConfig.model_validate({"region": REGION, "travel": "right"})
    inspector = Inspector(
        "line-1", config, None, cast(Reference, _AlwaysReject()), masks=masks or []
    )
    events = []
    for n, image in enumerate(_clip([2.0])):
        textured = image.copy()  # a detailed item, to see whether detail survives
        item = image[..., 2] > 150
        noise = np.random.default_rng(n).integers(150, 256, image.shape, np.uint8)
        textured[item] = noise[item]
        boxes = np.zeros((0, 4), np.float32) if person is None else person
        view = FrameView(
            n / FPS, START, boxes, np.zeros(len(boxes), np.int64), np.zeros(len(boxes), np.int64),
            image=textured,
        )  # fmt: skip
        events += inspector.update(view)
    events += inspector.flush()
    return [event for event in events if isinstance(event, DefectReject)]


def test_a_person_over_the_belt_is_obliterated_in_the_kept_item_image() -> None:
    (clear,) = _rejects(None)
    assert clear.evidence is not None and _detail(clear.evidence.images["item"]) > 20
    hand = np.array([[0.0, 0.3, 1.0, 0.7]], np.float32)  # reaching across the whole belt
    (covered,) = _rejects(hand)
    assert covered.evidence is not None
    assert _detail(covered.evidence.images["item"]) < 10


def test_privacy_masks_are_burned_into_the_kept_item_image() -> None:
    band = [[0.0, 0.45], [1.0, 0.45], [1.0, 0.55], [0.0, 0.55]]  # across the belt's middle
    (masked,) = _rejects(None, masks=[band])
    assert masked.evidence is not None
    grey = np.all(masked.evidence.images["item"] == (64, 64, 64), axis=2)
    assert grey.mean() > 0.1, grey.mean()
    heatmap = masked.evidence.images["heatmap"]  # drawn over the masked image
    assert heatmap[grey].std(axis=0).max() < 3  # flat: nothing of the frame shows through
    (clear,) = _rejects(None)
    assert clear.evidence is not None
    assert np.all(clear.evidence.images["item"] == (64, 64, 64), axis=2).mean() < 0.01


def test_evidence_is_kept_only_as_media_and_deleted_after_media_hours(tmp_path: Path) -> None:
    (reject,) = _rejects(None)
    media = tmp_path / "media"
    sink = EvidenceSink(media)
    sink.write([reject])
    files = sorted(media.rglob("*.jpg"))
    assert [f.relative_to(media).parts[:2] for f in files] == [("line-1", "defect_reject")] * 2
    assert {f.name.split("-", 1)[1] for f in files} == {"item.jpg", "heatmap.jpg"}
    store = EventStore(tmp_path / "onsight.db")
    try:
        store.write([reject])
        columns = store.tables()["defect_rejects"]
        assert not any("image" in c or "evidence" in c for c in columns)
        old = time.time() - 25 * 3600
        for path in files:
            os.utime(path, (old, old))
        settings = RetentionConfig(store_media=True, media_hours=24)
        assert Retention(settings, store, media).enforce().media_files == 2
    finally:
        store.close()
