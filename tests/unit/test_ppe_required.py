"""`ppe.required` association: an item counts for a person when its centre lies in the region
of the person box its class is worn on, and for one person only."""

from __future__ import annotations

import numpy as np
import pytest

from onsight.ppe.required import (
    DEFAULT_REGION,
    normalised_items,
    region_for,
    required_present,
    unknown_required,
    wearing_all,
)
from onsight.types import Detections

REQUIRED = ["helmet", "vest"]
# A person 0.2 wide and 0.6 tall: head region y 0.2-0.35, torso y 0.32-0.59.
PERSON = [0.4, 0.2, 0.6, 0.8]


def _box(cx: float, cy: float, size: float = 0.04) -> list[float]:
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


def _present(
    persons: list[list[float]], items: list[list[float]], names: list[str]
) -> list[frozenset[str]]:
    return required_present(
        np.array(persons, np.float32).reshape(-1, 4),
        np.array(items, np.float32).reshape(-1, 4),
        names,
        REQUIRED,
    )


def test_helmet_in_the_head_region_counts() -> None:
    assert _present([PERSON], [_box(0.5, 0.25)], ["helmet"]) == [frozenset({"helmet"})]


def test_vest_in_the_torso_region_counts() -> None:
    assert _present([PERSON], [_box(0.5, 0.45)], ["vest"]) == [frozenset({"vest"})]


@pytest.mark.parametrize(
    ("centre", "name"),
    [
        ((0.5, 0.45), "helmet"),  # a helmet held at the chest is not worn
        ((0.5, 0.75), "helmet"),  # at the feet
        ((0.5, 0.25), "vest"),  # a vest over the head region
        ((0.5, 0.75), "vest"),  # a vest lying at the feet
        ((0.65, 0.25), "helmet"),  # beside the person, at head height
        ((0.35, 0.45), "vest"),  # beside the person, at torso height
        ((0.5, 0.1), "helmet"),  # above the box
    ],
)
def test_item_outside_its_region_does_not_count(centre: tuple[float, float], name: str) -> None:
    assert _present([PERSON], [_box(*centre)], [name]) == [frozenset()]


def test_both_items_and_unrequired_classes() -> None:
    present = _present(
        [PERSON],
        [_box(0.5, 0.25), _box(0.5, 0.45), _box(0.5, 0.45)],
        ["Helmet", "vest", "person"],  # class names compare case-blind; `person` is ignored
    )
    assert present == [frozenset({"helmet", "vest"})]
    assert wearing_all(present, REQUIRED) == [True]
    assert wearing_all([frozenset({"vest"})], REQUIRED) == [False]


def test_two_people_sharing_an_item_get_it_once_the_nearest() -> None:
    # Two overlapping people; a helmet inside both head regions, nearer the right one's centre.
    left, right = [0.30, 0.2, 0.50, 0.8], [0.40, 0.2, 0.60, 0.8]
    present = _present([left, right], [_box(0.47, 0.25)], ["helmet"])
    assert present == [frozenset(), frozenset({"helmet"})]
    # Each wearing their own vest: both count, each for its wearer.
    present = _present([left, right], [_box(0.38, 0.45), _box(0.52, 0.45)], ["vest", "vest"])
    assert present == [frozenset({"vest"}), frozenset({"vest"})]


def test_nested_boxes_small_far_person_inside_a_big_one() -> None:
    # A big near person, and a small far person whose box lies in the big one's torso area.
    big, small = [0.2, 0.1, 0.8, 0.95], [0.45, 0.3, 0.55, 0.6]
    # The small person's helmet (their head region: y 0.3-0.375) lies below the big person's
    # head region (y 0.1-0.31): only the small person can wear it.
    assert _present([big, small], [_box(0.5, 0.33, 0.02)], ["helmet"]) == [
        frozenset(),
        frozenset({"helmet"}),
    ]
    # A vest at the small person's torso centre lies in both torso regions: it goes to the
    # one whose torso it is centred on (distances in units of each region's size).
    assert _present([big, small], [_box(0.5, 0.43, 0.02)], ["vest"]) == [
        frozenset(),
        frozenset({"vest"}),
    ]
    # The big person's own vest, off the small box, is theirs.
    assert _present([big, small], [_box(0.3, 0.45, 0.1)], ["vest"]) == [
        frozenset({"vest"}),
        frozenset(),
    ]


def test_no_people_and_no_items() -> None:
    assert _present([], [_box(0.5, 0.25)], ["helmet"]) == []
    assert _present([PERSON], [], []) == [frozenset()]


def test_region_table_default_and_overrides() -> None:
    assert region_for("hard-hat") == "head"
    assert region_for("Safety Helmet") == "head"
    assert region_for("hi-vis vest") == "torso"
    assert region_for("safety_boots") == "feet"
    assert region_for("lanyard") == DEFAULT_REGION == "torso"
    assert region_for("badge", {"Badge": "head"}) == "head"
    # An override moves the rule: a "tag" worn on the head counts there, not at the torso.
    persons = np.array([PERSON], np.float32)
    head_item = np.array([_box(0.5, 0.25)], np.float32)
    assert required_present(persons, head_item, ["tag"], ["tag"]) == [frozenset()]
    assert required_present(persons, head_item, ["tag"], ["tag"], {"tag": "head"}) == [
        frozenset({"tag"})
    ]


def test_mismatched_names_are_refused() -> None:
    with pytest.raises(ValueError, match="2 item boxes but 1 item names"):
        _present([PERSON], [_box(0.5, 0.25), _box(0.5, 0.45)], ["helmet"])


def test_normalised_items_from_pixel_detections() -> None:
    detections = Detections(
        xyxy=np.array([[48, 36, 96, 72]], np.float32),
        confidence=np.array([0.9], np.float32),
        class_id=np.array([1], np.int64),
    )
    boxes, names = normalised_items(detections, ["person", "helmet"], 480, 360)
    np.testing.assert_allclose(boxes, [[0.1, 0.1, 0.2, 0.2]], rtol=1e-6)
    assert names == ["helmet"]


def test_required_items_the_model_cannot_detect_are_named() -> None:
    assert unknown_required(["Helmet", "vest", "gloves"], ["helmet", "vest", "person"]) == [
        "gloves"
    ]
