"""The fleet database's DDL: its own tables (numbered migrations), each app kind's table
made and widened from the registry, its monthly partitions, and dropping what has expired."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from onsight.apps import registry
from onsight.apps.base import Column, EventType

PG_TYPES: dict[str, LiteralString] = {
    "TEXT": "text",
    "INTEGER": "bigint",
    "REAL": "double precision",
}

# The fleet's own tables; an app kind's table is made (and widened) from the registry.
MIGRATIONS: tuple[LiteralString, ...] = (
    """
    CREATE TABLE sites (
        site text PRIMARY KEY,
        first_seen timestamptz NOT NULL,
        last_message timestamptz NOT NULL,
        last_event timestamptz,
        status text
    );
    CREATE TABLE cameras (
        site text NOT NULL,
        camera text NOT NULL,
        last_message timestamptz NOT NULL,
        PRIMARY KEY (site, camera)
    );
    CREATE TABLE dead_letters (
        seq bigserial PRIMARY KEY,
        received timestamptz NOT NULL,
        topic text NOT NULL,
        reason text NOT NULL,
        size integer NOT NULL,
        payload bytea NOT NULL
    );
    CREATE TABLE fleet_app_schema (kind text PRIMARY KEY, version integer NOT NULL);
    """,
)


def migrate_kind(conn: psycopg.Connection[tuple[Any, ...]], spec: EventType) -> None:
    """Create the kind's partitioned table, or add the registry's newer columns (nullable)."""
    table = sql.Identifier(spec.table)
    time = sql.Identifier(spec.time_column)
    existing = {
        str(row[0])
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (spec.table,),
        )
    }
    if not existing:
        parts = [
            sql.SQL("id uuid NOT NULL"),
            sql.SQL("site text NOT NULL"),
            sql.SQL("{} timestamptz NOT NULL").format(time),
            sql.SQL("camera text NOT NULL"),
            sql.SQL("{} text NOT NULL").format(sql.Identifier(spec.name_column)),
        ]
        parts += [column_sql(column, new=True) for column in spec.columns]
        parts.append(sql.SQL("PRIMARY KEY (id, {})").format(time))
        conn.execute(
            sql.SQL("CREATE TABLE {} ({}) PARTITION BY RANGE ({})").format(
                table, sql.SQL(", ").join(parts), time
            )
        )
        conn.execute(
            sql.SQL("CREATE INDEX {} ON {} (site, camera, {})").format(
                sql.Identifier(f"{spec.table}_site_camera_time"), table, time
            )
        )
    else:
        for column in spec.columns:
            if column.name not in existing:
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(
                        table, column_sql(column, new=False)
                    )
                )
    version = 1 + len(spec.migrations)
    conn.execute(
        "INSERT INTO fleet_app_schema (kind, version) VALUES (%s, %s) "
        "ON CONFLICT (kind) DO UPDATE SET version = excluded.version",
        (spec.kind, version),
    )


def column_sql(column: Column, *, new: bool) -> sql.Composed:
    """A column's definition; one added to an existing table is nullable (old rows lack it).
    The registry's CHECK expressions are plain SQL that SQLite and PostgreSQL both read."""
    null = sql.SQL(" NOT NULL" if new and not column.nullable else "")
    check = sql.SQL(" CHECK ({})").format(sql.SQL(column.check)) if column.check else sql.SQL("")
    return sql.SQL("{} {}{}{}").format(
        sql.Identifier(column.name), sql.SQL(PG_TYPES[column.sql]), null, check
    )


def value_names(spec: EventType) -> list[str]:
    """The columns a row of this kind carries besides `id` and `site`."""
    return [spec.time_column, "camera", spec.name_column, *(c.name for c in spec.columns)]


def partition_name(table: str, year: int, month: int) -> str:
    return f"{table}_y{year:04d}m{month:02d}"


def month_range(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    return start, datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def drop_expired(
    conn: psycopg.Connection[tuple[Any, ...]], cutoff: datetime, partition_lock: tuple[int, int]
) -> dict[str, int]:
    """Delete every row older than `cutoff`: whole months by dropping their partitions (cheap,
    and the reason the tables are partitioned), the rest of the boundary month by DELETE.
    Each step is a short transaction of its own, tables in name order (as inserts take them),
    so ingest and the dashboard wait at most one step. Rows deleted per table; dead letters
    expire with the rest. `conn` is in autocommit mode."""
    dropped: dict[str, int] = {}
    for spec in sorted(registry.event_types(), key=lambda spec: spec.table):
        count = 0
        for name in _expired_partitions(conn, spec.table, cutoff):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", partition_lock)
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))
                ).fetchone()
                count += int(row[0]) if row else 0
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
        with conn.transaction():
            deleted = conn.execute(
                sql.SQL("DELETE FROM {} WHERE {} < %s").format(
                    sql.Identifier(spec.table), sql.Identifier(spec.time_column)
                ),
                (cutoff,),
            )
        dropped[spec.table] = count + deleted.rowcount
    letters = conn.execute("DELETE FROM dead_letters WHERE received < %s", (cutoff,))
    dropped["dead_letters"] = letters.rowcount
    return dropped


def _expired_partitions(
    conn: psycopg.Connection[tuple[Any, ...]], table: str, cutoff: datetime
) -> list[str]:
    """The monthly partitions of `table` that end at or before `cutoff`."""
    partitions = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY 1",
        (table,),
    ).fetchall()
    expired = []
    for (name,) in partitions:
        year, _, month = str(name).removeprefix(f"{table}_y").partition("m")
        if year.isdigit() and month.isdigit() and month_range(int(year), int(month))[1] <= cutoff:
            expired.append(str(name))
    return expired
