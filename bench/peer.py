"""The contestants of `make bench`, run in this process one after the other, on the same
clips at the same analysis rate, with the same detector object (so only the loop differs):

- onsight: `CameraPipeline` (through `onsight.evaluate.replay.observe`), motion gate on;
- peer: the loop a user writes with supervision 0.31: `sv.get_video_frames_generator` with a
  stride down to 5 fps, person detections -> `ByteTrackTracker` (the `trackers` package,
  which supervision 0.31 points to since `sv.ByteTrack` left it; default arguments except
  `frame_rate`) -> one `sv.LineZone` per line, bottom-centre anchor;
- naive: the peer loop at stride 1 (every native frame).

CPU is process CPU time (`time.process_time()`) around each loop.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from onsight.config.models import CameraConfig, LineConfig
from onsight.detect.protocol import Detector
from onsight.evaluate import LineScore, score_line
from onsight.evaluate.matching import EMPTY
from onsight.evaluate.replay import CountedCrossing, observe
from onsight.evaluate.truth import TrueCrossing
from onsight.runtime import FrameResult
from onsight.types import Detections, Image, Region

ROOT = Path(__file__).resolve().parent
ANALYSIS_FPS = 5
BUSY_CAMERAS = ("vtest", "one-by-one")  # labelled clips of tests/golden/golden.yaml

SCHEMA: dict[str, type] = {
    "ratio_vs_peer_busy": float,
    "ratio_vs_peer_day": float,
    "cpu_s_per_camera_hour_busy": float,
    "cpu_s_per_camera_hour_day": float,
    "f1_onsight": float,
    "f1_peer": float,
    "rss_mb_per_camera": float,
}


@dataclass
class LoopResult:
    """One contestant on one clip."""

    frames: int  # frames analysed
    detected_frames: int  # frames the detector ran on
    cpu_s: float
    video_s: float
    crossings: dict[str, list[CountedCrossing]]
    # per analysed frame: (0-based native frame index, whether the detector ran)
    trace: list[tuple[int, bool]] = field(default_factory=list, repr=False)

    @property
    def skip_ratio(self) -> float:
        return 1.0 - self.detected_frames / self.frames if self.frames else 0.0

    def summary(self) -> dict[str, float]:
        return {
            "frames": self.frames,
            "detected_frames": self.detected_frames,
            "skip_ratio": round(self.skip_ratio, 4),
            "cpu_s": round(self.cpu_s, 3),
            "video_s": round(self.video_s, 2),
            "cpu_s_per_camera_hour": round(per_hour(self.cpu_s, self.video_s), 1),
            "crossings": sum(len(c) for c in self.crossings.values()),
        }


def per_hour(cpu_s: float, video_s: float) -> float:
    return cpu_s / video_s * 3600 if video_s else math.nan


class CountingDetector:
    """Passes through to a detector and counts its calls (which frames onsight detected)."""

    def __init__(self, detector: Detector) -> None:
        self._detector = detector
        self.calls = 0

    @property
    def class_names(self) -> Sequence[str]:
        return self._detector.class_names

    @property
    def fitted_canvas(self) -> bool:
        return self._detector.fitted_canvas

    def detect(self, image: Image, region: Region | None = None) -> Detections:
        self.calls += 1
        return self._detector.detect(image, region)


def video_seconds(path: Path) -> tuple[float, float]:
    """(native fps, duration in seconds) of a clip: the same denominator for everyone."""
    info = sv.VideoInfo.from_video_path(str(path))
    fps = float(info.fps)
    return fps, (info.total_frames or 0) / fps


def at_fps(camera: CameraConfig, fps: float, path: Path | None = None) -> CameraConfig:
    """The camera with its lines only (no zones), analysed at `fps`, optionally on `path`."""
    data = camera.model_dump()
    data.update(fps=fps, zones=[])
    if path is not None:
        data["url"] = str(path)
    return CameraConfig.model_validate(data)


def run_onsight(camera: CameraConfig, detector: Detector) -> LoopResult:
    """onsight's real pipeline on a file camera; crossings as `observe` reports them."""
    native, duration = video_seconds(Path(camera.url))
    counting = CountingDetector(detector)
    trace: list[tuple[int, bool]] = []
    seen = [0]  # detector calls up to the previous frame

    def on_frame(result: FrameResult) -> None:
        trace.append((round(result.frame.pts * native), counting.calls > seen[0]))
        seen[0] = counting.calls

    start = time.process_time()
    observed = observe(camera, counting, on_frame)
    cpu = time.process_time() - start
    return LoopResult(observed.frames, counting.calls, cpu, duration, observed.crossings, trace)


