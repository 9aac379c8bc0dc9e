"""The FastAPI app of `onsight serve`: dashboard pages, JSON API, live view, metrics.

`create_app(context)` wires the route modules to one `ServiceContext`. Every route needs a
login (session cookie) or an API token, except /healthz, /login, /notice and /static.
"""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

import contextlib
from datetime import timedelta
from typing import Annotated, Any, Protocol
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onsight.service import (
    add_camera,
    api,
    editing,
    inspection_page,
    live,
    login,
    pages,
    report_pages,
    spatial,
)
from onsight.service.auth import User
from onsight.service.context import ServiceContext
from onsight.service.guards import BodyLimit, SameOrigin, TrustedHost
from onsight.service.security import (
    Authenticator,
    AuthRequired,
    Forbidden,
    SessionCookieRefresh,
    safe_next,
    wants_api,
)
from onsight.service.throttle import LoginLimiter
from onsight.service.web import Web

# No inline script or style anywhere: scripts and CSS come from /static.
CSP = (
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)
# Sent over TLS only (browsers ignore it on plain HTTP). No includeSubDomains: the server's
# name may be a LAN name whose other hosts do not all speak TLS.
HSTS = b"max-age=31536000"


def create_app(context: ServiceContext) -> FastAPI:
    server = context.loaded.config.server
    auth = Authenticator(
        context.users,
        timedelta(hours=server.session_hours),
        timedelta(hours=server.session_max_hours),
    )
    web = Web(context, auth)
    app = FastAPI(
        title="onsight",
        summary="Privacy-preserving people counting and occupancy: API of one site.",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served below, behind the login like everything else
    )

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(user: Annotated[User, Depends(auth.user)]) -> dict[str, Any]:
        return app.openapi()

    app.include_router(api.router(web))
    limiter = LoginLimiter(server.login_attempts_per_minute)
    app.state.login_limiter = limiter  # for tests and diagnostics
    app.include_router(login.router(web, limiter))
    app.include_router(add_camera.router(web))  # before pages: /cameras/new
    app.include_router(pages.router(web))
    app.include_router(report_pages.router(web))
    app.include_router(live.router(web))
    app.include_router(editing.router(web))
    app.include_router(spatial.router(web))
    app.include_router(inspection_page.router(web))
    app.mount("/static", StaticFiles(packages=[("onsight.service", "static")]), name="static")
    install_handlers(app, web)
    names = [*server.server_names, *context.server_names]
    install_guards(app, web, names, server.public_origins, context.secure_cookies)
    return app


class ErrorPages(Protocol):
    """What the handlers and guards use of `Web` (the fleet dashboard has its own)."""

    def error(self, request: Request, status: int, message: str) -> HTMLResponse: ...


def install_guards(
    app: FastAPI, web: ErrorPages, names: list[str], public_origins: list[str], secure: bool
) -> None:
    """The middleware in front of every route; `names`: the Host names served beyond IP
    literals, loopback and the hosts of `public_origins`."""

    def refuse(scope: Scope, status: int, message: str) -> Response:
        request = Request(scope)
        if wants_api(request):
            return JSONResponse({"detail": message}, status_code=status)
        return web.error(request, status, message)

    names = names + [h for h in (urlsplit(o).hostname for o in public_origins) if h]
    # Last added runs first: headers on every answer, the Host check, the other guards, the
    # session cookie refresh, then the routes.
    app.add_middleware(SessionCookieRefresh, secure=secure)
    app.add_middleware(BodyLimit, refuse=refuse)
    app.add_middleware(SameOrigin, refuse=refuse, public_origins=public_origins)
    app.add_middleware(TrustedHost, refuse=refuse, names=names)
    app.add_middleware(_SecurityHeaders)


def install_handlers(app: FastAPI, web: ErrorPages) -> None:
    async def auth_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuthRequired)
        if exc.api:
            return JSONResponse(
                {"detail": "authentication required"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        target = "/"
        if request.method == "GET":
            query = f"?{request.url.query}" if request.url.query else ""
            target = safe_next(request.url.path + query)
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Forbidden)
        if wants_api(request):
            return JSONResponse({"detail": exc.reason}, status_code=403)
        return web.error(request, 403, exc.reason)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if wants_api(request) or exc.status_code == 405:
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        return web.error(request, exc.status_code, str(exc.detail))

    async def server_error(request: Request, exc: Exception) -> Response:
        # Starlette re-raises after this answer, so the traceback reaches the server log only.
        # It runs outside the middleware: the security headers are added here.
        message = "internal error; the details are in the server log"
        response: Response = JSONResponse({"detail": message}, status_code=500)
        if not wants_api(request):
            # If the users database is what failed, the page fails too: answer plainly.
            with contextlib.suppress(Exception):
                response = web.error(request, 500, message)
        response.headers["content-security-policy"] = CSP
        response.headers["cache-control"] = "no-store"
        for name, value in _SECURITY_HEADERS:
            response.headers[name.decode()] = value.decode()
        if request.url.scheme == "https":
            response.headers["strict-transport-security"] = HSTS.decode()
        return response

    async def invalid(request: Request, exc: Exception) -> Response:
        # Never the submitted values: FastAPI's default answer echoes them (a too-long
        # password field included). Where and what only.
        assert isinstance(exc, RequestValidationError)
        places = [list(error.get("loc", ())) for error in exc.errors()]
        if wants_api(request):
            messages = [str(error.get("msg", "invalid")) for error in exc.errors()]
            detail = [{"loc": loc, "msg": msg} for loc, msg in zip(places, messages, strict=True)]
            return JSONResponse({"detail": detail}, status_code=422)
        fields = ", ".join(str(loc[-1]) for loc in places if loc)
        message = f"invalid value for {fields or 'the request'}; nothing was changed"
        return web.error(request, 422, message)

    app.add_exception_handler(AuthRequired, auth_required)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, server_error)


def _relative(location: bytes, host: str) -> bytes:
    """A redirect to this very host as a path: Starlette's trailing-slash redirect builds an
    absolute URL from the request's Host, which must never be echoed back."""
    try:
        parts = urlsplit(location.decode("latin-1"))
    except ValueError:
        return b"/"
    if not parts.netloc or parts.netloc.lower() != host.lower():
        return location
    path = "/" + parts.path.lstrip("/\\")  # never "//name", which browsers read as a host
    return (path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")


class _SecurityHeaders:
    """Adds CSP and friends to every response that does not set its own CSP, HSTS over TLS,
    and makes redirects to this host relative."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")
        tls = scope.get("scheme") == "https"
        host = Headers(scope=scope).get("host", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                headers.extend(h for h in _SECURITY_HEADERS if h[0] not in names)
                if not static and b"cache-control" not in names:
                    # Pages show counts and images: no copy in shared or back-button caches.
                    headers.append((b"cache-control", b"no-store"))
                if tls and b"strict-transport-security" not in names:
                    headers.append((b"strict-transport-security", HSTS))
                if 300 <= message["status"] < 400:
                    headers = [
                        (k, _relative(v, host) if k.lower() == b"location" else v)
                        for k, v in headers
                    ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
