"""Replay labelled clips through onsight and, on the very same tracks, supervision's LineZone;
score both event by event (matched within 1 s) with onsight's own evaluator.

Truth comes in two forms (see README.md here):
- event labels (`ground_truth.json`, `vtest_lines/truth.json`): each crossing's frame and direction;
- MOTChallenge trajectories (`truth/<camera>/`), from which `onsight evaluate` derives crossings.
The cameras, lines and zones of both are in `golden.yaml`.

Runnable by hand: `python tests/golden/replay.py` prints the accuracy table for every clip.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from onsight.config import load_config
from onsight.config.models import CameraConfig, LineConfig
from onsight.detect import make_detector
from onsight.detect.protocol import Detector
from onsight.evaluate import LineScore, Sequence, load_sequence, score_line
from onsight.evaluate.matching import EMPTY
from onsight.evaluate.replay import CountedCrossing, Observed, observe
from onsight.evaluate.truth import TrueCrossing
from onsight.runtime import FrameResult

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "golden.yaml"
EVENT_TRUTHS = (HERE / "ground_truth.json", HERE / "vtest_lines" / "truth.json")
MOT_TRUTH = HERE / "truth"
THRESHOLDS = (1, 3, 5)


@dataclass
class CameraTruth:
    """True crossings per line and, where labelled, occupancy per zone and frame (0-based)."""

    crossings: dict[str, list[TrueCrossing]] = field(default_factory=dict)
    occupancy: dict[str, dict[int, list[int]]] = field(default_factory=dict)  # acceptable values
    sequence: Sequence | None = None


@dataclass
class Replay:
    camera: CameraConfig
    observed: Observed
    supervision: dict[str, dict[int, list[CountedCrossing]]]  # line -> threshold -> events
    frame_of: dict[float, int]  # pts -> 0-based frame index

    def score(self, truth: CameraTruth, line: str) -> LineScore:
        return score_line(truth.crossings[line], self.observed.crossings[line])

    def score_supervision(self, truth: CameraTruth, line: str, k: int) -> LineScore:
        """supervision's in/out convention may be the mirror of ours: score it both ways
        and keep the better, so it is never penalised for a naming difference."""
        events = self.supervision[line][k]
        flipped = [CountedCrossing(e.time, "out" if e.direction == "in" else "in") for e in events]
        scores = [score_line(truth.crossings[line], e) for e in (events, flipped)]
        return max(scores, key=lambda s: (s.matched, -s.count_error))


def cameras() -> dict[str, CameraConfig]:
    assets = os.environ.get("ONSIGHT_ASSETS", str(HERE.parents[2] / "shared" / "assets"))
    loaded = load_config(CONFIG, {**os.environ, "ONSIGHT_ASSETS": assets})
    return {c.name: c for c in loaded.config.cameras}


def truths(cameras: dict[str, CameraConfig], mot: bool = True) -> dict[str, CameraTruth]:
    """Every camera's truth, from the event labels and the MOT folders."""
    by_clip = {Path(c.url).name: name for name, c in cameras.items()}
    result: dict[str, CameraTruth] = {}
    for path in EVENT_TRUTHS:
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        clips = data["clips"].items() if "clips" in data else [(data["clip"], data)]
        for clip_name, clip in clips:
            truth = result.setdefault(by_clip[clip_name], CameraTruth())
            fps = float(clip["fps"])
            for name, line in clip["lines"].items():
                truth.crossings[name] = [
                    TrueCrossing(c["frame"] / fps, c["direction"]) for c in line["crossings"]
                ]
            for name, zone in clip.get("zones", {}).items():
                ambiguous = zone.get("ambiguous", {})
                truth.occupancy[name] = {
                    int(f): ambiguous.get(f, {}).get("acceptable", [n])
                    for f, n in zone["samples"].items()
                }
    for folder in sorted(MOT_TRUTH.iterdir()) if mot else []:
        if folder.name in cameras:
            truth = result.setdefault(folder.name, CameraTruth())
            truth.sequence = load_sequence(folder)
            mot_crossings(truth, cameras[folder.name])
    return result


def mot_crossings(truth: CameraTruth, camera: CameraConfig) -> None:
    """Fill line truths from the MOT trajectories (for lines without event labels)."""
    if truth.sequence is None:
        return
    for line in camera.lines:
        truth.crossings.setdefault(line.name, truth.sequence.crossings(line))


