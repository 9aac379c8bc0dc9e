"""Privacy rule 3 on real footage: redaction covers every hand-annotated person and head.

Truth: tests/golden/redaction/truth.json, drawn by eye from the pixels, independently of any
detector: no detector, face finder or onsight code proposed or checked a box (method in
redaction/NOTES.md). Coverage of a box is the share of its pixels inside the obliterated
regions; a box counts as left unblurred when less than 95% of it is covered.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from onsight.config import CameraConfig, DetectorConfig
from onsight.privacy import ModelFinders
from onsight.privacy.redact import redact
from onsight.types import Image
from tests.conftest import assets_dir, require

TRUTH = json.loads((Path(__file__).parent / "redaction" / "truth.json").read_text())["frames"]
COVERED = 0.95


def _frame(video: str, index: int) -> Image:
    path = require(assets_dir() / "video" / video, f"sample video {video}")
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return np.ascontiguousarray(frame.to_ndarray(format="bgr24"))
    raise AssertionError(f"{video} has no frame {index}")


def _coverage(regions: np.ndarray, box: list[int], shape: tuple[int, ...]) -> float:
    height, width = shape[:2]
    mask = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in regions:
        mask[
            int(y1 * height) : int(np.ceil(y2 * height)), int(x1 * width) : int(np.ceil(x2 * width))
        ] = True
    bx1, by1, bx2, by2 = box
    return float(mask[by1:by2, bx1:bx2].mean())


@pytest.fixture(scope="module")
def finders() -> ModelFinders:
    require(assets_dir() / "models" / "centerface.onnx", "face model centerface.onnx")
    return ModelFinders(DetectorConfig())


def _uncovered(finders: ModelFinders, mode: str, key: str) -> list[str]:
    camera = CameraConfig.model_validate({"name": "c", "url": "x", "privacy": {"redaction": mode}})
    missed = []
    for item in TRUTH:
        image = _frame(item["video"], item["frame"])
        redaction = redact(image, camera, finders)
        assert not redaction.fail_closed, redaction.reason
        for box in item[key]:
            share = _coverage(redaction.regions, box, image.shape)
            if share < COVERED:
                missed.append(f"{item['video']}#{item['frame']} {box}: {share:.0%} covered")
    return missed


def test_rule3_people_mode_blurs_every_annotated_person(finders: ModelFinders) -> None:
    total = sum(len(item["people"]) for item in TRUTH)
    missed = _uncovered(finders, "people", "people")
    print(f"people mode: {len(missed)}/{total} annotated people left unblurred")
    assert not missed, missed


def test_rule3_faces_mode_blurs_every_annotated_head(finders: ModelFinders) -> None:
    total = sum(len(item["heads"]) for item in TRUTH)
    missed = _uncovered(finders, "faces", "heads")
    print(f"faces mode: {len(missed)}/{total} annotated heads left unblurred")
    assert not missed, missed
