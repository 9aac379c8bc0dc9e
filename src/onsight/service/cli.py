"""`onsight users add|passwd|list|remove` and `onsight tokens add|list|revoke`.

Every change is recorded in the audit log with the name and role only, never the secret.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from onsight.cli_support import ConfigOption, cli_actor, fail, load
from onsight.errors import OnsightError
from onsight.privacy.audit import AuditAction, AuditLog
from onsight.service.auth import UserStore

if TYPE_CHECKING:
    from onsight.config import LoadedConfig

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


@contextmanager
def _store(loaded: LoadedConfig) -> Iterator[UserStore]:
    try:
        store = UserStore(loaded.resolve(loaded.config.server.users_db))
    except OnsightError as exc:
        fail(str(exc), loaded.secrets)
    try:
        yield store
    finally:
        store.close()


def _audit(loaded: LoadedConfig, action: AuditAction, **detail: Any) -> None:
    try:
        with AuditLog(loaded.resolve(loaded.config.privacy.audit_log)) as audit:
            audit.append(action, actor=cli_actor(), **detail)
    except OnsightError as exc:
        fail(f"the change was made but could not be audited: {exc}", loaded.secrets)


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
    loaded = load(config)
    with _store(loaded) as store:
        password = _new_password(store, name, password_stdin, exists=False)
        try:
            user = store.add_user(name, password, role)
        except ValueError as exc:
            fail(str(exc))
    _audit(loaded, "user_add", name=user.name, role=user.role)
    Console(highlight=False).print(Text(f"added {user.role} {user.name}"))


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="Login name.", show_default=False)],
    config: ConfigOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a user's new password (asked twice, hidden) and end their sessions."""
    loaded = load(config)
    with _store(loaded) as store:
        password = _new_password(store, name, password_stdin, exists=True)
        try:
            store.set_password(name, password)
        except ValueError as exc:
            fail(str(exc))
    _audit(loaded, "user_password", name=name)
    Console(highlight=False).print(Text(f"new password set for {name}; their sessions ended"))


@users_app.command("list")
def users_list(config: ConfigOption) -> None:
    """List users and their roles."""
    loaded = load(config)
    with _store(loaded) as store:
        rows = [(user.name, user.role) for user in store.users()]
    _print_table(("name", "role"), rows, "no users yet: add one with `onsight users add`")


@users_app.command("remove")
def users_remove(
    name: Annotated[str, typer.Argument(help="Login name.", show_default=False)],
    config: ConfigOption,
) -> None:
    """Delete a user and end their sessions."""
    loaded = load(config)
    with _store(loaded) as store:
        role = next((user.role for user in store.users() if user.name == name), None)
        try:
            store.remove_user(name)
        except ValueError as exc:
            fail(str(exc))
    _audit(loaded, "user_remove", name=name, role=role)
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
    loaded = load(config)
    with _store(loaded) as store:
        try:
            token = store.add_token(name, role)
        except ValueError as exc:
            fail(str(exc))
    _audit(loaded, "token_add", name=name, role=role)
    # The token alone on stdout (scripts capture it); the note goes to stderr.
    print(token)
    Console(stderr=True, highlight=False).print(
        Text(f"token {name} ({role}): store it now, it cannot be shown again", style="yellow")
    )


@tokens_app.command("list")
def tokens_list(config: ConfigOption) -> None:
    """List tokens (names, roles, when last used; never the tokens themselves)."""
    loaded = load(config)
    with _store(loaded) as store:
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
    loaded = load(config)
    with _store(loaded) as store:
        role = dict(store.tokens()).get(name)
        try:
            store.revoke_token(name)
        except ValueError as exc:
            fail(str(exc))
    _audit(loaded, "token_revoke", name=name, role=role)
    Console(highlight=False).print(Text(f"revoked token {name}"))
