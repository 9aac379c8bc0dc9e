"""The fleet's PostgreSQL: its tables, their migrations, and storing batches of events.

Every registered event type gets one table (`EventType.table`), partitioned by month on its
time column, keyed by the event's id and time so a message delivered twice is stored once.
`sites`, `cameras` and `dead_letters` record who sent what, and what could not be read.
Like the site store, no column holds a track id, a person, a face, an image or a path.

Connection failures raise `FleetDatabaseUnavailable` (the caller keeps its batch and retries);
any other error a user can cause (wrong password, no such database) is an `OnsightError`.
Neither ever shows the URL's password.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from weakref import WeakKeyDictionary

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from onsight.apps import registry
from onsight.apps.base import EventType, Value
from onsight.errors import OnsightError
from onsight.fleet.ddl import (
    MIGRATIONS,
    PG_TYPES,
    drop_expired,
    migrate_kind,
    month_range,
    partition_name,
    value_names,
)
from onsight.fleet.dsn import CONNECTION_OPTIONS, dsn_display, dsn_secrets
from onsight.ingest.urls import redact_text

TOPIC_LIMIT = 512  # characters of a dead letter's topic kept
PAYLOAD_LIMIT = 1024  # bytes of a dead letter's payload kept
REASON_LIMIT = 1024
# pg_advisory(_xact)_lock(namespace, key): migrations, and making partitions
_LOCKS = 0x0F1E
_MIGRATE_LOCK = 1
_PARTITION_LOCK = 2
# What the database says about a row's values (a CHECK, NOT NULL, out of range, a value of
# the wrong type): that row is refused, the rest of its batch stored.
_REFUSED: tuple[type[Exception], ...] = (
    psycopg.DataError,
    psycopg.IntegrityError,
    psycopg.errors.DatatypeMismatch,
    UnicodeError,  # text psycopg cannot send (a lone surrogate): that row's problem only
    ValueError,
    TypeError,
)
# The server cannot take writes now (down, restarting, a read-only standby after a failover):
# the caller keeps its batch and tries again.
_UNAVAILABLE = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.ReadOnlySqlTransaction,
)
_NO_PARTITION = "no partition of relation"  # the message of SQLSTATE 23514 for a lost month
_LOGIN_REFUSED = re.compile(
    r"authentication failed|pg_hba\.conf|does not exist|no password supplied|invalid (uri|"
    r"connection option|sslmode)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class FleetRow:
    """One event of one site, ready to store."""

    kind: str  # event kind, e.g. "crossing"
    site: str
    id: uuid.UUID  # the event id
    # as EventType.record(): time column (aware UTC datetime), "camera", name column, columns
    values: dict[str, Value | datetime]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message the ingester could not store, kept (truncated) for a person to look at."""

    received: datetime
    topic: str
    reason: str
    payload: bytes


@dataclass(slots=True)
class InsertResult:
    inserted: int = 0
    duplicates: int = 0
    refused: list[tuple[FleetRow, str]] = field(default_factory=list)


class FleetDatabaseUnavailable(OnsightError):
    """The database cannot be reached now; nothing of the failed call was stored."""


