"""Radiometric frame sources for a screening station.

- FLIR files (.seq, .fff, radiometric .jpg): every frame, converted with its Planck constants.
- 16-bit TLinear streams (FLIR Lepton / PureThermal): a `/dev/videoN` device (v4l2, Y16) or a
  recording of one (e.g. FFV1 `gray16le` in Matroska); pixels are scaled kelvin.

Files are replayed as fast as they decode, timed by their frame rate, like video files.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from onsight.errors import SourceError
from onsight.thermal.formats import iter_seq
from onsight.thermal.planck import CelsiusArray, TLinearFrame

FLIR_SUFFIXES = frozenset({".seq", ".fff", ".jpg", ".jpeg"})


@dataclass(frozen=True, slots=True)
class ThermalSample:
    celsius: CelsiusArray  # H x W, °C
    seconds: float  # since the start of the source (file time or monotonic for a device)


def thermal_frames(
    camera: str, url: str, fps: float, resolution_k: float, stop: threading.Event
) -> Iterator[ThermalSample]:
    """Frames of `url` until it ends or `stop` is set; SourceError if it cannot be read."""
    path = Path(url)
    if url.startswith("/dev/video"):
        yield from _tlinear(camera, url, fps, resolution_k, stop, device=True)
    elif path.suffix.lower() in FLIR_SUFFIXES:
        if not path.is_file():
            raise SourceError(f"camera {camera!r}: thermal file not found: {url}")
        for index, image in enumerate(iter_seq(path)):
            if stop.is_set():
                return
            yield ThermalSample(image.celsius(), index / fps)
    else:
        yield from _tlinear(camera, url, fps, resolution_k, stop, device=False)


def _tlinear(
    camera: str, url: str, fps: float, resolution_k: float, stop: threading.Event, device: bool
) -> Iterator[ThermalSample]:
    options = {"input_format": "gray16le"} if device else {}
    try:
        container = av.open(url, format="v4l2" if device else None, options=options)
    except (av.FFmpegError, OSError) as exc:
        raise SourceError(f"camera {camera!r}: cannot open thermal source {url}: {exc}") from None
    with container:
        if not container.streams.video:
            raise SourceError(f"camera {camera!r}: {url} has no video stream")
        stream = container.streams.video[0]
        if stream.codec_context.format is None or "16" not in stream.codec_context.format.name:
            raise SourceError(
                f"camera {camera!r}: {url} is not a 16-bit radiometric (TLinear) stream "
                f"({stream.codec_context.format.name if stream.codec_context.format else '?'}); "
                "an ordinary 8-bit video carries no temperatures"
            )
        interval = 1.0 / fps
        next_due = 0.0
        try:
            for index, frame in enumerate(container.decode(stream)):
                if stop.is_set():
                    return
                seconds = float(frame.time) if frame.time is not None else index / fps
                if seconds + 1e-6 < next_due:
                    continue  # analyse at the configured rate, not the sensor's
                next_due = seconds + interval
                raw = np.ascontiguousarray(frame.to_ndarray(format="gray16le"), dtype=np.uint16)
                yield ThermalSample(TLinearFrame(camera, raw, resolution_k).celsius(), seconds)
        except av.FFmpegError as exc:
            raise SourceError(f"camera {camera!r}: thermal source {url} failed: {exc}") from None
