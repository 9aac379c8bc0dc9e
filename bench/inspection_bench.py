"""The inspection part of `make bench`: one 640x480 line camera analysed at 10 fps with item
tracking, barcode reading and defect scoring, in CPU-seconds.

A reference is learned from the items of one generated conveyor clip (as `onsight inspect
collect` + `learn` would), then a second clip (other items, other seed) is run through the
real pipeline with the person detector. "Real time on one core" means video seconds per
CPU-second of at least 1.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from onsight.apps.inspection import KIND, Inspector
from onsight.config.models import CameraConfig
from onsight.detect import make_detector
from onsight.events import EventBus
from onsight.inspection.reference import learn
from onsight.runtime import STAGES, CameraPipeline
from onsight.types import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the clip generator
from tests.conveyor import make_conveyor_clip, standard_items

FPS = 10


def _camera(clip: Path, reference: Path | None) -> CameraConfig:
    inspection: dict[str, Any] = {
        "region": [[0.0, 0.2], [1.0, 0.2], [1.0, 0.8], [0.0, 0.8]],
        "travel": "right",
    }
    if reference is not None:
        inspection["reference"] = str(reference)
    return CameraConfig.model_validate(
        {
            "name": "line",
            "url": str(clip),
            "fps": FPS,
            "purpose": "inspection",
            "privacy": {"redaction": "none"},
            "inspection": inspection,
            "barcodes": {"formats": ["EAN13", "Code128", "QRCode", "DataMatrix"]},
        }
    )


def _collect(clip: Path) -> list[Image]:
    """Each item's best crop, as `onsight inspect collect` saves them."""
    bus = EventBus([])
    pipeline = CameraPipeline(_camera(clip, None), make_detector(), bus)
    crops: list[Image] = []
    inspector: Inspector = pipeline.running(KIND)[0]
    inspector.on_item = crops.append
    pipeline.run()
    bus.close()
    return crops


def run_inspection() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        good, line = folder / "good.mp4", folder / "line.mp4"
        make_conveyor_clip(good, standard_items(0), seed=0)
        truth = make_conveyor_clip(line, standard_items(1), seed=1)
        started = time.process_time()
        reference = learn(_collect(good))
        learn_cpu = time.process_time() - started
        reference.save(folder / "reference")

        bus = EventBus([])
        pipeline = CameraPipeline(_camera(line, folder / "reference"), make_detector(), bus)
        start = time.process_time()
        pipeline.run()
        cpu = time.process_time() - start
        bus.close()
        summary = pipeline.summary()
    items = cast(dict[str, int], summary["inspection"])["items"]
    read = cast(dict[str, int], summary["barcodes"])["read"]
    stages = {s: pipeline.times.seconds.get(s, 0.0) for s in STAGES}
    return {
        "size": "640x480",
        "fps": FPS,
        "items": items,
        "items_true": len(truth),
        "read": read,
        "frames": pipeline.frames,
        "video_s": round(pipeline.last_pts, 2),
        "cpu_s": round(cpu, 3),
        "items_per_cpu_s": round(items / cpu, 3),
        # >= 1: one core keeps up with the camera at 10 fps
        "video_s_per_cpu_s": round(pipeline.last_pts / cpu, 2),
        "cpu_ms_per_frame": round(1000 * cpu / max(1, pipeline.frames), 1),
        "stage_cpu_share": {s: round(v / max(cpu, 1e-9), 3) for s, v in stages.items()},
        "learn_cpu_s": round(learn_cpu, 2),
    }
