"""Bring your own detector: a user ONNX model registered in the config, checked (sha256,
input and output shapes against its decoder and classes) and run on a real frame.

The "site model" is made in the test itself: the registry's COCO YOLOX-nano (and NanoDet-m)
from the shared assets under a user-model entry with a remapped class list.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
from typer.testing import CliRunner

from onsight.cli import app
from onsight.config import LoadedConfig, load_config
from onsight.detect import make_detector
from onsight.detect.decoders import NanodetDecoder
from onsight.detect.registry import sha256_of
from onsight.detect.user_models import (
    UserModel,
    load_user_model,
    make_user_decoder,
    make_user_detector,
    user_model_classes,
    user_model_config,
)
from onsight.errors import ConfigError, ModelError
from tests.conftest import assets_dir, require

FRAME_INDEX = 200  # vtest_480x360.avi: seven pedestrians (see test_detect.py)
WORKER, VEST = 0, 24  # COCO "person" and "backpack", renamed below


def _coco() -> list[str]:
    path = require(assets_dir() / "models" / "coco_classes.txt", "COCO class list")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [n for n in names if n]


def _remapped() -> list[str]:
    names = _coco()
    names[WORKER], names[VEST] = "worker", "vest"
    return names


@pytest.fixture(scope="module")
def frame() -> npt.NDArray[np.uint8]:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video vtest_480x360.avi")
    with av.open(str(video)) as container:
        for index, decoded in enumerate(container.decode(video=0)):
            if index == FRAME_INDEX:
                return np.asarray(decoded.to_ndarray(format="bgr24"), np.uint8)
    raise AssertionError(f"{video} has fewer than {FRAME_INDEX + 1} frames")


def _site(tmp_path: Path, model_yaml: str, *, copy: str = "yolox_nano_416_coco.onnx") -> Path:
    """A config folder with the asset model copied to models/ppe.onnx, the remapped class
    list in models/classes.txt and one camera on the vtest clip."""
    models = tmp_path / "models"
    models.mkdir(exist_ok=True)
    source = require(assets_dir() / "models" / copy, f"model {copy}")
    shutil.copyfile(source, models / "ppe.onnx")
    (models / "classes.txt").write_text("\n".join(_remapped()) + "\n", encoding="utf-8")
    video = assets_dir() / "video" / "vtest_480x360.avi"
    path = tmp_path / "site.yaml"
    path.write_text(
        f"cameras:\n  - name: yard\n    url: {video}\n    purpose: safety\nmodels:\n{model_yaml}",
        encoding="utf-8",
    )
    return path


def _entry(**fields: object) -> str:
    base: dict[str, object] = {
        "name": "site-ppe",
        "path": "models/ppe.onnx",
        "classes_file": "models/classes.txt",
        "decoder": "yolox",
        "input_size": 416,
    }
    base.update(fields)
    lines = [f"{k}: {v}" for k, v in base.items() if v is not None]
    return "  - " + "\n    ".join(lines) + "\n"


def _load(tmp_path: Path, **fields: object) -> LoadedConfig:
    return load_config(_site(tmp_path, _entry(**fields)))


def _one_line_error(loaded: LoadedConfig) -> str:
    with pytest.raises(ModelError) as info:
        load_user_model(user_model_config(loaded, "site-ppe"), loaded.base_dir)
    message = str(info.value)
    assert "\n" not in message and message.startswith("user model 'site-ppe': "), message
    return message


def test_yolox_user_model_detects_under_the_remapped_names(
    tmp_path: Path, frame: npt.NDArray[np.uint8]
) -> None:
    weights = require(assets_dir() / "models" / "yolox_nano_416_coco.onnx", "YOLOX-nano")
    loaded = _load(tmp_path, sha256=sha256_of(weights))
    assert user_model_classes(loaded, "site-ppe") == tuple(_remapped())
    detector = make_user_detector(loaded, "site-ppe")
    assert detector.class_names[WORKER] == "worker" and "person" not in detector.class_names
    found = detector.detect(frame)
    names = [detector.class_names[int(i)] for i in found.class_id]
    assert names.count("worker") >= 5, names  # seven pedestrians in this frame
    # The same boxes as the registry model at the user entry's threshold (0.3) and on the
    # exported square input (a user model is not assumed to take any input size): only the
    # names differ.
    reference = make_detector(
        "yolox_nano_416_coco", score_threshold=0.3, square_input=True
    ).detect(frame)
    np.testing.assert_allclose(found.xyxy, reference.xyxy, atol=1e-3)
    np.testing.assert_array_equal(found.class_id, reference.class_id)


def test_opencv_backend_runs_a_user_model(tmp_path: Path, frame: npt.NDArray[np.uint8]) -> None:
    detector = make_user_detector(_load(tmp_path), "site-ppe", backend="opencv")
    names = [detector.class_names[int(i)] for i in detector.detect(frame).class_id]
    assert names.count("worker") >= 5, names


def test_inline_classes_and_nanodet_per_stride_outputs(
    tmp_path: Path, frame: npt.NDArray[np.uint8]
) -> None:
    classes = "[" + ", ".join(_remapped()) + "]"
    path = _site(
        tmp_path,
        _entry(
            decoder="nanodet", classes_file=None, classes=classes, score_threshold=0.35, nms_iou=0.6
        ),
        copy="nanodet_m_416_coco.onnx",
    )
    detector = make_user_detector(load_config(path), "site-ppe")
    found = detector.detect(frame)
    reference = make_detector("nanodet_m_416_coco").detect(frame)
    np.testing.assert_allclose(found.xyxy, reference.xyxy, atol=1e-3)
    assert [detector.class_names[int(i)] for i in found.class_id].count("worker") >= 5


def test_nanodet_single_output_layout_splits_into_the_per_stride_arrays() -> None:
    """Current NanoDet exports put every level in one [1, N, C + 4*(reg_max+1)] output."""
    rng = np.random.default_rng(7)
    size, classes, strides = 128, 3, (8, 16, 32, 64)
    counts = [(size // s) ** 2 for s in strides]
    cls = [rng.uniform(0, 0.5, (1, n, classes)).astype(np.float32) for n in counts]
    dis = [rng.normal(0, 1, (1, n, 32)).astype(np.float32) for n in counts]
    cls[1][0, 5, 2] = 0.9  # one confident box at stride 16
    from onsight.config.user_models import UserModelConfig

    config = UserModelConfig(
        name="m",
        path="m.onnx",
        classes=["a", "b", "c"],
        decoder="nanodet",
        input_size=size,
        strides=list(strides),
    )
    user = UserModel(config, Path("m.onnx"), ("a", "b", "c"), "nanodet", ("output",))
    decoder = make_user_decoder(user)
    assert decoder.output_names == ("output",)
    single = np.concatenate(
        [np.concatenate([c, d], axis=2) for c, d in zip(cls, dis, strict=True)], axis=1
    )
    image = np.zeros((size, size, 3), np.uint8)
    _, geometry = decoder.prepare(image)
    got = decoder.decode([single], geometry)
    per_stride = NanodetDecoder(size, 0.3, 0.45, strides=strides, legacy_centres=False)
    want = per_stride.decode([*cls, *dis], geometry)
    assert len(got) >= 1 and 2 in got.class_id.tolist()
    np.testing.assert_array_equal(got.xyxy, want.xyxy)
    np.testing.assert_array_equal(got.class_id, want.class_id)


def test_check_lists_user_models(tmp_path: Path) -> None:
    path = _site(tmp_path, _entry())
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "model site-ppe: ok, yolox 416x416, 80 classes (worker, bicycle" in result.output


def test_wrong_sha256_is_one_line(tmp_path: Path) -> None:
    message = _one_line_error(_load(tmp_path, sha256=repr("0" * 64)))
    assert "has sha256 " in message and "expected 000000000000…" in message
    result = CliRunner().invoke(app, ["check", str(tmp_path / "site.yaml")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and "sha256" in lines[0], result.output


def test_wrong_class_count_names_both_shapes(tmp_path: Path) -> None:
    message = _one_line_error(_load(tmp_path, classes_file=None, classes="[helmet, vest, worker]"))
    assert "output output has shape [1, 3549, 85]" in message
    assert "expects [1, 3549, 8]" in message
    assert "the model has 80 classes, the config lists 3" in message


def test_wrong_class_count_nanodet(tmp_path: Path) -> None:
    path = _site(
        tmp_path,
        _entry(decoder="nanodet", classes_file=None, classes="[a, b]"),
        copy="nanodet_m_416_coco.onnx",
    )
    message = _one_line_error(load_config(path))
    assert "cls_pred_stride_8 has shape [1, 2704, 80]" in message
    assert "expects [1, 2704, 2]" in message


def test_wrong_input_size(tmp_path: Path) -> None:
    message = _one_line_error(_load(tmp_path, input_size=320))
    assert "input shape [1, 3, 416, 416] does not match input_size 320" in message
    assert "expected [1, 3, 320, 320]" in message


def test_a_model_without_a_detector_output_is_refused(tmp_path: Path) -> None:
    # The NanoDet-m backbone: the right input, but feature maps instead of a detection head.
    path = _site(tmp_path, _entry(), copy="shufflenetv2_nanodet_m_backbone_416.onnx")
    loaded = load_config(path)
    message = _one_line_error(loaded)
    assert "not a yolox output: expected one output [1, 3549, 85]" in message
    assert "the model has 3: feat_s8 [1, 116, 52, 52]" in message
    path = _site(
        tmp_path, _entry(decoder="nanodet"), copy="shufflenetv2_nanodet_m_backbone_416.onnx"
    )
    message = _one_line_error(load_config(path))
    assert "not a nanodet output: expected one output [1, 3549, 112]" in message


def test_missing_file_and_not_onnx(tmp_path: Path) -> None:
    message = _one_line_error(_load(tmp_path, path="models/nope.onnx"))
    assert "file " in message and "nope.onnx not found" in message
    (tmp_path / "models" / "junk.onnx").write_bytes(b"not a model")
    message = _one_line_error(_load(tmp_path, path="models/junk.onnx"))
    assert "is not a loadable ONNX model" in message


def test_unknown_user_model_name(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        make_user_detector(_load(tmp_path), "hats")
    assert str(info.value) == "unknown user model 'hats'; models in site.yaml: site-ppe"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "yolox_nano_416_coco"}, "is a built-in model's name"),
        ({"classes": "[a]"}, "give either `classes` or `classes_file`"),
        ({"classes_file": None}, "give either `classes` or `classes_file`"),
        ({"decoder": "ssd"}, "models[0].decoder"),
        ({"sha256": "abc"}, "models[0].sha256"),
        ({"input_size": 420}, "input_size 420 is not a multiple of the largest stride 32"),
        ({"strides": "[8, 16, 32, 64]"}, "the yolox decoder uses strides 8, 16, 32"),
        ({"labels": "[a]"}, "unknown field"),
    ],
)
def test_config_entry_is_validated_strictly(
    tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, **fields)
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_duplicate_user_model_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="duplicate name 'site-ppe'"):
        load_config(_site(tmp_path, _entry() + _entry()))
