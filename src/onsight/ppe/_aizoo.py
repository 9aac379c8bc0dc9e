"""AIZOO face-mask SSD (`face_mask_aizoo_260.onnx`): anchors and output decoding.

Reimplemented from the layout in the shared assets' PROVENANCE entry (the repo's MIT
anchor generator and decoder are not copied): 5 levels with feature maps 33, 17, 9, 5, 3;
4 anchors per cell (both sizes at the first aspect ratio, then the first size at the other
two ratios); SSD offsets with variances (0.1, 0.1, 0.2, 0.2); class scores already
sigmoid-ed, class 0 = Mask, class 1 = NoMask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onsight.detect.decoders import nms
from onsight.types import FloatArray

INPUT = 260
OUTPUTS = ["loc_branch_concat_1/concat", "cls_branch_concat_1/concat"]
FEATURE_MAPS = (33, 17, 9, 5, 3)
ANCHOR_SIZES = ((0.04, 0.056), (0.08, 0.11), (0.16, 0.22), (0.32, 0.45), (0.64, 0.72))
ANCHOR_RATIOS = (1.0, 0.62, 0.42)
VARIANCES = np.array([0.1, 0.1, 0.2, 0.2], np.float32)
MASK, NO_MASK = 0, 1


def anchors() -> FloatArray:
    """(5972, 4) anchors, normalised xmin, ymin, xmax, ymax, in the model's output order."""
    levels = []
    for size, (s0, s1) in zip(FEATURE_MAPS, ANCHOR_SIZES, strict=True):
        centres = (np.arange(size, dtype=np.float64) + 0.5) / size
        cx, cy = np.meshgrid(centres, centres)  # rows are y, columns x
        shapes = [(s0, ANCHOR_RATIOS[0]), (s1, ANCHOR_RATIOS[0])]
        shapes += [(s0, ratio) for ratio in ANCHOR_RATIOS[1:]]
        half = np.array([[s * np.sqrt(r) / 2, s / np.sqrt(r) / 2] for s, r in shapes])  # (4, 2)
        centre = np.stack([cx, cy], axis=-1).reshape(-1, 1, 2)  # (cells, 1, 2)
        boxes = np.concatenate([centre - half, centre + half], axis=-1)  # (cells, 4, 4)
        levels.append(boxes.reshape(-1, 4))
    return np.concatenate(levels).astype(np.float32)


def decode(anchor_boxes: FloatArray, offsets: FloatArray) -> FloatArray:
    """SSD offsets (N, 4) against `anchor_boxes` (N, 4) -> normalised xyxy boxes (N, 4)."""
    centre = (anchor_boxes[:, :2] + anchor_boxes[:, 2:]) / 2
    size = anchor_boxes[:, 2:] - anchor_boxes[:, :2]
    scaled = offsets * VARIANCES
    box_centre = scaled[:, :2] * size + centre
    box_size = np.exp(scaled[:, 2:]) * size
    return np.concatenate([box_centre - box_size / 2, box_centre + box_size / 2], axis=1).astype(
        np.float32
    )


@dataclass(frozen=True, slots=True)
class CropVerdict:
    """The model's view of the face at the centre of a crop."""

    found: bool  # a box with score >= the threshold covers the crop centre
    score: float  # the best such box's larger class score
    mask_prob: float  # Mask / (Mask + NoMask) of that box; 0.5 when nothing was found


def centre_verdict(
    boxes: FloatArray, scores: FloatArray, min_score: float = 0.2, min_size: float = 0.15
) -> CropVerdict:
    """Pick the best decoded box that covers the crop centre (0.5, 0.5) and is not tiny,
    and read Mask vs NoMask from it. `scores` is (N, 2): Mask, NoMask."""
    covers = (
        (boxes[:, 0] < 0.5)
        & (boxes[:, 2] > 0.5)
        & (boxes[:, 1] < 0.5)
        & (boxes[:, 3] > 0.5)
        & (np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= min_size)
    )
    best = scores.max(axis=1)
    candidates = np.nonzero(covers & (best >= min_score))[0]
    if candidates.size == 0:
        return CropVerdict(False, float(best[covers].max()) if covers.any() else 0.0, 0.5)
    i = int(candidates[np.argmax(best[candidates])])
    mask, no_mask = float(scores[i, MASK]), float(scores[i, NO_MASK])
    return CropVerdict(True, max(mask, no_mask), mask / max(mask + no_mask, 1e-6))


NMS_IOU = 0.4  # the repo's default


def detections(
    boxes: FloatArray, scores: FloatArray, min_score: float, max_faces: int = 50
) -> list[tuple[FloatArray, float, float]]:
    """The model as a face detector: boxes with max(Mask, NoMask) >= `min_score` after NMS,
    as (normalised xyxy clipped to 0-1, score, Mask / (Mask + NoMask))."""
    best = scores.max(axis=1)
    idx = np.nonzero(best >= min_score)[0]
    if idx.size == 0:
        return []
    keep = nms(boxes[idx], best[idx], np.zeros(idx.size, np.int64), NMS_IOU, max_faces)
    out = []
    for i in idx[keep]:
        mask, no_mask = float(scores[i, MASK]), float(scores[i, NO_MASK])
        box = np.clip(boxes[i], 0.0, 1.0).astype(np.float32)
        out.append((box, float(best[i]), mask / max(mask + no_mask, 1e-6)))
    return out
