"""The fleet dashboard: every site's status and aggregates from the fleet database.

`create_fleet_app(...)` serves, behind the same login as a site dashboard (its own users file;
sessions, CSRF, security headers, Host check and body limit are `onsight.service`'s):

- `/` the sites and their cameras, a site flagged when its last message is older than
  `stale_after`; `/footfall`, `/compare`, `/queues`, `/compliance`: per site over a range of
  days (`from`, `to`, inclusive, default the last 7 days; `by` day or week where it applies);
- `/export/<table>.csv` each of those tables (audited), `/api/tables/<table>` the same as JSON;
- `/dead-letters` (admins): what the ingester could not read (when, topic, why, size);
- `/healthz` (public): whether the database answers, nothing else.

Pages show what a site dashboard shows and nothing more: counts, shares and waits per site
and period. A figure that was not released (fewer than 5 visits or people) is an en dash, never 0.
"""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import ChoiceLoader, Environment, PackageLoader, PrefixLoader
from pydantic import BaseModel
from starlette.staticfiles import StaticFiles

from onsight.config.service import ServerConfig
from onsight.fleet.ingest import IngestStats
from onsight.fleet.metrics import render_fleet_metrics
from onsight.fleet.queries import RATIOS, FleetQueries
from onsight.fleet.schema import FleetDatabaseUnavailable
from onsight.fleet.tables import Cell, FleetTables, Range, Table, age, cell, parse_range
from onsight.privacy.audit import AuditAction, AuditLog
from onsight.service import login
from onsight.service.app import install_guards, install_handlers
from onsight.service.auth import User, UserStore
from onsight.service.periods import RangeError
from onsight.service.report_export import to_csv
from onsight.service.security import Authenticator, wants_api
from onsight.service.throttle import LoginLimiter
from onsight.service.web import Pages
from onsight.templating import templates

DEFAULT_STALE_AFTER = timedelta(minutes=15)


class TableOut(BaseModel):
    name: str
    title: str
    first: str | None
    last: str | None
    by: str | None
    columns: list[str]
    rows: list[list[Cell]]


@dataclass(frozen=True)
class _LoginContext:
    users: UserStore
    secure_cookies: bool


class FleetWeb(Pages):
    """What the routes share: users and sessions, templates, the audit log, the queries."""

    def __init__(
        self, users: UserStore, auth: Authenticator, audit_log: AuditLog, queries: FleetQueries,
        secure_cookies: bool, stale_after: timedelta, name: str,
    ) -> None:  # fmt: skip
        self.context = _LoginContext(users, secure_cookies)  # for the site's login routes
        self.auth = auth
        self.queries = queries
        self.tables = FleetTables(queries, stale_after)
        self.name = name
        self.ingest: IngestStats | None = None  # the ingester's counters, when it runs here
        self._audit = audit_log
        site = PackageLoader("onsight.service", "templates")
        # Fleet templates first: a site template (login, error) extends "base.html.j2", which
        # is then the fleet's, itself extending the site's as "site/base.html.j2".
        loader = ChoiceLoader([
            PackageLoader("onsight.fleet", "templates"), PrefixLoader({"site": site}), site
        ])  # fmt: skip
        self._templates = templates("onsight.service").overlay(loader=loader)

    def audit(self, action: AuditAction, user: User | str, **detail: Any) -> None:
        self._audit.append(action, actor=user.name if isinstance(user, User) else user, **detail)

    @property
    def site(self) -> str:
        return self.name

    def environment(self) -> Environment:
        return self._templates


_Builder = Callable[[FleetTables, Range], Table]
# name: (page template or "" for none, page title, table)
_TABLES: dict[str, tuple[str, str, _Builder]] = {
    "sites": ("", "Sites", FleetTables.sites),
    "cameras": ("", "Cameras", FleetTables.cameras),
    "footfall": ("footfall.html.j2", "Footfall", FleetTables.footfall),
    "compare": ("compare.html.j2", "Compare sites", FleetTables.compare),
    "queues": ("queues.html.j2", "Queue waits", FleetTables.queues),
    "compliance": ("compliance.html.j2", "Compliance", FleetTables.compliance),
}
_UNRANGED = frozenset({"sites", "cameras"})


