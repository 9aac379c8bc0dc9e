"""The barcode reader: real sample photos (zxing-cpp's own test images), fallbacks, format
names and the `expect` pattern."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import zxingcpp

from onsight.inspection.barcodes import (
    FORMATS,
    BarcodeReader,
    Read,
    check_formats,
    compile_expect,
    expect_matches,
)
from onsight.types import Image
from tests.conftest import assets_dir, require

SAMPLES_DIR = "barcode"


def _samples() -> tuple[Path, list[dict[str, Any]]]:
    folder = assets_dir() / SAMPLES_DIR
    index = require(folder / "samples.json", "barcode samples index")
    samples: list[dict[str, Any]] = json.loads(index.read_text(encoding="utf-8"))["samples"]
    assert samples, "samples.json lists no samples"
    return folder, samples


def _image(folder: Path, name: str) -> Image:
    path = require(folder / name, f"barcode sample {name}")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"{path} does not decode"
    return np.asarray(image, dtype=np.uint8)


def _drawn(text: str, fmt: str, module_px: float, pad: int = 20) -> Image:
    """A code drawn by zxing-cpp, resampled to `module_px` pixels per module (as a camera
    would see it), on a white margin, as BGR."""
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.__members__[fmt])
    code = np.asarray(barcode.to_image(scale=1), dtype=np.uint8)
    h, w = code.shape
    big = cv2.resize(code, (w * 8, h * 8), interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(
        big, (round(w * module_px), round(h * module_px)), interpolation=cv2.INTER_AREA
    )
    framed = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    return np.asarray(cv2.cvtColor(framed, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


ALL = BarcodeReader(FORMATS)


def test_every_single_code_sample_reads_with_its_expected_text() -> None:
    folder, samples = _samples()
    singles = [s for s in samples if s["expected_text"] is not None]
    assert len(singles) >= 10
    wrong = []
    for sample in singles:
        got = ALL.read(_image(folder, sample["file"]))
        if got is None or got.text != sample["expected_text"]:
            wrong.append((sample["file"], sample["expected_text"], got))
    assert not wrong


def test_sample_formats_are_reported_in_config_spelling() -> None:
    folder, samples = _samples()
    for sample in samples:
        if sample["expected_text"] is None or not sample["zxingcpp_3_1_1_default"]:
            continue
        got = ALL.read(_image(folder, sample["file"]))
        assert got is not None
        assert got.format == sample["zxingcpp_3_1_1_default"][0]["format"], sample["file"]
        assert got.format in FORMATS


def test_blurred_upca_sample_needs_the_fallbacks() -> None:
    # A defocused UPC-A that a plain zxing-cpp read misses; the unsharp mask recovers it.
    # zxing-cpp 3.1.1 reports UPC-A as EAN13 text with the leading 0.
    folder, samples = _samples()
    (sample,) = [s for s in samples if s["file"].startswith("upca")]
    image = _image(folder, sample["file"])
    assert ALL.read(image, effort=0) is None
    assert ALL.read(image, effort=1) == Read("EAN13", sample["expected_text"])
    assert BarcodeReader(["UPCA"]).read(image) == Read("UPCA", sample["expected_text"])


def test_several_codes_in_one_crop_give_the_largest() -> None:
    # multi-1_1 holds a QR code (about 105x105 px) and an EAN-13 whose read outline is about
    # 155x58 px: the QR code is the larger, so it wins; a reader for EAN-13 alone gets that.
    folder, samples = _samples()
    (sample,) = [s for s in samples if s["file"].startswith("multi")]
    image = _image(folder, sample["file"])
    expected = {(c["format"], c["text"]) for c in sample["zxingcpp_3_1_1_default"]}
    assert expected == {("QRCode", "www.airtable.com/jobs"), ("EAN13", "0031415926531")}
    for effort in (0, 1, 2):
        assert ALL.read(image, effort=effort) == Read("QRCode", "www.airtable.com/jobs")
    assert BarcodeReader(["EAN13"]).read(image) == Read("EAN13", "0031415926531")


@pytest.mark.parametrize("effort", [0, 1, 2])
def test_no_code_gives_none(effort: int) -> None:
    rng = np.random.default_rng(3)
    blank = np.full((480, 640, 3), 128, np.uint8)
    noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    belt = np.clip(rng.normal(60, 8, (480, 640, 3)), 0, 255).astype(np.uint8)
    grey = np.zeros((100, 80), np.uint8)
    for image in (blank, noise, belt, grey):
        assert ALL.read(image, effort=effort) is None


def test_a_qr_reader_ignores_an_ean13() -> None:
    ean = _drawn("4006381333931", "EAN13", 3.0)
    assert BarcodeReader(["QRCode"]).read(ean) is None
    assert BarcodeReader(["qrcode", "ean-13"]).read(ean) == Read("EAN13", "4006381333931")
    qr = _drawn("ONSIGHT-0001", "QRCode", 4.0)
    assert BarcodeReader(["EAN13"]).read(qr) is None
    assert BarcodeReader(["QRCode"]).read(qr) == Read("QRCode", "ONSIGHT-0001")


def test_the_upscale_fallback_reads_a_code_too_small_for_a_plain_read() -> None:
    # A Data Matrix at 1.4 px per module: the plain read fails, the 2x cubic upscale reads it.
    small = _drawn("SKU12345", "DataMatrix", 1.4)
    reader = BarcodeReader(["DataMatrix"])
    assert reader.read(small, effort=0) is None
    assert reader.read(small, effort=1) == Read("DataMatrix", "SKU12345")
    upscaled = cv2.resize(small, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    assert reader.read(np.asarray(upscaled, dtype=np.uint8), effort=0) is not None


def test_the_variants_tried_grow_with_effort() -> None:
    image = _drawn("ONSIGHT-0001", "QRCode", 2.0)
    counts = [len(list(ALL.variants(image, effort))) for effort in (0, 1, 2)]
    assert counts[0] == 1
    assert counts[0] < counts[1] < counts[2]
    big = np.zeros((900, 1200, 3), np.uint8)  # too large to be upscaled
    assert len(list(ALL.variants(big, 1))) == counts[1] - 1


def test_bad_effort_and_bad_crops_are_refused() -> None:
    image = np.zeros((40, 40, 3), np.uint8)
    with pytest.raises(ValueError, match="effort"):
        ALL.read(image, effort=3)
    with pytest.raises(ValueError, match="shape"):
        ALL.read(np.zeros((40, 40, 4), np.uint8))
    with pytest.raises(TypeError):
        ALL.read(np.zeros((40, 40, 3), np.float32))


def test_check_formats_canonicalises_names() -> None:
    assert check_formats(["ean13", "EAN-13", "qr_code", "QR Code", "code128"]) == (
        "EAN13",
        "QRCode",
        "Code128",
    )
    assert check_formats(FORMATS) == FORMATS
    assert BarcodeReader(["datamatrix"]).formats == ("DataMatrix",)


def test_every_format_name_is_one_zxing_cpp_reads() -> None:
    readable = {
        f.name
        for f in zxingcpp.barcode_formats_list(
            zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.AllReadable)
        )
    }
    assert set(FORMATS) <= readable
    for name in (
        "EAN13",
        "EAN8",
        "UPCA",
        "UPCE",
        "Code128",
        "Code39",
        "Code93",
        "Codabar",
        "ITF",
        "DataBar",
        "QRCode",
        "MicroQRCode",
        "DataMatrix",
        "PDF417",
        "Aztec",
    ):
        assert name in FORMATS


def test_check_formats_rejects_unknown_and_empty() -> None:
    with pytest.raises(ValueError, match=r"unknown barcode format 'EAN14'.*EAN13.*QRCode"):
        check_formats(["EAN13", "EAN14"])
    with pytest.raises(ValueError, match="at least one"):
        check_formats([])
    with pytest.raises(ValueError, match="unknown barcode format 'AllLinear'"):
        check_formats(["AllLinear"])
    with pytest.raises(ValueError, match="unknown"):
        BarcodeReader(["barcode"])


def test_expect_is_a_full_match() -> None:
    pattern = "^40[0-9]{11}$"
    assert expect_matches(pattern, "4012345678901")
    assert not expect_matches(pattern, "5012345678901")
    assert not expect_matches(pattern, "40123456789012")
    assert expect_matches("40[0-9]+", "4012")
    assert not expect_matches("40", "4012")  # no partial matches
    assert not expect_matches("[0-9]+", "12a")
    assert expect_matches(None, "anything at all")
    assert expect_matches(None, "")
    assert compile_expect(pattern).fullmatch("4012345678901")


def test_a_bad_expect_pattern_says_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"invalid expect pattern '40\[0-9': .*position 2"):
        compile_expect("40[0-9")
    with pytest.raises(ValueError, match="invalid expect pattern"):
        expect_matches("(unclosed", "x")