def _line_zone(line: LineConfig, width: int, height: int) -> sv.LineZone:
    # exactly as tests/golden/replay.py::_line_zone, default minimum_crossing_threshold=1
    (ax, ay), (bx, by) = line.points
    return sv.LineZone(
        start=sv.Point(ax * width, ay * height),
        end=sv.Point(bx * width, by * height),
        triggering_anchors=(sv.Position.BOTTOM_CENTER,),
    )


def run_peer(
    path: Path, lines: Sequence[LineConfig], detector: Detector, fps: float | None = ANALYSIS_FPS
) -> LoopResult:
    """The supervision loop; `fps=None` is the naive variant (every native frame)."""
    native, duration = video_seconds(path)
    stride = 1 if fps is None else max(1, round(native / fps))
    person = list(detector.class_names).index("person")
    tracker = ByteTrackTracker(frame_rate=native / stride)
    zones: dict[str, sv.LineZone] = {}
    crossings: dict[str, list[CountedCrossing]] = {line.name: [] for line in lines}
    trace: list[tuple[int, bool]] = []
    start = time.process_time()
    for i, frame in enumerate(sv.get_video_frames_generator(str(path), stride=stride)):
        index = i * stride
        if not zones:
            height, width = frame.shape[:2]
            zones = {line.name: _line_zone(line, width, height) for line in lines}
        found = detector.detect(frame)
        keep = found.class_id == person
        detections = sv.Detections(
            xyxy=found.xyxy[keep].astype(np.float32),
            confidence=found.confidence[keep],
            class_id=found.class_id[keep].astype(int),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tracked = tracker.update(detections)
        if tracked.tracker_id is not None and len(tracked):
            tracked = cast(sv.Detections, tracked[np.asarray(tracked.tracker_id) != -1])
        else:
            tracked = sv.Detections.empty()
        moment = index / native
        for name, zone in zones.items():
            crossed_in, crossed_out = zone.trigger(tracked)
            crossings[name] += [CountedCrossing(moment, "in")] * int(np.sum(crossed_in))
            crossings[name] += [CountedCrossing(moment, "out")] * int(np.sum(crossed_out))
        trace.append((index, True))
    cpu = time.process_time() - start
    return LoopResult(len(trace), len(trace), cpu, duration, crossings, trace)


def score(truth: Mapping[str, list[TrueCrossing]], result: LoopResult, either: bool) -> LineScore:
    """Pooled event-level score over the lines; `either`: supervision's in/out may be the
    mirror of ours, so each line is scored both ways and the better kept (as
    `tests/golden/replay.py::Replay.score_supervision`)."""
    total = EMPTY
    for line, events in result.crossings.items():
        if line not in truth:
            continue
        flipped = [CountedCrossing(e.time, "out" if e.direction == "in" else "in") for e in events]
        options = [events, flipped] if either else [events]
        scores = [score_line(truth[line], e) for e in options]
        total = total + max(scores, key=lambda s: (s.matched, -s.count_error))
    return total


def golden_busy() -> tuple[dict[str, CameraConfig], dict[str, dict[str, list[TrueCrossing]]]]:
    """The labelled busy cameras (at 5 fps, lines only) and their true crossings per line,
    loaded exactly as the golden tests do."""
    sys.path.insert(0, str(ROOT.parent))
    from tests.golden.replay import cameras, truths

    every = cameras()
    truth = truths(every)
    chosen = {name: at_fps(every[name], ANALYSIS_FPS) for name in BUSY_CAMERAS}
    return chosen, {name: truth[name].crossings for name in BUSY_CAMERAS}


def schema_errors(results: Mapping[str, Any]) -> list[str]:
    """What is wrong with a results dict's headline keys (empty: all good)."""
    errors = []
    for key, kind in SCHEMA.items():
        if key not in results:
            errors.append(f"missing {key}")
        elif not isinstance(results[key], kind) or isinstance(results[key], bool):
            errors.append(f"{key} is {type(results[key]).__name__}, not {kind.__name__}")
        elif not math.isfinite(results[key]):
            errors.append(f"{key} is not finite: {results[key]}")
        elif key.startswith(("cpu_s", "ratio")) and results[key] <= 0:
            errors.append(f"{key} must be positive: {results[key]}")
        elif key.startswith("f1") and not 0.0 <= results[key] <= 1.0:
            errors.append(f"{key} out of [0, 1]: {results[key]}")
    return errors
