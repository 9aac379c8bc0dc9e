"""Privacy settings: per-camera redaction and masks; site-wide retention and notice contacts."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from onsight.config._base import Polygon, require_area
from onsight.config._base import Strict as _Strict

MEDIA_HOURS_MAX = 72


class CameraPrivacy(_Strict):
    redaction: Literal["people", "faces", "none"] = Field(
        "people",
        description="What is blurred in every image that leaves the analysis path: whole "
        "people (default), faces and heads only, or nothing (only for inspection cameras).",
    )
    masks: list[Polygon] = Field(
        default_factory=list,
        description="Privacy masks (normalised polygons) burned into every image, e.g. windows "
        "onto a public street or a neighbour's property.",
    )
    face_confidence: float = Field(
        0.3,
        gt=0.0,
        lt=1.0,
        strict=False,
        description="Face detector threshold for `redaction: faces`; low on purpose, a false "
        "blur costs nothing, a missed face does.",
    )
    budget_ms: int = Field(
        2000,
        ge=50,
        le=60000,
        description="If finding people/faces takes longer than this, the whole image is "
        "pixelated instead (fail closed).",
    )

    @model_validator(mode="after")
    def _masks_have_area(self) -> Self:
        for mask in self.masks:
            require_area(mask, "privacy mask")
        return self


class RetentionConfig(_Strict):
    store_media: bool = Field(
        False,
        description="Keep raw images/clips at all. Off by default; snapshots you ask for are "
        "written where you say and are yours to delete.",
    )
    media_hours: int = Field(
        24,
        ge=1,
        description=f"Hours raw media is kept when `store_media` is on (at most "
        f"{MEDIA_HOURS_MAX}).",
    )
    events_days: int = Field(30, ge=1, le=3650, description="Days events and aggregates are kept.")
    check_minutes: float = Field(
        10.0,
        gt=0.0,
        le=1440.0,
        strict=False,
        description="How often retention is enforced while running (also at start-up).",
    )

    @field_validator("media_hours")
    @classmethod
    def _media_hours_capped(cls, hours: int) -> int:
        if hours > MEDIA_HOURS_MAX:
            raise ValueError(
                f"raw media may be kept at most {MEDIA_HOURS_MAX} hours (got {hours}); "
                "this is a hard limit of onsight's privacy rules"
            )
        return hours


class PrivacyConfig(_Strict):
    operator: str = Field(
        "the site operator",
        min_length=1,
        max_length=200,
        description="Who runs the cameras and is responsible for the data (shown on the notice).",
    )
    contact: str | None = Field(
        None,
        max_length=300,
        description="Who people on site can ask about the cameras (name, email or desk); shown "
        "on the notice.",
    )
    retention: RetentionConfig = Field(
        default_factory=lambda: RetentionConfig(), description="How long data is kept."
    )
    media_dir: str = Field(
        "onsight-data/media",
        description="Where raw media is kept when `retention.store_media` is on.",
    )
    audit_log: str = Field(
        "onsight-data/audit.db",
        description="Append-only, hash-chained audit log (SQLite); relative to the config file. "
        "Its HMAC key is `<audit_log>.key` (mode 0600, made at first start: back it up apart "
        "from the log) and its last head `<audit_log>.head`.",
    )
    audit_witness_minutes: float = Field(
        5.0,
        gt=0.0,
        le=1440.0,
        strict=False,
        description="How often the audit log's head (SEQ:HASH) is published to the log and, "
        "when MQTT is set up, to the retained `<prefix>/<site>/status/audit` topic.",
    )
