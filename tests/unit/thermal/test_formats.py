"""Radiometric formats: FLIR JPEG/FFF/SEQ against measured values, rejects, TLinear, CLI, PNG.

Expected values are the "full" formula figures in ../shared/assets/thermal/PROVENANCE.md
(exiftool raw counts + the FLIR raw2temp formula, cross-checked with flyr to 0.01 °C).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from onsight.cli import app
from onsight.privacy.thermal import SKIN_BAND_C, save_thermal_redacted
from onsight.thermal.formats import (
    PlanckParams,
    ThermalFormatError,
    ThermalImage,
    TLinearFrame,
    false_colour,
    iter_seq,
    raw_to_celsius,
    read_thermal,
    tlinear_to_celsius,
)
from onsight.thermal.planck import KELVIN
from tests.conftest import assets_dir, require

TOLERANCE_C = 0.05


def thermal_asset(relative: str) -> Path:
    return require(assets_dir() / "thermal" / relative, f"thermal test file {relative}")


class Expected(NamedTuple):
    camera: str
    width: int
    height: int
    raw: tuple[int, int, int | None]  # min, max, median counts (median not measured for all)
    celsius: tuple[float, float, float]  # min, max, median


DUO_PRO_R_FRAME_0 = Expected("Duo Pro R", 640, 512, (2623, 2739, 2699), (9.56, 12.58, 11.55))
FILES = {
    "flir_jpeg/readthermal_flir_example.jpg": Expected(
        "FLIR (model not recorded)", 240, 320, (12501, 20042, 12612), (25.95, 62.32, 26.58)
    ),
    "flir_jpeg/readthermal_ax8.jpg": Expected(
        "FLIR AX8", 80, 60, (16711, 16876, 16811), (24.36, 25.47, 25.03)
    ),
    "flir_jpeg/thermalparser_FLIR_E40.jpg": Expected(
        "FLIR E40", 160, 120, (17059, 18266, 17604), (17.88, 24.70, 21.01)
    ),
    "flir_jpeg/thermalparser_FLIR_B60.jpg": Expected(
        "Flir b60", 180, 180, (6953, 13994, 12846), (-68.08, -0.23, -7.69)
    ),
    "flirpy/frame_000000.fff": DUO_PRO_R_FRAME_0,
    "flirpy/frame_000000_le.fff": Expected(
        "FLIR T420 (with SC", 320, 240, (17899, 19192, 18014), (22.94, 29.50, 23.54)
    ),
}
SEQ_FRAMES = [
    DUO_PRO_R_FRAME_0,
    DUO_PRO_R_FRAME_0._replace(raw=(2617, 2736, None), celsius=(9.40, 12.51, 11.45)),
    *[DUO_PRO_R_FRAME_0._replace(raw=(2618, 2736, None), celsius=(9.42, 12.51, 11.45))] * 4,
    DUO_PRO_R_FRAME_0._replace(raw=(2618, 2735, None), celsius=(9.42, 12.48, 11.45)),
]


def check(image: ThermalImage, expected: Expected) -> None:
    assert (image.camera, image.width, image.height) == expected[:3]
    assert image.raw.dtype == np.uint16 and image.raw.shape == (expected.height, expected.width)
    raw_min, raw_max, raw_median = expected.raw
    assert (int(image.raw.min()), int(image.raw.max())) == (raw_min, raw_max)
    if raw_median is not None:
        assert int(np.median(image.raw)) == raw_median
    celsius = image.celsius()
    measured = (celsius.min(), celsius.max(), np.median(celsius))
    assert measured == pytest.approx(expected.celsius, abs=TOLERANCE_C)


@pytest.mark.parametrize("relative", list(FILES))
def test_reads_flir_files_to_the_measured_temperatures(relative: str) -> None:
    check(read_thermal(thermal_asset(relative)), FILES[relative])


@pytest.mark.parametrize("index", range(len(SEQ_FRAMES)))
def test_reads_every_seq_frame(index: int) -> None:
    frames = list(iter_seq(thermal_asset("flirpy/test.seq")))
    assert len(frames) == len(SEQ_FRAMES)
    check(frames[index], SEQ_FRAMES[index])


def test_seq_frame_0_is_the_single_fff_frame() -> None:
    first = read_thermal(thermal_asset("flirpy/test.seq"))
    single = read_thermal(thermal_asset("flirpy/frame_000000.fff"))
    assert np.array_equal(first.raw, single.raw) and first.params == single.params


def test_reads_calibration_and_scene_parameters() -> None:
    e40 = read_thermal(thermal_asset("flir_jpeg/thermalparser_FLIR_E40.jpg")).params
    assert e40.emissivity == pytest.approx(0.95) and e40.object_distance_m == pytest.approx(2.0)
    assert e40.reflected_k - KELVIN == pytest.approx(21.0, abs=0.02)
    assert e40.atmosphere_k - KELVIN == pytest.approx(14.0, abs=0.02)
    assert e40.ir_window_k - KELVIN == pytest.approx(19.0, abs=0.02)
    assert e40.ir_window_transmission == pytest.approx(0.98)
    assert e40.relative_humidity == pytest.approx(0.49)  # a fraction, not percent
    assert (e40.r1, e40.r2, e40.b, e40.f, e40.o) == pytest.approx(
        (14866.514, 0.011086479, 1395.7, 1.0, -5859.0), rel=1e-6
    )
    assert (e40.alpha1, e40.alpha2, e40.beta1, e40.beta2, e40.x) == pytest.approx(
        (0.006569, 0.012620, -0.002276, -0.006670, 1.9), rel=1e-5
    )
    duo = read_thermal(thermal_asset("flirpy/frame_000000.fff")).params
    assert (duo.r1, duo.r2, duo.b, duo.o) == (364058.0, 1.0, 1428.0, -228.0)
    b60 = read_thermal(thermal_asset("flir_jpeg/thermalparser_FLIR_B60.jpg")).params
    assert b60.emissivity == 1.0


def test_keeps_no_location() -> None:
    for cls in (ThermalImage, PlanckParams, TLinearFrame):
        names = [field.name.lower() for field in dataclasses.fields(cls)]
        assert not any(word in n for n in names for word in ("gps", "latitude", "longitude"))


@pytest.mark.parametrize(
    "kelvin", [KELVIN - 40.0, KELVIN, KELVIN + 20.0, KELVIN + 36.6, KELVIN + 300.0]
)
@pytest.mark.parametrize("r1, r2, o", [(17837.531, 0.012332781, -1143.0), (364058.0, 1.0, -228)])
def test_planck_inverse_without_corrections(kelvin: float, r1: float, r2: float, o: float) -> None:
    """A black body (E=1) at distance 0 with a clear window reads its own temperature."""
    params = PlanckParams(r1=r1, r2=r2, b=1428.0, f=1.0, o=o)
    raw = params.radiance(kelvin)
    assert raw_to_celsius(np.array([raw]), params)[0] == pytest.approx(kelvin - KELVIN, abs=1e-6)


def test_corrections_recover_an_object_seen_through_air_and_window() -> None:
    """Build the signal the camera sees from its parts, then check the formula undoes it."""
    p = PlanckParams(
        r1=14866.514, r2=0.011086479, b=1395.7, f=1.0, o=-5859.0, emissivity=0.9,
        object_distance_m=10.0, reflected_k=KELVIN + 25.0, atmosphere_k=KELVIN + 10.0,
        ir_window_k=KELVIN + 15.0, ir_window_transmission=0.8, relative_humidity=0.7,
    )  # fmt: skip
    tau = p.transmission()
    assert 0.9 < tau < 1.0
    emitted = p.emissivity * p.radiance(KELVIN + 36.5)
    obj = emitted + (1 - p.emissivity) * p.radiance(p.reflected_k)
    after_air_1 = tau * obj + (1 - tau) * p.radiance(p.atmosphere_k)
    window = p.ir_window_transmission
    after_window = window * after_air_1 + (1 - window) * p.radiance(p.ir_window_k)
    seen = tau * after_window + (1 - tau) * p.radiance(p.atmosphere_k)
    assert raw_to_celsius(np.array([seen]), p)[0] == pytest.approx(36.5, abs=1e-6)


def test_tlinear_centikelvin_to_celsius() -> None:
    counts = np.array([[0, 27315], [30965, 31015]], dtype=np.uint16)
    expected = np.array([[-273.15, 0.0], [36.5, 37.0]])
    assert np.allclose(tlinear_to_celsius(counts), expected, atol=1e-9)
    assert tlinear_to_celsius(np.array([3097], np.uint16), resolution_k=0.1)[0] == pytest.approx(
        36.55
    )
    frame = TLinearFrame("Lepton 3.5", counts)
    assert (frame.width, frame.height) == (2, 2)
    assert np.allclose(frame.celsius(), expected, atol=1e-9)


def truncated_copy(tmp_path: Path, relative: str, keep: int, suffix: str) -> Path:
    data = thermal_asset(relative).read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[:keep])
    return path


REJECTS = {
    "reject/plain_rgb_gradient.jpg": "not radiometric: no FLIR thermal data in ",
    "reject/thermalparser_DJI_H20T.jpg": "unsupported radiometric format: DJI",
    "flirpy/frame_000000.txt": "not radiometric: no FLIR thermal data in ",
}
# file, bytes kept (negative: all but that many), where the cut falls
TRUNCATIONS = [
    ("flir_jpeg/thermalparser_FLIR_B60.jpg", 100_000, "in the 2nd of 6 FLIR segments"),
    ("flir_jpeg/readthermal_flir_example.jpg", 150_000, "in the JPEG image data"),
    ("flirpy/frame_000000.fff", 300_000, "in the raw image record"),
    ("flirpy/frame_000000_le.fff", -10, "in the raw image record"),
    ("flir_jpeg/readthermal_ax8.jpg", 30, "in the EXIF segment"),
]


@pytest.mark.parametrize("relative", list(REJECTS))
def test_rejects_non_flir_files_clearly(relative: str) -> None:
    path = thermal_asset(relative)
    with pytest.raises(ThermalFormatError) as info:
        read_thermal(path)
    assert str(info.value).startswith(REJECTS[relative]) and str(path) in str(info.value)


@pytest.mark.parametrize("relative, keep, where", TRUNCATIONS)
def test_rejects_truncated_files(tmp_path: Path, relative: str, keep: int, where: str) -> None:
    path = truncated_copy(tmp_path, relative, keep, Path(relative).suffix)
    with pytest.raises(ThermalFormatError, match=r"^truncated or corrupt thermal file .*cut"):
        read_thermal(path)


def test_rejects_an_empty_file_and_a_cut_seq(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ThermalFormatError, match=r"truncated or corrupt.*empty"):
        read_thermal(empty)
    cut = truncated_copy(tmp_path, "flirpy/test.seq", -100_000, ".seq")
    frames = iter_seq(cut)
    assert len([next(frames) for _ in range(6)]) == 6  # the whole frames still read
    with pytest.raises(ThermalFormatError, match="truncated or corrupt"):
        next(frames)


def test_false_colour_uses_a_fixed_range() -> None:
    scene = np.array([[10.0, 30.0], [50.0, np.nan]])
    colour = false_colour(scene)
    assert colour.shape == (2, 2, 3) and colour.dtype == np.uint8
    alone = false_colour(np.array([[30.0]]))
    assert np.array_equal(colour[0, 1], alone[0, 0])  # same °C, same colour whatever the scene
    assert np.array_equal(colour[0, 0], colour[1, 1])  # below range and unknown: the cold end


def synthetic_person(shape: tuple[int, int] = (120, 160)) -> tuple[np.ndarray, np.ndarray]:
    """A 36 °C disc on a 20 °C background, and a colour image full of fine detail."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    disc = (yy - 60) ** 2 + (xx - 80) ** 2 <= 20**2
    celsius = np.where(disc, 36.0, 20.0)
    detail = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    return celsius, detail


