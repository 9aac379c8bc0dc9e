"""A file decoded in a worker process: the same frames as in-process; a killed worker is
started again and the file resumes after the last frame handed over (no frame twice, none
lost), with its counters carried over; restarts are audited, a crash loop sparingly."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from onsight.config import load_config
from onsight.config.models import CameraConfig, MotionConfig
from onsight.detect.factory import make_detector
from onsight.events.bus import EventBus
from onsight.ingest.source import VideoSource
from onsight.ingest.worker import ProcessSource
from onsight.motion import GateSettings, MotionGate
from onsight.runtime import CameraPipeline
from onsight.runtime.runner import RESTART_AUDITS, Runner
from onsight.types import Frame, MotionReading
from tests.conftest import assets_dir, require


def _clip() -> Path:
    return require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")


def test_a_killed_worker_resumes_the_file_after_its_last_frame() -> None:
    expected = list(VideoSource("cam", str(_clip()), 5.0).frames())
    restarts: list[tuple[str, str]] = []
    source = ProcessSource("cam", str(_clip()), 5.0, on_restart=lambda *r: restarts.append(r))
    got = []
    killed = False
    for frame in source.frames():
        got.append(frame)
        time.sleep(0.01)  # a slow consumer: the worker reports its counters meanwhile
        if not killed and len(got) >= 40 and source.stats.frames_decoded > 0:
            assert source.worker_pid is not None
            os.kill(source.worker_pid, signal.SIGKILL)
            killed = True
    assert [f.pts for f in got] == [f.pts for f in expected]
    assert [f.index for f in got] == list(range(len(expected)))
    assert all(np.array_equal(a.image, b.image) for a, b in zip(got, expected, strict=True))
    assert source.restarts == 1 and restarts[0][0] == "cam"
    assert "exited (code -9)" in restarts[0][1]
    # The second worker decoded from the start to resume: its count adds to the first's.
    assert source.stats.frames_decoded > 795


def test_a_crash_loop_is_audited_sparingly(tmp_path: Path) -> None:
    config = tmp_path / "onsight.yaml"
    config.write_text(f'cameras:\n  - {{name: cam, url: "{_clip()}", fps: 5}}\n', "utf-8")
    runner = Runner(load_config(config))
    try:
        for attempt in range(RESTART_AUDITS + 4):
            runner._audit_restart("cam", f"decoding worker exited (code -11), #{attempt}")
        records = [r for r in runner.audit.tail(50) if r.action == "worker_restart"]
    finally:
        runner.close()
    assert len(records) == RESTART_AUDITS
    assert [r.details()["restarts_not_recorded"] for r in records] == [0] * RESTART_AUDITS


def test_the_worker_runs_the_motion_gate_and_the_pipeline_adopts_its_readings() -> None:
    """An isolated camera's gate runs in its worker: each frame arrives with the reading an
    in-process gate gives it (the same verdicts and changed pixels), and the pipeline's gate
    adopts that reading instead of reading the frame again."""
    settings = GateSettings.of(MotionConfig(threshold=0.04))  # vtest: some still frames
    local = MotionGate(settings)
    expected = [local.read(f) for f in VideoSource("cam", str(_clip()), 5.0).frames()]
    got = list(ProcessSource("cam", str(_clip()), 5.0, motion=settings).frames())
    assert len(got) == len(expected) > 100
    assert all(f.motion is not None for f in got)
    assert [f.motion.moving for f in got if f.motion] == [r.moving for r in expected]
    assert 0 < sum(r.moving for r in expected) < len(expected)  # both verdicts occur
    for frame, reading in zip(got, expected, strict=True):
        assert frame.motion is not None and reading.changed is not None
        assert np.array_equal(frame.motion.changed, reading.changed)
    # The pipeline's gate takes the worker's word: a still reading on a frame that differs
    # completely from the last one.
    adopting = MotionGate(settings)
    adopting.update(got[0])
    black = replace(got[1], pixels=np.zeros_like(got[1].pixels), motion=MotionReading(False, None))
    assert adopting.update(black) is False
    assert (adopting.frames, adopting.motion_frames) == (2, int(got[0].motion.moving))
    assert without_worker_reading_moves(got[0], black)


def without_worker_reading_moves(first: Frame, black: Frame) -> bool:
    """The same black frame read by a gate of its own is motion (so the test above shows
    that the reading was adopted, not recomputed)."""
    gate = MotionGate(GateSettings.of(MotionConfig()))
    gate.update(replace(first, motion=None))
    return gate.update(replace(black, motion=None))


def test_an_isolated_pipeline_gets_the_gate_from_its_worker_and_a_restart_moves_no_box() -> (
    None
):
    """The wiring: a pipeline with `isolate` gets frames that carry the worker's reading. A
    restarted worker's fresh gate still makes the next frame a moving one (detect again),
    but says nothing changed, so the still-object filter keeps its timers."""
    camera = CameraConfig.model_validate({"name": "cam", "url": str(_clip()), "fps": 5})
    pipeline = CameraPipeline(camera, make_detector(), EventBus([]), isolate=True)
    frames = pipeline.source.frames()
    try:
        first, second = next(frames), next(frames)
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()
    assert first.motion is not None and first.motion.first
    assert second.motion is not None and not second.motion.first
    gate = MotionGate(GateSettings.of(camera.motion))
    assert gate.update(first) and gate.changed is not None and gate.changed.all()
    gate.update(second)
    assert gate.update(first)  # a new worker's first frame again
    assert gate.changed is not None and not gate.changed.any()
