"""`onsight audit verify|show` and `onsight notice`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from onsight.cli_support import fail as _fail
from onsight.cli_support import load as _load
from onsight.config import LoadedConfig
from onsight.errors import OnsightError
from onsight.privacy.audit import AuditLog
from onsight.privacy.notice import render_notice

audit_app = typer.Typer(
    help="Check and read the append-only audit log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Path to the YAML config.", show_default=False)
]


def _open_log(loaded: LoadedConfig) -> AuditLog:
    path = loaded.resolve(loaded.config.privacy.audit_log)
    if not path.is_file():
        _fail(
            f"no audit log at {path} yet: nothing has been recorded with this config "
            "(privacy.audit_log)",
            loaded.secrets,
        )
    try:
        return AuditLog(path)
    except OnsightError as exc:
        _fail(str(exc), loaded.secrets)


@audit_app.command("verify")
def verify(config: ConfigOption) -> None:
    """Recompute the hash chain; exit 1 and name the first broken record if it was tampered."""
    with _open_log(_load(config)) as log:
        verdict = log.verify()
    out = Console(soft_wrap=True, highlight=False)
    if verdict.ok:
        out.print(Text(f"ok: {verdict.records} records, chain intact", style="green"))
        return
    out.print(
        Text(f"audit log broken at record {verdict.first_broken}: {verdict.reason}", style="red")
    )
    raise typer.Exit(1)


@audit_app.command("show")
def show(
    config: ConfigOption,
    limit: Annotated[int, typer.Option(min=1, help="How many of the latest records.")] = 20,
) -> None:
    """Print the latest records, oldest first (run `verify` to check they are genuine)."""
    with _open_log(_load(config)) as log:
        records = log.tail(limit)
    table = Table()
    for column in ("seq", "time", "action", "actor", "detail"):
        table.add_column(column, overflow="fold")
    for r in records:
        # Text() so stored strings are shown literally, never as rich markup.
        table.add_row(str(r.seq), Text(r.time), Text(r.action), Text(r.actor), Text(r.detail))
    Console(soft_wrap=True).print(table)


def notice_command(
    config: Annotated[Path, typer.Argument(help="Path to the YAML config.", show_default=False)],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the HTML here instead of to stdout.")
    ] = None,
) -> None:
    """Write the printable transparency notice (HTML) for the people on site."""
    loaded = _load(config)
    html = render_notice(loaded.config, datetime.now(UTC))
    if out is None:
        sys.stdout.write(html)
        return
    try:
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write notice {out}: {exc.strerror or exc}", loaded.secrets)
    Console(stderr=True, soft_wrap=True, highlight=False).print(Text(f"notice written to {out}"))
