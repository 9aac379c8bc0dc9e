"""HMAC-SHA256 signatures of webhook requests; receivers can reuse `verify_signature`."""

from __future__ import annotations

import hashlib
import hmac
import time


def signature_header(secret: str, timestamp: str, body: bytes | str) -> str:
    """`sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>`."""
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes | str,
    header: str,
    max_age_seconds: float = 300.0,
    now: float | None = None,
) -> bool:
    """True when `header` signs `timestamp` + `body` with `secret` and the timestamp is fresh."""
    stamp = str(timestamp)
    try:
        seconds = int(stamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - seconds) > max_age_seconds:
        return False
    expected = signature_header(secret, stamp, body)
    return hmac.compare_digest(expected.encode(), header.encode("utf-8", "replace"))
