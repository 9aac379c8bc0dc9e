"""The tables of the fleet dashboard, from the fleet queries: what each page shows, its CSV
holds and its API serves. A table is about sites (a row each); charts are the page's only.

The range is a span of whole local days (`from`, `to`, inclusive; default the last 7 days)
cut per day or week as the site reports cut them. Values are raw numbers (None where nothing
was released); pages print None as an en dash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from onsight.fleet.queries import RATIOS, FleetQueries, Site, Wait, alert_events
from onsight.service import charts
from onsight.service.periods import Period, RangeError, check_range, periods
from onsight.types import utc_iso

DEFAULT_DAYS = 7
_BY = ("day", "week")
_SERIES = 8  # chart colours (fleet.css): the largest sites, the rest summed as one
Cell = str | int | float | None


@dataclass(frozen=True)
class Range:
    first: date
    last: date  # inclusive
    by: str = "day"  # or "week"

    def params(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "by": self.by}

    def periods(self) -> list[Period]:
        return periods(self.first, self.last, "week" if self.by == "week" else "day")

    def whole(self) -> Period:
        """The range as one period."""
        days = periods(self.first, self.last, "day")
        return Period(days[0].start, days[-1].end, f"{self.first} to {self.last}", "")


def parse_range(first: str, last: str, by: str) -> Range:
    """The range of the query parameters (empty: the default); RangeError says what is wrong."""
    today = datetime.now().astimezone().date()
    try:
        end = date.fromisoformat(last) if last else today
        start = date.fromisoformat(first) if first else end - timedelta(days=DEFAULT_DAYS - 1)
    except (ValueError, OverflowError):
        raise RangeError("from and to must be dates like 2026-03-01") from None
    if (by or "day") not in _BY:
        raise RangeError(f"by: one of {', '.join(_BY)}")
    check_range(start, end, "day")
    return Range(start, end, by or "day")


@dataclass(frozen=True)
class Table:
    """One table of a page, as shown, downloaded (CSV) and served (JSON)."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]]
    figures: list[charts.Chart] = field(default_factory=list)  # charts: on the page only
    headings: tuple[str, ...] = ()  # shorter column names for the page (default: columns)
    groups: tuple[tuple[str, int], ...] = ()  # the page's header row above: (name, span)

    @property
    def shown_headings(self) -> tuple[str, ...]:
        return self.headings or self.columns


def age(delta: timedelta) -> str:
    """A duration for people: "45 s", "12 min", "2 h 5 min", "3 d 4 h"."""
    seconds = max(int(delta.total_seconds()), 0)
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60:
        return f"{seconds} s"
    if hours < 1:
        return f"{minutes} min"
    if days < 1:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


def cell(value: Cell) -> str:
    """A table cell on a page: nothing released (None) is an en dash."""
    if value is None or value == "":
        return "\u2013"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _wait(wait: Wait | None) -> float | None:
    return None if wait is None else round(wait.typical_seconds, 1)


def _largest(series: dict[str, list[int]]) -> dict[str, Sequence[int]]:
    """At most `_SERIES` series: the largest by total, the rest summed as "other sites"."""
    ranked = sorted(series, key=lambda s: -sum(series[s]))
    out: dict[str, Sequence[int]] = {name: series[name] for name in ranked[: _SERIES - 1]}
    rest = [series[name] for name in ranked[_SERIES - 1 :]]
    if len(rest) == 1:
        out[ranked[-1]] = rest[0]
    elif rest:
        out["other sites"] = [sum(values) for values in zip(*rest, strict=True)]
    return out


