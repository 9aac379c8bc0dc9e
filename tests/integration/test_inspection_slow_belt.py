"""A slow belt: an item is in view for many frames before it is whole, and its code must
still be read when it is (tries are spaced in time, and partial views do not use up the
tries on whole ones)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np

from onsight.apps.base import FrameView
from onsight.apps.inspection import Inspector
from onsight.inspection.config import BarcodesConfig, InspectionConfig
from tests.conveyor import make_conveyor_clip, standard_items

REGION = [[0.0, 0.2], [1.0, 0.2], [1.0, 0.8], [0.0, 0.8]]
START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_every_code_is_read_on_a_slow_belt_at_25_fps(tmp_path: Path) -> None:
    clip = tmp_path / "slow.mp4"
    items = standard_items(1)[:4]
    truth = make_conveyor_clip(clip, items, seed=1, speed_px_s=80.0)
    inspector = Inspector(
        "line-1",
        InspectionConfig.model_validate({"region": REGION, "travel": "right"}),
        BarcodesConfig(formats=["EAN13", "Code128", "QRCode", "DataMatrix"]),
        None,
    )
    empty = np.zeros((0, 4), np.float32)
    no_ids = np.zeros(0, np.int64)
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            pts = float(frame.time or 0.0)
            image = frame.to_ndarray(format="bgr24")
            inspector.update(FrameView(pts, START, empty, no_ids, no_ids, image=image))
    inspector.flush()
    codes = inspector.summary()["barcodes"]["codes"]
    assert codes == [item.code for item in truth if item.code is not None]
