"""Pre- and post-processing shared by every backend: letterbox, YOLOX and NanoDet decoding, NMS.

A decoder turns a BGR image into the network's input blob (`prepare`) and the network's
raw outputs back into `Detections` in the image's pixels (`decode`). Buffers and anchor
grids are allocated once per input size, so one decoder must not be shared between threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import cv2
import numpy as np
import numpy.typing as npt

from onsight.types import Detections, FloatArray, Image, IntArray, Region

STRIDES = (8, 16, 32)
NANODET_REG_MAX = 7
NANODET_MEAN = (103.53, 116.28, 123.675)
NANODET_STD = (57.375, 57.12, 58.395)
YOLOX_PAD = 114
_CANVAS_MULTIPLE = max(STRIDES)  # a fitted canvas's sides: the deepest feature map's stride
MAX_CANDIDATES = 2000  # best-scoring boxes kept before NMS; bounds NMS cost on noisy frames


@dataclass(frozen=True, slots=True)
class LetterboxGeometry:
    """How an image (or only its `region`) was placed on the network canvas:
    canvas = (image - region's corner) * scale + pad."""

    scale: float
    pad_x: int
    pad_y: int
    width: int  # original image size, pixels
    height: int
    canvas_width: int  # the network input, pixels
    canvas_height: int
    region: Region | None = None  # x0, y0, x1, y1 of the image; None: all of it

    def to_image(self, xyxy: FloatArray) -> FloatArray:
        """Map canvas boxes to image pixels and clip them to the image (its region), in place."""
        xyxy[:, 0::2] -= self.pad_x
        xyxy[:, 1::2] -= self.pad_y
        xyxy /= self.scale
        x0, y0, x1, y1 = self.region or (0, 0, self.width, self.height)
        if x0 or y0:
            xyxy[:, 0::2] += x0
            xyxy[:, 1::2] += y0
        np.clip(xyxy[:, 0::2], x0, x1, out=xyxy[:, 0::2])
        np.clip(xyxy[:, 1::2], y0, y1, out=xyxy[:, 1::2])
        return xyxy


class Letterbox:
    """Resize keeping the aspect ratio so that the longer side is `size`, onto a canvas that
    is either `size` square or, when `fit` is set (fully convolutional models), only as large
    as the image needs, each side rounded up to a multiple of the largest stride (32): a 4:3
    frame then costs 416x320 instead of 416x416, at the same scale. Fills a reused NCHW
    float32 blob.

    A `region` (x0, y0, x1, y1 in image pixels) puts only that part of the image on the
    canvas, at the whole image's scale: people are as large to the network as without it,
    and a fitted canvas shrinks with the region.

    The returned blob is overwritten by the next call.
    """

    def __init__(
        self,
        size: int,
        *,
        centre: bool,
        pad_value: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        fit: bool = False,
    ) -> None:
        self.size = size
        self._centre = centre
        self._pad_value = pad_value
        self._fit = fit
        self._canvas = np.full((size, size, 3), pad_value, np.uint8)
        self._blob: FloatArray = np.zeros((1, 3, size, size), np.float32)
        self._mean: FloatArray | None = None
        self._inv_std: FloatArray | None = None
        if mean is not None:
            self._mean = np.asarray(mean, np.float32).reshape(3, 1, 1)
            self._inv_std = (1.0 / np.asarray(std, np.float32)).reshape(3, 1, 1)
        self._geometry: LetterboxGeometry | None = None
        self._placed: tuple[int, int, Region | None] = (0, 0, None)  # what `_geometry` is for

    def geometry(self, width: int, height: int, region: Region | None = None) -> LetterboxGeometry:
        scale = min(self.size / width, self.size / height)
        x0, y0, x1, y1 = _checked(region, width, height)
        new_w, new_h = self._resized(x1 - x0, y1 - y0, scale)
        canvas_w, canvas_h = self.size, self.size
        if self._fit:
            step = _CANVAS_MULTIPLE
            canvas_w, canvas_h = (-(-n // step) * step for n in (new_w, new_h))
        pad_x = (canvas_w - new_w) // 2 if self._centre else 0
        pad_y = (canvas_h - new_h) // 2 if self._centre else 0
        return LetterboxGeometry(scale, pad_x, pad_y, width, height, canvas_w, canvas_h, region)

    def _resized(self, width: int, height: int, scale: float) -> tuple[int, int]:
        # round() rather than int(): 360 * (416 / 480) is 311.99999...
        new_w = min(self.size, max(1, round(width * scale)))
        new_h = min(self.size, max(1, round(height * scale)))
        return new_w, new_h

    def __call__(
        self, image: Image, region: Region | None = None
    ) -> tuple[FloatArray, LetterboxGeometry]:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected a uint8 HxWx3 BGR image, got {image.dtype} {image.shape}")
        height, width = int(image.shape[0]), int(image.shape[1])
        geo = self._geometry
        if geo is None or self._placed != (width, height, region):
            geo = self.geometry(width, height, region)
            self._geometry, self._placed = geo, (width, height, region)
            shape = (geo.canvas_height, geo.canvas_width)
            if self._canvas.shape[:2] != shape:
                self._canvas = np.empty((*shape, 3), np.uint8)
                self._blob = np.zeros((1, 3, *shape), np.float32)
            self._canvas.fill(self._pad_value)  # padding only changes with the placement
        x0, y0, x1, y1 = geo.region or (0, 0, width, height)  # checked by `geometry`
        new_w, new_h = self._resized(x1 - x0, y1 - y0, geo.scale)
        roi = self._canvas[geo.pad_y : geo.pad_y + new_h, geo.pad_x : geo.pad_x + new_w]
        crop = image[y0:y1, x0:x1]
        if (new_w, new_h) == (x1 - x0, y1 - y0):
            np.copyto(roi, crop)
        else:
            cv2.resize(crop, (new_w, new_h), dst=roi, interpolation=cv2.INTER_LINEAR)
        chw = self._canvas.transpose(2, 0, 1)
        blob = self._blob[0]
        if self._mean is None or self._inv_std is None:
            np.copyto(blob, chw)
        else:
            np.subtract(chw, self._mean, out=blob)
            np.multiply(blob, self._inv_std, out=blob)
        return self._blob, geo


def _checked(region: Region | None, width: int, height: int) -> Region:
    """The region, or the whole image; ValueError for one that is empty or not inside it."""
    if region is None:
        return 0, 0, width, height
    x0, y0, x1, y1 = region
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise ValueError(f"region {region} is not inside the {width}x{height} image")
    return region


class Decoder(Protocol):
    """Model-specific pre/post-processing; backends only run the network."""

    @property
    def output_names(self) -> tuple[str, ...]: ...

    # The canvas follows the image's (or region's) shape, so a smaller region costs less.
    @property
    def fitted_canvas(self) -> bool: ...

    def prepare(
        self, image: Image, region: Region | None = None
    ) -> tuple[FloatArray, LetterboxGeometry]: ...

    def decode(
        self, outputs: Sequence[npt.NDArray[np.float32]], geometry: LetterboxGeometry
    ) -> Detections: ...


def nms(
    xyxy: FloatArray, scores: FloatArray, class_ids: IntArray, iou: float, max_detections: int
) -> IntArray:
    """Class-wise non-maximum suppression; indices of kept boxes, best score first."""
    if len(scores) == 0:
        return np.zeros((0,), np.int64)
    xywh = xyxy.copy()
    xywh[:, 2:] -= xyxy[:, :2]
    # The stubs ask for sequences; the binding takes numpy arrays as they are, without copies.
    keep = cv2.dnn.NMSBoxesBatched(
        cast("Sequence[Sequence[float]]", xywh),
        cast("Sequence[float]", scores),
        cast("Sequence[int]", class_ids.astype(np.int32)),
        0.0,
        iou,
        1.0,
        max_detections,
    )
    return np.asarray(keep, np.int64).reshape(-1)


def _finish(
    xyxy: FloatArray,
    scores: FloatArray,
    class_ids: IntArray,
    geometry: LetterboxGeometry,
    iou: float,
    max_detections: int,
) -> Detections:
    """Canvas boxes -> clipped image boxes, drop empty ones, then NMS."""
    if len(scores) > MAX_CANDIDATES:
        top = np.argpartition(-scores, MAX_CANDIDATES)[:MAX_CANDIDATES]
        xyxy, scores, class_ids = xyxy[top], scores[top], class_ids[top]
    xyxy = geometry.to_image(xyxy)
    valid = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    if not valid.all():
        xyxy, scores, class_ids = xyxy[valid], scores[valid], class_ids[valid]
    keep = nms(xyxy, scores, class_ids, iou, max_detections)
    return Detections(
        xyxy=np.ascontiguousarray(xyxy[keep], np.float32),
        confidence=np.ascontiguousarray(scores[keep], np.float32),
        class_id=np.ascontiguousarray(class_ids[keep], np.int64),
    )


def _grid(width: int, height: int, stride: int) -> FloatArray:
    """(x, y) cell indices of one feature map in row-major (y, x) order, shape (n, 2)."""
    columns, rows = width // stride, height // stride
    ys, xs = np.divmod(np.arange(columns * rows, dtype=np.int64), columns)
    return np.stack([xs, ys], axis=1).astype(np.float32)


class YoloxDecoder:
    """YOLOX exported without decoding: rows of [dx, dy, log w, log h, obj, class probs].

    With `fit`, the canvas follows the image's shape (the network must accept any size in
    multiples of 32; see `Letterbox`)."""

    output_names: tuple[str, ...] = ("output",)

    def __init__(
        self,
        input_size: int,
        score_threshold: float,
        nms_iou: float,
        max_detections: int = 300,
        *,
        fit: bool = False,
    ) -> None:
        self.letterbox = Letterbox(input_size, centre=False, pad_value=YOLOX_PAD, fit=fit)
        self.fitted_canvas = fit
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.max_detections = max_detections
        self._anchors: dict[tuple[int, int], tuple[FloatArray, FloatArray]] = {}

    def _grid_and_stride(self, width: int, height: int) -> tuple[FloatArray, FloatArray]:
        """Each output row's cell and stride, for a canvas of this size (cached)."""
        found = self._anchors.get((width, height))
        if found is None:
            grid = np.concatenate([_grid(width, height, s) for s in STRIDES])
            stride = np.concatenate(
                [np.full(((width // s) * (height // s), 1), s, np.float32) for s in STRIDES]
            )
            found = self._anchors[(width, height)] = (grid, stride)
        return found

    def prepare(
        self, image: Image, region: Region | None = None
    ) -> tuple[FloatArray, LetterboxGeometry]:
        return self.letterbox(image, region)

    def decode(
        self, outputs: Sequence[npt.NDArray[np.float32]], geometry: LetterboxGeometry
    ) -> Detections:
        pred = outputs[0].reshape(-1, outputs[0].shape[-1])
        grid, strides = self._grid_and_stride(geometry.canvas_width, geometry.canvas_height)
        if pred.shape[0] != grid.shape[0]:
            raise ValueError(f"expected {grid.shape[0]} YOLOX rows, got {pred.shape[0]}")
        # score = obj * cls and cls <= 1, so obj alone rules out most rows cheaply
        rows = np.flatnonzero(pred[:, 4] >= self.score_threshold)
        p = pred[rows]
        cls = p[:, 5:] * p[:, 4:5]
        class_ids = cls.argmax(axis=1)
        scores = np.take_along_axis(cls, class_ids[:, None], axis=1)[:, 0]
        ok = scores >= self.score_threshold
        rows, p, class_ids, scores = rows[ok], p[ok], class_ids[ok], scores[ok]
        stride = strides[rows]
        centre = (p[:, 0:2] + grid[rows]) * stride
        half = np.exp(p[:, 2:4]) * (stride * 0.5)
        xyxy = np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)
        return _finish(
            xyxy, scores, class_ids.astype(np.int64), geometry, self.nms_iou, self.max_detections
        )


class NanodetDecoder:
    """NanoDet (GFL head): per-stride class scores and 4 x (reg_max+1) distance bins.

    `strides` and `reg_max` follow the model's config (NanoDet-Plus: 8, 16, 32, 64);
    `legacy_centres` places the priors at stride * cell + (stride - 1) / 2, as the registry's
    NanoDet-m exports were trained; current upstream NanoDet uses stride * cell.
    """

    fitted_canvas = False  # a square canvas

    def __init__(
        self,
        input_size: int,
        score_threshold: float,
        nms_iou: float,
        max_detections: int = 300,
        *,
        strides: Sequence[int] = STRIDES,
        reg_max: int = NANODET_REG_MAX,
        legacy_centres: bool = True,
    ) -> None:
        self.letterbox = Letterbox(
            input_size, centre=True, pad_value=0, mean=NANODET_MEAN, std=NANODET_STD
        )
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.max_detections = max_detections
        self.strides = tuple(strides)
        self.reg_max = reg_max
        self.output_names: tuple[str, ...] = tuple(
            f"cls_pred_stride_{s}" for s in self.strides
        ) + tuple(f"dis_pred_stride_{s}" for s in self.strides)
        self._centres = [
            _grid(input_size, input_size, s) * s + (0.5 * (s - 1) if legacy_centres else 0.0)
            for s in self.strides
        ]
        self._bins = np.arange(reg_max + 1, dtype=np.float32)

    def prepare(
        self, image: Image, region: Region | None = None
    ) -> tuple[FloatArray, LetterboxGeometry]:
        return self.letterbox(image, region)

    def distances(self, bins: FloatArray, stride: int) -> FloatArray:
        """(k, 4*(reg_max+1)) bin logits -> (k, 4) distances l, t, r, b in canvas pixels."""
        logits = bins.reshape(-1, 4, self.reg_max + 1)
        e = np.exp(logits - logits.max(axis=2, keepdims=True))
        expect: FloatArray = (e @ self._bins) / e.sum(axis=2)
        return expect * np.float32(stride)

    def decode(
        self, outputs: Sequence[npt.NDArray[np.float32]], geometry: LetterboxGeometry
    ) -> Detections:
        levels = len(self.strides)
        boxes: list[FloatArray] = []
        scores: list[FloatArray] = []
        class_ids: list[IntArray] = []
        for i, (stride, centres) in enumerate(zip(self.strides, self._centres, strict=True)):
            cls = outputs[i].reshape(centres.shape[0], -1)
            best = cls.max(axis=1)
            rows = np.flatnonzero(best >= self.score_threshold)
            if rows.size == 0:
                continue
            dist = self.distances(outputs[levels + i].reshape(centres.shape[0], -1)[rows], stride)
            c = centres[rows]
            boxes.append(np.concatenate([c - dist[:, :2], c + dist[:, 2:]], axis=1))
            scores.append(best[rows])
            class_ids.append(cls[rows].argmax(axis=1).astype(np.int64))
        if not boxes:
            return Detections.empty()
        return _finish(
            np.concatenate(boxes).astype(np.float32),
            np.concatenate(scores),
            np.concatenate(class_ids),
            geometry,
            self.nms_iou,
            self.max_detections,
        )


def make_decoder(
    name: str, input_size: int, score_threshold: float, nms_iou: float, *, fit: bool = False
) -> YoloxDecoder | NanodetDecoder:
    """`fit`: the canvas follows the image's shape (YOLOX only; the model must allow it)."""
    if name == "yolox":
        return YoloxDecoder(input_size, score_threshold, nms_iou, fit=fit)
    if name == "nanodet":
        return NanodetDecoder(input_size, score_threshold, nms_iou)
    raise ValueError(f"unknown decoder {name!r}")
