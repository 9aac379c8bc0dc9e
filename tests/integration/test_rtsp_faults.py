"""A flapping camera: every fault a real camera network produces, again and again, while a
real pipeline counts from it. After each fault analysis resumes; the source reconnects
exactly once per fault that broke the connection; file descriptors and threads do not
grow; the password never reaches a log.

Faults, in turn: the server killed and restarted; a stall with the socket open (shorter or
longer than the watchdog); half a packet and the connection dropped; wrong credentials after
a restart (refused until the right ones are back); the resolution changing mid-run.
`make test` runs 5 faults (one of each); `make soak` runs 100 (`ONSIGHT_RTSP_FAULTS`), with
stalls of 1-30 s, and also checks RSS.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest

from onsight.apps.line_count import KIND as LINES
from onsight.config.models import CameraConfig
from onsight.detect import make_detector
from onsight.events import EventBus, EventStore
from onsight.runtime import CameraPipeline
from tests.integration.rtsp_server import H264Clip, RtspServer

SECRET = "fl@p/p%ing:cam"
FAULTS = int(os.environ.get("ONSIGHT_RTSP_FAULTS", "5"))
LONG = FAULTS > 5  # the soak: longer stalls, and RSS is checked too
WATCHDOG_S = 2.0
KINDS = ("restart", "stall", "cut", "wrong_password", "resolution")


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _until(value: Callable[[], int], at_least: int, timeout: float) -> bool:
    return _wait(lambda: value() >= at_least, timeout)


class _Camera:
    """The server, the fault it is put through, and how many reconnects that must cause."""

    def __init__(self, server: RtspServer, clips: list[H264Clip], rng: random.Random) -> None:
        self.server, self.clips, self.rng = server, clips, rng

    def inflict(self, kind: str) -> int:
        server = self.server
        if kind == "restart":
            server.stop()
            time.sleep(self.rng.uniform(0.1, 1.0))
            server.start()
            return 1
        if kind == "stall":
            seconds = self.rng.uniform(1.0, 30.0 if LONG else 3.0)
            server.stall()
            time.sleep(seconds)
            server.stall(False)
            # The watchdog ends a connection silent for WATCHDOG_S; at the margin either way.
            return 1 if seconds > WATCHDOG_S + 0.5 else 0 if seconds < WATCHDOG_S - 0.5 else -1
        if kind == "cut":
            server.cut()
            return 1
        if kind == "wrong_password":
            server.stop()
            server.password = "not-the-" + SECRET
            refused = server.refused
            server.start()
            assert _wait(lambda: server.refused > refused, 20), "the client never tried again"
            server.stop()
            server.password = SECRET
            server.start()
            return 1
        if kind == "resolution":
            server.stop()
            server.clip = self.clips[1] if server.clip is self.clips[0] else self.clips[0]
            server.start()
            return 1
        raise ValueError(kind)


def _usage() -> tuple[int, int, float]:
    me = psutil.Process()
    return me.num_fds(), threading.active_count(), me.memory_info().rss / 2**20


def test_counting_survives_a_flapping_camera(
    tmp_path: Path, video: Callable[[str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clips = [H264Clip.load(video("vtest_480x360.avi")),
             H264Clip.load(video("one-by-one-person-detection.mp4"))]  # fmt: skip
    assert clips[0].sps != clips[1].sps, "the two clips must differ in resolution"
    server = RtspServer(video("vtest_480x360.avi"), user="cam", password=SECRET)
    server.clip = clips[0]
    server.start()
    store = EventStore(tmp_path / "onsight.db")
    bus = EventBus([store])
    camera = CameraConfig.model_validate(
        {
            "name": "yard",
            "url": server.url("cam", quote(SECRET, safe="")),
            "fps": 5,
            "lines": [{"name": "path", "points": [[0.45, 0.25], [0.45, 1.0]]}],
        }
    )
    pipeline = CameraPipeline(camera, make_detector(), bus, watchdog_seconds=WATCHDOG_S)
    worker = threading.Thread(target=pipeline.run, daemon=True)
    faulty = _Camera(server, clips, random.Random(20261130))
    expected, margin, warm = 0, 0, None
    try:
        worker.start()
        assert _wait(lambda: pipeline.frames >= 10, 60), "no frames from the live stream"
        for n in range(FAULTS):
            kind = KINDS[n % len(KINDS)]
            frames = pipeline.frames
            reconnects = faulty.inflict(kind)
            if reconnects < 0:
                margin += 1
            else:
                expected += reconnects
            assert _until(lambda: pipeline.frames, frames + 10, 60), f"fault {n} ({kind}): stuck"
            assert _until(lambda: pipeline.source.stats.reconnects, expected, 10)
            if n == (len(KINDS) - 1 if LONG else 0):  # after the first reconnects: warm
                warm = _usage()
        fds, threads, rss = _usage()
    finally:
        pipeline.stop.set()
        worker.join(timeout=20)
        server.stop()
        bus.close()
    assert not worker.is_alive()
    stats = pipeline.source.stats
    assert expected <= stats.reconnects <= expected + margin, (stats.reconnects, expected)
    assert warm is not None
    assert fds <= warm[0] + 2 and threads <= warm[1] + 1, (warm, (fds, threads, rss))
    if LONG:
        assert rss <= warm[2] * 1.05 + 20, (warm, rss)
    counted = sum(pipeline.running(LINES)[0].total(d) for d in ("in", "out"))
    assert sum(store.crossing_counts().values()) == counted  # every count is committed
    store.close()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for form in (SECRET, "fl%40p%2Fp%25ing%3Acam", "fl@p"):
        assert form not in logged
