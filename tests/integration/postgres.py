"""A real PostgreSQL (Debian's server binaries) on a free loopback port, for integration tests.

`initdb` makes a throw-away cluster in a temporary directory under /tmp; `start()` runs the
server on 127.0.0.1 only, `stop()` shuts it down fast (SIGINT) and `start()` again brings it
back on the same port with the same data (a database outage). PostgreSQL refuses to run as
root, so when the tests run as root (as here and in CI) the cluster belongs to the `postgres`
OS user and the server runs as that user.

Logins: the superuser `postgres` is trusted on 127.0.0.1 (the harness's own admin
connection); `onsight` must give its password (`secret`), so a wrong one is refused.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from tests.conftest import missing

HOST = "127.0.0.1"
USER = "onsight"
PASSWORD = "secret"
DATABASE = "fleet"
ADMIN = "postgres"
_OS_USER = "postgres"  # the server's OS user when the tests run as root
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_bin() -> Path:
    """The newest installed server's bin directory (/usr/lib/postgresql/<major>/bin)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        missing(
            "PostgreSQL server not found (/usr/lib/postgresql/*/bin/initdb): "
            "apt-get install postgresql (or run `make system-deps`)"
        )
    return found[-1].parent


class Postgres:
    """One throw-away cluster. Call `close()` at the end: it stops the server and deletes it."""

    def __init__(self, port: int | None = None) -> None:
        self.bin = server_bin()
        self.port = port or free_port()
        self._as_root = os.geteuid() == 0
        self.workdir = Path(tempfile.mkdtemp(prefix="onsight-pg-", dir="/tmp"))
        self.data = self.workdir / "data"
        self.sockets = self.workdir / "sockets"
        self.log_path = self.workdir / "postgres.log"
        self.sockets.mkdir()
        if self._as_root:
            try:
                account = pwd.getpwnam(_OS_USER)
            except KeyError:
                self.close()
                missing(
                    f"no {_OS_USER!r} OS user to run PostgreSQL as (it refuses root): "
                    "apt-get install postgresql"
                )
            for path in (self.workdir, self.sockets):
                os.chown(path, account.pw_uid, account.pw_gid)
        self._process: subprocess.Popen[bytes] | None = None
        self._fresh = True  # the `onsight` role and `fleet` database are made at first start
        self._initdb()

    # -- urls ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The `onsight` user's URL of the `fleet` database."""
        return self.database_url(DATABASE)

    def database_url(self, name: str, password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@{HOST}:{self.port}/{name}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://{ADMIN}@{HOST}:{self.port}/postgres"

    # -- life cycle ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        assert self._process is None, "already running"
        # fsync, full-page writes and synchronous commit are off: a test cluster is thrown
        # away, so surviving a power cut is not needed (a fast stop still writes everything).
        options = {
            "listen_addresses": HOST,
            "port": str(self.port),
            "unix_socket_directories": str(self.sockets),
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
            "shared_buffers": "64MB",
            "max_connections": "100",
            "logging_collector": "off",
        }
        args = [str(self.bin / "postgres"), "-D", str(self.data)]
        for key, value in options.items():
            args += ["-c", f"{key}={value}"]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, **self._as_server()
            )
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            if self._process.poll() is not None:
                self._process = None
                raise RuntimeError(f"postgres exited: {self._log_tail()}")
            try:
                psycopg.connect(self.admin_url, connect_timeout=2).close()
            except psycopg.OperationalError:
                time.sleep(0.02)
                continue
            if self._fresh:
                self._first_start()
            return
        self.stop()
        raise RuntimeError(f"postgres did not accept connections on port {self.port}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT): clients are disconnected, open transactions roll back."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- databases -------------------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """A new empty database owned by `onsight`; returns its URL."""
        if not _NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(USER)
                )
            )
        return self.database_url(name)

    def admin(
        self, statement: LiteralString, *params: Any, database: str = DATABASE
    ) -> list[tuple[Any, ...]]:
        """Run one statement as the superuser (tests' inspection); returns its rows."""
        url = f"postgresql://{ADMIN}@{HOST}:{self.port}/{database}"
        with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(statement, params or None)
            return list(cur.fetchall()) if cur.description else []

    # -- private ---------------------------------------------------------------------------

    def _as_server(self) -> dict[str, Any]:
        """Popen arguments running a program as the server's OS user (when we are root)."""
        if not self._as_root:
            return {"cwd": self.workdir}
        return {"cwd": self.workdir, "user": _OS_USER, "group": _OS_USER, "extra_groups": []}

    def _initdb(self) -> None:
        hba = "\n".join(
            [
                "local all all trust",
                f"host all {ADMIN} {HOST}/32 trust",
                f"host all all {HOST}/32 scram-sha-256",
                "",
            ]
        )
        args = [
            str(self.bin / "initdb"),
            "-D", str(self.data),
            "-U", ADMIN,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # a throw-away cluster: nothing to make durable
        ]  # fmt: skip
        done = subprocess.run(args, capture_output=True, **self._as_server())
        if done.returncode != 0:
            self.close()
            raise RuntimeError(f"initdb failed: {done.stderr.decode(errors='replace')[-2000:]}")
        (self.data / "pg_hba.conf").write_text(hba, encoding="utf-8")

    def _first_start(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(USER), sql.Literal(PASSWORD)
                )
            )
        self.create_database(DATABASE)
        self._fresh = False

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return "(no log)"
