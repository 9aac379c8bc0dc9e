"""The editor's renames: settings follow the item (`was`), and a queue follows its line."""

from __future__ import annotations

import json
from typing import Any

from onsight.config.models import CameraConfig
from onsight.service.editing import parse_geometry

CAMERA = CameraConfig.model_validate(
    {
        "name": "shop",
        "url": "/videos/shop.mp4",
        "lines": [
            {"name": "door", "points": [[0.5, 0], [0.5, 1]], "in_name": "enter",
             "out_name": "leave", "classes": ["person"], "settle_frames": 5},
        ],
        "queues": [{"name": "till", "polygon": [[0, 0], [0.4, 0], [0.4, 0.4]],
                    "served_line": "door"}],
    }
)  # fmt: skip


def _parse(drawing: dict[str, Any]) -> Any:
    return parse_geometry(json.dumps(drawing), CAMERA)


def test_a_renamed_line_keeps_its_settings_and_its_queue() -> None:
    line = {"name": "gate", "was": "door", "points": [[0.6, 0], [0.5, 1]]}
    queue = {"name": "till", "was": "till", "polygon": [[0, 0], [0.4, 0], [0.4, 0.4]]}
    drawing = _parse({"lines": [line], "queues": [queue]})
    (moved,) = drawing.sections["lines"]
    assert (moved.name, moved.in_name, moved.out_name) == ("gate", "enter", "leave")
    assert moved.settle_frames == 5 and list(moved.points[0]) == [0.6, 0.0]
    assert drawing.sections["queues"][0].served_line == "gate"
    assert drawing.renamed == {"lines": {"door": "gate"}}


def test_a_new_item_given_a_renamed_items_old_name_starts_afresh() -> None:
    renamed = {"name": "gate", "was": "door", "points": [[0.6, 0], [0.5, 1]]}
    new = {"name": "door", "points": [[0.2, 0], [0.2, 1]]}
    queue = {"name": "till", "polygon": [[0, 0], [0.4, 0], [0.4, 0.4]]}
    drawing = _parse({"lines": [renamed, new], "queues": [queue]})
    lines = {line.name: line for line in drawing.sections["lines"]}
    assert lines["gate"].in_name == "enter"
    assert (lines["door"].in_name, lines["door"].settle_frames) == ("in", 3)


def test_without_was_an_item_keeps_the_settings_of_its_name() -> None:
    drawing = _parse({"lines": [{"name": "door", "points": [[0.5, 0], [0.4, 1]]}]})
    assert drawing.sections["lines"][0].out_name == "leave"
    assert not drawing.renamed