def read_png(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image)


def test_skin_warm_region_is_obliterated(tmp_path: Path) -> None:
    celsius, detail = synthetic_person()
    assert SKIN_BAND_C[0] <= 36.0 <= SKIN_BAND_C[1]
    out = tmp_path / "thermal.png"
    save_thermal_redacted(out, celsius, detail)
    written = read_png(out)
    blob = (slice(42, 78), slice(62, 98))  # inside the disc
    assert written[blob].std() < detail[blob].std() / 10
    assert np.abs(written[blob].astype(int) - detail[blob]).mean() > 40  # no original pixels
    assert np.array_equal(written[:10, :10], detail[:10, :10])  # far away: untouched


def test_unknown_temperatures_count_as_warm(tmp_path: Path) -> None:
    celsius, detail = synthetic_person()
    celsius[:30, :30] = np.nan
    out = tmp_path / "thermal.png"
    save_thermal_redacted(out, celsius, detail)
    assert read_png(out)[5:25, 5:25].std() < detail[5:25, 5:25].std() / 10


def test_redaction_failure_obliterates_everything(tmp_path: Path) -> None:
    _, detail = synthetic_person()
    out = tmp_path / "thermal.png"
    save_thermal_redacted(out, np.zeros((3, 3, 3, 3)), detail)  # a broken temperature array
    written = read_png(out)
    assert written.shape == detail.shape and written.std() < detail.std() / 10