def _router(web: FleetWeb) -> APIRouter:
    routes = APIRouter()
    Viewer = Annotated[User, Depends(web.auth.user)]
    Admin = Annotated[User, Depends(web.auth.admin)]
    From = Annotated[str, Query(alias="from", max_length=32)]
    To = Annotated[str, Query(max_length=32)]
    By = Annotated[str, Query(max_length=32)]
    Name = Annotated[str, Path(max_length=32)]

    def build(name: str, first: str, last: str, by: str) -> tuple[Table, Range]:
        """The named table for the parameters: 404 for no such table, 422 for a bad range."""
        if name not in _TABLES:
            raise HTTPException(404, "no such table")
        try:
            span = parse_range(first, last, by)
        except RangeError as exc:
            raise HTTPException(422, str(exc)) from None
        return _TABLES[name][2](web.tables, span), span

    @routes.get("/healthz")
    def healthz() -> JSONResponse:
        ok = web.queries.ping()
        return JSONResponse({"status": "ok" if ok else "degraded"}, status_code=200 if ok else 503)

    @routes.get("/metrics")
    def metrics(user: Viewer) -> Response:
        """The ingester's counters (404 when this server only shows the dashboard)."""
        if web.ingest is None:
            raise HTTPException(404, "no ingester runs in this process")
        body, content_type = render_fleet_metrics(web.ingest)
        return Response(body, media_type=content_type)

    @routes.get("/", response_class=HTMLResponse)
    def sites_page(request: Request, user: Viewer) -> HTMLResponse:
        now, tables = datetime.now(UTC), web.tables
        return web.page(
            request, "sites.html.j2", user, nav="sites", sites=web.queries.sites(), age=age,
            now=now, stale=lambda s: tables.stale(s, now), stale_after=age(tables.stale_after),
        )  # fmt: skip

    def range_page(name: str) -> Callable[..., HTMLResponse]:
        template, title, table = _TABLES[name]

        def show(request: Request, user: Viewer, from_: From = "", to: To = "",
                 by: By = "") -> HTMLResponse:  # fmt: skip
            values: dict[str, Any] = {"nav": name, "title": title, "cell": cell, "ratios": RATIOS}
            try:
                span = parse_range(from_, to, by)
            except RangeError as exc:
                form = {"from": from_, "to": to, "by": by}
                return web.page(request, template, user, 422, form=form, errors=[str(exc)],
                                table=None, **values)  # fmt: skip
            csv = f"/export/{name}.csv?{urlencode(span.params())}"
            shown = table(web.tables, span)
            return web.page(request, template, user, form=span.params(), errors=[],
                            table=shown, span=span, csv=csv, **values)  # fmt: skip

        return show

    for name, (template, _, _) in _TABLES.items():
        if template:
            routes.add_api_route(f"/{name}", range_page(name), response_class=HTMLResponse)

    @routes.get("/export/{name}.csv")
    def export(user: Viewer, name: Name, from_: From = "", to: To = "", by: By = "") -> Response:
        """A table of the dashboard for the range, as CSV (audited)."""
        shown, span = build(name, from_, to, by)
        web.audit("export", user, table=name, first=span.first.isoformat(),
                  last=span.last.isoformat(), rows=len(shown.rows), format="csv")  # fmt: skip
        dates = "" if name in _UNRANGED else f"-{span.first}-{span.last}"
        disposition = f'attachment; filename="onsight-fleet-{name}{dates}.csv"'
        return Response(to_csv([shown.columns, *shown.rows]),
                        media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": disposition})  # fmt: skip

    @routes.get("/api/tables/{name}")
    def table_api(user: Viewer, name: Name, from_: From = "", to: To = "", by: By = "") -> TableOut:
        """A table of the dashboard for the range, as JSON (sites, cameras: no range)."""
        shown, span = build(name, from_, to, by)
        ranged = name not in _UNRANGED
        return TableOut(
            name=shown.name, title=shown.title, columns=list(shown.columns),
            rows=[list(r) for r in shown.rows], by=span.by if ranged else None,
            first=span.first.isoformat() if ranged else None,
            last=span.last.isoformat() if ranged else None,
        )  # fmt: skip

    @routes.get("/dead-letters", response_class=HTMLResponse)
    def dead_letters(request: Request, user: Admin) -> HTMLResponse:
        letters = web.queries.dead_letters(100)
        return web.page(request, "dead_letters.html.j2", user, nav="dead", letters=letters)

    return routes


def create_fleet_app(
    database_url: str,
    users: UserStore,
    audit: AuditLog,
    *,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    secure_cookies: bool = False,
    server: ServerConfig | None = None,
    server_names: Sequence[str] = (),
    pool_size: int = 4,
    database_timeout: float = 5.0,
    name: str = "fleet",
    ingest: IngestStats | None = None,
) -> FastAPI:
    """The fleet dashboard over `database_url`, read only (the ingester migrates it).

    `users`: the fleet's own users file; `audit`: where logins and exports are recorded.
    `server`: session lifetimes, login throttling, server names and public origins, as a
    site config's `server:` section (its defaults when None); `server_names`: more Host
    names served, e.g. the --host address. A request waits at most `database_timeout`
    seconds for a connection, then answers 503. `name` is shown beside "onsight" in the header.
    The database pool (`app.state.fleet_queries`) closes when the app shuts down.
    `ingest`: the counters of the ingester running beside it, for `/metrics`.
    """
    server = server or ServerConfig()
    auth = Authenticator(users, timedelta(hours=server.session_hours),
                         timedelta(hours=server.session_max_hours))  # fmt: skip
    queries = FleetQueries(database_url, pool_size=pool_size, timeout=database_timeout)
    web = FleetWeb(users, auth, audit, queries, secure_cookies, stale_after, name)
    web.ingest = ingest

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        queries.close()

    app = FastAPI(title="onsight fleet", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)  # fmt: skip
    app.state.fleet_queries = queries
    app.include_router(login.router(web, LoginLimiter(server.login_attempts_per_minute)))
    app.include_router(_router(web))
    app.mount("/static/fleet", StaticFiles(packages=[("onsight.fleet", "static")]), name="fleet")
    app.mount("/static", StaticFiles(packages=[("onsight.service", "static")]), name="static")
    install_handlers(app, web)

    async def unavailable(request: Request, exc: Exception) -> Response:
        message = "the fleet database is not reachable now; try again in a moment"
        if wants_api(request):
            return JSONResponse({"detail": message}, status_code=503)
        return web.error(request, 503, message)

    app.add_exception_handler(FleetDatabaseUnavailable, unavailable)
    names = [*server.server_names, *server_names]
    install_guards(app, web, names, server.public_origins, secure_cookies)
    return app
