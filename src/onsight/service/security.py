"""Request-level authentication for the FastAPI app: who is calling, may they, is the form ours.

The methods of `Authenticator` take a `fastapi.Request` and are usable directly as FastAPI
dependencies (`Depends(auth.user)`). They raise `AuthRequired` or `Forbidden`; the app turns
those into 401 JSON / a redirect to /login, and 403.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from typing import Annotated, cast
from urllib.parse import urlsplit

from fastapi import Form, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onsight.service.auth import SESSION_LIFETIME, Session, User, UserStore

SESSION_COOKIE = "onsight_session"
CSRF_FIELD = "csrf_token"
_STATE_SESSION = "onsight_session"  # request.state cache: one database read per request
_MISSING = object()


class AuthRequired(Exception):
    """No valid login. `api` selects 401 JSON (machines) over a redirect to /login (browsers)."""

    def __init__(self, api: bool) -> None:
        super().__init__("authentication required")
        self.api = api


class Forbidden(Exception):
    """Logged in, but not allowed (a viewer on an admin route, or a bad CSRF token)."""

    def __init__(self, reason: str = "forbidden") -> None:
        super().__init__(reason)
        self.reason = reason


def set_session_cookie(response: Response, session: Session, secure: bool) -> None:
    max_age = max(int((session.expires - datetime.now(UTC)).total_seconds()), 0)
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


def wants_api(request: Request) -> bool:
    """Machines get 401 JSON, browsers a redirect: API/metrics paths or a Bearer header."""
    path = request.url.path
    return path == "/api" or path.startswith(("/api/", "/metrics")) or _bearer(request) is not None


def safe_next(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site, else `default` (no open redirect via ?next=)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return default
    return target


def _bearer(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header ("" when it has none); None without one.

    Other schemes are ignored: a reverse proxy's own `Basic` login passes the header on, and
    it must neither replace the session cookie nor turn every page into a 401.
    """
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


class Authenticator:
    """`session_ttl`: idle time before a session ends; `session_lifetime`: its absolute end."""

    def __init__(
        self,
        store: UserStore,
        session_ttl: timedelta,
        session_lifetime: timedelta = SESSION_LIFETIME,
    ) -> None:
        self.store = store
        self.session_ttl = session_ttl
        self.session_lifetime = session_lifetime

    def session(self, request: Request) -> Session | None:
        """The caller's live cookie session (renewed), or None."""
        cached = getattr(request.state, _STATE_SESSION, _MISSING)
        if cached is not _MISSING:
            return cast(Session | None, cached)
        cookie = request.cookies.get(SESSION_COOKIE)
        found = self.store.session(cookie, self.session_ttl) if cookie else None
        setattr(request.state, _STATE_SESSION, found)
        return found

    def user(self, request: Request) -> User:
        """Bearer token first, then the session cookie; AuthRequired when neither is valid.

        Only a Bearer header is a claim to be judged by: other schemes are ignored.
        """
        token = _bearer(request)
        if token is not None:
            # An Authorization header that does not check out is a failure, never a fallback
            # to the cookie: the caller asked to be judged by the token.
            user = self.store.user_for_token(token) if token else None
            if user is None:
                raise AuthRequired(api=True)
            return user
        session = self.session(request)
        if session is None:
            raise AuthRequired(api=wants_api(request))
        return session.user

    def admin(self, request: Request) -> User:
        user = self.user(request)
        if user.role != "admin":
            raise Forbidden("this needs an admin account")
        return user

    def check_csrf(
        self, request: Request, form_token: Annotated[str, Form(alias=CSRF_FIELD)] = ""
    ) -> None:
        """Refuse a state-changing browser request whose form lacks the session's CSRF token.

        Bearer-token requests are exempt: a browser cannot attach that header cross-site.
        """
        if _bearer(request):
            self.user(request)  # the token must still be valid
            return
        session = self.session(request)
        if session is None:
            raise AuthRequired(api=wants_api(request))
        if not hmac.compare_digest(form_token.encode(), session.csrf_token.encode()):
            raise Forbidden("invalid or missing CSRF token; reload the page and try again")


class SessionCookieRefresh:
    """Re-sends the session cookie when a request moved its session's idle expiry, so the
    browser's Max-Age follows the server's expiry (responses that set the cookie keep theirs)."""

    def __init__(self, app: ASGIApp, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def refreshing_send(message: Message) -> None:
            session = scope.get("state", {}).get(_STATE_SESSION)
            if (
                message["type"] == "http.response.start"
                and isinstance(session, Session)
                and session.renewed
            ):
                headers = list(message.get("headers", []))
                prefix = f"{SESSION_COOKIE}=".encode()
                if not any(k == b"set-cookie" and v.startswith(prefix) for k, v in headers):
                    cookie = Response()
                    set_session_cookie(cookie, session, self.secure)
                    headers.extend(h for h in cookie.raw_headers if h[0] == b"set-cookie")
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, refreshing_send)
