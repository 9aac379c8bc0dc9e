"""Webhook delivery: a durable SQLite outbox, one worker thread per hook, retries, dead letters.

`WebhookSink.write` turns each subscribed event into one outbox row per hook, in one
transaction per bus batch, and returns; a restart on the same file resumes what is pending.
Each hook has its own thread and delivers its rows in order, so a slow or failing hook never
delays another one.

The request (one per event and hook)::

    POST <url>                      redirects are not followed
    Content-Type: application/json
    X-Onsight-Event: crossing | zone_minute | zone_dwell
    X-Onsight-Id: <event id>        the same on every retry: drop duplicates by it
    X-Onsight-Timestamp: <unix seconds when this try was signed>
    X-Onsight-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

    {"site": ..., "camera": ..., "app": ..., "name": ..., "id": ..., "kind": ..., "time": ..., ...}

To verify, a receiver takes the raw body bytes exactly as received (before parsing JSON),
computes HMAC-SHA256 with the shared secret over the ASCII timestamp header, a ".", and the
body, and compares `sha256=<hex digest>` with the signature header in constant time. It
rejects a timestamp more than five minutes from its own clock (a replayed request), and
remembers recent X-Onsight-Id values, since delivery is at-least-once. `verify_signature`
does the signature and age checks.

A 2xx answer means delivered. Connection errors, timeouts, 408, 429 and 5xx are retried with
exponential backoff and jitter (a Retry-After header is honoured, up to the backoff cap); any
other answer is a permanent failure. After `max_attempts` tries or a permanent failure the
delivery moves to the `webhook_dead_letters` table. Secrets, URLs and bodies are never logged.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from onsight.config.service import WebhookConfig
from onsight.errors import OnsightError
from onsight.events.payloads import to_message
from onsight.events.signing import signature_header
from onsight.sqlite import open_database, transaction
from onsight.types import Event, utc_iso

log = logging.getLogger(__name__)

# Table names carry a prefix so the outbox may share a file with the event store.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id INTEGER PRIMARY KEY,
    hook TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due REAL NOT NULL,               -- unix seconds of the next try
    first_attempt TEXT,              -- UTC ISO-8601 with Z
    last_attempt TEXT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS webhook_outbox_hook ON webhook_outbox (hook, id);
CREATE TABLE IF NOT EXISTS webhook_dead_letters (
    id INTEGER PRIMARY KEY,
    hook TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    first_attempt TEXT,              -- NULL when the hook was removed before any try
    last_attempt TEXT
);
"""
_OUTBOX_COLUMNS = "id, event_id, kind, body, attempts, due, first_attempt"
_DEAD_COLUMNS = "id, hook, event_id, kind, body, attempts, last_error, first_attempt, last_attempt"
_RETRYABLE_STATUS = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class _Delivery:
    row: int
    event_id: str
    kind: str
    body: str
    attempts: int
    due: float
    first_attempt: str | None


@dataclass(frozen=True, slots=True)
class _Outcome:
    delivered: bool
    retry: bool = False
    error: str = ""
    retry_after: float | None = None


