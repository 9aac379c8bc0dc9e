"""Items on a belt, found without a trained detector: foreground blobs against a learned
empty-belt background, tracked through the inspection region.

The background is a per-pixel model of the empty belt on a small, blurred copy of the frame
(blurring averages out the belt's own texture, which moves with it). It starts as the median
of 15 frames 0.1 s apart (items pass, so most pixels show the belt most of the time); the
frames seen meanwhile are then replayed, so items passing while the belt was learned count
too. After that it follows the light (scaled per channel by the change seen on the belt),
learns slowly wherever no item is, and absorbs foreground that stays put for `_GHOST_S`
unless an item that travelled is there (a stopped line keeps its items). Shadows (the belt
evenly darker in every channel) are not foreground. A blob is cut where clear belt crosses it
from side to side, across the travel direction (two items close together).

Each frame's blobs are matched to the items being tracked by predicted overlap; an item not
seen for `_LOST_S` has left. An item only counts if it was seen in `_MIN_FRAMES` frames and
moved along the travel direction, so a shadow, a hand or a flicker is not an item.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from onsight.types import FloatArray, Image

Travel = Literal["left", "right", "up", "down"]
Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in frame pixels

_WORK_WIDTH = 160  # the background model's width in pixels
_LEARN_FRAMES = 15  # frames whose median starts the background ...
_HELD_MAX = 64  # frames kept while learning (1.5 s needs 15 at 10 fps, 38 at 25 fps)
_LEARN_MIN = 5  # ... or as few as this, when the video ends before
_LEARN_SPACING_S = 0.1  # ... taken at least this far apart (1.5 s of belt at any rate)
_BG_TAU_S = 2.0  # time constant of the background's update where no item is
_GHOST_S = 4.0  # foreground that stays this long where no item travels becomes background
_MIN_DELTA = 22.0  # smallest colour distance (Euclidean, 0-255 channels) that is foreground
_NOISE_FACTOR = 4.0  # ... or this many times the belt's median distance, if larger
_SHADOW_RATIO = (0.4, 0.94)  # a shadow darkens the belt by this much ...
_SHADOW_SPREAD = 0.12  # ... about equally in every channel
_SPLIT_MIN_PART = 0.05  # a blob is split in parts at least this share of the region long
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
class Sighting:
    """An item seen in one frame."""

    item: Item
    box: Box  # where it was in that frame
    crop: Image  # the frame inside `box`
    inside: bool  # wholly inside the region
    image: Image  # the whole frame
    pts: float


@dataclass(frozen=True)
class Frame:
    """What one update saw: items in view and items that just left. Usually one frame's;
    the update that finishes learning the belt also replays the frames it learned from, so
    items that passed meanwhile are not lost."""

    visible: list[Sighting]
    left: list[Item]  # items that left the region and count as passed
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
        # The frames seen while learning (at most `_HELD_MAX`), replayed once it is done.
        self._held: deque[tuple[Image, float]] = deque(maxlen=_HELD_MAX)
        self._learned_pts = -np.inf  # when the last learning frame was taken
        self._background: FloatArray | None = None
        self._belt: np.ndarray | None = None  # where the belt showed last frame, work size
        self._still: FloatArray | None = None  # seconds each pixel has been foreground
        self._changed = np.zeros((1, 1), bool)  # pixels unlike the background, shadows too
        self._last_pts: float | None = None
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
        raw, small = self._work(image)
        self.frames += 1
        if self._background is None:
            self._held.append((image, pts))
            if pts - self._learned_pts >= _LEARN_SPACING_S - 1e-3 or pts < self._learned_pts:
                self._learning.append(small)
                self._learned_pts = pts
            if len(self._learning) < _LEARN_FRAMES:
                return Frame([], [], 0)
            self._background = np.median(np.stack(self._learning), axis=0).astype(np.float32)
            self._learning = []
            return self._replay()
        return self._step(image, raw, small, pts)

    def _replay(self) -> Frame:
        """Run the frames the belt was learned from, now that it is known."""
        held, self._held = self._held, deque(maxlen=_HELD_MAX)
        self._last_pts = held[0][1]
        visible: list[Sighting] = []
        left: list[Item] = []
        dropped = 0
        for image, pts in held:
            raw, small = self._work(image)
            frame = self._step(image, raw, small, pts)
            visible += frame.visible
            left += frame.left
            dropped += frame.dropped
        return Frame(visible, left, dropped)

    def _step(self, image: Image, raw: FloatArray, small: FloatArray, pts: float) -> Frame:
        dt = min(1.0, max(0.0, pts - (self._last_pts if self._last_pts is not None else pts)))
        self._last_pts = pts
        self._follow_lighting(small)
        foreground, threshold = self._foreground(small)
        boxes = self._blobs(foreground, raw, threshold)
        frame = self._track(image, boxes, pts)
        self._learn(small, foreground, dt)
        return frame

    def finish(self) -> Frame:
        """End of the video: every item still in view that counts, as if it had left. A
        video that ended while the belt was being learned is learned from what there was
        (at least `_LEARN_MIN` frames) and replayed, so a short clip still counts."""
        replayed = Frame([], [], 0)
        if self._background is None and len(self._learning) >= _LEARN_MIN:
            self._background = np.median(np.stack(self._learning), axis=0).astype(np.float32)
            self._learning = []
            replayed = self._replay()
        left = [item for item in self._items if self._counts(item)]
        self._items = []
        return Frame(replayed.visible, replayed.left + left, replayed.dropped)

    # --- background and blobs ---

    def _setup(self, image: Image) -> None:
        height, width = image.shape[:2]
        if self._size == (width, height):
            return
        if self._size is not None:  # the stream changed size: start again
            self._background, self._learning, self._items = None, [], []
            self._held.clear()
            self._belt = self._still = None
            self._learned_pts = -np.inf
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

    def _work(self, image: Image) -> tuple[FloatArray, FloatArray]:
        """The frame at work size, as is (for finding gaps) and blurred (for the model)."""
        height = image.shape[0]
        size = (_WORK_WIDTH, max(1, round(height * self._scale)))
        raw = cv2.resize(image, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        return raw, np.asarray(cv2.GaussianBlur(raw, (5, 5), 0), dtype=np.float32)

    def _follow_lighting(self, small: FloatArray) -> None:
        """Scale the background by the change in light since the last frame, measured where
        the belt showed (a lamp switched on, a cloud, the camera's exposure)."""
        assert self._background is not None and self._mask is not None
        belt = self._belt if self._belt is not None else self._mask > 0
        now, before = small[::2, ::2][belt[::2, ::2]], self._background[::2, ::2][belt[::2, ::2]]
        if len(now) < 0.05 * np.count_nonzero(self._mask[::2, ::2]):
            return  # the belt is covered: keep the light as it was
        ratio = np.median(now + 4.0, axis=0) / np.median(before + 4.0, axis=0)
        if np.all(np.abs(ratio - 1.0) < 0.01):
            return  # the slow update follows small changes
        gain = np.clip(ratio, 0.5, 2.0).astype(np.float32)
        self._background = ((self._background + 4.0) * gain - 4.0).astype(np.float32)

    def _foreground(self, small: FloatArray) -> tuple[np.ndarray, float]:
        assert self._background is not None and self._mask is not None
        background = self._background
        distance = _distance(small, background)
        belt = self._belt if self._belt is not None else self._mask > 0
        inside = distance[belt]
        noise = float(np.median(inside)) if inside.size else 0.0
        threshold = max(_MIN_DELTA, _NOISE_FACTOR * noise)
        changed = (distance > threshold) & (self._mask > 0)
        self._changed = changed  # shadows too: the background does not learn them
        mask = (changed & ~_shadow(small, background)).astype(np.uint8) * 255
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8)), threshold

    def _learn(self, small: FloatArray, foreground: np.ndarray, dt: float) -> None:
        """Follow the belt where no item is; absorb foreground that stays put where no item
        travels (a background learned with items on the belt, a lasting change in light)."""
        assert self._background is not None and self._mask is not None
        changed = foreground | (self._changed.astype(np.uint8) * 255)
        grown = cv2.dilate(changed, np.ones((5, 5), np.uint8)) > 0
        self._belt = ~grown & (self._mask > 0)
        still = self._still if self._still is not None else np.zeros(grown.shape, np.float32)
        still = np.where(foreground > 0, still + dt, 0.0).astype(np.float32)
        for item in self._items:  # an item that travelled, even if the belt stopped now
            if item.travelled >= _MIN_TRAVEL / 2 and item.last_pts == self._last_pts:
                x1, y1, x2, y2 = (int(v * self._scale) for v in item.box)
                still[y1 : y2 + 1, x1 : x2 + 1] = 0.0
        self._still = still
        rate = 1.0 - float(np.exp(-dt / _BG_TAU_S))
        rates = np.where(grown, 0.0, rate).astype(np.float32)
        rates[still > _GHOST_S] = 0.5
        self._background += rates[..., None] * (small - self._background)

    def _blobs(self, foreground: np.ndarray, raw: FloatArray, threshold: float) -> list[Box]:
        assert self._mask is not None and self._background is not None
        count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
        min_area = self._min_item_share * float(np.count_nonzero(self._mask))
        across = self._travel in ("up", "down")  # the work arrays' axis 1 runs along travel
        x1, y1, x2, y2 = self._bounds
        length = (y2 - y1 if across else x2 - x1) * self._scale
        min_part = max(2, int(_SPLIT_MIN_PART * length))
        boxes: list[Box] = []
        for index in range(1, count):
            x, y, w, h, area = stats[index]
            if area < min_area:
                continue
            window = (slice(y, y + h), slice(x, x + w))
            part = labels[window] == index
            clear = _distance(raw[window], self._background[window]) < threshold
            clear |= _shadow(raw[window], self._background[window])
            if across:
                part, clear = part.T, clear.T
            for piece in _split(part, clear, min_part):
                ys, xs = np.nonzero(piece.T if across else piece)
                if len(xs) < min_area:
                    continue
                boxes.append(
                    (
                        int((x + xs.min()) / self._scale),
                        int((y + ys.min()) / self._scale),
                        int(np.ceil((x + xs.max() + 1) / self._scale)),
                        int(np.ceil((y + ys.max() + 1) / self._scale)),
                    )
                )
        return boxes

    # --- tracking ---

    def _track(self, image: Image, boxes: list[Box], pts: float) -> Frame:
        matches = self._match(boxes, pts)
        visible: list[Sighting] = []
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
            visible.append(Sighting(item, box, crop, inside, image, pts))
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


