"""A live RTSP camera (our own test server) through `VideoSource`: reconnects, watchdog, secrets.

The server runs in this process on 127.0.0.1; the source reads from it with short
watchdog and backoff values so the whole module takes well under 30 s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import av
import numpy as np
import pytest

from onsight.config import load_config
from onsight.errors import SourceError
from onsight.ingest import BackoffPolicy, VideoSource, redact_text, url_secrets
from onsight.types import Frame
from tests.integration.rtsp_server import RtspServer

SECRET = "secret"
FAST = BackoffPolicy(initial=0.2, factor=2.0, cap=1.0)
DEADLINE = 20.0  # seconds; a hung test fails instead of blocking CI


@pytest.fixture
def clip(video: Callable[[str], Path]) -> Path:
    return video("one-by-one-person-detection.mp4")


@pytest.fixture
def server(clip: Path) -> Iterator[RtspServer]:
    with RtspServer(clip, user="user", password=SECRET) as srv:
        yield srv


def _source(url: str, stop: threading.Event, watchdog: float = 2.0) -> VideoSource:
    return VideoSource(
        "gate",
        url,
        5,
        width=320,
        open_timeout=3.0,
        watchdog_seconds=watchdog,
        backoff=FAST,
        stop=stop,
    )


def _deadline(stop: threading.Event) -> threading.Timer:
    timer = threading.Timer(DEADLINE, stop.set)
    timer.daemon = True
    timer.start()
    return timer


def _ingest_warnings(caplog: pytest.LogCaptureFixture) -> int:
    return sum(
        1
        for r in caplog.records
        if r.name.startswith("onsight.ingest") and r.levelno == logging.WARNING
    )


def _check_timeline(frames: list[Frame]) -> None:
    assert [f.index for f in frames] == list(range(len(frames)))
    assert np.all(np.diff([f.pts for f in frames]) > 0)
    assert all(f.image.shape == (180, 320, 3) for f in frames)


def test_a_password_with_at_slash_and_percent_from_the_environment_logs_in(
    clip: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`${CAM_PASS}` holding `@ / % :` is encoded into the URL by the config loader, and the
    camera logs in with it (FFmpeg decodes it before authenticating); it is never logged."""
    password = "p@ss/w%rd:9"
    config = tmp_path / "site.yaml"
    with RtspServer(clip, user="user", password=password) as srv:
        config.write_text(
            "cameras:\n  - name: gate\n"
            f"    url: rtsp://user:${{CAM_PASS}}@127.0.0.1:{srv.port}/{srv.path}\n"
            "    purpose: footfall\n",
            encoding="utf-8",
        )
        loaded = load_config(config, {"CAM_PASS": password})
        stop = threading.Event()
        timer = _deadline(stop)
        frames: list[Frame] = []
        try:
            with caplog.at_level(logging.DEBUG):
                for frame in _source(loaded.config.cameras[0].url, stop).frames():
                    frames.append(frame)
                    if len(frames) == 5:
                        break
        finally:
            stop.set()
            timer.cancel()
    assert len(frames) == 5
    assert not any(password in r.getMessage() for r in caplog.records)


def test_reconnects_after_server_restart(
    server: RtspServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stop = threading.Event()
    source = _source(server.url("user", SECRET), stop)
    timer = _deadline(stop)
    frames: list[Frame] = []
    restart: threading.Timer | None = None
    after_restart = 0
    try:
        for frame in source.frames():
            frames.append(frame)
            if len(frames) == 5:
                assert source.stats.connected
                server.stop()  # the camera goes away mid-stream ...
                restart = threading.Timer(1.0, server.start)  # ... and comes back
                restart.start()
            if source.stats.reconnects >= 1:
                after_restart += 1
                if after_restart >= 5:
                    break
    finally:
        stop.set()
        timer.cancel()
        if restart is not None:
            restart.join()
    stats = source.stats
    assert stats.reconnects >= 1, "source did not reconnect before the deadline"
    assert after_restart >= 5
    assert stats.frames_sampled == len(frames)
    assert stats.source_fps == pytest.approx(10, abs=0.5)
    assert (stats.width, stats.height) == (768, 432)
    _check_timeline(frames)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("camera 'gate'" in r.getMessage() for r in warnings)
    assert "rtsp://***:***@127.0.0.1" in caplog.text
    assert SECRET not in caplog.text
    assert SECRET not in repr(source) and SECRET not in str(stats)


def test_watchdog_reconnects_a_stalled_stream(
    server: RtspServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="onsight.ingest")
    stop = threading.Event()
    source = _source(server.url("user", SECRET), stop, watchdog=1.0)
    timer = _deadline(stop)
    frames: list[Frame] = []
    resume = threading.Timer(3.0, server.stall, args=(False,))
    try:
        for frame in source.frames():
            frames.append(frame)
            if len(frames) == 5:
                server.stall()  # socket stays open, no more media: only a watchdog helps
                resume.start()
            if source.stats.reconnects >= 1 and len(frames) >= 10:
                break
    finally:
        stop.set()
        timer.cancel()
        resume.cancel()
    assert source.stats.reconnects >= 1, "watchdog did not fire before the deadline"
    assert len(frames) >= 10
    _check_timeline(frames)
    assert "no data for 1 s" in caplog.text
    assert SECRET not in caplog.text


@pytest.mark.parametrize("auth", ["digest", "basic"])
def test_wrong_password_is_retried_and_never_logged(
    clip: Path, auth: Literal["digest", "basic"], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with RtspServer(clip, user="user", password="other", auth=auth) as srv:
        stop = threading.Event()
        source = _source(srv.url("user", SECRET), stop)
        timer = _deadline(stop)
        iterator = source.frames()
        watcher = threading.Thread(target=lambda: list(iterator))
        watcher.start()
        while watcher.is_alive() and _ingest_warnings(caplog) < 2:
            time.sleep(0.05)
        stop.set()
        watcher.join(timeout=10)
        timer.cancel()
    assert not watcher.is_alive(), "stop event did not end the live source"
    assert source.stats.frames_sampled == 0
    assert "401" in caplog.text or "authorization" in caplog.text.lower()
    assert SECRET not in caplog.text


def test_exceptions_never_carry_the_password(server: RtspServer) -> None:
    url = server.url("user", SECRET)
    server.stop()
    # PyAV puts the URL, password included, into its exception text ...
    with pytest.raises(av.FFmpegError) as raw:
        av.open(url, options={"rtsp_transport": "tcp"}, timeout=2.0)
    assert SECRET in str(raw.value)
    # ... which is why everything that leaves ingest goes through redaction.
    assert SECRET not in redact_text(str(raw.value), url_secrets(url))
    with pytest.raises(SourceError) as ours:
        VideoSource("gate", url.replace("rtsp://", "rtmp://"), 5)
    assert SECRET not in str(ours.value) and "rtmp://***:***@127.0.0.1" in str(ours.value)