class FleetDatabase:
    """The fleet's database, through a small pool of connections."""

    def __init__(self, url: str, *, pool_size: int = 4, timeout: float = 10.0) -> None:
        self._url = url
        self._secrets = dsn_secrets(url)
        self._timeout = timeout
        self._partitions: set[tuple[str, int, int]] = set()
        # per pooled connection: the kinds whose temporary stage table it has
        self._stages: WeakKeyDictionary[psycopg.Connection[tuple[Any, ...]], set[str]] = (
            WeakKeyDictionary()
        )
        try:  # one direct connection first: a wrong password or database fails fast, clearly
            psycopg.connect(url, connect_timeout=max(2, round(timeout))).close()
        except psycopg.Error as exc:
            raise self._error(exc) from None
        self._pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, **CONNECTION_OPTIONS},
            check=ConnectionPool.check_connection,
            timeout=timeout,
            name="onsight-fleet",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise self._error(exc) from None

    # -- schema ----------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema up to date; several ingesters may call this at once."""
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCKS, _MIGRATE_LOCK))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS fleet_migrations "
                "(version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"
            )
            row = conn.execute("SELECT coalesce(max(version), 0) FROM fleet_migrations").fetchone()
            done = int(row[0]) if row else 0
            for version, statement in enumerate(MIGRATIONS[done:], start=done + 1):
                conn.execute(statement)
                conn.execute("INSERT INTO fleet_migrations (version) VALUES (%s)", (version,))
            for spec in registry.event_types():
                migrate_kind(conn, spec)

    # -- writing ---------------------------------------------------------------------------

    def insert(self, rows: Sequence[FleetRow], received: datetime) -> InsertResult:
        """Store a batch in one transaction; duplicates are counted, rows the database refuses
        are returned with the reason, the rest is stored."""
        result = self._insert_once(rows, received)
        lost = [row for row, why in result.refused if _NO_PARTITION in why]
        if lost:  # a partition this process thought it had was dropped (retention): make it
            self._partitions.clear()
            result.refused = [(row, why) for row, why in result.refused if _NO_PARTITION not in why]
            again = self._insert_once(lost, received)
            result.inserted += again.inserted
            result.duplicates += again.duplicates
            result.refused += again.refused
        return result

    def _insert_once(self, rows: Sequence[FleetRow], received: datetime) -> InsertResult:
        result = InsertResult()
        groups: dict[str, list[FleetRow]] = {}
        specs: dict[str, EventType] = {}
        for row in rows:
            problem = _problem(row, specs)
            if problem:
                result.refused.append((row, problem))
            else:
                groups.setdefault(row.kind, []).append(row)
        if not groups:
            return result
        with self._connection() as conn:
            self._ensure_partitions(conn, [(specs[k], r) for k, g in groups.items() for r in g])
            self._ensure_stages(conn, [specs[kind] for kind in groups])
            with conn.transaction():
                # one order for every ingester and for retention (tables, then ids, then
                # sites): no deadlock between them
                for kind in sorted(groups, key=lambda kind: specs[kind].table):
                    _insert_kind(conn, specs[kind], sorted(groups[kind], key=_by_id), result)
                refused = {id(row) for row, _ in result.refused}
                stored = [
                    row for group in groups.values() for row in group if id(row) not in refused
                ]
                _touch(conn, stored, received)
        return result

    def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        params = [
            (
                letter.received,
                letter.topic[:TOPIC_LIMIT],
                letter.reason[:REASON_LIMIT],
                len(letter.payload),
                letter.payload[:PAYLOAD_LIMIT],
            )
            for letter in letters
        ]
        with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dead_letters (received, topic, reason, size, payload) "
                "VALUES (%s, %s, %s, %s, %s)",
                params,
            )

    def set_site_status(self, site: str, status: str | None, received: datetime) -> None:
        """The site was heard from; `status` None keeps the status it had."""
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO sites AS s (site, first_seen, last_message, status) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (site) DO UPDATE SET "
                "status = coalesce(excluded.status, s.status), "
                "last_message = greatest(s.last_message, excluded.last_message)",
                (site, received, received, status),
            )

    def expire(self, cutoff: datetime) -> dict[str, int]:
        """Delete everything older than `cutoff` (retention); rows deleted per table."""
        with self._connection() as conn:
            dropped = drop_expired(conn, cutoff, (_LOCKS, _PARTITION_LOCK))
        self._partitions = {p for p in self._partitions if month_range(p[1], p[2])[1] > cutoff}
        return dropped

    # -- reading ---------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per event table."""
        found: dict[str, int] = {}
        with self._connection() as conn:
            for spec in registry.event_types():
                query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(spec.table))
                row = conn.execute(query).fetchone()
                found[spec.table] = int(row[0]) if row else 0
        return found

    def close(self) -> None:
        self._pool.close()

    # -- private ---------------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        try:
            with self._pool.connection(timeout=self._timeout) as conn:
                yield conn
        except (*_UNAVAILABLE, PoolTimeout) as exc:
            raise self._error(exc) from None

    def _ensure_partitions(
        self, conn: psycopg.Connection[tuple[Any, ...]], rows: list[tuple[EventType, FleetRow]]
    ) -> None:
        """Make the monthly partitions these rows need, in a short transaction of their own:
        making one locks the whole table, which must not last for the batch's transaction."""
        needed: set[tuple[str, int, int]] = set()
        for spec, row in rows:
            when = _utc(cast(datetime, row.values[spec.time_column]))
            needed.add((spec.table, when.year, when.month))
        missing = sorted(needed - self._partitions)
        if not missing:
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCKS, _PARTITION_LOCK))
            for table, year, month in missing:
                start, end = month_range(year, month)
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
                    ).format(
                        sql.Identifier(partition_name(table, year, month)),
                        sql.Identifier(table),
                        sql.Literal(start),
                        sql.Literal(end),
                    )
                )
        self._partitions |= set(missing)

    def _ensure_stages(
        self, conn: psycopg.Connection[tuple[Any, ...]], specs: list[EventType]
    ) -> None:
        """Make this connection's temporary tables for these kinds (once per connection)."""
        made = self._stages.setdefault(conn, set())
        for spec in specs:
            if spec.kind not in made:
                conn.execute(_create_stage(spec))
                made.add(spec.kind)

    def _error(self, exc: BaseException) -> OnsightError:
        lines = str(exc).strip().splitlines()
        detail = redact_text(lines[0] if lines else type(exc).__name__, self._secrets)
        where = dsn_display(self._url)
        if _misconfigured(exc):
            return OnsightError(f"fleet database {where}: {detail}")
        kind = type(exc).__name__
        return FleetDatabaseUnavailable(f"fleet database {where} unavailable ({kind}): {detail}")