def _distance(image: FloatArray, background: FloatArray) -> FloatArray:
    """Euclidean colour distance per pixel."""
    diff = image - background
    return np.asarray(np.sqrt((diff * diff).sum(axis=2)), dtype=np.float32)


def _shadow(image: FloatArray, background: FloatArray) -> np.ndarray:
    """Pixels that are the background darkened about equally in every channel: a shadow."""
    ratio = (image + 1.0) / (background + 1.0)
    low, high = ratio.min(axis=2), ratio.max(axis=2)
    return np.asarray(
        (low >= _SHADOW_RATIO[0]) & (high <= _SHADOW_RATIO[1]) & (high - low <= _SHADOW_SPREAD)
    )


def _split(part: np.ndarray, clear: np.ndarray, min_part: int, depth: int = 0) -> list[np.ndarray]:
    """Cut a blob (mask, axis 1 along travel) where a path of clear belt crosses it from
    side to side (two items close behind each other), into parts at least `min_part` long."""
    rows, cols = part.shape
    if cols < 2 * min_part or depth > 4:
        return [part]
    # cost 0 on clear belt; the best path's worst pixel (moving a column per row at most)
    cost = np.where(clear, 0.0, 1.0).astype(np.float32)
    worst = cost[0].copy()
    steps = np.zeros((rows, cols), np.int8)
    for row in range(1, rows):
        left = np.concatenate(([np.inf], worst[:-1]))
        right = np.concatenate((worst[1:], [np.inf]))
        options = np.stack((left, worst, right))
        choice = options.argmin(axis=0)
        steps[row] = choice - 1
        worst = np.maximum(cost[row], options[choice, np.arange(cols)])
    inner = worst[min_part : cols - min_part]
    if not inner.size or inner.min() > 0:
        return [part]
    column = min_part + int(np.argmin(inner))
    cut = np.empty(rows, np.int64)
    for row in range(rows - 1, -1, -1):
        cut[row] = column
        column = min(cols - 1, max(0, column + int(steps[row, column])))
    before = np.arange(cols)[None, :] < cut[:, None]
    first, second = part & before, part & ~before
    if not first.any() or not second.any():
        return [part]
    return [
        *_split(first, clear, min_part, depth + 1),
        *_split(second, clear, min_part, depth + 1),
    ]


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
