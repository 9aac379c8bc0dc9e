"""Crash isolation: each live camera is decoded in a worker process of its own. Killing one
worker with SIGKILL, or freezing it (SIGSTOP: a decoder that never returns, GIL and all),
leaves the other cameras counting and the dashboard serving; the worker is back within
10 s, audited, and shown on the health page and in /metrics."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from onsight.apps.line_count import KIND as LINES
from onsight.runtime import CameraPipeline
from tests.browser.service import from_config
from tests.integration.rtsp_server import RtspServer

CAMERAS = ("victim", "north", "south")
BACK_WITHIN = 10.0  # the bound for a worker to be decoding again


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _counted(pipeline: CameraPipeline) -> int:
    return sum(pipeline.running(LINES)[0].total(d) for d in ("in", "out"))


def test_a_killed_or_frozen_worker_is_back_and_nothing_else_notices(
    tmp_path: Path, video: Callable[[str], Path]
) -> None:
    server = RtspServer(video("vtest_480x360.avi"))
    server.start()
    cameras = "".join(
        f"""  - name: {name}
    url: "{server.url()}"
    fps: 5
    lines: [{{name: path, points: [[0.45, 0.25], [0.45, 1.0]]}}]
"""
        for name in CAMERAS
    )
    config = tmp_path / "onsight.yaml"
    config.write_text(f"cameras:\n{cameras}", encoding="utf-8")
    service = from_config(config)
    try:
        service.play()
        base = service.serve()
        pipelines = {p.camera.name: p for p in service.runner.pipelines}
        victim = pipelines["victim"]
        assert all(_wait(lambda p=p: _counted(p) >= 1, 90) for p in pipelines.values()), (
            "every camera counts from the live stream"
        )
        headers = {"Authorization": f"Bearer {service.token}"}

        for attack in (signal.SIGKILL, signal.SIGSTOP):
            pid = getattr(victim.source, "worker_pid", None)
            assert pid is not None, "live video is decoded in a worker process"
            others = {name: _counted(pipelines[name]) for name in ("north", "south")}
            frames = victim.frames
            os.kill(pid, attack)
            # Back: a new worker, decoding, its frames analysed again.
            assert _wait(
                lambda pid=pid, frames=frames: (
                    victim.source.worker_pid != pid  # type: ignore[attr-defined]
                    and victim.frames > frames + 2
                ),
                BACK_WITHIN + 5.0 if attack == signal.SIGSTOP else BACK_WITHIN,
            ), f"the worker was not back after {attack.name}"
            # The others never stopped, and the dashboard answers.
            for name, before in others.items():
                assert _wait(lambda n=name, b=before: _counted(pipelines[n]) > b, 60), name
            answer = httpx.get(f"{base}/api/cameras", headers=headers, timeout=10)
            assert answer.status_code == 200
        assert victim.health().restarts >= 2  # a loaded machine may see one more hang
        assert all(pipelines[n].health().restarts == 0 for n in ("north", "south"))
        metrics = httpx.get(f"{base}/metrics", headers=headers, timeout=10).text
        assert 'onsight_worker_restarts_total{camera="victim"} 2.0' in metrics
        audited = [r for r in service.runner.audit.tail(50) if r.action == "worker_restart"]
        assert {r.details()["camera"] for r in audited} == {"victim"}
        reasons = " ".join(r.details()["reason"] for r in audited)
        assert "exited (code -9)" in reasons and "hung" in reasons
    finally:
        service.close()
        server.stop()
