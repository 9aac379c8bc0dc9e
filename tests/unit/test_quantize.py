"""The int8 build of the default detector: built from the verified fp32 weights on a small
calibration set, loaded through the registry, its stamp checked, its boxes close to fp32's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from typer.testing import CliRunner

from onsight.detect import MODELS, make_detector
from onsight.detect.cli import models_app
from onsight.detect.quantize import build, calibration_plan, plan_sha256
from onsight.detect.registry import (
    BUILT_MODELS,
    DEFAULT_MODEL,
    ModelFiles,
    fetch,
    locate,
    stamp_path,
    verify,
)
from onsight.errors import ModelError
from tests.conftest import assets_dir, require

INT8 = f"{DEFAULT_MODEL}_int8"
FRAMES = 16  # calibration frames: enough for close boxes, small enough for a unit test
PERSON = 0
FRAME_INDEX = 200  # the frame whose people test_detect.py annotates


@pytest.fixture(scope="module")
def source_dir() -> Path:
    models = require(assets_dir() / "models", "model weights folder")
    require(models / MODELS[DEFAULT_MODEL].weights, "model weights")
    require(assets_dir() / "video", "sample clips folder")
    return models


@pytest.fixture(scope="module")
def built(source_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelFiles:
    lines: list[str] = []
    files, did_build = build(
        INT8,
        tmp_path_factory.mktemp("int8"),
        frames=FRAMES,
        model_dir=source_dir,
        progress=lines.append,
    )
    assert did_build and lines and lines[-1].startswith("built ")
    return files


@pytest.fixture(scope="module")
def frame() -> npt.NDArray[np.uint8]:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video vtest")
    capture = cv2.VideoCapture(str(video))
    for _ in range(FRAME_INDEX):
        capture.grab()
    ok, image = capture.read()
    capture.release()
    assert ok
    return np.ascontiguousarray(image, np.uint8)


def _copy(files: ModelFiles, dest: Path) -> ModelFiles:
    shutil.copytree(files.directory, dest)
    return ModelFiles(files.spec, dest)


def _iou(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    result: npt.NDArray[np.float64] = inter / (area_a[:, None] + area_b[None, :] - inter)
    return result


def test_registered_like_its_source() -> None:
    spec, source = BUILT_MODELS[INT8], MODELS[DEFAULT_MODEL]
    assert INT8 not in MODELS  # not selectable in configs: it failed the F1 rule
    assert spec.built_from == DEFAULT_MODEL and spec.weights not in spec.files
    for field in ("classes_file", "licence", "num_classes", "input_size", "decoder"):
        assert getattr(spec, field) == getattr(source, field), field


def test_built_model_loads_and_matches_fp32(
    built: ModelFiles, source_dir: Path, frame: npt.NDArray[np.uint8]
) -> None:
    stamp = json.loads(stamp_path(built.weights).read_text(encoding="utf-8"))
    assert stamp["source_sha256"] == MODELS[DEFAULT_MODEL].files[MODELS[DEFAULT_MODEL].weights]
    assert stamp["calibration"]["frames"] == FRAMES
    assert (built.directory / built.spec.classes_file).is_file()

    fp32 = make_detector(DEFAULT_MODEL, model_dir=source_dir).detect(frame)
    int8 = make_detector(INT8, model_dir=built.directory).detect(frame)
    a, b = fp32.xyxy[fp32.class_id == PERSON], int8.xyxy[int8.class_id == PERSON]
    assert len(a) >= 5 and abs(len(a) - len(b)) <= 1
    best = _iou(a, b).max(axis=1, initial=0.0)
    assert (best > 0.7).mean() >= 0.8, best.round(2)


def test_rebuild_is_skipped_when_the_stamp_is_current(built: ModelFiles, source_dir: Path) -> None:
    before = built.weights.stat().st_mtime_ns
    files, did_build = build(INT8, built.directory, frames=FRAMES, model_dir=source_dir)
    assert not did_build and files.weights.stat().st_mtime_ns == before


@pytest.mark.parametrize(
    ("key", "value"),
    [("onnxruntime", "0.0.1"), ("source_sha256", "0" * 64), ("recipe", "old"), ("format", 0)],
)
def test_stale_stamp_is_refused(built: ModelFiles, tmp_path: Path, key: str, value: object) -> None:
    copy = _copy(built, tmp_path / "copy")
    path = stamp_path(copy.weights)
    stamp = json.loads(path.read_text(encoding="utf-8"))
    stamp[key] = value
    path.write_text(json.dumps(stamp), encoding="utf-8")
    with pytest.raises(ModelError, match="build-int8") as err:
        verify(INT8, copy.directory)
    assert key in str(err.value) and "stale" in str(err.value)
    with pytest.raises(ModelError, match="build-int8"):
        make_detector(INT8, model_dir=copy.directory)


def test_missing_stamp_or_changed_weights_is_refused(built: ModelFiles, tmp_path: Path) -> None:
    copy = _copy(built, tmp_path / "copy")
    stamp_path(copy.weights).unlink()
    with pytest.raises(ModelError, match=r"stamp .* is missing.*build-int8"):
        verify(INT8, copy.directory)
    other = _copy(built, tmp_path / "other")
    data = bytearray(other.weights.read_bytes())
    data[-1] ^= 0xFF
    other.weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match the sha256"):
        verify(INT8, other.directory)


def test_missing_model_says_how_to_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONSIGHT_MODELS", raising=False)
    monkeypatch.delenv("ONSIGHT_ASSETS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(ModelError, match=f"onsight models build-int8 {INT8}"):
        locate(INT8)
    with pytest.raises(ModelError, match="build-int8"):
        fetch(INT8, tmp_path)


def test_missing_source_or_clips_is_a_clear_error(source_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="calibration clip"):
        build(INT8, tmp_path / "out", frames=4, model_dir=source_dir, videos=tmp_path)
    with pytest.raises(ModelError, match="has no int8 build"):
        build("nanodet_m_320_coco", tmp_path / "out")


def test_calibration_plan_is_fixed() -> None:
    videos = assets_dir() / "video"
    plan = calibration_plan(videos, 12)
    assert len(plan) == 12 and len({clip for clip, _ in plan}) == 10
    assert plan_sha256(plan) == plan_sha256(calibration_plan(videos, 12))


def test_cli_lists_and_builds(built: ModelFiles, source_dir: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(
        models_app, ["list", "--model-dir", str(built.directory)], env={"COLUMNS": "300"}
    )
    assert listed.exit_code == 0 and INT8 in listed.output
    again = runner.invoke(
        models_app,
        ["build-int8", "--model-dir", str(built.directory), "--frames", str(FRAMES)],
        env={"ONSIGHT_MODELS": str(source_dir)},
    )
    assert again.exit_code == 0, again.output
    assert "up to date" in again.output
