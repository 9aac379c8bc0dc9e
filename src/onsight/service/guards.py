"""ASGI guards in front of every route: known Host names, bounded request bodies, same-origin
unsafe requests.

They run before routing, authentication and form parsing, so an anonymous client can make the
service neither buffer a large body nor act on a form posted from another site (login CSRF
included: the login form has no session yet, hence no CSRF token).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024  # the largest form here (the editor's drawing) is < 256 KiB
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

# (scope, status, message) -> the response to send instead of running the app
Refusal = Callable[[Scope, int, str], Response]


class _TooLarge(Exception):
    """Raised into the app from `receive` once the body passes the limit."""


class BodyLimit:
    """Answers 413 to a body over `limit` bytes: at once when Content-Length says so, else
    (chunked uploads) as soon as the bytes received pass it; the rest is never read."""

    def __init__(self, app: ASGIApp, refuse: Refusal, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.refuse = refuse
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body too large (at most {self.limit // 1024} KiB)"
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > self.limit:
            await self.refuse(scope, 413, message)(scope, receive, send)
            return
        received = 0
        refused = started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > self.limit:
                    refused = True
                    raise _TooLarge
            return event

        async def guarded_send(event: Message) -> None:
            nonlocal started
            if refused:  # whatever the app makes of the aborted read, the answer is 413
                return
            started = started or event["type"] == "http.response.start"
            await send(event)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise
        if refused and not started:
            await self.refuse(scope, 413, message)(scope, receive, send)


def _host_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    """(lower-case host, port) of `netloc`; a missing port is `scheme`'s default."""
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        return None
    if not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    return parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def origin_key(origin: str) -> tuple[str, int] | None:
    """(host, port) of a configured origin such as https://onsight.example.com."""
    parts = urlsplit(origin)
    return _host_port(parts.netloc, parts.scheme) if parts.scheme in _DEFAULT_PORTS else None


def cross_site(headers: Headers, trusted: frozenset[tuple[str, int]] = frozenset()) -> str | None:
    """Why the browser's own Origin (or, without one, Referer) shows another site; else None.

    No Origin and no Referer is a non-browser client (curl, a script with a token): allowed.
    `Origin: null` (sandboxed frames, data: pages) is never this site. `trusted` holds the
    configured public origins, for a reverse proxy that rewrites Host.
    """
    source = headers.get("origin") or headers.get("referer")
    if not source:
        return None
    try:
        parts = urlsplit(source)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in _DEFAULT_PORTS:
        return "the request came from a page that is not part of this site"
    host = headers.get("host", "")
    # The Host header has no scheme: a port left out means the default of the origin's one,
    # which also holds behind a TLS proxy that passes Host through.
    origin = _host_port(parts.netloc, parts.scheme)
    if origin is None or (origin != _host_port(host, parts.scheme) and origin not in trusted):
        return (
            f"the request came from another site ({parts.scheme}://{parts.netloc[:100]}, this "
            f"is {host[:100] or 'unknown'}); behind a reverse proxy, pass the Host header "
            "through or list the public address in server.public_origins"
        )
    return None


class SameOrigin:
    """Refuses (403) a state-changing request that a browser says another site sent.

    Defence in depth beside SameSite=Strict cookies and CSRF tokens; the only guard of /login.
    """

    def __init__(self, app: ASGIApp, refuse: Refusal, public_origins: list[str]) -> None:
        self.app = app
        self.refuse = refuse
        keys = (origin_key(origin) for origin in public_origins)
        self.trusted = frozenset(key for key in keys if key is not None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            reason = cross_site(Headers(scope=scope), self.trusted)
            if reason is not None:
                await self.refuse(scope, 403, reason)(scope, receive, send)
                return
        await self.app(scope, receive, send)


LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class TrustedHost:
    """Answers 400 to a request whose Host header names no address of this server.

    A DNS-rebinding page reaches the server under the attacker's own domain name, and that
    name is what its requests carry in Host: refusing unknown names stops it. Allowed: IP
    literals (a browser sends one only when it connected to that address itself, so rebinding
    cannot produce one), loopback names, and `names` (the configured server names, the hosts
    of the public origins and the address the server listens on). Written here rather than
    Starlette's TrustedHostMiddleware, which mis-parses IPv6 literals such as `[::1]:8080`.
    """

    def __init__(self, app: ASGIApp, refuse: Refusal, names: Iterable[str]) -> None:
        self.app = app
        self.refuse = refuse
        self.names = LOOPBACK_NAMES | {_normal(name) for name in names}

    def allowed(self, host_header: str) -> bool:
        parsed = _host_port(host_header, "http") if host_header else None
        if parsed is None:
            return False
        host = _normal(parsed[0])
        return _is_ip(host) or host in self.names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allowed(Headers(scope=scope).get("host", "")):
            message = (
                "unknown server name in the Host header; add the name this server is reached "
                "by to server.server_names"
            )
            await self.refuse(scope, 400, message)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _normal(name: str) -> str:
    """Lower case, no trailing dot, no IPv6 brackets."""
    return name.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")
