"""`onsight users add|passwd|list|remove` and `onsight tokens add|list|revoke`.

Every change is recorded in the audit log with the name and role only, never the secret.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from onsight.cli_support import ConfigOption, cli_actor, fail, load
from onsight.errors import OnsightError
from onsight.privacy.audit import AuditAction, AuditLog
from onsight.service.auth import UserStore

users_app = typer.Typer(
    help="Dashboard users (passwords are stored as scrypt hashes).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
tokens_app = typer.Typer(
    help="API tokens for machines (`Authorization: Bearer TOKEN`); stored hashed.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

RoleChoice = Literal["admin", "viewer"]


@dataclass(frozen=True)
class UsersPlace:
    """Where a dashboard's users and audit log live: a site's (from its config) or the
    fleet's (its data folder); `secrets` are values never to print."""

    users: Path
    audit: Path
    secrets: tuple[str, ...] = ()


def _site(config: Path) -> UsersPlace:
    loaded = load(config)
    return UsersPlace(
        loaded.resolve(loaded.config.server.users_db),
        loaded.resolve(loaded.config.privacy.audit_log),
        loaded.secrets,
    )


@contextmanager
def _store(place: UsersPlace) -> Iterator[UserStore]:
    try:
        store = UserStore(place.users)
    except OnsightError as exc:
        fail(str(exc), place.secrets)
    try:
        yield store
    finally:
        store.close()


def _audit(place: UsersPlace, action: AuditAction, **detail: Any) -> None:
    try:
        with AuditLog(place.audit) as audit:
            audit.append(action, actor=cli_actor(), **detail)
    except OnsightError as exc:
        fail(f"the change was made but could not be audited: {exc}", place.secrets)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _new_password(store: UserStore, name: str, from_stdin: bool, *, exists: bool) -> str:
    """The password for `name`, asked only once the user is known to exist (or not)."""
    if any(user.name == name for user in store.users()) != exists:
        fail(f"user {name} {'does not exist' if exists else 'already exists'}")
    return _read_password(from_stdin)


def _print_table(columns: tuple[str, ...], rows: Sequence[tuple[str, ...]], empty: str) -> None:
    out = Console(soft_wrap=True, highlight=False)
    if not rows:
        out.print(Text(empty))
        return
    table = Table()
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text(value) for value in row))
    out.print(table)


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from one line of stdin.")
]


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name.", show_default=False)],
    config: ConfigOption,
    role: Annotated[
        RoleChoice, typer.Option(help="admin may change config; viewer only looks.")
    ] = "viewer",
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a dashboard user; asks for the password twice (hidden) unless --password-stdin."""
    add_user(_site(config), name, role, password_stdin)


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="Login name.", show_default=False)],
    config: ConfigOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a user's new password (asked twice, hidden) and end their sessions."""
    set_password(_site(config), name, password_stdin)


@users_app.command("list")
def users_list(config: ConfigOption) -> None:
    """List users and their roles."""
    list_users(_site(config))


@users_app.command("remove")
def users_remove(
    name: Annotated[str, typer.Argument(help="Login name.", show_default=False)],
    config: ConfigOption,
) -> None:
    """Delete a user and end their sessions."""
    remove_user(_site(config), name)


# The commands' work, shared with `onsight fleet users` (the fleet dashboard's own users).


def add_user(place: UsersPlace, name: str, role: str, password_stdin: bool) -> None:
    with _store(place) as store:
        password = _new_password(store, name, password_stdin, exists=False)
        try:
            user = store.add_user(name, password, role)
        except ValueError as exc:
            fail(str(exc))
    _audit(place, "user_add", name=user.name, role=user.role)
    Console(highlight=False).print(Text(f"added {user.role} {user.name}"))


def set_password(place: UsersPlace, name: str, password_stdin: bool) -> None:
    with _store(place) as store:
        password = _new_password(store, name, password_stdin, exists=True)
        try:
            store.set_password(name, password)
        except ValueError as exc:
            fail(str(exc))
    _audit(place, "user_password", name=name)
    Console(highlight=False).print(Text(f"new password set for {name}; their sessions ended"))


def list_users(place: UsersPlace) -> None:
    with _store(place) as store:
        rows = [(user.name, user.role) for user in store.users()]
    _print_table(("name", "role"), rows, "no users yet: add one with `users add`")


def remove_user(place: UsersPlace, name: str) -> None:
    with _store(place) as store:
        role = next((user.role for user in store.users() if user.name == name), None)
        try:
            store.remove_user(name)
        except ValueError as exc:
            fail(str(exc))
    _audit(place, "user_remove", name=name, role=role)
    Console(highlight=False).print(Text(f"removed user {name}"))


@tokens_app.command("add")
def tokens_add(
    name: Annotated[str, typer.Argument(help="What the token is for.", show_default=False)],
    config: ConfigOption,
    role: Annotated[
        RoleChoice, typer.Option(help="viewer reads the API; admin may also change config.")
    ] = "viewer",
) -> None:
    """Create an API token and print it once."""
    place = _site(config)
    with _store(place) as store:
        try:
            token = store.add_token(name, role)
        except ValueError as exc:
            fail(str(exc))
    _audit(place, "token_add", name=name, role=role)
    # The token alone on stdout (scripts capture it); the note goes to stderr.
    print(token)
    Console(stderr=True, highlight=False).print(
        Text(f"token {name} ({role}): store it now, it cannot be shown again", style="yellow")
    )


@tokens_app.command("list")
def tokens_list(config: ConfigOption) -> None:
    """List tokens (names, roles, when last used; never the tokens themselves)."""
    place = _site(config)
    with _store(place) as store:
        rows = [
            (name, role, created, last_used or "never")
            for name, role, created, last_used in store.token_details()
        ]
    _print_table(
        ("name", "role", "created", "last used"),
        rows,
        "no tokens yet: add one with `onsight tokens add`",
    )


@tokens_app.command("revoke")
def tokens_revoke(
    name: Annotated[str, typer.Argument(help="Token name.", show_default=False)],
    config: ConfigOption,
) -> None:
    """Delete a token; requests using it are refused from now on."""
    place = _site(config)
    with _store(place) as store:
        role = dict(store.tokens()).get(name)
        try:
            store.revoke_token(name)
        except ValueError as exc:
            fail(str(exc))
    _audit(place, "token_revoke", name=name, role=role)
    Console(highlight=False).print(Text(f"revoked token {name}"))
