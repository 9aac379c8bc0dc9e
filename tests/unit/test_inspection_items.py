"""Items found on a moving, textured belt without a detector, and tracked through the region."""

from __future__ import annotations

import numpy as np

from onsight.inspection.items import ItemTracker
from onsight.types import Image

REGION = [[0.0, 0.2], [1.0, 0.2], [1.0, 0.8], [0.0, 0.8]]
FPS = 10.0
SIZE = (320, 240)  # width, height


def _belt(t: float, rng: np.random.Generator) -> Image:
    """A dark belt whose texture and seams move right at 40 px/s, rails above and below."""
    width, height = SIZE
    shift = int(40 * t)
    xs = (np.arange(width) - shift) % 64
    row = (60 + 10 * (xs < 3) + 4 * np.sin(xs / 3.0)).astype(np.float32)
    image = np.repeat(np.repeat(row[None, :, None], height, axis=0), 3, axis=2)
    image[: int(0.2 * height)] = 120
    image[int(0.8 * height) :] = 120
    image += rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _clip(starts: list[float], speed: float = 80.0, seconds: float = 12.0) -> list[Image]:
    """Boxes 50x60 px entering at the left at `starts` (s) and moving right at `speed`."""
    rng = np.random.default_rng(3)
    frames = []
    for n in range(int(seconds * FPS)):
        t = n / FPS
        image = _belt(t, rng)
        for start in starts:
            x = int(-50 + speed * (t - start))
            if t >= start and x < SIZE[0]:
                left, right = max(0, x), min(SIZE[0], x + 50)
                if right > left:
                    image[90:150, left:right] = (70, 140, 190)  # cardboard
                    image[105:130, max(left, x + 10) : max(left, min(right, x + 40))] = 240
        frames.append(image)
    return frames


def _run(frames: list[Image], tracker: ItemTracker) -> tuple[int, int]:
    passed = dropped = 0
    for n, image in enumerate(frames):
        result = tracker.update(image, n / FPS)
        passed += len(result.left)
        dropped += result.dropped
    return passed + len(tracker.finish().left), dropped


def test_each_item_passing_is_counted_once() -> None:
    tracker = ItemTracker(REGION, "right")
    passed, _ = _run(_clip([2.0, 4.0, 6.0, 8.0]), tracker)
    assert passed == 4


def test_the_best_frame_is_a_whole_item_inside_the_region() -> None:
    tracker = ItemTracker(REGION, "right")
    best = []
    for n, image in enumerate(_clip([2.0])):
        best += [item.best for item in tracker.update(image, n / FPS).left]
    best += [item.best for item in tracker.finish().left]
    assert len(best) == 1 and best[0] is not None
    height, width = best[0].shape[:2]
    assert 48 <= width <= 60 and 55 <= height <= 70  # the whole box, not a part of it


def test_an_empty_moving_belt_has_no_items() -> None:
    tracker = ItemTracker(REGION, "right")
    passed, _ = _run(_clip([]), tracker)
    assert passed == 0


def test_items_moving_against_the_travel_direction_do_not_count() -> None:
    tracker = ItemTracker(REGION, "left")  # the clip's items move right
    passed, dropped = _run(_clip([2.0, 5.0]), tracker)
    assert passed == 0 and dropped >= 2


def test_a_still_flicker_is_not_an_item() -> None:
    frames = _clip([])
    for image in frames[40:43]:
        image[100:140, 150:190] = 250  # a reflection for three frames
    passed, dropped = _run(frames, ItemTracker(REGION, "right"))
    assert passed == 0 and dropped == 1


def test_a_new_frame_size_starts_again() -> None:
    tracker = ItemTracker(REGION, "right")
    for n, image in enumerate(_clip([], seconds=2.0)):
        tracker.update(image, n / FPS)
    assert tracker.ready
    tracker.update(np.zeros((100, 200, 3), np.uint8), 2.1)
    assert not tracker.ready


def test_a_lamp_switched_on_is_not_an_item() -> None:
    frames = _clip([2.0, 6.0])
    for image in frames[40:]:  # 30% brighter from 4 s on, with an item in view
        image[:] = np.clip(image.astype(np.float32) * 1.3, 0, 255).astype(np.uint8)
    passed, _ = _run(frames, ItemTracker(REGION, "right"))
    assert passed == 2


def test_items_a_few_pixels_apart_are_two_items() -> None:
    # 50 px boxes every 0.85 s at 80 px/s: 18 px of belt between them (9 work pixels; the
    # 7 px closing used to bridge that)
    passed, _ = _run(_clip([2.0, 2.85, 3.7]), ItemTracker(REGION, "right"))
    assert passed == 3


def test_a_belt_that_stops_does_not_lose_its_item() -> None:
    frames = _clip([2.0])
    held = frames[40]
    stopped = frames[:41] + [held.copy() for _ in range(40)] + frames[41:]
    passed, _ = _run(stopped, ItemTracker(REGION, "right"))
    assert passed == 1
