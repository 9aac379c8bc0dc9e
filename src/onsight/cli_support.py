"""What every `onsight` sub-command shares: error exit, config loading, logging, signals."""

from __future__ import annotations

import getpass
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from onsight.errors import OnsightError
from onsight.ingest.urls import redact_text

if TYPE_CHECKING:
    from onsight.config import LoadedConfig


def fail(message: str, secrets: tuple[str, ...] = ()) -> NoReturn:
    """Print `error: message` (secrets masked) on stderr and exit 1; never a traceback."""
    # Text() rather than markup: messages hold paths and brackets that must print verbatim.
    line = Text("error: ", style="red") + Text(redact_text(message, secrets))
    Console(stderr=True, soft_wrap=True, highlight=False).print(line)
    raise typer.Exit(1)


def load(path: Path, *, require_secrets: bool = True) -> LoadedConfig:
    """Load and validate a config, or exit with its one-line error. `require_secrets=False`
    only for commands that never connect (see `load_config`)."""
    from onsight.config import load_config  # the schema lists every app: load it when needed

    try:
        return load_config(path, require_secrets=require_secrets)
    except OnsightError as exc:
        fail(str(exc))


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="onsight: %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    # The audit head line is a witness (privacy rule 6): always in the log, even when quiet.
    logging.getLogger("onsight.privacy.witness").setLevel(logging.INFO)


def interrupt(signum: int, frame: object) -> None:
    """Signal handler: SIGTERM (a service manager) stops us as cleanly as Ctrl-C does."""
    raise KeyboardInterrupt


def cli_actor() -> str:
    """Who ran a command, for the audit log: ``cli:<login name>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name in the environment or passwd (containers)
        return "cli"


ResetDamagedOption = Annotated[
    bool,
    typer.Option(
        "--reset-damaged-store",
        help="If a database fails its integrity check at start, move it aside (renamed, "
        "never deleted) and start a fresh one, instead of refusing to start.",
    ),
]


ConfigArg = Annotated[Path, typer.Argument(help="Path to the YAML config.", show_default=False)]
ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Path to the YAML config.", show_default=False)
]
