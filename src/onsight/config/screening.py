"""Screening station configuration: strict pydantic models, every field described.

The lead attaches `ScreeningConfig` to a camera as `CameraConfig.screening`. Regions are
normalised polygons (0-1, origin top-left) like zones, so they survive a resolution change.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from onsight.config._base import Polygon as Region
from onsight.config._base import Strict as _Strict
from onsight.config._base import require_area as _require_area


class BlackbodyConfig(_Strict):
    region: Region = Field(
        description="Polygon around the blackbody (ETRS) aperture, normalised 0-1. Keep it inside "
        "the aperture: its pixels must all see the emitter."
    )
    set_point_c: float = Field(
        ge=30.0,
        le=45.0,
        strict=False,
        description="Blackbody set-point in °C (near skin temperature, typically 35-37 °C).",
    )
    max_offset_c: float = Field(
        2.0,
        gt=0.0,
        le=5.0,
        strict=False,
        description="If the camera reads the blackbody further than this from its set-point, the "
        "blackbody is taken as missing or off and screening pauses.",
    )
    uniformity_c: float = Field(
        0.5,
        gt=0.0,
        le=5.0,
        strict=False,
        description="Largest spread (95th - 5th percentile, °C) allowed inside the region; more "
        "means something is in front of the blackbody or the region is misplaced.",
    )
    drift_c: float = Field(
        0.2,
        gt=0.0,
        le=2.0,
        strict=False,
        description="Largest change (°C) of the blackbody reading within `drift_window_s`; a "
        "larger change pauses screening until the reading has been steady for a whole window.",
    )
    drift_window_s: float = Field(
        30.0,
        gt=0.0,
        le=600.0,
        strict=False,
        description="Window (s) over which drift is measured and the offset averaged; screening "
        "starts only after one full steady window.",
    )

    @model_validator(mode="after")
    def _has_area(self) -> Self:
        _require_area(self.region, "blackbody region")
        return self


class SubjectConfig(_Strict):
    face_min_c: float = Field(
        30.0,
        ge=20.0,
        le=36.0,
        strict=False,
        description="Corrected pixels at or above this (°C) count as exposed skin of a face.",
    )
    face_max_c: float = Field(
        42.0,
        ge=37.0,
        le=50.0,
        strict=False,
        description="Pixels above this (°C) are not skin (a hot drink, a lamp) and are ignored.",
    )
    min_blob_pixels: int = Field(
        400,
        ge=16,
        le=1_000_000,
        description="Smallest face blob (pixels) that is measured; a smaller one means the person "
        "is too far. Warm blobs of a quarter of this size or more count as other people.",
    )
    stable_frames: int = Field(
        5,
        ge=2,
        le=100,
        description="Consecutive frames the single face must stay still before it is read.",
    )
    max_shift: float = Field(
        0.05,
        gt=0.0,
        le=0.5,
        strict=False,
        description="Largest centroid movement between frames (fraction of the image) that "
        "still counts as standing still.",
    )
    clear_frames: int = Field(
        3,
        ge=1,
        le=100,
        description="Frames without any face after a decision before the next person is measured.",
    )


class RuleConfig(_Strict):
    mode: Literal["relative", "calibrated"] = Field(
        "relative",
        description="relative: alert above a running baseline of recent people (self-calibrating, "
        "recommended); calibrated: alert when reading + site offset reaches an absolute threshold.",
    )
    baseline_subjects: int = Field(
        10,
        ge=5,
        le=500,
        description="relative: number of recent non-alert people in the baseline; until that many "
        "have been screened the station is warming up and gives no decision.",
    )
    baseline_trim_fraction: float = Field(
        0.1,
        ge=0.0,
        lt=0.5,
        strict=False,
        description="relative: fraction dropped at each end before the baseline mean is taken.",
    )
    relative_offset_c: float = Field(
        0.75,
        gt=0.0,
        le=3.0,
        strict=False,
        description="relative: alert when the reading is this much (°C) above the baseline. 0.75 "
        "is chosen by leave-one-group-out cross-validation (docs/thermal.md).",
    )
    site_offset_c: float | None = Field(
        None,
        ge=-1.0,
        le=5.0,
        strict=False,
        description="calibrated: °C added to the face reading to estimate core temperature, "
        "measured at this site against a clinical thermometer on afebrile people.",
    )
    alert_threshold_c: float = Field(
        37.5,
        ge=36.0,
        le=40.0,
        strict=False,
        description="calibrated: alert when the estimated core temperature reaches this (°C).",
    )

    @model_validator(mode="after")
    def _calibrated_needs_offset(self) -> Self:
        if self.mode == "calibrated" and self.site_offset_c is None:
            raise ValueError("mode `calibrated` needs `site_offset_c` (measured at this site)")
        return self


class EnvironmentConfig(_Strict):
    source: Literal["manual", "sensor"] = Field(
        "manual",
        description="manual: the values below are the room conditions; sensor: readings arrive "
        "from `sensor_topic` and screening pauses while none is fresh.",
    )
    ambient_c: float | None = Field(
        None, ge=-20.0, le=60.0, strict=False, description="manual: room temperature (°C)."
    )
    humidity_pct: float | None = Field(
        None, ge=0.0, le=100.0, strict=False, description="manual: relative humidity (%)."
    )
    sensor_topic: str | None = Field(
        None,
        min_length=1,
        description='sensor: local MQTT topic with {"ambient_c": .., "humidity_pct": ..}.',
    )
    sensor_max_age_s: float = Field(
        300.0,
        gt=0.0,
        le=3600.0,
        strict=False,
        description="sensor: a reading older than this (s) is stale and pauses screening.",
    )
    ambient_min_c: float = Field(
        18.0, ge=0.0, le=40.0, strict=False, description="Lowest room temperature for screening."
    )
    ambient_max_c: float = Field(
        24.0, ge=0.0, le=40.0, strict=False, description="Highest room temperature for screening."
    )
    humidity_min_pct: float = Field(
        10.0, ge=0.0, le=100.0, strict=False, description="Lowest relative humidity (%)."
    )
    humidity_max_pct: float = Field(
        75.0, ge=0.0, le=100.0, strict=False, description="Highest relative humidity (%)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.ambient_min_c >= self.ambient_max_c:
            raise ValueError("ambient_min_c must be below ambient_max_c")
        if self.humidity_min_pct >= self.humidity_max_pct:
            raise ValueError("humidity_min_pct must be below humidity_max_pct")
        if self.source == "manual" and (self.ambient_c is None or self.humidity_pct is None):
            raise ValueError("source `manual` needs both `ambient_c` and `humidity_pct`")
        if self.source == "sensor" and self.sensor_topic is None:
            raise ValueError("source `sensor` needs `sensor_topic`")
        return self


class ScreeningConfig(_Strict):
    measurement_region: Region = Field(
        description="Polygon where one person stands to be measured, normalised 0-1. The "
        "blackbody region is always excluded from it."
    )
    blackbody: BlackbodyConfig = Field(description="Reference blackbody (ETRS) in view.")
    subject: SubjectConfig = Field(
        default_factory=lambda: SubjectConfig(), description="When a face is accepted and read."
    )
    rule: RuleConfig = Field(
        default_factory=lambda: RuleConfig(), description="How a reading becomes pass or alert."
    )
    environment: EnvironmentConfig = Field(
        description="Room conditions; screening is blocked outside the configured ranges."
    )
    alert_topic: str | None = Field(
        None,
        min_length=1,
        description="Optional local MQTT topic for alerts. The message says only that an alert "
        "happened (camera and time): never a temperature, image or identity.",
    )
    tlinear_resolution_k: float = Field(
        0.01,
        strict=False,
        description="Kelvin per count of a TLinear stream: 0.01 (Lepton high gain, the "
        "default) or 0.1 (low gain). Ignored for FLIR files, which carry their own constants.",
    )
    k_anonymity: int = Field(
        5,
        ge=5,
        le=1000,
        description="Hourly counts are stored only for hours with at least this many people; "
        "the alert count only when both alerted and not-alerted reach it.",
    )

    @model_validator(mode="after")
    def _has_area(self) -> Self:
        _require_area(self.measurement_region, "measurement region")
        if self.tlinear_resolution_k not in (0.01, 0.1):
            raise ValueError("tlinear_resolution_k must be 0.01 or 0.1")
        return self
