"""`onsight serve` as a user starts it: no users -> told how to add one; a busy port -> one
line; with a user it serves, guards every page, and a SIGTERM stops it cleanly."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from tests.integration.mosquitto import free_port

ONSIGHT = [sys.executable, "-m", "onsight.cli"]


def _config(tmp_path: Path, clip: Path) -> Path:
    path = tmp_path / "site.yaml"
    camera = {
        "name": "square",
        "url": str(clip),
        "fps": 10,
        "lines": [{"name": "path", "points": [[0.45, 0.25], [0.45, 1.0]]}],
    }
    path.write_text(yaml.safe_dump({"site": "hq", "cameras": [camera]}), encoding="utf-8")
    return path


def _onsight(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ONSIGHT, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_serve_refuses_to_start_without_users(
    tmp_path: Path, video: Callable[[str], Path]
) -> None:
    config = _config(tmp_path, video("vtest_480x360.avi"))
    result = _onsight("serve", str(config), "--port", str(free_port()))
    assert result.returncode == 1
    assert "no dashboard users yet" in result.stderr
    assert f"onsight users add NAME --config {config} --role admin" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_a_busy_port_says_so(tmp_path: Path, video: Callable[[str], Path]) -> None:
    config = _config(tmp_path, video("vtest_480x360.avi"))
    assert _onsight(
        "users", "add", "ada", "--config", str(config), "--role", "admin", "--password-stdin",
        stdin="correct horse battery\n",
    ).returncode == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _onsight("serve", str(config), "--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_guards_pages_answers_tokens_and_stops_on_sigterm(
    tmp_path: Path, video: Callable[[str], Path]
) -> None:
    config = _config(tmp_path, video("vtest_480x360.avi"))
    added = _onsight(
        "users", "add", "ada", "--config", str(config), "--role", "admin", "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert added.returncode == 0, added.stderr
    token = _onsight("tokens", "add", "grafana", "--config", str(config)).stdout.strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*ONSIGHT, "serve", str(config), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.3)
        assert health.status_code == 200 and health.json()["status"] in ("ok", "degraded")
        page = httpx.get(f"{base}/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert httpx.get(f"{base}/api/cameras").status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}
        cameras = httpx.get(f"{base}/api/cameras", headers=bearer)
        assert cameras.status_code == 200 and cameras.json()[0]["name"] == "square"
        metrics = httpx.get(f"{base}/metrics", headers=bearer)
        assert 'onsight_frames_analysed_total{camera="square"}' in metrics.text
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0, stderr
    assert "stopping" in stderr and "Traceback" not in stderr
    audit = _onsight("audit", "show", "--config", str(config), "--limit", "3").stdout
    assert "stop" in audit
