"""The printable transparency notice for people on site (privacy rule 7).

Rendered from the live config, so it cannot drift from what actually runs. The view model
below is the only thing the template sees: camera URLs (they hold passwords) and file paths
are never put into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from onsight.apps.registry import event_types, kinds
from onsight.config.models import CameraConfig, Config
from onsight.config.purposes import PURPOSES, app_descriptions
from onsight.templating import templates

NO_CONTACT = "ask the site manager"

_REDACTION = {
    "people": "images shown to staff blur whole people",
    "faces": "images shown to staff blur faces and heads",
    "none": "products are shown unblurred: this camera films products, not people; a "
    "person who comes into view is still blurred",
}

# Image sources and cameras at fps <= 1: no tracking, every frame is counted on its own.
STILLS_NOTE = (
    "This camera takes stills; figures count sightings, not people (someone seen in three "
    "pictures is counted three times, and nobody is followed from one picture to the next)."
)

# What onsight never collects, whatever the config says (privacy rules 1-3, 8, 9).
NEVER_COLLECTED = (
    "pictures of faces: faces are only located so that they can be blurred",
    "who anyone is: no names or identities are attached to the data",
    "face recognition, re-identification or any biometric template",
    "records about individual people: times are measured per area or station, never per person",
    "tracks or paths of where someone walked: they exist for a few seconds, in memory only",
)
_NO_IMAGES = "images of people, unless the people in them are blurred first"
_RAW_IMAGES = (
    "images of people, unless the people in them are blurred first, except the raw video "
    "kept for at most {hours} hours (see How long data is kept)"
)


@dataclass(frozen=True)
class CameraNotice:
    name: str
    purpose: str
    measures: tuple[str, ...]
    items: tuple[tuple[str, tuple[str, ...]], ...]  # (heading, configured items) per app kind
    redaction: str
    masks: int
    notes: tuple[str, ...]


@dataclass(frozen=True)
class SinkNotice:
    """A place data is sent besides the local database, shown under "where data goes"."""

    name: str
    what: str


def render_notice(config: Config, generated: datetime) -> str:
    """A self-contained HTML page (inline CSS, no scripts, no external resources)."""
    privacy = config.privacy
    retention = privacy.retention
    return (
        templates("onsight.privacy")
        .get_template("notice.html.j2")
        .render(
            site=config.site,
            operator=privacy.operator,
            contact=privacy.contact or NO_CONTACT,
            cameras=[_camera(camera) for camera in config.cameras],
            never=(
                *NEVER_COLLECTED,
                _RAW_IMAGES.format(hours=retention.media_hours)
                if retention.store_media
                else _NO_IMAGES,
            ),
            sinks=_sinks(config),
            events_days=retention.events_days,
            media_hours=retention.media_hours if retention.store_media else None,
            generated=generated.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
    )


def _camera(camera: CameraConfig) -> CameraNotice:
    notes: list[str] = []
    if camera.purpose == "screening":
        notes.append(
            "No thermal image and no per-person temperature is stored; "
            "an alert is shown on site only."
        )
    if camera.purpose != "screening" and camera.takes_stills():
        notes.append(STILLS_NOTE)
    items: list[tuple[str, tuple[str, ...]]] = []
    for kind in kinds():
        configured = kind.items(camera)
        if configured and kind.notice_note:
            notes.append(kind.notice_note)
        if configured and kind.describe is not None:
            items.append((kind.heading, tuple(kind.describe(item) for item in configured)))
    running = camera.apps()
    return CameraNotice(
        name=camera.name,
        purpose=_sentence(PURPOSES[camera.purpose]),
        # in the registry's order (line, zone, dwell, ...), which reads better than alphabetical
        measures=tuple(text for app, text in app_descriptions().items() if app in running),
        items=tuple(items),
        redaction=_REDACTION[camera.privacy.redaction],
        masks=len(camera.privacy.masks),
        notes=tuple(notes),
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sinks(config: Config) -> list[SinkNotice]:
    """Every opt-in sink (rule 7), named by host only: URLs can carry tokens."""
    sinks: list[SinkNotice] = []
    labels = {event.kind: event.label for event in event_types()}
    if config.mqtt is not None:
        what = "the same counts and statistics, as they are made, on the site's message broker"
        if any(c.screening is not None and c.screening.alert_topic for c in config.cameras):
            what += "; screening alerts (that an alert happened, never a temperature)"
        sinks.append(SinkNotice(f"MQTT broker {config.mqtt.host}", what))
    for hook in config.webhooks:
        host = urlsplit(hook.url).hostname or "?"
        listed = ", ".join(labels[kind] for kind in hook.events)
        sinks.append(SinkNotice(f"web service {host} ({hook.name})", listed))
    return sinks