def _misconfigured(exc: BaseException) -> bool:
    """A wrong URL, user, password or database name (which retrying will not fix), rather
    than a server that is down or restarting. libpq gives no SQLSTATE for a refused login,
    so its (server's) message is read too."""
    if isinstance(exc, PoolTimeout):
        return False
    if not isinstance(exc, _UNAVAILABLE):
        return True  # e.g. a malformed URL
    sqlstate = getattr(exc, "sqlstate", None) or ""
    # 28: bad user or password, 3D: no such database
    return sqlstate[:2] in ("28", "3D") or bool(_LOGIN_REFUSED.search(str(exc)))


def _by_id(row: FleetRow) -> uuid.UUID:
    return row.id


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _problem(row: FleetRow, specs: dict[str, EventType]) -> str:
    """Why a row cannot even be sent (unknown kind, a missing value), or ""."""
    spec = specs.get(row.kind)
    if spec is None:
        try:
            spec = specs[row.kind] = registry.event_type(row.kind)
        except KeyError:
            return f"unknown event kind {row.kind!r}"
    names = value_names(spec)
    absent = [name for name in names if name not in row.values]
    if absent:
        return f"missing {', '.join(absent)}"
    if not isinstance(row.values[spec.time_column], datetime):
        return f"{spec.time_column} is not a time"
    return ""


def _insert_query(spec: EventType) -> sql.Composed:
    names = ["id", "site", *value_names(spec)]
    return sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id, {}) DO NOTHING").format(
        sql.Identifier(spec.table),
        sql.SQL(", ").join(sql.Identifier(name) for name in names),
        sql.SQL(", ").join(sql.Placeholder() * len(names)),
        sql.Identifier(spec.time_column),
    )


def _stage_name(spec: EventType) -> str:
    return f"_fleet_in_{spec.table}"


