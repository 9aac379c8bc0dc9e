"""Defect inspection end to end, through the `onsight` CLI in real processes, on generated
conveyor clips of one product: `inspect collect` on a run of good items, `inspect learn`
from those images, then `onsight run` on a second run (another seed) in which three items
carry a stain, a tear and a dent. Every defective item is rejected, at most one good item is,
the summary agrees with the `defect_rejects` table, and with `store_media` each reject keeps
its item image and a heatmap whose hot spot is on the defect.

Which item a reject is comes from its kept image: `inspect collect` on the test clip saves
the same best crop of each item, in the order they pass (the truth's order), that the app
scores in the run.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from onsight.inspection.reference import WEIGHTS
from tests.conftest import assets_dir, require
from tests.conveyor import TruthItem, make_conveyor_clip, product_run

ONSIGHT = [sys.executable, "-m", "onsight.cli"]
FPS = 10
ITEMS = 12
DEFECTS = {2: "stain", 6: "tear", 9: "dent"}
GOOD_SEED, TEST_SEED = 11, 12
MAX_FALSE_REJECTS = 1
REGION = "[[0, 0.2], [1, 0.2], [1, 0.8], [0, 0.8]]"


@dataclass(frozen=True)
class Line:
    root: Path
    test_clip: Path
    truth: list[TruthItem]
    reference: Path
    crops: list[np.ndarray]  # each test item's best crop, in truth order
    evaluation: dict[str, float]


def _onsight(*args: str | Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*ONSIGHT, *map(str, args)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (args, done.stderr[-3000:])
    return done


def _config(folder: Path, clip: Path, reference: Path | str, store_media: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    retention = "\n  retention: {store_media: true, media_hours: 24}" if store_media else ""
    path = folder / "line.yaml"
    path.write_text(
        f"""site: factory
privacy:
  operator: the test line{retention}
cameras:
  - name: line-1
    url: "{clip}"
    fps: {FPS}
    purpose: inspection
    privacy: {{redaction: none}}
    inspection: {{region: {REGION}, travel: right, reference: "{reference}"}}