def replay(camera: CameraConfig, thresholds: tuple[int, ...] = THRESHOLDS) -> Replay:
    zones: dict[tuple[str, int], sv.LineZone] = {}
    counts: dict[tuple[str, int], tuple[int, int]] = {}
    supervision: dict[str, dict[int, list[CountedCrossing]]] = {
        line.name: {k: [] for k in thresholds} for line in camera.lines
    }
    frame_of: dict[float, int] = {}

    def on_frame(result: FrameResult) -> None:
        width, height = result.frame.width, result.frame.height
        frame_of[result.frame.pts] = result.frame.index
        if not zones:
            for line in camera.lines:
                for k in thresholds:
                    zones[(line.name, k)] = _line_zone(line, width, height, k)
                    counts[(line.name, k)] = (0, 0)
        tracks = result.tracks
        detections = sv.Detections(
            xyxy=(tracks.xyxy * np.array([width, height, width, height], np.float32)).astype(float),
            class_id=tracks.class_id.astype(int),
            tracker_id=tracks.track_id.astype(int),
        )
        for (name, k), zone in zones.items():
            zone.trigger(detections)
            before_in, before_out = counts[(name, k)]
            events = supervision[name][k]
            events += [CountedCrossing(result.frame.pts, "in")] * (zone.in_count - before_in)
            events += [CountedCrossing(result.frame.pts, "out")] * (zone.out_count - before_out)
            counts[(name, k)] = (zone.in_count, zone.out_count)

    observed = observe(camera, _detector(), on_frame)
    return Replay(camera, observed, supervision, frame_of)


@cache
def _detector() -> Detector:
    """One model for all replays (loading it per clip costs more than it checks)."""
    return make_detector()


def _line_zone(line: LineConfig, width: int, height: int, k: int) -> sv.LineZone:
    (ax, ay), (bx, by) = line.points
    return sv.LineZone(
        start=sv.Point(ax * width, ay * height),
        end=sv.Point(bx * width, by * height),
        triggering_anchors=(sv.Position.BOTTOM_CENTER,),
        minimum_crossing_threshold=k,
    )


def _f1(score: LineScore) -> str:
    return "-" if score.f1 is None else f"{score.f1:.3f}"


def _cell(score: LineScore) -> str:
    return f"{score.counted_in}/{score.counted_out} F1 {_f1(score)}"


def main() -> int:
    """Print the README's accuracy table (markdown): every line, onsight and supervision."""
    all_cameras = cameras()
    all_truth = truths(all_cameras)
    ours_total = EMPTY
    theirs_total = dict.fromkeys(THRESHOLDS, EMPTY)
    print(
        "| clip | line | true in/out | onsight | "
        + " | ".join(f"LineZone k={k}" for k in THRESHOLDS)
        + " |"
    )
    print("|---" * (4 + len(THRESHOLDS)) + "|")
    for name, camera in all_cameras.items():
        truth = all_truth[name]
        result = replay(camera)
        for line in camera.lines:
            s = result.score(truth, line.name)
            ours_total = ours_total + s
            theirs = [result.score_supervision(truth, line.name, k) for k in THRESHOLDS]
            for k, t in zip(THRESHOLDS, theirs, strict=True):
                theirs_total[k] = theirs_total[k] + t
            cells = " | ".join(_cell(t) for t in theirs)
            print(f"| {name} | {line.name} | {s.true_in}/{s.true_out} | {_cell(s)} | {cells} |")
        for zone, score in _zone_report(camera, truth, result).items():
            print(f"<!-- zone {name}/{zone}: {score} -->")
    print(_summary("onsight", ours_total))
    for k, score in theirs_total.items():
        print(_summary(f"LineZone k={k}", score))
    return 0


def _zone_report(camera: CameraConfig, truth: CameraTruth, result: Replay) -> dict[str, Any]:
    from onsight.evaluate.report import compare

    report: dict[str, Any] = {}
    if truth.sequence is not None:
        for zone, z in compare(camera, truth.sequence, result.observed).zones.items():
            report[zone] = z.as_dict()
    for zone, samples in truth.occupancy.items():
        by_frame = {result.frame_of[p]: n for p, n in result.observed.occupancy[zone].items()}
        report[zone] = {f: (by_frame.get(f), ok) for f, ok in samples.items()}
    return report


def _summary(who: str, s: LineScore) -> str:
    error = s.count_error / s.true if s.true else 0.0
    return (
        f"| {who} | true {s.true} | counted {s.counted} | matched {s.matched} | "
        f"missed {s.missed} | spurious {s.spurious} | F1 {_f1(s)} | "
        f"aggregate error {error:.1%} |"
    )


if __name__ == "__main__":
    sys.exit(main())
