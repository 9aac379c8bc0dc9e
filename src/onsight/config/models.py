"""Configuration schema: strict pydantic models, unknown fields rejected, every field described."""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator, model_validator

from onsight.apps.distancing import DistancingConfig
from onsight.apps.flows import FlowsConfig
from onsight.apps.heatmap import HeatmapConfig
from onsight.apps.line_count import LineConfig as LineConfig
from onsight.apps.occupancy import ZoneConfig as ZoneConfig
from onsight.apps.ppe import PpeConfig
from onsight.apps.queue import QueueConfig
from onsight.apps.restricted import RestrictedConfig
from onsight.apps.speed import SpeedConfig
from onsight.apps.station import StationConfig
from onsight.config._base import NAME_PATTERN, Polygon, require_area
from onsight.config._base import Strict as _Strict
from onsight.config.calibration import CalibrationConfig
from onsight.config.privacy import CameraPrivacy, PrivacyConfig
from onsight.config.purposes import UNREDACTED_ALLOWED, Purpose, check_apps
from onsight.config.screening import ScreeningConfig
from onsight.config.service import MqttConfig, ServerConfig, WebhookConfig
from onsight.config.user_models import UserModelConfig
from onsight.inspection.config import BarcodesConfig, InspectionConfig

_NAME = NAME_PATTERN
INSPECTION_WIDTH = 1280  # an inspection camera's default decode width: barcodes need pixels


class MotionConfig(_Strict):
    enabled: bool = Field(True, description="Skip the detector on frames without motion.")
    threshold: float = Field(
        0.002,
        gt=0.0,
        lt=1.0,
        strict=False,
        description="Fraction of pixels of the small grey image that must change for motion.",
    )
    pixel_delta: int = Field(
        18, ge=1, le=255, description="Grey-level change for a pixel to count as changed."
    )
    refresh_seconds: float = Field(
        1.0,
        gt=0.0,
        le=60.0,
        strict=False,
        description="While tracks are alive but nothing moves, re-run the detector this often "
        "(in between, the still tracks are held as they are). Each refresh that finds every "
        "track where it was doubles the wait, up to 32 times this; any change resets it, and "
        "a change inside a track's box brings the next refresh forward to this.",
    )
    half_rate_away: bool = Field(
        False,
        description="While no track is near a line or a zone edge (within 0.12 of the frame), "
        "run the detector on every other moving frame only, holding tracks in between; near "
        "one, and for anyone not yet confirmed, on every frame.",
    )


class StillObjectsConfig(_Strict):
    enabled: bool = Field(
        True,
        description="Hold still, motionless person-like objects (a sign, a mannequin, a poster) "
        "out of lines, zones and dwell until they move. Needs the motion gate.",
    )
    after_seconds: float = Field(
        10.0,
        gt=0.0,
        le=3600.0,
        strict=False,
        description="Seconds without movement or motion in its box after which a track that "
        "has never moved since it appeared, and that the detector scores below 0.6 as a "
        "person (a sign, a poster), is held out.",
    )
    after_moving_seconds: float = Field(
        300.0,
        gt=0.0,
        le=86400.0,
        strict=False,
        description="The same for any other track: a person who walked in and sat down, or "
        "who sits very still since the camera started, keeps counting this long without any "
        "motion.",
    )


# Apps that follow one person across frames: meaningless, or a privacy risk, on stills
# (a sighting count can reach 5 with one person in view).
_FOLLOWING_APPS = frozenset(
    {"line_count", "dwell", "queue", "restricted", "station", "distancing", "heatmap",
     "flows", "speed"}
)  # fmt: skip


def pem_problem(path: Path) -> str | None:
    """Why `path` cannot serve as a camera's CA file (None when it can); one line, never
    the file's contents."""
    try:
        ssl.create_default_context(cafile=str(path))
    except ssl.SSLError as exc:  # an OSError too: first
        reason = str(exc.reason or "not a certificate").lower().replace("_", " ")
        return f"{path} holds no usable PEM certificate ({reason})"
    except FileNotFoundError:
        return f"no such file {path}"
    except IsADirectoryError:
        return f"{path} is a folder, not a PEM certificate file"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or type(exc).__name__}"
    return None


