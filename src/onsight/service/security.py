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

from onsight.service.auth import Session, User, UserStore

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
    """Machines get 401 JSON, browsers a redirect: API/metrics paths or any Authorization."""
    path = request.url.path
    return (
        path == "/api"
        or path.startswith(("/api/", "/metrics"))
        or "authorization" in request.headers
    )


def safe_next(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site, else `default` (no open redirect via ?next=)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return default
    return target


def _bearer(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header; "" when the header is not Bearer."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class Authenticator:
    def __init__(self, store: UserStore, session_ttl: timedelta) -> None:
        self.store = store
        self.session_ttl = session_ttl

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
        """Bearer token first, then the session cookie; AuthRequired when neither is valid."""
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
