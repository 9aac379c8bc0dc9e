"""A real mosquitto broker on a free loopback port, for integration tests.

It can be stopped and started again on the same port (a broker outage). With `persistence`,
sessions and queued messages survive the restart, as on a production broker.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import require

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def mosquitto_binary() -> Path:
    found = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    return require(Path(found), "mosquitto (apt-get install mosquitto)")


class Mosquitto:
    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        persistence: bool = False,
        anonymous: bool = True,  # False without a password file: every login is refused
        max_queued: int | None = None,
    ) -> None:
        """`max_queued`: QoS 1 messages held per subscriber beyond those in flight (mosquitto
        drops, yet acknowledges to the sender, the rest: 1000 by default). A fleet broker
        needs it raised, as docs/fleet.md says."""
        self.binary = mosquitto_binary()
        self.port = port or free_port()
        self.workdir = workdir
        self.log_path = workdir / "mosquitto.log"
        self.config_path = workdir / "mosquitto.conf"
        workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} {HOST}",
            f"allow_anonymous {'true' if anonymous else 'false'}",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {workdir}/",
            # Started as root, mosquitto would switch to a "mosquitto" user that cannot write here.
            f"user {getpass.getuser()}",
            "log_dest stdout",
        ]
        if max_queued is not None:
            lines.append(f"max_queued_messages {max_queued}")
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        assert self._process is None, "already running"
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(self.binary), "-c", str(self.config_path)], stdout=log, stderr=log
            )
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            if self._process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log_path.read_text()[-2000:]}")
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on port {self.port}")

    def stop(self) -> None:
        """SIGTERM, as a service manager would; a persistent broker saves its state first."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
