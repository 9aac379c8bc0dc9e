"""Items on real belts, from two Intel sample clips (CC BY 4.0, 480x270 GIFs).

The fruit-and-vegetable clip (7 s):

Labelled by eye from a contact sheet of every 4th frame: four items travel right to left, one
at a time, on a dark belt in front of a white wall: a green apple (in view from frame 3,
already on the belt while onsight learns it), broccoli (frames 16-52), a cauliflower (55-90)
and an orange (from frame 77, still in view at the end). Each must be counted once, whole:
no item split in two, none merged, none lost while the belt is learned.

The bolt clip (2.6 s): one bolt slides left to right across a moving dark surface, in view
from frame 1 to 23 of 37. The clip ends before the usual 1.5 s of belt have been learned, so
onsight learns from what there was and replays it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from tests.conftest import assets_dir

ONSIGHT = [sys.executable, "-m", "onsight.cli"]
TRUTH = ["apple", "broccoli", "cauliflower", "orange"]  # in the order they pass


def _looks_like(path: Path) -> str:
    """Which of the four items a crop shows, by its mean colour (BGR)."""
    blue, green, red = cv2.imread(str(path)).reshape(-1, 3).mean(axis=0)
    brightness = (blue + green + red) / 3
    if brightness > 165:
        return "cauliflower"
    if red - blue > 60 and red > green:
        return "orange"
    if brightness < 105:
        return "broccoli"
    return "apple" if green > red and green > blue else "unknown"


def _config(tmp_path: Path, clip: str, region: str, travel: str) -> Path:
    path = assets_dir() / "video" / clip
    assert path.is_file(), path
    config = tmp_path / "line.yaml"
    config.write_text(
        f"""cameras:
  - name: fruit
    url: "{path}"
    fps: 10
    purpose: inspection
    privacy: {{redaction: none}}
    inspection:
      region: {region}
      travel: {travel}
""",
        encoding="utf-8",
    )
    return config


def _collect(config: Path, crops: Path) -> list[Path]:
    collect = subprocess.run(
        [*ONSIGHT, "inspect", "collect", str(config), "--camera", "fruit", "--out", str(crops)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert collect.returncode == 0, collect.stderr[-2000:]
    return sorted(crops.glob("*.png"))


def test_each_real_item_is_counted_once_and_whole(tmp_path: Path) -> None:
    region = "[[0.0, 0.3], [1.0, 0.3], [1.0, 0.85], [0.0, 0.85]]"
    config = _config(tmp_path, "fruit-and-vegetable-detection.gif", region, "left")
    summary = tmp_path / "summary.json"
    run = subprocess.run(
        [*ONSIGHT, "run", str(config), "--summary", str(summary)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(summary.read_text())["cameras"]["fruit"]["inspection"]["items"] == 4

    saved = _collect(config, tmp_path / "crops")
    assert [_looks_like(path) for path in saved] == TRUTH
    sizes = [cv2.imread(str(path)).shape[:2] for path in saved]
    assert all(40 <= h <= 90 and 50 <= w <= 170 for h, w in sizes), sizes  # whole items
    assert np.argmax([w for _, w in sizes]) == 1  # the broccoli, stalk and all


def test_an_item_passing_while_the_belt_is_learned_counts(tmp_path: Path) -> None:
    config = _config(
        tmp_path, "bolt-multi-size-detection.gif", "[[0, 0], [1, 0], [1, 1], [0, 1]]", "right"
    )
    (bolt,) = _collect(config, tmp_path / "crops")
    height, width = cv2.imread(str(bolt)).shape[:2]
    assert height >= 200 and height > 4 * width  # the whole bolt, head to tip
