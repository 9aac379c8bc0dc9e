"""`onsight thermal ...`: read radiometric files, evaluate screening rules."""

from __future__ import annotations

import typer

thermal_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)

# --- read (formats helper) ---

# --- evaluate (screening helper) ---
