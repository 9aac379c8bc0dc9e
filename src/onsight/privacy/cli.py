"""`onsight audit verify|show` and `onsight notice`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from onsight.cli_support import ConfigArg, ConfigOption
from onsight.cli_support import fail as _fail
from onsight.cli_support import load as _load
from onsight.errors import OnsightError
from onsight.privacy.audit import AuditLog
from onsight.privacy.audit_files import AuditHead

if TYPE_CHECKING:
    from onsight.config import LoadedConfig

audit_app = typer.Typer(
    help="Check and read the append-only audit log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _open_log(loaded: LoadedConfig) -> AuditLog:
    path = loaded.resolve(loaded.config.privacy.audit_log)
    if not path.is_file():
        _fail(
            f"no audit log at {path} yet: nothing has been recorded with this config "
            "(privacy.audit_log)",
            loaded.secrets,
        )
    try:
        return AuditLog(path, upgrade=False)  # reading never makes a key or a record
    except OnsightError as exc:
        _fail(str(exc), loaded.secrets)


def _witnessed(
    log: AuditLog, given: list[str], loaded: LoadedConfig
) -> list[tuple[str, AuditHead]]:
    """The heads to check the log against: each --head, then `<audit_log>.head`."""
    heads: list[tuple[str, AuditHead]] = []
    try:
        heads += [("from --head", AuditHead.parse(text)) for text in given]
        stored = log.stored_head()
    except (ValueError, OnsightError) as exc:
        log.close()
        _fail(f"--head: {exc}" if isinstance(exc, ValueError) else str(exc), loaded.secrets)
    if stored is not None:
        heads.append((f"from {log.head_path.name}", stored))
    return heads


@audit_app.command("verify")
def verify(
    config: ConfigOption,
    head: Annotated[
        list[str] | None,
        typer.Option(
            "--head",
            help="A head SEQ:HASH seen earlier (MQTT `.../status/audit`, the `audit head` log "
            "line); records deleted after it are reported. Repeatable. `<audit_log>.head` is "
            "always checked too.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Recompute the keyed hash chain and compare it with the witnessed heads; exit 1 and
    name the first broken or missing record if the log was tampered with or truncated."""
    loaded = _load(config, require_secrets=False)
    with _open_log(loaded) as log:
        heads = _witnessed(log, head or [], loaded)
        try:
            verdict = log.verify(heads)
        except OnsightError as exc:  # e.g. the key file went missing since it was opened
            _fail(str(exc), loaded.secrets)
    out = Console(soft_wrap=True, highlight=False)
    if verdict.ok:
        checked = (
            f"; matches the witnessed head ({', '.join(source for source, _ in heads)})"
            if heads
            else "; no witnessed head to check truncation against (pass --head SEQ:HASH)"
        )
        out.print(Text(f"ok: {verdict.records} records, {verdict.reason}{checked}", style="green"))
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
    with _open_log(_load(config, require_secrets=False)) as log:
        records = log.tail(limit)
    table = Table()
    for column in ("seq", "time", "action", "actor", "detail"):
        table.add_column(column, overflow="fold")
    for r in records:
        # Text() so stored strings are shown literally, never as rich markup.
        table.add_row(str(r.seq), Text(r.time), Text(r.action), Text(r.actor), Text(r.detail))
    Console(soft_wrap=True).print(table)


def notice_command(
    config: ConfigArg,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the HTML here instead of to stdout.")
    ] = None,
) -> None:
    """Write the printable transparency notice (HTML) for the people on site."""
    loaded = _load(config)
    from onsight.privacy.notice import render_notice  # the notice lists every app kind

    html = render_notice(loaded.config, datetime.now(UTC))
    if out is None:
        sys.stdout.write(html)
        return
    try:
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write notice {out}: {exc.strerror or exc}", loaded.secrets)
    Console(stderr=True, soft_wrap=True, highlight=False).print(Text(f"notice written to {out}"))
