"""`ppe.required`: which required items (helmet, vest, ...) each person wears, by associating
a user model's item boxes with person boxes.

Rule, per item box of a required class:
- the item's box centre must lie in the *region* of a person box that its class is worn
  on: horizontally within the person box, vertically between the region's top and bottom,
  given as fractions of the person box height from its top (table `REGIONS` below);
- the region of a class comes from `ITEM_REGIONS` (a class name containing "helmet",
  "hat", "vest", "boot", ...), an explicit override, or else the torso (`DEFAULT_REGION`);
- if the centre lies in the regions of several people (people overlap, or a box is nested
  in another), the item counts for one person only: the one whose region centre is nearest,
  with distances measured in units of each region's width and height, so that a helmet
  centred on a small far person's head goes to them, not to the big near person behind.

Everything is in normalised xyxy (0-1, origin top-left); the result is per person, in the
order of the person boxes, and is never stored as such: apps aggregate it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from onsight.types import Detections, FloatArray

Region = Literal["head", "torso", "legs", "feet", "body"]

# Fractions of the person box height, from its top: (top, bottom).
REGIONS: Mapping[Region, tuple[float, float]] = {
    "head": (0.0, 0.25),  # helmets, hats, goggles, masks, ear defenders
    "torso": (0.20, 0.65),  # vests, jackets, harnesses
    "legs": (0.50, 0.95),  # trousers, knee pads
    "feet": (0.80, 1.0),  # safety boots
    "body": (0.0, 1.0),  # gloves and anything else that may be anywhere on a person
}
DEFAULT_REGION: Region = "torso"

# A class whose normalised name contains one of these words is worn on that region
# (first match wins, in this order).
ITEM_REGIONS: tuple[tuple[str, Region], ...] = (
    ("helmet", "head"),
    ("hardhat", "head"),
    ("hard_hat", "head"),
    ("hat", "head"),
    ("cap", "head"),
    ("goggle", "head"),
    ("glasses", "head"),
    ("mask", "head"),
    ("shield", "head"),
    ("earmuff", "head"),
    ("vest", "torso"),
    ("hivis", "torso"),
    ("hi_vis", "torso"),
    ("jacket", "torso"),
    ("harness", "torso"),
    ("boot", "feet"),
    ("shoe", "feet"),
    ("trouser", "legs"),
    ("pants", "legs"),
    ("knee", "legs"),
    ("glove", "body"),
)


def normalise_name(name: str) -> str:
    """Class names compare case-blind, with spaces and '-' as '_': "Hard-Hat" == "hard_hat"."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def region_for(item: str, overrides: Mapping[str, Region] | None = None) -> Region:
    """Where the class `item` is worn: an override, else the first `ITEM_REGIONS` word its
    name contains, else the torso."""
    key = normalise_name(item)
    for name, region in (overrides or {}).items():
        if normalise_name(name) == key:
            return region
    return next((r for word, r in ITEM_REGIONS if word in key), DEFAULT_REGION)


def required_present(
    persons: FloatArray,
    items: FloatArray,
    item_names: Sequence[str],
    required: Sequence[str],
    regions: Mapping[str, Region] | None = None,
) -> list[frozenset[str]]:
    """Per person box (normalised xyxy, shape (P, 4)), the set of `required` items present.

    `items` are the user model's boxes (normalised xyxy, shape (M, 4)) and `item_names` their
    class names; items of other classes are ignored. Names in the result are spelled as in
    `required`. `regions` overrides the region of a class (see the module doc).
    """
    people = np.asarray(persons, np.float64).reshape(-1, 4)
    boxes = np.asarray(items, np.float64).reshape(-1, 4)
    if len(item_names) != len(boxes):
        raise ValueError(f"{len(boxes)} item boxes but {len(item_names)} item names")
    wanted = {normalise_name(name): name for name in required}
    present: list[set[str]] = [set() for _ in range(len(people))]
    if len(people) == 0:
        return [frozenset(p) for p in present]
    heights = people[:, 3] - people[:, 1]
    widths = np.maximum(people[:, 2] - people[:, 0], 1e-9)
    for box, name in zip(boxes, item_names, strict=True):
        label = wanted.get(normalise_name(name))
        if label is None:
            continue
        top, bottom = REGIONS[region_for(name, regions)]
        r_top = people[:, 1] + top * heights
        r_bottom = people[:, 1] + bottom * heights
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        inside = (cx >= people[:, 0]) & (cx <= people[:, 2]) & (cy >= r_top) & (cy <= r_bottom)
        if not inside.any():
            continue
        # Nearest region centre, in units of each region's own size.
        dx = (cx - (people[:, 0] + people[:, 2]) / 2) / widths
        dy = (cy - (r_top + r_bottom) / 2) / np.maximum(r_bottom - r_top, 1e-9)
        distance = np.where(inside, np.hypot(dx, dy), np.inf)
        present[int(np.argmin(distance))].add(label)
    return [frozenset(p) for p in present]


def unknown_required(required: Sequence[str], class_names: Sequence[str]) -> list[str]:
    """The required items the model has no class for (compared as `normalise_name` does):
    the config check names them, since such an item could never be found."""
    known = {normalise_name(name) for name in class_names}
    return [name for name in required if normalise_name(name) not in known]


def wearing_all(present: Sequence[frozenset[str]], required: Sequence[str]) -> list[bool]:
    """Per person: does their set (from `required_present`) hold every required item?"""
    need = frozenset(required)
    return [need <= items for items in present]


def normalised_items(
    detections: Detections, class_names: Sequence[str], width: int, height: int
) -> tuple[FloatArray, list[str]]:
    """A detector's pixel boxes in an image of `width` x `height` as normalised xyxy, with
    each box's class name: the `items` and `item_names` of `required_present`."""
    scale = np.array([width, height, width, height], np.float32)
    boxes: FloatArray = (detections.xyxy / scale).astype(np.float32)
    names = [class_names[int(i)] for i in detections.class_id]
    return boxes, names
