"""°C frame helpers: normalised polygons to pixel masks, and warm (face) blobs in a region."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from onsight.geometry import points_in_polygon

CelsiusFrame = npt.NDArray[np.floating]
Mask = npt.NDArray[np.bool_]

# The per-frame face reading is the hottest 3x3 mean, so one hot or noisy pixel cannot
# raise it on its own; the inner canthus spans several pixels on a usable face image.
_READING_KERNEL = 3


def polygon_mask(polygon: Sequence[Sequence[float]], height: int, width: int) -> Mask:
    """Pixels whose centres lie inside a normalised polygon."""
    ys, xs = np.mgrid[0:height, 0:width]
    centres = np.stack([(xs.ravel() + 0.5) / width, (ys.ravel() + 0.5) / height], axis=1)
    inside = points_in_polygon([(p[0], p[1]) for p in polygon], centres.astype(np.float32))
    return inside.reshape(height, width)


class MaskCache:
    """Masks of one polygon per frame shape (a camera may change resolution)."""

    def __init__(self, polygon: Sequence[Sequence[float]]) -> None:
        self._polygon = [list(p) for p in polygon]
        self._masks: dict[tuple[int, int], Mask] = {}

    def get(self, height: int, width: int) -> Mask:
        key = (height, width)
        if key not in self._masks:
            self._masks[key] = polygon_mask(self._polygon, height, width)
        return self._masks[key]


@dataclass(frozen=True, slots=True)
class Blob:
    """One connected warm region: its size, centre (normalised) and hottest 3x3 mean (°C)."""

    pixels: int
    centre: tuple[float, float]
    reading_c: float


def warm_blobs(
    frame_c: CelsiusFrame, region: Mask, low_c: float, high_c: float, min_pixels: int
) -> list[Blob]:
    """Connected regions of skin-temperature pixels inside `region`, largest first.

    Blobs smaller than `min_pixels` are dropped as noise. `frame_c` is already corrected.
    """
    height, width = frame_c.shape
    skin = region & (frame_c >= low_c) & (frame_c <= high_c)
    labels, count = ndimage.label(skin)
    if count == 0:
        return []
    index = np.arange(1, count + 1)
    sizes = np.asarray(ndimage.sum_labels(skin, labels, index), dtype=np.int64)
    keep = index[sizes >= min_pixels]
    if keep.size == 0:
        return []
    # Only skin pixels enter the mean: the background around a face cannot pull it down.
    skin_values = np.where(skin, frame_c, 0.0)
    local_sum = ndimage.uniform_filter(skin_values.astype(np.float64), size=_READING_KERNEL)
    local_count = ndimage.uniform_filter(skin.astype(np.float64), size=_READING_KERNEL)
    full = local_count > 1.0 - 1e-6  # the whole 3x3 window is skin
    smoothed = np.where(full, local_sum / np.maximum(local_count, 1e-9), -np.inf)
    peaks = ndimage.maximum(smoothed, labels, keep)
    centres = ndimage.center_of_mass(skin, labels, keep)
    blobs = []
    for label, peak, (cy, cx) in zip(keep, np.atleast_1d(peaks), centres, strict=True):
        if not np.isfinite(peak):  # a thin blob with no full 3x3 window: read its max instead
            peak = float(ndimage.maximum(frame_c, labels, label))
        blobs.append(
            Blob(
                pixels=int(sizes[label - 1]),
                centre=(float((cx + 0.5) / width), float((cy + 0.5) / height)),
                reading_c=float(peak),
            )
        )
    return sorted(blobs, key=lambda blob: blob.pixels, reverse=True)
