"""The inspection and barcodes sections validate with clear errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from onsight.config.models import CameraConfig

REGION = [[0.0, 0.2], [1.0, 0.2], [1.0, 0.8], [0.0, 0.8]]


def _camera(**extra: Any) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "name": "line-1",
            "url": "line.mp4",
            "purpose": "inspection",
            "inspection": {"region": REGION, "travel": "right"},
            **extra,
        }
    )


def _error(**extra: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        _camera(**extra)
    return str(caught.value)


def test_a_full_inspection_camera_validates() -> None:
    camera = _camera(
        privacy={"redaction": "none"},
        barcodes={"formats": ["ean-13", "QRCode"], "expect": {"EAN13": "^40[0-9]{11}$"}},
    )
    assert camera.apps() == {"inspection"}
    assert camera.barcodes is not None and camera.barcodes.formats == ["EAN13", "QRCode"]
    assert camera.barcodes.patterns() == {"EAN13": re.compile("^40[0-9]{11}$")}


def test_one_pattern_applies_to_every_format() -> None:
    camera = _camera(barcodes={"formats": ["Code128"], "expect": "^LOT"})
    assert camera.barcodes is not None and camera.barcodes.patterns() == {"": re.compile("^LOT")}


def test_inspection_is_refused_on_a_camera_that_films_people() -> None:
    message = _error(purpose="footfall")
    assert "does not permit inspection" in message


def test_barcodes_need_an_inspection_region() -> None:
    with pytest.raises(ValidationError, match="add an `inspection:` section"):
        CameraConfig.model_validate(
            {"name": "c", "url": "x", "purpose": "inspection", "barcodes": {"formats": ["EAN13"]}}
        )


@pytest.mark.parametrize(
    ("barcodes", "says"),
    [
        ({"formats": ["EAN14"]}, "EAN14"),
        ({"formats": []}, "at least 1"),
        ({"formats": ["EAN13"], "expect": "40[0-9"}, "invalid expect pattern"),
        ({"formats": ["EAN13"], "expect": {"QRCode": "^x"}}, "not read: QRCode"),
        ({"formats": ["EAN13"], "expect": {"Nope": "^x"}}, "Nope"),
    ],
)
def test_bad_barcode_settings_say_what_is_wrong(barcodes: dict[str, Any], says: str) -> None:
    assert says in _error(barcodes=barcodes)


@pytest.mark.parametrize(
    ("inspection", "says"),
    [
        ({"region": REGION, "travel": "sideways"}, "travel"),
        ({"region": [[0, 0], [1, 0], [1, 0]], "travel": "right"}, "region"),
        ({"region": REGION, "travel": "right", "min_item_share": 0.9}, "min_item_share"),
        ({"region": REGION, "travel": "right", "name": "bad name!"}, "name"),
    ],
)
def test_bad_inspection_settings_say_what_is_wrong(inspection: dict[str, Any], says: str) -> None:
    assert says in _error(inspection=inspection)


def test_an_inspection_camera_decodes_wider_by_default() -> None:
    assert _camera().width == 1280  # barcodes need the pixels
    assert _camera(width=800).width == 800
    assert CameraConfig.model_validate({"name": "door", "url": "x"}).width == 640
