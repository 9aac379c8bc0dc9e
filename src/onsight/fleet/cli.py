"""`onsight fleet serve|backfill|users`: the central ingester and dashboard, and the site's
side of a backfill."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import threading
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.progress import Progress

from onsight.cli_support import ConfigArg, fail, interrupt, load, setup_logging
from onsight.errors import OnsightError
from onsight.fleet.dsn import dsn_display, dsn_secrets

if TYPE_CHECKING:
    from onsight.fleet.config import FleetConfig
    from onsight.fleet.ingest import Ingester
    from onsight.service.cli import UsersPlace

fleet_app = typer.Typer(
    help="Many sites into one PostgreSQL over MQTT: ingester, dashboard, backfill.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(
    help="The fleet dashboard's own users (not the sites').",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
fleet_app.add_typer(users_app, name="users")
err = Console(stderr=True, soft_wrap=True, highlight=False)

FleetConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Fleet config (YAML); optional, see README.", show_default=False
    ),
]


@fleet_app.command("serve")
def serve(
    mqtt: Annotated[
        str | None,
        typer.Option(
            help="Broker: mqtt://host:port or mqtt://user@host:port (password: "
            "$ONSIGHT_FLEET_MQTT_PASSWORD); mqtts:// for TLS."
        ),
    ] = None,
    database: Annotated[
        str | None, typer.Option(help="postgresql://user@host:port/db (password: $PGPASSWORD).")
    ] = None,
    config: FleetConfigOption = None,
    host: Annotated[str, typer.Option(help="Dashboard address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Dashboard port.")] = 8081,
    web: Annotated[
        bool, typer.Option(help="Serve the dashboard (--no-web: only ingest, e.g. a 2nd ingester).")
    ] = True,
    client_id: Annotated[
        str | None, typer.Option(help="MQTT client id; each ingester needs its own.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log connections.")] = False,
) -> None:
    """Store every site's events in PostgreSQL, and serve the fleet dashboard."""
    from onsight.fleet.config import load_fleet_config
    from onsight.fleet.ingest import Broker, Ingester
    from onsight.fleet.schema import FleetDatabase

    setup_logging(verbose)
    # The pool logs every failed reconnect; the ingester says once that the database is down.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    try:
        settings, base, secrets = load_fleet_config(config)
    except OnsightError as exc:
        fail(str(exc))
    url = database or settings.database
    broker_url = mqtt or settings.mqtt.url
    if url is None or broker_url is None:
        fail(
            "give the broker and the database: --mqtt mqtt://host:1883 --database postgresql://..."
        )
    secrets = (*secrets, *dsn_secrets(url))
    try:
        broker = Broker.from_url(broker_url)
    except OnsightError as exc:
        fail(str(exc), secrets)
    # The config's password and CA, when it gives them, win over the environment's.
    ca_file = str(base / settings.mqtt.ca_file) if settings.mqtt.ca_file else broker.ca_file
    broker = dataclasses.replace(
        broker, password=settings.mqtt.password or broker.password, ca_file=ca_file
    )
    if broker.password is not None and broker.username is None:
        fail("a broker password is set but the broker URL names no user (mqtt://user@host)")
    try:
        store = FleetDatabase(url)
        store.migrate()
    except OnsightError as exc:
        fail(str(exc), secrets)
    ingester = Ingester(
        broker,
        store,
        prefix=settings.mqtt.topic_prefix,
        sites=settings.allowed_sites(),
        share_group=settings.mqtt.share_group,
        client_id=client_id or settings.mqtt.client_id,
        max_bytes=settings.mqtt.max_message_bytes,
        keep=timedelta(days=settings.events_days),
    )
    err.print(f"onsight fleet: ingesting from {broker} into {dsn_display(url)}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    failure: list[str] = []
    try:
        if web:
            _serve_web(settings, base, url, host, port, ingester, stop, verbose, failure)
        else:
            with contextlib.suppress(KeyboardInterrupt):
                _ingest(ingester, stop, failure)
    finally:
        stop.set()
        store.close()
    stats = ingester.stats
    err.print(
        f"stopped: {stats.stored} events stored, {stats.duplicates} duplicates, "
        f"{stats.dead_lettered} dead-lettered"
    )
    if failure:
        fail(failure[0], secrets)


def _serve_web(
    settings: FleetConfig,
    base: Path,
    url: str,
    host: str,
    port: int,
    ingester: Ingester,
    stop: threading.Event,
    verbose: bool,
    failure: list[str],
) -> None:
    import uvicorn

    from onsight.fleet.web import create_fleet_app
    from onsight.privacy.audit import AuditLog
    from onsight.service.auth import UserStore
    from onsight.service.serve import _is_loopback, _listen

    place = _place(settings, base)
    users = UserStore(place.users)
    if not users.has_users():
        users.close()
        fail(
            "no fleet dashboard users yet, and there is no default password. Create an admin "
            "first:\n  onsight fleet users add NAME --role admin"
            + (" --config FILE" if base != Path.cwd() else "")
            + "\n(or run with --no-web)"
        )
    audit = AuditLog(place.audit)
    listener = _listen(host, port)
    if not _is_loopback(host):
        err.print(
            f"[yellow]warning:[/yellow] serving plain HTTP on {host}; put a TLS proxy in front."
        )
    app = create_fleet_app(
        url,
        users,
        audit,
        stale_after=timedelta(minutes=settings.stale_minutes),
        server=settings.server,
        server_names=[host],
        ingest=ingester.stats,
    )
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="info" if verbose else "warning", access_log=verbose,
                       server_header=False, timeout_graceful_shutdown=3, proxy_headers=False)
    )  # fmt: skip
    worker = threading.Thread(target=_ingest, args=(ingester, stop, failure), name="fleet-ingest")
    worker.start()
    shown = f"[{host}]" if ":" in host else host
    err.print(f"onsight fleet: dashboard on http://{shown}:{port}/ (Ctrl-C to stop)")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[listener])
    finally:
        stop.set()
        worker.join()
        users.close()
        audit.close()


