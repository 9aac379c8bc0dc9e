"""Damaged clips as cameras beside a healthy one (issue 16): no traceback, no hang, a summary
with an `errors` map, and the healthy camera's results as if it had run alone."""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from onsight.config import load_config
from onsight.runtime import Runner
from tests.fuzz.mutate import cut_clip

ONSIGHT = [sys.executable, "-m", "onsight.cli"]
LINES = """    lines:
      - name: path
        points: [[0.5, 0.25], [0.5, 1.0]]
    zones:
      - name: left
        polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
"""


def _config(folder: Path, cameras: dict[str, Path]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = "cameras:\n" + "".join(
        f'  - name: {name}\n    url: "{url}"\n    fps: 5\n' + LINES for name, url in cameras.items()
    )
    path = folder / "onsight.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _run(config: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, object]]]:
    summary = config.parent / "summary.json"
    done = subprocess.run(
        [*ONSIGHT, "run", str(config), "--summary", str(summary)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done, json.loads(summary.read_text(encoding="utf-8"))


def _damaged(base: Path, folder: Path) -> dict[str, Path]:
    """A smashed header, a file cut inside its header, and bit flips in the middle.

    Only the cut one cannot be read at all: FFmpeg finds the H.264 stream behind a
    smashed AVI header, and bit flips cost a few frames.
    """
    data = base.read_bytes()
    rng = random.Random(16)
    smashed = bytearray(data)
    smashed[:512] = rng.randbytes(512)
    flipped = bytearray(data)
    for _ in range(8):
        pos = rng.randrange(len(data) // 3, len(data) * 2 // 3)
        flipped[pos] ^= 1 << rng.randrange(8)
    files = {"smashed": bytes(smashed), "cut": data[:1500], "flipped": bytes(flipped)}
    paths = {}
    for name, content in files.items():
        path = folder / f"{name}.avi"
        path.write_bytes(content)
        paths[name] = path
    return paths


def test_damaged_cameras_beside_a_healthy_one(tmp_path: Path, video: Callable[[str], Path]) -> None:
    healthy = tmp_path / "healthy.avi"
    cut_clip(video("vtest_480x360.avi"), healthy, "avi", 20.0)
    damaged = _damaged(healthy, tmp_path)

    alone, solo = _run(_config(tmp_path / "solo", {"square": healthy}))
    assert alone.returncode == 0, alone.stderr
    assert solo["errors"] == {}

    mixed_config = _config(tmp_path / "mixed", {**damaged, "square": healthy})
    mixed, summary = _run(mixed_config)
    assert mixed.returncode == 1
    errors = summary["errors"]
    assert "cut" in errors and "square" not in errors, summary
    # each camera is either summarised or named in `errors`, never both
    assert set(errors) | set(summary["cameras"]) == {*damaged, "square"}
    assert not set(errors) & set(summary["cameras"])
    for name, reason in errors.items():
        assert isinstance(reason, str) and "\n" not in reason and f"{name}.avi" in reason
        lines = [line for line in mixed.stderr.splitlines() if line.startswith("error:")]
        assert any(f"camera '{name}'" in line for line in lines), mixed.stderr
    assert summary["cameras"]["square"] == solo["cameras"]["square"]
    with sqlite3.connect(mixed_config.parent / "onsight-data" / "onsight.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_file_camera_stuck_in_ffmpeg_is_given_up(
    tmp_path: Path, video: Callable[[str], Path]
) -> None:
    """A FIFO nobody writes to blocks FFmpeg's open() for ever: nothing inside PyAV can
    interrupt that, so the runner gives the camera up and the run ends; its decoding worker
    process is killed, so nothing is left behind."""
    healthy = tmp_path / "healthy.avi"
    cut_clip(video("vtest_480x360.avi"), healthy, "avi", 4.0)
    fifo = tmp_path / "stuck.avi"
    os.mkfifo(fifo)
    loaded = load_config(_config(tmp_path, {"stuck": fifo, "square": healthy}))
    runner = Runner(loaded, stuck_seconds=1.0)
    try:
        runner.start()
        finished = threading.Event()
        waiter = threading.Thread(target=lambda: (runner.wait(), finished.set()), daemon=True)
        waiter.start()
        assert finished.wait(300), "the run did not end"
    finally:
        runner.stop()  # joins only the threads it has not given up on
        runner.close()
        # A reader still stuck in open() (none, once its worker is killed) is let go.
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    (stuck,) = [p for p in runner.pipelines if p.camera.name == "stuck"]
    pid = getattr(stuck.source, "worker_pid", None)
    assert pid is not None, "the camera was decoded in a worker process"
    give_up = time.monotonic() + 30  # its camera thread stops it (3 s), then kills it
    while _alive(pid) and time.monotonic() < give_up:
        time.sleep(0.2)
    assert not _alive(pid), "the stuck worker was killed"
    summary = runner.summary()
    errors = summary["errors"]
    assert isinstance(errors, dict) and set(errors) == {"stuck"}
    assert "made no progress" in errors["stuck"]
    cameras = summary["cameras"]
    assert isinstance(cameras, dict) and set(cameras) == {"square"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:  # a zombie is not alive
        return stat.read().split(") ")[-1][0] != "Z"
