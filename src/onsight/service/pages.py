"""Dashboard pages: overview, camera (live view, charts), events (+ CSV), health, notice."""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from onsight.apps.registry import event_kinds, event_type, event_types, kinds
from onsight.config.service import EventKind
from onsight.privacy.notice import render_notice
from onsight.runtime import CameraHandle
from onsight.runtime.handle import Alert
from onsight.service import charts, inspection_page
from onsight.service.api import camera_out
from onsight.service.auth import User
from onsight.service.metrics import sink_name
from onsight.service.overlay import camera_overlay
from onsight.service.queries import (
    EXPORT_LIMIT,
    EventFilter,
    EventRow,
    local_day_start,
    local_time,
    zone_name,
)
from onsight.service.today import running_today
from onsight.service.web import Web
from onsight.types import utc_iso

PAGE_ROWS = 50
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# The notice is a standalone page with its own inline CSS and no script at all.
_NOTICE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)


def day_filter(
    camera: str | None, kind: EventKind | None, first: date | None, last: date | None
) -> EventFilter:
    """Events of `camera`/`kind` from local midnight of `first` to the end of `last`."""
    since = local_day_start(first) if first else None
    until = None
    if last is not None:
        until = local_day_start(last + timedelta(days=1)) if last < date.max else None
    return EventFilter(camera or None, kind, since, until)


def _parse_day(text: str, what: str, errors: list[str]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.append(f"{what}: expected a date like 2026-03-01")
        return None


def _csv_cell(value: object) -> object:
    # Spreadsheets run text cells starting with = + - @ (or a tab/CR before one) as formulas.
    # Config names cannot start so and classes are the model's labels, but be sure.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _csv(rows: list[EventRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    # One column per field of any event kind, in registry order, `class` first.
    fields = list(dict.fromkeys(["class", *(c.name for e in event_types() for c in e.columns)]))
    writer.writerow(["kind", "time", "camera", "name", *fields, "id"])
    for row in rows:
        values = [row.kind, row.time, row.camera, row.name, *(row.fields.get(f) for f in fields)]
        values.append(row.id)
        writer.writerow([_csv_cell(v) for v in values])
    return out.getvalue()


def _camera_charts(web: Web, camera: str) -> list[charts.Chart]:
    today = datetime.now().astimezone().date()
    start, end = local_day_start(today), local_day_start(today + timedelta(days=1))
    hours = [f"{h:02d}" for h in range(24)]
    by_hour = web.queries.crossings_by(camera, start, end, "%H")
    week = [today - timedelta(days=n) for n in range(6, -1, -1)]
    by_day = web.queries.crossings_by(camera, local_day_start(week[0]), end, "%Y-%m-%d")
    slots = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(0, 60, 10)]
    levels = []
    for kind, event in ((k, e) for k in kinds() for e in k.events if e.chart_column):
        values = web.queries.level_by_10_minutes(event, camera, start, end)
        if not values and not kind.items(web.camera(camera).config):
            continue  # a camera without queues gets no empty queue chart
        names = sorted({name for name, _ in values})
        levels.append(
            charts.line_chart(
                f"{event.chart_title}, today ({zone_name()})",
                slots,
                {name: [values.get((name, slot)) for slot in slots] for name in names},
                label_every=18,
            )
        )
    if not by_day and not web.camera(camera).config.lines:
        return levels  # no lines (an inspection camera): no empty crossing charts
    return [
        charts.stacked_bars(
            f"Line crossings per hour, today ({zone_name()})",
            [f"{h}h" for h in hours],
            {d: [by_hour.get((h, d), 0) for h in hours] for d in ("in", "out")},
            label_every=3,
        ),
        charts.stacked_bars(
            f"Line crossings per day, last 7 days ({zone_name()})",
            [day.strftime("%a %d") for day in week],
            {d: [by_day.get((day.isoformat(), d), 0) for day in week] for d in ("in", "out")},
        ),
        *levels,
    ]


@dataclass(frozen=True)
class Panel:
    """One app kind's live figures on the camera page: a row per configured item."""

    heading: str
    labels: tuple[str, ...]
    rows: list[tuple[str, list[object]]]  # (item name, values in `labels` order; a list
    # of strings is shown a line each)


def _panels(camera: CameraHandle) -> list[Panel]:
    panels = []
    for kind in kinds():
        if kind.state is None or not kind.live:
            continue
        states = camera.states(kind)
        if not states:
            continue
        # the columns some item has (a PPE camera checking masks only shows no hi-vis column)
        live = [(key, label) for key, label in kind.live if any(key in s for s in states)]
        rows = [(str(s["name"]), [s.get(key) for key, _ in live]) for s in states]
        panels.append(Panel(kind.heading, tuple(label for _, label in live), rows))
    return panels


def _alert_row(shot: Alert) -> dict[str, object]:
    values = event_type(shot.event.kind).record(shot.event)
    when = next(iter(values.values()))
    stamp = utc_iso(when) if isinstance(when, datetime) else str(when)
    return {"number": shot.number, "kind": shot.event.kind, "time": stamp,
            "name": list(values.values())[2], "class": values.get("class", "")}  # fmt: skip


