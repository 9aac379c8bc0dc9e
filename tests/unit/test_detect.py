"""Detection: real-frame accuracy per model and backend, the model registry, decoding maths."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from onsight.detect import MODELS, make_detector
from onsight.detect.cli import models_app
from onsight.detect.decoders import (
    NANODET_MEAN,
    NANODET_STD,
    STRIDES,
    YOLOX_PAD,
    Letterbox,
    NanodetDecoder,
    YoloxDecoder,
    nms,
)
from onsight.detect.registry import (
    DEFAULT_MODEL,
    BackendName,
    ModelSpec,
    fetch,
    locate,
    search_dirs,
    sha256_of,
    user_cache_dir,
    verify,
)
from onsight.errors import ModelError
from onsight.types import Detections
from tests.conftest import missing

REPO_ROOT = Path(__file__).resolve().parents[2]
BACKENDS: tuple[BackendName, ...] = ("onnxruntime", "opencv")
PERSON = 0

# Frame 200 (0-based decode order, pts 20.3 s) of vtest_480x360.avi: seven pedestrians, none
# occluded. Annotated by hand: the frame was saved as a PNG and each person was viewed in an
# 8x nearest-neighbour crop with a 5 px grid; x1/x2 are the outermost body pixels (arms, legs,
# feet; not held bags), y1 the top of the head, y2 the bottom of the feet. About +-1 px.
FRAME_INDEX = 200
ANNOTATED_PERSONS = np.array(
    [
        [52, 96, 69, 134],  # far left, light-blue jacket, walking right
        [139, 120, 156, 167],  # left, black jacket and jeans
        [305, 90, 323, 139],  # centre, by the tape barrier, dark jacket
        [385, 165, 407, 231],  # right, nearest the camera, black top and jeans
        [440, 158, 464, 221],  # far right edge, black coat
        [424, 61, 435, 95],  # top right by the van, red top (small, far away)
        [440, 67, 451, 96],  # top right, dark coat, next to the red top
    ],
    np.float32,
)


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        missing(
            f"{what} not found at {path}; set ONSIGHT_ASSETS to the shared assets folder "
            "(see ../shared/assets/PROVENANCE.md)"
        )
    return path


def _assets() -> Path:
    return Path(os.environ.get("ONSIGHT_ASSETS") or REPO_ROOT.parent / "shared" / "assets")


@pytest.fixture(scope="module")
def models_dir() -> Path:
    path = _require(_assets() / "models", "model weights folder")
    for spec in MODELS.values():
        _require(path / spec.weights, f"model weights {spec.weights}")
    return path


@pytest.fixture(scope="module")
def frame() -> npt.NDArray[np.uint8]:
    video = _require(_assets() / "video" / "vtest_480x360.avi", "test video vtest_480x360.avi")
    with av.open(str(video)) as container:
        for index, decoded in enumerate(container.decode(video=0)):
            if index == FRAME_INDEX:
                return np.asarray(decoded.to_ndarray(format="bgr24"), np.uint8)
    raise AssertionError(f"{video} has fewer than {FRAME_INDEX + 1} frames")


@pytest.fixture(scope="module")
def detections(models_dir: Path, frame: npt.NDArray[np.uint8]) -> dict[tuple[str, str], Detections]:
    return {
        (model, backend): make_detector(model, backend, model_dir=models_dir).detect(frame)
        for model in MODELS
        for backend in BACKENDS
    }


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No model directories from the environment; the user cache points into tmp_path."""
    monkeypatch.delenv("ONSIGHT_MODELS", raising=False)
    monkeypatch.delenv("ONSIGHT_ASSETS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield tmp_path


def _iou(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """IoU of every box in a (N,4) against every box in b (M,4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    result: npt.NDArray[np.float64] = inter / (area_a[:, None] + area_b[None, :] - inter)
    return result


# --- (a) real frame ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model", list(MODELS))
def test_every_annotated_person_is_found(
    detections: dict[tuple[str, str], Detections],
    frame: npt.NDArray[np.uint8],
    model: str,
    backend: str,
) -> None:
    det = detections[model, backend]
    persons = det.xyxy[det.class_id == PERSON]
    best = _iou(ANNOTATED_PERSONS, persons).max(axis=1, initial=0.0)
    assert (best >= 0.5).all(), f"IoU with the nearest detected person: {best.round(2)}"
    assert len(persons) <= 2 * len(ANNOTATED_PERSONS)

    height, width = frame.shape[:2]
    assert det.xyxy.dtype == np.float32 and det.confidence.dtype == np.float32
    assert det.class_id.dtype == np.int64
    assert (det.xyxy >= 0).all()
    assert (det.xyxy[:, [0, 2]] <= width).all() and (det.xyxy[:, [1, 3]] <= height).all()
    sizes = det.xyxy[:, 2:] - det.xyxy[:, :2]
    assert (sizes > 0).all() and (sizes < [width / 2, height / 2]).all()
    threshold = MODELS[model].score_threshold
    assert ((det.confidence >= threshold) & (det.confidence <= 1)).all()
    assert ((det.class_id >= 0) & (det.class_id < 80)).all()


@pytest.mark.parametrize("model", list(MODELS))
def test_backends_agree(detections: dict[tuple[str, str], Detections], model: str) -> None:
    ort_det, cv_det = detections[model, "onnxruntime"], detections[model, "opencv"]
    assert len(ort_det) == len(cv_det)
    for box, cls, conf in zip(ort_det.xyxy, ort_det.class_id, ort_det.confidence, strict=True):
        same_class = cv_det.class_id == cls
        diff = np.abs(cv_det.xyxy[same_class] - box).max(axis=1)
        nearest = int(diff.argmin())
        assert diff[nearest] <= 1.0
        assert abs(cv_det.confidence[same_class][nearest] - conf) <= 0.01


def test_detector_class_names_and_reuse(models_dir: Path, frame: npt.NDArray[np.uint8]) -> None:
    detector = make_detector(model_dir=models_dir)
    assert len(detector.class_names) == 80
    assert detector.class_names[PERSON] == "person" and detector.class_names[2] == "car"
    first = detector.detect(frame)
    np.testing.assert_array_equal(first.xyxy, detector.detect(frame.copy()).xyxy)
    # A different size on the same detector re-plans the letterbox.
    small = np.asarray(cv2.resize(frame, (240, 180), interpolation=cv2.INTER_AREA), np.uint8)
    det = detector.detect(small)
    assert (det.xyxy[:, [0, 2]] <= 240).all() and (det.xyxy[:, [1, 3]] <= 180).all()


# --- (b) registry -------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(MODELS))
def test_shared_assets_verify(models_dir: Path, model: str) -> None:
    files = verify(model, models_dir)
    assert files.directory == models_dir
    assert files.weights == models_dir / MODELS[model].weights
    assert len(files.class_names()) == 80


def _copy_model(spec: ModelSpec, src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for filename in spec.files:
        shutil.copyfile(src / filename, dest / filename)
    return dest


def test_corrupted_copy_fails(models_dir: Path, isolated_env: Path) -> None:
    spec = MODELS["yolox_nano_416_coco"]
    copy = _copy_model(spec, models_dir, isolated_env / "copy")
    weights = copy / spec.weights
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256") as err:
        verify(spec.name, copy)
    assert str(weights) in str(err.value)
    with pytest.raises(ModelError, match="sha256"):
        make_detector(spec.name, model_dir=copy)


def test_corrupted_classes_file_fails(models_dir: Path, isolated_env: Path) -> None:
    spec = MODELS["nanodet_m_320_coco"]
    copy = _copy_model(spec, models_dir, isolated_env / "copy")
    (copy / spec.classes_file).write_text("person\n", encoding="utf-8")
    with pytest.raises(ModelError, match=spec.classes_file):
        verify(spec.name, copy)


def test_missing_weights_message_names_file_and_directory(isolated_env: Path) -> None:
    spec = MODELS["nanodet_m_416_coco"]
    empty = isolated_env / "empty"
    with pytest.raises(ModelError) as err:
        verify(spec.name, empty)
    message = str(err.value)
    assert spec.weights in message and str(empty) in message and "\n" not in message


def test_missing_classes_file_next_to_weights(models_dir: Path, isolated_env: Path) -> None:
    spec = MODELS["yolox_nano_416_coco"]
    only_weights = isolated_env / "w"
    only_weights.mkdir()
    shutil.copyfile(models_dir / spec.weights, only_weights / spec.weights)
    with pytest.raises(ModelError) as err:
        locate(spec.name, only_weights)
    assert spec.classes_file in str(err.value) and str(only_weights) in str(err.value)


def test_lookup_order(
    models_dir: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = MODELS["nanodet_m_320_coco"]
    assert user_cache_dir() == isolated_env / "cache" / "onsight" / "models"
    monkeypatch.setenv("ONSIGHT_ASSETS", str(models_dir.parent))
    assert locate(spec.name).directory == models_dir
    env_copy = _copy_model(spec, models_dir, isolated_env / "env")
    monkeypatch.setenv("ONSIGHT_MODELS", str(env_copy))
    assert locate(spec.name).directory == env_copy
    explicit = _copy_model(spec, models_dir, isolated_env / "explicit")
    assert locate(spec.name, explicit).directory == explicit
    assert search_dirs(explicit) == [explicit, env_copy, models_dir, user_cache_dir()]


def test_unknown_model_and_backend_list_valid_names() -> None:
    with pytest.raises(ModelError) as err:
        make_detector("yolov8n")
    assert all(name in str(err.value) for name in MODELS)
    with pytest.raises(ModelError) as err:
        make_detector(backend="tensorrt")  # type: ignore[arg-type]
    assert "onnxruntime" in str(err.value) and "opencv" in str(err.value)


def _spec_from_files(spec: ModelSpec, sources: dict[str, Path]) -> ModelSpec:
    return dataclasses.replace(
        spec, sources=MappingProxyType({name: path.as_uri() for name, path in sources.items()})
    )


def test_fetch_downloads_and_verifies(models_dir: Path, isolated_env: Path) -> None:
    spec = MODELS["nanodet_m_320_coco"]
    local = _spec_from_files(spec, {name: models_dir / name for name in spec.files})
    files = fetch(local)
    assert files.directory == user_cache_dir()
    assert sha256_of(files.weights) == spec.files[spec.weights]
    assert verify(spec.name).directory == user_cache_dir()


def test_fetch_rejects_wrong_hash_and_unreachable_source(
    models_dir: Path, isolated_env: Path
) -> None:
    spec = MODELS["nanodet_m_320_coco"]
    dest = isolated_env / "dest"
    wrong = _spec_from_files(
        spec,
        {
            spec.weights: models_dir / "nanodet_m_416_coco.onnx",
            spec.classes_file: models_dir / spec.classes_file,
        },
    )
    with pytest.raises(ModelError, match="sha256"):
        fetch(wrong, dest)
    assert not (dest / spec.weights).exists()
    assert list(dest.iterdir()) == []  # no partial download left behind
    gone = _spec_from_files(spec, {name: isolated_env / "nowhere" / name for name in spec.files})
    with pytest.raises(ModelError) as err:
        fetch(gone, dest)
    assert spec.weights in str(err.value) and str(dest) in str(err.value)


def test_cli_verify(models_dir: Path, isolated_env: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(models_app, ["verify", "--model-dir", str(models_dir)])
    assert ok.exit_code == 0, ok.output
    assert all(name in ok.output for name in MODELS)
    bad = runner.invoke(models_app, ["verify", "nope"])
    assert bad.exit_code == 1
    assert "Traceback" not in bad.output and len(bad.output.strip().splitlines()) == 1
    missing = runner.invoke(models_app, ["verify", "yolox_nano_416_coco"])
    assert missing.exit_code == 1 and "yolox_nano_416_coco.onnx" in missing.output
    listing = runner.invoke(models_app, ["list", "--model-dir", str(models_dir)])
    assert listing.exit_code == 0 and "present" in listing.output


def test_install_copies_the_bundled_models_for_any_shell(
    models_dir: Path, isolated_env: Path
) -> None:
    """`onsight models install` (run by `make demo`) puts hash-checked copies in the user
    cache: afterwards every model and the face model are found with no ONSIGHT_ASSETS."""
    from onsight.privacy.faces import find_weights

    runner = CliRunner()
    with pytest.raises(ModelError):
        verify(DEFAULT_MODEL)
    done = runner.invoke(models_app, ["install", "--from", str(models_dir)])
    assert done.exit_code == 0, done.output
    cache = isolated_env / "cache" / "onsight" / "models"
    for name in MODELS:
        assert verify(name).directory == cache
    assert find_weights() == cache / "centerface.onnx"
    assert list(cache.glob("LICENSE*"))  # the licences travel with the weights
    assert not list(cache.glob("*.part"))
    again = runner.invoke(models_app, ["install", "--from", str(models_dir)])
    assert again.exit_code == 0, again.output  # idempotent
    # A damaged source file is refused, not copied over the good one.
    damaged = isolated_env / "damaged"
    damaged.mkdir()
    data = bytearray((models_dir / "centerface.onnx").read_bytes())
    data[100] ^= 0xFF
    (damaged / "centerface.onnx").write_bytes(bytes(data))
    (cache / "centerface.onnx").unlink()
    refused = runner.invoke(models_app, ["install", "--from", str(damaged)])
    assert refused.exit_code == 1 and "sha256" in refused.output
    assert not (cache / "centerface.onnx").exists()
    nowhere = runner.invoke(models_app, ["install"])
    assert nowhere.exit_code == 1 and "ONSIGHT_ASSETS" in nowhere.output


# --- (c) decoding maths ---------------------------------------------------------------------


def _image(width: int, height: int) -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(width * 10_000 + height)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_yolox_letterbox_is_top_left_with_114() -> None:
    image = _image(480, 360)
    blob, geo = Letterbox(416, centre=False, pad_value=YOLOX_PAD)(image)
    assert blob.shape == (1, 3, 416, 416) and blob.dtype == np.float32
    assert (geo.pad_x, geo.pad_y) == (0, 0) and geo.scale == pytest.approx(416 / 480)
    resized = cv2.resize(image, (416, 312), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(blob[0, :, :312], resized.transpose(2, 0, 1))
    assert (blob[0, :, 312:] == YOLOX_PAD).all()


@pytest.mark.parametrize(
    ("size", "canvas"),
    [((480, 360), (416, 320)), ((360, 480), (320, 416)), ((1920, 1080), (416, 256)),
     ((416, 416), (416, 416)), ((4000, 100), (416, 32))],
)  # fmt: skip
def test_a_fitted_canvas_takes_the_frame_shape_in_multiples_of_32(
    size: tuple[int, int], canvas: tuple[int, int]
) -> None:
    width, height = size
    blob, geo = Letterbox(416, centre=False, pad_value=YOLOX_PAD, fit=True)(_image(width, height))
    assert blob.shape == (1, 3, canvas[1], canvas[0])
    assert (geo.canvas_width, geo.canvas_height) == canvas
    assert geo.scale == pytest.approx(416 / max(width, height))


def test_a_fitted_canvas_finds_the_same_people(
    models_dir: Path, frame: npt.NDArray[np.uint8]
) -> None:
    """YOLOX on a 416x320 canvas (the 4:3 frame's own shape) finds the annotated people as the
    exported 416x416 input does, box for box, at the same scale."""
    fitted = make_detector(model_dir=models_dir).detect(frame)
    square = make_detector(model_dir=models_dir, square_input=True).detect(frame)
    people = fitted.select(fitted.class_id == PERSON)
    twins = square.select(square.class_id == PERSON)
    assert len(people) == len(twins)
    # every annotated person found, and each fitted box is its square twin within a pixel
    assert (_iou(ANNOTATED_PERSONS, people.xyxy).max(axis=1) >= 0.5).all()
    shift = np.abs(people.xyxy[:, None] - twins.xyxy[None]).max(axis=2).min(axis=1)
    assert shift.max() < 1.0, shift


def test_nanodet_letterbox_is_centred_and_normalised() -> None:
    image = _image(200, 400)  # portrait: padding left and right
    letterbox = Letterbox(320, centre=True, pad_value=0, mean=NANODET_MEAN, std=NANODET_STD)
    blob, geo = letterbox(image)
    assert (geo.pad_x, geo.pad_y, geo.scale) == (80, 0, 0.8)
    mean = np.array(NANODET_MEAN, np.float32)[:, None, None]
    std = np.array(NANODET_STD, np.float32)[:, None, None]
    resized = cv2.resize(image, (160, 320), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)
    np.testing.assert_allclose(blob[0, :, :, 80:240], (resized - mean) / std, rtol=1e-5)
    np.testing.assert_allclose(
        blob[0, :, :, :80], np.broadcast_to(-mean / std, (3, 320, 80)), rtol=1e-5
    )
    # The blob is a reused buffer: no per-frame allocation.
    again, _ = letterbox(image)
    assert again is blob


@given(
    width=st.integers(16, 2000),
    height=st.integers(16, 2000),
    box=st.tuples(*[st.floats(0.0, 1.0)] * 4),
    centre=st.booleans(),
    fit=st.booleans(),
)
def test_letterbox_round_trip(
    width: int, height: int, box: tuple[float, float, float, float], centre: bool, fit: bool
) -> None:
    geo = Letterbox(416, centre=centre, pad_value=0, fit=fit).geometry(width, height)
    if fit:  # a canvas of the image's shape, in multiples of 32, never past the size
        assert geo.canvas_width % 32 == 0 and geo.canvas_height % 32 == 0
        assert max(geo.canvas_width, geo.canvas_height) == 416
        assert geo.canvas_width >= round(width * geo.scale) - 1
        assert geo.canvas_height >= round(height * geo.scale) - 1
    else:
        assert (geo.canvas_width, geo.canvas_height) == (416, 416)
    x1, x2 = sorted((box[0] * width, box[2] * width))
    y1, y2 = sorted((box[1] * height, box[3] * height))
    original = np.array([[x1, y1, x2, y2]], np.float32)
    canvas = original * geo.scale + np.array([geo.pad_x, geo.pad_y] * 2, np.float32)
    assert (canvas >= 0).all()
    assert (canvas[:, 0::2] <= geo.canvas_width + 1e-3).all()
    assert (canvas[:, 1::2] <= geo.canvas_height + 1e-3).all()
    np.testing.assert_allclose(geo.to_image(canvas), original, atol=1e-3 * max(width, height))


def _yolox_row(size: int, stride: int, gx: int, gy: int) -> int:
    offset = sum((size // s) ** 2 for s in STRIDES if s < stride)
    return offset + gy * (size // stride) + gx


def test_yolox_decode_one_cell() -> None:
    decoder = YoloxDecoder(416, score_threshold=0.3, nms_iou=0.45)
    geo = decoder.letterbox.geometry(480, 360)
    out = np.zeros((1, 3549, 85), np.float32)
    row = _yolox_row(416, 16, gx=5, gy=7)
    out[0, row, :5] = [0.5, 0.25, math.log(4.0), math.log(8.0), 0.9]
    out[0, row, 5 + 2] = 0.8  # car
    # Same box shifted by one pixel, lower score: suppressed by NMS within the class.
    out[0, row + 1, :5] = [0.5 - 1 - 1 / 16, 0.25, math.log(4.0), math.log(8.0), 0.9]
    out[0, row + 1, 5 + 2] = 0.5
    # Same place, another class: kept (class-wise NMS).
    out[0, row + 26, :5] = [0.5, 0.25 - 1, math.log(4.0), math.log(8.0), 0.8]
    out[0, row + 26, 5 + 7] = 0.7  # truck
    # High objectness but class score 0.9 * 0.2 below the threshold: dropped.
    out[0, 0, 4], out[0, 0, 5] = 0.9, 0.2

    det = decoder.decode([out], geo)
    # cx = (0.5 + 5) * 16 = 88, cy = (0.25 + 7) * 16 = 116, w = 4 * 16, h = 8 * 16.
    expected = np.array([[56, 52, 120, 180]], np.float32) * (480 / 416)
    assert det.class_id.tolist() == [2, 7]
    np.testing.assert_allclose(det.confidence, [0.72, 0.56], rtol=1e-6)
    np.testing.assert_allclose(det.xyxy, np.repeat(expected, 2, axis=0), atol=1e-3)


def test_yolox_decode_clips_to_image_and_handles_nothing() -> None:
    decoder = YoloxDecoder(416, score_threshold=0.3, nms_iou=0.45)
    geo = decoder.letterbox.geometry(480, 360)
    out = np.zeros((1, 3549, 85), np.float32)
    assert len(decoder.decode([out], geo)) == 0
    row = _yolox_row(416, 32, gx=12, gy=9)  # near the bottom-right corner
    out[0, row, :6] = [0.5, 0.5, math.log(4.0), math.log(4.0), 1.0, 1.0]
    det = decoder.decode([out], geo)
    # centre (400, 304) in the canvas, 128 px wide: x clipped to 480, y to 360.
    np.testing.assert_allclose(det.xyxy, [[336 * 480 / 416, 240 * 480 / 416, 480, 360]], atol=1e-3)


def test_nanodet_decode_one_cell() -> None:
    decoder = NanodetDecoder(416, score_threshold=0.35, nms_iou=0.6)
    geo = decoder.letterbox.geometry(480, 360)
    assert (geo.pad_x, geo.pad_y) == (0, 52)
    counts = [(416 // s) ** 2 for s in STRIDES]
    cls = [np.zeros((1, n, 80), np.float32) for n in counts]
    dis = [np.full((1, n, 32), -50.0, np.float32) for n in counts]
    index = 20 * 52 + 10  # stride 8, cell x=10, y=20: centre (83.5, 163.5)
    cls[0][0, index, 0] = 0.9
    bins = dis[0][0, index].reshape(4, 8)
    bins[0, 3] = 0.0  # left: 3 bins
    bins[1, 2] = 0.0  # top: 2 bins
    bins[2, [4, 5]] = 0.0  # right: equal mass on 4 and 5 -> 4.5 bins
    bins[3, 7] = 0.0  # bottom: 7 bins
    det = decoder.decode([*cls, *dis], geo)
    canvas = np.array([[83.5 - 24, 163.5 - 16, 83.5 + 36, 163.5 + 56]], np.float32)
    expected = (canvas - [0, 52, 0, 52]) * (480 / 416)
    assert det.class_id.tolist() == [PERSON]
    np.testing.assert_allclose(det.confidence, [0.9])
    np.testing.assert_allclose(det.xyxy, expected, atol=1e-3)


def test_nms_is_class_wise_with_exact_iou() -> None:
    # Boxes 0 and 1 overlap with IoU 70/130 = 0.538; box 2 equals box 0 in another class.
    boxes = np.array([[0, 0, 100, 100], [30, 0, 130, 100], [0, 0, 100, 100]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    classes = np.array([0, 0, 1], np.int64)
    assert nms(boxes, scores, classes, 0.5, 300).tolist() == [0, 2]
    assert nms(boxes, scores, classes, 0.6, 300).tolist() == [0, 1, 2]
    assert nms(boxes, scores, classes, 0.6, 2).tolist() == [0, 1]
    assert nms(boxes[:0], scores[:0], classes[:0], 0.5, 300).shape == (0,)


def test_rejects_non_bgr_images() -> None:
    letterbox = Letterbox(320, centre=True, pad_value=0)
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        letterbox(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        letterbox(np.zeros((10, 10, 3), np.float32))
