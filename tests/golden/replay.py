"""Replay a clip through onsight's pipeline and, on the very same tracks, supervision's LineZone.

Used by the golden tests and runnable by hand:
    python tests/golden/replay.py        # prints the accuracy table for every labelled clip
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import supervision as sv

from onsight.config.models import CameraConfig
from onsight.detect import make_detector
from onsight.events import EventBus
from onsight.runtime import CameraPipeline, FrameResult

HERE = Path(__file__).resolve().parent
GROUND_TRUTH = HERE / "ground_truth.json"


@dataclass
class ClipResult:
    frames: int
    ours: dict[str, dict[str, int]]
    supervision: dict[str, dict[int, dict[str, int]]]  # line -> threshold -> {"in", "out"}
    zones: dict[str, dict[str, float]] = field(default_factory=dict)
    zone_samples: dict[str, dict[int, int]] = field(default_factory=dict)  # frame -> occupancy


def replay(
    video: Path, clip: dict[str, object], thresholds: tuple[int, ...] = (1, 3)
) -> ClipResult:
    lines = clip["lines"]
    zones = clip.get("zones", {})
    assert isinstance(lines, dict) and isinstance(zones, dict)
    camera = CameraConfig.model_validate(
        {
            "name": "golden",
            "url": str(video),
            "fps": clip.get("fps", 10),
            "lines": [{"name": n, "points": spec["points"]} for n, spec in lines.items()],
            "zones": [{"name": n, "polygon": spec["polygon"]} for n, spec in zones.items()],
        }
    )
    bus = EventBus([])
    pipeline = CameraPipeline(camera, make_detector(), bus)
    sv_zones = {
        (name, k): None for name in lines for k in thresholds
    }  # built lazily once the frame size is known
    zone_samples: dict[str, dict[int, int]] = {name: {} for name in zones}

    def on_frame(result: FrameResult) -> None:
        width, height = result.frame.width, result.frame.height
        if any(v is None for v in sv_zones.values()):
            for name, k in sv_zones:
                (ax, ay), (bx, by) = lines[name]["points"]
                sv_zones[(name, k)] = sv.LineZone(
                    start=sv.Point(ax * width, ay * height),
                    end=sv.Point(bx * width, by * height),
                    triggering_anchors=(sv.Position.BOTTOM_CENTER,),
                    minimum_crossing_threshold=k,
                )
        tracks = result.tracks
        detections = sv.Detections(
            xyxy=(tracks.xyxy * np.array([width, height, width, height], np.float32)).astype(float),
            class_id=tracks.class_id.astype(int),
            tracker_id=tracks.track_id.astype(int),
        )
        for zone in sv_zones.values():
            assert zone is not None
            zone.trigger(detections)
        index = result.frame.index
        for occupancy in pipeline.zones:
            zone_samples[occupancy.config.name][index] = occupancy.current

    pipeline.run(on_frame)
    bus.close()
    summary = pipeline.summary()
    ours = summary["lines"]
    assert isinstance(ours, dict)
    theirs: dict[str, dict[int, dict[str, int]]] = {name: {} for name in lines}
    for (name, k), zone in sv_zones.items():
        assert zone is not None
        theirs[name][k] = {"in": zone.in_count, "out": zone.out_count}
    zones_summary = summary["zones"]
    assert isinstance(zones_summary, dict)
    return ClipResult(pipeline.frames, ours, theirs, zones_summary, zone_samples)


def line_error(counted: dict[str, int], truth: dict[str, int], allow_swap: bool = False) -> int:
    """Miscounts: |in - true in| + |out - true out|; `allow_swap` forgives a flipped convention."""
    straight = abs(counted["in"] - truth["in"]) + abs(counted["out"] - truth["out"])
    if not allow_swap:
        return straight
    return min(straight, abs(counted["out"] - truth["in"]) + abs(counted["in"] - truth["out"]))


def main() -> int:
    assets = Path(os.environ.get("ONSIGHT_ASSETS", HERE.parents[2] / "shared" / "assets"))
    truth = json.loads(GROUND_TRUTH.read_text(encoding="utf-8"))["clips"]
    total_true = total_ours = 0
    total_sv: dict[int, int] = {}
    for clip_name, clip in truth.items():
        result = replay(assets / "video" / clip_name, clip)
        for line, spec in clip["lines"].items():
            true = {"in": spec["in"], "out": spec["out"]}
            ours = result.ours[line]
            err = line_error(ours, true)
            total_true += true["in"] + true["out"]
            total_ours += err
            sv_text = []
            for k, counted in result.supervision[line].items():
                e = line_error(counted, true, allow_swap=True)
                total_sv[k] = total_sv.get(k, 0) + e
                sv_text.append(f"sv(k={k}) {counted['in']}/{counted['out']} err {e}")
            print(
                f"{clip_name} {line}: truth {true['in']}/{true['out']}  "
                f"onsight {ours['in']}/{ours['out']} err {err}  " + "  ".join(sv_text)
            )
        print(f"  zones: {result.zones}")
    print(f"total true crossings {total_true}: onsight error {total_ours / total_true:.1%}", end="")
    for k, e in total_sv.items():
        print(f", supervision k={k} {e / total_true:.1%}", end="")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
