"""`/login` and `/logout`: the HTML form, throttled per client address and per (address, user
name) with a bound on concurrent password checks (`throttle.py`); every outcome is audited.

The routes need only what `LoginWeb` names, so the fleet dashboard mounts them as well.
"""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from onsight.privacy.audit import AuditAction
from onsight.service.auth import MAX_PASSWORD_LENGTH, User, UserStore
from onsight.service.security import (
    Authenticator,
    clear_session_cookie,
    safe_next,
    set_session_cookie,
)
from onsight.service.throttle import Attempt, LoginLimiter

_TOO_MANY = "Too many failed logins. Wait a little and try again."
_BUSY = "The server is busy checking other logins. Try again in a moment."
_WRONG = "Wrong user name or password."


class LoginContext(Protocol):
    @property
    def users(self) -> UserStore: ...

    @property
    def secure_cookies(self) -> bool: ...


class LoginWeb(Protocol):
    """What the login routes use of `onsight.service.web.Web` (the fleet has its own)."""

    @property
    def context(self) -> LoginContext: ...

    @property
    def auth(self) -> Authenticator: ...

    def page(
        self, request: Request, template: str, user: User | None, status: int = 200,
        **values: Any,
    ) -> HTMLResponse: ...  # fmt: skip

    def audit(self, action: AuditAction, user: User | str, **detail: Any) -> None: ...


def router(web: LoginWeb, limiter: LoginLimiter) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    context = web.context

    def form(request: Request, next_path: str, error: str = "", status: int = 200) -> HTMLResponse:
        return web.page(request, "login.html.j2", None, status, next=next_path, error=error)

    @routes.get("/login")
    def login_page(request: Request, next: str = "/") -> HTMLResponse:
        return form(request, safe_next(next))

    @routes.post("/login")
    def login(
        request: Request,
        username: Annotated[str, Form(max_length=200)] = "",
        password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)] = "",
        next: Annotated[str, Form(max_length=2000)] = "/",
    ) -> Response:
        target = safe_next(next)
        address = request.client.host if request.client else "unknown"
        attempt = limiter.attempt(address, username)
        if not isinstance(attempt, Attempt):  # nothing was checked: nothing to audit
            refusal = form(request, target, _BUSY if attempt.busy else _TOO_MANY, 429)
            refusal.headers["Retry-After"] = str(attempt.retry_after)
            return refusal
        try:
            user = context.users.authenticate(username, password) if username and password else None
        except BaseException:
            attempt.failed()
            raise
        if user is None:
            attempt.failed()
            # The typed name only if it is a user: people type passwords into it by mistake,
            # and the audit log cannot be cleaned afterwards.
            known = any(u.name == username for u in context.users.users())
            tried = username if known else None
            web.audit("login_failed", "anonymous", name=tried, address=address)
            return form(request, target, _WRONG, 401)
        attempt.succeeded()
        previous = web.auth.session(request)
        if previous is not None:  # a login always starts a new session id, never keeps one
            context.users.end_session(previous.id)
        context.users.purge_expired_sessions()  # logins are rare: a good time to tidy up
        session = context.users.create_session(
            user, web.auth.session_ttl, lifetime=web.auth.session_lifetime
        )
        web.audit("login", user, address=address)
        response = RedirectResponse(target, status_code=303)
        set_session_cookie(response, session, context.secure_cookies)
        return response

    @routes.post("/logout", dependencies=[Depends(web.auth.check_csrf)])
    def logout(request: Request) -> Response:
        session = web.auth.session(request)
        if session is not None:  # None for an API token, which has nothing to end
            context.users.end_session(session.id)
            web.audit("logout", session.user)
        response = RedirectResponse("/login", status_code=303)
        clear_session_cookie(response)
        return response

    return routes
