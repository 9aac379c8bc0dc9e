"""A PostgreSQL connection string as the fleet shows and hides it.

libpq takes a password in the user-info (`postgresql://user:pw@host/db`), as a query
parameter (`?password=pw`) or as a keyword (`host=db password=pw`): every form is hidden.
"""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict

from onsight.ingest.urls import redact_url, url_secrets

# libpq options for the fleet's connections: a dead peer is noticed within about a minute
# instead of a connection hanging forever, and no statement waits on a lock for ever.
CONNECTION_OPTIONS: dict[str, object] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,  # ms
    "options": "-c TimeZone=UTC -c statement_timeout=120s -c lock_timeout=30s",
}


def dsn_secrets(dsn: str) -> tuple[str, ...]:
    """Every spelling of the password in `dsn` that could show up in a message."""
    found = set(url_secrets(dsn))
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        password = None
    if password:
        found.add(str(password))
    return tuple(sorted(found, key=len, reverse=True))


def dsn_display(dsn: str) -> str:
    """`postgresql://user@host:port/db`, never the password, whatever form `dsn` took."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.Error:
        return redact_url(dsn) if "://" in dsn and "?" not in dsn else "(the database URL)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"