def _ingest(ingester: Ingester, stop: threading.Event, failure: list[str]) -> None:
    """Run the ingester; if it fails, say why and stop the whole server (a dashboard alone
    would show stale figures as if all were well). Nothing unstored was acknowledged."""
    try:
        ingester.run(stop)
    except Exception as exc:
        failure.append(str(exc) if isinstance(exc, OnsightError) else f"ingester failed: {exc!r}")
        if threading.current_thread() is not threading.main_thread():
            signal.raise_signal(signal.SIGTERM)


@fleet_app.command("backfill")
def backfill(
    config: ConfigArg,
    since: Annotated[
        datetime, typer.Option(formats=["%Y-%m-%d"], help="First day (UTC) to send again.")
    ],
    until: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Day (UTC) to stop before; default: now."),
    ] = None,
) -> None:
    """Republish this site's stored events and aggregates from --since (same ids: the fleet
    stores each once), e.g. to seed a new fleet database."""
    from onsight.fleet.backfill import publish, stored_messages

    loaded = load(config)
    mqtt = loaded.config.mqtt
    if mqtt is None:
        fail(f"{config}: no `mqtt:` section; backfill publishes to the site's broker")
    start = _day(since.date())
    end = _day(until.date()) if until is not None else datetime.now(UTC)
    if end <= start:
        fail("--until must be after --since")
    site = loaded.config.site
    try:
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task(f"backfilling {site}", total=None)
            sent = publish(
                stored_messages(loaded.database_path, start, end),
                mqtt,
                site,
                lambda done: progress.update(task, completed=done),
            )
    except OnsightError as exc:
        fail(str(exc), loaded.secrets)
    Console(highlight=False).print(
        f"republished {sent} stored records of site {site} from {start:%Y-%m-%d} "
        f"to {end:%Y-%m-%d %H:%M} UTC"
    )


def _day(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


# -- users: the dashboard's own, beside the fleet config (or in ./onsight-fleet) ------------


def _place(settings: FleetConfig, base: Path) -> UsersPlace:
    from onsight.service.cli import UsersPlace

    folder = Path(settings.data_dir).expanduser()
    folder = folder if folder.is_absolute() else base / folder
    folder.mkdir(parents=True, exist_ok=True)
    return UsersPlace(folder / "users.db", folder / "audit.db")


def _config_place(config: Path | None) -> UsersPlace:
    from onsight.fleet.config import load_fleet_config

    try:
        settings, base, _ = load_fleet_config(config)
    except OnsightError as exc:
        fail(str(exc))
    return _place(settings, base)


Name = Annotated[str, typer.Argument(help="Login name.", show_default=False)]
Stdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from one line of stdin.")
]


@users_app.command("add")
def users_add(
    name: Name,
    config: FleetConfigOption = None,
    role: Annotated[
        Literal["admin", "viewer"], typer.Option(help="admin also sees the dead letters.")
    ] = "viewer",
    password_stdin: Stdin = False,
) -> None:
    """Create a fleet dashboard user (password asked twice, hidden, unless --password-stdin)."""
    from onsight.service.cli import add_user

    add_user(_config_place(config), name, role, password_stdin)


@users_app.command("passwd")
def users_passwd(
    name: Name, config: FleetConfigOption = None, password_stdin: Stdin = False
) -> None:
    """Set a fleet user's new password and end their sessions."""
    from onsight.service.cli import set_password

    set_password(_config_place(config), name, password_stdin)


@users_app.command("list")
def users_list(config: FleetConfigOption = None) -> None:
    """List the fleet dashboard's users."""
    from onsight.service.cli import list_users

    list_users(_config_place(config))


@users_app.command("remove")
def users_remove(name: Name, config: FleetConfigOption = None) -> None:
    """Delete a fleet user and end their sessions."""
    from onsight.service.cli import remove_user

    remove_user(_config_place(config), name)
