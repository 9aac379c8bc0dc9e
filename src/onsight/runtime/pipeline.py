"""One camera's analysis: frames -> motion gate -> detect -> track -> apps -> events."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar, cast

import numpy as np

from onsight.apps.base import App, AppKind, FrameView
from onsight.apps.registry import event_type, kinds
from onsight.config._base import Polygon
from onsight.config.calibration import KEEP, CalibrationConfig
from onsight.config.models import CameraConfig
from onsight.detect.protocol import Detector
from onsight.errors import ConfigError
from onsight.events.bus import EventBus
from onsight.geometry import bottom_centres, points_in_any
from onsight.ingest.backoff import BackoffPolicy
from onsight.ingest.stills import StillSource, open_source
from onsight.motion import GateSettings, MotionGate
from onsight.runtime.clock import EventClock
from onsight.runtime.region import DetectionRegion
from onsight.runtime.stats import CameraHealth, LatencyHistogram
from onsight.track import ByteTracker, StaticFilter, Tracker
from onsight.track.static import has_motion
from onsight.track.stills import StillTracker
from onsight.types import Detections, Event, FloatArray, Frame, IntArray, StageTimes, Tracks

STAGES = ("decode", "motion", "detect", "track", "apps")


@dataclass
class FrameResult:
    """What one analysed frame produced (kept for the demo preview; not stored)."""

    frame: Frame
    tracks: Tracks
    people: FloatArray  # every detection of a counted class, normalised (for redaction)
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class AlertShot:
    """An alert with the frame it came from, for the dashboard (unredacted in memory only:
    it is shown through `privacy.redact`, like the live view)."""

    number: int  # running number of alerts on this camera since start
    event: Event
    result: FrameResult


ALERTS_KEPT = 10  # recent alert frames held per camera


def wanted_class_ids(camera: CameraConfig, class_names: Sequence[str]) -> IntArray:
    """Ids of the classes this camera's apps count (person when it has none)."""
    wanted = {c for kind in kinds() for item in kind.items(camera) for c in kind.classes(item)}
    unknown = sorted(wanted - set(class_names))
    if unknown:
        raise ConfigError(
            f"camera {camera.name!r}: classes {unknown} are not detected by the model "
            f"(it knows e.g. {', '.join(class_names[:8])}, ...)"
        )
    names = list(class_names)
    return np.array(sorted(names.index(c) for c in wanted or {"person"}), dtype=np.int64)


A = TypeVar("A", bound=App)


def _needs_image(apps: Mapping[str, list[App]]) -> bool:
    """Whether a running app asked for the frame's image (most only read tracks)."""
    return any(kind.needs_image and apps.get(kind.name) for kind in kinds())


def _build(
    camera: CameraConfig,
    names: list[str],
    running: Mapping[str, list[App]],
    edited: frozenset[str] = frozenset(),
) -> tuple[dict[str, list[App]], list[App]]:
    """Every app the camera's config asks for, reusing a running one with exactly the same
    config (so its counts carry over an edit) unless a section it reads was `edited`; and
    the running apps no longer wanted."""
    built: dict[str, list[App]] = {}
    for kind in kinds():
        stale = bool(edited.intersection(kind.reads))
        old = [] if stale else list(running.get(kind.name, []))
        apps: list[App] = []
        for item in kind.items(camera):
            same = next((app for app in old if app.config == item), None)
            if same is not None:
                old.remove(same)
            apps.append(same if same is not None else kind.build(camera, item, names))
        built[kind.name] = apps
    kept = {id(app) for apps in built.values() for app in apps}
    dropped = [app for apps in running.values() for app in apps if id(app) not in kept]
    return built, dropped


# The longest wait between refreshes of a still scene, in settings. Long, because a change
# inside any track's box (someone leaving, even too small a change for the motion gate)
# brings the next refresh forward to one setting after the last.
_REFRESH_CAP = 32.0
# Change inside a track's box must last this many analysed frames to bring a refresh forward
# (a leaving person's does, for seconds, until the background learns the empty spot).
_STIR_FRAMES = 2
_STIR_CAP = 8.0
_SETTLED = 0.01  # a track whose box edges all moved less than this (of the frame) is where it was


