"""A synthetic "camera day" for `make bench`, built at bench time in a temp dir (never in the
repo): the empty corridor of vtest (per-pixel median of its frames), per-frame Gaussian sensor
noise and a slow sinusoidal lighting drift, with real vtest segments spliced in as busy spells.

The default plan is a 20-minute day at the source's 10 fps: 90% idle, 10% busy in 4 spells of
30 s, spread evenly (idle 216 s, busy 30 s, ..., idle 216 s). Encoded with PyAV (libx264, or
mpeg4 when the build lacks it) at the source rate.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent
SOURCE = "vtest_480x360.avi"
FPS = 10  # vtest's native rate
# A segment is idle seconds (float) or a vtest segment (start_s, end_s) spliced in.
Segment = float | tuple[float, float]
U8 = npt.NDArray[np.uint8]


def _assets() -> Path:
    return Path(os.environ.get("ONSIGHT_ASSETS", ROOT.parent.parent / "shared" / "assets"))


def source_path() -> Path:
    return _assets() / "video" / SOURCE


@dataclass(frozen=True)
class DayPlan:
    segments: tuple[Segment, ...]
    size: tuple[int, int] | None = None  # (width, height); None keeps vtest's 480x360
    noise_sigma: float = 2.5  # grey levels, per pixel and channel, fresh every frame
    drift: float = 0.08  # +-8% brightness
    drift_period_s: float = 600.0  # one full lighting cycle every 10 minutes
    seed: int = 0

    def proportions(self) -> dict[str, Any]:
        idle = sum(s for s in self.segments if isinstance(s, float))
        spells = [s for s in self.segments if isinstance(s, tuple)]
        busy = sum(b - a for a, b in spells)
        total = idle + busy
        return {
            "minutes": round(total / 60, 2),
            "fps": FPS,
            "idle_share": round(idle / total, 3),
            "busy_share": round(busy / total, 3),
            "busy_spells": len(spells),
            "spell_seconds": [round(b - a, 1) for a, b in spells],
            "noise_sigma": self.noise_sigma,
            "lighting_drift": f"+-{self.drift:.0%} sinusoidal, period {self.drift_period_s:.0f} s",
        }


def standard_day(minutes: float = 20.0, busy_share: float = 0.10, spells: int = 4) -> DayPlan:
    """`minutes` at 10 fps, `busy_share` of it in `spells` equal vtest segments, evenly spread."""
    total = minutes * 60
    spell = total * busy_share / spells
    gap = (total - spell * spells) / (spells + 1)
    starts = np.linspace(0.0, 79.0 - spell, spells)  # different parts of the 79.5 s clip
    segments: list[Segment] = [gap]
    for start in starts:
        segments += [(float(start), float(start) + spell), gap]
    return DayPlan(tuple(segments))


@dataclass
class DayClip:
    path: Path
    fps: int
    frames: int
    idle: list[bool] = field(default_factory=list)  # per frame index: an idle (empty) frame
    codec: str = ""

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


def read_frames(path: Path, size: tuple[int, int] | None = None) -> list[U8]:
    """Every frame of a clip as BGR, resized to `size` (width, height) if given."""
    frames: list[U8] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            image = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
            if size is not None and (image.shape[1], image.shape[0]) != size:
                image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
            frames.append(image)
    return frames


def background(frames: Sequence[U8], step: int = 4) -> U8:
    """Per-pixel median of every `step`-th frame: the corridor with nobody in it."""
    return np.asarray(np.median(np.stack(frames[::step]), axis=0), dtype=np.uint8)


def _frames(plan: DayPlan, source: list[U8]) -> Iterator[tuple[U8, bool]]:
    cv2.setRNGSeed(plan.seed)
    still = background(source)
    noise = np.empty(still.shape, np.int16)
    mean, sigma = np.zeros(3), np.full(3, plan.noise_sigma)
    index = 0
    for segment in plan.segments:
        if isinstance(segment, tuple):
            a, b = (round(s * FPS) for s in segment)
            parts = [(source[i], False) for i in range(a, min(b, len(source)))]
        else:
            parts = [(still, True)] * round(segment * FPS)
        for base, idle in parts:
            light = 1.0 + plan.drift * math.sin(2 * math.pi * index / FPS / plan.drift_period_s)
            cv2.randn(noise, mean, sigma)  # fresh, independent per pixel and channel
            lit = cv2.convertScaleAbs(base, alpha=light)
            yield np.asarray(cv2.add(lit, noise, dtype=cv2.CV_8U), dtype=np.uint8), idle
            index += 1


def write_clip(path: Path, frames: Iterator[U8], fps: int) -> tuple[int, str]:
    """Encode BGR frames at `fps` (libx264, or mpeg4 when missing); frame count, codec."""
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    count = 0
    with av.open(str(path), "w") as container:
        stream: Any = None
        for image in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=Fraction(fps))
                stream.width, stream.height = image.shape[1], image.shape[0]
                stream.pix_fmt = "yuv420p"
                if codec == "libx264":
                    stream.options = {"preset": "veryfast", "crf": "20"}
                else:
                    stream.bit_rate = 2_000_000
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
            count += 1
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return count, codec


def build_day(path: Path, plan: DayPlan | None = None) -> DayClip:
    """Write the day clip to `path` (an .mp4 in a temp dir) and say which frames are idle."""
    plan = plan or standard_day()
    source = read_frames(source_path(), plan.size)
    idle: list[bool] = []

    def images() -> Iterator[U8]:
        for image, is_idle in _frames(plan, source):
            idle.append(is_idle)
            yield image

    count, codec = write_clip(path, images(), FPS)
    return DayClip(path, FPS, count, idle, codec)


def write_vtest_head(path: Path, seconds: float) -> Path:
    """The first `seconds` of vtest, re-encoded (the smoke test's short busy clip)."""
    source = read_frames(source_path())[: round(seconds * FPS)]
    write_clip(path, iter(source), FPS)
    return path
