"""`make bench`: onsight's pipeline against a naive baseline, both measured in this process.

Baseline: OpenCV VideoCapture, the same detector object on every frame at full resolution,
no motion gate, no tracking. Figures are CPU-time based (process CPU seconds), so they do
not depend on what else the machine is doing; compare the ratio, not the absolutes.

Contest (peer.py, day.py): onsight against the supervision loop a user would write ("peer",
5 fps) and that loop on every frame ("naive"), both with the model as exported (square
input), and onsight on that square input too ("onsight_square"), on the labelled busy clips
(CPU and event F1) and on a synthetic 20-minute camera day (CPU); plus `onsight run`'s RSS
per added camera.
The headline keys are checked by `peer.schema_errors`.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psutil
from day import build_day, standard_day
from inspection_bench import run_inspection
from machine import cpu_model
from peer import (
    ANALYSIS_FPS,
    LoopResult,
    at_fps,
    golden_busy,
    per_hour,
    run_peer,
    schema_errors,
    score,
)
from peer import run_onsight as contest_onsight

from onsight.config.models import CameraConfig
from onsight.detect import make_detector
from onsight.detect.protocol import Detector
from onsight.evaluate import LineScore
from onsight.events import EventBus
from onsight.runtime import STAGES, CameraPipeline

# Busy pedestrians (10 fps), a room with idle spells (10 fps), an overhead car park
# (12.5 fps) and a still table top (30 fps, where sampling at 10 fps also pays off).
CLIPS = (
    "vtest_480x360.avi",
    "one-by-one-person-detection.mp4",
    "car-detection.mp4",
    "bottle-detection.mp4",
)
ROOT = Path(__file__).resolve().parent


def _assets() -> Path:
    return Path(os.environ.get("ONSIGHT_ASSETS", ROOT.parent.parent / "shared" / "assets"))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_onsight(video: Path) -> dict[str, float]:
    camera = CameraConfig.model_validate(
        {
            "name": "bench",
            "url": str(video),
            "fps": 10,
            "lines": [{"name": "l", "points": [[0.5, 0.0], [0.5, 1.0]]}],
        }
    )
    bus = EventBus([])
    pipeline = CameraPipeline(camera, make_detector(), bus)
    start = time.process_time()
    pipeline.run()
    cpu = time.process_time() - start
    bus.close()
    stages = {s: pipeline.times.seconds.get(s, 0.0) for s in STAGES}
    return {
        "frames": pipeline.frames,
        "cpu_s": cpu,
        "video_s": pipeline.last_pts,
        "skip_ratio": pipeline.skip_ratio,
        **stages,
    }


def run_baseline(video: Path) -> dict[str, float]:
    detector = make_detector()
    capture = cv2.VideoCapture(str(video))
    capture_fps = float(capture.get(cv2.CAP_PROP_FPS))
    frames = 0
    start = time.process_time()
    while True:
        ok, image = capture.read()
        if not ok:
            break
        detector.detect(np.asarray(image, dtype=np.uint8))
        frames += 1
    capture.release()
    cpu = time.process_time() - start
    return {"frames": frames, "cpu_s": cpu, "video_s": frames / (capture_fps or 1.0)}


def cli_start_seconds(runs: int = 5) -> dict[str, float]:
    """Wall time of `onsight --help` (a fresh interpreter each run; the best is what a user
    waits on a quiet machine), against `python -c pass` as the baseline in the same run."""

    def best(args: list[str]) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
        return min(times)

    help_s = best([sys.executable, "-m", "onsight.cli", "--help"])
    python_s = best([sys.executable, "-c", "pass"])
    return {"help_s": round(help_s, 3), "python_s": round(python_s, 3),
            "ratio": round(help_s / python_s, 1)}  # fmt: skip


CONTESTANTS = ("onsight", "peer", "naive", "onsight_square")
# The peer and naive loops run the model as exported (a 416x416 letterbox, as YOLOX's own
# demo does); onsight runs it on a canvas of the frame's shape. "onsight_square" is onsight
# with the exported input, for the lever's CPU and F1 before and after.
STOCK = ("peer", "naive", "onsight_square")


@dataclass(frozen=True)
class Detectors:
    onsight: Detector  # the default: canvas of the frame's shape
    stock: Detector  # square_input=True

    def of(self, who: str) -> Detector:
        return self.stock if who in STOCK else self.onsight


def _run(who: str, camera: CameraConfig, path: Path, detectors: Detectors) -> LoopResult:
    detector = detectors.of(who)
    if who.startswith("onsight"):
        return contest_onsight(camera, detector)
    return run_peer(path, camera.lines, detector, None if who == "naive" else ANALYSIS_FPS)
RSS_CAMERAS = (1, 9)


def _score_dict(s: LineScore) -> dict[str, Any]:
    return {"f1": None if s.f1 is None else round(s.f1, 4), "true": s.true,
            "counted": s.counted, "matched": s.matched, "missed": s.missed,
            "spurious": s.spurious}  # fmt: skip


def _pooled(runs: list[LoopResult]) -> dict[str, float]:
    cpu, video = sum(r.cpu_s for r in runs), sum(r.video_s for r in runs)
    frames, detected = sum(r.frames for r in runs), sum(r.detected_frames for r in runs)
    return {"cpu_s": round(cpu, 2), "video_s": round(video, 1), "frames": frames,
            "detected_frames": detected,
            "cpu_s_per_camera_hour": round(per_hour(cpu, video), 1)}  # fmt: skip


def contest_busy(detectors: Detectors) -> dict[str, Any]:
    """The contestants on the labelled busy clips at 5 fps: CPU and pooled event F1."""
    cameras, truth = golden_busy()
    runs: dict[str, dict[str, LoopResult]] = {c: {} for c in CONTESTANTS}
    scores: dict[str, LineScore] = {}
    for name, camera in cameras.items():
        path = Path(camera.url)
        for who in CONTESTANTS:
            print(f"contest busy {name}: {who} ...", flush=True)
            result = _run(who, camera, path, detectors)
            runs[who][name] = result
            s = score(truth[name], result, either=not who.startswith("onsight"))
            scores[who] = scores[who] + s if who in scores else s
    out: dict[str, Any] = {"clips": {n: Path(c.url).name for n, c in cameras.items()},
                           "lines": sum(len(c.lines) for c in cameras.values())}  # fmt: skip
    for who in CONTESTANTS:
        out[who] = {**_pooled(list(runs[who].values())), **_score_dict(scores[who]),
                    "per_clip": {n: r.summary() for n, r in runs[who].items()}}  # fmt: skip
    return out


def contest_day(detectors: Detectors) -> dict[str, Any]:
    """The contestants on a synthetic camera day (built in a temp dir): CPU, and how
    much of the idle time onsight's motion gate skipped."""
    cameras, _ = golden_busy()
    plan = standard_day()
    out: dict[str, Any] = {"plan": plan.proportions()}
    with tempfile.TemporaryDirectory(prefix="onsight-day-") as tmp:
        print("contest day: building the clip ...", flush=True)
        started = time.perf_counter()
        clip = build_day(Path(tmp) / "day.mp4", plan)
        out["plan"].update(frames=clip.frames, codec=clip.codec,
                           size_mb=round(clip.path.stat().st_size / 1e6, 1),
                           build_wall_s=round(time.perf_counter() - started, 1))  # fmt: skip
        camera = at_fps(cameras["vtest"], ANALYSIS_FPS, clip.path)
        for who in CONTESTANTS:
            print(f"contest day: {who} ...", flush=True)
            result = _run(who, camera, clip.path, detectors)
            if who == "onsight":
                idle = [d for i, d in result.trace if i < len(clip.idle) and clip.idle[i]]
                busy = [d for i, d in result.trace if i < len(clip.idle) and not clip.idle[i]]
                out["onsight_gate"] = {
                    "idle_frames": len(idle), "idle_detected": sum(idle),
                    "idle_skip_ratio": round(1 - sum(idle) / len(idle), 4) if idle else None,
                    "busy_frames": len(busy), "busy_detected": sum(busy),
                }  # fmt: skip
            out[who] = result.summary()
    return out