def router(web: Web) -> APIRouter:
    routes = APIRouter()
    context = web.context
    Viewer = Annotated[User, Depends(web.auth.user)]

    @routes.get("/", include_in_schema=False)
    def overview(request: Request, user: Viewer) -> HTMLResponse:
        handles = context.runner.cameras
        cameras = [camera_out(c, web.health(c)) for c in handles]
        today = running_today(web.queries, handles, datetime.now(UTC))
        return web.page(
            request, "overview.html.j2", user, cameras=cameras, today=today,
            zone_name=zone_name(), nav="overview",
            with_frame={c.name for c in handles if c.has_frame()},
        )  # fmt: skip

    @routes.get("/cameras/{name}", include_in_schema=False)
    def camera_page(name: str, request: Request, user: Viewer) -> HTMLResponse:
        camera = web.camera(name)
        return web.page(
            request,
            "camera.html.j2",
            user,
            camera=camera_out(camera, web.health(camera)),
            overlay=camera_overlay(camera),
            charts=_camera_charts(web, name),
            panels=_panels(camera),
            alerts=[_alert_row(shot) for shot in camera.alerts()],
            inspection=inspection_page.section(web, camera, user),
            local_time=local_time,
            error=web.scrub(camera.error() or ""),
            nav="overview",
        )

    @routes.get("/events", include_in_schema=False)
    def events_page(
        request: Request,
        user: Viewer,
        camera: str = "",
        kind: str = "",
        from_: Annotated[str, Query(alias="from")] = "",
        to: str = "",
        page: str = "1",
    ) -> HTMLResponse:
        # Lenient on purpose: a form submits empty fields; a bad value is shown, not a 422.
        errors: list[str] = []
        cameras = [c.name for c in context.runner.cameras]
        if camera and camera not in cameras:
            errors.append(f"camera: no camera named {camera!r}")
            camera = ""
        if kind and kind not in event_kinds():
            errors.append(f"kind: one of {', '.join(event_kinds())}")
            kind = ""
        first, last = _parse_day(from_, "from", errors), _parse_day(to, "to", errors)
        number = int(page) if page.isascii() and page.isdigit() and 0 < len(page) < 6 else 1
        number = max(number, 1)
        where = day_filter(camera, kind or None, first, last)
        rows = web.queries.events(where, PAGE_ROWS + 1, (number - 1) * PAGE_ROWS)
        shown = {"camera": camera, "kind": kind, "from": from_ * bool(first), "to": to * bool(last)}
        query = {k: v for k, v in shown.items() if v}

        def link(n: int) -> str:
            return "/events?" + urlencode({**query, "page": n}) if n > 0 else ""

        return web.page(
            request,
            "events.html.j2",
            user,
            rows=rows[:PAGE_ROWS],
            cameras=cameras,
            kinds=event_kinds(),
            form=query,
            errors=errors,
            page=number,
            previous=link(number - 1),
            next=link(number + 1) if len(rows) > PAGE_ROWS else "",
            csv="/events.csv" + ("?" + urlencode(query) if query else ""),
            local_time=local_time,
            zone_name=zone_name(),
            nav="events",
        )

    @routes.get(
        "/events.csv",
        tags=["export"],
        response_class=Response,
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    def events_csv(
        user: Viewer,
        camera: Annotated[str | None, Query(pattern=_NAME)] = None,
        kind: EventKind | None = None,
        from_: Annotated[date | None, Query(alias="from", description="First day")] = None,
        to: Annotated[date | None, Query(description="Last day (inclusive)")] = None,
    ) -> Response:
        """The events the /events page shows for these filters, as CSV (audited)."""
        if kind is not None and kind not in event_kinds():
            raise HTTPException(422, f"kind: one of {', '.join(event_kinds())}")
        where = day_filter(camera, kind, from_, to)
        rows = web.queries.events(where, EXPORT_LIMIT)
        web.audit("export", user, filters=where.query(), rows=len(rows), format="csv")
        stamp = utc_iso(datetime.now(UTC)).replace(":", "").replace("-", "")[:15]
        return Response(
            _csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="onsight-events-{stamp}Z.csv"'},
        )

    @routes.get("/health", include_in_schema=False)
    def health_page(request: Request, user: Viewer) -> HTMLResponse:
        sinks = [
            {"name": sink_name(sink), "pending": getattr(sink, "pending", None)}
            for sink in context.sinks
        ]
        return web.page(
            request,
            "health.html.j2",
            user,
            cameras=[web.health(c) for c in context.runner.cameras],
            stations=[
                {"camera": s.camera.name, "frames": s.frames, "status": s.operational}
                for s in context.runner.stations
            ],
            errors={k: web.scrub(v) for k, v in dict(context.runner.errors).items()},
            sinks=sinks,
            store=context.runner.store,
            nav="health",
        )

    @routes.get("/notice", include_in_schema=False)
    def notice() -> HTMLResponse:
        html = render_notice(context.loaded.config, datetime.now(UTC))
        return HTMLResponse(html, headers={"Content-Security-Policy": _NOTICE_CSP})

    return routes
