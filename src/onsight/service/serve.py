"""`onsight serve`: the pipeline and the web service in one process.

The cameras run in their threads; uvicorn runs in the main thread and handles Ctrl-C and
SIGTERM. On exit the cameras stop, pending events are written, and the sinks get a few
seconds to deliver (what they cannot stays in their on-disk queues).
"""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from onsight.cli_support import (
    ConfigArg,
    ResetDamagedOption,
    fail,
    interrupt,
    load,
    setup_logging,
)
from onsight.errors import OnsightError
from onsight.sitetime import use_site_timezone

err = Console(stderr=True, soft_wrap=True)


def serve_command(
    config: ConfigArg,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8080,
    tls_cert: Annotated[
        Path | None, typer.Option(help="TLS certificate (PEM); serve HTTPS with --tls-key.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log requests etc.")] = False,
    reset_damaged_store: ResetDamagedOption = False,
) -> None:
    """Run every camera of CONFIG and serve the dashboard, API and metrics."""
    # Imported here so that other commands do not pay for the web stack at start-up.
    import uvicorn

    from onsight.events.databases import check_databases, config_databases
    from onsight.privacy.finders import ModelFinders
    from onsight.runtime import Runner
    from onsight.service.app import create_app
    from onsight.service.auth import UserStore
    from onsight.service.context import ServiceContext

    setup_logging(verbose)
    loaded = load(config)
    if (tls_cert is None) != (tls_key is None):
        fail("--tls-cert and --tls-key go together")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            fail(f"{path}: TLS file not found")
    try:
        for line in check_databases(config_databases(loaded), reset=reset_damaged_store):
            err.print(f"warning: {line}", markup=False, highlight=False)
    except OnsightError as exc:
        fail(str(exc), loaded.secrets)
    users = UserStore(loaded.resolve(loaded.config.server.users_db))
    if not users.has_users():
        users.close()
        fail(
            f"{config}: no dashboard users yet, and there is no default password. Create an "
            f"admin first:\n  onsight users add NAME --config {config} --role admin"
        )
    listener = _listen(host, port)
    tls = tls_cert is not None
    if not tls and not _is_loopback(host):
        err.print(
            f"[yellow]warning:[/yellow] serving plain HTTP on {host}: passwords and session "
            "cookies cross the network unencrypted. Use --tls-cert/--tls-key or a TLS proxy.",
            highlight=False,
        )
    try:
        use_site_timezone(loaded.config.timezone)
        # File cameras play at real time here, so their events are never ahead of the clock.
        runner = Runner(loaded, pace_files=True)
    except OnsightError as exc:
        listener.close()
        fail(str(exc), loaded.secrets)
    context = ServiceContext(
        loaded=loaded,
        runner=runner,
        users=users,
        finders=ModelFinders(loaded.config.detector),
        sinks=list(runner.sinks),
        secure_cookies=tls,
        server_names=[host],
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(context),
            log_level="info" if verbose else "warning",
            access_log=verbose,
            server_header=False,
            timeout_graceful_shutdown=3,  # an open live view (MJPEG) never ends by itself
            proxy_headers=False,
            ssl_certfile=str(tls_cert) if tls_cert else None,
            ssl_keyfile=str(tls_key) if tls_key else None,
        )
    )
    scheme = "https" if tls else "http"
    shown = f"[{host}]" if ":" in host else host
    # uvicorn re-raises the signal that stopped it once it has shut down; with these
    # handlers that becomes KeyboardInterrupt here, so the cameras still stop cleanly.
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        runner.start()
        err.print(f"onsight: serving {scheme}://{shown}:{port}/ (Ctrl-C to stop)", highlight=False)
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[listener])
    finally:
        err.print("stopping (events recorded so far are kept)...")
        runner.stop()
        runner.close()
        users.close()
    for message in runner.errors.values():
        err.print(f"[red]error:[/red] {message}", highlight=False)


def _listen(host: str, port: int) -> socket.socket:
    """Bind first, so a busy port or a wrong address is one clear line, not a traceback."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    sock.set_inheritable(True)
    return sock


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
