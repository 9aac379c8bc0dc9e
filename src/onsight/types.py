"""The data that flows between pipeline stages.

Each stage has one input type and one output type, all defined here. Pixel
coordinates exist only in `Detections` (the detector's output); everything
after the tracker is normalised to 0-1 with the origin at the top left.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from onsight import geometry

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
Image = npt.NDArray[np.uint8]
# A rectangle of an image: x0, y0, x1, y1 in pixels (x1, y1 exclusive).
Region = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class MotionReading:
    """The motion gate's verdict on one frame."""

    moving: bool
    changed: npt.NDArray[np.bool_] | None  # changed pixels of the gate's small image
    first: bool = False  # the gate had no background yet: everything counts as changed


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame chosen for analysis.

    `pixels` is what the source gave: BGR (HxWx3 uint8) or planar I420 (H*3/2 x W uint8,
    the luma plane then the two quarter-size chroma planes: what cameras send). `image` is
    always BGR; an I420 frame is converted on first use only, so the frames the motion gate
    turns away are never converted (on a still camera that conversion cost as much as the
    decoding).
    """

    camera: str
    index: int  # running number of analysed frames from this source
    pts: float  # source timestamp in seconds (drives file playback)
    pixels: Image
    wall_time: datetime  # UTC time the frame was decoded
    # FFmpeg's colour space (AVColorSpace) of an I420 frame: BT.601 and unspecified convert
    # with OpenCV, BT.709 (1) and the others FFmpeg knows with swscale, as a BGR decode does.
    colorspace: int = 2
    # The motion gate's reading, when the decoding worker made it (see `onsight.motion`).
    motion: MotionReading | None = None
    # Written once by `image`; two threads reading a new frame at once may both convert.
    _bgr: Image | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def image(self) -> Image:
        """The frame as BGR, HxWx3 uint8."""
        if self.pixels.ndim == 3:
            return self.pixels
        if self._bgr is None:
            bgr = _i420_to_bgr(self.pixels, self.colorspace)
            object.__setattr__(self, "_bgr", bgr)
            return bgr
        return self._bgr

    @property
    def luma(self) -> Image | None:
        """The I420 luma plane (video range 16-235, a view), None for a BGR frame."""
        return self.pixels[: self.height] if self.pixels.ndim == 2 else None

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        rows = int(self.pixels.shape[0])
        return rows if self.pixels.ndim == 3 else rows * 2 // 3


# AVColorSpace values swscale converts with their own matrix (BT.709, FCC, SMPTE 240M,
# BT.2020); everything else is BT.601, OpenCV's I420 matrix and swscale's default.
_SWSCALE_COLORSPACES = frozenset({1, 4, 7, 9})


def _i420_to_bgr(i420: Image, colorspace: int) -> Image:
    # Imported here, not at import: this module is on the CLI's start-up path.
    if colorspace not in _SWSCALE_COLORSPACES:
        import cv2

        return np.asarray(cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420), np.uint8)
    import av

    frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
    bgr = frame.reformat(format="bgr24", src_colorspace=colorspace).to_ndarray()
    return np.ascontiguousarray(bgr, np.uint8)


@dataclass(frozen=True, slots=True)
class Detections:
    """Detector output: parallel arrays, boxes in pixels of the analysed image."""

    xyxy: FloatArray  # (N, 4) x1, y1, x2, y2
    confidence: FloatArray  # (N,)
    class_id: IntArray  # (N,)

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros((0,), np.float32),
            class_id=np.zeros((0,), np.int64),
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def select(self, keep: npt.NDArray[np.bool_] | IntArray) -> Detections:
        return Detections(self.xyxy[keep], self.confidence[keep], self.class_id[keep])


@dataclass(frozen=True, slots=True)
class Tracks:
    """Tracker output for one frame: confirmed tracks only, normalised boxes.

    `track_id` is ephemeral: it lives in memory only and is never stored,
    published or shown (privacy rule 1).
    """

    pts: float
    wall_time: datetime
    xyxy: FloatArray  # (N, 4) normalised 0-1
    class_id: IntArray  # (N,)
    track_id: IntArray  # (N,)
    # Detection score of each track's box in this frame; empty when not known.
    confidence: FloatArray = field(default_factory=lambda: np.zeros((0,), np.float32))

    @classmethod
    def empty(cls, pts: float, wall_time: datetime) -> Tracks:
        return cls(
            pts=pts,
            wall_time=wall_time,
            xyxy=np.zeros((0, 4), np.float32),
            class_id=np.zeros((0,), np.int64),
            track_id=np.zeros((0,), np.int64),
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def select(self, keep: npt.NDArray[np.bool_]) -> Tracks:
        confidence = self.confidence[keep] if len(self.confidence) == len(self) else self.confidence
        return Tracks(
            self.pts,
            self.wall_time,
            self.xyxy[keep],
            self.class_id[keep],
            self.track_id[keep],
            confidence,
        )

    def bottom_centres(self) -> FloatArray:
        """Anchor point of each box: the bottom centre (where feet touch the floor)."""
        return geometry.bottom_centres(self.xyxy)


Direction = Literal["in", "out"]


def new_event_id(unix_ms: int | None = None) -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits, so ids sort
    by creation time and never repeat across boxes."""
    ms = int(time.time() * 1000) if unix_ms is None else unix_ms
    random_bits = int.from_bytes(os.urandom(10), "big")
    value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | (random_bits >> 68) << 64
    value |= 0b10 << 62 | random_bits & (2**62 - 1)
    return str(uuid.UUID(int=value))


@dataclass(frozen=True, slots=True, kw_only=True)
class Stamped:
    """Every event's base: the event id, made once when the event is created, so SQLite,
    MQTT, webhooks, the API and the fleet database all name it alike (and a duplicate
    delivery can be recognised). It says which event, never who: ids are random."""

    event_id: str = field(default_factory=new_event_id, compare=False, repr=False)


# The events of the first three apps (line_count, occupancy, dwell); apps built later define
# theirs in their own module.


@dataclass(frozen=True, slots=True)
class LineCrossing(Stamped):
    """One genuine crossing of a counting line. Carries no track id."""

    time: datetime  # UTC
    camera: str
    line: str
    direction: Direction
    class_name: str

    @property
    def kind(self) -> str:
        return "crossing"


@dataclass(frozen=True, slots=True)
class ZoneMinute(Stamped):
    """Occupancy of a zone aggregated over one minute of analysed frames."""

    minute: datetime  # UTC, start of the minute
    camera: str
    zone: str
    class_name: str
    mean: float
    peak: int
    samples: int

    @property
    def kind(self) -> str:
        return "zone_minute"


@dataclass(frozen=True, slots=True)
class ZoneDwell(Stamped):
    """Time spent in a zone over one hour, released only when at least k people contributed."""

    hour: datetime  # UTC, start of the hour
    camera: str
    zone: str
    class_name: str
    people: int  # distinct visitors (>= k)
    median_seconds: float
    p90_seconds: float

    @property
    def kind(self) -> str:
        return "zone_dwell"


class Event(Protocol):
    """Any app's event: a frozen dataclass whose `kind` names its `apps.base.EventType`."""

    @property
    def kind(self) -> str: ...

    @property
    def camera(self) -> str: ...

    @property
    def event_id(self) -> str: ...


@dataclass(slots=True)
class StageTimes:
    """CPU seconds spent in each stage; used by progress display and `make bench`."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, cpu_seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + cpu_seconds


def utc_iso(moment: datetime) -> str:
    """UTC ISO-8601 with a `Z`, millisecond precision: how every record states a time."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
