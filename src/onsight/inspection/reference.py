"""Defect scoring against a reference of good items, in the manner of PatchCore.

Roth et al., "Towards Total Recall in Industrial Anomaly Detection" (CVPR 2022): every image
becomes a grid of local patch features from a pretrained backbone; the patches of the good
images form a memory bank, thinned by greedy k-centre (coreset) selection; a new image's
patches are scored by their distance to the nearest bank patch, and the image's score is
the largest patch score. Nothing is trained.

Here:
- Backbone: NanoDet-m's ShuffleNetV2 (`shufflenetv2_nanodet_m_backbone_416.onnx`, one
  onnxruntime thread). Every image is *stretched* (not letterboxed) to 416x416, in learning
  and in scoring alike, so no patch is spent on padding and the heatmap maps back to the
  image by stretching too. A reference is only valid for images framed like its good ones.
- Patch features: stride-8 features (116 channels, 52x52) and stride-16 features (232
  channels, bilinearly upsampled to 52x52), each averaged over its 3x3 neighbourhood, joined:
  2704 patches x 348 dimensions per image.
- Bank: all patches of the good images, thinned to `coreset_fraction` (at most `_MAX_BANK`
  patches, which bounds the cost of scoring) by k-centre greedy selection, with distances
  computed on a seeded random projection to 128 dimensions as PatchCore does.
- Score: Euclidean distance to the nearest bank patch (float32, ||a||^2 + ||b||^2 - 2ab,
  chunked), the 52x52 map smoothed by a 3x3 Gaussian; the image score is its maximum.
- Threshold: the good images are split into up to 5 interleaved folds; each fold is scored
  against a bank built from the other folds (held-out scoring), and the threshold is the
  (1 - target_false_reject) quantile of those held-out scores (linear interpolation between
  order statistics) raised by `_MARGIN` (5 %). A held-out bank has fewer images than the
  final one, so its scores run a little high: both this and the margin err towards fewer
  false rejects. With few good images the quantile is close to their maximum score: learn
  from enough good images (dozens) for a 1 % target to mean something.
Everything is seeded, so learning the same images twice gives the same reference.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from onsight.detect.registry import find_checked
from onsight.errors import ModelError, OnsightError
from onsight.types import FloatArray, Image

if TYPE_CHECKING:
    import onnxruntime as ort

WEIGHTS = "shufflenetv2_nanodet_m_backbone_416.onnx"
SHA256 = "6f0352f4d720e6e421d20030a69b7a536dda8169b3fa5ada3894c7f2ef36e18d"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")

_FORMAT = "onsight-inspection-reference"
_VERSION = 1
_BANK_FILE = "bank.npy"
_META_FILE = "reference.json"
_INPUT = 416
_GRID = _INPUT // 8  # 52x52 patches
_MEAN = np.array([103.53, 116.28, 123.675], np.float32)
_STD = np.array([57.375, 57.12, 58.395], np.float32)
_DIMS = 116 + 232
_FEATURES: dict[str, Any] = {
    "backbone": WEIGHTS,
    "sha256": SHA256,
    "input": [_INPUT, _INPUT],
    "resize": "stretch (cv2 INTER_AREA), no letterbox",
    "layers": ["feat_s8", "feat_s16 (bilinear x2)"],
    "pool": 3,
    "dims": _DIMS,
    "score": "max of 3x3-Gaussian-smoothed nearest-patch distance",
}
CORESET_FRACTION = 0.1
_MAX_BANK = 3072  # bounds scoring: ~35 ms + ~1 ms per 100 bank patches on one core
_PROJECTION_DIMS = 128
_SEED = 0
_FOLDS = 5
_MARGIN = 0.05
_MIN_IMAGES = 3
_CHUNK = 1024


class InspectionError(OnsightError):
    """Images or a reference that cannot be used: named file, one clear line."""


class ReferenceNotFound(InspectionError, FileNotFoundError):
    """No reference at the given path."""


@dataclass(frozen=True)
class Scored:
    """One image scored: `score` (higher = less like the good items) and the patch scores
    as an HxW float32 map the size of the image."""

    score: float
    heatmap: FloatArray


@dataclass(frozen=True)
class Evaluation:
    """A reference tried on labelled images; the rates are at the reference's threshold
    (an image is rejected when its score is above it)."""

    auroc: float
    false_reject_rate: float
    miss_rate: float
    threshold: float
    good_scores: tuple[float, ...] = ()
    defect_scores: tuple[float, ...] = ()

    def as_json(self) -> dict[str, float]:
        return {
            "auroc": self.auroc,
            "false_reject_rate": self.false_reject_rate,
            "miss_rate": self.miss_rate,
            "threshold": self.threshold,
        }


def find_weights(model_dir: Path | None = None) -> Path:
    """Locate the backbone and check its sha256."""
    origin = "cut from NanoDet-m, Apache-2.0"
    return find_checked(WEIGHTS, SHA256, "inspection backbone", origin, model_dir)


class _Backbone:
    """Patch features of one image: (2704, 348) float32. Not thread-safe."""

    def __init__(self, weights: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session: ort.InferenceSession = ort.InferenceSession(
                str(weights), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ort raises its own untyped errors
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            raise ModelError(f"onnxruntime cannot load {weights}: {lines[0]}") from None

    def features(self, image: Image) -> FloatArray:
        _check_image(image)
        resized = cv2.resize(image, (_INPUT, _INPUT), interpolation=cv2.INTER_AREA)
        blob = ((resized.astype(np.float32) - _MEAN) / _STD).transpose(2, 0, 1)[None]
        s8, s16 = self._session.run(["feat_s8", "feat_s16"], {"input": blob})
        fine = _pool3(np.asarray(s8[0], np.float32))
        coarse = _upsample2(_pool3(np.asarray(s16[0], np.float32)))
        joined = np.concatenate([fine, coarse], axis=0)  # (348, 52, 52)
        return np.ascontiguousarray(joined.reshape(_DIMS, -1).T)


def _check_image(image: Image) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        raise InspectionError(
            f"expected a BGR uint8 HxWx3 image, got {image.dtype} {tuple(image.shape)}"
        )


def _pool3(x: FloatArray) -> FloatArray:
    """3x3 mean over each (C, H, W) channel, edges replicated."""
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")
    rows = p[:, :-2] + p[:, 1:-1] + p[:, 2:]
    return np.asarray((rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:]) / 9.0, np.float32)


def _upsample2(x: FloatArray) -> FloatArray:
    """Bilinear x2 of (C, H, W) (half-pixel centres, edges clamped)."""

    def along(a: FloatArray, axis: int) -> FloatArray:
        n = a.shape[axis]
        prev = np.take(a, np.r_[0, np.arange(n - 1)], axis=axis)
        nxt = np.take(a, np.r_[np.arange(1, n), n - 1], axis=axis)
        even, odd = 0.75 * a + 0.25 * prev, 0.75 * a + 0.25 * nxt
        out = np.stack([even, odd], axis=axis + 1)
        shape = list(a.shape)
        shape[axis] = 2 * n
        return np.asarray(out.reshape(shape), np.float32)

    return along(along(x, 1), 2)


def coreset(features: FloatArray, size: int, seed: int = _SEED) -> np.ndarray[Any, Any]:
    """Indices of `size` rows chosen by greedy k-centre selection (each pick is the row
    farthest from those already picked), on a seeded random projection of the rows."""
    count = features.shape[0]
    if size >= count:
        return np.arange(count)
    rng = np.random.default_rng(seed)
    dims = min(_PROJECTION_DIMS, features.shape[1])
    projection = rng.standard_normal((features.shape[1], dims)).astype(np.float32)
    points = features @ projection
    norms = np.einsum("ij,ij->i", points, points)
    chosen = np.empty(size, np.int64)
    chosen[0] = int(rng.integers(count))
    nearest = np.full(count, np.inf, np.float32)
    for k in range(1, size):
        last = points[chosen[k - 1]]
        np.minimum(nearest, norms + norms[chosen[k - 1]] - 2.0 * (points @ last), out=nearest)
        chosen[k] = int(np.argmax(nearest))
    return chosen


def _bank_size(patches: int, fraction: float) -> int:
    return max(1, min(_MAX_BANK, math.ceil(patches * fraction)))


def _nearest(query: FloatArray, scaled_bank_t: FloatArray, bank_norms: FloatArray) -> FloatArray:
    """Euclidean distance from each query row to its nearest bank row; `scaled_bank_t` is
    -2 x the bank, transposed (so one matmul plus one add gives ||b||^2 - 2ab)."""
    out = np.empty(query.shape[0], np.float32)
    buffer = np.empty((min(_CHUNK, query.shape[0]), scaled_bank_t.shape[1]), np.float32)
    for start in range(0, query.shape[0], _CHUNK):
        q = query[start : start + _CHUNK]
        d2 = buffer[: q.shape[0]]
        np.matmul(q, scaled_bank_t, out=d2)
        d2 += bank_norms
        out[start : start + q.shape[0]] = d2.min(axis=1)
    out += np.einsum("ij,ij->i", query, query)
    return np.sqrt(np.maximum(out, 0.0, out=out), out=out)


class _Bank:
    """Bank rows prepared for nearest-neighbour search."""

    def __init__(self, rows: FloatArray) -> None:
        self.rows = np.ascontiguousarray(rows, np.float32)
        self.norms = np.einsum("ij,ij->i", self.rows, self.rows)
        self.scaled_t = np.ascontiguousarray(-2.0 * self.rows.T, np.float32)

    def patch_map(self, features: FloatArray) -> FloatArray:
        """Nearest-patch distances on the 52x52 grid, 3x3-Gaussian smoothed."""
        grid = _nearest(features, self.scaled_t, self.norms).reshape(_GRID, _GRID)
        return np.asarray(cv2.GaussianBlur(grid, (3, 3), 0), np.float32)


def threshold_from_scores(
    scores: Sequence[float], target_false_reject: float, margin: float = _MARGIN
) -> float:
    """The (1 - target) quantile of held-out good scores (linear interpolation), x (1 + margin)."""
    if not scores:
        raise InspectionError("no held-out scores to set a threshold from")
    _check_target(target_false_reject)
    q = float(np.quantile(np.asarray(scores, np.float64), 1.0 - target_false_reject))
    return q * (1.0 + margin)


def _check_target(target: float) -> None:
    if not 0.0 < target < 0.5:
        raise InspectionError(f"target false-reject rate must be above 0 and below 0.5: {target}")


class Reference:
    """A bank of good patches and a threshold; `score` rates new images against it."""

    def __init__(
        self,
        bank: FloatArray,
        *,
        threshold: float,
        target_false_reject: float,
        backbone: _Backbone,
        info: dict[str, Any] | None = None,
    ) -> None:
        self._bank = _Bank(bank)
        self.threshold = float(threshold)
        self.target_false_reject = float(target_false_reject)
        self.info: dict[str, Any] = dict(info or {})
        self._backbone = backbone

    @property
    def bank(self) -> FloatArray:
        """The good patches kept, (patches, 348) float32."""
        return self._bank.rows

    def score(self, image: Image) -> Scored:
        grid = self._bank.patch_map(self._backbone.features(image))
        height, width = image.shape[:2]
        heatmap = cv2.resize(grid, (width, height), interpolation=cv2.INTER_LINEAR)
        return Scored(float(grid.max()), np.asarray(heatmap, np.float32))

    def save(self, path: Path) -> None:
        """Write `path/` with bank.npy and reference.json (created, or overwritten)."""
        if path.exists() and not path.is_dir():
            raise InspectionError(f"{path} exists and is not a directory")
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / _BANK_FILE, self.bank, allow_pickle=False)
        meta: dict[str, Any] = {
            "format": _FORMAT,
            "version": _VERSION,
            "threshold": self.threshold,
            "target_false_reject": self.target_false_reject,
            "features": _FEATURES,
            "bank": {"patches": int(self.bank.shape[0]), "dims": int(self.bank.shape[1])},
        }
        meta.update({k: v for k, v in self.info.items() if k not in meta})
        (path / _META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path, model_dir: Path | None = None) -> Reference:
        """Read a reference written by `save`; InspectionError (ReferenceNotFound if absent)."""
        if not path.exists():
            raise ReferenceNotFound(f"no defect reference at {path}")
        if not path.is_dir():
            raise InspectionError(f"{path} is not a defect reference (expected a directory)")
        meta = _read_meta(path / _META_FILE)
        bank = _read_bank(path / _BANK_FILE, meta)
        backbone = _Backbone(find_weights(model_dir))
        info = {k: v for k, v in meta.items() if k not in ("threshold", "target_false_reject")}
        return cls(
            bank,
            threshold=float(meta["threshold"]),
            target_false_reject=float(meta["target_false_reject"]),
            backbone=backbone,
            info=info,
        )


def _read_meta(file: Path) -> dict[str, Any]:
    where = f"corrupt defect reference {file.parent}"
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InspectionError(f"{where}: {file.name} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InspectionError(f"{where}: {file.name}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise InspectionError(f"{where}: {file.name} is not an onsight inspection reference")
    if meta.get("version") != _VERSION:
        raise InspectionError(
            f"{where}: version {meta.get('version')!r}, this onsight reads {_VERSION}"
        )
    if meta.get("features") != _FEATURES:
        raise InspectionError(
            f"{where}: made with other feature settings; learn it again with this onsight"
        )
    for key in ("threshold", "target_false_reject"):
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InspectionError(f"{where}: {key} is not a number")
        if not math.isfinite(value) or value <= 0:
            raise InspectionError(f"{where}: {key} must be a positive number, not {value}")
    return meta


def _read_bank(file: Path, meta: dict[str, Any]) -> FloatArray:
    where = f"corrupt defect reference {file.parent}"
    try:
        bank = np.load(file, allow_pickle=False)
    except FileNotFoundError:
        raise InspectionError(f"{where}: {file.name} is missing") from None
    except (OSError, ValueError, EOFError) as exc:
        raise InspectionError(f"{where}: {file.name}: {exc}") from None
    expected = meta.get("bank", {}).get("patches") if isinstance(meta.get("bank"), dict) else None
    if bank.dtype != np.float32 or bank.ndim != 2 or bank.shape[1] != _DIMS:
        raise InspectionError(f"{where}: {file.name} holds {bank.dtype} {bank.shape}")
    if bank.shape[0] == 0 or bank.shape[0] != expected:
        raise InspectionError(f"{where}: {file.name} has {bank.shape[0]} patches, not {expected}")
    if not np.isfinite(bank).all():
        raise InspectionError(f"{where}: {file.name} holds non-finite values")
    return np.asarray(bank, np.float32)


def learn(
    images: Sequence[Image],
    *,
    target_false_reject: float = 0.01,
    model_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    coreset_fraction: float = CORESET_FRACTION,
) -> Reference:
    """Learn a reference from images of good items (at least 3; dozens are better)."""
    _check_target(target_false_reject)
    if not 0.0 < coreset_fraction <= 1.0:
        raise InspectionError(f"coreset fraction must be in (0, 1]: {coreset_fraction}")
    if len(images) < _MIN_IMAGES:
        raise InspectionError(
            f"need at least {_MIN_IMAGES} good images to learn a reference, got {len(images)}"
        )
    backbone = _Backbone(find_weights(model_dir))
    features: list[FloatArray] = []
    for done, image in enumerate(images, 1):
        features.append(backbone.features(image))
        if progress is not None:
            progress(done, len(images))
    folds = min(_FOLDS, len(images))
    held_out = np.empty(len(images), np.float64)
    for fold in range(folds):
        rest = np.concatenate([f for i, f in enumerate(features) if i % folds != fold])
        fold_bank = _Bank(rest[coreset(rest, _bank_size(len(rest), coreset_fraction))])
        for i in range(fold, len(images), folds):
            held_out[i] = float(fold_bank.patch_map(features[i]).max())
    threshold = threshold_from_scores(held_out.tolist(), target_false_reject)
    everything = np.concatenate(features)
    bank = everything[coreset(everything, _bank_size(len(everything), coreset_fraction))]
    info = {
        "images": len(images),
        "patches": int(everything.shape[0]),
        "coreset_fraction": coreset_fraction,
        "folds": folds,
        "margin": _MARGIN,
        "seed": _SEED,
        "held_out_scores": [round(float(s), 6) for s in held_out],
    }
    return Reference(
        bank,
        threshold=threshold,
        target_false_reject=target_false_reject,
        backbone=backbone,
        info=info,
    )


def auroc(negatives: Sequence[float], positives: Sequence[float]) -> float:
    """Area under the ROC curve: the chance a positive scores above a negative (ties 1/2)."""
    if not negatives or not positives:
        raise InspectionError("AUROC needs at least one good and one defect image")
    neg = np.asarray(negatives, np.float64)[:, None]
    pos = np.asarray(positives, np.float64)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (neg.size * pos.size))


def evaluate(reference: Reference, good: Sequence[Image], defect: Sequence[Image]) -> Evaluation:
    """Score labelled images: AUROC, and the false-reject and miss rates at the threshold."""
    if not good or not defect:
        raise InspectionError("evaluation needs at least one good and one defect image")
    good_scores = [reference.score(image).score for image in good]
    defect_scores = [reference.score(image).score for image in defect]
    t = reference.threshold
    return Evaluation(
        auroc=auroc(good_scores, defect_scores),
        false_reject_rate=sum(s > t for s in good_scores) / len(good_scores),
        miss_rate=sum(s <= t for s in defect_scores) / len(defect_scores),
        threshold=t,
        good_scores=tuple(good_scores),
        defect_scores=tuple(defect_scores),
    )


def overlay(image: Image, heatmap: FloatArray, threshold: float) -> Image:
    """The image with its heatmap in false colour (the threshold is mid-scale, green; twice
    the threshold and above, red) and a white outline around what is above the threshold."""
    _check_image(image)
    if heatmap.shape != image.shape[:2]:
        raise InspectionError(f"heatmap {heatmap.shape} does not match image {image.shape[:2]}")
    scale = np.clip(heatmap / (2.0 * max(threshold, 1e-12)), 0.0, 1.0)
    colours = cv2.applyColorMap((scale * 255).astype(np.uint8), cv2.COLORMAP_JET)
    out = cv2.addWeighted(image, 0.55, colours, 0.45, 0.0)
    above = (heatmap > threshold).astype(np.uint8)
    contours, _ = cv2.findContours(above, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (255, 255, 255), max(1, min(image.shape[:2]) // 150))
    return np.asarray(out, np.uint8)


def load_images(directory: Path) -> list[Image]:
    """The images (jpg, jpeg, png, webp, bmp) in `directory`, in name order, as BGR."""
    if not directory.exists():
        raise InspectionError(f"no such directory: {directory}")
    if not directory.is_dir():
        raise InspectionError(f"{directory} is not a directory")
    files = sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise InspectionError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {directory}")
    images: list[Image] = []
    for file in files:
        try:
            data = np.fromfile(file, np.uint8)
        except OSError as exc:
            raise InspectionError(f"cannot read image {file}: {exc.strerror}") from None
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if image is None:
            raise InspectionError(f"cannot decode image {file} (corrupt or not an image)")
        images.append(np.asarray(image, np.uint8))
    return images