class CameraConfig(_Strict):
    name: str = Field(pattern=_NAME, description="Camera name, unique in the config.")
    url: str = Field(
        min_length=1,
        description="Video source: file path, rtsp://, http(s)://, or /dev/videoN. "
        "Use ${ENV} for secrets, e.g. rtsp://user:${CAM_PASS}@host/stream.",
    )
    detect_url: str | None = Field(
        None, description="Optional lower-resolution substream used for analysis."
    )
    snapshot: bool = Field(
        False,
        description="The http(s) `url` is a snapshot URL (e.g. /cgi-bin/snapshot.cgi) that "
        "answers one JPEG or PNG per request: it is polled at `fps`, with basic or digest "
        "auth from the URL's user:password. A url that is an image file or a folder of images "
        "needs no flag. Image sources, and any camera at fps <= 1, are analysed as "
        "independent stills: no tracking, so figures count sightings, not people.",
    )
    ca_file: str | None = Field(
        None,
        min_length=1,
        description="For an https snapshot URL (`snapshot: true`): a PEM file holding the "
        "certificate the camera presents, or the CA that signed it; only it is trusted for "
        "this camera, instead of the system's CAs. This is how a camera's self-signed "
        "certificate is trusted; verification is never turned off, and the certificate must "
        "still name the host or IP address of the URL. A relative path is relative to the "
        "config file's folder.",
    )
    fps: float = Field(
        10.0, gt=0.0, le=60.0, strict=False, description="Analysis rate in frames per second."
    )
    width: int = Field(
        640,
        ge=160,
        le=3840,
        description="Frames wider than this are downscaled on decode (default 640; 1280 for "
        "an inspection camera, whose barcodes need the pixels).",
    )
    detection_region: bool = Field(
        True,
        description="When the camera only counts lines, and their bounding box, with margins "
        "for the people on them (0.35 of the frame above, 0.25 to the sides and below), "
        "covers at most 70% of the frame, run the detector on that box only: the same people "
        "on the lines, for less CPU. Someone the box cuts near the lines (a camera close to a "
        "door) grows it for good, or drops it once it covers more than 70%. Saves CPU with "
        "YOLOX on onnxruntime (its canvas shrinks with the box); other models, and cameras "
        "with zones or any other app, always use the whole frame. The live view looks for "
        "people to blur in the whole frame either way.",
    )
    purpose: Purpose = Field("footfall", description="Why this camera is analysed.")
    motion: MotionConfig = Field(default_factory=lambda: MotionConfig(), description="Motion gate.")
    lines: list[LineConfig] = Field(default_factory=list, description="Counting lines.")
    zones: list[ZoneConfig] = Field(default_factory=list, description="Occupancy zones.")
    queues: list[QueueConfig] = Field(
        default_factory=list, description="Queues: length, and waiting times per hour."
    )
    restricted: list[RestrictedConfig] = Field(
        default_factory=list,
        description="Restricted areas: an alert when a person or vehicle stays in one.",
    )
    stations: list[StationConfig] = Field(
        default_factory=list,
        description="Workstations: cycle times per station and hour, never per person "
        "(purpose `operations` only).",
    )
    ignore: list[Polygon] = Field(
        default_factory=list,
        description="Polygons (normalised) where nothing detected is counted: a poster, a "
        "mirror, a screen. A detection whose bottom centre is inside one is dropped before "
        "tracking.",
    )
    distancing: DistancingConfig | None = Field(
        None,
        description="How often people stand closer than `threshold_m` to someone (needs "
        "`calibration`; purposes occupancy and safety).",
    )
    heatmap: HeatmapConfig | None = Field(
        None,
        description="Time spent per floor cell per hour, released per cell for >= 5 visits "
        "(metre cells with a `calibration`, picture cells without).",
    )
    flows: FlowsConfig | None = Field(
        None,
        description="People going from one of this camera's lines or zones to another, per "
        "hour, released per pair for >= 5 people.",
    )
    speed: SpeedConfig | None = Field(
        None,
        description="Walking speed in m/s, per hour over >= 5 people (needs `calibration`).",
    )
    inspection: InspectionConfig | None = Field(
        None,
        description="Items passing on a line: counted, scored for defects against a "
        "reference of good items, their barcodes read (purpose `inspection` only).",
    )
    barcodes: BarcodesConfig | None = Field(
        None,
        description="Read each inspected item's barcode once (needs `inspection:`).",
    )
    ppe: PpeConfig | None = Field(
        None,
        description="Protective equipment: share of people wearing masks, hi-vis or the "
        "site's own required items, per zone and hour from >= 5 people (purpose `safety`).",
    )
    calibration: CalibrationConfig | None = Field(
        None,
        description="Ground-plane calibration: at least 4 image points and where they are on "
        "the floor, in metres. Needed for distancing; see docs/calibration.md.",
    )
    still_objects: StillObjectsConfig = Field(
        default_factory=lambda: StillObjectsConfig(),
        description="Holding motionless person-like objects out of the counts.",
    )
    privacy: CameraPrivacy = Field(
        default_factory=lambda: CameraPrivacy(), description="Redaction and privacy masks."
    )
    screening: ScreeningConfig | None = Field(
        None,
        description="Thermal screening station (purpose `screening` only; the url is then a "
        "radiometric source: a FLIR .seq/.fff/.jpg file, a 16-bit TLinear recording, or a "
        "PureThermal/Lepton /dev/videoN).",
    )

    @model_validator(mode="before")
    @classmethod
    def _inspection_width(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("purpose") == "inspection" and "width" not in data:
            return {**data, "width": INSPECTION_WIDTH}
        return data

    def takes_stills(self) -> bool:
        """Whether frames are analysed as independent stills (no tracking): at fps <= 1
        and for every image source (an image file, a folder of images, a snapshot URL)."""
        from onsight.errors import SourceError
        from onsight.ingest.urls import classify

        if self.fps <= 1 or self.snapshot:
            return True
        url = self.detect_url or self.url
        try:
            if classify(url) != "file":
                return False
        except SourceError:  # an unsupported scheme: `run` says so
            return False
        from onsight.ingest.stills import still_kind  # loads cv2 and httpx: only for files

        return still_kind(url) is not None

    @model_validator(mode="after")
    def _snapshot_over_http(self) -> Self:
        if self.snapshot:
            from onsight.ingest.urls import redact_url

            for field, url in (("url", self.url), ("detect_url", self.detect_url)):
                if url is not None and not re.match(r"(?i)https?://", url):
                    raise ValueError(
                        f"snapshot: true needs an http(s):// {field}, not {redact_url(url)} "
                        "(image files and folders of images need no flag)"
                    )
        return self

    @model_validator(mode="after")
    def _ca_file_for_https_snapshots(self) -> Self:
        if self.ca_file is None:
            return self
        if not self.snapshot:
            raise ValueError(
                "ca_file is only for https snapshot URLs: it needs snapshot: true (video "
                "streams do not use it)"
            )
        from onsight.ingest.urls import redact_url

        for field, url in (("url", self.url), ("detect_url", self.detect_url)):
            if url is not None and not re.match(r"(?i)https://", url):
                raise ValueError(
                    f"ca_file needs an https:// {field}, not {redact_url(url)} (a plain http "
                    "snapshot URL has no certificate to check)"
                )
        return self

    @field_validator("ca_file")
    @classmethod
    def _readable_pem(cls, value: str | None, info: ValidationInfo) -> str | None:
        """The file must hold a PEM certificate: checked when the config is loaded (the
        loader passes the config's folder as `base_dir`; without it only an absolute path
        is checked)."""
        if value is None:
            return value
        path = Path(value).expanduser()
        if not path.is_absolute():
            base_dir = (info.context or {}).get("base_dir")
            if base_dir is None:
                return value
            path = Path(base_dir) / path
        problem = pem_problem(path)
        if problem is not None:
            raise ValueError(problem)
        return value

    def apps(self) -> set[str]:
        """The apps this camera runs, as named in the purpose table."""
        from onsight.apps.registry import kinds  # the registry's app modules use this schema

        apps = {kind.name for kind in kinds() if kind.items(self)}
        if self.screening is not None:
            apps.add("screening")
        return apps

    @field_validator("ignore")
    @classmethod
    def _ignore_areas(cls, polygons: list[Polygon]) -> list[Polygon]:
        for polygon in polygons:
            require_area(polygon, "ignore")
        return polygons

    @model_validator(mode="after")
    def _within_purpose(self) -> Self:
        check_apps(self.purpose, self.apps())
        if self.purpose == "screening" and self.screening is None:
            raise ValueError(
                "a screening camera needs a `screening:` section (measurement region, "
                "blackbody, environment); see docs/thermal.md"
            )
        if self.privacy.redaction == "none" and self.purpose not in UNREDACTED_ALLOWED:
            raise ValueError(
                f"privacy.redaction 'none' is refused for a {self.purpose} camera: it films "
                "people. Only inspection cameras may show unblurred images"
            )
        return self

    @field_validator("lines", "zones", "queues", "restricted", "stations")
    @classmethod
    def _unique_names(cls, items: list[Any]) -> list[Any]:
        _require_unique([item.name for item in items])
        return items

    @model_validator(mode="after")
    def _stills_follow_nobody(self) -> Self:
        """Apps that follow a person across frames cannot run on stills (there each person
        in each frame is a sighting of its own); refused rather than silently wrong."""
        following = self.apps() & _FOLLOWING_APPS
        if following and self.purpose != "screening" and self.takes_stills():
            raise ValueError(
                f"{', '.join(sorted(following))} need people followed from frame to frame, "
                "but this camera takes stills (fps <= 1, an image, a folder or a snapshot "
                "URL: each frame is analysed on its own); use a video source at fps > 1, or "
                "zones and ppe, which work on stills"
            )
        return self

    @model_validator(mode="after")
    def _ppe_zones_exist(self) -> Self:
        if self.ppe is not None and self.ppe.zones is not None:
            known = {zone.name for zone in self.zones}
            unknown = [name for name in self.ppe.zones if name not in known]
            if unknown:
                raise ValueError(
                    f"ppe.zones names {', '.join(unknown)}, not among this camera's zones "
                    f"({', '.join(sorted(known)) or 'none'})"
                )
        return self

    @model_validator(mode="after")
    def _distancing_in_metres(self) -> Self:
        for needs, section in ((self.distancing, "distancing"), (self.speed, "speed")):
            if needs is not None and self.calibration is None:
                raise ValueError(
                    f"{section} needs a `calibration:` (image points and where they are on "
                    "the floor, in metres): distances in pixels mean nothing on a real camera"
                )
        return self

    @model_validator(mode="after")
    def _barcodes_on_items(self) -> Self:
        if self.barcodes is not None and self.inspection is None:
            raise ValueError(
                "barcodes are read from items passing through an inspection region: add an "
                "`inspection:` section (region, travel)"
            )
        return self

    @model_validator(mode="after")
    def _served_lines_exist(self) -> Self:
        lines = {line.name for line in self.lines}
        for queue in self.queues:
            if queue.served_line is not None and queue.served_line not in lines:
                raise ValueError(
                    f"queue {queue.name!r}: served_line {queue.served_line!r} is not one of "
                    f"this camera's lines ({', '.join(sorted(lines)) or 'none'})"
                )
        return self


class DetectorConfig(_Strict):
    model: str = Field("yolox_nano_416_coco", description="Model name (see `onsight models list`).")
    backend: Literal["onnxruntime", "opencv"] = Field(
        "onnxruntime", description="Inference backend."
    )
    confidence: float | None = Field(
        None,
        gt=0.0,
        lt=1.0,
        strict=False,
        description="Score threshold; the model's default if unset.",
    )
    threads: int = Field(1, ge=1, le=64, description="Threads each inference uses.")
    workers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Inferences run at once for all cameras, which share one model (default: "
        "one per CPU core the process may use, within a container's CPU quota, divided by "
        "`threads`). Cameras wait their turn in a fair queue.",
    )


class Config(_Strict):
    site: str = Field("site", pattern=_NAME, description="Site name used in topics and notices.")
    timezone: str | None = Field(
        None,
        description="The site's IANA time zone, e.g. Europe/Berlin: the dashboard's days, hours "
        "and times. Stored times are UTC either way. Default: the server's own zone.",
    )
    database: str | None = Field(
        None,
        description="SQLite database path; relative paths are relative to the config file. "
        "Default: onsight-data/onsight.db beside the config.",
    )
    detector: DetectorConfig = Field(
        default_factory=lambda: DetectorConfig(), description="Detection."
    )
    isolate_cameras: bool = Field(
        True,
        description="Decode each video camera in a worker process of its own, started again "
        "within seconds if it crashes or hangs, so one bad stream cannot stop the others. "
        "Images and snapshot URLs are read in the main process.",
    )
    cameras: list[CameraConfig] = Field(min_length=1, description="Cameras to analyse.")
    models: list[UserModelConfig] = Field(
        default_factory=list,
        description="The site's own ONNX detectors (YOLOX or NanoDet output), e.g. a hard-hat "
        "and vest model; see docs/ppe.md.",
    )
    privacy: PrivacyConfig = Field(
        default_factory=lambda: PrivacyConfig(),
        description="Retention, audit log and who to contact (shown on the notice).",
    )
    server: ServerConfig = Field(
        default_factory=lambda: ServerConfig(), description="`onsight serve`: users, sessions."
    )
    mqtt: MqttConfig | None = Field(None, description="Publish events to an MQTT broker.")
    webhooks: list[WebhookConfig] = Field(
        default_factory=list, description="POST events to HTTP endpoints, signed."
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str | None) -> str | None:
        if name is not None:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin, "
                    "America/New_York or UTC"
                ) from None
        return name

    @field_validator("cameras")
    @classmethod
    def _unique_cameras(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        _require_unique([camera.name for camera in cameras])
        return cameras

    @model_validator(mode="after")
    def _screening_mqtt(self) -> Self:
        for camera in self.cameras:
            screening = camera.screening
            if screening is None or self.mqtt is not None:
                continue
            if screening.alert_topic is not None:
                raise ValueError(
                    f"camera {camera.name!r}: screening.alert_topic needs an `mqtt:` section "
                    "(the local broker)"
                )
            if screening.environment.source == "sensor":
                raise ValueError(
                    f"camera {camera.name!r}: screening.environment source `sensor` needs an "
                    "`mqtt:` section (the local broker the sensor publishes to)"
                )
        return self

    @field_validator("models")
    @classmethod
    def _user_model_names(cls, models: list[UserModelConfig]) -> list[UserModelConfig]:
        from onsight.detect.registry import MODELS  # stdlib only: no backend is loaded

        _require_unique([model.name for model in models])
        for model in models:
            if model.name in MODELS:
                raise ValueError(
                    f"model name {model.name!r} is a built-in model's name; choose another"
                )
        return models

    @model_validator(mode="after")
    def _ppe_models_exist(self) -> Self:
        known = {model.name for model in self.models}
        for camera in self.cameras:
            wanted = camera.ppe.model if camera.ppe is not None else None
            if wanted is not None and wanted not in known:
                raise ValueError(
                    f"camera {camera.name!r}: ppe.model {wanted!r} is not in `models:` "
                    f"({', '.join(sorted(known)) or 'none configured'})"
                )
        return self

    @field_validator("webhooks")
    @classmethod
    def _unique_webhooks(cls, webhooks: list[WebhookConfig]) -> list[WebhookConfig]:
        _require_unique([hook.name for hook in webhooks])
        return webhooks


def _require_unique(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"duplicate name {name!r}")
        seen.add(name)


def is_valid_name(name: str) -> bool:
    return re.match(_NAME, name) is not None
