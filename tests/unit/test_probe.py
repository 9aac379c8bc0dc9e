"""The dashboard's connection test: one attempt through `VideoSource`, a plain reason."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from onsight.ingest.probe import plain_reason, probe
from tests.conftest import assets_dir, require


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            "cannot connect: Server returned 401 Unauthorized (authorization failed)",
            "authentication failed",
        ),
        ("cannot connect: Connection refused", "connection refused"),
        ("cannot connect: TimeoutError: no answer within 8 s", "timed out"),
        ("cannot open the URL: not a video file (looks like text)", "not a video"),
        ("cannot connect: Server returned 404 Not Found", "not found"),
        ("something new", "something new"),
    ],
)
def test_plain_reasons(message: str, reason: str) -> None:
    assert plain_reason(message).startswith(reason)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_says_so_without_the_password() -> None:
    result = probe("gate", f"rtsp://u:hunter2@127.0.0.1:{_closed_port()}/s", 5, 320, 5.0)
    assert result.frame is None
    assert result.reason.startswith("connection refused")
    assert "hunter2" not in result.reason


def test_a_text_file_is_not_a_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 100, encoding="utf-8")
    result = probe("gate", str(text), 5, 320)
    assert result.frame is None and result.reason.startswith("not a video")


def test_a_video_file_gives_one_frame() -> None:
    clip = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video vtest_480x360.avi")
    result = probe("gate", str(clip), 5, 320)
    assert result.frame is not None and result.frame.image.shape[1] == 320
