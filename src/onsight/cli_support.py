"""What every `onsight` sub-command shares: the one-line error exit and config loading."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from onsight.config import LoadedConfig, load_config
from onsight.errors import OnsightError
from onsight.ingest.urls import redact_text


def fail(message: str, secrets: tuple[str, ...] = ()) -> NoReturn:
    """Print `error: message` (secrets masked) on stderr and exit 1; never a traceback."""
    # Text() rather than markup: messages hold paths and brackets that must print verbatim.
    line = Text("error: ", style="red") + Text(redact_text(message, secrets))
    Console(stderr=True, soft_wrap=True, highlight=False).print(line)
    raise typer.Exit(1)


def load(path: Path) -> LoadedConfig:
    """Load and validate a config, or exit with its one-line error."""
    try:
        return load_config(path)
    except OnsightError as exc:
        fail(str(exc))
