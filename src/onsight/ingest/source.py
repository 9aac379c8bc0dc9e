"""`VideoSource`: decode a camera or file with PyAV and yield frames at the analysis rate.

Files are decoded to the end as fast as the machine allows (timestamps, not the wall
clock, choose the frames) and then the iterator ends. Damaged packets and frames in a
file are skipped and counted, and decoding resumes after them; a truncated file yields
what it holds and ends normally. A file that cannot be opened, is not a video, has no
video stream or yields no frame at all raises `SourceError`, and so does one that stays
unreadable: `_MAX_READ_ERRORS` failed reads in a row, or `_MAX_PACKETS_WITHOUT_FRAME`
packets without a decoded frame (counts, not time, so the outcome does not depend on
the machine). Whatever PyAV raises (its FFmpeg errors, a UnicodeDecodeError in
metadata, ValueError, OverflowError, MemoryError for absurd sizes) becomes a one-line
`SourceError` naming the camera. A read that blocks for ``watchdog_seconds`` is
aborted by PyAV's read timeout, and `VideoSource.stuck_seconds` lets a supervisor
notice a decoder that never returns at all.

Live sources (RTSP, HTTP, V4L2) never end by themselves: any error, or no frame for
``watchdog_seconds``, closes the connection, logs one warning (credentials redacted),
waits per the backoff policy and reconnects, until the ``stop`` event is set.

The watchdog is PyAV's read timeout (FFmpeg's interrupt callback aborts a blocked
read) plus a check between packets, both on the decoding thread: closing a container
from another thread while FFmpeg reads from it is not safe. The read timeout is half
of ``watchdog_seconds`` because FFmpeg's H.264 parser holds back the last access
unit until the next one starts: the first timeout releases that (real) frame, the
second ends the connection, so a stall is detected after at most ``watchdog_seconds``.
When a live stream stalls, ``stop`` is noticed within ``watchdog_seconds`` (within
``open_timeout`` while connecting); while frames flow, at the next packet.

``Frame.pts`` is the stream timestamp in seconds for files. For live sources it is
re-based: seconds since the first frame, continuing across reconnects by the real
time the source was away, so it keeps increasing.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote

import av
import av.container
import av.video
import cv2
import numpy as np

from onsight.errors import SourceError
from onsight.ingest.backoff import Backoff, BackoffPolicy
from onsight.ingest.sampler import FrameSampler
from onsight.ingest.urls import classify, redact_text, redact_url, url_secrets
from onsight.types import Frame, Image

logger = logging.getLogger(__name__)

# Demuxers that render arbitrary text as "video" (FFmpeg opens any .txt as ANSI art).
_TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})
# Consecutive failed reads after which a damaged file is given up.
_MAX_READ_ERRORS = 20
# Packets in a row that decode to nothing after which a file is given up (a damaged
# H.264 stream normally recovers at the next key frame, a few hundred packets at most).
_MAX_PACKETS_WITHOUT_FRAME = 3000
# Frames larger than this (8K video is 33 Mpx) come from a damaged header; converting one
# could take gigabytes, so it is skipped as damaged.
_MAX_PIXELS = 8192 * 8192
# One decoding thread per camera up to this size: a box runs many cameras, and FFmpeg's
# frame and slice threads cost CPU to coordinate (a 480x360 H.264 day: 7.0 CPU-s with
# "AUTO", 5.1 without; one core of this VM decodes 768x432 H.264 at 0.43 ms a frame).
# Above 1080p one core may not keep up with a camera's frame rate: FFmpeg's threads there.
_SINGLE_THREAD_PIXELS = 1920 * 1088
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG
# PyAV decodes metadata text strictly by default; a damaged tag must not end a camera.
_METADATA_ERRORS = "replace"


@dataclass(slots=True)
class SourceStats:
    """Counters of one source. `VideoSource.stats` returns a consistent copy."""

    connected: bool = False
    frames_decoded: int = 0
    frames_sampled: int = 0
    reconnects: int = 0  # times frames came again after the stream was lost (recoveries)
    decode_errors: int = 0  # packets or reads that failed and were skipped
    last_frame_monotonic: float | None = None  # time.monotonic() of the last decoded frame
    source_fps: float | None = None  # the stream's average rate, when known
    width: int | None = None  # size of the source stream, before any resize
    height: int | None = None
    duration_seconds: float | None = None  # files only, when the container knows it
    last_error: str | None = None  # why the last connection failed or ended, in words


class _Stalled(Exception):
    """No frame within the watchdog period although packets (or nothing) arrived."""


class _Unreadable(Exception):
    """A file stays unreadable past the limits above; the message says why."""


class VideoSource:
    """One camera or file, decoded into `Frame`s at `fps` frames per second of stream time."""

    def __init__(
        self,
        camera: str,
        url: str,
        fps: float,
        *,
        width: int | None = None,
        options: Mapping[str, str] | None = None,
        open_timeout: float = 10.0,
        watchdog_seconds: float = 10.0,
        backoff: BackoffPolicy | None = None,
        stop: threading.Event | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.camera = camera
        self.kind = classify(url)
        self.fps = fps
        self._url = url
        self._secrets = url_secrets(url)
        if width is not None and width < 2:
            raise ValueError(f"camera {camera!r}: width must be >= 2, got {width}")
        self.width = width
        self._options = dict(options or {})
        self.open_timeout = open_timeout
        self.watchdog_seconds = watchdog_seconds
        self._policy = backoff or BackoffPolicy()
        self._rng = rng
        self.stop_event = stop or threading.Event()
        self._lock = threading.Lock()
        self._stats = SourceStats()
        self._busy_since: float | None = None  # when the decoding thread entered PyAV
        FrameSampler(fps)  # validate fps now rather than on first use

    @property
    def url(self) -> str:
        """The URL with credentials masked; safe to log and show."""
        return redact_url(self._url)

    @property
    def is_live(self) -> bool:
        return self.kind != "file"

    @property
    def stats(self) -> SourceStats:
        with self._lock:
            return replace(self._stats)

    def __repr__(self) -> str:
        return f"VideoSource(camera={self.camera!r}, url={self.url!r}, fps={self.fps})"

    def stuck_seconds(self) -> float:
        """How long the decoding thread has been inside one PyAV call (0 while it is not).

        Time the consumer spends on a yielded frame does not count. A supervisor can give
        up on a file whose decoder never returns (something no timeout inside PyAV ends).
        """
        since = self._busy_since
        return 0.0 if since is None else max(0.0, time.monotonic() - since)

    def redact(self, text: str) -> str:
        """Scrub this source's credentials from `text`."""
        return redact_text(text, self._secrets)

    def frames(self) -> Iterator[Frame]:
        """Yield sampled frames; see the module docstring for end and error behaviour."""
        if self.is_live:
            return self._live_frames()
        # Open now, so that a bad file fails at the call rather than at the first frame.
        return self._file_frames(self._open_file())

    # -- files -----------------------------------------------------------------------

    def _file_frames(self, container: av.container.InputContainer) -> Iterator[Frame]:
        sampler = FrameSampler(self.fps)
        last_pts: float | None = None
        try:
            try:
                stream = container.streams.video[0]
                stream.thread_type = _threading(stream)
                sampler.set_source_rate(self._rate(stream))
                for frame in self._decode(container, stream, sampler, start_index=0):
                    last_pts = frame.pts
                    yield frame
            except (_Unreadable, av.error.ExitError) as exc:
                where = "before the first frame" if last_pts is None else f"at {last_pts:.1f} s"
                why = str(exc) if isinstance(exc, _Unreadable) else self._no_data()
                raise self._error(f"gave up on {self.url} {where}: {why}") from None
            except Exception as exc:  # anything else PyAV may raise on a damaged file
                raise self._error(f"cannot decode {self.url}: {_describe(exc)}") from None
        finally:
            self._busy_since = None
            _close(container)
            with self._lock:
                self._stats.connected = False
        stats = self.stats
        if stats.frames_decoded == 0 and not self.stop_event.is_set():
            detail = f" ({stats.decode_errors} damaged)" if stats.decode_errors else ""
            raise self._error(f"no frame could be decoded from {self.url}{detail}")
        if stats.decode_errors:
            logger.warning(
                "camera %r: %d damaged packet(s) skipped in %s",
                self.camera,
                stats.decode_errors,
                self.url,
            )
        expected = stats.duration_seconds
        if (
            expected is not None
            and not self.stop_event.is_set()
            and (last_pts is None or last_pts < expected - sampler.interval - 1.0)
        ):
            reached = "no frame" if last_pts is None else f"{last_pts:.1f} s"
            logger.warning(
                "camera %r: %s ended at %s of %.1f s (truncated?)",
                self.camera,
                self.url,
                reached,
                expected,
            )

    def _open_file(self) -> av.container.InputContainer:
        path = unquote(self._url[7:]) if self._url.startswith("file://") else self._url
        reason: str | None = None
        container: av.container.InputContainer | None = None
        try:
            self._busy_since = time.monotonic()
            container = av.open(
                path,
                "r",
                options=dict(self._options),
                metadata_errors=_METADATA_ERRORS,
                timeout=(self.open_timeout, self.watchdog_seconds),
            )
        except IsADirectoryError:
            reason = "is a directory"
        except FileNotFoundError:
            reason = "no such file"
        except PermissionError:
            reason = "permission denied"
        except av.error.InvalidDataError as exc:
            reason = f"not a video file ({exc.strerror or 'invalid data'})"
        except av.error.ExitError:
            reason = f"no data within {self.open_timeout:g} s"
        except Exception as exc:  # anything PyAV raises on a damaged file
            reason = _describe(exc)
        finally:
            self._busy_since = None
        if container is None:
            raise self._error(f"cannot open {self.url}: {reason}")
        try:
            problem = self._unusable(container)
            if problem is None:
                self._on_connected(container, container.streams.video[0])
        except Exception as exc:  # a damaged header can make any property raise
            problem = _describe(exc)
        if problem is not None:
            _close(container)
            raise self._error(f"cannot open {self.url}: {problem}")
        return container

    @staticmethod
    def _unusable(container: av.container.InputContainer) -> str | None:
        """Why an opened file cannot be analysed, or None."""
        videos = container.streams.video
        if not videos:
            found = ", ".join(sorted({s.type for s in container.streams})) or "none"
            return f"no video stream (streams: {found})"
        codec = videos[0].codec_context
        if codec is None:  # PyAV found no decoder for the codec the file names
            return "unknown or unsupported video codec"
        if codec.name in _TEXT_CODECS:
            return "not a video file (looks like text)"
        return None

    # -- live sources ----------------------------------------------------------------

    def _live_frames(self) -> Iterator[Frame]:
        backoff = Backoff(self._policy, self._rng)
        sampler = FrameSampler(self.fps, zero_based=True)
        index = 0
        delivered = False  # some connection has delivered frames: the next to do so recovers
        lost_at: float | None = None
        while not self.stop_event.is_set():
            try:
                container = self._open_live()
            except Exception as exc:  # any failure: try again later
                if isinstance(exc, av.error.ExitError):
                    exc = TimeoutError(f"no answer within {self.open_timeout:g} s")
                self._retry_later(backoff, "cannot connect", exc)
                continue
            stream = container.streams.video[0]
            stream.thread_type = _threading(stream)
            sampler.set_source_rate(self._rate(stream))
            if lost_at is not None:
                sampler.restart(time.monotonic() - lost_at)
            problem: BaseException | None = None
            first = True
            try:
                for frame in self._decode(container, stream, sampler, index, backoff):
                    if first:
                        # A connection that is accepted but sends nothing (a stalled camera
                        # behind a live switch) is not a recovery; the first frame after an
                        # outage is, however many attempts it took.
                        first = False
                        if delivered:
                            with self._lock:
                                self._stats.reconnects += 1
                        delivered = True
                    index = frame.index + 1
                    yield frame
                problem = EOFError("stream ended")
            except av.error.ExitError:  # PyAV's read timeout: the watchdog
                problem = _Stalled(f"no data for {self.watchdog_seconds:g} s")
            except Exception as exc:  # reconnect on anything
                problem = exc
            finally:
                container.close()
                with self._lock:
                    self._stats.connected = False
            lost_at = self.stats.last_frame_monotonic or time.monotonic()
            self._retry_later(backoff, "stream lost", problem)

    def _open_live(self) -> av.container.InputContainer:
        # Live streams need less probing than files; 1 s instead of FFmpeg's 5 s
        # shortens every (re)connect.
        options: dict[str, str] = {"analyzeduration": "1000000"}
        io_timeout = str(int(self.watchdog_seconds * 1_000_000))
        path = self._url
        fmt: str | None = None
        if self.kind == "rtsp":
            # FFmpeg >= 5 (libavformat 59) renamed the RTSP socket timeout to "timeout".
            timeout_key = "timeout" if av.library_versions["libavformat"][0] >= 59 else "stimeout"
            options.update({"rtsp_transport": "tcp", timeout_key: io_timeout})
        elif self.kind == "http":
            options.update({"rw_timeout": io_timeout})
        elif self.kind == "v4l2":
            fmt = "v4l2"
            path = path.removeprefix("v4l2://")
        options.update(self._options)
        container = av.open(
            path,
            "r",
            format=fmt,
            options=options,
            metadata_errors=_METADATA_ERRORS,
            timeout=(self.open_timeout, self.watchdog_seconds / 2),
        )
        if not container.streams.video:
            container.close()
            raise SourceError("no video stream")
        self._on_connected(container, container.streams.video[0])
        return container

    def _retry_later(self, backoff: Backoff, what: str, exc: BaseException | None) -> None:
        if self.stop_event.is_set():
            return
        delay = backoff.next_delay()
        detail = self.redact(_describe(exc))
        self._stats.last_error = f"{what}: {detail}"
        logger.warning(
            "camera %r: %s %s: %s; retrying in %.1f s", self.camera, what, self.url, detail, delay
        )
        self.stop_event.wait(delay)

    # -- shared ----------------------------------------------------------------------

    def _decode(
        self,
        container: av.container.InputContainer,
        stream: av.video.VideoStream,
        sampler: FrameSampler,
        start_index: int,
        backoff: Backoff | None = None,
    ) -> Iterator[Frame]:
        """Frames of `stream`; damaged packets and frames are skipped and counted.

        A failed read ends a live connection (the caller reconnects); in a file it is
        skipped and reading resumes after it, up to the limits in the module docstring.
        """
        index = start_index
        failures_in_row = 0
        skipper = _SkipUnanalysed(stream, sampler)
        packets_without_frame = 0
        last_progress = time.monotonic()
        while True:
            try:
                self._busy_since = time.monotonic()
                for packet in container.demux(stream):
                    if self.stop_event.is_set():
                        return
                    failures_in_row = 0
                    skipping = skipper.before_decoding(packet)
                    decoded = self._decode_packet(packet)
                    now = time.monotonic()
                    if decoded:
                        last_progress = now
                        packets_without_frame = 0
                        if backoff is not None:
                            backoff.reset()
                    elif skipping:
                        pass  # nothing expected: neither progress nor a failure
                    elif self.is_live and now - last_progress > self.watchdog_seconds:
                        raise _Stalled(f"no frame for {self.watchdog_seconds:g} s")
                    else:
                        packets_without_frame += 1
                        if not self.is_live and packets_without_frame >= _MAX_PACKETS_WITHOUT_FRAME:
                            raise _Unreadable(f"no frame in {packets_without_frame} packets")
                    for vframe in decoded:
                        stamps = skipper.came_out(vframe)
                        frame = self._sample(vframe, stamps, sampler, index, now)
                        if frame is None:
                            continue
                        self._busy_since = None  # the consumer's time is not the decoder's
                        yield frame
                        self._busy_since = time.monotonic()
                        index += 1
                    self._busy_since = time.monotonic()
                return
            except (_Stalled, _Unreadable, av.error.ExitError):
                raise
            except Exception as exc:
                if self.is_live:
                    raise
                # A damaged file: skip what cannot be read and carry on from there.
                failures_in_row += 1
                with self._lock:
                    self._stats.decode_errors += 1
                if failures_in_row >= _MAX_READ_ERRORS:
                    raise _Unreadable(
                        f"{failures_in_row} read errors in a row ({_describe(exc)})"
                    ) from None
            finally:
                self._busy_since = None

    def _no_data(self) -> str:
        return f"no data for {self.watchdog_seconds:g} s"

    def _decode_packet(self, packet: av.Packet[Any]) -> list[av.VideoFrame]:
        """The frames of one packet; a packet that fails to decode is counted and skipped."""
        try:
            return [f for f in packet.decode() if isinstance(f, av.VideoFrame)]
        except Exception:  # FFmpeg errors, and anything else a damaged packet causes
            with self._lock:
                self._stats.decode_errors += 1
            return []

    def _sample(
        self,
        vframe: av.VideoFrame,
        stamps: tuple[float | None, float | None],
        sampler: FrameSampler,
        index: int,
        now: float,
    ) -> Frame | None:
        """The frame as a `Frame` if the sampler keeps it by its `stamps` (PTS, DTS); a
        damaged frame is counted."""
        try:
            t = sampler.offer(*stamps)
            image = None if t is None else self._pixels(vframe)
        except Exception:  # e.g. a size or pixel format a damaged header made up
            with self._lock:
                self._stats.decode_errors += 1
            return None
        with self._lock:
            self._stats.frames_decoded += 1
            self._stats.last_frame_monotonic = now
            if t is not None:
                self._stats.frames_sampled += 1
        if t is None or image is None:
            return None
        return Frame(self.camera, index, t, image, datetime.now(UTC), int(vframe.colorspace))

    def _pixels(self, frame: av.VideoFrame) -> Image:
        """I420 when the frame is 8-bit 4:2:0 video range (nearly every camera), else BGR.

        I420 is copied out at a tenth of the cost of swscale's BGR conversion, and a frame
        that is never detected on is never converted (see `Frame`)."""
        if frame.width * frame.height > _MAX_PIXELS:
            raise ValueError(f"absurd frame size {frame.width}x{frame.height}")
        width, height = frame.width, frame.height
        if self.width is not None and width > self.width:  # downscale only, never up
            width = self.width
            height = max(2, round(self.width * frame.height / frame.width / 2) * 2)
        even = frame.width % 2 == 0 and frame.height % 2 == 0 and width % 2 == 0
        video_range = frame.color_range != _FULL_RANGE  # the luma the motion gate expects
        if frame.format.name == "yuv420p" and even and height % 2 == 0 and video_range:
            i420 = np.ascontiguousarray(frame.to_ndarray(format="yuv420p"), np.uint8)
            if (width, height) == (frame.width, frame.height):
                return i420
            return _resize_i420(i420, frame.width, frame.height, width, height)
        if (width, height) != (frame.width, frame.height):
            frame = frame.reformat(width=width, height=height, format="bgr24")
        return np.ascontiguousarray(frame.to_ndarray(format="bgr24"))

    def _on_connected(
        self, container: av.container.InputContainer, stream: av.video.VideoStream
    ) -> None:
        duration: float | None = None
        if not self.is_live:
            if container.duration is not None and container.duration > 0:
                duration = container.duration / av.time_base
            elif stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
        with self._lock:
            self._stats.connected = True
            self._stats.source_fps = self._rate(stream)
            self._stats.width = stream.codec_context.width or None
            self._stats.height = stream.codec_context.height or None
            self._stats.duration_seconds = duration

    @staticmethod
    def _rate(stream: av.video.VideoStream) -> float | None:
        rate = stream.average_rate or stream.guessed_rate
        return float(rate) if rate else None

    def _error(self, message: str) -> SourceError:
        return SourceError(f"camera {self.camera!r}: {self.redact(message)}")


