"""Build an int8 copy of a registered fp32 detector: onnxruntime static quantisation (QDQ,
per-channel int8 weights), calibrated on frames sampled from the sample clips and prepared
exactly as the detector's decoder prepares them.

The built file's bytes depend on the onnxruntime version, so its hash is not pinned in the
registry; a JSON stamp written next to it records what it was built from (see
`registry.check_stamp`). `onsight models build-int8` runs `build`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from onsight.detect.registry import (
    BUILT_MODELS,
    ModelFiles,
    ModelSpec,
    get_spec,
    install,
    stamp_path,
    stamp_problem,
    user_cache_dir,
    verify,
    write_stamp,
)
from onsight.errors import ModelError
from onsight.types import FloatArray

# Fixed clips and order: the calibration set must not change between machines.
CALIBRATION_CLIPS = (
    "vtest_480x360.avi",
    "one-by-one-person-detection.mp4",
    "person-bicycle-car-detection_reencode.mp4",
    "car-detection.mp4",
    "bottle-detection.mp4",
    "store-aisle-detection.gif",
    "worker-zone-detection.gif",
    "people-detection.gif",
    "classroom.gif",
    "face-demographics-walking.gif",
)
DEFAULT_FRAMES = 300
_MIN_OPSET = 13

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Recipe:
    """How a model is quantised; `name` goes into the stamp."""

    name: str
    activation: Literal["QUInt8", "QInt8"] = "QUInt8"
    method: Literal["minmax", "percentile", "entropy"] = "minmax"
    exclude: tuple[str, ...] = ()  # node names left in float
    ops: tuple[str, ...] = ()  # op types quantised; () = every op onnxruntime can quantise
    percentile: float = 99.999


RECIPES: dict[str, Recipe] = {
    "qdq-u8s8-minmax-v1": Recipe("qdq-u8s8-minmax-v1"),
}


def video_dir() -> Path:
    assets = os.environ.get("ONSIGHT_ASSETS")
    if not assets:
        raise ModelError(
            "set ONSIGHT_ASSETS to the shared assets folder (its video/ holds the sample clips)"
        )
    return Path(assets) / "video"


def _frame_count(path: Path) -> int:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        count = 0
        while capture.grab():
            count += 1
        return count
    finally:
        capture.release()


def calibration_plan(
    videos: Path, frames: int = DEFAULT_FRAMES, clips: Sequence[str] = CALIBRATION_CLIPS
) -> list[tuple[str, int]]:
    """(clip, frame index) pairs: `frames` in all, spread evenly over each clip in turn."""
    if frames < 1:
        raise ModelError(f"calibration needs at least one frame, got {frames}")
    missing = [c for c in clips if not (videos / c).is_file()]
    if missing:
        raise ModelError(
            f"calibration clip(s) {', '.join(missing)} not found in {videos}; "
            "set ONSIGHT_ASSETS to the shared assets folder"
        )
    per_clip = [frames // len(clips) + (i < frames % len(clips)) for i in range(len(clips))]
    plan: list[tuple[str, int]] = []
    for clip, wanted in zip(clips, per_clip, strict=True):
        if wanted == 0:
            continue
        count = _frame_count(videos / clip)
        if count == 0:
            raise ModelError(f"cannot read any frame of {videos / clip}")
        picks = np.linspace(0, count - 1, min(wanted, count)).round().astype(int)
        plan += [(clip, int(i)) for i in picks]
    return plan


def plan_sha256(plan: Sequence[tuple[str, int]]) -> str:
    return hashlib.sha256(json.dumps(list(plan)).encode()).hexdigest()


def calibration_blobs(
    spec: ModelSpec, videos: Path, plan: Sequence[tuple[str, int]]
) -> Iterator[FloatArray]:
    """The planned frames, each prepared by the model's own decoder (copies of its blob)."""
    import cv2

    from onsight.detect.decoders import make_decoder

    decoder = make_decoder(spec.decoder, spec.input_size, spec.score_threshold, spec.nms_iou)
    by_clip: dict[str, list[int]] = {}
    for clip, index in plan:
        by_clip.setdefault(clip, []).append(index)
    for clip, indices in by_clip.items():
        wanted = set(indices)
        capture = cv2.VideoCapture(str(videos / clip))
        try:
            index = 0
            while wanted and capture.grab():
                if index in wanted:
                    ok, image = capture.retrieve()
                    if not ok:
                        raise ModelError(f"cannot decode frame {index} of {videos / clip}")
                    blob, _ = decoder.prepare(np.ascontiguousarray(image, np.uint8))
                    yield blob.copy()
                    wanted.discard(index)
                index += 1
        finally:
            capture.release()


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over precomputed blobs."""

    def __init__(self, input_name: str, blobs: Sequence[FloatArray]) -> None:
        self._input = input_name
        self._blobs = list(blobs)
        self._next = 0

    def get_next(self) -> dict[str, FloatArray] | None:
        if self._next >= len(self._blobs):
            return None
        self._next += 1
        return {self._input: self._blobs[self._next - 1]}

    def rewind(self) -> None:
        self._next = 0


def quantise(
    source: Path,
    output: Path,
    blobs: Sequence[FloatArray],
    recipe: Recipe,
    progress: Progress | None = None,
) -> None:
    """Write the int8 QDQ model of the fp32 `source` to `output`."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    say = progress or (lambda _: None)
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    with tempfile.TemporaryDirectory(prefix="onsight-quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        say("pre-processing (shape inference, graph optimisation)")
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        import onnx
        from onnx import version_converter

        model = onnx.load(str(prepared))
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        if opset < _MIN_OPSET:  # per-channel QuantizeLinear/DequantizeLinear (`axis`) need 13
            say(f"converting opset {opset} -> {_MIN_OPSET}")
            model = version_converter.convert_version(model, _MIN_OPSET)
            onnx.save(model, str(prepared))
        reader = _Reader(model.graph.input[0].name, blobs)
        say(f"calibrating on {len(blobs)} frames ({recipe.method}), quantising")
        extra: dict[str, Any] = {"CalibTensorRangeSymmetric": False}
        if recipe.method == "percentile":
            extra["CalibPercentile"] = recipe.percentile
        quantize_static(
            str(prepared),
            str(output),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=getattr(QuantType, recipe.activation),
            calibrate_method=methods[recipe.method],
            nodes_to_exclude=list(recipe.exclude),
            op_types_to_quantize=list(recipe.ops) or None,
            extra_options=extra,
        )


def built_spec(name: str) -> ModelSpec:
    """The built model `name`, or the one built from the registered model `name`."""
    spec = get_spec(name)
    if spec.built_from is not None:
        return spec
    built = [s for s in BUILT_MODELS.values() if s.built_from == spec.name]
    if not built:
        buildable = ", ".join(BUILT_MODELS)
        raise ModelError(f"model {spec.name} has no int8 build; buildable models: {buildable}")
    return built[0]


def _stamped_calibration(files: ModelFiles) -> object:
    try:
        return json.loads(stamp_path(files.weights).read_text(encoding="utf-8")).get("calibration")
    except (OSError, ValueError, AttributeError):
        return None


def build(
    name: str,
    dest: Path | None = None,
    *,
    frames: int = DEFAULT_FRAMES,
    videos: Path | None = None,
    model_dir: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> tuple[ModelFiles, bool]:
    """Build the int8 model `name` (or the one built from `name`) into `dest` (default: the
    user cache) from its verified fp32 source, found in `model_dir` or the usual folders.

    Returns the files and whether anything was built: a build whose stamp is current and
    was calibrated the same way is kept. Raises ModelError if the source weights or the
    calibration clips are missing, or the source's sha256 differs.
    """
    say = progress or (lambda _: None)
    spec = built_spec(name)
    assert spec.built_from is not None and spec.recipe is not None
    recipe = RECIPES[spec.recipe]
    source = verify(spec.built_from, model_dir)  # checks the source's pinned sha256
    target = Path(dest) if dest is not None else user_cache_dir()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create model directory {target}: {exc.strerror}") from None
    clips = videos if videos is not None else video_dir()
    say(f"planning {frames} calibration frames from {len(CALIBRATION_CLIPS)} clips in {clips}")
    plan = calibration_plan(clips, frames)
    calibration = {
        "frames": len(plan),
        "requested": frames,
        "clips": list(CALIBRATION_CLIPS),
        "plan_sha256": plan_sha256(plan),
    }
    files = ModelFiles(spec, target)
    if (
        not force
        and files.weights.is_file()
        and all((target / f).is_file() for f in spec.files)
        and stamp_problem(files) is None
        and _stamped_calibration(files) == calibration
    ):
        say(f"{spec.name} is up to date in {target}")
        return verify(spec, target), False
    if source.directory.resolve() != target.resolve():
        install(source.directory, dict(spec.files), target)  # class names and licence texts
    say(f"reading {len(plan)} frames, prepared as {spec.decoder} {spec.input_size}px input")
    blobs = list(calibration_blobs(source.spec, clips, plan))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.weights}.", suffix=".part", dir=target)
    os.close(fd)
    try:
        quantise(source.weights, Path(tmp_name), blobs, recipe, say)
        Path(tmp_name).replace(files.weights)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    write_stamp(files, calibration)
    say(f"built {files.weights}")
    return verify(spec, target), True