class WebhookSink:
    """Event-bus sink that POSTs subscribed events to webhooks, durably and with retries."""

    def __init__(
        self,
        hooks: Sequence[WebhookConfig],
        site: str,
        db_path: Path,
        transport: httpx.BaseTransport | None = None,
        *,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        names = [hook.name for hook in hooks]
        if len(set(names)) != len(names):
            raise OnsightError("webhook names must be unique")
        self._hooks = list(hooks)
        self._site = site
        self._transport = transport
        self._base = backoff_base
        self._cap = backoff_cap
        self._clock = clock
        self._random = random.Random()
        self._lock = threading.Lock()  # guards the connection, the counters and `_closed`
        self._stop = threading.Event()
        self._closed = False
        self._db = open_database(
            db_path, "webhook outbox", lambda db: db.executescript(_SCHEMA), busy_timeout_ms=5000
        )
        self._delivered = 0
        with self._lock:
            self._recover(set(names))
            self._pending = self._count("webhook_outbox")
            self._dead = self._count("webhook_dead_letters")
        self._wake = {hook.name: threading.Event() for hook in self._hooks}
        self._threads = [
            threading.Thread(
                target=self._run, args=(hook,), name=f"webhook-{hook.name}", daemon=True
            )
            for hook in self._hooks
        ]
        for thread in self._threads:
            thread.start()

    # -- bus side -------------------------------------------------------------------------

    def write(self, events: Sequence[Event]) -> None:
        """Queue one delivery per (event, subscribed hook) in a single transaction."""
        rows: list[tuple[str, str, str, str, float]] = []
        now = self._clock()
        for event in events:
            message = to_message(event)
            targets = [hook.name for hook in self._hooks if message.kind in hook.events]
            if not targets:
                continue
            body = json.dumps(
                {
                    "site": self._site,
                    "camera": message.camera,
                    "app": message.app,
                    "name": message.name,
                    **message.payload,
                },
                separators=(",", ":"),
            )
            event_id = str(message.payload["id"])
            rows.extend((name, event_id, message.kind, body, now) for name in targets)
        if not rows:
            return
        with self._lock:
            if self._closed:
                raise RuntimeError("webhook sink is closed")
            with transaction(self._db):
                self._db.executemany(
                    "INSERT INTO webhook_outbox (hook, event_id, kind, body, due)"
                    " VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
            self._pending += len(rows)
        for name in {row[0] for row in rows}:
            self._wake[name].set()

    # -- read side (metrics, API) ---------------------------------------------------------

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    @property
    def delivered(self) -> int:
        """Deliveries acknowledged with a 2xx since this sink started."""
        with self._lock:
            return self._delivered

    @property
    def dead_letters(self) -> int:
        with self._lock:
            return self._dead

    def dead_letter_rows(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest dead letters first; `body` is the JSON object that was sent."""
        with self._lock:
            if self._closed:
                return []
            rows = self._db.execute(
                f"SELECT {_DEAD_COLUMNS} FROM webhook_dead_letters ORDER BY id DESC LIMIT ?",
                (max(0, limit),),
            ).fetchall()
        keys = _DEAD_COLUMNS.split(", ")
        result = [dict(zip(keys, row, strict=True)) for row in rows]
        for item in result:
            item["body"] = json.loads(item["body"])
        return result

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers; whatever is not delivered stays in the outbox for the next start."""
        self._stop.set()
        for wake in self._wake.values():
            wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    # -- worker side ----------------------------------------------------------------------

    def _run(self, hook: WebhookConfig) -> None:
        wake = self._wake[hook.name]
        with httpx.Client(
            transport=self._transport, timeout=hook.timeout_seconds, follow_redirects=False
        ) as client:
            while True:
                wake.clear()  # before reading, so a write after the read still wakes us
                if self._stop.is_set():  # checked after clear: close() sets stop, then wake
                    return
                delivery = self._head(hook.name)
                if delivery is None:
                    wake.wait()
                    continue
                delay = delivery.due - self._clock()
                if delay > 0:
                    self._stop.wait(min(delay, self._cap))
                    continue
                started = utc_iso(datetime.now(UTC))
                try:
                    outcome = _attempt(client, hook, delivery, self._clock())
                except Exception as exc:  # keep the worker alive whatever the transport does
                    outcome = _Outcome(False, retry=True, error=type(exc).__name__)
                self._record(hook, delivery, outcome, started)

    def _head(self, hook: str) -> _Delivery | None:
        with self._lock:
            if self._closed:
                return None
            row = self._db.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM webhook_outbox WHERE hook = ? ORDER BY id LIMIT 1",
                (hook,),
            ).fetchone()
        return None if row is None else _Delivery(*row)

    def _record(
        self, hook: WebhookConfig, delivery: _Delivery, outcome: _Outcome, started: str
    ) -> None:
        attempts = delivery.attempts + 1
        finished = utc_iso(datetime.now(UTC))
        error = _scrub(outcome.error, hook)
        retry = not outcome.delivered and outcome.retry and attempts < hook.max_attempts
        with self._lock:
            if self._closed:  # closed while this try was in flight: it is retried next start
                return
            with transaction(self._db):
                if outcome.delivered:
                    self._db.execute("DELETE FROM webhook_outbox WHERE id = ?", (delivery.row,))
                elif retry:
                    self._db.execute(
                        "UPDATE webhook_outbox SET attempts = ?, due = ?, first_attempt = ?,"
                        " last_attempt = ?, last_error = ? WHERE id = ?",
                        (
                            attempts,
                            self._clock() + self._delay(attempts, outcome.retry_after),
                            delivery.first_attempt or started,
                            finished,
                            error,
                            delivery.row,
                        ),
                    )
                else:
                    self._bury(hook.name, delivery, attempts, error, started, finished)
            if outcome.delivered:
                self._delivered += 1
                self._pending -= 1
                return
            # logged before the counters move, so a reader that sees the count sees the line
            if retry:
                log.warning(
                    "webhook %s: try %d failed (%s); will retry", hook.name, attempts, error
                )
                return
            log.warning(
                "webhook %s: event %s moved to dead letters after %d tries: %s",
                hook.name,
                delivery.event_id,
                attempts,
                error,
            )
            self._dead += 1
            self._pending -= 1

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self._cap)
        ceiling = min(self._cap, self._base * 2.0 ** (attempts - 1))
        return ceiling * self._random.uniform(0.5, 1.0)  # jitter spreads out retries

    # -- database helpers (callers hold the lock) ----------------------------------------

    def _bury(
        self,
        hook: str,
        delivery: _Delivery,
        attempts: int,
        error: str,
        first: str | None,
        last: str | None,
    ) -> None:
        self._db.execute(
            "INSERT INTO webhook_dead_letters (hook, event_id, kind, body, attempts, last_error,"
            " first_attempt, last_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                hook,
                delivery.event_id,
                delivery.kind,
                delivery.body,
                attempts,
                error,
                delivery.first_attempt or first,
                last,
            ),
        )
        self._db.execute("DELETE FROM webhook_outbox WHERE id = ?", (delivery.row,))

    def _recover(self, configured: set[str]) -> None:
        """Dead-letter rows of hooks no longer configured; bring far-off retries within the cap."""
        rows = self._db.execute(f"SELECT hook, {_OUTBOX_COLUMNS} FROM webhook_outbox").fetchall()
        with transaction(self._db):
            for hook, *fields in rows:
                if hook not in configured:
                    delivery = _Delivery(*fields)
                    error = "webhook is no longer configured"
                    self._bury(hook, delivery, delivery.attempts, error, None, None)
            # a backward clock jump or a smaller cap must not leave retries stranded
            self._db.execute(
                "UPDATE webhook_outbox SET due = MIN(due, ?)", (self._clock() + self._cap,)
            )

    def _count(self, table: str) -> int:
        return int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _attempt(
    client: httpx.Client, hook: WebhookConfig, delivery: _Delivery, now: float
) -> _Outcome:
    timestamp = str(int(now))
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "X-Onsight-Event": delivery.kind,
        "X-Onsight-Id": delivery.event_id,
        "X-Onsight-Timestamp": timestamp,
        "X-Onsight-Signature": signature_header(hook.secret, timestamp, body),
    }
    try:
        response = client.post(hook.url, content=body, headers=headers)
    except httpx.TimeoutException:
        return _Outcome(False, retry=True, error=f"timed out after {hook.timeout_seconds:g} s")
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        return _Outcome(False, error="invalid webhook URL")
    except httpx.TransportError as exc:
        return _Outcome(False, retry=True, error=f"{type(exc).__name__}: {exc}")
    status = response.status_code
    if 200 <= status < 300:
        return _Outcome(True)
    if status >= 500 or status in _RETRYABLE_STATUS:
        retry_after = _retry_after(response.headers.get("Retry-After"), now)
        return _Outcome(False, retry=True, error=f"HTTP {status}", retry_after=retry_after)
    if 300 <= status < 400:
        return _Outcome(False, error=f"HTTP {status} (redirects are not followed)")
    return _Outcome(False, error=f"HTTP {status}")


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _scrub(error: str, hook: WebhookConfig) -> str:
    """The error without the secret, the URL or its userinfo, one line, bounded."""
    parts = urlsplit(hook.url)
    secrets = [hook.secret, hook.url, parts.netloc, parts.password or ""]
    for secret in secrets:
        if secret:
            error = error.replace(secret, "***")
    return " ".join(error.split())[:300]