def run_read(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["thermal", "read", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_json_shape() -> None:
    code, out, err = run_read(str(thermal_asset("flir_jpeg/thermalparser_FLIR_E40.jpg")), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert list(summary) == ["camera", "width", "height", "min_c", "max_c", "median_c"]
    assert (summary["camera"], summary["width"], summary["height"]) == ("FLIR E40", 160, 120)
    assert [summary["min_c"], summary["max_c"], summary["median_c"]] == pytest.approx(
        [17.88, 24.70, 21.01], abs=TOLERANCE_C
    )


def test_cli_human_output_and_seq_frame() -> None:
    seq = str(thermal_asset("flirpy/test.seq"))
    code, out, _ = run_read(seq)
    assert code == 0
    assert "camera: Duo Pro R" in out and "size: 640x512" in out and "emissivity: 0.94" in out
    assert "min: 9.56 °C" in out and "median: 11.55 °C" in out
    code, out, _ = run_read(seq, "--frame", "6", "--json")
    assert code == 0 and json.loads(out)["max_c"] == pytest.approx(12.48, abs=TOLERANCE_C)
    code, _, err = run_read(seq, "--frame", "7")
    assert code == 1 and err.strip() == f"error: {seq} has 7 frame(s); --frame 7 does not exist"


def test_cli_writes_a_redacted_png(tmp_path: Path) -> None:
    out = tmp_path / "cup.png"
    path = thermal_asset("flir_jpeg/readthermal_flir_example.jpg")
    code, _, err = run_read(str(path), "--png", str(out))
    assert code == 0, err
    assert read_png(out).shape == (320, 240, 3)


@pytest.mark.parametrize("relative", list(REJECTS))
def test_cli_rejects_with_one_line(relative: str) -> None:
    code, out, err = run_read(str(thermal_asset(relative)), "--json")
    assert code == 1 and out == ""
    assert err.startswith(f"error: {REJECTS[relative]}") and err.count("\n") == 1, err


def test_cli_missing_file_directory_and_bad_output(tmp_path: Path) -> None:
    code, _, err = run_read(str(tmp_path / "nope.jpg"))
    assert code == 1 and err == f"error: file not found: {tmp_path / 'nope.jpg'}\n"
    code, _, err = run_read(str(tmp_path))
    assert code == 1 and err == f"error: {tmp_path} is a directory, not a thermal image file\n"
    path = str(thermal_asset("flir_jpeg/readthermal_ax8.jpg"))
    code, _, err = run_read(path, "--png", str(tmp_path / "x.bmp"))
    assert code == 1 and "unsupported image type" in err and "Traceback" not in err
