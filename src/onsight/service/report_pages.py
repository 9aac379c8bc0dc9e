"""The reports page (`/reports`), its CSV and XLSX exports (audited), and `/api/reports`.

One set of query parameters everywhere: `range` (today, yesterday, 7d, 30d, custom), `from`
and `to` (custom dates, inclusive), `by` (hour, day, week) and an optional `camera`. The page
is lenient (a form submits empty fields) and shows what is wrong; the downloads and the API
answer a bad value with a 422 that says why.
"""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from onsight.service import charts
from onsight.service.auth import User
from onsight.service.periods import (
    GRANULARITIES,
    RANGES,
    Granularity,
    RangeError,
    RangeName,
    check_range,
    periods,
    resolve_range,
)
from onsight.service.report_export import export_rows, to_csv, to_xlsx
from onsight.service.reports import Number, Report, Table, build_report
from onsight.service.web import Web
from onsight.types import utc_iso

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_DEFAULT_RANGE: RangeName = "7d"
_DEFAULT_BY: Granularity = "day"


@dataclass(frozen=True)
class ReportQuery:
    range: RangeName
    first: date
    last: date
    by: Granularity
    camera: str  # "" for every camera

    def params(self) -> dict[str, str]:
        """As URL query parameters: the same for the page, the downloads and the API."""
        out: dict[str, str] = {"range": self.range}
        if self.range == "custom":
            out |= {"from": self.first.isoformat(), "to": self.last.isoformat()}
        out["by"] = self.by
        return out | ({"camera": self.camera} if self.camera else {})


def make_query(
    name: RangeName, first: date | None, last: date | None, by: Granularity, camera: str,
    cameras: list[str],
) -> ReportQuery:  # fmt: skip
    """Check and resolve the parameters (RangeError says what is wrong)."""
    if camera and camera not in cameras:
        shown = camera if len(camera) <= 64 else camera[:64] + "..."
        raise RangeError(f"camera: no camera named {shown!r}")
    today = datetime.now().astimezone().date()
    first, last = resolve_range(name, first, last, today)
    check_range(first, last, by)
    return ReportQuery(name, first, last, by, camera)


def _parse_page(values: dict[str, str], cameras: list[str]) -> tuple[ReportQuery | None, list[str]]:
    """The page's form values, leniently: (the query, or None and what is wrong). The
    range and granularity in `values` become the ones used (the defaults filled in)."""
    errors: list[str] = []
    days: dict[str, date | None] = {}
    for key in ("from", "to"):
        try:
            days[key] = date.fromisoformat(values[key]) if values[key] else None
        except ValueError:
            errors.append(f"{key}: expected a date like 2026-03-01")
            days[key] = None
    name = values["range"] or ("custom" if values["from"] or values["to"] else _DEFAULT_RANGE)
    if name not in RANGES:
        errors.append(f"range: one of {', '.join(RANGES)}")
    by = values["by"] or _DEFAULT_BY
    values |= {"range": name, "by": by}
    if by not in GRANULARITIES:
        errors.append(f"by: one of {', '.join(GRANULARITIES)}")
    if errors:
        return None, errors
    try:
        query = make_query(name, days["from"], days["to"], by, values["camera"], cameras)  # type: ignore[arg-type]
    except RangeError as exc:
        return None, [str(exc)]
    return query, []


def _cell(value: Number) -> str:
    if value is None:
        return "\u2013"
    return str(value) if isinstance(value, int) else f"{value:.2f}"


def _chart(report: Report, table: Table) -> charts.Chart:
    labels = [p.short for p in report.periods]
    every = max(1, math.ceil(len(labels) / 8))  # room for large labels on a phone
    title = f"{table.section.name.capitalize()}: {table.title}"
    columns = {m: [row[i] for row in table.rows] for i, m in enumerate(table.section.measures)}
    if table.section.shape == "count":
        counts: dict[str, Sequence[int]] = {
            m: [int(v or 0) for v in values] for m, values in columns.items()
        }
        return charts.stacked_bars(title, labels, counts, label_every=every)
    levels: dict[str, Sequence[float | None]] = {
        m: [None if v is None else float(v) for v in vs] for m, vs in columns.items()
    }
    return charts.line_chart(title, labels, levels, label_every=every)


def _about(query: ReportQuery) -> dict[str, str]:
    zone = datetime.now().astimezone().tzname() or "local time"
    return {
        "Report": "onsight: aggregates per period; nothing here identifies a person",
        "From": query.first.isoformat(),
        "To": f"{query.last.isoformat()} (inclusive)",
        "Granularity": query.by,
        "Camera": query.camera or "all",
        "Time zone": f"the site's ({zone}); weeks start on Monday",
        "Made": utc_iso(datetime.now(UTC)),
    }


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ReportPeriodOut(_Out):
    start: str = Field(description="UTC, ISO-8601 with Z (inclusive).")
    end: str = Field(description="UTC, ISO-8601 with Z (exclusive).")
    label: str = Field(description="The period in the site's time zone, as the page shows it.")


class ReportTableOut(_Out):
    kind: str = Field(description="The event kind the figures are from.")
    camera: str
    name: str = Field(description="The line, zone, queue ... the figures are about.")
    measures: list[str] = Field(description="Column names of `rows` and `total`.")
    rows: list[list[int | float | None]] = Field(description="One row per period.")
    total: list[int | float | None]


