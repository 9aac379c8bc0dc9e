"""What the fleet dashboard reads: read-only, parameterised SQL over the fleet database.

Tables and columns come from the app registry (`EventType.table`, its time, name and value
columns) as quoted identifiers; every value is a bound parameter. Connections are read-only
(`default_transaction_read_only`) and bounded by a statement timeout.

Only aggregates leave here: counts, sums and shares per site and period, never one event.
Periods are those of the site reports (`onsight.service.periods`: local days of this server,
weeks from Monday); PostgreSQL puts each row in its period with `width_bucket` over the
periods' UTC starts. The k-anonymous tables hold only rows released with at least 5
contributors (the CHECKs of their columns), so a period without one is None ("fewer than 5,
or no data"), never 0, and a NULL value is never counted as 0 either.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from onsight.apps.base import EventType
from onsight.apps.registry import event_type, event_types
from onsight.fleet.dsn import dsn_display, dsn_secrets
from onsight.fleet.schema import FleetDatabaseUnavailable
from onsight.ingest.urls import redact_text
from onsight.service.periods import Period

# Footfall: line crossings in the `in` direction (each line's configured `in_name`, e.g.
# "enter") of people; other classes (vehicles) are traffic, not footfall.
FOOTFALL_KIND = "crossing"
FOOTFALL_DIRECTION = "in"
FOOTFALL_CLASS = "person"
QUEUE_WAIT_KIND = "queue_hour"
_STATEMENT_TIMEOUT_MS = 20_000
_ALL = sql.SQL("TRUE")


@dataclass(frozen=True)
class Ratio:
    """A compliance share: sum(`part`) / sum(`whole`) per site over a range."""

    key: str  # for exports and tests
    label: str  # for people
    kind: str  # the event kind whose table holds both
    part: str
    whole: tuple[str, ...]
    base: str  # what the denominator counts, for people

    @property
    def event(self) -> EventType:
        return event_type(self.kind)


# The share-like aggregates of the registry today. Alerts (`EventType.alert`) are counted
# without this list.
RATIOS = (
    Ratio("close_contact", "Distancing: time close to someone", "distancing_minute",
          "close_seconds", ("presence_seconds",), "person-seconds"),
    Ratio("rejected", "Inspection: items rejected", "inspection_minute", "rejected",
          ("inspected",), "items inspected"),
    Ratio("unread", "Barcodes: items not read", "inspection_minute", "unread",
          ("read", "unread"), "items"),
    Ratio("wrong_label", "Barcodes: wrong labels", "inspection_minute", "wrong_labels",
          ("read",), "reads"),
)  # fmt: skip


@dataclass(frozen=True)
class Camera:
    name: str
    last_message: datetime


@dataclass(frozen=True)
class Site:
    name: str
    first_seen: datetime
    last_message: datetime
    last_event: datetime | None
    status: str | None  # "online" / "offline" from the site's status topic; None: never sent
    cameras: tuple[Camera, ...]


@dataclass(frozen=True)
class DeadLetter:
    """A message the ingester could not store: never its payload, which may hold anything."""

    received: datetime
    topic: str
    reason: str
    size: int


@dataclass(frozen=True)
class Wait:
    """Queue waits of one site over one period, from the released hours only."""

    visits: int
    typical_seconds: float  # hourly medians averaged, each weighted by its hour's visits
    longest_p90_seconds: float | None  # the highest hourly 90th percentile


@dataclass(frozen=True)
class Share:
    part: float
    whole: float

    @property
    def percent(self) -> float | None:
        return 100.0 * self.part / self.whole if self.whole > 0 else None


PerSite = dict[str, list[Any]]  # site -> one value per period (None: nothing released)


def alert_events() -> list[EventType]:
    """Every event type the registry marks as an alert (wrong way, restricted area ...)."""
    return [event for event in event_types() if event.alert]


class FleetQueries:
    """The dashboard's reads through a small pool that connects in the background, so the
    dashboard starts (and answers 503 pages) while the database is down."""

    def __init__(self, url: str, *, pool_size: int = 4, timeout: float = 5.0) -> None:
        self._where = dsn_display(url)
        self._secrets = dsn_secrets(url)
        self._timeout = timeout
        options = (
            "-c TimeZone=UTC -c default_transaction_read_only=on "
            f"-c statement_timeout={_STATEMENT_TIMEOUT_MS}"
        )
        self._pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"options": options, "connect_timeout": max(1, round(timeout))},
            check=ConnectionPool.check_connection,
            name="onsight-fleet-web",
            open=False,
        )
        self._pool.open(wait=False)

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        try:
            with self._pool.connection(timeout=self._timeout) as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:  # PoolTimeout too
            detail = redact_text(str(exc).strip().split("\n")[0], self._secrets)
            raise FleetDatabaseUnavailable(
                f"fleet database {self._where} unavailable: {detail}"
            ) from None

    def _rows(self, query: sql.SQL | sql.Composed, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """The rows of a read; none when the table or a column does not exist yet (a kind
        registered after the database was last migrated)."""
        with self._connection() as conn:
            try:
                return conn.execute(query, params).fetchall()
            except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
                return []

    def ping(self) -> bool:
        try:
            self._rows(sql.SQL("SELECT 1"), ())
        except FleetDatabaseUnavailable:
            return False
        return True

    # -- sites -----------------------------------------------------------------------------

    def sites(self) -> list[Site]:
        """Every site that ever sent a message, with its cameras, by name."""
        cameras: dict[str, list[Camera]] = {}
        query = sql.SQL("SELECT site, camera, last_message FROM cameras ORDER BY site, camera")
        for site, camera, last in self._rows(query, ()):
            cameras.setdefault(str(site), []).append(Camera(str(camera), _utc(last)))
        query = sql.SQL(
            "SELECT site, first_seen, last_message, last_event, status FROM sites ORDER BY site"
        )
        return [
            Site(str(name), _utc(first), _utc(last), None if event is None else _utc(event),
                 None if status is None else str(status), tuple(cameras.get(str(name), ())))
            for name, first, last, event, status in self._rows(query, ())
        ]  # fmt: skip

    def dead_letters(self, limit: int) -> list[DeadLetter]:
        """The newest `limit` messages the ingester could not store, newest first."""
        query = sql.SQL(
            "SELECT received, topic, reason, size FROM dead_letters ORDER BY seq DESC LIMIT %s"
        )
        rows = self._rows(query, (limit,))
        return [DeadLetter(_utc(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]

    # -- per site and period ---------------------------------------------------------------

    def _grouped(
        self,
        event: EventType,
        periods: Sequence[Period],
        values: sql.Composable,
        where: sql.Composable = _ALL,
        params: Sequence[Any] = (),
        source: sql.Composable | None = None,
    ) -> list[tuple[Any, ...]]:
        """(site, period index, *values) for the rows of `event`'s table in `periods`."""
        if not periods:
            return []
        time = sql.Identifier(event.time_column)
        query = sql.SQL(
            "SELECT site, width_bucket({time}, %s::timestamptz[]) - 1 AS period, {values} "
            "FROM {source} WHERE {time} >= %s AND {time} < %s AND ({where}) "
            "GROUP BY site, period ORDER BY site, period"
        ).format(
            time=time, values=values, where=where,
            source=source if source is not None else sql.Identifier(event.table),
        )  # fmt: skip
        starts = [p.start for p in periods]
        return self._rows(query, [starts, periods[0].start, periods[-1].end, *params])

    def footfall(self, periods: Sequence[Period]) -> PerSite:
        """People who crossed a counting line in its `in` direction, per site and period."""
        event = event_type(FOOTFALL_KIND)
        where = sql.SQL("{} = %s AND {} = %s").format(
            sql.Identifier("direction"), sql.Identifier("class")
        )
        rows = self._grouped(
            event, periods, sql.SQL("count(*)"), where, [FOOTFALL_DIRECTION, FOOTFALL_CLASS]
        )
        out: PerSite = {}
        for site, index, count in rows:
            out.setdefault(str(site), [0] * len(periods))[index] = int(count)
        return out

    def queue_waits(self, periods: Sequence[Period]) -> PerSite:
        """`Wait` per site and period (None: no hour with 5 or more visits), over every queue
        of the site. An hour stored twice (a site restarted within it) counts once, with its
        larger group, as the site store merges it."""
        event = event_type(QUEUE_WAIT_KIND)
        name, time = sql.Identifier(event.name_column), sql.Identifier(event.time_column)
        visits, median, p90 = (
            sql.Identifier(c) for c in ("visits", "median_wait_seconds", "p90_wait_seconds")
        )
        source = sql.SQL(
            "(SELECT DISTINCT ON (site, camera, {name}, {time}) * FROM {table} "
            "ORDER BY site, camera, {name}, {time}, {visits} DESC) AS hours"
        ).format(name=name, time=time, table=sql.Identifier(event.table), visits=visits)
        values = sql.SQL(
            "sum({v}) FILTER (WHERE {m} IS NOT NULL), "
            "sum({v} * {m}) FILTER (WHERE {m} IS NOT NULL), max({p})"
        ).format(v=visits, m=median, p=p90)
        out: PerSite = {}
        for site, index, total, weighted, longest in self._grouped(
            event, periods, values, source=source
        ):
            cells = out.setdefault(str(site), [None] * len(periods))
            if total:
                peak = None if longest is None else float(longest)
                cells[index] = Wait(int(total), float(weighted) / int(total), peak)
        return out

    def shares(self, period: Period) -> dict[str, dict[str, Share]]:
        """site -> ratio key -> `Share` over `period`, from the rows where every column it
        needs is known (a column added later is NULL in older rows: never read as 0)."""
        out: dict[str, dict[str, Share]] = {}
        for kind in dict.fromkeys(r.kind for r in RATIOS):
            ratios = [r for r in RATIOS if r.kind == kind]
            values = sql.SQL(", ").join(_ratio_sums(r) for r in ratios)
            for site, _, *sums in self._grouped(event_type(kind), [period], values):
                for ratio, part, whole in zip(ratios, sums[::2], sums[1::2], strict=True):
                    if whole:
                        share = Share(float(part), float(whole))
                        out.setdefault(str(site), {})[ratio.key] = share
        return out

    def alerts(self, period: Period) -> dict[str, dict[str, int]]:
        """site -> alert kind -> how many over `period`."""
        out: dict[str, dict[str, int]] = {}
        for event in alert_events():
            for site, _, count in self._grouped(event, [period], sql.SQL("count(*)")):
                out.setdefault(str(site), {})[event.kind] = int(count)
        return out


def _ratio_sums(ratio: Ratio) -> sql.Composed:
    """sum(part), sum(whole) over the rows where they are all known."""
    names = [sql.Identifier(c) for c in (ratio.part, *ratio.whole)]
    known = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(n) for n in names)
    query = sql.SQL("sum({part}) FILTER (WHERE {known}), sum({whole}) FILTER (WHERE {known})")
    return query.format(part=names[0], whole=sql.SQL(" + ").join(names[1:]), known=known)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _check_registry() -> None:
    """The columns this module names exist in the registry (a renamed one fails here)."""
    named = [
        (FOOTFALL_KIND, ("direction", "class")),
        (QUEUE_WAIT_KIND, ("visits", "median_wait_seconds", "p90_wait_seconds")),
        *((r.kind, (r.part, *r.whole)) for r in RATIOS),
    ]
    for kind, columns in named:
        known = {c.name for c in event_type(kind).columns}
        assert set(columns) <= known, f"{kind} lacks {set(columns) - known}"


_check_registry()
