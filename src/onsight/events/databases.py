"""A config's SQLite files at start-up (damaged ones are moved aside) and their online backup."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from onsight.config import LoadedConfig
from onsight.errors import OnsightError
from onsight.sqlite import backup, integrity_problem, move_aside

log = logging.getLogger(__name__)

RESET_FLAG = "--reset-damaged-store"


@dataclass(frozen=True)
class DatabaseFile:
    what: str  # "event database", as errors name it
    path: Path


def config_databases(loaded: LoadedConfig, *, users: bool = True) -> list[DatabaseFile]:
    """The event store, the audit log and (when `users`) the dashboard users database."""
    config = loaded.config
    files = [
        DatabaseFile("event database", loaded.database_path),
        DatabaseFile("audit log", loaded.resolve(config.privacy.audit_log)),
    ]
    if users:
        files.append(DatabaseFile("users database", loaded.resolve(config.server.users_db)))
    return files


def check_databases(files: list[DatabaseFile], *, reset: bool) -> list[str]:
    """Run ``PRAGMA integrity_check`` on each existing file before anything opens it.

    A damaged file (or one that is not a database) raises one line naming it and the flag,
    unless `reset`: then it is renamed aside (never deleted) so that a fresh one is made, and
    the returned lines say where each went.
    """
    moved: list[str] = []
    for file in files:
        problem = integrity_problem(file.path)
        if problem is None:
            continue
        if not reset:
            raise OnsightError(
                f"{file.what} {file.path} is damaged ({problem}); nothing was changed. "
                f"Restore it from a backup, or start with {RESET_FLAG} to move it aside and "
                "start a fresh one"
            )
        try:
            target = move_aside(file.path, datetime.now(UTC))
        except OSError as exc:
            raise OnsightError(
                f"cannot move the damaged {file.what} {file.path} aside: {exc}"
            ) from None
        message = (
            f"{file.what} {file.path} was damaged ({problem}); moved it to {target} and "
            "started a fresh one"
        )
        log.warning("%s", message)
        moved.append(message)
    return moved


def backup_targets(loaded: LoadedConfig, out: Path) -> list[tuple[DatabaseFile, Path]]:
    """Where `onsight backup --out OUT` copies the event store and the audit log.

    OUT a folder (one that exists, or a name without a suffix: made when missing): both
    files go into it under their own names. Otherwise OUT (e.g. ``b.db``) is the event
    store's copy, and the audit log's goes beside it (``b.audit.db``).
    """
    store, audit = config_databases(loaded, users=False)
    if out.is_dir() or not out.suffix:
        if store.path.name == audit.path.name:
            return [(store, out / store.path.name), (audit, out / f"audit-{audit.path.name}")]
        return [(store, out / store.path.name), (audit, out / audit.path.name)]
    return [(store, out), (audit, out.with_name(f"{out.stem}.audit{out.suffix}"))]


def backup_databases(loaded: LoadedConfig, out: Path) -> list[tuple[DatabaseFile, Path]]:
    """Consistent online copies of the event store and the audit log (see `backup_targets`);
    safe while `onsight run` or `serve` writes them."""
    targets = backup_targets(loaded, out)
    sources = {file.path.resolve() for file, _ in targets}
    for _, target in targets:
        if target.resolve() in sources:
            raise OnsightError(f"--out {out}: would overwrite the database it copies")
    for file, target in targets:
        backup(file.path, target, file.what)
    return targets
