"""`onsight evaluate` end to end: a real clip, MOT truth labelled by eye, the JSON report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ONSIGHT = [sys.executable, "-m", "onsight.cli"]
TRUTH = Path(__file__).resolve().parents[1] / "golden" / "truth"


def _config(tmp_path: Path, url: Path) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(
        f"""cameras:
  - name: one-by-one
    url: "{url}"
    fps: 10
    lines:
      - {{name: exit, points: [[0.72, 0.55], [0.72, 1.0]], in_name: back, out_name: leave}}
    zones:
      - {{name: right, polygon: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}}
  - name: unlabelled
    url: "{url}"
""",
        encoding="utf-8",
    )
    return path


def test_evaluate_scores_events_and_zones_as_json(
    tmp_path: Path, video: Callable[[str], Path]
) -> None:
    config = _config(tmp_path, video("one-by-one-person-detection.mp4"))
    truth = tmp_path / "truth"
    shutil.copytree(TRUTH / "one-by-one", truth / "one-by-one")
    run = subprocess.run(
        [*ONSIGHT, "evaluate", str(config), "--truth", str(truth), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert "unlabelled: no truth" in run.stderr
    report = json.loads(run.stdout)
    assert report["schema"] == "onsight.evaluate/1" and report["tolerance_seconds"] == 1.0
    camera = report["cameras"]["one-by-one"]
    assert camera["frames"] == 1394
    line = camera["lines"]["exit"]
    assert (line["true_in"], line["true_out"]) == (0, 6)  # everyone leaves to the right
    assert line["matched"] == 6 and line["spurious"] == 0 and line["f1"] == 1.0
    assert set(line) >= {"missed", "precision", "recall", "aggregate_error", "count_error"}
    zone = camera["zones"]["right"]
    assert abs(zone["measured_mean"] - zone["true_mean"]) < 0.1 and zone["true_peak"] == 1
    assert report["overall"]["lines"]["true"] == 6 and report["overall"]["phantom_zones"] == []


def test_evaluate_prints_a_table_and_refuses_a_bad_truth_folder(
    tmp_path: Path, video: Callable[[str], Path]
) -> None:
    config = _config(tmp_path, video("one-by-one-person-detection.mp4"))
    empty = tmp_path / "empty"
    empty.mkdir()
    run = subprocess.run(
        [*ONSIGHT, "evaluate", str(config), "--truth", str(empty)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and "no folder named after a camera" in run.stderr
    broken = tmp_path / "broken" / "one-by-one" / "gt"
    broken.mkdir(parents=True)
    (broken / "gt.txt").write_text("1,1,x\n")
    run = subprocess.run(
        [*ONSIGHT, "evaluate", str(config), "--truth", str(broken.parents[1])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and "seqinfo.ini: not found" in run.stderr
    assert "Traceback" not in run.stderr
