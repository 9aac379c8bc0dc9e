"""The smoke version of `make bench`'s contest (bench/peer.py, bench/day.py): the peer loop and
onsight both count crossings on 10 s of vtest at 5 fps; on a tiny synthetic day onsight's
motion gate skips the idle frames while the peer detects every sampled one; the results
schema check accepts the smoke figures and rejects broken ones. No timing is asserted."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
from day import DayPlan, build_day, write_vtest_head  # noqa: E402
from peer import (  # noqa: E402
    ANALYSIS_FPS,
    at_fps,
    golden_busy,
    per_hour,
    run_onsight,
    run_peer,
    schema_errors,
    score,
)

from onsight.detect import make_detector  # noqa: E402
from onsight.detect.protocol import Detector  # noqa: E402


@pytest.fixture(scope="module")
def detector() -> Detector:
    return make_detector()


def test_peer_and_onsight_count_and_schema(
    tmp_path: Path, detector: Detector, video: Callable[[str], Path]
) -> None:
    video("vtest_480x360.avi")  # fails (never skips) with a clear message when missing
    seconds = 10.0
    clip = write_vtest_head(tmp_path / "head.mp4", seconds)
    cameras, truth = golden_busy()
    camera = at_fps(cameras["vtest"], ANALYSIS_FPS, clip)
    ours = run_onsight(camera, detector)
    theirs = run_peer(clip, camera.lines, detector)
    for result in (ours, theirs):
        assert result.frames == pytest.approx(seconds * ANALYSIS_FPS, abs=1)
        assert sum(len(c) for c in result.crossings.values()) > 0
        assert math.isfinite(result.cpu_s) and result.cpu_s > 0
        assert result.video_s == pytest.approx(seconds, abs=0.2)
    assert theirs.detected_frames == theirs.frames  # the peer detects every sampled frame
    # truth within the clip (a crossing labelled in its last half second may fall either side)
    head = {
        line: [c for c in crossings if c.time < seconds - 0.5]
        for line, crossings in truth["vtest"].items()
    }
    f1_ours = score(head, ours, either=False).f1
    f1_theirs = score(head, theirs, either=True).f1
    assert f1_ours is not None and f1_theirs is not None
    hour = per_hour(ours.cpu_s, ours.video_s)
    results = {
        "ratio_vs_peer_busy": per_hour(theirs.cpu_s, theirs.video_s) / hour,
        "ratio_vs_peer_day": 1.0,
        "cpu_s_per_camera_hour_busy": hour,
        "cpu_s_per_camera_hour_day": hour,
        "f1_onsight": float(f1_ours),
        "f1_peer": float(f1_theirs),
        "rss_mb_per_camera": 10.0,
    }
    assert schema_errors(results) == []
    assert schema_errors({k: v for k, v in results.items() if k != "f1_peer"}) == [
        "missing f1_peer"
    ]
    assert schema_errors({**results, "ratio_vs_peer_day": math.nan})
    assert schema_errors({**results, "f1_onsight": 1})  # an int is not the schema's float
    assert schema_errors({**results, "cpu_s_per_camera_hour_day": 0.0})


def test_day_idle_frames_skip_the_detector(
    tmp_path: Path, detector: Detector, video: Callable[[str], Path]
) -> None:
    video("vtest_480x360.avi")
    plan = DayPlan((20.0, (0.0, 5.0)), size=(240, 180))
    clip = build_day(tmp_path / "day.mp4", plan)
    assert clip.frames == 250 and sum(clip.idle) == 200
    cameras, _ = golden_busy()
    camera = at_fps(cameras["vtest"], ANALYSIS_FPS, clip.path)
    ours = run_onsight(camera, detector)
    # the first frame always counts as motion; after it, nothing idle should be detected
    idle = [detected for index, detected in ours.trace[1:] if clip.idle[index]]
    busy = [detected for index, detected in ours.trace if not clip.idle[index]]
    assert len(idle) >= 95
    assert sum(idle) <= 2, f"the motion gate let {sum(idle)} of {len(idle)} idle frames through"
    assert sum(busy) >= len(busy) // 2
    theirs = run_peer(clip.path, camera.lines, detector)
    assert theirs.frames == pytest.approx(len(ours.trace), abs=1)
    assert theirs.detected_frames == theirs.frames
