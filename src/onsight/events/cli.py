"""`onsight backup CONFIG --out PATH`: online copies of the event store and the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from onsight.cli_support import ConfigArg, cli_actor, fail, load, setup_logging
from onsight.errors import OnsightError


def backup_command(
    config: ConfigArg,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="A folder for both copies (a name without a suffix is a folder, made when "
            "missing), or the event store copy's file, e.g. b.db (the audit log's: b.audit.db).",
            show_default=False,
        ),
    ],
) -> None:
    """Copy the event store and the audit log consistently (SQLite backup API), also while
    `onsight run` or `serve` is writing them. Each copy is checked, then renamed into place."""
    setup_logging(False)
    from onsight.events.databases import backup_databases
    from onsight.privacy.audit import AuditLog

    loaded = load(config, require_secrets=False)  # never connects: no camera secrets needed
    try:
        copies = backup_databases(loaded, out)
        with AuditLog(loaded.resolve(loaded.config.privacy.audit_log)) as audit:
            audit.append(
                "export",
                actor=cli_actor(),
                format="sqlite backup",
                out=[str(target.resolve()) for _, target in copies],
            )
    except OnsightError as exc:
        fail(str(exc), loaded.secrets)
    console = Console(soft_wrap=True, highlight=False)
    for file, target in copies:
        console.print(Text(f"{file.what}: {file.path} -> {target}"))
