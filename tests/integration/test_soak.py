"""A long unattended run: `onsight serve` on 8 live cameras from local RTSP servers, sampled
every interval for its RSS, file descriptors, threads, event-bus queue depth, frames analysed
and events emitted, into `test-artifacts/soak/soak.csv` and a plot `soak.png`.

It fails when, after the warm-up, RSS grows by more than 5%, when file descriptors, threads
or the queue depth keep growing, or when a camera stops being analysed.

`make soak` runs it for an hour (`ONSIGHT_SOAK_SECONDS=3600`, one sample a minute); `make
test` runs the same for 25 s after a 15 s warm-up, with a sample every 2.5 s, where only a
clear leak can show. The hour's CSV and plot are what to look at.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import cv2
import httpx
import numpy as np
import psutil
import yaml

from tests.integration.mosquitto import free_port
from tests.integration.rtsp_server import RtspServer

SECONDS = float(os.environ.get("ONSIGHT_SOAK_SECONDS", "25"))
INTERVAL = float(os.environ.get("ONSIGHT_SOAK_INTERVAL", "60" if SECONDS >= 600 else "2.5"))
CAMERAS = int(os.environ.get("ONSIGHT_SOAK_CAMERAS", "8"))
# Threads and buffers settle in the first 10 s (RSS within 2% of its end by then): 15 s in
# `make test`, 12 min in the hour. The short run samples often, so each third of the series
# `keeps_growing` compares holds a few samples, as the hour's do.
WARM_UP = max(15.0, 3 * INTERVAL, 0.2 * SECONDS)
OUT = Path(__file__).resolve().parents[2] / "test-artifacts" / "soak"
ONSIGHT = [sys.executable, "-m", "onsight.cli"]


@dataclass(frozen=True, slots=True)
class Sample:
    seconds: float
    rss_mb: float
    fds: int
    threads: int
    queue_depth: float
    frames: float  # analysed, all cameras, since start
    events: float  # emitted, all cameras, since start


def _metric(text: str, name: str) -> list[float]:
    pattern = re.compile(rf"^{name}(?:\{{[^}}]*\}})? ([0-9.e+-]+)$", re.MULTILINE)
    return [float(v) for v in pattern.findall(text)]


def _sample(process: psutil.Process, metrics: str, since: float) -> Sample:
    rss = process.memory_info().rss + sum(c.memory_info().rss for c in process.children(True))
    return Sample(
        round(time.monotonic() - since, 1),
        round(rss / 2**20, 1),
        process.num_fds(),
        process.num_threads(),
        sum(_metric(metrics, "onsight_event_bus_queue_depth")),
        sum(_metric(metrics, "onsight_frames_analysed_total")),
        sum(_metric(metrics, "onsight_events_emitted_total")),
    )


def keeps_growing(values: list[float], slack: float) -> bool:
    """True when the last third of a series is above everything in its first third by more
    than `slack`, and the middle third is above the first too: a climb, not a blip."""
    third = len(values) // 3
    if third == 0:
        return False
    first, middle, last = values[:third], values[third : 2 * third], values[2 * third :]
    return min(last) > max(first) + slack and np.mean(middle) > np.mean(first)


def _plot(samples: list[Sample], path: Path) -> None:
    """One panel per figure against time (no plotting library needed)."""
    names = [f.name for f in fields(Sample)][1:]
    width, height, pad = 900, 150, 40
    image = np.full((height * len(names), width, 3), 255, np.uint8)
    times = np.array([s.seconds for s in samples])
    for row, name in enumerate(names):
        values = np.array([getattr(s, name) for s in samples], np.float64)
        top = row * height
        low, high = float(values.min()), float(values.max())
        span = high - low or 1.0
        xs = pad + (times - times[0]) / max(times[-1] - times[0], 1e-9) * (width - 2 * pad)
        ys = top + height - pad / 2 - (values - low) / span * (height - pad * 1.5)
        points = np.stack([xs, ys], axis=1).astype(np.int32)
        cv2.rectangle(image, (pad, top + 10), (width - pad, top + height - 10), (220, 220, 220))
        cv2.polylines(image, [points], False, (164, 87, 29), 2)
        cv2.putText(image, f"{name}: {low:g} .. {high:g}", (pad + 5, top + 28),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)  # fmt: skip
    cv2.putText(image, f"{times[-1]:.0f} s", (width - pad - 60, height * len(names) - 12),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)  # fmt: skip
    cv2.imwrite(str(path), image)


@contextmanager
def _serving(config: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    """`onsight serve`, stopped with SIGTERM (as a service manager does) at the end."""
    server = subprocess.Popen(
        [*ONSIGHT, "serve", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield server
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=120)
        assert "Traceback" not in stderr, stderr


def _onsight(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [*ONSIGHT, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_long_run_on_live_cameras_does_not_leak(
    tmp_path: Path, video: Callable[[str], Path]
) -> None:
    clip = video("vtest_480x360.avi")
    with ExitStack() as stack:
        servers = [stack.enter_context(RtspServer(clip, path=f"cam{i}")) for i in range(CAMERAS)]
        cameras = [
            {
                "name": f"cam{i}",
                "url": server.url(),
                "fps": 5,
                "lines": [{"name": "path", "points": [[0.45, 0.25], [0.45, 1.0]]}],
                "zones": [{"name": "left", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}],
            }
            for i, server in enumerate(servers)
        ]
        config = tmp_path / "site.yaml"
        config.write_text(yaml.safe_dump({"site": "soak", "cameras": cameras}), encoding="utf-8")
        _onsight("users", "add", "ops", "--config", str(config), "--role", "admin",
                 "--password-stdin", stdin="correct horse battery\n")  # fmt: skip
        token = _onsight("tokens", "add", "soak", "--config", str(config))
        bearer = {"Authorization": f"Bearer {token}"}
        port = free_port()
        server = stack.enter_context(_serving(config, port))
        process = psutil.Process(server.pid)
        samples: list[Sample] = []
        metrics = ""
        start = time.monotonic()
        while time.monotonic() - start < SECONDS + WARM_UP:
            time.sleep(INTERVAL)
            assert server.poll() is None, "onsight serve died"
            try:
                url = f"http://127.0.0.1:{port}/metrics"
                metrics = httpx.get(url, headers=bearer, timeout=10).text
            except httpx.TransportError:
                continue  # still starting
            samples.append(_sample(process, metrics, start))
        analysed = _metric(metrics, "onsight_frames_analysed_total")
        assert len(analysed) == CAMERAS and min(analysed) > 0, analysed  # every camera ran
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "soak.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([f.name for f in fields(Sample)])
        writer.writerows(astuple(s) for s in samples)
    _plot(samples, OUT / "soak.png")
    warm = [s for s in samples if s.seconds >= WARM_UP]
    assert len(warm) >= 3, f"too few samples after warm-up: {len(warm)}"
    assert max(s.rss_mb for s in warm[1:]) <= warm[0].rss_mb * 1.05, [s.rss_mb for s in warm]
    assert not keeps_growing([s.fds for s in warm], slack=2), [s.fds for s in warm]
    # Decoder and server worker threads come and go by a few; a leak climbs past that.
    assert not keeps_growing([s.threads for s in warm], slack=4), [s.threads for s in warm]
    assert not keeps_growing([s.queue_depth for s in warm], slack=50)
    frames_per_sample = np.diff([s.frames for s in warm])
    assert np.all(frames_per_sample > 0), "analysis stalled"  # counting never stopped
    assert warm[-1].events > warm[0].events, "no events in the measured window"


def test_keeps_growing_tells_a_climb_from_noise() -> None:
    assert keeps_growing([10, 11, 12, 13, 14, 15], slack=1)
    assert not keeps_growing([10, 12, 10, 12, 10, 12], slack=1)
    assert not keeps_growing([10, 10, 10, 10, 10, 13], slack=1)  # one blip at the end
    assert not keeps_growing([10, 10], slack=1)
