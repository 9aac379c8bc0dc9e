"""Live per-camera progress (rich table on a terminal, a periodic line otherwise)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live
from rich.table import Table

from onsight.apps.line_count import KIND as LINES
from onsight.apps.occupancy import KIND as ZONES
from onsight.runtime import CameraPipeline


def progress_table(pipelines: list[CameraPipeline], errors: dict[str, str]) -> Table:
    table = Table(title="onsight", expand=False)
    for column in (
        "camera",
        "status",
        "frames",
        "fps",
        "skipped",
        "lines in/out",
        "zones now/peak",
    ):
        table.add_column(column)
    for p in pipelines:
        table.add_row(
            p.camera.name,
            _status(p, errors),
            str(p.frames),
            f"{p.fps:.1f}",
            f"{p.skip_ratio:.0%}",
            _line_counts(p) or "-",
            _zone_counts(p) or "-",
        )
    return table


def _line_counts(p: CameraPipeline) -> str:
    return ", ".join(
        f"{line.config.name} {line.total('in')}/{line.total('out')}" for line in p.running(LINES)
    )


def _zone_counts(p: CameraPipeline) -> str:
    return ", ".join(f"{z.config.name} {z.current}/{z.peak}" for z in p.running(ZONES))


def _status(p: CameraPipeline, errors: dict[str, str]) -> str:
    name = p.camera.name
    if name in errors:
        return "[red]failed[/red]"
    stats = p.source.stats
    if not p.source.is_live:
        duration = stats.duration_seconds
        return f"{min(1.0, p.last_pts / duration):.0%}" if duration else "running"
    return "connected" if stats.connected else "[yellow]reconnecting[/yellow]"


class Progress:
    """Call `update()` periodically; use as a context manager."""

    def __init__(self, pipelines: list[CameraPipeline], errors: dict[str, str], console: Console):
        self._pipelines, self._errors, self._console = pipelines, errors, console
        self._live: Live | None = None
        self._last_line = 0.0

    def __enter__(self) -> Progress:
        if self._console.is_terminal:
            self._live = Live(self._table(), console=self._console, refresh_per_second=4)
            self._live.__enter__()
        return self

    def _table(self) -> Table:
        return progress_table(self._pipelines, self._errors)

    def update(self) -> None:
        if self._live is not None:
            self._live.update(self._table())
        elif time.monotonic() - self._last_line >= 5.0:
            self._last_line = time.monotonic()
            for p in self._pipelines:
                parts = [f"{p.camera.name}: {p.frames} frames", f"{p.fps:.1f} fps"]
                parts += [f"skipped {p.skip_ratio:.0%}", _status(p, self._errors)]
                if lines := _line_counts(p):
                    parts.append(f"lines in/out {lines}")
                if zones := _zone_counts(p):
                    parts.append(f"zones now/peak {zones}")
                self._console.print(", ".join(parts), highlight=False)

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(None, None, None)
