"""`make bench`: onsight's pipeline against a naive baseline, both measured in this process.

Baseline: OpenCV VideoCapture, the same model on every frame at full resolution, no
motion gate, no tracking. Figures are CPU-time based (process CPU seconds), so they do
not depend on what else the machine is doing; compare the ratio, not the absolutes.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from inspection_bench import run_inspection

from onsight.config.models import CameraConfig
from onsight.detect import make_detector
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


def main() -> int:
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

    print("inspection ...", flush=True)
    inspection = run_inspection()
    stage_total = {s: sum(c["onsight"][s] for c in per_clip.values()) for s in STAGES}
    total = sum(stage_total.values()) or 1.0
    results = {
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
    path = ROOT / "results.json"
    if path.is_file():  # `make bench-fleet` writes its own key: keep it
        kept = json.loads(path.read_text(encoding="utf-8")).get("fleet")
        if kept is not None:
            results["fleet"] = kept
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in results.items() if k != "clips"}, indent=2))
    for name, clip in per_clip.items():
        o, b = clip["onsight"], clip["baseline"]
        clip_ratio = (o["frames"] / o["cpu_s"]) / (b["frames"] / b["cpu_s"])
        print(
            f"{name}: onsight {o['frames']:.0f} frames / {o['cpu_s']:.1f} CPU-s "
            f"(detector skipped on {o['skip_ratio']:.0%}), baseline {b['frames']:.0f} / "
            f"{b['cpu_s']:.1f} CPU-s, ratio {clip_ratio:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
