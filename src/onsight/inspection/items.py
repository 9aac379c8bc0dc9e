"""Items on a belt, found without a trained detector: foreground blobs against a learned
empty-belt background, tracked through the inspection region.

The background is a per-pixel model of the empty belt on a small, blurred copy of the frame
(blurring averages out the belt's own texture, which moves with it). It starts as the median
of the first frames (items pass, so most pixels show the belt most of the time) and then
follows slow lighting changes wherever no item is. Each frame's blobs inside the region are
matched to the items being tracked by predicted overlap; an item that is not seen for
`_LOST_S` has left. An item only counts if it was seen in `_MIN_FRAMES` frames and moved
along the travel direction, so a shadow, a hand or a flicker is not an item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from onsight.types import FloatArray, Image

Travel = Literal["left", "right", "up", "down"]
Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in frame pixels

_WORK_WIDTH = 160  # the background model's width in pixels
_LEARN_FRAMES = 15  # frames whose median starts the background
_BG_RATE = 0.05  # background update rate where no item is
_MIN_DELTA = 14.0  # smallest colour distance that counts as foreground (of 255 per channel)
_NOISE_FACTOR = 4.0  # ... or this many times the frame's median distance, if larger
_LOST_S = 0.5  # an item unseen this long has left the region
_MIN_FRAMES = 3  # frames an item must be seen in to count
_MIN_TRAVEL = 0.15  # share of the region's length an item must move along `travel` to count
_MIN_MATCH_IOU = 0.1


@dataclass
class Item:
    """One item being tracked through the region (in memory only)."""

    number: int  # running number on this camera since start, for ordering
    box: Box
    first_pts: float
    last_pts: float
    start_centre: float  # position along `travel` when first seen (region lengths)
    centre: float
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per second, x and y
    frames: int = 1
    best: Image | None = None  # the sharpest crop seen fully inside the region
    best_sharpness: float = -1.0
    best_box: Box | None = None
    best_pts: float = 0.0
    inside_frames: int = 0  # frames seen fully inside the region
    extra: dict[str, object] = field(default_factory=dict)  # what the app records per item

    @property
    def travelled(self) -> float:
        """Distance moved along the travel direction, in region lengths (negative: back)."""
        return self.centre - self.start_centre


@dataclass(frozen=True)
class Frame:
    """One frame's items: those in view (with their crop now) and those that just left."""

    visible: list[tuple[Item, Image, bool]]  # item, its crop in this frame, fully inside
    left: list[Item]  # items that left the region this frame and count as passed
    dropped: int  # tracks that vanished without counting (noise)