class ReportOut(_Out):
    first: str = Field(description="First day (the site's time zone).")
    last: str = Field(description="Last day, inclusive.")
    by: Granularity
    periods: list[ReportPeriodOut]
    tables: list[ReportTableOut]


def router(web: Web) -> APIRouter:
    routes = APIRouter()
    Viewer = Annotated[User, Depends(web.auth.user)]
    RangeParam = Annotated[RangeName, Query(alias="range", description="Named range.")]
    From = Annotated[date | None, Query(alias="from", description="First day (custom).")]
    To = Annotated[date | None, Query(description="Last day, inclusive (custom).")]
    Camera = Annotated[str | None, Query(pattern=_NAME, description="One camera; all if unset.")]

    def cameras() -> list[str]:
        return [c.name for c in web.context.runner.cameras]

    def report(query: ReportQuery) -> Report:
        configs = {c.name: c.config for c in web.context.runner.cameras}
        chosen = {n: c for n, c in configs.items() if not query.camera or n == query.camera}
        return build_report(web.queries, chosen, periods(query.first, query.last, query.by))

    def strict(
        name: RangeName, first: date | None, last: date | None, by: Granularity,
        camera: str | None,
    ) -> ReportQuery:  # fmt: skip
        try:
            return make_query(name, first, last, by, camera or "", cameras())
        except RangeError as exc:
            raise HTTPException(422, str(exc)) from None

    def download(user: User, query: ReportQuery, kind: str) -> Response:
        rows = export_rows(report(query))
        web.audit("export", user, report=query.params(), first=query.first.isoformat(),
                  last=query.last.isoformat(), rows=len(rows) - 2, format=kind)  # fmt: skip
        name = f"onsight-report-{query.first}-{query.last}-{query.by}.{kind}"
        disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
        if kind == "csv":
            return Response(to_csv(rows), media_type="text/csv; charset=utf-8", headers=disposition)
        return Response(to_xlsx(rows, _about(query)), media_type=_XLSX, headers=disposition)

    @routes.get("/reports", include_in_schema=False)
    def reports_page(
        request: Request,
        user: Viewer,
        range_: Annotated[str, Query(alias="range")] = "",
        from_: Annotated[str, Query(alias="from")] = "",
        to: str = "",
        by: str = "",
        camera: str = "",
    ) -> HTMLResponse:
        form = {"range": range_, "from": from_, "to": to, "by": by, "camera": camera}
        query, errors = _parse_page(form, cameras())
        shown = report(query) if query is not None else None
        link = urlencode(query.params()) if query is not None else ""
        return web.page(
            request, "reports.html.j2", user, query=query, form=form, errors=errors,
            report=shown, chart=_chart, cell=_cell, ranges=RANGES, granularities=GRANULARITIES,
            cameras=cameras(), csv=f"/reports.csv?{link}", xlsx=f"/reports.xlsx?{link}",
            zone_name=datetime.now().astimezone().tzname() or "local time", nav="reports",
        )  # fmt: skip

    @routes.get(
        "/reports.csv",
        tags=["export"],
        response_class=Response,
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    def reports_csv(
        user: Viewer, range_: RangeParam = _DEFAULT_RANGE, from_: From = None, to: To = None,
        by: Granularity = _DEFAULT_BY, camera: Camera = None,
    ) -> Response:  # fmt: skip
        """The reports page's table for these parameters, as CSV (audited)."""
        return download(user, strict(range_, from_, to, by, camera), "csv")

    @routes.get(
        "/reports.xlsx",
        tags=["export"],
        response_class=Response,
        responses={200: {"content": {_XLSX: {"schema": {"type": "string", "format": "binary"}}}}},
    )
    def reports_xlsx(
        user: Viewer, range_: RangeParam = _DEFAULT_RANGE, from_: From = None, to: To = None,
        by: Granularity = _DEFAULT_BY, camera: Camera = None,
    ) -> Response:  # fmt: skip
        """The reports page's table for these parameters, as an Excel workbook (audited)."""
        return download(user, strict(range_, from_, to, by, camera), "xlsx")

    @routes.get("/api/reports", tags=["api"])
    def reports_api(
        user: Viewer, range_: RangeParam = _DEFAULT_RANGE, from_: From = None, to: To = None,
        by: Granularity = _DEFAULT_BY, camera: Camera = None,
    ) -> ReportOut:  # fmt: skip
        """The reports page's figures: per line, zone, ... a row per period (periods cut in
        the site's time zone, stated in UTC)."""
        query = strict(range_, from_, to, by, camera)
        shown = report(query)
        return ReportOut(
            first=query.first.isoformat(),
            last=query.last.isoformat(),
            by=query.by,
            periods=[
                ReportPeriodOut(start=utc_iso(p.start), end=utc_iso(p.end), label=p.label)
                for p in shown.periods
            ],
            tables=[
                ReportTableOut(
                    kind=t.section.event.kind,
                    camera=t.camera,
                    name=t.name,
                    measures=list(t.section.measures),
                    rows=t.rows,
                    total=t.total,
                )
                for t in shown.tables
            ],
        )

    return routes


assert set(get_args(RangeName)) == set(RANGES)
