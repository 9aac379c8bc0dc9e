"""A site's own ONNX detector from the config's `models:` list: found, checked, loaded.

Checking a model means: the file exists, its sha256 matches when one is configured, its
class list loads, and its input and output shapes are the ones its decoder reads for the
configured input size, strides and number of classes. Every failure is one ModelError line
naming the model and, for shapes, the expected and the actual shape.

Output layouts:
- yolox: one output [1, N, 5 + C] (YOLOX `tools/export_onnx.py`, without --decode_in_inference),
  N = sum over strides 8, 16, 32 of (input_size / stride)^2;
- nanodet: one output [1, N, C + 4 * (reg_max + 1)] (current NanoDet `tools/export_onnx.py`,
  priors at stride * cell), or per-stride outputs cls_pred_stride_S [1, n_S, C] and
  dis_pred_stride_S [1, n_S, 4 * (reg_max + 1)] (older exports, as the registry's NanoDet-m).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from onsight.detect.decoders import (
    STRIDES,
    Decoder,
    LetterboxGeometry,
    NanodetDecoder,
    YoloxDecoder,
)
from onsight.detect.registry import BACKENDS, BackendName, sha256_of
from onsight.errors import ModelError
from onsight.types import Detections, FloatArray, Image, Region

if TYPE_CHECKING:
    from onsight.config.loader import LoadedConfig
    from onsight.config.user_models import UserModelConfig
    from onsight.detect.protocol import Detector

Layout = Literal["yolox", "nanodet", "nanodet-per-stride"]
Dim = int | str | None
Shape = tuple[Dim, ...]


@dataclass(frozen=True, slots=True)
class UserModel:
    """A user model that passed its checks: where it is, its classes, how to read its output."""

    config: UserModelConfig
    weights: Path
    class_names: tuple[str, ...]
    layout: Layout
    output_names: tuple[str, ...]  # the outputs the decoder reads, in its order

    @property
    def name(self) -> str:
        return self.config.name

    def describe(self) -> str:
        """One line for `onsight check`."""
        size = self.config.input_size
        shown = ", ".join(self.class_names[:6]) + (", …" if len(self.class_names) > 6 else "")
        return (
            f"{self.config.decoder} {size}x{size}, {len(self.class_names)} classes ({shown}), "
            f"{self.weights}"
        )


def user_model_config(loaded: LoadedConfig, name: str) -> UserModelConfig:
    """The `models:` entry called `name`; ModelError listing the configured ones if none is."""
    for model in loaded.config.models:
        if model.name == name:
            return model
    known = ", ".join(m.name for m in loaded.config.models) or "none"
    raise ModelError(f"unknown user model {name!r}; models in {loaded.path.name}: {known}")


def load_user_model(model: UserModelConfig, base_dir: Path) -> UserModel:
    """Check one `models:` entry (relative paths from `base_dir`, the config's folder)."""
    weights = _resolve(model.path, base_dir)
    if not weights.is_file():
        raise ModelError(
            f"user model {model.name!r}: file {weights} not found (relative paths are "
            "relative to the config file)"
        )
    if model.sha256 is not None:
        actual = sha256_of(weights)
        if actual != model.sha256.lower():
            raise ModelError(
                f"user model {model.name!r}: {weights} has sha256 {actual[:12]}…, expected "
                f"{model.sha256.lower()[:12]}… (wrong file, or update `sha256`)"
            )
    classes = _class_names(model, base_dir)
    inputs, outputs = _shapes(model, weights)
    _check_input(model, inputs)
    layout, names = _check_outputs(model, len(classes), outputs)
    return UserModel(model, weights, classes, layout, names)


def user_model_classes(loaded: LoadedConfig, name: str) -> tuple[str, ...]:
    """The class names of the user model `name` (after the same checks as loading it)."""
    return load_user_model(user_model_config(loaded, name), loaded.base_dir).class_names


def make_user_detector(
    loaded: LoadedConfig,
    name: str,
    backend: BackendName = "onnxruntime",
    score_threshold: float | None = None,
    threads: int = 1,
) -> Detector:
    """A Detector (the pipeline's protocol) for the user model `name` from the config.

    Raises ModelError for an unknown name, a missing or mismatching file, or shapes that do
    not fit the decoder; class ids of its detections index its `class_names`.
    """
    user = load_user_model(user_model_config(loaded, name), loaded.base_dir)
    return user_detector(user, backend, score_threshold, threads)


def user_detector(
    user: UserModel,
    backend: BackendName = "onnxruntime",
    score_threshold: float | None = None,
    threads: int = 1,
) -> Detector:
    """A Detector for a checked user model."""
    from onsight.detect.factory import ModelDetector, _runner

    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    decoder = make_user_decoder(user, score_threshold)
    runner = _runner(backend, user.weights, decoder.output_names, threads)
    return ModelDetector(runner, decoder, user.class_names)


def make_user_decoder(user: UserModel, score_threshold: float | None = None) -> Decoder:
    """The decoder for a checked user model (its output names set to the model's own)."""
    cfg = user.config
    threshold = cfg.score_threshold if score_threshold is None else score_threshold
    if not 0.0 <= threshold <= 1.0:
        raise ModelError(f"score threshold must be between 0 and 1, got {threshold}")
    if user.layout == "yolox":
        yolox = YoloxDecoder(cfg.input_size, threshold, cfg.nms_iou)
        yolox.output_names = user.output_names
        return yolox
    nanodet = NanodetDecoder(
        cfg.input_size,
        threshold,
        cfg.nms_iou,
        strides=cfg.head_strides,
        reg_max=cfg.reg_max,
        legacy_centres=user.layout == "nanodet-per-stride",
    )
    if user.layout == "nanodet-per-stride":
        return nanodet
    return _SingleOutputNanodet(nanodet, user.output_names[0], len(user.class_names))


class _SingleOutputNanodet:
    """Current NanoDet exports: all levels in one [1, N, C + 4 * (reg_max + 1)] output, split
    into the per-stride arrays NanodetDecoder reads (views, no copies)."""

    fitted_canvas = False

    def __init__(self, inner: NanodetDecoder, output_name: str, num_classes: int) -> None:
        self._inner = inner
        self.output_names: tuple[str, ...] = (output_name,)
        self._num_classes = num_classes
        size = inner.letterbox.size
        counts = [(size // s) ** 2 for s in inner.strides]
        self._bounds = np.cumsum([0, *counts]).tolist()

    def prepare(
        self, image: Image, region: Region | None = None
    ) -> tuple[FloatArray, LetterboxGeometry]:
        return self._inner.prepare(image, region)

    def decode(
        self, outputs: Sequence[npt.NDArray[np.float32]], geometry: LetterboxGeometry
    ) -> Detections:
        out = outputs[0].reshape(-1, outputs[0].shape[-1])
        c = self._num_classes
        rows = [out[a:b] for a, b in zip(self._bounds[:-1], self._bounds[1:], strict=True)]
        return self._inner.decode([r[:, :c] for r in rows] + [r[:, c:] for r in rows], geometry)


def _resolve(value: str, base_dir: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def _class_names(model: UserModelConfig, base_dir: Path) -> tuple[str, ...]:
    if model.classes is not None:
        return tuple(name.strip() for name in model.classes)
    assert model.classes_file is not None  # the schema requires one of the two
    path = _resolve(model.classes_file, base_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ModelError(
            f"user model {model.name!r}: cannot read classes_file {path}: {reason}"
        ) from None
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not names:
        raise ModelError(f"user model {model.name!r}: classes_file {path} lists no classes")
    return names


def _shapes(model: UserModelConfig, weights: Path) -> tuple[list[Shape], list[tuple[str, Shape]]]:
    """Input shapes and (name, shape) of each output; symbolic dimensions are resolved by one
    run on a blank input of the configured size."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    try:
        session = ort.InferenceSession(
            str(weights), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # ort raises its own untyped errors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(
            f"user model {model.name!r}: {weights} is not a loadable ONNX model: {first}"
        ) from None
    inputs: list[Shape] = [tuple(i.shape) for i in session.get_inputs()]
    outputs: list[tuple[str, Shape]] = [(o.name, tuple(o.shape)) for o in session.get_outputs()]
    dynamic = any(not isinstance(d, int) for _, shape in outputs for d in shape)
    if dynamic and len(inputs) == 1 and len(inputs[0]) == 4:
        size = model.input_size
        blank = np.zeros((1, 3, size, size), np.float32)
        try:
            results = session.run(None, {session.get_inputs()[0].name: blank})
        except Exception as exc:  # a fixed input of another size, for example
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(
                f"user model {model.name!r}: a {size}x{size} test input fails: {first}"
            ) from None
        outputs = [
            (name, tuple(int(d) for d in np.shape(r)))
            for (name, _), r in zip(outputs, results, strict=True)
        ]
    return inputs, outputs


def _fmt(shape: Sequence[Dim]) -> str:
    return "[" + ", ".join(str(d) if d is not None else "?" for d in shape) + "]"


def _matches(actual: Shape, expected: Sequence[int]) -> bool:
    return len(actual) == len(expected) and all(
        not isinstance(a, int) or a == e for a, e in zip(actual, expected, strict=True)
    )


def _check_input(model: UserModelConfig, inputs: list[Shape]) -> None:
    size = model.input_size
    expected = (1, 3, size, size)
    if len(inputs) != 1:
        raise ModelError(
            f"user model {model.name!r}: expected one input {_fmt(expected)}, the model has "
            f"{len(inputs)}: {', '.join(_fmt(s) for s in inputs)}"
        )
    if not _matches(inputs[0], expected):
        raise ModelError(
            f"user model {model.name!r}: input shape {_fmt(inputs[0])} does not match "
            f"input_size {size}: expected {_fmt(expected)} (NCHW)"
        )


def _check_outputs(
    model: UserModelConfig, num_classes: int, outputs: list[tuple[str, Shape]]
) -> tuple[Layout, tuple[str, ...]]:
    size = model.input_size
    if model.decoder == "yolox":
        anchors = sum((size // s) ** 2 for s in STRIDES)
        expected = (1, anchors, 5 + num_classes)
        _one_output(model, "yolox", expected, outputs, "5 + classes")
        return "yolox", (outputs[0][0],)
    strides = model.head_strides
    bins = 4 * (model.reg_max + 1)
    names = {name for name, _ in outputs}
    if any(name.startswith("cls_pred_stride_") for name in names):
        wanted: list[tuple[str, tuple[int, ...]]] = [
            (f"{kind}_pred_stride_{s}", (1, (size // s) ** 2, last))
            for kind, last in (("cls", num_classes), ("dis", bins))
            for s in strides
        ]
        shapes = dict(outputs)
        for name, shape in wanted:
            if name not in shapes:
                raise ModelError(
                    f"user model {model.name!r}: nanodet output {name} {_fmt(shape)} is "
                    f"missing (strides {', '.join(map(str, strides))}); the model has "
                    f"{', '.join(sorted(names))}"
                )
            _same(model, "nanodet", name, shape, shapes[name], num_classes)
        return "nanodet-per-stride", tuple(name for name, _ in wanted)
    anchors = sum((size // s) ** 2 for s in strides)
    expected = (1, anchors, num_classes + bins)
    _one_output(model, "nanodet", expected, outputs, f"classes + 4 * (reg_max {model.reg_max} + 1)")
    return "nanodet", (outputs[0][0],)


def _one_output(
    model: UserModelConfig,
    decoder: str,
    expected: tuple[int, ...],
    outputs: list[tuple[str, Shape]],
    last: str,
) -> None:
    if len(outputs) != 1:
        found = ", ".join(f"{name} {_fmt(shape)}" for name, shape in outputs)
        raise ModelError(
            f"user model {model.name!r}: not a {decoder} output: expected one output "
            f"{_fmt(expected)}, the model has {len(outputs)}: {found}"
        )
    name, shape = outputs[0]
    if not _matches(shape, expected):
        classes = expected[2] - (5 if decoder == "yolox" else 4 * (model.reg_max + 1))
        hint = ""
        if len(shape) == 3 and _matches(shape[:2], expected[:2]) and isinstance(shape[2], int):
            hint = (
                f"; the model has {shape[2] - (expected[2] - classes)} classes, the config "
                f"lists {classes}"
            )
        raise ModelError(
            f"user model {model.name!r}: output {name} has shape {_fmt(shape)}, {decoder} at "
            f"input_size {model.input_size} with {classes} classes expects {_fmt(expected)} "
            f"(last dimension {last}){hint}"
        )


def _same(
    model: UserModelConfig,
    decoder: str,
    name: str,
    expected: tuple[int, ...],
    actual: Shape,
    num_classes: int,
) -> None:
    if not _matches(actual, expected):
        raise ModelError(
            f"user model {model.name!r}: output {name} has shape {_fmt(actual)}, {decoder} at "
            f"input_size {model.input_size} with {num_classes} classes expects {_fmt(expected)}"
        )