def _camera_yaml(video: Path, lines: list[dict[str, Any]], count: int) -> str:
    cameras = [{"name": f"cam{i + 1}", "url": str(video), "fps": ANALYSIS_FPS, "lines": lines}
               for i in range(count)]  # fmt: skip
    return json.dumps({"cameras": cameras}, indent=1)  # JSON is YAML


def rss_per_camera(video: Path, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Peak memory of `onsight run` with 1 and with 9 cameras on the busy clip (sampled every
    0.2 s over the process and its children: each camera's decoding worker, the fork server);
    the per-camera cost is the slope. Summed RSS counts a page shared by k processes k times
    (the workers share the fork server's PyAV and NumPy), so the headline is the summed PSS,
    where such a page counts 1/k in each: the memory the box actually spends."""
    peaks: dict[int, float] = {}
    rss_peaks: dict[int, float] = {}
    walls: dict[int, float] = {}
    for count in RSS_CAMERAS:
        print(f"rss: onsight run with {count} camera(s) ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="onsight-rss-") as tmp:
            config = Path(tmp) / "onsight.yaml"
            config.write_text(_camera_yaml(video, lines, count), encoding="utf-8")
            log = Path(tmp) / "run.log"
            started = time.perf_counter()
            with log.open("wb") as out:
                proc = subprocess.Popen([sys.executable, "-m", "onsight.cli", "run",
                                         str(config)], stdout=out, stderr=out, cwd=tmp)  # fmt: skip
                watched = psutil.Process(proc.pid)
                peak = rss_peak = 0
                while proc.poll() is None:
                    try:
                        family = [watched, *watched.children(recursive=True)]
                        peak = max(peak, sum(p.memory_full_info().pss for p in family))
                        rss_peak = max(rss_peak, sum(p.memory_info().rss for p in family))
                    except psutil.Error:
                        pass
                    time.sleep(0.2)
            walls[count] = round(time.perf_counter() - started, 1)
            if proc.returncode != 0:
                tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RuntimeError(f"onsight run ({count} cameras) failed:\n{tail}")
            peaks[count] = peak / 2**20
            rss_peaks[count] = rss_peak / 2**20
    low, high = RSS_CAMERAS
    return {
        "rss_mb_per_camera": round((peaks[high] - peaks[low]) / (high - low), 1),
        "measure": "peak summed PSS of the process tree",
        "peak_mb": {str(n): round(v, 1) for n, v in peaks.items()},
        "summed_rss_peak_mb": {str(n): round(v, 1) for n, v in rss_peaks.items()},
        "summed_rss_mb_per_camera": round(
            (rss_peaks[high] - rss_peaks[low]) / (high - low), 1
        ),
        "wall_s": {str(n): v for n, v in walls.items()},
        "clip": video.name,
        "fps": ANALYSIS_FPS,
    }


def contest(detectors: Detectors) -> dict[str, Any]:
    """The headline keys (checked by `peer.schema_errors`) and their detail."""
    busy = contest_busy(detectors)
    day = contest_day(detectors)
    cameras, _ = golden_busy()
    vtest = cameras["vtest"]
    lines = [{"name": line.name, "points": [list(p) for p in line.points]} for line in vtest.lines]
    rss = rss_per_camera(Path(vtest.url), lines)

    def ratio(workload: dict[str, Any], who: str, ours: str = "onsight") -> float:
        theirs = workload[who]["cpu_s_per_camera_hour"]
        return round(float(theirs / workload[ours]["cpu_s_per_camera_hour"]), 3)

    return {
        "ratio_vs_peer_busy": ratio(busy, "peer"),
        "ratio_vs_peer_day": ratio(day, "peer"),
        "cpu_s_per_camera_hour_busy": float(busy["onsight"]["cpu_s_per_camera_hour"]),
        "cpu_s_per_camera_hour_day": float(day["onsight"]["cpu_s_per_camera_hour"]),
        "f1_onsight": float(busy["onsight"]["f1"] or 0.0),
        "f1_peer": float(busy["peer"]["f1"] or 0.0),
        "rss_mb_per_camera": float(rss["rss_mb_per_camera"]),
        "ratio_vs_naive_busy": ratio(busy, "naive"),
        "ratio_vs_naive_day": ratio(day, "naive"),
        "f1_naive": float(busy["naive"]["f1"] or 0.0),
        # onsight with the model's exported square input: what the fitted canvas adds
        "square_input": {
            "ratio_vs_peer_busy": ratio(busy, "peer", "onsight_square"),
            "ratio_vs_peer_day": ratio(day, "peer", "onsight_square"),
            "f1_onsight": float(busy["onsight_square"]["f1"] or 0.0),
        },
        "cpu": cpu_model(),
        "contest": {
            "analysis_fps": ANALYSIS_FPS,
            "how": "process CPU time per loop, sequentially in one process, onsight's "
            "default model with 1 inference thread for all; ratio = contestant CPU / "
            "onsight CPU (> 1: onsight is cheaper)",
            "detector": "peer, naive and onsight_square: the model as exported (416x416 "
            "letterbox); onsight: the same weights on a canvas of the frame's shape "
            "(416x320 for 4:3, 416x256 for 16:9)",
            "peer": "supervision get_video_frames_generator(stride=round(native/5)) -> "
            "person detections -> trackers.ByteTrackTracker(frame_rate=5) -> sv.LineZone "
            "per line (BOTTOM_CENTER, threshold 1)",
            "naive": "the peer loop at stride 1 (every native frame, tracker at native fps)",
            "busy": busy,
            "day": day,
        },
        "rss": rss,
    }


def main() -> int:
    bench_started = time.perf_counter()
    assets = _assets()
    videos = [assets / "video" / name for name in CLIPS]
    missing = [str(v) for v in videos if not v.is_file()]
    if missing:
        print(f"bench: missing sample videos: {', '.join(missing)} (set ONSIGHT_ASSETS)")
        return 1
    cv2.setNumThreads(1)
    per_clip: dict[str, dict[str, dict[str, float]]] = {}
    for video in videos:
        print(f"onsight  {video.name} ...", flush=True)
        per_clip[video.name] = {"onsight": run_onsight(video)}
    peak_rss = _peak_rss_mb()  # onsight ran first, so this is its own peak
    for video in videos:
        print(f"baseline {video.name} ...", flush=True)
        per_clip[video.name]["baseline"] = run_baseline(video)

    def rate(kind: str) -> float:
        frames = sum(c[kind]["frames"] for c in per_clip.values())
        return frames / sum(c[kind]["cpu_s"] for c in per_clip.values())

    def realtime(kind: str) -> float:
        return sum(c[kind]["video_s"] for c in per_clip.values()) / sum(
            c[kind]["cpu_s"] for c in per_clip.values()
        )

    headline = contest(Detectors(make_detector(), make_detector(square_input=True)))
    print("inspection ...", flush=True)
    inspection = run_inspection()
    stage_total = {s: sum(c["onsight"][s] for c in per_clip.values()) for s in STAGES}
    total = sum(stage_total.values()) or 1.0
    results = {
        **headline,
        "onsight_fps_per_cpu_s": round(rate("onsight"), 2),
        "baseline_fps_per_cpu_s": round(rate("baseline"), 2),
        "ratio": round(rate("onsight") / rate("baseline"), 3),
        "peak_rss_mb": round(peak_rss, 1),
        # seconds of video handled per CPU-second: includes the gain from sampling at 10 fps
        "onsight_video_s_per_cpu_s": round(realtime("onsight"), 2),
        "baseline_video_s_per_cpu_s": round(realtime("baseline"), 2),
        "stage_cpu_share": {s: round(v / total, 3) for s, v in stage_total.items()},
        "cli_start": cli_start_seconds(),  # `onsight --help`, target under 1 s
        "inspection": inspection,  # one 640x480 line camera at 10 fps
        "clips": per_clip,
    }
    errors = schema_errors(results)
    if errors:
        print(f"bench: results fail the schema: {'; '.join(errors)}")
        return 1
    results["bench_wall_s"] = round(time.perf_counter() - bench_started, 1)
    path = ROOT / "results.json"
    if path.is_file():  # `make bench-fleet` writes its own key: keep it
        kept = json.loads(path.read_text(encoding="utf-8")).get("fleet")
        if kept is not None:
            results["fleet"] = kept
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    shown = {k: v for k, v in results.items() if k not in ("clips", "contest")}
    print(json.dumps(shown, indent=2))
    print(contest_table(results["contest"]))
    for name, clip in per_clip.items():
        o, b = clip["onsight"], clip["baseline"]
        clip_ratio = (o["frames"] / o["cpu_s"]) / (b["frames"] / b["cpu_s"])
        print(
            f"{name}: onsight {o['frames']:.0f} frames / {o['cpu_s']:.1f} CPU-s "
            f"(detector skipped on {o['skip_ratio']:.0%}), baseline {b['frames']:.0f} / "
            f"{b['cpu_s']:.1f} CPU-s, ratio {clip_ratio:.2f}"
        )
    return 0


def contest_table(contest: dict[str, Any]) -> str:
    """CPU-s per camera-hour of each contestant on both workloads, and F1 on the busy clips."""
    rows = ["| contestant | busy CPU-s/camera-hour | day CPU-s/camera-hour | F1 (busy) |",
            "|---|---|---|---|"]  # fmt: skip
    for who in CONTESTANTS:
        b, d = contest["busy"][who], contest["day"][who]
        rows.append(f"| {who} | {b['cpu_s_per_camera_hour']:.0f} | "
                    f"{d['cpu_s_per_camera_hour']:.0f} | {b['f1']} |")  # fmt: skip
    gate = contest["day"]["onsight_gate"]
    idle = f"{gate['idle_detected']} of {gate['idle_frames']} idle frames"
    busy = f"{gate['busy_detected']} of {gate['busy_frames']} busy ones"
    rows.append(f"day: onsight ran the detector on {idle} and {busy}")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