def _unmoved(before: Tracks, after: Tracks) -> bool:
    """The same tracks as before, each box where it was."""
    if not np.array_equal(np.sort(before.track_id), np.sort(after.track_id)):
        return False
    if len(after) == 0:
        return True
    old = before.xyxy[np.argsort(before.track_id)]
    new = after.xyxy[np.argsort(after.track_id)]
    return bool(np.abs(old - new).max() < _SETTLED)


_NEAR = 0.12  # `half_rate_away`: a track's feet this close to a line or zone edge are near


def _edges(camera: CameraConfig) -> FloatArray:
    """Every line segment and polygon edge the camera's apps draw: (M, 2, 2), normalised."""
    segments: list[tuple[tuple[float, float], tuple[float, float]]] = []
    for kind in kinds():
        if kind.shape is None:
            continue
        for item in kind.items(camera):
            points = [(float(p[0]), float(p[1])) for p in getattr(item, kind.shape)]
            closed = kind.shape == "polygon"
            pairs = zip(points, points[1:] + points[:1] if closed else points[1:], strict=False)
            segments.extend(pairs)
    return np.array(segments, np.float32).reshape(-1, 2, 2)


def _near(points: FloatArray, edges: FloatArray, distance: float) -> bool:
    """Whether any point lies within `distance` of any segment."""
    if len(points) == 0 or len(edges) == 0:
        return len(edges) == 0 and len(points) > 0  # no geometry: every track matters
    a, b = edges[:, 0][None], edges[:, 1][None]  # (1, M, 2)
    p = points[:, None]  # (N, 1, 2)
    ab = b - a
    t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)
    gap = p - (a + t[..., None] * ab)
    return bool(((gap * gap).sum(-1) < distance * distance).any())


