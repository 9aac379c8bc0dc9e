"""A real onsight service for tests: a config on a sample clip, users, a Runner, the app.

Used by the browser tests (served by uvicorn on a free loopback port) and by the API tests
(in-process through Starlette's TestClient).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from onsight.config import load_config
from onsight.privacy.finders import ModelFinders
from onsight.runtime import Runner
from onsight.service.app import create_app
from onsight.service.auth import UserStore
from onsight.service.context import ServiceContext
from tests.conftest import vtest_calibration

CLIP = "vtest_480x360.avi"  # people cross the counting line from the first seconds
CAMERA = "square"
PASSWORDS = {"admin": "admin-password-1", "viewer": "viewer-password-1"}
CLIP_ENV = "ONSIGHT_TEST_CLIP"  # the camera URL comes from ${ENV}: the editor must keep that

CONFIG = f"""\
# A comment: the editor rewrites the file without it (a header names the backup).
site: test-site
cameras:
  - name: {CAMERA}
    url: "${{{CLIP_ENV}}}"
    fps: 10
    calibration: {{calibration}}
    lines:
      - name: path
        points: [[0.45, 0.25], [0.45, 1.0]]
        in_name: westward
        out_name: eastward
    zones:
      - name: left
        polygon: [[0, 0], [0.45, 0], [0.45, 1], [0, 1]]
server:
  login_attempts_per_minute: 5
  live_fps: 4
"""


@dataclass
class Service:
    context: ServiceContext
    app: FastAPI
    config: Path
    token: str  # a viewer API token
    base_url: str = ""
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _started: bool = field(default=False)

    @property
    def runner(self) -> Runner:
        return self.context.runner

    def play(self) -> None:
        """Start the pipeline on the clip (once)."""
        if not self._started:
            self._started = True
            self.runner.start()

    def serve(self) -> str:
        """Serve the app with uvicorn on a free loopback port, in a thread; the base URL."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=3
        )
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    def close(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
        self.runner.stop()
        self.runner.close()
        self.context.users.close()


def build(folder: Path, clip: Path) -> Service:
    os.environ[CLIP_ENV] = str(clip)
    config = folder / "onsight.yaml"
    calibration = json.dumps(vtest_calibration())
    config.write_text(CONFIG.replace("{calibration}", calibration), encoding="utf-8")
    return from_config(config)


def from_config(config: Path) -> Service:
    """A service over a real Runner for `config`, with the users of PASSWORDS and a token."""
    config.chmod(0o600)
    loaded = load_config(config)
    # A cheaper scrypt cost than production: the tests log in many times.
    users = UserStore(loaded.resolve(loaded.config.server.users_db), scrypt_n=2**12)
    restart = users.has_users()  # a restart over the same files keeps its users
    if not restart:
        for name, password in PASSWORDS.items():
            users.add_user(name, password, name)
    token = users.add_token(f"ci-{secrets.token_hex(4)}" if restart else "ci", "viewer")
    runner = Runner(loaded)
    context = ServiceContext(
        loaded=loaded,
        runner=runner,
        users=users,
        finders=ModelFinders(loaded.config.detector),
        server_names=["testserver"],  # the Host that Starlette's TestClient sends
    )
    return Service(context=context, app=create_app(context), config=config, token=token)