def _describe(exc: BaseException | None) -> str:
    """One short line for a failure; PyAV messages end with the URL, which is dropped."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, av.FFmpegError) and exc.strerror:
        return str(exc.strerror)
    if isinstance(exc, UnicodeError):
        return "unreadable text in the file's metadata"
    if isinstance(exc, MemoryError):
        return "out of memory (a damaged header giving an absurd frame size?)"
    lines = str(exc).splitlines()
    text = lines[0].strip() if lines else ""
    name = type(exc).__name__
    return f"{name}: {text[:200]}" if text else name


def _close(container: av.container.InputContainer) -> None:
    """Close a container; closing a damaged one must not raise over the real error."""
    try:
        container.close()
    except Exception:
        logger.debug("closing a damaged container failed", exc_info=True)


def _threading(stream: av.video.VideoStream) -> str:
    pixels = stream.codec_context.width * stream.codec_context.height
    return "AUTO" if pixels > _SINGLE_THREAD_PIXELS else "NONE"


def _resize_i420(i420: Image, width: int, height: int, new_w: int, new_h: int) -> Image:
    """Downscale an I420 frame plane by plane with OpenCV: a quarter of swscale's cost on a
    768x432 -> 640x360 frame. Area averaging from 2x down (no aliasing), bilinear above."""
    how = cv2.INTER_AREA if width / new_w >= 2 else cv2.INTER_LINEAR
    out = np.empty((new_h * 3 // 2, new_w), np.uint8)
    source, target = _planes(i420, width, height), _planes(out, new_w, new_h)
    for plane, resized in zip(source, target, strict=True):
        cv2.resize(plane, (resized.shape[1], resized.shape[0]), dst=resized, interpolation=how)
    return out


def _planes(i420: Image, width: int, height: int) -> tuple[Image, Image, Image]:
    """Views of an I420 frame's Y, U and V planes (the chroma planes are half size each way
    and need not start on a row of the (height * 3 / 2, width) array)."""
    flat = i420.reshape(-1)
    luma, chroma = width * height, (width // 2) * (height // 2)
    return (
        flat[:luma].reshape(height, width),
        flat[luma : luma + chroma].reshape(height // 2, width // 2),
        flat[luma + chroma : luma + 2 * chroma].reshape(height // 2, width // 2),
    )


class _SkipUnanalysed:
    """Lets an H.264 decoder skip the frames nothing is built from (FFmpeg's "non-reference"
    discard) that the sampler is certain not to analyse.

    Sampling a 10 fps H.264 file at 5 fps, that leaves most B-frames undecoded. The PTS of
    the frames still in the decoder (sent, not out yet) are passed on: they will be offered
    first, and can move the sampler's grid past the packet's frame. The PTS of each frame
    skipped is offered to the sampler when a later frame comes out, as if it had been
    decoded, so the sampler's state, and the frames it keeps and their times, are those of
    decoding everything, for a stream whose PTS are present and in order.

    Other codecs (HEVC's non-reference discard also drops pictures that higher temporal
    layers use), key frames and anything the sampler cannot vouch for (DTS-clocked AVI
    files, the first frames, a reconnect) are decoded as before; and so is a stream from its
    first packet without a PTS, frame out of PTS order, or more frames in the decoder than
    it tracks (the queue's order is then unknown)."""

    _MOST_IN_DECODER = 32

    def __init__(self, stream: av.video.VideoStream, sampler: FrameSampler) -> None:
        self._context = stream.codec_context
        self._sampler = sampler
        self._in_decoder: list[float] = []
        self._not_offered: list[float] = []  # PTS skipped, not yet offered to the sampler
        self._last_out: float | None = None
        self._skipped = False
        self._whole = self._context.name != "h264"

    def before_decoding(self, packet: av.Packet[Any]) -> bool:
        """Set the decoder's discard for this packet; True if it may skip the frame."""
        base, skip = packet.time_base, False
        if packet.pts is None or base is None or len(self._in_decoder) >= self._MOST_IN_DECODER:
            self._whole = True
        elif not self._whole:
            pts = packet.pts * base.numerator / base.denominator
            skip = not packet.is_keyframe and self._sampler.never_due(pts, self._in_decoder)
            (self._not_offered if skip else self._in_decoder).append(pts)
            self._skipped = self._skipped or skip
        wanted: Literal["NONREF", "DEFAULT"] = "NONREF" if skip else "DEFAULT"
        if self._context.skip_frame != wanted:
            self._context.skip_frame = wanted
        return skip

    def came_out(self, frame: av.VideoFrame) -> tuple[float | None, float | None]:
        """A decoded frame (it, and any frame shown before it, have left the decoder): the
        (PTS, DTS) to sample it by, once the frames skipped before it have been offered.

        Once a frame has been skipped, the DTS stop matching the frames (each frame comes out
        with the DTS of the packet being decoded at the time, and fewer packets are decoded),
        so only the PTS are given: the sampler keeps to the PTS clock it was on."""
        pts, dts = _timestamps(frame)
        if pts is None or (self._last_out is not None and pts <= self._last_out):
            self._whole = True
        else:
            self._last_out = pts
            self._in_decoder = [p for p in self._in_decoder if p > pts]
        self._not_offered.sort()
        while self._not_offered and (pts is None or self._not_offered[0] <= pts):
            skipped = self._not_offered.pop(0)
            if skipped != pts:  # else a reference frame the decoder did not skip: this one
                self._sampler.offer(skipped)  # turned away, as `never_due` promised
        return (pts, None) if self._skipped else (pts, dts)


def _timestamps(frame: av.VideoFrame) -> tuple[float | None, float | None]:
    """PTS and DTS of a decoded frame in seconds (None where absent)."""
    base = frame.time_base
    if base is None:
        return None, None
    # int / int is exactly rounded, as float(Fraction) is, without building Fractions
    num, den = base.numerator, base.denominator
    pts = None if frame.pts is None else frame.pts * num / den
    dts = None if frame.dts is None else frame.dts * num / den
    return pts, dts