class CameraPipeline:
    """Runs one camera: one thread drives `run`; others may read `health`, `latest`, the
    running apps, and change their items with `apply_geometry`."""

    def __init__(
        self,
        camera: CameraConfig,
        detector: Detector,
        bus: EventBus,
        *,
        url: str | None = None,
        started: datetime | None = None,
        watchdog_seconds: float = 10.0,
        pace: bool = False,
        backoff: BackoffPolicy | None = None,
        isolate: bool = False,
        on_restart: Callable[[str, str], None] | None = None,
    ) -> None:
        """`isolate`: decode video in a supervised worker process (see
        `onsight.ingest.worker`), reporting each restart to `on_restart(camera, reason)`."""
        self.camera = camera
        self._detector = detector
        self._bus = bus
        self._url = url or camera.detect_url or camera.url
        self._started = started or datetime.now(UTC)
        self._clock = EventClock(camera.name)
        self.finished = False  # a file source played to its end
        # A file plays at real time when paced (under `serve`), so its events, stamped with
        # `started` plus their position, are never ahead of the clock.
        self._pace = pace
        self._started_mono = time.monotonic()  # position 0 of a paced file plays now
        self.stop = threading.Event()
        gate = GateSettings.of(camera.motion)  # the worker's gate, or this one's
        self.source = open_source(
            camera.name,
            self._url,
            camera.fps,
            snapshot=camera.snapshot,
            ca_file=camera.ca_file,  # absolute: the runner passes `with_paths(camera)`
            width=camera.width,
            watchdog_seconds=watchdog_seconds,
            backoff=backoff,
            stop=self.stop,
            isolate=isolate,
            on_restart=on_restart,
            motion=gate,
        )
        names = list(detector.class_names)
        self.motion = MotionGate(gate)
        # Still mode (fps <= 1, image sources): each detection is a fresh observation.
        self.stills = camera.takes_stills() or isinstance(self.source, StillSource)
        self._still_tracker = StillTracker() if self.stills else None
        self.tracker: Tracker = self._still_tracker or ByteTracker(fps=camera.fps)
        still = camera.still_objects
        self.still = StaticFilter(
            still.after_seconds if still.enabled else 0.0, still.after_moving_seconds
        )
        self._apps, _ = _build(camera, names, {})
        self._needs_image = _needs_image(self._apps)
        self._wanted = wanted_class_ids(camera, names)
        self.times = StageTimes()
        self.frames = 0
        self.detected_frames = 0
        self.events = 0
        self.last_pts = 0.0
        self._last_detect_pts = float("-inf")
        self._refresh_every = camera.motion.refresh_seconds  # grows while nothing changes
        self._stir_every = camera.motion.refresh_seconds  # grows while stirs change nothing
        self._stirs = 0  # consecutive still frames with change inside a track's box
        self._edges = _edges(camera)
        self._region: DetectionRegion | None = None  # made at the first frame's size
        self._tracks = Tracks.empty(0.0, self._started)  # the tracker's, before the still filter
        self._people: FloatArray = self._tracks.xyxy
        self._rate_window: deque[float] = deque(maxlen=50)
        self.detect_latency = LatencyHistogram()
        self._latest: FrameResult | None = None
        self._apps_lock = threading.Lock()  # `apply_geometry` swaps apps between frames
        self._alerts: deque[AlertShot] = deque(maxlen=ALERTS_KEPT)
        self.alert_count = 0

    @property
    def skip_ratio(self) -> float:
        return 1.0 - self.detected_frames / self.frames if self.frames else 0.0

    @property
    def fps(self) -> float:
        """Analysed frames per wall-clock second over the last few seconds."""
        window = self._rate_window
        if len(window) < 2 or window[-1] == window[0]:
            return 0.0
        return (len(window) - 1) / (window[-1] - window[0])

    def run(self, on_frame: Callable[[FrameResult], None] | None = None) -> None:
        """Process frames until the source ends (file) or `stop` is set; then flush."""
        frames = iter(self.source.frames())
        try:
            while not self.stop.is_set():
                start = time.process_time()
                frame = next(frames, None)
                self.times.add("decode", time.process_time() - start)
                if frame is None:
                    self.finished = not self.stop.is_set()
                    break
                if self._pace and not self.source.is_live:
                    ahead = self._started_mono + frame.pts - time.monotonic()
                    if ahead > 0 and self.stop.wait(ahead):
                        break
                result = self.process(frame)
                if on_frame is not None:
                    on_frame(result)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()  # a worker-backed source stops its worker now, not when collected
            with self._apps_lock:
                flushed = [e for apps in self._apps.values() for app in apps for e in app.flush()]
            self._publish(flushed)

    def process(self, frame: Frame) -> FrameResult:
        moment = self._event_time(frame)
        clock = time.process_time
        t0 = clock()
        moving = self.motion.update(frame)
        t1 = clock()
        self.times.add("motion", t1 - t0)
        # A still scene keeps its tracks without detection, but someone who just appeared
        # (or sits still from the first frame) is detected until the tracker confirms them.
        elapsed = frame.pts - self._last_detect_pts
        self._stirs = self._stirs + 1 if not moving and self._stirred() else 0
        scheduled = self.tracker.confirming or elapsed >= self._refresh_every
        stirred = self._stirs >= _STIR_FRAMES and elapsed >= self._stir_every
        refresh_due = self.tracker.active and (scheduled or stirred)
        if moving and not refresh_due and self._may_skip(frame.pts):
            moving = False  # nobody near a line or zone edge: this frame, hold the tracks
        if moving or refresh_due:
            self._last_detect_pts = frame.pts
            started = time.perf_counter()
            with self._apps_lock:  # `apply_geometry` may be changing the lines
                region = self._region_of(frame)
            detections = self._detector.detect(frame.image, region.box)
            self.detect_latency.observe(time.perf_counter() - started)
            detections = detections.select(np.isin(detections.class_id, self._wanted))
            scale = np.array([frame.width, frame.height] * 2, dtype=np.float32)
            people = (detections.xyxy / scale).astype(np.float32)
            detections = self._outside_ignored(detections, people)
            region.observe(detections.xyxy)
            t2 = clock()
            tracks = self.tracker.update(detections, frame.width, frame.height, frame.pts, moment)
            t3 = clock()
            settled = not moving and _unmoved(self._tracks, tracks)
            self._pace_refresh(settled, stirred=refresh_due and not scheduled)
            self.times.add("detect", t2 - t1)
            self.times.add("track", t3 - t2)
            self.detected_frames += 1
        else:
            # Nothing moved: the scene, and so every track, is where it was (in still mode
            # seen again: the same boxes as new observations).
            t3 = t1
            if self._still_tracker is not None:
                tracks = self._still_tracker.again(self._tracks, frame.pts, moment)
            else:
                tracks = replace(self._tracks, pts=frame.pts, wall_time=moment)
            people = self._people
        self._tracks, self._people = tracks, people
        tracks = self.still.update(tracks, self.motion.changed)
        events: list[Event] = []
        with self._apps_lock:
            view = FrameView(
                tracks.pts, tracks.wall_time, tracks.xyxy, tracks.class_id, tracks.track_id,
                tracks.confidence, frame.image if self._needs_image else None,
                people if self._needs_image else None,
            )  # fmt: skip
            for apps in self._apps.values():
                for app in apps:
                    events.extend(app.update(view))
        self._publish(events)
        self.times.add("apps", clock() - t3)
        self.last_pts = frame.pts
        self._rate_window.append(time.monotonic())
        result = FrameResult(frame, tracks, people, events)
        self._latest = result
        self.frames += 1  # after `_latest`: a new count means a new latest frame
        for event in events:
            if event_type(event.kind).alert:
                self.alert_count += 1
                self._alerts.append(AlertShot(self.alert_count, event, result))
        return result

    def _region_of(self, frame: Frame) -> DetectionRegion:
        """Where in the frame to detect (see `onsight.runtime.region`), per frame size; the
        whole frame unless the detector's canvas shrinks with the region."""
        region = self._region
        if region is None or (region.width, region.height) != (frame.width, frame.height):
            edges = self._edges if self._detector.fitted_canvas else self._edges[:0]
            region = DetectionRegion(self.camera, edges, frame.width, frame.height)
            self._region = region
        return region

    def _may_skip(self, pts: float) -> bool:
        """`half_rate_away`: the last frame was detected, and no track is near an edge."""
        if not self.camera.motion.half_rate_away or self.tracker.confirming:
            return False
        if pts - self._last_detect_pts > 1.5 / self.camera.fps:
            return False  # never two moving frames in a row without detection
        return not _near(self._tracks.bottom_centres(), self._edges, _NEAR)

    def _stirred(self) -> bool:
        """The motion gate saw change inside a track's box (as the static filter measures it)."""
        changed = self.motion.changed
        return changed is not None and any(has_motion(changed, box) for box in self._tracks.xyxy)

    def _pace_refresh(self, settled: bool, stirred: bool) -> None:
        """A refresh that found every track where it was (a parked car, a person asleep, a
        poster the detector takes for someone): wait twice as long for the next, up to
        `_REFRESH_CAP` times the setting. Motion, or any change, resets the wait; change
        inside a track's box brings the next refresh forward (see `_stirred`), and each
        stirred refresh that finds nothing changed (flicker, a screen in a poster's box)
        doubles the wait before the next stirred one, up to `_STIR_CAP` times the setting."""
        base = self.camera.motion.refresh_seconds
        if settled and not self.tracker.confirming:
            self._refresh_every = min(self._refresh_every * 2, base * _REFRESH_CAP)
            if stirred:
                self._stir_every = min(self._stir_every * 2, base * _STIR_CAP)
        else:
            self._refresh_every = self._stir_every = base

    def alerts(self) -> list[AlertShot]:
        """The most recent alerts with their frames, newest first."""
        return list(reversed(self._alerts))

    def _outside_ignored(self, detections: Detections, normalised: FloatArray) -> Detections:
        """Drop detections standing in the camera's `ignore` polygons (still blurred, as
        `people` keeps them for redaction)."""
        if not self.camera.ignore or len(detections) == 0:
            return detections
        return detections.select(~points_in_any(self.camera.ignore, bottom_centres(normalised)))

    def latest(self) -> FrameResult | None:
        """The last analysed frame (unredacted: pass it through `privacy.redact` to show it)."""
        return self._latest

    def running(self, kind: AppKind[Any, A]) -> list[A]:
        """The running apps of one kind (a copy: an edit may swap them at any time)."""
        return cast(list[A], list(self._apps.get(kind.name, [])))

    def apply_geometry(
        self,
        sections: Mapping[str, Sequence[Any]],
        ignore: list[Polygon] | None = None,
        calibration: CalibrationConfig | Literal["keep"] | None = KEEP,
    ) -> None:
        """Replace app items (config section name -> items, e.g. {"lines": [...]}; sections
        not given stay) and the `ignore` areas (unless None) from the next frame on, without
        a restart. The caller has validated the result as a `CameraConfig`.

        Unchanged items keep their totals and periods; a removed or changed one first
        publishes what it holds (a partial minute, an hour, a pending crossing), so nothing
        counted is lost. A new `calibration` (None removes it) rebuilds every app, since
        distances, cells and line widths depend on it. Raises ConfigError (and changes
        nothing) if a class is unknown to the model.
        """
        update: dict[str, object] = {key: list(items) for key, items in sections.items()}
        if ignore is not None:
            update["ignore"] = ignore
        recalibrated = calibration != KEEP and calibration != self.camera.calibration
        if calibration != KEEP:
            update["calibration"] = calibration
        camera = self.camera.model_copy(update=update)
        edited = frozenset(k for k in sections if getattr(camera, k) != getattr(self.camera, k))
        names = list(self._detector.class_names)
        wanted = wanted_class_ids(camera, names)
        with self._apps_lock:
            old = self._apps
            self._apps, dropped = _build(camera, names, {} if recalibrated else old, edited)
            if recalibrated:
                dropped = [app for apps in old.values() for app in apps]
            self._needs_image = _needs_image(self._apps)
            flushed = [e for app in dropped for e in app.flush()]
            self.camera, self._wanted = camera, wanted
            self._edges = _edges(camera)
            self._region = None
        self._publish(flushed)

    def health(self) -> CameraHealth:
        stats = self.source.stats
        age = (
            time.monotonic() - stats.last_frame_monotonic
            if stats.last_frame_monotonic is not None
            else None
        )
        return CameraHealth(
            camera=self.camera.name,
            connected=stats.connected,
            fps=round(self.fps, 2),
            skip_ratio=round(self.skip_ratio, 4),
            last_frame_age_seconds=None if age is None else round(age, 2),
            reconnects=stats.reconnects,
            frames_decoded=stats.frames_decoded,
            frames_analysed=self.frames,
            decode_errors=stats.decode_errors,
            events=self.events,
            state=(
                "finished" if self.finished
                else "live" if stats.connected
                else "reconnecting" if stats.last_error is not None
                else "connecting"
            ),
            reason=None if stats.connected or self.finished else stats.last_error,
            restarts=getattr(self.source, "restarts", 0),
        )  # fmt: skip

    def _event_time(self, frame: Frame) -> datetime:
        # A file is replayed on its own clock so results do not depend on machine speed.
        if not self.source.is_live:
            return self._started + timedelta(seconds=frame.pts)
        return self._clock.stamp(frame.wall_time, time.monotonic())

    def _publish(self, events: Sequence[Event]) -> None:
        if events:
            self._bus.publish(events)
            self.events += len(events)

    def summary(self) -> dict[str, object]:
        """Frames analysed, and each app kind's totals per item since the start."""
        out: dict[str, object] = {"frames": self.frames}
        for kind in kinds():
            if kind.summary is None:
                continue
            summaries = {app.config.name: kind.summary(app) for app in self.running(kind)}
            if not kind.single:
                out[kind.section] = summaries
            elif summaries and kind.summary_sections:
                out.update(next(iter(summaries.values())))
            elif summaries:
                out[kind.section] = next(iter(summaries.values()))
        return out