class ItemTracker:
    """Finds and follows items through `region` (normalised polygon) on frames of one size."""

    def __init__(
        self,
        region: Sequence[Sequence[float]],
        travel: Travel,
        *,
        min_item_share: float = 0.01,
    ) -> None:
        self._region = np.array(region, dtype=np.float32)
        self._travel: Travel = travel
        self._min_item_share = min_item_share
        self._size: tuple[int, int] | None = None  # frame width, height
        self._scale = 1.0  # work pixels per frame pixel
        self._mask: np.ndarray | None = None  # region mask, work size, uint8
        self._frame_mask: np.ndarray | None = None  # region mask, frame size, uint8
        self._bounds = (0.0, 0.0, 1.0, 1.0)  # region's bounding box, frame pixels
        self._learning: list[FloatArray] = []
        self._background: FloatArray | None = None
        self._items: list[Item] = []
        self._count = 0
        self.frames = 0

    @property
    def ready(self) -> bool:
        """Whether the empty-belt background has been learned."""
        return self._background is not None

    @property
    def active(self) -> list[Item]:
        return list(self._items)

    def update(self, image: Image, pts: float) -> Frame:
        self._setup(image)
        small = self._work(image)
        self.frames += 1
        if self._background is None:
            self._learning.append(small)
            if len(self._learning) >= _LEARN_FRAMES:
                self._background = np.median(np.stack(self._learning), axis=0).astype(np.float32)
                self._learning = []
            return Frame([], [], 0)
        foreground = self._foreground(small)
        boxes = self._blobs(foreground)
        self._learn(small, foreground)
        return self._track(image, boxes, pts)

    def finish(self) -> list[Item]:
        """End of the video: every item still in view that counts, as if it had left."""
        left = [item for item in self._items if self._counts(item)]
        self._items = []
        return left

    # --- background and blobs ---

    def _setup(self, image: Image) -> None:
        height, width = image.shape[:2]
        if self._size == (width, height):
            return
        if self._size is not None:  # the stream changed size: start again
            self._background, self._learning, self._items = None, [], []
        self._size = (width, height)
        self._scale = _WORK_WIDTH / width
        work_size = (_WORK_WIDTH, max(1, round(height * self._scale)))
        corners = self._region * np.array([width, height], dtype=np.float32)
        self._frame_mask = np.zeros((height, width), np.uint8)
        cv2.fillPoly(self._frame_mask, [np.round(corners).astype(np.int32)], 255)
        self._mask = cv2.resize(self._frame_mask, work_size, interpolation=cv2.INTER_NEAREST)
        self._bounds = (
            float(corners[:, 0].min()),
            float(corners[:, 1].min()),
            float(corners[:, 0].max()),
            float(corners[:, 1].max()),
        )

    def _work(self, image: Image) -> FloatArray:
        height = image.shape[0]
        size = (_WORK_WIDTH, max(1, round(height * self._scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (5, 5), 0).astype(np.float32)

    def _foreground(self, small: FloatArray) -> np.ndarray:
        assert self._background is not None and self._mask is not None
        distance = np.abs(small - self._background).max(axis=2)
        inside = distance[self._mask > 0]
        noise = float(np.median(inside)) if inside.size else 0.0
        threshold = max(_MIN_DELTA, _NOISE_FACTOR * noise)
        foreground = ((distance > threshold) & (self._mask > 0)).astype(np.uint8) * 255
        foreground = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        return cv2.morphologyEx(foreground, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))

    def _learn(self, small: FloatArray, foreground: np.ndarray) -> None:
        assert self._background is not None
        grown = cv2.dilate(foreground, np.ones((5, 5), np.uint8)) > 0
        rate = np.where(grown, 0.0, _BG_RATE).astype(np.float32)[..., None]
        self._background += rate * (small - self._background)

    def _blobs(self, foreground: np.ndarray) -> list[Box]:
        assert self._mask is not None
        count, _, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
        min_area = self._min_item_share * float(np.count_nonzero(self._mask))
        boxes: list[Box] = []
        for x, y, w, h, area in stats[1:count]:
            if area < min_area:
                continue
            boxes.append(
                (
                    int(x / self._scale),
                    int(y / self._scale),
                    int(np.ceil((x + w) / self._scale)),
                    int(np.ceil((y + h) / self._scale)),
                )
            )
        return boxes

    # --- tracking ---

    def _track(self, image: Image, boxes: list[Box], pts: float) -> Frame:
        matches = self._match(boxes, pts)
        visible: list[tuple[Item, Image, bool]] = []
        for index, box in enumerate(boxes):
            item = matches.get(index)
            if item is None:
                self._count += 1
                centre = self._along(box)
                item = Item(self._count, box, pts, pts, centre, centre)
                self._items.append(item)
            else:
                dt = pts - item.last_pts
                if dt > 0:
                    item.velocity = (
                        ((box[0] + box[2]) - (item.box[0] + item.box[2])) / 2 / dt,
                        ((box[1] + box[3]) - (item.box[1] + item.box[3])) / 2 / dt,
                    )
                item.box, item.last_pts = box, pts
                item.centre = self._along(box)
                item.frames += 1
            crop = image[box[1] : box[3], box[0] : box[2]]
            inside = self._fully_inside(box)
            if inside:
                item.inside_frames += 1
                sharpness = _sharpness(crop)
                if sharpness > item.best_sharpness:
                    item.best, item.best_sharpness = crop.copy(), sharpness
                    item.best_box, item.best_pts = box, pts
            elif item.inside_frames == 0 and _area(box) > _area(item.best_box or (0, 0, 0, 0)):
                # Never fully inside yet (an item longer than the region): keep the largest.
                item.best, item.best_box, item.best_pts = crop.copy(), box, pts
            visible.append((item, crop, inside))
        gone = [item for item in self._items if pts - item.last_pts > _LOST_S]
        self._items = [item for item in self._items if item not in gone]
        left = [item for item in gone if self._counts(item)]
        return Frame(visible, left, len(gone) - len(left))

    def _match(self, boxes: list[Box], pts: float) -> dict[int, Item]:
        """Greedy matching of this frame's blobs to items by overlap with where each item
        should be now (its last box moved by its velocity)."""
        pairs: list[tuple[float, int, int]] = []
        for i, item in enumerate(self._items):
            dt = pts - item.last_pts
            dx, dy = item.velocity[0] * dt, item.velocity[1] * dt
            predicted = (
                item.box[0] + dx,
                item.box[1] + dy,
                item.box[2] + dx,
                item.box[3] + dy,
            )
            for j, box in enumerate(boxes):
                overlap = _iou(predicted, box)
                if overlap >= _MIN_MATCH_IOU:
                    pairs.append((overlap, i, j))
        matched: dict[int, Item] = {}
        used: set[int] = set()
        for _, i, j in sorted(pairs, reverse=True):
            if i in used or j in matched:
                continue
            used.add(i)
            matched[j] = self._items[i]
        return matched

    def _counts(self, item: Item) -> bool:
        return item.frames >= _MIN_FRAMES and item.travelled >= _MIN_TRAVEL

    def _along(self, box: Box) -> float:
        """The box centre's position along the travel direction, in region lengths from the
        side items enter."""
        x1, y1, x2, y2 = self._bounds
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        if self._travel in ("left", "right"):
            share = (cx - x1) / max(1.0, x2 - x1)
        else:
            share = (cy - y1) / max(1.0, y2 - y1)
        return share if self._travel in ("right", "down") else 1.0 - share

    def _fully_inside(self, box: Box) -> bool:
        """Whether the box lies inside the region, with a pixel's margin from the frame edge
        (an item cut by the frame edge is not whole)."""
        assert self._frame_mask is not None and self._size is not None
        width, height = self._size
        x1, y1, x2, y2 = box
        if x1 <= 1 or y1 <= 1 or x2 >= width - 1 or y2 >= height - 1:
            return False
        mask = self._frame_mask
        return bool(mask[y1, x1] and mask[y1, x2 - 1] and mask[y2 - 1, x1] and mask[y2 - 1, x2 - 1])


def _sharpness(crop: Image) -> float:
    """Variance of the Laplacian: higher is sharper (less motion blur)."""
    if crop.size == 0:
        return 0.0
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def _area(box: Box) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def _iou(a: tuple[float, float, float, float], b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + _area(b) - inter
    return inter / union if union > 0 else 0.0
