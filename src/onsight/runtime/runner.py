"""Runs every camera of a config in its own thread, with one event bus and store."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import cv2

from onsight.config import Config, LoadedConfig
from onsight.config._base import Polygon
from onsight.config.calibration import KEEP, CalibrationConfig
from onsight.config.editor import add_camera, save_geometry
from onsight.config.models import CameraConfig
from onsight.detect.factory import make_shared_detector
from onsight.detect.shared import SharedDetector
from onsight.errors import ConfigError, OnsightError
from onsight.events import EventBus, EventStore
from onsight.events.bus import Sink
from onsight.events.mqtt import MqttSink
from onsight.ingest.urls import redact_text
from onsight.privacy.audit import AuditLog, config_load_detail
from onsight.privacy.evidence import EvidenceSink
from onsight.privacy.retention import Retention
from onsight.privacy.witness import AuditWitness
from onsight.runtime.handle import CameraHandle
from onsight.runtime.pipeline import CameraPipeline, FrameResult
from onsight.runtime.screening import Display, ScreeningPipeline
from onsight.runtime.sinks import close_sinks, open_sinks
from onsight.thermal.local_mqtt import LocalMqtt

log = logging.getLogger(__name__)

# A file camera whose decoder has not come back from one FFmpeg call for this long is
# given up: nothing inside PyAV can interrupt it, and no healthy call takes this long.
STUCK_SECONDS = 60.0
STOP_SECONDS = 15.0  # how long `stop` waits for the cameras before leaving one behind
RESTART_AUDITS, RESTART_AUDIT_SECONDS = 3, 600.0  # a crash loop: 3 audit records per 10 min


@dataclass
class RunResult:
    summary: dict[str, object]
    errors: dict[str, str] = field(default_factory=dict)


class Runner:
    """Owns the pipelines; `start`, then `wait` (files) or `stop` (live / Ctrl-C)."""

    def __init__(
        self,
        loaded: LoadedConfig,
        on_frame: Callable[[CameraPipeline, FrameResult], None] | None = None,
        extra_sinks: Sequence[Sink] = (),
        on_screening: Display | None = None,
        start_time: datetime | None = None,
        stuck_seconds: float = STUCK_SECONDS,
        pace_files: bool = False,
    ) -> None:
        """Every event goes to the local store, then to the config's opt-in sinks (MQTT,
        webhooks: opened here, closed in `close`) and `extra_sinks`; `on_screening` is the
        local display of screening stations. `start_time` stamps events from recordings
        with the time they were recorded (start + position in the file); live cameras
        always use the clock; `pace_files` plays files at real time (under `serve`, so their
        events are never ahead of the clock). A file camera whose decoder is stuck for
        `stuck_seconds` is given up (see `wait`)."""
        config = loaded.config
        self._secrets = loaded.secrets
        self._loaded_paths = loaded  # resolves the cameras' relative file paths
        self._stuck_seconds = stuck_seconds
        self.audit = AuditLog(loaded.resolve(config.privacy.audit_log))
        self.audit.append("config_load", **config_load_detail(loaded.path))
        self.store = EventStore(loaded.database_path)
        try:
            self.sinks = open_sinks(loaded)
        except Exception:
            self.store.close()
            self.audit.close()
            raise
        evidence: list[Sink] = []
        if config.privacy.retention.store_media:
            evidence.append(EvidenceSink(loaded.resolve(config.privacy.media_dir)))
        self.bus = EventBus([self.store, *self.sinks, *evidence, *extra_sinks])
        self.witness = AuditWitness(
            self.audit,
            config.privacy.audit_witness_minutes * 60.0,
            [sink.publish_audit_head for sink in self.sinks if isinstance(sink, MqttSink)],
        )
        self.pipelines: list[CameraPipeline] = []  # the runtime's; the service reads `cameras`
        self._cameras: list[CameraHandle] = []
        self.detector: SharedDetector | None = None  # one model for all cameras
        self._restart_audits: dict[str, tuple[deque[float], int]] = {}  # times, left out
        self.stations: list[ScreeningPipeline] = []
        self._local_mqtt: LocalMqtt | None = None
        self.retention = Retention(
            config.privacy.retention, self.store, loaded.resolve(config.privacy.media_dir)
        )
        self._stopping = threading.Event()
        self._edit_lock = threading.Lock()
        self._start_time, self._pace_files = start_time, pace_files
        self._started = False
        try:
            self._enforce_retention()
            for camera in config.cameras:
                if camera.screening is not None:
                    self.stations.append(
                        ScreeningPipeline(
                            camera, self.store, display=on_screening, mqtt=self._mqtt(config)
                        )
                    )
                    continue
                self._add(self._pipeline(config, camera))
        except Exception:
            self.close()
            raise
        self._on_frame = on_frame
        self.errors: dict[str, str] = {}
        self._threads: list[threading.Thread] = []
        self._files: list[tuple[CameraPipeline, threading.Thread]] = []
        self._abandoned: set[str] = set()  # cameras whose stuck thread was left behind

    @property
    def cameras(self) -> list[CameraHandle]:
        """A handle on each analysed camera, in config order (added cameras last): what the
        service reads and commands cameras through."""
        return list(self._cameras)

    def camera(self, name: str) -> CameraHandle | None:
        return next((c for c in self._cameras if c.name == name), None)

    def _add(self, pipeline: CameraPipeline) -> None:
        self.pipelines.append(pipeline)
        self._cameras.append(CameraHandle(pipeline, self))

    def change_geometry(
        self,
        loaded: LoadedConfig,
        camera: str,
        sections: Mapping[str, Sequence[Any]],
        ignore: list[Polygon],
        actor: str,
        calibration: CalibrationConfig | Literal["keep"] | None = KEEP,
        renamed: Mapping[str, Mapping[str, str]] | None = None,
    ) -> LoadedConfig:
        """A camera's new app items (config section -> items, validated as a camera config)
        and ignored areas, from the next frame on and in the config file; returns the
        config reloaded from the file.

        If the file cannot be written, the camera goes back to what it ran before. Home
        Assistant is told of new and removed entities, and the change is audited. Raises
        ConfigError (having changed nothing) when the result is refused.
        """
        pipeline = next((p for p in self.pipelines if p.camera.name == camera), None)
        if pipeline is None:
            raise ConfigError(f"no camera named {camera!r} is running")
        with self._edit_lock:  # one edit at a time: the file and the pipeline change together
            before = {key: list(getattr(pipeline.camera, key)) for key in sections}
            ignored_before, calibrated_before = pipeline.camera.ignore, pipeline.camera.calibration
            pipeline.apply_geometry(sections, ignore, calibration)  # changes nothing if it raises
            try:
                loaded = save_geometry(loaded, camera, sections, ignore, calibration)
            except ConfigError:
                pipeline.apply_geometry(before, ignored_before, calibrated_before)
                raise
        self._announce_cameras(loaded.config)
        self.audit.append(
            "config_change",
            actor=actor,
            camera=camera,
            **{key: [item.name for item in items] for key, items in sections.items()},
            ignored_areas=len(ignore),
            calibration_points=None
            if calibration == KEEP or calibration is None
            else len(calibration.image),
            renamed={key: dict(names) for key, names in (renamed or {}).items()},
            source="editor",
        )
        return loaded

    def add_camera(
        self, loaded: LoadedConfig, entry: Mapping[str, Any], secrets: Mapping[str, str], actor: str
    ) -> LoadedConfig:
        """Add a camera (`entry`: its config, the password a `${...}` in its url, with the
        value in `secrets`) to the config file and start it (if the runner runs); returns
        the config reloaded. Audited with the camera's name, never its URL. Raises
        ConfigError (having changed nothing) when the result is refused."""
        with self._edit_lock:
            loaded = add_camera(loaded, entry, secrets)
            camera = next(c for c in loaded.config.cameras if c.name == entry["name"])
            self._secrets = loaded.secrets
            self._loaded_paths = loaded
            pipeline = self._pipeline(loaded.config, camera)
            self._add(pipeline)
            if self._started:
                self._start_worker(pipeline)
        self._announce_cameras(loaded.config)
        self.audit.append(
            "config_change",
            actor=actor,
            camera=camera.name,
            added=True,
            purpose=camera.purpose,
            secret_reference=bool(secrets),
            source="editor",
        )
        return loaded

    def _pipeline(self, config: Config, camera: CameraConfig) -> CameraPipeline:
        if self.detector is None:  # one model for every camera, loaded with the first
            self.detector = make_shared_detector(
                config.detector.model,
                config.detector.backend,
                score_threshold=config.detector.confidence,
                threads=config.detector.threads,
                workers=config.detector.workers,
            )
        return CameraPipeline(
            self._loaded_paths.with_paths(camera),
            self.detector.handle(camera.name),
            self.bus,
            started=self._start_time,
            pace=self._pace_files,
            isolate=config.isolate_cameras,
            on_restart=self._audit_restart,
        )

    def _audit_restart(self, camera: str, reason: str) -> None:
        """Audit a worker restart. A camera crashing again and again gets at most
        `RESTART_AUDITS` records per `RESTART_AUDIT_SECONDS`; the next record counts the
        restarts left out in between."""
        now = time.monotonic()
        recent, unaudited = self._restart_audits.setdefault(camera, (deque(), 0))
        while recent and now - recent[0] >= RESTART_AUDIT_SECONDS:
            recent.popleft()
        if len(recent) >= RESTART_AUDITS:
            self._restart_audits[camera] = (recent, unaudited + 1)
            return
        recent.append(now)
        self._restart_audits[camera] = (recent, 0)
        try:
            self.audit.append(
                "worker_restart", camera=camera, reason=reason, restarts_not_recorded=unaudited
            )
        except OnsightError as exc:  # the camera goes on; the log says why it was not audited
            log.error("camera %r: restart not audited: %s", camera, exc)

    def _announce_cameras(self, config: Config) -> None:
        """Tell MQTT (Home Assistant discovery) the cameras and their items after an edit."""
        for sink in self.sinks:
            if isinstance(sink, MqttSink):
                sink.update_cameras(list(config.cameras))

    def _mqtt(self, config: Config) -> LocalMqtt | None:
        """The local broker link for screening alerts and room sensors, made once if needed."""
        if config.mqtt is None:
            return None
        if self._local_mqtt is None:
            self._local_mqtt = LocalMqtt(config.mqtt, client_id=f"onsight-{config.site}-screening")
        return self._local_mqtt

    def _enforce_retention(self) -> None:
        report = self.retention.enforce()
        if report.total:
            self.audit.append("retention", rows=report.rows, media_files=report.media_files)

    def _retention_loop(self) -> None:
        interval = self.retention.settings.check_minutes * 60.0
        while not self._stopping.wait(interval):
            try:
                self._enforce_retention()
            except Exception:  # retention must not stop analysis; it retries next round
                log.exception("retention failed")

    def start(self) -> None:
        # Parallelism comes from the cameras (a thread each, a decoding process each, the
        # shared detector's workers). OpenCV's own thread pool on a 480x360 frame only adds
        # coordination: the per-frame work of a still camera costs twice as much with it.
        # (The OpenCV DNN backend sets the pool to `detector.threads` itself.)
        if self._loaded_paths.config.detector.backend != "opencv":
            cv2.setNumThreads(1)
        workers = self._workers()
        self.audit.append("start", cameras=[p.camera.name for p in workers])
        threading.Thread(target=self._retention_loop, name="retention", daemon=True).start()
        self.witness.start()
        if self._local_mqtt is not None:
            self._local_mqtt.start()
        with self._edit_lock:  # a camera added meanwhile starts here or in `add_camera`
            self._started = True
            for pipeline in self._workers():
                self._start_worker(pipeline)

    def _start_worker(self, pipeline: CameraPipeline | ScreeningPipeline) -> None:
        is_file = isinstance(pipeline, CameraPipeline) and not pipeline.source.is_live
        thread = threading.Thread(
            target=self._run_camera,
            args=(pipeline,),
            name=f"camera-{pipeline.camera.name}",
            daemon=True,  # a camera stuck in FFmpeg must not keep the process from exiting
        )
        thread.start()
        self._threads.append(thread)
        if isinstance(pipeline, CameraPipeline) and is_file:
            self._files.append((pipeline, thread))

    def _workers(self) -> list[CameraPipeline | ScreeningPipeline]:
        return [*self.pipelines, *self.stations]

    def _run_camera(self, pipeline: CameraPipeline | ScreeningPipeline) -> None:
        name = pipeline.camera.name
        if isinstance(pipeline, ScreeningPipeline):
            self._guard(name, pipeline.run)
            return
        callback = None
        if self._on_frame is not None:
            on_frame = self._on_frame

            def callback(result: FrameResult) -> None:
                on_frame(pipeline, result)

        self._guard(name, lambda: pipeline.run(callback))

    def _guard(self, name: str, run: Callable[[], None]) -> None:
        try:
            run()
        except OnsightError as exc:
            if name not in self._abandoned:
                self.errors[name] = str(exc)
        except Exception as exc:  # keep other cameras and recorded events alive
            if name in self._abandoned:  # given up already; the run may have ended
                return
            # One line (the error map below); the traceback, for a bug report, with -v only.
            log.error(
                "camera %r stopped on an unexpected error: %r",
                name,
                exc,
                exc_info=log.isEnabledFor(logging.INFO),
            )
            self.errors[name] = f"camera {name!r}: unexpected error: {type(exc).__name__}"

    def _give_up_stuck(self) -> None:
        """Leave behind the thread of a file camera whose decoder is stuck in FFmpeg (it
        cannot be interrupted there); the camera is reported as failed, the run goes on."""
        for pipeline, thread in list(self._files):
            stuck = pipeline.source.stuck_seconds()
            if not thread.is_alive() or stuck < self._stuck_seconds:
                continue
            name = pipeline.camera.name
            self._abandoned.add(name)
            self.errors[name] = (
                f"camera {name!r}: gave up on {pipeline.source.url}: "
                f"the decoder made no progress for {stuck:.0f} s"
            )
            pipeline.stop.set()
            self._files.remove((pipeline, thread))
            self._threads.remove(thread)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def wait(self, poll: Callable[[], None] | None = None, interval: float = 0.5) -> None:
        while self.running:
            if poll is not None:
                poll()
            self._give_up_stuck()
            time.sleep(interval)
        for thread in list(self._threads):
            thread.join()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Stop every camera; one stuck in a native call (a decoder on a hung network share)
        is left behind after `timeout` so that shutdown, and the final write, still happen."""
        for pipeline in self._workers():
            pipeline.stop.set()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning(
                    "%s did not stop within %.0f s; leaving it behind", thread.name, timeout
                )

    def summary(self) -> dict[str, object]:
        """``{"cameras": {NAME: counts}, "errors": {NAME: reason}}``: the counts of every
        camera that ran (to its end, or until stopped) and one line for each that failed.
        A failed camera's events recorded before the failure stay in the store."""
        errors = dict(self.errors)
        cameras = {
            p.camera.name: p.summary() for p in self._workers() if p.camera.name not in errors
        }
        reasons = {
            name: redact_text(message.removeprefix(f"camera {name!r}: "), self._secrets)
            for name, message in errors.items()
        }
        return {"cameras": cameras, "errors": reasons}

    def close(self) -> None:
        """Write pending events, give the sinks a few seconds to deliver (what they cannot
        stays in their on-disk queues), close the store (idempotent)."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        self._stopping.set()
        if self._local_mqtt is not None:
            self._local_mqtt.close()
        if self.detector is not None:
            self.detector.close()
        self.bus.close()
        self.witness.close()  # the head, to MQTT too, before the sinks close
        close_sinks(self.sinks)  # after the bus: they get its last batch
        self.store.close()
        try:
            self.audit.append("stop")
            self.witness.publish()  # the final head, in the log (and in <audit_log>.head)
        except OnsightError as exc:  # e.g. a full disk: say so, and still close cleanly
            log.error("%s", redact_text(str(exc), self._secrets))
        finally:
            self.audit.close()
