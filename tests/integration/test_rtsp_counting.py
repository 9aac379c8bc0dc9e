"""Counting over RTSP survives the camera going away: stop the server mid-run, restart it,
and counting resumes, with every event committed and the password never logged."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from onsight.apps.line_count import KIND as LINES
from onsight.config.models import CameraConfig
from onsight.detect import make_detector
from onsight.events import EventBus, EventStore
from onsight.runtime import CameraPipeline
from tests.integration.rtsp_server import RtspServer

SECRET = "pa ss@w:rd"


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_counting_resumes_after_the_camera_restarts(
    tmp_path: Path, video: Callable[[str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = RtspServer(video("vtest_480x360.avi"), user="cam", password=SECRET)
    server.start()
    store = EventStore(tmp_path / "onsight.db")
    bus = EventBus([store])
    camera = CameraConfig.model_validate(
        {
            "name": "square",
            "url": server.url("cam", SECRET),
            "fps": 10,
            "lines": [{"name": "path", "points": [[0.45, 0.25], [0.45, 1.0]]}],
        }
    )
    pipeline = CameraPipeline(camera, make_detector(), bus, watchdog_seconds=2.0)
    worker = threading.Thread(target=pipeline.run, daemon=True)
    worker.start()

    def counted() -> int:
        return sum(pipeline.running(LINES)[0].total(d) for d in ("in", "out"))

    try:
        assert _wait(lambda: counted() >= 2, 40), "no crossings counted from the live stream"
        server.stop()
        assert _wait(lambda: not pipeline.source.stats.connected, 10), "outage not noticed"
        before_restart = counted()
        time.sleep(1.0)
        server.start()
        assert _wait(lambda: pipeline.source.stats.reconnects >= 1, 20), "did not reconnect"
        assert _wait(lambda: counted() > before_restart, 40), "counting did not resume"
    finally:
        pipeline.stop.set()
        worker.join(timeout=15)
        server.stop()
        bus.close()
    assert not worker.is_alive()
    total = sum(store.crossing_counts().values())
    assert total == counted()  # every event counted is committed
    store.close()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for form in (SECRET, "pa%20ss%40w%3Ard", "pa ss"):
        assert form not in logged