""",
        encoding="utf-8",
    )
    return path


def _images(folder: Path) -> list[np.ndarray]:
    files = sorted(folder.glob("*.png"))
    return [np.asarray(cv2.imread(str(f), cv2.IMREAD_COLOR), np.uint8) for f in files]


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Line:
    require(assets_dir() / "models" / WEIGHTS, "inspection backbone")
    root = tmp_path_factory.mktemp("defects")
    good_clip, test_clip = root / "good.mp4", root / "test.mp4"
    good_truth = make_conveyor_clip(
        good_clip, product_run(ITEMS, seed=GOOD_SEED), fps=FPS, seed=GOOD_SEED
    )
    truth = make_conveyor_clip(
        test_clip, product_run(ITEMS, DEFECTS, seed=TEST_SEED), fps=FPS, seed=TEST_SEED
    )
    assert [t.defect for t in good_truth] == [None] * ITEMS
    assert {t.index: t.defect for t in truth if t.defect} == DEFECTS

    # learn on the good run: the reference path is relative to the config file
    learn_config = _config(root / "learn", good_clip, "refs/line-1", store_media=False)
    good_dir = root / "good-items"
    _onsight("inspect", "collect", learn_config, "--camera", "line-1", "--out", good_dir)
    assert len(_images(good_dir)) == ITEMS
    learned = _onsight("inspect", "learn", learn_config, "--camera", "line-1", "--good", good_dir)
    reference = root / "learn" / "refs" / "line-1"
    assert f"learned {reference} from {ITEMS} good images" in learned.stdout

    # the test run's items as the app sees them, split into good and defect by the truth
    test_dir = root / "test-items"
    _onsight(
        "inspect", "collect", learn_config, "--camera", "line-1", "--out", test_dir,
        "--from", test_clip,
    )  # fmt: skip
    crops = _images(test_dir)
    assert len(crops) == ITEMS  # every item found, none split or merged
    split = {"good": root / "split-good", "defect": root / "split-defect"}
    for folder in split.values():
        folder.mkdir()
    for item, crop in zip(truth, crops, strict=True):
        folder = split["defect" if item.defect else "good"]
        cv2.imwrite(str(folder / f"item-{item.index:02d}.png"), crop)
    report = _onsight(
        "inspect", "evaluate", "--reference", reference,
        "--good", split["good"], "--defect", split["defect"], "--json",
    )  # fmt: skip
    return Line(root, test_clip, truth, reference, crops, json.loads(report.stdout))


def _run(config: Path) -> tuple[dict[str, int], list[tuple[float, float]]]:
    summary = config.parent / "summary.json"
    _onsight("run", config, "--summary", summary)
    camera = json.loads(summary.read_text(encoding="utf-8"))["cameras"]["line-1"]
    with sqlite3.connect(config.parent / "onsight-data" / "onsight.db") as db:
        rows = db.execute("SELECT score, threshold FROM defect_rejects ORDER BY time").fetchall()
    return camera["inspection"], [(float(s), float(t)) for s, t in rows]


def test_every_defect_is_rejected_and_at_most_one_good_item(line: Line) -> None:
    # per item, on the same crops the app scores: no defect passes
    good_items = ITEMS - len(DEFECTS)
    assert line.evaluation["miss_rate"] == 0.0, line.evaluation
    false_rejects = round(line.evaluation["false_reject_rate"] * good_items)
    assert false_rejects <= MAX_FALSE_REJECTS, line.evaluation

    config = _config(line.root / "run", line.test_clip, line.reference, store_media=False)
    inspection, rejects = _run(config)
    assert inspection == {
        "items": ITEMS,
        "inspected": ITEMS,
        "rejected": len(DEFECTS) + false_rejects,  # the run agrees with the per-item scores
        "unread": 0,
    }
    assert len(rejects) == inspection["rejected"]  # one row per reject
    threshold = json.loads((line.reference / "reference.json").read_text())["threshold"]
    for score, stored_threshold in rejects:
        assert stored_threshold == pytest.approx(threshold, abs=1e-4)
        assert score > stored_threshold
    assert not (line.root / "run" / "onsight-data" / "media").exists()  # media off: none kept


def _which(image: np.ndarray, crops: list[np.ndarray]) -> int:
    """The test item whose collected crop this kept image is (same size, nearest pixels)."""
    errors = [
        float(np.mean((image.astype(np.float32) - crop.astype(np.float32)) ** 2))
        if crop.shape == image.shape
        else np.inf
        for crop in crops
    ]
    best = int(np.argmin(errors))
    assert errors[best] < 30.0, errors  # JPEG noise, not another item
    return best


def _hot_spot(item: np.ndarray, heatmap: np.ndarray) -> tuple[float, float]:
    """Where the overlay's false colour is hottest, as shares of the image (x, y): the
    overlay is 0.55 x the image + 0.45 x a JET colour map (blue cold, red hot)."""
    colour = (heatmap.astype(np.float32) - 0.55 * item.astype(np.float32)) / 0.45
    hot = cv2.GaussianBlur(colour[:, :, 2] - colour[:, :, 0], (0, 0), 4.0)
    y, x = np.unravel_index(int(np.argmax(hot)), hot.shape)
    return x / item.shape[1], y / item.shape[0]


def test_kept_media_shows_each_reject_and_where_its_defect_is(line: Line) -> None:
    config = _config(line.root / "media", line.test_clip, line.reference, store_media=True)
    inspection, rejects = _run(config)
    assert inspection["rejected"] == len(rejects) >= len(DEFECTS)
    # privacy.media_dir (onsight-data/media) is relative to the config file's folder
    folder = line.root / "media" / "onsight-data" / "media" / "line-1" / "defect_reject"
    items = sorted(folder.glob("*-item.jpg"))
    heatmaps = sorted(folder.glob("*-heatmap.jpg"))
    assert len(items) == len(heatmaps) == len(rejects)
    rejected: set[int] = set()
    for item_file, heat_file in zip(items, heatmaps, strict=True):
        assert item_file.name.removesuffix("-item.jpg") == heat_file.name.removesuffix(
            "-heatmap.jpg"
        )
        item = np.asarray(cv2.imread(str(item_file), cv2.IMREAD_COLOR), np.uint8)
        heatmap = np.asarray(cv2.imread(str(heat_file), cv2.IMREAD_COLOR), np.uint8)
        assert heatmap.shape == item.shape
        index = _which(item, line.crops)
        rejected.add(index)
        truth = line.truth[index]
        if truth.defect_box is None:
            continue
        x, y = _hot_spot(item, heatmap)
        x1, y1, x2, y2 = truth.defect_box
        slack = 0.1  # the crop has a few pixels of belt around the item
        assert x1 - slack <= x <= x2 + slack and y1 - slack <= y <= y2 + slack, (
            truth.defect,
            (x, y),
            truth.defect_box,
        )
    assert set(DEFECTS) <= rejected
    assert len(rejected - set(DEFECTS)) <= MAX_FALSE_REJECTS
