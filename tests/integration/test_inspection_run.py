"""`onsight run` on generated conveyor clips: every labelled item read exactly once, no wrong
read, the unlabelled item reported unread, and a wrong label raising its alert. One clip is
seen by a camera tilted along the belt and has an item whose label is torn (unreadable): it
must be reported unread like the unlabelled one, never read as some other code."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conveyor import ClipCache, standard_items

ONSIGHT = [sys.executable, "-m", "onsight.cli"]
EXPECT = "^40[0-9]{11}$"


def _config(tmp_path: Path, clip: Path, fps: int) -> Path:
    path = tmp_path / "line.yaml"
    path.write_text(
        f"""site: factory
cameras:
  - name: line-1
    url: "{clip}"
    fps: {fps}
    purpose: inspection
    privacy: {{redaction: none}}
    inspection:
      region: [[0.0, 0.2], [1.0, 0.2], [1.0, 0.8], [0.0, 0.8]]
      travel: right
    barcodes:
      formats: [EAN13, Code128, QRCode, DataMatrix]
      expect: {{EAN13: "{EXPECT}"}}
""",
        encoding="utf-8",
    )
    return path


def _run(tmp_path: Path, clip: Path, fps: int) -> dict[str, Any]:
    """`onsight run --summary` on the clip: the camera's summary."""
    summary = tmp_path / "summary.json"
    done = subprocess.run(
        [*ONSIGHT, "run", str(_config(tmp_path, clip, fps)), "--summary", str(summary)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    camera: dict[str, Any] = json.loads(summary.read_text())["cameras"]["line-1"]
    return camera


def _stored(tmp_path: Path) -> tuple[list[Any], int, list[Any], tuple[int, ...]]:
    """What the store holds: reads in time order, unread items, wrong labels, and the
    minute rows' totals of passed, read, unread and wrong labels."""
    with sqlite3.connect(tmp_path / "onsight-data" / "onsight.db") as db:
        reads = db.execute("SELECT format, text FROM barcode_reads ORDER BY time").fetchall()
        unread = db.execute("SELECT count(*) FROM barcode_unread").fetchone()[0]
        wrong = db.execute("SELECT format, text, expected FROM wrong_labels").fetchall()
        minutes = db.execute(
            "SELECT sum(passed), sum(read), sum(unread), sum(wrong_labels) FROM inspection_minutes"
        ).fetchone()
    return reads, unread, wrong, minutes


# A normal clip analysed at 25 fps and a hard one at 10 fps; a normal clip at 10 fps is the
# tilted test's first case below (the same assertions, and a damaged label). Seed 0's clips
# are the ones tests/unit/test_conveyor_clip.py checks the labels of: made once (the
# session's `conveyor_clips`).
@pytest.mark.parametrize(("hard", "seed", "fps"), [(False, 0, 25), (True, 0, 10)])
def test_each_item_is_read_once_and_the_unread_and_wrong_ones_are_reported(
    tmp_path: Path, conveyor_clips: ClipCache, hard: bool, seed: int, fps: int
) -> None:
    clip, truth = conveyor_clips.get(standard_items(seed), seed=seed, hard=hard)
    camera = _run(tmp_path, clip, fps)
    labelled = [item.code for item in truth if item.code is not None]
    codes = camera["barcodes"]["codes"]
    # Never a wrong or repeated read, in the order the items passed; every item counted.
    assert codes == [code for code in labelled if code in codes]
    assert camera["barcodes"]["items"] == camera["inspection"]["items"] == len(truth)
    assert camera["barcodes"]["unread"] == len(truth) - len(codes)
    # Every code on a normal clip; on a hard one (motion blur, small codes, compression)
    # all but at most one, which is reported unread.
    assert len(codes) >= len(labelled) - (1 if hard else 0)
    read = [item for item in truth if item.code in codes]

    reads, unread, wrong, minutes = _stored(tmp_path)
    assert reads == [(item.format, item.code) for item in read]
    assert unread == len(truth) - len(read) >= 1
    off_pattern = [
        ("EAN13", item.code, EXPECT)
        for item in read
        if item.format == "EAN13" and item.code is not None and not item.code.startswith("40")
    ]
    assert wrong == off_pattern
    assert off_pattern or hard  # each normal clip has its wrong label read and flagged
    assert minutes == (len(truth), len(read), unread, len(off_pattern))


# Seed 3's normal clip is the tilted one tests/unit/test_conveyor_clip.py checks.
@pytest.mark.parametrize(("hard", "seed", "fps"), [(False, 3, 10), (True, 6, 25)])
def test_a_tilted_camera_reads_every_good_label_and_reports_the_damaged_one_unread(
    tmp_path: Path, conveyor_clips: ClipCache, hard: bool, seed: int, fps: int
) -> None:
    items = standard_items(seed, damaged=True)
    clip, truth = conveyor_clips.get(items, seed=seed, hard=hard, perspective=0.25)
    damaged = [item for item in truth if item.damaged]
    unlabelled = [item for item in truth if item.code is None]
    assert len(damaged) == len(unlabelled) == 1
    readable = [item for item in truth if item.code is not None and not item.damaged]
    camera = _run(tmp_path, clip, fps)
    codes = camera["barcodes"]["codes"]
    # Only the readable labels' codes, each once and in passing order; the damaged label is
    # not read, as its own code or as any other.
    assert codes == [item.code for item in readable if item.code in codes]
    assert damaged[0].code not in codes
    assert camera["barcodes"]["items"] == camera["inspection"]["items"] == len(truth)
    assert camera["barcodes"]["unread"] == len(truth) - len(codes)
    # Every readable label on a normal clip; on a hard one all but at most one.
    assert len(codes) >= len(readable) - (1 if hard else 0)
    read = [item for item in readable if item.code in codes]

    reads, unread, wrong, minutes = _stored(tmp_path)
    assert reads == [(item.format, item.code) for item in read]
    # the unlabelled and the damaged item, and on a hard clip at most one more
    assert unread == len(truth) - len(read)
    assert 2 <= unread <= 2 + (1 if hard else 0)
    off_pattern = [
        ("EAN13", item.code, EXPECT)
        for item in read
        if item.format == "EAN13" and item.code is not None and not item.code.startswith("40")
    ]
    assert wrong == off_pattern
    assert off_pattern or hard  # the wrong label is read and flagged on a normal clip
    assert minutes == (len(truth), len(read), unread, len(off_pattern))