def _create_stage(spec: EventType) -> sql.Composed:
    """A session's temporary table a batch of one kind is copied into (no constraints: the
    real table's are checked by the INSERT ... SELECT from it)."""
    types = {spec.time_column: "timestamptz"} | {c.name: PG_TYPES[c.sql] for c in spec.columns}
    columns = [
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(types.get(name, "text")))
        for name in value_names(spec)
    ]
    return sql.SQL(
        "CREATE TEMPORARY TABLE IF NOT EXISTS {} (id uuid, site text, {}) ON COMMIT DELETE ROWS"
    ).format(sql.Identifier(_stage_name(spec)), sql.SQL(", ").join(columns))


def _copy_rows(
    cur: psycopg.Cursor[tuple[Any, ...]], spec: EventType, params: list[tuple[Any, ...]]
) -> int:
    """COPY the rows into the kind's stage, then move the new ones into its table: about
    twice as fast as a pipelined executemany of the INSERT for batches of 200-1000."""
    names = sql.SQL(", ").join(sql.Identifier(name) for name in ("id", "site", *value_names(spec)))
    stage = sql.Identifier(_stage_name(spec))
    with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, names)) as copy:
        for values in params:
            copy.write_row(values)
    cur.execute(
        sql.SQL(
            "INSERT INTO {table} ({names}) SELECT {names} FROM {stage} "
            "ON CONFLICT (id, {time}) DO NOTHING"
        ).format(
            table=sql.Identifier(spec.table),
            names=names,
            stage=stage,
            time=sql.Identifier(spec.time_column),
        )
    )
    return cur.rowcount


def _insert_kind(
    conn: psycopg.Connection[tuple[Any, ...]],
    spec: EventType,
    rows: list[FleetRow],
    result: InsertResult,
) -> None:
    """Insert one kind's rows; if the database refuses any, retry them one by one in
    savepoints so only those are left out."""
    names = value_names(spec)
    params = [(row.id, row.site, *(row.values[name] for name in names)) for row in rows]
    try:
        with conn.transaction(), conn.cursor() as cur:
            inserted = _copy_rows(cur, spec, params)
        result.inserted += inserted
        result.duplicates += len(rows) - inserted
        return
    except _REFUSED:
        pass
    query = _insert_query(spec)
    with conn.cursor() as cur:
        for row, values in zip(rows, params, strict=True):
            try:
                with conn.transaction():
                    cur.execute(query, values)
            except _REFUSED as exc:
                result.refused.append((row, _reason(exc)))
                continue
            result.inserted += cur.rowcount
            result.duplicates += 1 - cur.rowcount


def _reason(exc: Exception) -> str:
    """The database's one-line reason; for a value psycopg could not even send, only the
    error's kind (its text may hold the very characters that could not be sent)."""
    if isinstance(exc, psycopg.Error):
        reason = exc.diag.message_primary or type(exc).__name__
        return redact_text(reason)[:REASON_LIMIT]
    return f"a value that cannot be stored ({type(exc).__name__})"


def _touch(
    conn: psycopg.Connection[tuple[Any, ...]], rows: list[FleetRow], received: datetime
) -> None:
    """Record when each site and camera was last heard from."""
    sites = sorted({row.site for row in rows})
    cameras = sorted({(row.site, str(row.values["camera"])) for row in rows})
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO sites AS s (site, first_seen, last_message, last_event) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (site) DO UPDATE SET "
            "last_message = greatest(s.last_message, excluded.last_message), "
            "last_event = greatest(s.last_event, excluded.last_event)",
            [(site, received, received, received) for site in sites],
        )
        cur.executemany(
            "INSERT INTO cameras AS c (site, camera, last_message) VALUES (%s, %s, %s) "
            "ON CONFLICT (site, camera) DO UPDATE SET "
            "last_message = greatest(c.last_message, excluded.last_message)",
            [(site, camera, received) for site, camera in cameras],
        )