class FleetTables:
    """Each table over a range; `stale_after`: a site silent longer is not reporting."""

    def __init__(self, queries: FleetQueries, stale_after: timedelta) -> None:
        self.queries = queries
        self.stale_after = stale_after

    def stale(self, site: Site, now: datetime) -> bool:
        return now - site.last_message > self.stale_after

    def sites(self, span: Range) -> Table:
        now, found = datetime.now(UTC), self.queries.sites()
        rows: list[tuple[Cell, ...]] = [
            (s.name, "no" if self.stale(s, now) else "yes", s.status, utc_iso(s.last_message),
             int((now - s.last_message).total_seconds()),
             None if s.last_event is None else utc_iso(s.last_event), len(s.cameras))
            for s in found
        ]  # fmt: skip
        columns = ("Site", "Reporting", "Status topic", "Last message (UTC)",
                   "Seconds since", "Last event (UTC)", "Cameras")  # fmt: skip
        return Table("sites", "Sites", columns, rows)

    def cameras(self, span: Range) -> Table:
        now = datetime.now(UTC)
        rows: list[tuple[Cell, ...]] = [
            (s.name, c.name, utc_iso(c.last_message), int((now - c.last_message).total_seconds()))
            for s in self.queries.sites()
            for c in s.cameras
        ]
        columns = ("Site", "Camera", "Last message (UTC)", "Seconds since")
        return Table("cameras", "Cameras", columns, rows)

    def footfall(self, span: Range) -> Table:
        cuts = span.periods()
        found = self.queries.footfall(cuts)
        rows: list[tuple[Cell, ...]] = [
            (site, *counts, sum(counts)) for site, counts in sorted(found.items())
        ]
        every = max(1, -(-len(cuts) // 10))
        chart = charts.stacked_bars(
            f"People in per {span.by}", [p.short for p in cuts], _largest(found), every
        )
        columns = ("Site", *(p.label for p in cuts), "Total")
        return Table("footfall", f"People in, per {span.by}", columns, rows, [chart])

    def queues(self, span: Range) -> Table:
        cuts = span.periods()
        found = self.queries.queue_waits(cuts)
        whole = self.queries.queue_waits([span.whole()])
        rows: list[tuple[Cell, ...]] = []
        for site, waits in sorted(found.items()):
            total: Wait | None = whole.get(site, [None])[0]
            visits = None if total is None else total.visits
            p90 = None if total is None else _round(total.longest_p90_seconds)
            rows.append((site, *(_wait(w) for w in waits), visits, _wait(total), p90))
        busiest = sorted(whole, key=lambda s: -whole[s][0].visits)[:_SERIES]
        series: dict[str, Sequence[float | None]] = {
            s: [_wait(w) for w in found[s]] for s in sorted(busiest)
        }
        every = max(1, -(-len(cuts) // 10))
        chart = charts.line_chart("Typical queue wait (s)", [p.short for p in cuts], series, every)
        whole_range = ("Visits", "Typical wait (s)", "Longest hourly p90 (s)")
        columns = ("Site", *(f"{p.label}: typical wait (s)" for p in cuts), *whole_range)
        headings = ("Site", *(p.label for p in cuts), *whole_range)
        groups = (("", 1), (f"Typical wait (s) per {span.by}", len(cuts)), ("Whole range", 3))
        return Table("queues", f"Queue waits per {span.by}", columns, rows, [chart], headings,
                     groups)  # fmt: skip

    def compliance(self, span: Range) -> Table:
        whole = span.whole()
        shares, alerts = self.queries.shares(whole), self.queries.alerts(whole)
        events = alert_events()
        rows: list[tuple[Cell, ...]] = []
        for site in sorted(set(shares) | set(alerts)):
            cells: list[Cell] = [site]
            for ratio in RATIOS:
                share = shares.get(site, {}).get(ratio.key)
                if share is None:
                    cells += [None, None]
                else:
                    cells += [_round(share.percent), round(share.whole)]
            rows.append((*cells, *(alerts.get(site, {}).get(e.kind, 0) for e in events)))
        columns, headings = ["Site"], ["Site"]
        for ratio in RATIOS:
            columns += [f"{ratio.label} (%)", f"{ratio.label}: of ({ratio.base})"]
            headings += ["%", f"of {ratio.base}"]
        columns += [e.label.capitalize() for e in events]
        headings += [e.label.capitalize().removesuffix(" alerts") for e in events]
        groups = (("", 1), *((r.label, 2) for r in RATIOS), ("Alerts (count)", len(events)))
        return Table("compliance", "Shares and alerts per site", tuple(columns), rows, [],
                     tuple(headings), groups)  # fmt: skip

    def compare(self, span: Range) -> Table:
        cuts = Range(span.first, span.last).periods()
        whole = span.whole()
        footfall, waits = self.queries.footfall(cuts), self.queries.queue_waits([whole])
        shares, alerts = self.queries.shares(whole), self.queries.alerts(whole)
        close = next(r for r in RATIOS if r.key == "close_contact")
        known = {s.name for s in self.queries.sites()}
        rows: list[tuple[Cell, ...]] = []
        for site in sorted(known | set(footfall) | set(waits) | set(shares) | set(alerts)):
            counts = footfall.get(site, [0] * len(cuts))
            top = max(range(len(cuts)), key=lambda i: counts[i])
            wait: Wait | None = waits.get(site, [None])[0]
            share = shares.get(site, {}).get(close.key)
            rows.append((site, sum(counts), round(sum(counts) / len(cuts), 1),
                         cuts[top].label if counts[top] else None,
                         None if wait is None else wait.visits, _wait(wait),
                         None if share is None else _round(share.percent),
                         sum(alerts.get(site, {}).values())))  # fmt: skip
        names = [str(r[0]) for r in rows]
        every = max(1, -(-len(names) // 12))
        people: dict[str, Sequence[int]] = {"people in": [round(_number(r[1])) for r in rows]}
        typical: dict[str, Sequence[int]] = {"wait (s)": [round(_number(r[5])) for r in rows]}
        drawn = [
            charts.stacked_bars("People in per site", names, people, every),
            charts.stacked_bars("Typical queue wait per site (s)", names, typical, every),
        ]
        columns = ("Site", "People in", "People in per day", "Busiest day", "Queue visits",
                   "Typical wait (s)", f"{close.label} (%)", "Alerts")  # fmt: skip
        return Table("compare", "Sites side by side", columns, rows, drawn)


def _number(value: Cell) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
