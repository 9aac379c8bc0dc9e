"""What the ingester accepts from the broker: one MQTT message -> a row, a status, or a refusal.

A site publishes `<prefix>/<site>/<camera>/<app>/<name>` with the payload of
`events.payloads.to_message`, and its status on `<prefix>/<site>/status`. Everything else
under the prefix, and anything that does not match the app registry exactly (kind, topic
level, every column's type, a k-anonymity floor is left to the database's CHECKs), is refused
with a reason: the ingester dead-letters it and goes on. Nothing here trusts the sender.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from onsight.apps.base import Column, Value
from onsight.apps.registry import event_kinds, event_type
from onsight.config._base import NAME_PATTERN
from onsight.fleet.schema import FleetRow

MAX_MESSAGE_BYTES = 64 * 1024  # the largest event payload onsight sends is under 2 KiB
_NAME = re.compile(NAME_PATTERN)  # sites, cameras, lines, zones ... as a site's config allows
_MAX_TEXT = 256
_BIGINT = 2**63
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_CLOCK_SLACK = timedelta(days=1)  # a site's clock may run ahead, but not by a month


@dataclass(frozen=True, slots=True)
class SiteStatus:
    """The site is heard from: its status ("online", or "offline" from its MQTT will), or
    None for its audit head, which it publishes every few minutes (a quiet site is alive)."""

    site: str
    status: str | None


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str


Parsed = FleetRow | SiteStatus | Refused


def parse(
    topic: str,
    payload: bytes,
    *,
    prefix: str,
    sites: frozenset[str] | None = None,
    max_bytes: int = MAX_MESSAGE_BYTES,
    now: datetime | None = None,
) -> Parsed:
    """The message as a row to store, or why not. `sites`: the only sites accepted (None: any)."""
    if len(payload) > max_bytes:
        return Refused(f"oversized: {len(payload)} bytes (limit {max_bytes})")
    if not topic.startswith(prefix + "/"):
        return Refused("topic outside the prefix")
    levels = topic[len(prefix) + 1 :].split("/")
    site = levels[0]
    if not _NAME.match(site):
        return Refused("bad site name in topic")
    if sites is not None and site not in sites:
        return Refused(f"site {site!r} is not in the fleet config")
    if levels[1:] == ["status"]:
        status = payload.decode("utf-8", "replace")
        if status not in ("online", "offline"):
            return Refused("status is neither online nor offline")
        return SiteStatus(site, status)
    if levels[1:] == ["status", "audit"]:
        return SiteStatus(site, None)
    if len(levels) != 4:
        return Refused("topic is not <prefix>/<site>/<camera>/<app>/<name>")
    _, camera, app, name = levels
    if not _NAME.match(camera) or not _NAME.match(name):
        return Refused("bad camera or item name in topic")
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return Refused("payload is not JSON")
    if not isinstance(body, dict):
        return Refused("payload is not a JSON object")
    return _event(body, site, camera, app, name, now or datetime.now(UTC))


def _event(
    body: dict[str, object], site: str, camera: str, app: str, name: str, now: datetime
) -> FleetRow | Refused:
    kind = body.get("kind")
    if not isinstance(kind, str) or kind not in event_kinds():
        return Refused("unknown event kind")
    spec = event_type(kind)
    if spec.topic != app:
        return Refused(f"kind {kind} does not belong under topic level {app!r}")
    try:
        event_id = uuid.UUID(str(body.get("id")))
    except ValueError:
        return Refused("id is not a UUID")
    when = _time(body.get("time"), now)
    if isinstance(when, Refused):
        return when
    values: dict[str, Value | datetime] = {
        spec.time_column: when,
        "camera": camera,
        spec.name_column: name,
    }
    for column in spec.columns:
        value = _value(column, body.get(column.name), column.name in body)
        if isinstance(value, Refused):
            return value
        values[column.name] = value
    return FleetRow(kind=kind, site=site, id=event_id, values=values)


def _time(raw: object, now: datetime) -> datetime | Refused:
    if not isinstance(raw, str) or not raw.endswith("Z") or len(raw) > 40:
        return Refused("time is not UTC ISO-8601 with Z")
    try:
        when = datetime.fromisoformat(raw[:-1] + "+00:00")
    except ValueError:
        return Refused("time is not UTC ISO-8601 with Z")
    if not _EARLIEST <= when <= now + _CLOCK_SLACK:
        return Refused("time is out of range")
    return when


def _value(column: Column, raw: object, present: bool) -> Value | Refused:
    if raw is None:
        if column.nullable and present:
            return None
        return Refused(f"{column.name} is missing")
    if column.sql == "TEXT":
        if isinstance(raw, str) and len(raw) <= _MAX_TEXT and "\x00" not in raw and _utf8(raw):
            return raw
    elif column.sql == "INTEGER":
        if isinstance(raw, int) and not isinstance(raw, bool) and -_BIGINT <= raw < _BIGINT:
            return raw
    elif isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(float(raw)):
        return float(raw)
    return Refused(f"{column.name} is not {column.sql.lower()}")


def _utf8(text: str) -> bool:
    """JSON may carry a lone surrogate (`"\\ud800"`), which no database text can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
